"""``skugraph evaluate``: a tagger's strict entity scores on labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from skugraph.cli.common import RuntimeOption, console, errors, friendly_errors

app = typer.Typer()


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Tagger directory.")],
    data: Annotated[Path, typer.Option(help="Labelled texts to score.")],
    format: Annotated[str | None, typer.Option("--format", help="bio | bieos | jsonl | label-studio (default: from the file name).")] = None,
    runtime: RuntimeOption = "torch-bf16",
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Strict entity-level precision, recall and F1 (micro, macro, per type) of a tagger on labelled data."""
    from skugraph.corpus.ner import read_labelled
    from skugraph.tagging.tagger import Tagger

    skipped: list[str] = []
    with friendly_errors():
        texts = read_labelled(data, format, on_error=lambda e: skipped.append(str(e)))
        report = Tagger.load(model, runtime).evaluate(texts)
    for message in skipped[:10]:
        errors.print(f"[yellow]skipped[/] {message}")
    result = report.to_dict()
    if as_json:
        console.print_json(json.dumps({"data": str(data), "texts": len(texts), "skipped": len(skipped), **result}, ensure_ascii=False))
        return
    table = Table(title=f"{data} ({len(texts)} texts, strict entity match)", title_justify="left")
    for column in ("type", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for name, score in result["per_type"].items():
        table.add_row(name, f"{score['precision']:.4f}", f"{score['recall']:.4f}", f"{score['f1']:.4f}", str(score["support"]))
    for name in ("micro", "macro"):
        score = result[name]
        table.add_row(f"[bold]{name}[/]", f"{score['precision']:.4f}", f"{score['recall']:.4f}", f"{score['f1']:.4f}", str(score["support"]))
    console.print(table)
