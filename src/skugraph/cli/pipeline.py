"""The pipeline commands: ingest, extract, fuse, complete, load, digest, scrub, and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from skugraph.cli.common import (
    DEFAULT_DB,
    DEFAULT_WORKDIR,
    AddressOption,
    AllowEmptyOption,
    DbOption,
    OntologyOption,
    RuntimeOption,
    command_name,
    console,
    errors,
    fail,
    friendly_errors,
    looks_like_a_fact,
    nothing,
    print_card,
    print_json,
    print_rejected,
    print_result,
    progress_bars,
)
from skugraph.corpus.listing_formats import FORMATS

if TYPE_CHECKING:
    from skugraph.apps.inventory import Inventory
    from skugraph.pipeline import BuildResult

app = typer.Typer()

MinConfidenceOption = Annotated[float, typer.Option(min=0.0, max=1.0, help="Leave out the facts whose confidence is under this (offer_of aside: its threshold is --threshold at fuse).")]


def print_left_out(left_out: dict[str, int], min_confidence: float) -> None:
    """How many facts a ``--min-confidence`` left out, and of which predicates."""
    if min_confidence:
        each = ", ".join(f"{predicate} {count}" for predicate, count in sorted(left_out.items(), key=lambda item: (-item[1], item[0])))
        console.print(f"left out {sum(left_out.values())} facts under confidence {min_confidence:g}" + (f" ({each})" if each else ""),
                      highlight=False)


@app.command()
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Listing files: .jsonl, .csv/.tsv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Clean listings (JSONL).")] = DEFAULT_WORKDIR / "listings.jsonl",
    rejects: Annotated[Path | None, typer.Option(help="Rejected records with file, line, field, reason (JSONL); default: "
                                                      "rejects.jsonl beside --out.")] = None,
    format: Annotated[str | None, typer.Option(help=f"One of {', '.join(FORMATS)}; default: by suffix.")] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad record.")] = False,
    keep_pii: Annotated[bool, typer.Option(help="Do not mask personal data (phones, e-mails, addresses, names …).")] = False,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Validate listing files; keep the good records, report the bad ones; mask personal data."""
    from skugraph.corpus.ingest import ingest as ingest_listings

    if rejects is None:
        rejects = out.with_name("rejects.jsonl")
        if rejects == out:
            rejects = out.with_name(out.stem + ".rejects.jsonl")
    with friendly_errors(strict), progress_bars() as start:
        report = ingest_listings(inputs, out, rejects, format=format, strict=strict, scrub_pii=not keep_pii,
                                 progress=start("ingest", None))
    for reject in report.rejects:
        errors.print(f"[yellow]rejected[/] {reject}", highlight=False)
    if report.rejected > len(report.rejects):
        errors.print(f"[yellow]… and {report.rejected - len(report.rejects)} more in {rejects}[/]", highlight=False)
    if not report.ingested and not allow_empty:
        sources = ", ".join(map(str, inputs))
        if report.rejects and all(looks_like_a_fact(reject) for reject in report.rejects):
            fail(f"no listings ingested: {sources} looks like facts, not listings (id, title …)")
        nothing(f"no listings ingested: all {report.rejected} records of {sources} rejected (each one in {rejects})"
                 if report.rejected else f"no listings ingested: {sources} holds no records")
    for review, first, again in report.clash_examples:
        errors.print(f"[yellow]review id {review!r}[/] of listing {again!r} was given to another review (of listing {first!r}, "
                     "other text): the graph keeps the first; give review ids unique across your catalogue", highlight=False)
    if report.review_id_clashes > len(report.clash_examples):
        errors.print(f"[yellow]… and {report.review_id_clashes - len(report.clash_examples)} more review ids given twice[/]")
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
    brands: Annotated[list[Path] | None, typer.Option(help="Extra brand names, one a line; or a .tsv of brands with their other names, such as the FACTS.brands.tsv an extraction writes (give it to an update of some listings).")] = None,
    product_types: Annotated[list[Path] | None, typer.Option(help="Extra product-type words, one a line (word<TAB>accessory marks an accessory type).")] = None,
    ontology: OntologyOption = None,
    opinion_model: Annotated[Path | None, typer.Option(help="Review opinions: a directory from `skugraph train opinions`.")] = None,
    sentiment_model: Annotated[Path | None, typer.Option(help="Review sentiment: a directory from `skugraph train sentiment`.")] = None,
    relation_model: Annotated[Path | None, typer.Option(help="What each mention is to the head product: a directory from `skugraph train relations`.")] = None,
    calibration: Annotated[Path | None, typer.Option(help="Fact calibration file (`skugraph evaluate --facts --calibrate`; default: the tagger directory's fact-calibration.json, if any).")] = None,
    runtime: RuntimeOption = "torch-bf16",
    workers: Annotated[int, typer.Option(min=1, help="Processes that read the listings (one thread each); this one reads ahead and writes.")] = 1,
    engine: Annotated[str, typer.Option(help="local, or ray: an actor pool of --workers on Ray (pip install skugraph\\[scale]).")] = "local",
    address: AddressOption = "local",
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Find mentions in listings and turn them into facts; with review models, opinions and sentiment too."""
    from skugraph import pipeline
    from skugraph.extract import ExtractorConfig
    from skugraph.facts.ontology import load_ontology

    config = ExtractorConfig(extractor, model, tuple(fields.split(",")), min_score, runtime, brands or [], product_types or [],
                             opinion_model, sentiment_model, relation_model, calibration)
    with friendly_errors(), progress_bars() as start:
        schema = load_ontology(ontology)
        report = pipeline.extract(listings, out, mentions, progress=start("extract", None), config=config, ontology=schema,
                                  workers=workers, engine=engine, address=address)
    for message in report.rejects[:20]:
        errors.print(f"[yellow]left out[/] {message}")
    if report.rejects:
        errors.print(f"[yellow]{len(report.rejects)} listing(s) not valid, left out; `skugraph ingest` reports them with line numbers[/]")
    if not report.facts and not allow_empty:
        nothing(f"no facts extracted: {listings} holds no listings" if not report.listings else
                 f"no facts extracted from the {report.listings} listings of {listings}: no brand, type or attribute found in them")
    console.print(f"extracted {report.facts} facts ({report.mentions} mentions) from {report.listings} listings → {out}")


@app.command()
def digest(db: DbOption = DEFAULT_DB) -> None:
    """A stable hash of every node and edge (equal graphs, equal digests), and any duplicate edges."""
    from skugraph.graph.store import open_store

    with friendly_errors(), open_store(db, read_only=True) as store:
        value, duplicates = store.digest(), {name: n for name, n in store.duplicates().items() if n}
    console.print(value)
    if duplicates:
        errors.print(f"[red]duplicate edges:[/] {duplicates}")
        raise typer.Exit(1)


def _default_facts() -> Path:
    """The fused facts of the work directory when `skugraph fuse` wrote them, else the extracted
    ones; said which, and that fused facts older than the extracted ones miss the newer reads."""
    fused, extracted = DEFAULT_WORKDIR / "facts.fused.jsonl", DEFAULT_WORKDIR / "facts.jsonl"
    if not fused.exists() and not extracted.exists():
        raise FileNotFoundError(f"neither {fused} nor {extracted} exists: run skugraph extract and skugraph fuse, "
                                "or name the facts to load")
    if not fused.exists():
        console.print(f"loading {extracted} (extracted, not fused: no duplicate products merged, no conflicts settled; run skugraph fuse first for that)")
        return extracted
    if extracted.exists() and extracted.stat().st_mtime > fused.stat().st_mtime:
        console.print(f"[yellow]note:[/] {extracted} is newer than {fused}: run skugraph fuse again to load the newer facts")
    console.print(f"loading {fused}")
    return fused


@app.command()
def load(
    facts: Annotated[Path | None, typer.Argument(help="Facts (JSONL or Parquet) from `skugraph fuse` or `skugraph extract` (default: .skugraph/facts.fused.jsonl when fuse wrote it, else .skugraph/facts.jsonl).", show_default=False)] = None,
    listings: Annotated[Path, typer.Option(help="Ingested listings (JSONL or Parquet), or a directory of shards.")] = DEFAULT_WORKDIR / "listings.jsonl",
    db: DbOption = DEFAULT_DB,
    ontology: OntologyOption = None,
    batch_size: Annotated[int, typer.Option(help="Facts, and listings, read and turned into rows at a time (a load commits in chunks of its own; a load cut short is completed by loading again).")] = 200_000,
    keep_previous: Annotated[bool, typer.Option("--keep-previous", help="Keep the facts of earlier extraction runs of these listings beside the new run's (by default a new run replaces them).")] = False,
    min_confidence: MinConfidenceOption = 0.0,
    allow_empty: AllowEmptyOption = False,
    buffer_pool_mb: Annotated[int | None, typer.Option(min=64, help="The graph's page cache in MB (default: LadybugDB's, 80% of this machine's memory); each table is copied in pieces a cache of this size takes.")] = None,
) -> None:
    """Upsert listings and facts into the graph (loading twice changes nothing; after a crash, load again).
    Facts of a new extraction of a listing (another extractor, version or reading) replace the
    previous extraction's, which stay in its history."""
    from skugraph import pipeline
    from skugraph.facts.io import check_facts_file
    from skugraph.facts.ontology import load_ontology

    rejected: list[str] = []
    with friendly_errors():
        facts = facts or _default_facts()
    with friendly_errors(), console.status("loading into the graph…"):
        schema = load_ontology(ontology)
        check_facts_file(facts, allow_empty, schema)  # before the graph is touched
        if not listings.exists():
            raise FileNotFoundError(f"{listings}: no such file (the ingested listings: --listings)")
        report, stats = pipeline.load(db, listings, facts, on_error=rejected.append, ontology=schema,
                                      batch_size=batch_size, keep_previous=keep_previous, min_confidence=min_confidence,
                                      buffer_pool_mb=buffer_pool_mb)
    print_rejected(rejected, "fact line(s)")
    print_left_out(report.left_out, min_confidence)
    if not sum(report.edges.values()) and not allow_empty:
        nothing(f"no facts loaded from {facts}" + (f": all {len(rejected)} rejected, only the listings were loaded" if rejected else ""))
    nodes = sum(stats["nodes"].values())
    edges = sum(stats["edges"].values())
    console.print(f"loaded {sum(report.nodes.values())} node rows and {sum(report.edges.values())} edge rows → {db} "
                  "(upserts: a node stated again, as a listing is with its supports, is one node written twice)")
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
    min_confidence: MinConfidenceOption = 0.0,
    ontology: OntologyOption = None,
    allow_empty: AllowEmptyOption = False,
    workers: Annotated[int, typer.Option(min=1, help="Processes that resolve products and fuse the facts (same output with any number).")] = 1,
) -> None:
    """All of fusion: listings of one product become one product; its facts are merged
    (provenance kept), brands unified, attribute values voted again across its listings; and
    the values products lack are proposed as facts marked inferred."""
    from skugraph import pipeline
    from skugraph.facts.io import check_facts_file
    from skugraph.facts.ontology import load_ontology

    rejected: list[str] = []
    with friendly_errors(), console.status("resolving products…"):
        schema = load_ontology(ontology)
        check_facts_file(facts, allow_empty, schema)
        report = pipeline.fuse(listings, facts, out, matcher, threshold, on_error=rejected.append, ontology=schema,
                               encoder=encoder, complete=complete, min_probability=min_probability, min_confidence=min_confidence,
                               workers=workers)
    print_rejected(rejected, "fact line(s)")
    if not (report.listings and report.facts_in) and not allow_empty:
        nothing(f"nothing to fuse: {listings} holds no listings" if not report.listings else
                 f"nothing to fuse: no valid fact in {facts}")
    sizes = ", ".join(f"{products} with {size}" for size, products in report.group_sizes.items())
    console.print(f"{report.listings} listings → {report.products} products ({report.candidate_pairs} candidate pairs scored, "
                  f"{report.cut_bridges} weak bridges cut; listings per product: {sizes})", highlight=False)
    print_left_out(report.left_out, min_confidence)
    console.print(f"{report.facts_in} facts → {report.facts_out} fused facts ({report.inferred} inferred) → {out}   "
                  f"next: skugraph load {out}")


