"""``build(config)``: listings in, product knowledge graph out — ingest, extract, fuse, load.

Each stage is a library function writing a file the next one reads, so a stage
can be rerun alone (the CLI exposes each one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from skugraph.corpus.ingest import IngestReport, ingest, listing_files, load_listing_tables, load_listings
from skugraph.corpus.listings import read_listings
from skugraph.extract import ExtractorConfig, ExtractReport, Progress, brands_file, build_reader, extract_locally
from skugraph.facts.io import check_min_confidence, confident_tables, read_fact_tables, read_facts, write_facts
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.completion import Proposals
from skugraph.graph.cards import product_card
from skugraph.graph.store import LoadReport, QueryResult, open_store
from skugraph.records import Fact
from skugraph.sample.demo import EXAMPLE_QUERIES, SHOWCASE
from skugraph.sample.generate import CATALOGUE
from skugraph.tables import is_parquet
from skugraph.tagging.rules import write_brands

if TYPE_CHECKING:
    from skugraph.apps.inventory import Inventory


@dataclass
class BuildConfig:
    """Where to read and write; every path has an embedded default under ``workdir``."""

    inputs: list[Path] = field(default_factory=lambda: [CATALOGUE])
    workdir: Path = Path(".skugraph")
    db: Path | None = None
    strict: bool = False
    fresh: bool = False  # start from an empty graph instead of upserting into the one there
    brand_files: list[Path] = field(default_factory=list)  # extra brand names, one a line
    product_type_files: list[Path] = field(default_factory=list)  # extra product words, one a line
    extractor: str = "rules"  # rules | tagger
    tagger: Path | None = None  # a tagger directory (extractor "tagger")
    tagger_fields: tuple[str, ...] = ("title",)  # the fields the tagger reads (what it was trained on)
    ontology: Path | None = None  # an edited ontology file (default: the packaged one)
    scrub_pii: bool = True  # mask personal data at ingest, before anything is stored
    opinion_model: Path | None = None  # review opinions (`skugraph train opinions`)
    sentiment_model: Path | None = None  # review sentiment (`skugraph train sentiment`)
    relation_model: Path | None = None  # what each mention is to the head product (`skugraph train relations`)
    complete: bool = True  # propose missing attribute and compatible-with values (KG completion), marked inferred
    min_probability: float = 0.7  # calibrated probability a proposed value needs (as `skugraph fuse --min-probability`)
    matcher: Path | None = None  # a pair matcher (`skugraph train matcher`); default: attribute agreement + title similarity
    match_threshold: float | None = None  # match score that joins two listings (default: the matcher's own)
    min_confidence: float = 0.0  # fused facts under this confidence are left out of the graph (offer_of aside)

    @property
    def listings(self) -> Path:
        return self.workdir / "listings.jsonl"

    @property
    def rejects(self) -> Path:
        return self.workdir / "rejects.jsonl"

    @property
    def mentions(self) -> Path:
        return self.workdir / "mentions.jsonl"

    @property
    def facts(self) -> Path:
        return self.workdir / "facts.jsonl"

    @property
    def fused(self) -> Path:
        return self.workdir / "facts.fused.jsonl"

    @property
    def graph(self) -> Path:
        return self.db or self.workdir / "graph.lbug"

    def extraction(self) -> ExtractorConfig:
        """The extraction these options name; upserting into the graph there (not ``fresh``), it
        also knows the brands the previous build's extraction knew (:func:`skugraph.extract.brands_file`)."""
        known = brands_file(self.facts)
        brand_files = self.brand_files + ([known] if known.is_file() and not self.fresh else [])
        return ExtractorConfig(self.extractor, self.tagger, self.tagger_fields, brand_files=brand_files,
                               product_type_files=self.product_type_files, opinion_model=self.opinion_model,
                               sentiment_model=self.sentiment_model, relation_model=self.relation_model)


@dataclass
class FuseReport:
    listings: int
    products: int
    candidate_pairs: int
    cut_bridges: int
    facts_in: int
    facts_out: int
    group_sizes: dict[int, int]  # listings per product → products
    inferred: int = 0  # facts proposed by KG completion (included in facts_out)
    left_out: dict[str, int] = field(default_factory=dict)  # fused facts under min_confidence, per predicate (not written)


@dataclass
class BuildResult:
    config: BuildConfig
    ingest: IngestReport
    extract: ExtractReport
    fuse: FuseReport
    load: LoadReport
    stats: dict[str, dict[str, int]]
    examples: list[tuple[str, QueryResult]]
    cards: list[dict] = field(default_factory=list)  # a few products as the graph knows them
    inventory: Inventory | None = None  # stock and demand per product, where listings give them


