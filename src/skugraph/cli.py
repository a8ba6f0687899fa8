"""The ``skugraph`` command: a thin Typer layer that parses arguments and calls library functions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from skugraph import __version__, pipeline
from skugraph.corpus.ingest import ingest as ingest_listings
from skugraph.corpus.listings import FORMATS, BadRecordError
from skugraph.graph.ladybug_store import StoreError
from skugraph.graph.store import QueryResult, open_store
from skugraph.tagging.rules import RuleExtractor

app = typer.Typer(help="Turn e-commerce listings into a product knowledge graph.", no_args_is_help=True)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)  # a message never breaks inside a path

DEFAULT_WORKDIR = Path(".skugraph")
DbOption = Annotated[Path, typer.Option("--db", help="Graph database file (LadybugDB, embedded).")]


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Known failures end with one clear line and exit 1, never a traceback."""
    try:
        yield
    except BadRecordError as error:
        errors.print(f"[red]bad record (--strict):[/] {error}")
        raise typer.Exit(1) from None
    except (FileNotFoundError, StoreError, ValueError, KeyError) as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from None


@contextmanager
def _progress() -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """Rich progress bars; yields ``start(stage, total) -> advance(n)``."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=errors, transient=False) as bars:

        def start(stage: str, total: int | None) -> Callable[[int], None]:
            task = bars.add_task(stage, total=total)
            return lambda n: bars.advance(task, n)

        yield start


def _print_result(result: QueryResult, title: str | None = None) -> None:
    if title:
        console.print(f"[bold]{title}[/]")
    table = Table(show_lines=False)
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v) for v in row))
    console.print(table)
    console.print(f"[dim]{len(result.rows)} row(s)[/]")


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise typer.BadParameter(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


@app.command()
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Listing files: .jsonl, .csv/.tsv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Clean listings (JSONL).")] = DEFAULT_WORKDIR / "listings.jsonl",
    rejects: Annotated[Path, typer.Option(help="Rejected records with file, line, field, reason (JSONL).")] = DEFAULT_WORKDIR / "rejects.jsonl",
    format: Annotated[str | None, typer.Option(help=f"One of {', '.join(FORMATS)}; default: by suffix.")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad record.")] = False,
) -> None:
    """Validate listing files; keep the good records, report the bad ones."""
    with _friendly_errors(), _progress() as start:
        report = ingest_listings(inputs, out, rejects, format=format, strict=strict, progress=start("ingest", None))
    for reject in report.rejects:
        errors.print(f"[yellow]rejected[/] {reject}")
    if report.rejected > len(report.rejects):
        errors.print(f"[yellow]… and {report.rejected - len(report.rejects)} more in {rejects}[/]")
    console.print(f"{report.summary()} → {out}" + (f" (rejects: {rejects})" if report.rejected else ""))


@app.command()
def extract(
    listings: Annotated[Path, typer.Argument(help="Ingested listings (JSONL).")] = DEFAULT_WORKDIR / "listings.jsonl",
    out: Annotated[Path, typer.Option(help="Facts (JSONL).")] = DEFAULT_WORKDIR / "facts.jsonl",
    mentions: Annotated[Path | None, typer.Option(help="Also write mentions (JSONL).")] = None,
    brands: Annotated[list[Path] | None, typer.Option(help="Extra brand names, one a line.")] = None,
    product_types: Annotated[list[Path] | None, typer.Option(help="Extra product-type words, one a line.")] = None,
) -> None:
    """Find mentions in listings and turn them into facts."""
    with _friendly_errors(), _progress() as start:
        extractor = RuleExtractor.with_lexicon_files(brands or [], product_types or [])
        report = pipeline.extract(listings, out, mentions, progress=start("extract", None), extractor=extractor)
    console.print(f"extracted {report.facts} facts ({report.mentions} mentions) from {report.listings} listings → {out}")


@app.command()
def load(
    facts: Annotated[Path, typer.Argument(help="Facts (JSONL) from `skugraph extract`.")] = DEFAULT_WORKDIR / "facts.jsonl",
    listings: Annotated[Path, typer.Option(help="Ingested listings (JSONL).")] = DEFAULT_WORKDIR / "listings.jsonl",
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
) -> None:
    """Upsert listings and facts into the graph (loading twice changes nothing)."""
    rejected: list[str] = []
    with _friendly_errors(), console.status("loading into the graph…"):
        report, stats = pipeline.load(db, listings, facts, on_error=rejected.append)
    for message in rejected[:20]:
        errors.print(f"[yellow]rejected[/] {message}")
    if rejected:
        errors.print(f"[yellow]{len(rejected)} fact line(s) rejected[/]")
    nodes = sum(stats["nodes"].values())
    edges = sum(stats["edges"].values())
    console.print(f"loaded {sum(report.nodes.values())} node rows and {sum(report.edges.values())} edge rows → {db}")
    console.print(f"graph now has {nodes} nodes and {edges} edges")


@app.command()
def query(
    cypher: Annotated[str, typer.Argument(help="Cypher; pass values with --param, never pasted into the text.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (VALUE as JSON if it parses).")] = None,
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects.")] = False,
) -> None:
    """Run a parameterised Cypher query and print the result as a table."""
    parameters = dict(_parse_param(p) for p in param or [])
    with _friendly_errors(), open_store(db, read_only=True) as store:
        result = store.query(cypher, parameters)
    if as_json:
        console.print_json(json.dumps(result.records(), ensure_ascii=False))
    else:
        _print_result(result)


@app.command()
def stats(
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    as_json: Annotated[bool, typer.Option("--json", help="Print {nodes: {label: n}, edges: {type: n}}.")] = False,
) -> None:
    """Count nodes per label and edges per type."""
    with _friendly_errors(), open_store(db, read_only=True) as store:
        counts = store.stats()
    if as_json:
        print(json.dumps(counts, ensure_ascii=False, sort_keys=True))
        return
    for kind in ("nodes", "edges"):
        table = Table(title=kind, title_justify="left")
        table.add_column("label" if kind == "nodes" else "type")
        table.add_column("count", justify="right")
        for name, count in counts[kind].items():
            table.add_row(name, str(count))
        console.print(table)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its files and graph.")] = DEFAULT_WORKDIR / "demo",
    inputs: Annotated[list[Path] | None, typer.Option("--input", help="Listing files (default: the sample catalogue).")] = None,
) -> None:
    """Build the graph from the sample catalogue on embedded defaults and show what it holds."""
    config = pipeline.BuildConfig(workdir=workdir, fresh=True)
    if inputs:
        config.inputs = inputs
    with _friendly_errors(), _progress() as start:
        result = pipeline.build(config, progress=start)
    _print_summary(result)


def _print_summary(result: pipeline.BuildResult) -> None:
    nodes = result.stats["nodes"]
    console.rule("[bold]skugraph demo")
    console.print(f"listings read     {result.ingest.ingested} (rejected {result.ingest.rejected})")
    console.print(f"products          {nodes['Product']}")
    console.print(f"brands            {nodes['Brand']}")
    console.print(f"categories        {nodes['Category']}")
    console.print(f"attribute values  {nodes['Value']}")
    console.print(f"reviews           {nodes['Review']}")
    table = Table(title="facts per predicate", title_justify="left")
    table.add_column("predicate")
    table.add_column("facts", justify="right")
    for name, count in result.extract.by_predicate.most_common():
        table.add_row(name, str(count))
    console.print(table)
    for question, answer in result.examples:
        _print_result(answer, title=question)
    console.print(f"graph: {result.config.graph}   try: skugraph stats --db {result.config.graph}")


@app.command()
def pretrain(
    corpus: Annotated[list[Path], typer.Option("--corpus", help="Text files: .txt (a text a line), .csv (--column), listings .jsonl.")],
    out: Annotated[Path, typer.Option(help="Model directory to write (Hugging Face format + skugraph.json).")],
    base_model: Annotated[str, typer.Option(help="scratch:tiny|small|base, a local checkpoint directory, or a hub id.")] = "scratch:small",
    time_budget: Annotated[float | None, typer.Option(help="Minutes of training.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default with no budget: one pass).")] = None,
    mlm_probability: Annotated[float, typer.Option(help="Share of words masked.")] = 0.15,
    whole_word_mask: Annotated[bool, typer.Option(help="Mask whole jieba words, not single tokens.")] = True,
    nsp: Annotated[bool, typer.Option(help="Also learn next-sentence prediction on multi-sentence texts.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.")] = False,
    max_length: Annotated[int, typer.Option(help="Tokens per packed sequence.")] = 128,
    batch_size: Annotated[int, typer.Option(help="Sequences per process and step.")] = 64,
    learning_rate: Annotated[float | None, typer.Option(help="Peak rate (default 5e-4 scratch, 1e-4 continued).")] = None,
    vocab_size: Annotated[int, typer.Option(help="Tokenizer vocabulary when training from scratch.")] = 12_000,
    column: Annotated[str | None, typer.Option(help="CSV column with the text.")] = None,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the CPU has it), bf16 or fp32.")] = "auto",
    seed: int = 42,
) -> None:
    """Pretrain a masked-LM encoder on product text (runs under torchrun for several processes)."""
    from skugraph.lm.pretrain import PretrainConfig
    from skugraph.lm.pretrain import pretrain as run_pretraining

    config = PretrainConfig(
        corpus=corpus, out=out, base_model=base_model, time_budget_minutes=time_budget, steps=steps,
        mlm_probability=mlm_probability, whole_word_mask=whole_word_mask, nsp=nsp, resume=resume,
        max_length=max_length, batch_size=batch_size, learning_rate=learning_rate, vocab_size=vocab_size,
        column=column, precision=precision, seed=seed,
    )
    columns = [SpinnerColumn(), TextColumn("pretrain {task.fields[status]}"), BarColumn(), TimeElapsedColumn()]
    worker = os.environ.get("RANK", "0") != "0"  # under torchrun only the first process reports
    with _friendly_errors(), Progress(*columns, console=errors, disable=worker) as bars:
        task = bars.add_task("pretrain", total=1.0, status="preparing corpus…")

        def report(point: dict[str, float]) -> None:
            status = f"step {point['step']}  loss {point['loss']:.3f}  {point['tokens_per_second']:,} tok/s"
            bars.update(task, completed=point["fraction"], status=status)

        result = run_pretraining(config, progress=report)
    if result.metadata:
        meta = result.metadata
        console.print(
            f"pretrained {meta['steps']} steps, {meta['tokens_seen']:,} tokens in {meta['train_seconds']} s "
            f"({meta['tokens_per_second']:,} tokens/s, {meta['precision']}); held-out MLM loss {meta['heldout_loss']} "
            f"(perplexity {meta['heldout_perplexity']}) → {out}"
        )


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()
