"""The ``skugraph`` command: a thin Typer layer that parses arguments and calls library functions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from skugraph import __version__, pipeline
from skugraph.corpus.ingest import ingest as ingest_listings
from skugraph.corpus.listings import FORMATS, BadRecordError, Reject
from skugraph.facts.ontology import load_ontology
from skugraph.graph.store import StoreError
from skugraph.graph.store import QueryResult, open_store
from skugraph.tagging.rules import RuleExtractor

app = typer.Typer(help="Turn e-commerce listings into a product knowledge graph.", no_args_is_help=True)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)  # a message never breaks inside a path

DEFAULT_WORKDIR = Path(".skugraph")
DbOption = Annotated[Path, typer.Option("--db", help="Graph database file (LadybugDB, embedded).")]
RuntimeOption = Annotated[str, typer.Option(help="How the tagger runs: torch, torch-bf16 (fp32 where the CPU lacks bf16), onnx or onnx-int8 (after `skugraph export-onnx`).")]
OntologyOption = Annotated[Path | None, typer.Option("--ontology", help="An edited ontology file (YAML/JSON; default: the packaged one).")]
AddressOption = Annotated[str, typer.Option(help="With --engine ray: local (start Ray here) or auto / ray://HOST:PORT (join a cluster).")]
TrainEngineOption = Annotated[str, typer.Option(help="local (this process; torchrun for several), or ray: --workers Ray Train workers (pip install skugraph[scale]).")]
TrainWorkersOption = Annotated[int, typer.Option(help="With --engine ray: training processes (data-parallel over gloo; each takes --batch-size per step).")]


@contextmanager
def _friendly_errors(strict: bool = False) -> Iterator[None]:
    """Failures end with one clear line and exit 1, never a traceback (``SKUGRAPH_DEBUG=1``
    shows the traceback of an unforeseen one). ``strict``: a bad record stopped an ingest."""
    try:
        yield
    except BadRecordError as error:
        _fail(f"bad record (--strict stops at the first): {error}" if strict else _not_clean_listings(error.reject))
    except KeyError as error:  # its message, without the quotes str() adds
        _fail(str(error.args[0]) if error.args else "not found")
    except (StoreError, ValueError) as error:  # OntologyError is a ValueError
        _fail(str(error))
    except OSError as error:  # no such file, permission denied, disk full …
        _fail(f"{error.filename}: {error.strerror}" if error.filename and error.strerror else str(error))
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except Exception as error:
        if os.environ.get("SKUGRAPH_DEBUG"):
            raise
        _fail(f"unexpected failure ({type(error).__name__}: {error}); SKUGRAPH_DEBUG=1 shows where")


def _fail(message: str) -> NoReturn:
    """One line on standard error, exit 1."""
    errors.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _looks_like_a_fact(reject: Reject) -> bool:
    return '"subject"' in reject.record and '"predicate"' in reject.record


def _not_clean_listings(reject: Reject) -> str:
    """Why a file given as ingested listings cannot be read, and what to run."""
    if _looks_like_a_fact(reject):
        return f"{reject.path} looks like facts, not listings: give the listings `skugraph ingest` wrote"
    return (f"{reject}; commands after ingest read clean listings: run skugraph ingest on the file first "
            "(it keeps the good records and reports each bad one)")


def _print_rejected(messages: list[str], what: str, shown: int = 20) -> None:
    """The first rejected records, each with its file and line, and how many there were."""
    for message in messages[:shown]:
        errors.print(f"[yellow]rejected[/] {message}", highlight=False)
    if messages:
        errors.print(f"[yellow]{len(messages)} {what} rejected[/]", highlight=False)


def _require_products(store: Any, db: Path) -> None:
    """Refuse a graph with no products: there is nothing to search, recommend or report on."""
    if not store.query("MATCH (p:Product) RETURN p.id LIMIT 1").rows:
        raise ValueError(f"{db} holds no products: load facts into it first (skugraph load)")


def _nothing(message: str) -> NoReturn:
    """A command that produced nothing of what it was asked for fails, saying how to accept it."""
    _fail(f"{message}; pass --allow-empty to accept an empty result")


AllowEmptyOption = Annotated[bool, typer.Option(help="Succeed even when nothing is read or made (by default that is an error).")]


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
    keep_pii: Annotated[bool, typer.Option(help="Do not mask personal data (phones, e-mails, addresses, names …).")] = False,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Validate listing files; keep the good records, report the bad ones; mask personal data."""
    with _friendly_errors(strict), _progress() as start:
        report = ingest_listings(inputs, out, rejects, format=format, strict=strict, scrub_pii=not keep_pii,
                                 progress=start("ingest", None))
    for reject in report.rejects:
        errors.print(f"[yellow]rejected[/] {reject}", highlight=False)
    if report.rejected > len(report.rejects):
        errors.print(f"[yellow]… and {report.rejected - len(report.rejects)} more in {rejects}[/]", highlight=False)
    if not report.ingested and not allow_empty:
        sources = ", ".join(map(str, inputs))
        if report.rejects and all(_looks_like_a_fact(reject) for reject in report.rejects):
            _fail(f"no listings ingested: {sources} looks like facts, not listings (id, title …)")
        _nothing(f"no listings ingested: all {report.rejected} records of {sources} rejected (each one in {rejects})"
                 if report.rejected else f"no listings ingested: {sources} holds no records")
    console.print(f"{report.summary()} → {out}" + (f" (rejects: {rejects})" if report.rejected else ""))