def extract(
    listings: Path,
    facts_out: Path,
    mentions_out: Path | None = None,
    progress: Progress | None = None,
    config: ExtractorConfig | None = None,
    batch_size: int = 256,
    ontology: Ontology | None = None,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
) -> ExtractReport:
    """Find mentions in ingested listings with the extractor ``config`` names (default: the
    rules; :func:`skugraph.extract.build_reader`) and write facts (and mentions) as JSONL, or as
    Parquet (:mod:`skugraph.tables`) where ``facts_out`` ends in ``.parquet``, streaming: memory
    holds a few batches at a time. ``listings``: an ingested file, or a directory of shards
    (JSONL or Parquet, read in name order).

    A first pass over the titles teaches the rule extractor the brands the catalogue writes
    in two scripts (``诺芝（NOZI）``), so brands resolve to one entity however written. Every
    brand it knew beyond the shipped ones is written to :func:`skugraph.extract.brands_file`
    of ``facts_out``: an update that extracts some listings only gives it in
    ``config.brand_files`` (``--brands``) to read them as the full run did.

    ``workers`` > 1: that many processes (one thread each) read the batches while this one
    reads the file ahead and writes the results, in order. The rules gain from it (about 2×
    with 2 workers on 2 cores, after a start of a few seconds); so does a CRF tagger (``distill
    --student crf``); a network tagger runs faster in one process on all the cores (see the
    README's Speed section).

    ``engine="ray"``: the batches are read by an actor pool of ``workers`` on Ray (``address``:
    ``local`` starts one here, ``auto`` joins a cluster; :mod:`skugraph.scale.ray_jobs`); the
    files written are the same."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be local or ray, not {engine!r}")
    listings, facts_out, mentions_out = Path(listings), Path(facts_out), mentions_out and Path(mentions_out)
    columnar = is_parquet(facts_out)
    if mentions_out is not None and is_parquet(mentions_out) != columnar:
        raise ValueError(f"facts and mentions must both be JSONL or both Parquet: {facts_out}, {mentions_out}")
    # bad records are skipped here: the local engine stops at the first, the Ray engine reports each
    titles = (listing.title for listing in read_listings(listing_files(listings)))
    reader = build_reader(config or ExtractorConfig(), ontology, titles, columnar)
    if engine == "ray":
        try:
            from skugraph.scale.ray_jobs import extract_on_ray
        except ModuleNotFoundError as error:
            raise ValueError(f"--engine ray needs Ray ({error}): pip install 'skugraph[scale]'") from None

        report = extract_on_ray(reader, listings, facts_out, mentions_out, workers, address, batch_size, progress)
    else:
        report = extract_locally(reader, listings, facts_out, mentions_out, workers, batch_size, progress)
    write_brands(reader.builder.gazetteer, brands_file(facts_out))
    return report


def fuse(listings: Path, facts: Path, out: Path, matcher: Path | None = None, threshold: float | None = None,
         on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None, encoder: str | None = None,
         complete: bool = True, min_probability: float = 0.7, min_confidence: float = 0.0, workers: int = 1) -> FuseReport:
    """All of fusion on a fact set: resolve which listings offer one product, move the facts onto
    those products (brands unified, duplicates merged, values voted again; see
    :mod:`skugraph.fusion.resolve`), and with ``complete`` add the values products lack as
    facts marked ``inferred`` (:func:`skugraph.fusion.completion.propose`). ``matcher``: a
    trained matcher directory; ``encoder``: an encoder whose nearest neighbours add candidate
    pairs to token blocking. Fused facts under ``min_confidence`` are left out of what is written
    (all of them still take part in resolution and completion; see
    :func:`skugraph.facts.io.confident_facts`). ``workers`` > 1: that many processes resolve
    products and fuse the facts (:func:`~skugraph.fusion.stream.fuse_stream`), with the same output."""
    from skugraph.fusion.blocking import encoder_embeddings
    from skugraph.fusion.stream import FIRST_PASS_ROWS, fuse_stream

    check_min_confidence(min_confidence)
    listings, facts, out = Path(listings), Path(facts), Path(out)
    trained = None
    if matcher:  # a trained matcher needs torch: imported only then
        from skugraph.fusion.matching import CrossEncoderMatcher

        trained = CrossEncoderMatcher.load(matcher)
    ontology = ontology or load_ontology()
    def extracted() -> Iterator[Fact]:  # the second pass: a bad line was told on the first
        return read_facts(facts, (lambda _: None) if on_error else None, ontology)

    left_out: Counter[str] = Counter()
    report = fuse_stream(load_listings(listings), extracted, out, trained, threshold=threshold,
                         embed=encoder_embeddings(encoder) if encoder else None, complete=complete,
                         min_probability=min_probability, min_confidence=min_confidence, left_out=left_out, ontology=ontology,
                         workers=workers, read_tables=lambda: read_fact_tables(facts, on_error, ontology, FIRST_PASS_ROWS))
    return FuseReport(report.listings, report.products, report.candidate_pairs, report.cut_bridges, report.facts_in,
                      report.facts_out, report.group_sizes, report.inferred, dict(left_out))


def complete(facts: Path, out: Path, relations: Sequence[str] | None = None, scorer: str = "neighbours",
             min_probability: float = 0.7, on_error: Callable[[str], None] | None = None,
             ontology: Ontology | None = None) -> Proposals:
    """Propose the values products lack (KG completion, :func:`skugraph.fusion.completion.propose`)
    and write them as facts marked ``inferred``."""
    from skugraph.fusion.completion import COMPLETED, check_scorer, propose

    check_scorer(scorer)  # before the facts are read
    ontology = ontology or load_ontology()
    facts, out = Path(facts), Path(out)
    proposals = propose(list(read_facts(facts, on_error, ontology)), relations or COMPLETED, scorer, min_probability,
                        ontology=ontology)
    write_facts(out, proposals.facts)
    return proposals


def load(
    db: Path, listings: Path, facts: Path, on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None,
    batch_size: int = 200_000, keep_previous: bool = False, min_confidence: float = 0.0, buffer_pool_mb: int | None = None,
) -> tuple[LoadReport, dict[str, dict[str, int]]]:
    """Upsert listings and facts into the graph at ``db``; returns the load report and graph counts.
    Bad fact lines go to ``on_error`` and are skipped (without it, the first one stops the load);
    facts under ``min_confidence`` are left out (:func:`skugraph.facts.io.confident_facts`),
    counted per predicate in the report's ``left_out``.
    Facts of a new extraction run of a listing replace the earlier run's, unless ``keep_previous``.
    LadybugDB commits a chunk of rows at a time (:data:`skugraph.graph.ladybug_store.CHUNK_ROWS`; an update
    of stored listings at once); a load that was killed is completed by loading again.
    ``buffer_pool_mb`` caps LadybugDB's page cache (default: 80% of the machine's memory); a
    table's rows are then copied in pieces a pool of that size takes, a commit each."""
    left_out: Counter[str] = Counter()
    check_min_confidence(min_confidence)
    listings, facts = Path(listings), Path(facts)
    with open_store(db, ontology=ontology, buffer_pool_mb=buffer_pool_mb) as store:
        confident = confident_tables(read_fact_tables(facts, on_error, store.ontology, batch_size), min_confidence, left_out)
        report = store.load_tables(load_listing_tables(listings, batch_size), confident, keep_previous=keep_previous)
        report.left_out = dict(left_out)
        return report, store.stats()


