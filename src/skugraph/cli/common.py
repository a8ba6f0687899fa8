"""What every command module shares: the consoles, one-line failures, progress bars, printing
helpers and the option types. Nothing here imports a heavy library."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import click
import typer
from rich.console import Console
from rich.table import Table

from skugraph.corpus.listings import BadRecordError, Reject
from skugraph.graph.store import StoreError

if TYPE_CHECKING:
    from skugraph.graph.store import GraphStore, QueryResult

Found = TypeVar("Found")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)  # a message never breaks inside a path

DEFAULT_WORKDIR = Path(".skugraph")
DEFAULT_DB = DEFAULT_WORKDIR / "graph.lbug"
DbOption = Annotated[Path, typer.Option("--db", help="Graph database file (LadybugDB, embedded).")]
RuntimeOption = Annotated[str, typer.Option(help="How the tagger runs: torch, torch-bf16 (fp32 where the CPU lacks bf16), onnx or onnx-int8 (after `skugraph export-onnx`).")]
OntologyOption = Annotated[Path | None, typer.Option("--ontology", help="An edited ontology file (YAML/JSON; default: the packaged one).")]
AddressOption = Annotated[str, typer.Option(help="With --engine ray: local (start Ray here) or auto / ray://HOST:PORT (join a cluster).")]
AllowEmptyOption = Annotated[bool, typer.Option(help="Succeed even when nothing is read or made (by default that is an error).")]
TaggerOption = Annotated[Path | None, typer.Option("--tagger", help="Read queries with this tagger (default: the rules).")]


@contextmanager
def friendly_errors(strict: bool = False) -> Iterator[None]:
    """Failures end with one clear line and exit 1, never a traceback (``SKUGRAPH_DEBUG=1``
    shows the traceback of an unforeseen one). ``strict``: a bad record stopped an ingest."""
    try:
        yield
    except BadRecordError as error:
        fail(f"bad record (--strict stops at the first): {error}" if strict else not_clean_listings(error.reject))
    except KeyError as error:  # its message, without the quotes str() adds
        fail(str(error.args[0]) if error.args else "not found")
    except (StoreError, ValueError) as error:  # OntologyError is a ValueError
        fail(str(error))
    except OSError as error:  # no such file, permission denied, disk full …
        fail(f"{error.filename}: {error.strerror}" if error.filename and error.strerror else str(error))
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except Exception as error:
        if os.environ.get("SKUGRAPH_DEBUG"):
            raise
        fail(f"unexpected failure ({type(error).__name__}: {error}); SKUGRAPH_DEBUG=1 shows where")


@contextmanager
def read_graph(db: Path, ontology: Path | None = None) -> Iterator[GraphStore]:
    """The graph at ``db`` opened read-only, inside ``friendly_errors``."""
    from skugraph.facts.ontology import load_ontology
    from skugraph.graph.store import open_store

    with friendly_errors(), open_store(db, read_only=True, ontology=load_ontology(ontology) if ontology else None) as store:
        yield store


def command_name() -> str:
    """How to run this CLI again from the user's shell: ``skugraph`` where that is on the PATH,
    else the path it was started by (``.venv/bin/skugraph`` after ``make demo``)."""
    import shutil
    import sys

    started = Path(sys.argv[0])
    on_path = shutil.which("skugraph")
    if on_path and Path(on_path).resolve() == started.resolve():
        return "skugraph"
    return str(started) if started.name == "skugraph" else "python -m skugraph"


def fail(message: str) -> NoReturn:
    """One line on standard error, exit 1."""
    errors.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def nothing(message: str) -> NoReturn:
    """A command that produced nothing of what it was asked for fails, saying how to accept it."""
    fail(f"{message}; pass --allow-empty to accept an empty result")


def looks_like_a_fact(reject: Reject) -> bool:
    return '"subject"' in reject.record and '"predicate"' in reject.record


def not_clean_listings(reject: Reject) -> str:
    """Why a file given as ingested listings cannot be read, and what to run."""
    if looks_like_a_fact(reject):
        return f"{reject.path} looks like facts, not listings: give the listings `skugraph ingest` wrote"
    return (f"{reject}; commands after ingest read clean listings: run skugraph ingest on the file first "
            "(it keeps the good records and reports each bad one)")


def print_rejected(messages: list[str], what: str, shown: int = 20) -> None:
    """The first rejected records, each with its file and line, and how many there were."""
    for message in messages[:shown]:
        errors.print(f"[yellow]rejected[/] {message}", highlight=False)
    if messages:
        errors.print(f"[yellow]{len(messages)} {what} rejected[/]", highlight=False)


def existing(value: Found | None, missing: str) -> Found:
    """``value``, or a KeyError that says what is ``missing`` when it is None."""
    if value is None:
        raise KeyError(missing)
    return value


def require_products(store: Any, db: Path) -> None:
    """Refuse a graph with no products: there is nothing to search, recommend or report on."""
    if not store.query("MATCH (p:Product) RETURN p.id LIMIT 1").rows:
        raise ValueError(f"{db} holds no products: load facts into it first (skugraph load)")


LOG_EVERY_SECONDS = 60  # how often training progress is printed as a line when standard error is no terminal


@contextmanager
def progress_bars(disable: bool = False) -> Iterator[Callable[..., Callable[[int | dict], None]]]:
    """Rich progress bars on standard error, one a stage; yields ``start(stage, total=None,
    status="") -> advance``.

    ``advance`` takes a count of items done, or a training record (``step``, ``total_steps``,
    ``loss``, ``eta_seconds``, ``epoch``, ``dev_f1`` …; any may be missing): the bar then shows
    the steps done of the total, and the loss and time left. A stage's bar stops, its elapsed
    time frozen, when the next stage starts, when a record says its last step is done, and when
    the bars close."""
    from rich.console import RenderableType
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
    from rich.table import Column

    class StageSpinner(SpinnerColumn):
        """Spins while a stage runs; blank once it has stopped, finished or not."""

        def render(self, task: Task) -> RenderableType:
            return self.finished_text if task.stop_time is not None else super().render(task)

    columns = [StageSpinner(), TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
               TimeElapsedColumn(),
               TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))]
    with Progress(*columns, console=errors, transient=False, disable=disable, expand=True) as bars:  # the status gets what is left
        running: list[Any] = []

        def stop(task: Any) -> None:
            """Freeze ``task``: its clock stopped; a bar of unknown length made full at what was done."""
            running.remove(task)
            done = bars.tasks[task].completed
            if bars.tasks[task].total is None and done:
                bars.update(task, total=done)
            bars.stop_task(task)

        def start(stage: str, total: int | None = None, status: str = "") -> Callable[[int | dict], None]:
            for task in list(running):
                stop(task)
            task = bars.add_task(stage, total=total, status=status)
            running.append(task)
            logged = [-LOG_EVERY_SECONDS]

            def advance(done: int | dict) -> None:
                if not isinstance(done, dict):
                    bars.advance(task, done)
                    return
                update = step_update(done)
                bars.update(task, **update)
                if not disable and not errors.is_terminal and (done.get("seconds", 0) - logged[0] >= LOG_EVERY_SECONDS or "dev_f1" in done):
                    logged[0] = done.get("seconds", 0)  # no bars in a log file: a line a minute instead
                    steps = f" step {done['step']}/{done.get('total_steps') or '?'}" if "step" in done else ""
                    errors.print(f"{stage}:{steps}  {update['status']}", highlight=False)
                if task in running and done.get("total_steps") and done.get("step", 0) >= done["total_steps"]:
                    stop(task)

            return advance

        yield start
        for task in list(running):
            stop(task)


def step_update(record: dict) -> dict[str, Any]:
    """What a training record sets on a progress bar: the steps done and their total where it
    says them, and a status of the epoch, loss, dev F1, tokens/s and time left that it holds
    (the time left from the share done, ``fraction``, where it does not say it)."""
    update: dict[str, Any] = {}
    if "step" in record:
        update["completed"] = record["step"]
    if record.get("total_steps"):
        update["total"] = record["total_steps"]

    def number(key: str) -> float | None:
        return record[key] if isinstance(record.get(key), int | float) else None

    eta, fraction, seconds = number("eta_seconds"), number("fraction"), number("seconds")
    if eta is None and fraction and seconds is not None:  # pretraining says the share done
        eta = seconds * (1 - fraction) / fraction

    parts = [f"epoch {record['epoch']}" if "epoch" in record else None,
             f"loss {number('loss'):.4f}" if number("loss") is not None else None,
             f"dev F1 {number('dev_f1'):.4f}" if number("dev_f1") is not None else None,
             f"{number('tokens_per_second'):,.0f} tok/s" if number("tokens_per_second") is not None else None,
             f"ETA {_duration(eta)}" if eta is not None else None]
    update["status"] = "  ".join(part for part in parts if part)
    return update


def _duration(seconds: float) -> str:
    """``seconds`` as H:MM:SS (or M:SS under an hour)."""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def print_result(result: QueryResult, title: str | None = None) -> None:
    """Query rows as a table, and how many there are."""
    if title:
        console.print(f"[bold]{title}[/]")
    table = Table(show_lines=False)
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v) for v in row))
    console.print(table)
    console.print(f"[dim]{len(result.rows)} row(s)[/]")


def print_json(value: Any) -> None:
    """One line of JSON on standard output (not through rich: nothing wrapped or coloured)."""
    print(json.dumps(value, ensure_ascii=False))


def print_card(card: dict) -> None:
    """A product card (``graph.cards.product_card``): listings, facts with their evidence, aspects."""
    console.rule(f"[bold]{card['id']}[/]  {card['title']}")

    def line(name: str, facts: list[dict]) -> None:
        for fact in facts:
            kind = f" ({fact['kind']})" if "kind" in fact else ""
            console.print(f"  {name:<16} {fact['value']}{kind}  [dim]{fact['confidence']:.2f}  {'; '.join(fact['evidence'])}[/]",
                          highlight=False)

    for offer in card["listings"]:
        console.print(f"  listing          {offer['listing']} {offer['title']}  [dim]{offer['evidence']}[/]", highlight=False)
    line("type", card["type"])
    line("brand", card["brand"])
    for kind, facts in card["attributes"].items():
        line(kind, facts)
    line("compatible with", card["compatible_with"])
    line("accessory of", card["accessory_of"])
    line("related product", card["related_products"])
    for aspect in card["aspects"]:
        console.print(f"  aspect {aspect['aspect']:<9} {aspect['reviews']} review(s), {aspect['share_positive']:.0%} positive", highlight=False)
        for opinion in aspect["opinions"]:
            console.print(f"      {opinion['polarity']:<9} {opinion['opinion']}  [dim]{'; '.join(opinion['evidence'])}[/]", highlight=False)
