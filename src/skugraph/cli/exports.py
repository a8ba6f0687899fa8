"""Exports: the graph for other databases (``export``), a tagger to ONNX (``export-onnx``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import DEFAULT_DB, DbOption, OntologyOption, console, friendly_errors, read_graph
from skugraph.cli.pipeline import MinConfidenceOption, print_left_out

app = typer.Typer()


@app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Directory to write.")],
    format: Annotated[str, typer.Option(help="neo4j-admin (CSVs + import.sh), nebula (CSVs + nebula-importer.yaml), rdf (N-Triples, Turtle), jsonld or parquet.")] = "neo4j-admin",
    db: DbOption = DEFAULT_DB,
    ontology: OntologyOption = None,
    min_confidence: MinConfidenceOption = 0.0,
) -> None:
    """Export the graph for bulk import elsewhere: Neo4j, NebulaGraph, RDF stores (schema.org Product), Parquet."""
    from skugraph.graph.exports import export_graph, left_out

    with read_graph(db, ontology) as store:
        written = export_graph(store, out, format, min_confidence)
        dropped = left_out(store, min_confidence) if min_confidence else {}
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print_left_out(dropped, min_confidence)


@app.command("export-onnx")
def export_onnx_command(
    model: Annotated[Path, typer.Argument(help="A tagger directory from `skugraph train tagger`.")],
    quantize: Annotated[bool, typer.Option(help="Also write the dynamic int8 model.")] = True,
) -> None:
    """Export a tagger to ONNX (tagger.onnx, and tagger.int8.onnx) for `--runtime onnx|onnx-int8`."""
    from skugraph.tagging.runtime import export_onnx

    with friendly_errors():
        written = export_onnx(model, quantize)
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False)