def remove_graph(db: Path) -> None:
    """Delete a graph database file and its write-ahead log."""
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)


def build(config: BuildConfig, progress: Callable[[str, int | None], Progress] | None = None) -> BuildResult:
    """Ingest → extract → fuse (resolve products, complete) → load → example queries, and the
    inventory where the listings give stock or sales. ``progress(stage, total)`` may return a
    callback that is told of each record done."""
    from skugraph.apps.inventory import has_stock, inventory
    from skugraph.apps.recommend import Recommender

    check_min_confidence(config.min_confidence)
    config.workdir.mkdir(parents=True, exist_ok=True)
    ontology = load_ontology(config.ontology)
    ingest_report = ingest(
        config.inputs, config.listings, config.rejects, strict=config.strict, scrub_pii=config.scrub_pii,
        progress=progress("ingest", None) if progress else None,
    )
    if not ingest_report.ingested:
        raise ValueError(f"no listings ingested from {', '.join(map(str, config.inputs))} "
                         f"({ingest_report.rejected} rejected: {config.rejects}); nothing to build a graph of")
    extract_report = extract(
        config.listings, config.facts, config.mentions,
        progress=progress("extract", ingest_report.ingested) if progress else None,
        config=config.extraction(),
        ontology=ontology,
    )
    fuse_report = fuse(config.listings, config.facts, config.fused, config.matcher, config.match_threshold, ontology=ontology,
                       complete=config.complete, min_probability=config.min_probability, min_confidence=config.min_confidence)
    if config.fresh:
        remove_graph(config.graph)
    load_report, stats = load(config.graph, config.listings, config.fused, ontology=ontology)
    with open_store(config.graph, read_only=True) as store:
        examples = [(question, store.query(cypher, params)) for question, cypher, params in EXAMPLE_QUERIES]
        showcase = dict.fromkeys(row[0] for cypher in SHOWCASE for row in store.query(cypher).rows)
        cards = [product_card(store, product) for product in showcase]
        stocked = inventory(store, Recommender.from_store(store), limit=3) if has_stock(store) else None
    return BuildResult(config, ingest_report, extract_report, fuse_report, load_report, stats, examples, cards, stocked)