@app.command()
def complete(
    facts: Annotated[Path, typer.Argument(help="Fused facts (JSONL or Parquet) from `skugraph fuse`.")] = DEFAULT_WORKDIR / "facts.fused.jsonl",
    out: Annotated[Path, typer.Option(help="Inferred facts to write (JSONL, or Parquet when it ends in .parquet), for `skugraph load`.")] = DEFAULT_WORKDIR / "facts.inferred.jsonl",
    relation: Annotated[list[str] | None, typer.Option("--relation", help="A relation to complete (default: colour, material, capacity, size, compatible_with).")] = None,
    scorer: Annotated[str, typer.Option(help="neighbours, popularity, gnn, neighbours+gnn, or a PyKEEN model (RotatE …); all but the first two need the kg extra.")] = "neighbours",
    min_probability: Annotated[float, typer.Option(help="Calibrated probability a proposal needs.")] = 0.7,
    ontology: OntologyOption = None,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """KG completion: propose the values products lack, as facts marked inferred with a calibrated probability."""
    from skugraph import pipeline
    from skugraph.facts.io import check_facts_file
    from skugraph.facts.ontology import load_ontology

    rejected: list[str] = []
    with friendly_errors(), console.status("completing the graph…"):
        schema = load_ontology(ontology)
        check_facts_file(facts, allow_empty, schema)
        proposals = pipeline.complete(facts, out, relation, scorer, min_probability, rejected.append, schema)
    print_rejected(rejected, "fact line(s)")
    if not proposals.facts and not allow_empty:
        nothing(f"no value proposed: none reached probability {min_probability} (calibrated on "
                 f"{proposals.calibration['hidden']} hidden edges of {facts})")
    calibration = proposals.calibration
    console.print(f"calibrated on {calibration['hidden']} hidden edges (top value right {calibration['top_right']}); "
                  f"{len(proposals.facts)} inferred facts → {out}   next: skugraph load {out}", highlight=False)


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
            print_json({"text": masked, "redactions": [{"start": s.start, "end": s.end, "type": s.type} for s in spans]})
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
    from skugraph import pipeline
    from skugraph.sample.demo import train_demo_models

    config = pipeline.BuildConfig(workdir=workdir, fresh=True, extractor=extractor)
    if inputs:
        config.inputs = inputs
    models = None
    with friendly_errors(), progress_bars() as start:
        if extractor == "tagger":
            models = train_demo_models(workdir, pretrain_minutes, retrain, progress=start)
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


def _print_summary(result: BuildResult) -> None:
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
        print_result(answer, title=question)
    for card in result.cards:
        print_card(card)
    run = command_name()
    if result.inventory is not None:
        _print_inventory(result.inventory, f"{run} inventory --db {result.config.graph}")
    console.print(f"graph: {result.config.graph}   try: {run} stats --db {result.config.graph}")
    console.print(f"web UI and REST API: {run} serve --db {result.config.graph}   then open http://127.0.0.1:8000/ "
                  f"(API docs at /docs); market report: {run} report --db {result.config.graph} --out report.html",
                  highlight=False)
    tagger = f" --tagger {result.config.tagger}" if result.config.tagger else ""
    console.print(f"live updates:     KEY=$({run} keys create --db {result.config.graph} --name shop --role write)\n"
                  f"                  {run} serve --db {result.config.graph} --writable{tagger}\n"
                  """                  curl -X POST http://127.0.0.1:8000/listings -H "Authorization: Bearer $KEY" """
                  """-H 'content-type: application/json' -d '[{"id": "shop-1", "title": "小米 14 手机 黑色 12+256G"}]'""",
                  highlight=False, markup=False, soft_wrap=True)


def _print_inventory(found: Inventory, command: str) -> None:
    """The demo's inventory summary: totals, the fastest-selling stock-outs with a substitute, a reallocation."""
    console.rule("[bold]inventory")
    console.print(found.summary(), highlight=False)
    for stock_out in found.stock_outs:
        product, best = stock_out.product, stock_out.substitutes[:1]
        instead = f" → {best[0].id} {best[0].title} ({best[0].reason})" if best else " → no substitute in stock"
        console.print(f"out of stock: {product.id} {product.title}, {product.daily_sales or 0:.1f} sold a day{instead}", highlight=False)
    for hint in found.reallocations[:1]:
        console.print(f"move {hint.move} of {hint.product} {hint.title} from {hint.source} to {hint.target}: {hint.reason}",
                      highlight=False)
    console.print(f"[dim]all of it: {command}[/]", highlight=False)