@app.command()
def extract(
    listings: Annotated[Path, typer.Argument(help="Ingested listings (JSONL or Parquet), or a directory of shards.")] = DEFAULT_WORKDIR / "listings.jsonl",
    out: Annotated[Path, typer.Option(help="Facts: JSONL, or a Parquet directory of part files when it ends in .parquet.")] = DEFAULT_WORKDIR / "facts.jsonl",
    mentions: Annotated[Path | None, typer.Option(help="Also write mentions (in the format of --out).")] = None,
    extractor: Annotated[str, typer.Option(help="rules, or tagger (needs --model).")] = "rules",
    model: Annotated[Path | None, typer.Option(help="Tagger directory from `skugraph train tagger`.")] = None,
    fields: Annotated[str, typer.Option(help="Fields the tagger reads: comma-separated (title, description), or 'all' (reviews too).")] = "title",
    min_score: Annotated[float, typer.Option(help="Drop tagger mentions below this calibrated confidence.")] = 0.0,
    brands: Annotated[list[Path] | None, typer.Option(help="Extra brand names, one a line.")] = None,
    product_types: Annotated[list[Path] | None, typer.Option(help="Extra product-type words, one a line.")] = None,
    ontology: OntologyOption = None,
    opinion_model: Annotated[Path | None, typer.Option(help="Review opinions: a directory from `skugraph train opinions`.")] = None,
    sentiment_model: Annotated[Path | None, typer.Option(help="Review sentiment: a directory from `skugraph train sentiment`.")] = None,
    relation_model: Annotated[Path | None, typer.Option(help="What each mention is to the head product: a directory from `skugraph train relations`.")] = None,
    runtime: RuntimeOption = "torch-bf16",
    workers: Annotated[int, typer.Option(help="Processes that read the listings (one thread each); this one reads ahead and writes.")] = 1,
    engine: Annotated[str, typer.Option(help="local, or ray: an actor pool of --workers on Ray (pip install skugraph[scale]).")] = "local",
    address: AddressOption = "local",
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Find mentions in listings and turn them into facts; with review models, opinions and sentiment too."""
    with _friendly_errors(), _progress() as start:
        schema = load_ontology(ontology)
        reviews = pipeline.ReviewModels.load(opinion_model, sentiment_model)
        relations = None
        if relation_model is not None:
            from skugraph.facts.relations import RelationClassifier

            relations = RelationClassifier.load(relation_model)
        rules = RuleExtractor.with_lexicon_files(brands or [], product_types or [])
        tagger = None
        if extractor == "tagger":
            if model is None:
                raise ValueError("--extractor tagger needs --model DIR (a directory from `skugraph train tagger`)")
            from skugraph.tagging.tagger import Tagger, TaggerExtractor

            tagger = TaggerExtractor(Tagger.load(model, runtime), fields.split(","), min_score)
        elif extractor != "rules":
            raise ValueError(f"--extractor must be rules or tagger, not {extractor!r}")
        report = pipeline.extract(listings, out, mentions, progress=start("extract", None), extractor=rules, tagger=tagger,
                                  ontology=schema, reviews=reviews, relations=relations, workers=workers, engine=engine, address=address)
    for message in report.rejects[:20]:
        errors.print(f"[yellow]left out[/] {message}")
    if report.rejects:
        errors.print(f"[yellow]{len(report.rejects)} listing(s) not valid, left out; `skugraph ingest` reports them with line numbers[/]")
    if not report.facts and not allow_empty:
        _nothing(f"no facts extracted: {listings} holds no listings" if not report.listings else
                 f"no facts extracted from the {report.listings} listings of {listings}: no brand, type or attribute found in them")
    console.print(f"extracted {report.facts} facts ({report.mentions} mentions) from {report.listings} listings → {out}")


@app.command()
def digest(db: DbOption = DEFAULT_WORKDIR / "graph.lbug") -> None:
    """A stable hash of every node and edge (equal graphs, equal digests), and any duplicate edges."""
    with _friendly_errors(), open_store(db, read_only=True) as store:
        value, duplicates = store.digest(), {name: n for name, n in store.duplicates().items() if n}
    console.print(value)
    if duplicates:
        errors.print(f"[red]duplicate edges:[/] {duplicates}")
        raise typer.Exit(1)


@app.command()
def load(
    facts: Annotated[Path, typer.Argument(help="Facts (JSONL or Parquet) from `skugraph extract`.")] = DEFAULT_WORKDIR / "facts.jsonl",
    listings: Annotated[Path, typer.Option(help="Ingested listings (JSONL or Parquet), or a directory of shards.")] = DEFAULT_WORKDIR / "listings.jsonl",
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    ontology: OntologyOption = None,
    batch_size: Annotated[int, typer.Option(help="Records a transaction (each one lands whole or not at all).")] = 200_000,
    keep_previous: Annotated[bool, typer.Option("--keep-previous", help="Keep the facts of earlier extraction runs of these listings beside the new run's (by default a new run replaces them).")] = False,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Upsert listings and facts into the graph (loading twice changes nothing; after a crash, load again).
    Facts of a new extraction of a listing (another extractor, version or reading) replace the
    previous extraction's, which stay in its history."""
    rejected: list[str] = []
    with _friendly_errors(), console.status("loading into the graph…"):
        schema = load_ontology(ontology)
        pipeline.check_facts_file(facts, allow_empty, schema)  # before the graph is touched
        if not listings.exists():
            raise FileNotFoundError(f"{listings}: no such file (the ingested listings: --listings)")
        report, stats = pipeline.load(db, listings, facts, on_error=rejected.append, ontology=schema,
                                      batch_size=batch_size, keep_previous=keep_previous)
    _print_rejected(rejected, "fact line(s)")
    if not sum(report.edges.values()) and not allow_empty:
        _nothing(f"no facts loaded from {facts}" + (f": all {len(rejected)} rejected, only the listings were loaded" if rejected else ""))
    nodes = sum(stats["nodes"].values())
    edges = sum(stats["edges"].values())
    console.print(f"loaded {sum(report.nodes.values())} node rows and {sum(report.edges.values())} edge rows → {db}")
    if report.retracted > report.rerun_retracted or report.changed:
        console.print(f"new versions of listings: {report.retracted - report.rerun_retracted} facts retracted, "
                      f"{report.changed} listing values replaced (both kept as history: skugraph history PRODUCT)")
    if report.rerun:
        console.print(f"a new extraction run of {report.rerun} listing(s) replaced the previous one: {report.rerun_retracted} "
                      "facts of the previous run retracted (kept as history: skugraph history PRODUCT; "
                      "--keep-previous keeps them)")
    if report.kept_previous:
        console.print(f"kept the facts of earlier extraction runs of {report.kept_previous} listing(s) beside the new run's "
                      "(--keep-previous)")
    console.print(f"graph now has {nodes} nodes and {edges} edges")


@app.command()
def fuse(
    facts: Annotated[Path, typer.Argument(help="Facts (JSONL or Parquet) from `skugraph extract`.")] = DEFAULT_WORKDIR / "facts.jsonl",
    listings: Annotated[Path, typer.Option(help="Ingested listings (JSONL or Parquet), or a directory of shards.")] = DEFAULT_WORKDIR / "listings.jsonl",
    out: Annotated[Path, typer.Option(help="Fused facts to write (JSONL, or Parquet when it ends in .parquet), for `skugraph load`.")] = DEFAULT_WORKDIR / "facts.fused.jsonl",
    matcher: Annotated[Path | None, typer.Option(help="A matcher from `skugraph train matcher` (default: attribute agreement + title similarity).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Match score that joins two listings (default: the matcher's own).")] = None,
    encoder: Annotated[str | None, typer.Option(help="An encoder (directory, minilm) whose nearest neighbours add candidate pairs.")] = None,
    complete: Annotated[bool, typer.Option(help="Also propose the values products lack (KG completion), marked inferred.")] = True,
    min_probability: Annotated[float, typer.Option(help="Calibrated probability an inferred value needs.")] = 0.7,
    ontology: OntologyOption = None,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """All of fusion: listings of one product become one product; its facts are merged
    (provenance kept), brands unified, attribute values voted again across its listings; and
    the values products lack are proposed as facts marked inferred."""
    rejected: list[str] = []
    with _friendly_errors(), console.status("resolving products…"):
        schema = load_ontology(ontology)
        pipeline.check_facts_file(facts, allow_empty, schema)
        report = pipeline.fuse(listings, facts, out, matcher, threshold, on_error=rejected.append, ontology=schema,
                               encoder=encoder, complete=complete, min_probability=min_probability)
    _print_rejected(rejected, "fact line(s)")
    if not (report.listings and report.facts_in) and not allow_empty:
        _nothing(f"nothing to fuse: {listings} holds no listings" if not report.listings else
                 f"nothing to fuse: no valid fact in {facts}")
    sizes = ", ".join(f"{products} with {size}" for size, products in report.group_sizes.items())
    console.print(f"{report.listings} listings → {report.products} products ({report.candidate_pairs} candidate pairs scored, "
                  f"{report.cut_bridges} weak bridges cut; listings per product: {sizes})", highlight=False)
    console.print(f"{report.facts_in} facts → {report.facts_out} fused facts ({report.inferred} inferred) → {out}   "
                  f"next: skugraph load {out}")


@app.command()
def complete(
    facts: Annotated[Path, typer.Argument(help="Fused facts (JSONL or Parquet) from `skugraph fuse`.")] = DEFAULT_WORKDIR / "facts.fused.jsonl",
    out: Annotated[Path, typer.Option(help="Inferred facts to write (JSONL, or Parquet when it ends in .parquet), for `skugraph load`.")] = DEFAULT_WORKDIR / "facts.inferred.jsonl",
    relation: Annotated[list[str] | None, typer.Option("--relation", help="A relation to complete (default: colour, material, capacity, size, compatible_with).")] = None,
    scorer: Annotated[str, typer.Option(help="neighbours, popularity, or a PyKEEN model (RotatE …; needs the kg extra).")] = "neighbours",
    min_probability: Annotated[float, typer.Option(help="Calibrated probability a proposal needs.")] = 0.7,
    ontology: OntologyOption = None,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """KG completion: propose the values products lack, as facts marked inferred with a calibrated probability."""
    rejected: list[str] = []
    with _friendly_errors(), console.status("completing the graph…"):
        schema = load_ontology(ontology)
        pipeline.check_facts_file(facts, allow_empty, schema)
        proposals = pipeline.complete(facts, out, relation, scorer, min_probability, rejected.append, schema)
    _print_rejected(rejected, "fact line(s)")
    if not proposals.facts and not allow_empty:
        _nothing(f"no value proposed: none reached probability {min_probability} (calibrated on "
                 f"{proposals.calibration['hidden']} hidden edges of {facts})")
    calibration = proposals.calibration
    console.print(f"calibrated on {calibration['hidden']} hidden edges (top value right {calibration['top_right']}); "
                  f"{len(proposals.facts)} inferred facts → {out}   next: skugraph load {out}", highlight=False)


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


@app.command("ontology")
def ontology_command(
    path: Annotated[Path | None, typer.Argument(help="An ontology file to check (default: the packaged one).")] = None,
) -> None:
    """Check an ontology file and show its attribute kinds, predicates and label mapping."""
    with _friendly_errors():
        onto = load_ontology(path)
    console.print(f"[green]ok[/] {onto.source}: {len(onto.attribute_kinds)} attribute kinds, {len(onto.predicates)} predicates, "
                  f"{len(onto.categories)} category rules, {len(onto.labels)} mention labels")
    table = Table(title="predicates", title_justify="left")
    for column in ("predicate", "relation", "from", "to"):
        table.add_column(column)
    for spec in onto.predicates.values():
        table.add_row(spec.name, spec.relation, spec.subject, " | ".join(spec.objects))
    table.add_row("<attribute kind>", "HAS_VALUE", "Product", "Value")
    console.print(table)
    labels = Table(title="mention labels", title_justify="left")
    labels.add_column("label")
    labels.add_column("becomes")
    for label, meaning in onto.labels.items():
        labels.add_row(label, meaning + (f" ({onto.attribute_kinds[meaning]})" if meaning in onto.attribute_kinds else ""))
    console.print(labels)


@app.command()
def scrub(
    text: Annotated[str | None, typer.Argument(help="Text to scrub (default: read lines from standard input).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the masked text and the spans (type, offsets) as JSON.")] = False,
) -> None:
    """Mask personal data in text: what ingest does to every listing."""
    import sys

    from skugraph.corpus.pii import scrub as scrub_text

    for line in [text] if text is not None else (line.rstrip("\n") for line in sys.stdin):
        masked, spans = scrub_text(line)
        if as_json:
            print(json.dumps({"text": masked, "redactions": [{"start": s.start, "end": s.end, "type": s.type} for s in spans]},
                             ensure_ascii=False))
        else:
            console.print(masked, markup=False, highlight=False)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its files, models and graph.")] = DEFAULT_WORKDIR / "demo",
    inputs: Annotated[list[Path] | None, typer.Option("--input", help="Listing files (default: the sample catalogue).")] = None,
    extractor: Annotated[str, typer.Option(help="tagger: pretrain → fine-tune → extract; rules: the rule extractor.")] = "tagger",
    pretrain_minutes: Annotated[float, typer.Option(help="Minutes of masked-LM pretraining for the demo encoder.")] = 1.5,
    retrain: Annotated[bool, typer.Option(help="Train the demo models again even if the work dir has them.")] = False,
) -> None:
    """The whole chain on the sample catalogue: pretrain a small encoder, fine-tune the tagger on
    the catalogue's labelled titles, extract, load the graph, and ask it questions."""
    config = pipeline.BuildConfig(workdir=workdir, fresh=True, extractor=extractor)
    if inputs:
        config.inputs = inputs
    models = None
    with _friendly_errors(), _progress() as start:
        if extractor == "tagger":
            models = pipeline.train_demo_models(workdir, pretrain_minutes, retrain, progress=start)
            config.tagger, config.opinion_model, config.sentiment_model = models.tagger, models.opinions, models.sentiment
        result = pipeline.build(config, progress=start)
    if models:
        pre, tuned = models.pretrain, models.training
        console.rule("[bold]models")
        console.print(f"encoder   {models.encoder}{' (reused)' if models.reused else ''}: {pre['tokens_seen']:,} tokens in "
                      f"{pre['train_seconds']} s, held-out MLM loss {pre['heldout_loss']}")
        micro = tuned["dev_report"]["micro"]
        console.print(f"tagger    {models.tagger}{' (reused)' if models.reused else ''}: {tuned['epochs_run']} epochs in "
                      f"{tuned['train_seconds']} s, dev F1 {micro['f1']:.3f} (P {micro['precision']:.3f} R {micro['recall']:.3f})")
    _print_summary(result)


def _print_summary(result: pipeline.BuildResult) -> None:
    nodes = result.stats["nodes"]
    console.rule("[bold]skugraph demo")
    console.print(f"listings read     {result.ingest.ingested} (rejected {result.ingest.rejected}, "
                  f"personal values masked {sum(result.ingest.redactions.values())})")
    fused = result.fuse
    sizes = ", ".join(f"{products} with {size}" for size, products in fused.group_sizes.items())
    console.print(f"products          {nodes['Product']} from {fused.listings} listings by entity resolution "
                  f"({fused.candidate_pairs} candidate pairs scored; listings per product: {sizes})", highlight=False)
    console.print(f"inferred facts    {result.fuse.inferred} (KG completion: missing values proposed, marked inferred)")
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
    for card in result.cards:
        _print_card(card)
    console.print(f"graph: {result.config.graph}   try: skugraph stats --db {result.config.graph}")
    console.print(f"web UI and REST API: skugraph serve --db {result.config.graph}   then open http://127.0.0.1:8000/ "
                  f"(API docs at /docs); market report: skugraph report --db {result.config.graph} --out report.html",
                  highlight=False)


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
    engine: TrainEngineOption = "local",
    workers: TrainWorkersOption = 2,
    address: AddressOption = "local",
) -> None:
    """Pretrain a masked-LM encoder on product text (on several processes: torchrun, or --engine ray)."""
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
        _check_engine(engine)
        task = bars.add_task("pretrain", total=1.0, status="preparing corpus…")

        def report(point: dict[str, float]) -> None:
            status = f"step {point['step']}  loss {point['loss']:.3f}  {point['tokens_per_second']:,} tok/s"
            bars.update(task, completed=point["fraction"], status=status)

        if engine == "ray":
            bars.update(task, status=f"on {workers} Ray Train workers…")
            meta = _train_on_ray("pretrain", config, workers, address)
        else:
            meta = run_pretraining(config, progress=report).metadata
    if meta:
        console.print(
            f"pretrained {meta['steps']} steps, {meta['tokens_seen']:,} tokens in {meta['train_seconds']} s "
            f"({meta['tokens_per_second']:,} tokens/s, {meta['precision']}); held-out MLM loss {meta['heldout_loss']} "
            f"(perplexity {meta['heldout_perplexity']}) → {out}"
        )


train_app = typer.Typer(help="Fine-tune models on labelled data.", no_args_is_help=True)
app.add_typer(train_app, name="train")


def _lexicon_option(values: list[str] | None) -> dict[str, list[Path]]:
    """``NAME=FILE[,FILE…]`` pairs (a file may be a glob) to gazetteer files by name."""
    lexicons: dict[str, list[Path]] = {}
    for value in values or []:
        name, sep, files = value.partition("=")
        if not sep or not name or not files:
            raise ValueError(f"--lexicon wants NAME=FILE[,FILE…], got {value!r}")
        for item in files.split(","):
            matches = sorted(Path().glob(item)) if any(c in item for c in "*?[") else [Path(item)]
            if not matches or not all(m.is_file() for m in matches):
                raise FileNotFoundError(f"--lexicon {name}: no file {item}")
            lexicons.setdefault(name, []).extend(matches)
    return lexicons


@train_app.command("tagger")
def train_tagger_command(
    train: Annotated[Path, typer.Option(help="Labelled training texts.")],
    out: Annotated[Path, typer.Option(help="Tagger directory to write.")],
    dev: Annotated[Path | None, typer.Option(help="Labelled dev texts: early stopping and calibration.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="bio | bieos | jsonl | label-studio (default: from the file name).")] = None,
    base_model: Annotated[str, typer.Option(help="Encoder: a model directory (e.g. from `skugraph pretrain`), minilm, a hub id, or scratch:tiny|small|base.")] = "scratch:small",
    random_init: Annotated[bool, typer.Option(help="The base model's shape and tokenizer with fresh weights.")] = False,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: Annotated[float | None, typer.Option(help="Encoder rate (default 1e-4 pretrained, 5e-4 fresh).")] = None,
    head_learning_rate: Annotated[float, typer.Option(help="Rate of the new layers (the CRF gets 10x).")] = 2e-3,
    weight_decay: float = 0.01,
    warmup: Annotated[float, typer.Option(help="Share of steps spent warming up.")] = 0.1,
    dropout: float = 0.1,
    patience: Annotated[int, typer.Option(help="Epochs without a better dev F1 before stopping.")] = 5,
    freeze_layers: Annotated[int, typer.Option(help="Keep the embeddings and the lower N layers fixed.")] = 0,
    lora: Annotated[int, typer.Option(help="LoRA rank (0: no adapters).")] = 0,
    lora_method: Annotated[str, typer.Option(help="lora or adalora.")] = "lora",
    crf: Annotated[bool, typer.Option(help="A CRF layer on top (constrained decoding either way).")] = True,
    ngrams: Annotated[bool, typer.Option(help="Character-bigram embeddings beside the encoder.")] = False,
    lexicon: Annotated[list[str] | None, typer.Option(help="Gazetteer NAME=FILE[,FILE]; NAME an entity type also feeds substitution.")] = None,
    substitute: Annotated[float, typer.Option(help="Augmentation: chance to swap a mention for another of its type.")] = 0.0,
    synonyms: Annotated[float, typer.Option(help="Augmentation: chance to swap a synonym outside mentions.")] = 0.0,
    synonyms_file: Annotated[Path | None, typer.Option(help="Synonym groups, one a line (default: the packaged list).")] = None,
    mention_dropout: Annotated[float, typer.Option(help="Augmentation: chance to delete a mention.")] = 0.0,
    window: Annotated[int, typer.Option(help="Tokens per window; longer texts are windowed, never cut.")] = 128,
    stride: int = 64,
    time_budget: Annotated[float | None, typer.Option(help="Minutes of training at most.")] = None,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the CPU has it), bf16 or fp32.")] = "auto",
    seed: int = 42,
    engine: TrainEngineOption = "local",
    workers: TrainWorkersOption = 2,
    address: AddressOption = "local",
) -> None:
    """Fine-tune a tagger for entities and attributes (any tag set: it is read from the data)."""
    from skugraph.tagging.augment import AugmentConfig
    from skugraph.tagging.train import TrainTaggerConfig, train_tagger

    with _friendly_errors():
        _check_engine(engine)
        augment = AugmentConfig(substitute=substitute, synonyms=synonyms, mention_dropout=mention_dropout)
        config = TrainTaggerConfig(
            train=train, out=out, dev=dev, format=format, base_model=base_model, random_init=random_init, epochs=epochs,
            batch_size=batch_size, learning_rate=learning_rate, head_learning_rate=head_learning_rate,
            weight_decay=weight_decay, warmup=warmup, dropout=dropout, patience=patience, freeze_layers=freeze_layers,
            lora=lora, lora_method=lora_method, crf=crf, ngrams=ngrams, lexicons=_lexicon_option(lexicon), augment=augment,
            synonyms=synonyms_file, window=window, stride=stride, time_budget_minutes=time_budget, precision=precision, seed=seed,
        )

        def report(record: dict) -> None:
            dev_text = f"  dev F1 {record['dev_f1']:.4f}" if "dev_f1" in record else ""
            errors.print(f"epoch {record['epoch']:>3}  loss {record['loss']:.4f}{dev_text}  {record['seconds']} s")

        if engine == "ray":
            meta = _train_on_ray("tagger", config, workers, address)
        else:
            meta = train_tagger(config, progress=report).metadata
    for message in meta["skipped_records"][:10]:
        errors.print(f"[yellow]skipped[/] {message}")
    processes = f", {meta['processes']} processes" if meta.get("processes", 1) > 1 else ""
    console.print(f"trained {meta['epochs_run']} epochs in {meta['train_seconds']:.0f} s (best epoch {meta['best_epoch']}, "
                  f"{meta['precision']}{processes}) → {out}")
    if meta["dev_report"]:
        micro = meta["dev_report"]["micro"]
        console.print(f"dev strict entity micro P {micro['precision']:.4f}  R {micro['recall']:.4f}  F1 {micro['f1']:.4f}")
    if meta.get("calibration"):
        c = meta["calibration"]
        console.print(f"calibration: temperature {c['temperature']}, expected calibration error {c['ece_uncalibrated']} → {c['ece_calibrated']}")


def _train_on_ray(task: str, config, workers: int, address: str) -> dict:
    try:
        from skugraph.scale.ray_train import train_on_ray
    except ModuleNotFoundError as error:
        raise ValueError(f"--engine ray needs Ray ({error}): pip install 'skugraph[scale]'") from None
    return train_on_ray(task, config, workers, address)


def _check_engine(engine: str) -> None:
    if engine not in ("local", "ray"):
        raise ValueError(f"--engine must be local or ray, not {engine!r}")


def _hold_out(rows: list, every: int) -> tuple[list, list]:
    """(training rows, dev rows): every ``every``-th row is dev; 0 keeps all for training."""
    dev = {i for i in range(len(rows)) if every and i % every == every - 1}
    return [r for i, r in enumerate(rows) if i not in dev], [r for i, r in enumerate(rows) if i in dev]


@train_app.command("opinions")
def train_opinions_command(
    reviews: Annotated[Path, typer.Option(help="Reviews CSV (id,Reviews).")],
    labels: Annotated[Path, typer.Option(help="Tuples CSV (id,AspectTerms,A_start,A_end,OpinionTerms,O_start,O_end,Categories,Polarities).")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    base_model: Annotated[str, typer.Option(help="Encoder for the span tagger: a directory, minilm, or scratch:tiny|small.")] = "scratch:small",
    dev_every: Annotated[int, typer.Option(help="Every N-th review is dev (early stopping and the printed score).")] = 5,
    epochs: Annotated[int, typer.Option()] = 20,
    patience: Annotated[int, typer.Option()] = 4,
    minutes: Annotated[float | None, typer.Option(help="Time budget for the tagger.")] = None,
) -> None:
    """Train the review opinion extractor: aspect/opinion tagger, pairing, category and polarity."""
    from skugraph.facts.opinions import read_opinion_csv, train_opinion_extractor, tuple_scores

    with _friendly_errors(), _progress() as start:
        train, dev = _hold_out(read_opinion_csv(reviews, labels), dev_every)
        step = start("train opinions", epochs)
        extractor = train_opinion_extractor(train, dev, out, base_model=base_model, epochs=epochs, patience=patience,
                                            time_budget_minutes=minutes, progress=lambda record: step(1))
        scores = tuple_scores(dev, extractor.extract([r.text for r in dev]))
    console.print(f"opinion extractor → {out}: dev exact-tuple P {scores['precision']:.3f} R {scores['recall']:.3f} F1 {scores['f1']:.3f}"
                  f" ({len(train)} training reviews, {len(dev)} dev)")


@train_app.command("relations")
def train_relations_command(
    train: Annotated[Path, typer.Option(help="Labelled titles (BIO/BIEOS/JSONL/Label Studio): the distant training data.")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    dev: Annotated[Path | None, typer.Option(help="Labelled titles for choosing the epoch (distant labels too).")] = None,
    format: Annotated[str | None, typer.Option(help="bio, bieos, jsonl or label-studio (default: from the file name).")] = None,
    base_model: Annotated[str, typer.Option(help="Encoder: a directory, minilm, or scratch:tiny|small.")] = "scratch:small",
    epochs: Annotated[int, typer.Option()] = 3,
    attribute_share: Annotated[float, typer.Option(help="Share of attribute_of pairs kept (they outnumber the rest).")] = 0.25,
    minutes: Annotated[float | None, typer.Option(help="Time budget.")] = None,
    ontology: OntologyOption = None,
) -> None:
    """Train the relation classifier (entity markers) on pairs labelled by distant supervision."""
    from skugraph.corpus.ner import read_labelled
    from skugraph.facts.relations import TrainRelationsConfig, examples_from, train_relations

    with _friendly_errors(), _progress() as start:
        schema = load_ontology(ontology)
        pairs = examples_from(read_labelled(train, format), schema)
        held = examples_from(read_labelled(dev, format), schema) if dev else []
        if not pairs:
            raise ValueError(f"{train}: no (head product, mention) pairs: the titles need product-word mentions")
        step = start("train relations", epochs)
        config = TrainRelationsConfig(out=out, base_model=base_model, epochs=epochs, keep={"attribute_of": attribute_share},
                                      time_budget_minutes=minutes)
        classifier = train_relations(pairs, held, config, progress=lambda record: step(1))
    scores = classifier.record.get("dev")
    console.print(f"relation classifier → {out} ({classifier.record['train_examples']} pairs)"
                  + (f": dev micro F1 {scores['micro']['f1']:.3f} against the distant labels" if scores else ""))


@train_app.command("matcher")
def train_matcher_command(
    train: Annotated[Path, typer.Option(help="Labelled offer pairs, Ditto format: left TAB right TAB label (COL attr VAL value …).")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    valid: Annotated[Path | None, typer.Option(help="Pairs for choosing the epoch and the threshold.")] = None,
    base_model: Annotated[str, typer.Option(help="Encoder: a directory (e.g. from `skugraph pretrain`), minilm, or scratch:tiny|small.")] = "minilm",
    epochs: Annotated[int, typer.Option()] = 10,
    max_length: Annotated[int, typer.Option(help="Tokens per pair.")] = 128,
    minutes: Annotated[float | None, typer.Option(help="Time budget (the schedule is shortened to fit).")] = None,
) -> None:
    """Fine-tune the cross-encoder pair matcher used by `skugraph fuse --matcher`."""
    from skugraph.fusion.matching import TrainMatcherConfig, read_pairs, train_matcher

    bad: list[str] = []
    with _friendly_errors(), _progress() as start:
        pairs = read_pairs(train, bad.append)
        held = read_pairs(valid, bad.append) if valid else []
        for message in bad[:20]:
            errors.print(f"[yellow]skipped[/] {message}")
        if not pairs:
            raise ValueError(f"{train}: no labelled pairs")
        step = start("train matcher", epochs)
        config = TrainMatcherConfig(out=out, base_model=base_model, epochs=epochs, max_length=max_length, time_budget_minutes=minutes)
        matcher = train_matcher(pairs, held, config, progress=lambda record: step(1))
    score = matcher.record.get("valid")
    console.print(f"matcher → {out} ({len(pairs)} pairs, threshold {matcher.threshold:.3f})"
                  + (f": valid F1 {score['f1']:.3f} (P {score['precision']:.3f}, R {score['recall']:.3f})" if score else ""))


@train_app.command("sentiment")
def train_sentiment_command(
    data: Annotated[Path, typer.Argument(help="Labelled reviews: CSV with label and review (or text) columns, or JSONL {text, label}.")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    dev_every: Annotated[int, typer.Option(help="Every N-th review is dev (the printed score); 0 trains on all.")] = 5,
) -> None:
    """Train the review sentiment classifier (character n-grams, logistic regression)."""
    from skugraph.facts.sentiment import read_sentiment_file, train_sentiment

    with _friendly_errors():
        rows, held = _hold_out(read_sentiment_file(data), dev_every)
        model = train_sentiment(rows, out)
    message = f"sentiment classifier → {out} ({len(rows)} reviews, labels {', '.join(model.labels)})"
    if held:
        right = sum(label == gold for (label, _), (_, gold) in zip(model.predict([t for t, _ in held]), held, strict=True))
        message += f": dev accuracy {right / len(held):.3f} on {len(held)}"
    console.print(message)


def _print_card(card: dict) -> None:
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


@app.command()
def show(
    product: Annotated[str, typer.Argument(help="A product id.")],
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
) -> None:
    """A product as the graph knows it: type, brand, attributes, links, aspects, each with its evidence."""
    from skugraph.graph.cards import product_card

    with _friendly_errors(), open_store(db, read_only=True) as store:
        card = product_card(store, product)
        if card is None:
            raise KeyError(f"no product {product!r} in {db}")
    if as_json:
        print(json.dumps(card, ensure_ascii=False))
    else:
        _print_card(card)


@app.command()
def history(
    product: Annotated[str, typer.Argument(help="A product id, or a listing id (its product).")],
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """A product's values over time: what it holds now (since when) and what ended (retracted
    facts, its listings' old prices and titles), each with the listings that said it."""
    from skugraph.graph.cards import history as product_history

    with _friendly_errors(), open_store(db, read_only=True) as store:
        found = product_history(store, product)
        if found is None:
            raise KeyError(f"no product or listing {product!r} in {db}")
    if as_json:
        print(json.dumps(found, ensure_ascii=False))
        return
    table = Table(title=f"{found['product']}: {len(found['listings'])} listing(s)", title_justify="left")
    for column in ("of", "attribute", "value", "from", "to", "sources"):
        table.add_column(column, overflow="fold")
    for row in found["history"]:
        since = str(row["valid_from"] or "?")[:16].replace("T", " ")
        until = str(row["valid_to"])[:16].replace("T", " ") if row["valid_to"] else "[green]now[/]"
        table.add_row(row["subject"], row["attribute"], row["value"], since, until, ", ".join(row["sources"]))
    console.print(table)


@app.command()
def explain(
    product: Annotated[str, typer.Argument(help="A product id.")],
    attribute: Annotated[str | None, typer.Argument(help="One attribute kind (colour, capacity …); default: all.")] = None,
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    as_json: Annotated[bool, typer.Option("--json", help="Print the values as JSON.")] = False,
) -> None:
    """Why the graph says what it says about a product: which listings were merged into it and
    why, and the evidence behind each attribute value (the chosen one and the alternatives).
    A listing id explains the product that listing offers."""
    from skugraph.graph.cards import explain as explain_product

    with _friendly_errors(), open_store(db, read_only=True) as store:
        found = explain_product(store, product, attribute)
        if found is None:
            raise KeyError(f"no product or listing {product!r} in {db}")
    if as_json:
        print(json.dumps(found, ensure_ascii=False))
        return
    console.rule(f"[bold]{found['product']}[/]  {found['title']}")
    console.print(f"{len(found['listings'])} listing(s):", highlight=False)
    for offer in found["listings"]:
        console.print(f"  {offer['listing']}  {offer['title']}  [dim]{offer['source'] or ''} {offer['price'] or ''}: "
                      f"{offer['evidence']}[/]", highlight=False)
    for row in found["brands"]:
        names = f" ({', '.join(row['aliases'])})" if row["aliases"] else ""
        why = f"{row['why']}; " if row["why"] else ""
        console.print(f"{'brand':<14} {row['brand']}{names}  [dim]confidence {row['confidence']:.2f}: {why}"
                      f"{'; '.join(row['evidence'])}[/]", highlight=False)
    if not found["values"] and not found["brands"]:
        console.print(f"no {attribute or 'attribute'} values")
    for row in found["values"]:
        mark = "[green]chosen[/]     " if row["chosen"] else "[yellow]inferred[/]   " if row["inferred"] else "alternative"
        console.print(f"{row['attribute']:<14} {mark} {row['value']}  [dim]support {row['support']:.2f}, confidence "
                      f"{row['confidence']:.2f}: {'; '.join(row['evidence'])}[/]", highlight=False)


@app.command()
def aspects(
    product: Annotated[str | None, typer.Argument(help="A product id (default: every product).")] = None,
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects.")] = False,
) -> None:
    """What reviews say about each aspect of a product: reviews, positive, negative, share positive."""
    from skugraph.facts.opinions import aspect_summary

    with _friendly_errors(), open_store(db, read_only=True) as store:
        rows = aspect_summary(store, product)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    columns = ["product", "aspect", "reviews", "positive", "negative", "other", "share_positive"]
    _print_result(QueryResult(columns, [[row[c] for c in columns] for row in rows]))


TaggerOption = Annotated[Path | None, typer.Option("--tagger", help="Read queries with this tagger (default: the rules).")]


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for: 华为 手机壳 透明")],
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    tagger: TaggerOption = None,
    limit: int = 10,
    brand: Annotated[str | None, typer.Option(help="Only this brand: a name, alias or key (华为, HUAWEI, huawei).")] = None,
    fits: Annotated[str | None, typer.Option(help="Only products that fit this brand: a name, alias or key.")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Only this product type: a name or key (手机壳).")] = None,
    colour: Annotated[str | None, typer.Option(help="Only this colour: a name or key (黑色).")] = None,
    price: Annotated[str | None, typer.Option(help="Only this price band (as the facets write it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search products: BM25 over their listings' text plus the brand, type, colour … read from the
    query and matched against the graph's facts; with facets."""
    from skugraph.serve.app import Services

    if not query.strip() and not any((brand, fits, type, colour, price)):
        _fail("an empty query: say what to look for (华为 手机壳), or filter (--brand 华为)")
    with _friendly_errors():
        with open_store(db, read_only=True) as store:
            _require_products(store, db)
        services = Services.open(db, tagger)
        try:
            result = services.index.search(query, services.parser, limit,
                                           {"brand": brand, "fits": fits, "type": type, "colour": colour, "price": price})
        finally:
            services.store.close()
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    asked = ", ".join(f"{c.predicate} {c.name}" for c in result.constraints) or "none"
    console.print(f"read from the query: {asked}   {result.total} product(s)", highlight=False)
    for hint in result.hints:
        console.print(f"[yellow]{hint.replace('filter fits', '--fits')}[/]", highlight=False)
    table = Table(show_lines=False)
    for column in ("product", "title", "score", "matched", "price"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        table.add_row(hit.id, hit.title, f"{hit.score:.3f}", ", ".join(hit.matched), "" if hit.price is None else f"{hit.price:g}")
    console.print(table)
    for facet, values in result.facets.items():
        shown = ", ".join(f"{v['name']} ({v['count']})" for v in values[:6])
        console.print(f"[dim]{facet}:[/] {shown}", highlight=False)


@app.command()
def recommend(
    product: Annotated[str, typer.Argument(help="A product (or listing) id.")],
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    k: Annotated[int, typer.Option(help="Products per list.")] = 5,
    kg_embeddings: Annotated[str | None, typer.Option(help="Also rank similar products by a PyKEEN model's embeddings (TransE, RotatE …).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lists as JSON.")] = False,
) -> None:
    """Similar, complementary (accessories that fit it) and substitute products, each with a reason."""
    from skugraph.apps.recommend import Recommender
    from skugraph.apps.search import SearchIndex
    from skugraph.graph.cards import product_of

    with _friendly_errors(), open_store(db, read_only=True) as store:
        found = product_of(store, product)
        if found is None:
            raise KeyError(f"no product or listing {product!r} in {db}")
        recommender = Recommender.from_index(SearchIndex.from_store(store))
    if kg_embeddings:
        recommender.learn_embeddings(kg_embeddings)
    lists = recommender.recommend(found, k)
    if as_json:
        print(json.dumps(lists, ensure_ascii=False))
        return
    for kind, items in lists.items():
        console.rule(f"[bold]{kind}")
        for item in items:
            console.print(f"{item['id']}  {item['title']}  [dim]{item['reason']}[/]", highlight=False)
        if not items:
            console.print("[dim]none[/]")


@app.command()
def report(
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("report.html"),
) -> None:
    """Market analysis as one self-contained HTML page: brand share per category, attribute values,
    price bands, ratings and aspect sentiment."""
    from skugraph.apps.analytics import market_report, report_html

    with _friendly_errors(), open_store(db, read_only=True) as store:
        _require_products(store, db)
        data = market_report(store)
    out.write_text(report_html(data), encoding="utf-8")
    s = data["summary"]
    console.print(f"wrote {out}: {s['products']} products, brand share in {len(data['brand_share'])} groups by "
                  f"{data['brand_share_by']}, {len(data['attributes'])} attributes, {len(data['aspects'])} aspect rows", highlight=False)
    for section, why in data["notes"].items():
        console.print(f"[dim]{section}: {why}[/]", highlight=False)


@app.command()
def serve(
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    tagger: TaggerOption = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    query_timeout: Annotated[float, typer.Option(help="Seconds a /query may run.")] = 5.0,
    kg_embeddings: Annotated[str | None, typer.Option(help="Train this PyKEEN model at start for similar products (TransE, RotatE …).")] = None,
    runtime: RuntimeOption = "torch-bf16",
) -> None:
    """The REST API (OpenAPI at /docs) and the web UI over a graph."""
    import uvicorn

    from skugraph.serve.app import create_app

    with _friendly_errors():
        api = create_app(db, tagger, query_timeout, kg_embeddings, runtime)
    console.print(f"skugraph on http://{host}:{port}/  (API docs: /docs)", highlight=False)
    uvicorn.run(api, host=host, port=port, log_level="warning")


bench_app = typer.Typer(help="Speed benchmarks on this machine.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("extract")
def bench_extract_command(
    model: Annotated[Path, typer.Option(help="A tagger directory (its ONNX files are exported first if missing).")],
    listings: Annotated[int, typer.Option(help="How many titles to tag.")] = 2000,
    titles: Annotated[Path | None, typer.Option(help="A text file of titles, one a line (default: the sample catalogue's, cycled).")] = None,
    dev: Annotated[Path | None, typer.Option(help="Labelled titles: each runtime's strict F1 there (what int8 loses).")] = None,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/extract.json"),
) -> None:
    """Titles/s and peak RSS of the Hugging Face token-classification pipeline and of our torch,
    torch-bf16, onnx and onnx-int8 runtimes, on the same model and titles, in one run, and the
    physical limit: the network's FLOPs a title against this machine's bf16 matmul rate."""
    from skugraph.bench import bench_extract

    with _friendly_errors():
        try:
            report = bench_extract(model, listings, titles, progress=lambda r: errors.print(f"{r['system']}: {r['titles_per_s']} titles/s"),
                                   dev=dev)
        except RuntimeError as error:  # a system's own process failed: its last line says why
            errors.print(f"[red]error:[/] {error}")
            raise typer.Exit(1) from None
    table = Table(title=f"{listings} titles, {report['source']}", title_justify="left")
    for column in ("system", "titles/s", "× HF pipeline", "network s", "decode s", "peak RSS MB", "dev F1"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for r in report["results"]:
        table.add_row(r["system"], str(r["titles_per_s"]), f"{r['x_hf_pipeline']:.2f}", str(r.get("network_seconds", "")),
                      str(r.get("decode_seconds", "")), str(r["peak_rss_mb"]), str(r.get("dev_f1", "")))
    console.print(table)
    limit = report["physical_limit"]
    console.print(f"physical limit: {limit['mflops_per_title']} MFLOP a title at {limit['bf16_matmul_gflops']} GFLOP/s "
                  f"(a 2048² bf16 matmul here) = {limit['titles_per_s']} titles/s")
    _write_bench(report, out)


def _write_bench(report: dict, out: Path) -> None:
    import sys

    report["command"] = " ".join(["skugraph", *sys.argv[1:]])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out}")


@bench_app.command("load")
def bench_load_command(
    listings: Annotated[int, typer.Option(help="How many listings to generate (the sample catalogue's, cycled).")] = 20_000,
    changed: Annotated[float, typer.Option(help="Share of the listings the incremental update changes.")] = 0.01,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/load.json"),
) -> None:
    """Facts/s of our loader beside LadybugDB's own COPY of the same rows, and the cost of an
    update of 1% of the listings beside the full load."""
    from skugraph.bench import bench_load

    with _friendly_errors():
        report = bench_load(listings, changed, progress=errors.print)
    table = Table(title=f"{listings} listings, {report['facts']} facts", title_justify="left")
    for column in ("load", "seconds", "facts/s", "vs"):
        table.add_column(column, justify="left" if column == "load" else "right")
    table.add_row("LadybugDB COPY (baseline)", str(report["ladybug_copy"]["seconds"]), str(report["ladybug_copy"]["facts_per_s"]), "1.00")
    table.add_row("skugraph load", str(report["ours"]["seconds"]), str(report["ours"]["facts_per_s"]), f"{report['ours_vs_copy']:.2f} × COPY")
    parts = report["ours"]["parts"]
    table.add_row("  reading, building rows", str(parts["rows"]), "", "")
    table.add_row("  staging as Parquet", str(parts["stage"]), "", "")
    table.add_row("  store statements (COPY, upserts)", str(parts["store"]), "", f"{report['our_store_statements_vs_copy']:.2f} × COPY")
    table.add_row("  open, close (checkpoint)", str(parts["open_close"]), "", "")
    update = report["update"]
    table.add_row(f"update of {update['listings']} listings ({update['share']:.0%})", str(update["seconds"]), "",
                  f"{update['share_of_full_load']:.1%} of the full load")
    table.add_row("  of which open, close (checkpoint)", str(update["parts"]["open_close"]), "", "")
    console.print(table)
    _write_bench(report, out)


@bench_app.command("stream")
def bench_stream_command(
    listings: Annotated[int, typer.Option(help="How many listings to generate.")] = 1_000_000,
    workers: Annotated[int, typer.Option(help="Extraction processes.")] = 2,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/stream.json"),
) -> None:
    """Generate, ingest and extract many listings, streaming: time and peak memory of each stage
    (all processes together)."""
    from skugraph.bench import bench_stream

    with _friendly_errors():
        report = bench_stream(listings, workers, progress=errors.print)
    table = Table(title=f"{listings:,} listings, {workers} extraction workers", title_justify="left")
    for column in ("stage", "listings", "seconds", "listings/s", "peak RSS MB (all processes)"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, stage in report["stages"].items():
        table.add_row(name + (f" ({stage['facts']:,} facts)" if "facts" in stage else ""), f"{stage['listings']:,}", str(stage["seconds"]),
                      str(stage["listings_per_s"]), str(stage["peak_rss_mb"]))
    console.print(table)
    _write_bench(report, out)


@bench_app.command("scale")
def bench_scale_command(
    listings: Annotated[int, typer.Option(help="How many listings to generate.")] = 20_000,
    workers: Annotated[list[int] | None, typer.Option(help="Ray worker counts to run (repeat the option).")] = None,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/scale.json"),
) -> None:
    """Extraction on a local Ray instance with 1 and 2 workers, beside the local engine in one
    process: listings/s overall and in the steady state, per worker; and Ray writing Parquet."""
    from skugraph.bench import bench_scale

    with _friendly_errors():
        report = bench_scale(listings, tuple(workers or (1, 2)), progress=errors.print)
    table = Table(title=f"{listings:,} listings, rules; same facts everywhere: {report['same_facts_everywhere']}", title_justify="left")
    columns = {"engine": "engine", "workers": "workers", "output": "output", "seconds": "seconds", "start_seconds": "start s",
               "listings_per_s": "listings/s", "steady_listings_per_s": "steady listings/s", "steady_per_worker": "steady per worker"}
    for key, column in columns.items():
        table.add_column(column, justify="left" if key in ("engine", "output") else "right")
    for run in report["runs"]:
        table.add_row(*(str(run.get(key, "–")) for key in columns))
    console.print(table)
    _write_bench(report, out)


@bench_app.command("train")
def bench_train_command(
    steps: Annotated[int, typer.Option(help="Optimizer steps per run.")] = 40,
    workers: Annotated[list[int] | None, typer.Option(help="Ray Train worker counts to run (repeat the option).")] = None,
    base_model: Annotated[str, typer.Option(help="scratch:tiny|small|base.")] = "scratch:small",
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/train-scale.json"),
) -> None:
    """Pretraining throughput on Ray Train with 1 and 2 workers, beside one local process."""
    from skugraph.bench import bench_train

    with _friendly_errors():
        report = bench_train(steps, tuple(workers or (1, 2)), base_model, progress=errors.print)
    table = Table(title=f"{steps} steps of {base_model}, 64 sequences per process and step", title_justify="left")
    columns = {"engine": "engine", "workers": "workers", "threads_per_process": "threads each", "wall_seconds": "wall s",
               "train_seconds": "train s", "tokens_per_s": "tokens/s", "tokens_per_s_per_worker": "per worker", "final_loss": "loss"}
    for key, column in columns.items():
        table.add_column(column, justify="left" if key == "engine" else "right")
    for run in report["runs"]:
        table.add_row(*(str(run[key]) for key in columns))
    console.print(table)
    _write_bench(report, out)


@bench_app.command("api")
def bench_api_command(
    db: Annotated[Path | None, typer.Option("--db", help="A graph to serve (default: the sample catalogue, built with the rules).")] = None,
    max_examples: Annotated[int, typer.Option(help="Generated requests per operation and phase.")] = 100,
    seed: int = 1,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/api.json"),
) -> None:
    """Schemathesis against `skugraph serve`, every check on: server errors (5xx) and other failures."""
    from skugraph.bench import bench_api

    with _friendly_errors():
        report = bench_api(db, max_examples, seed, progress=errors.print)
    cases = report["test_cases"]
    console.print(f"{report['operations']} operations, {cases['generated']} generated requests, {cases['with_failures']} with failures; "
                  f"server errors (5xx): {report['server_errors']}")
    for failure in report["failures"]:
        console.print(f"  {failure['code']} {failure['title']}: {failure['count']} ({', '.join(failure['operations'])})")
    _write_bench(report, out)


@bench_app.command("fuzz")
def bench_fuzz_command(
    records: Annotated[int, typer.Option(help="Generated records to read (good and malformed).")] = 10_000,
    seed: Annotated[int, typer.Option(help="The first hypothesis seed (one per round of 50 files).")] = 0,
    out: Annotated[Path, typer.Option(help="Where the counts go.")] = Path("benchmarks/results/fuzz.json"),
) -> None:
    """Ingest and extract generated files of good and malformed listings (hypothesis): crashes,
    good records lost, bad records not reported with file and line."""
    try:
        from skugraph.fuzz import run
    except ModuleNotFoundError as error:
        errors.print(f"[red]error:[/] the fuzz bench needs the dev extra ({error}): pip install 'skugraph[dev]'")
        raise typer.Exit(1) from None
    report = run(records, start_seed=seed).to_dict()
    table = Table(title=f"{report['records']:,} records in {report['files']:,} files", title_justify="left")
    table.add_column("kind")
    table.add_column("records", justify="right")
    table.add_row("good", str(report["good_records"]))
    for kind, count in report["bad_by_kind"].items():
        table.add_row(kind, str(count))
    console.print(table)
    console.print(f"crashes {report['crashes']}, good records lost {report['lost_good_records']}, bad records not reported "
                  f"{report['unreported_bad_records']}, reports at the wrong place {report['misplaced_reports']}; "
                  f"{report['facts_extracted']:,} facts extracted, {report['facts_with_bad_spans']} with spans outside their text")
    _write_bench(report, out)
    if report["crashes"] or report["lost_good_records"] or report["unreported_bad_records"]:
        raise typer.Exit(1)


@bench_app.command("demo")
def bench_demo_command(
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/demo.json"),
) -> None:
    """Wall time and peak memory of `skugraph demo` in a fresh work directory (what `make demo`
    runs after installing)."""
    from skugraph.bench import bench_demo

    with _friendly_errors():
        report = bench_demo()
    console.print(f"skugraph demo: {report['seconds']} s wall, peak RSS {report['peak_rss_mb']} MB")
    _write_bench(report, out)


@app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Directory to write.")],
    format: Annotated[str, typer.Option(help="neo4j-admin (CSVs + import.sh), nebula (CSVs + nebula-importer.yaml), rdf (N-Triples, Turtle), jsonld or parquet.")] = "neo4j-admin",
    db: DbOption = DEFAULT_WORKDIR / "graph.lbug",
    ontology: OntologyOption = None,
) -> None:
    """Export the graph for bulk import elsewhere: Neo4j, NebulaGraph, RDF stores (schema.org Product), Parquet."""
    from skugraph.graph.exports import export_graph

    with _friendly_errors(), open_store(db, read_only=True, ontology=load_ontology(ontology)) as store:
        written = export_graph(store, out, format)
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command("export-onnx")
def export_onnx_command(
    model: Annotated[Path, typer.Argument(help="A tagger directory from `skugraph train tagger`.")],
    quantize: Annotated[bool, typer.Option(help="Also write the dynamic int8 model.")] = True,
) -> None:
    """Export a tagger to ONNX (tagger.onnx, and tagger.int8.onnx) for `--runtime onnx|onnx-int8`."""
    from skugraph.tagging.runtime import export_onnx

    with _friendly_errors():
        written = export_onnx(model, quantize)
    for path in written:
        console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False)


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
    with _friendly_errors():
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


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()
