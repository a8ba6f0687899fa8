"""``skugraph label push`` (tasks into a Label Studio project) and ``skugraph label pull`` (its
annotations out as training data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import AllowEmptyOption, console, friendly_errors, nothing, print_rejected

app = typer.Typer()

UrlOption = Annotated[str, typer.Option("--url", envvar="LABEL_STUDIO_URL", help="The Label Studio server.")]
KeyOption = Annotated[str, typer.Option("--api-key", envvar="LABEL_STUDIO_API_KEY", show_default=False,
                                        help="Its API key: Account & Settings → Personal Access Token or Legacy Token.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The project's title.")]


@app.command()
def push(
    tasks: Annotated[Path, typer.Argument(help="Label Studio tasks (JSON array, e.g. from skugraph label suggest).")],
    url: UrlOption = "http://localhost:8080",
    api_key: KeyOption = "",
    project: ProjectOption = "skugraph",
    labels: Annotated[str | None, typer.Option(help="Span labels, comma-separated, besides those the predictions use (with neither: the ontology's).")] = None,
    ontology: Annotated[Path | None, typer.Option(help="Add this ontology's mention labels and attribute kinds (YAML/JSON).")] = None,
) -> None:
    """Create the project (or add the labels it lacks) and upload the tasks, their predictions as pre-annotations."""
    from skugraph.facts.ontology import load_ontology
    from skugraph.labelling import studio

    with friendly_errors():
        items = studio.read_tasks(tasks)
        chosen = [label.strip() for label in labels.split(",") if label.strip()] if labels else []
        if ontology or not (chosen or studio.prediction_labels(items)):
            chosen += studio.ontology_labels(load_ontology(ontology))
        pushed = studio.push(url, api_key, project, items, chosen)
    console.print(f"project {project!r} {'created' if pushed.created else 'updated'}: {pushed.url}", highlight=False)
    console.print(f"{pushed.tasks} tasks and {pushed.predictions} pre-annotations imported"
                  + (f" ({pushed.already} already in the project left out)" if pushed.already else "")
                  + f"; {len(pushed.labels)} labels"
                  + (f", {len(pushed.added_labels)} new: {', '.join(pushed.added_labels)}" if not pushed.created and pushed.added_labels
                     else ""),
                  highlight=False)


@app.command()
def pull(
    url: UrlOption = "http://localhost:8080",
    api_key: KeyOption = "",
    project: ProjectOption = "skugraph",
    out: Annotated[Path, typer.Option(help="Training data: doccano JSONL, which skugraph train tagger --train reads; each title's id is its listing's (the task id where the task names no listing).")] = Path("train.jsonl"),
    export: Annotated[Path | None, typer.Option(help="Also keep Label Studio's export of the annotated tasks (JSONL).")] = None,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Export the project's annotations and convert them to training data."""
    from skugraph.corpus.ner import write_doccano
    from skugraph.labelling import studio

    with friendly_errors():
        pulled = studio.pull(url, api_key, project, export)
        if not pulled.texts and not allow_empty:
            nothing(f"no annotated task in project {project!r} yet ({pulled.skipped} skipped, of {pulled.total})")
        out.parent.mkdir(parents=True, exist_ok=True)
        write_doccano(pulled.texts, out)
    print_rejected(pulled.rejected, "task(s)")
    spans = sum(len(text.spans) for text in pulled.texts)
    waiting = pulled.total - len(pulled.texts) - pulled.skipped - len(pulled.rejected)
    console.print(f"{len(pulled.texts)} annotated tasks ({spans} spans) → {out}; {pulled.skipped} skipped, "
                  f"{waiting} not annotated yet, of {pulled.total}", highlight=False)
