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
    data: Annotated[Path, typer.Option(help="Labelled texts to score.")],
    model: Annotated[Path | None, typer.Option(help="Tagger directory (with --facts, leave it out to score the rule extractor).")] = None,
    format: Annotated[str | None, typer.Option("--format", help="bio | bieos | jsonl | label-studio (default: from the file name).")] = None,
    runtime: RuntimeOption = "torch-bf16",
    facts: Annotated[bool, typer.Option("--facts", help="Score the facts the tagger makes (per predicate, per listing and after fusion) against those of the gold spans.")] = False,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="With --facts: fit the fact confidence calibration on these (dev) texts and write it to --calibration, by default MODEL/fact-calibration.json.")] = False,
    calibration: Annotated[Path | None, typer.Option(help="Fact calibration file: the one the extractor applies, or the one --calibrate writes.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Strict entity-level precision, recall and F1 (micro, macro, per type) of a tagger on labelled
    data; with --facts, of the facts it makes (per predicate, per listing and after fusion), the gold
    spans' facts made the same way; with --calibrate, its fact confidences calibrated on this data."""
    from skugraph.corpus.ner import read_labelled

    skipped: list[str] = []
    with friendly_errors():
        texts = read_labelled(data, format, on_error=lambda e: skipped.append(str(e)))
        fused = fitted = None
        if facts:
            report, fused, fitted = _fact_scores(texts, model, runtime, calibrate, calibration)
        elif model is None:
            raise ValueError("--model DIR is needed to score spans (leave it out only with --facts, to score the rule extractor)")
        else:
            from skugraph.tagging.tagger import load_tagger

            report = load_tagger(model, runtime).evaluate(texts)
    for message in skipped[:10]:
        errors.print(f"[yellow]skipped[/] {message}")
    result = report.to_dict()
    extra = {"after_fusion": fused.to_dict()} if fused else {}
    if fitted:
        extra["calibration"] = {k: v for k, v in fitted.report.items() if k != "curve"} | {"method": fitted.method}
    if as_json:
        console.print_json(json.dumps({"data": str(data), "texts": len(texts), "skipped": len(skipped), **result, **extra}, ensure_ascii=False))
        return
    table = Table(title=f"{data} ({len(texts)} texts, {'facts' if facts else 'strict entity match'})", title_justify="left")
    for column in ("predicate" if facts else "type", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column in ("type", "predicate") else "right")
    for name, score in result["per_type"].items():
        table.add_row(name, f"{score['precision']:.4f}", f"{score['recall']:.4f}", f"{score['f1']:.4f}", str(score["support"]))
    for suffix, scores in (("", result), (" after fusion", extra.get("after_fusion"))):
        for name in ("micro", "macro") if scores else ():
            score = scores[name]
            table.add_row(f"[bold]{name}{suffix}[/]", f"{score['precision']:.4f}", f"{score['recall']:.4f}", f"{score['f1']:.4f}", str(score["support"]))
    console.print(table)
    if fitted:
        console.print(fitted.describe(), highlight=False)
        console.print(f"wrote {_calibration_path(model, calibration)}", highlight=False)


def _calibration_path(model: Path | None, calibration: Path | None) -> Path:
    """Where --calibrate writes: --calibration, else the tagger directory's calibration file."""
    from skugraph.facts.calibration import CALIBRATION_FILE

    if calibration is None and model is None:
        raise ValueError("--calibrate with the rule extractor needs --calibration FILE (where to write it)")
    return calibration or model / CALIBRATION_FILE


def _fact_scores(texts, model: Path | None, runtime: str, calibrate: bool, calibration: Path | None):
    """Per-listing and after-fusion fact scores of the tagger (the rules without a model), and
    the calibration fitted and written with ``calibrate``."""
    from dataclasses import replace

    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.fact_scores import calibrate as fit, read_with_gold, score_fused, score_reads, tagger_training_texts

    config = ExtractorConfig(kind="tagger" if model else "rules", model=model, runtime=runtime,
                             calibration=None if calibrate else calibration)
    reader = build_reader(config, titles=[t.text for t in texts])
    fitted = None
    if calibrate:
        target = _calibration_path(model, calibration)
        fitted = fit(texts, reader, train=tagger_training_texts(model) if model else None)  # its lexical prior
        fitted.save(target)
        reader = replace(reader, calibration=fitted)
    reads = read_with_gold(texts, reader)
    return score_reads(reads), score_fused(reads, reader.builder.ontology), fitted
