"""``skugraph evaluate``: a tagger's strict entity scores on labelled data, or the scores of the facts it makes."""

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
    facts: Annotated[bool, typer.Option("--facts", help="Score the facts the tagger makes (per predicate) against those of the gold spans.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Strict entity-level precision, recall and F1 (micro, macro, per type) of a tagger on labelled
    data; with --facts, of the facts it makes (per predicate), the gold spans' facts made the same way."""
    from skugraph.corpus.ner import read_labelled

    skipped: list[str] = []
    with friendly_errors():
        texts = read_labelled(data, format, on_error=lambda e: skipped.append(str(e)))
        if facts:
            from skugraph.extract import ExtractorConfig, build_reader
            from skugraph.fact_scores import score_facts

            config = ExtractorConfig(kind="tagger", model=model, runtime=runtime)
            report = score_facts(texts, build_reader(config, titles=[t.text for t in texts]))
        else:
            from skugraph.tagging.tagger import Tagger

            report = Tagger.load(model, runtime).evaluate(texts)
    for message in skipped[:10]:
        errors.print(f"[yellow]skipped[/] {message}")
    result = report.to_dict()
    if as_json:
        console.print_json(json.dumps({"data": str(data), "texts": len(texts), "skipped": len(skipped), **result}, ensure_ascii=False))
        return
    table = Table(title=f"{data} ({len(texts)} texts, {'facts' if facts else 'strict entity match'})", title_justify="left")
    for column in ("predicate" if facts else "type", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column in ("type", "predicate") else "right")
    for name, score in result["per_type"].items():
        table.add_row(name, f"{score['precision']:.4f}", f"{score['recall']:.4f}", f"{score['f1']:.4f}", str(score["support"]))
    for name in ("micro", "macro"):
        score = result[name]
        table.add_row(f"[bold]{name}[/]", f"{score['precision']:.4f}", f"{score['recall']:.4f}", f"{score['f1']:.4f}", str(score["support"]))
    console.print(table)
