"""``skugraph label suggest`` (which titles to label next) and ``skugraph label check`` (which labels look wrong)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import console, friendly_errors, print_rejected

app = typer.Typer()


@app.command()
def suggest(
    model: Annotated[Path, typer.Option(help="A tagger directory (skugraph train tagger).")],
    listings: Annotated[Path, typer.Option(help="Listings (JSONL, CSV, Parquet) or a .txt file of titles, one a line.")],
    k: Annotated[int, typer.Option("--k", min=1, help="How many titles to suggest.")] = 20,
    strategy: Annotated[str, typer.Option(help="uncertainty (highest mean token entropy), diversity (uncertainty × dissimilarity to titles already chosen) or random.")] = "diversity",
    out: Annotated[Path, typer.Option(help="Label Studio tasks (JSON), the model's spans as pre-annotations.")] = Path("suggestions.json"),
    doccano: Annotated[Path | None, typer.Option(help="Also write the tasks as doccano JSONL.")] = None,
    exclude: Annotated[Path | None, typer.Option(help="Labelled titles to leave out (BIO, doccano or Label Studio JSONL).")] = None,
    exclude_format: Annotated[str | None, typer.Option(help="The --exclude file's format when its name does not say it: bio, bieos, jsonl, label-studio.")] = None,
    seed: Annotated[int, typer.Option(help="The random strategy's seed.")] = 0,
) -> None:
    """Pick the titles whose labels would help the model most, as Label Studio tasks."""
    from skugraph.labelling import suggest as suggesting
    from skugraph.labelling.tasks import write_doccano_tasks, write_tasks
    from skugraph.tagging.tagger import load_tagger

    rejected: list[str] = []
    rejected_labels: list[str] = []
    with friendly_errors():
        titles = suggesting.read_titles(listings, on_reject=lambda reject: rejected.append(str(reject)))
        labelled = (suggesting.labelled_texts(exclude, exclude_format, on_reject=lambda problem: rejected_labels.append(str(problem)))
                    if exclude else set())
        candidates = [(listing, title) for listing, title in titles if title.strip() not in labelled]
        tagger = load_tagger(model)
        tasks = suggesting.suggestion_tasks(tagger, candidates, k, strategy, suggesting.model_version(tagger, model), seed)
        write_tasks(tasks, out)
        if doccano:
            write_doccano_tasks(tasks, doccano)
    print_rejected(rejected, "listing(s)")
    print_rejected(rejected_labels, "labelled title(s) in --exclude")
    console.print(f"{len(tasks)} of {len(candidates)} titles suggested by {strategy} ({len(titles) - len(candidates)} already labelled left out) → {out}"
                  + (f" and {doccano}" if doccano else ""), highlight=False)
    if tasks:
        console.print("  n. uncertainty  title", highlight=False)
    for n, item in enumerate(tasks[:10], 1):
        console.print(f"{n:>3}. {item['data']['uncertainty']:.3f}  {item['data']['text']}", highlight=False, markup=False)


@app.command()
def check(
    data: Annotated[Path, typer.Option(help="Labelled titles (BIO, BIEOS, doccano or Label Studio JSONL).")],
    format: Annotated[str | None, typer.Option(help="The data's format when its name does not say it: bio, bieos, jsonl, label-studio.")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Folds: each title is scored by a CRF trained on the others.")] = 5,
    top: Annotated[float, typer.Option(min=0.0, max=1.0, help="Write the SHARE of the titles with the worst suspects.")] = 0.05,
    out: Annotated[Path, typer.Option(help="Label Studio review tasks (JSON), worst first.")] = Path("review.json"),
    seed: Annotated[int, typer.Option(help="How the titles are shuffled into folds.")] = 0,
    iterations: Annotated[int, typer.Option(min=1, help="L-BFGS iterations of each fold's CRF.")] = 100,
) -> None:
    """Find labels that look wrong: out-of-fold CRF probabilities, cleanlab's label quality, suspects ranked worst first."""
    from skugraph.corpus.ner import detect_format, read_labelled
    from skugraph.labelling.check import check_labels, describe, ranked_suspects, review_tasks
    from skugraph.labelling.tasks import label_hints, write_tasks

    with friendly_errors():
        texts = read_labelled(data, format)
        issues = check_labels(texts, "bieos" if detect_format(data, format) == "bieos" else "bio", folds, seed, iterations=iterations)
        chosen = issues[: round(top * len(issues))]
        write_tasks(review_tasks(chosen), out)
        hints = label_hints({s.label for item in texts for s in item.spans})
    worst = ranked_suspects(issues)[:10]
    console.print(f"cleanlab flags {sum(i.flagged for i in issues)} characters in {sum(1 for i in issues if i.flagged)} of {len(issues)} titles; "
                  f"the {len(chosen)} titles with the worst suspects → {out}", highlight=False)
    if worst:
        console.print("suspicion (0 worst)  suspect: its label → the model's  title", highlight=False, markup=False)
    for issue, suspect in worst:
        console.print(f"{suspect.score:.2g}  {issue.item.text[suspect.start:suspect.end]}: {describe(suspect.current, hints)} → "
                      f"{describe(suspect.model, hints)}  {issue.item.text}", highlight=False, markup=False)
