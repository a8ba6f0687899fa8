"""``build(config)``: listings in, product knowledge graph out — ingest, extract, fuse, load.

Each stage is a library function writing a file the next one reads, so a stage
can be rerun alone (the CLI exposes each one).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from skugraph import __version__
from skugraph.corpus.ingest import IngestReport, ingest, listing_files, load_listings
from skugraph.corpus.listings import UnreadableFileError, check_text, read_listings
from skugraph.facts.build import FactBuilder, merge_facts
from skugraph.facts.classify import LinearTextClassifier
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.facts.opinions import OpinionExtractor, review_facts
from skugraph.facts.relations import RelationClassifier
from skugraph.fusion.completion import Proposals
from skugraph.fusion.conflicts import resolve
from skugraph.graph.cards import product_card
from skugraph.graph.store import LoadReport, QueryResult, batched, open_store
from skugraph.records import Entity, Fact, Listing, Mention, to_json_line, with_run
from skugraph.sample.generate import CATALOGUE, LABELS
from skugraph.tables import (
    FACTS,
    MENTIONS,
    PartWriter,
    fact_from_row,
    facts_table,
    is_parquet,
    mentions_table,
    part_files,
    read_rows,
)
from skugraph.tagging.rules import RuleExtractor
from skugraph.tagging.tagger import TaggerExtractor

Progress = Callable[[int], None]


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
    matcher: Path | None = None  # a pair matcher (`skugraph train matcher`); default: attribute agreement + title similarity
    match_threshold: float | None = None  # match score that joins two listings (default: the matcher's own)

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


@dataclass
class ReviewModels:
    """What reads reviews: opinion tuples and review-level sentiment (either may be absent)."""

    opinions: OpinionExtractor | None = None
    sentiment: LinearTextClassifier | None = None

    @classmethod
    def load(cls, opinions: Path | None, sentiment: Path | None) -> ReviewModels | None:
        if opinions is None and sentiment is None:
            return None
        return cls(OpinionExtractor.load(opinions) if opinions else None, LinearTextClassifier.load(sentiment) if sentiment else None)

    def facts(self, listings: list[Listing]) -> list[list[Fact]]:
        """Review facts of each listing."""
        where = [(n, i) for n, listing in enumerate(listings) for i in range(len(listing.reviews))]
        texts = [listings[n].reviews[i].text for n, i in where]
        opinions = self.opinions.extract(texts) if self.opinions and texts else [[] for _ in texts]
        sentiments = self.sentiment.predict(texts) if self.sentiment and texts else [None for _ in texts]
        out: list[list[Fact]] = [[] for _ in listings]
        for (n, i), found, sentiment in zip(where, opinions, sentiments, strict=True):
            out[n] += review_facts(listings[n], i, found, sentiment, f"reviews@{__version__}")
        return out


@dataclass
class ExtractReport:
    listings: int = 0
    mentions: int = 0
    facts: int = 0
    by_predicate: Counter[str] = field(default_factory=Counter)
    rejects: list[str] = field(default_factory=list)  # listings left out, with file and reason (Ray engine)

    def add(self, read: _ReadBatch) -> None:
        self.listings += read.listings
        self.mentions += read.mention_count
        self.facts += sum(read.by_predicate.values())
        self.by_predicate.update(read.by_predicate)


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


def extract(
    listings: Path,
    facts_out: Path,
    mentions_out: Path | None = None,
    progress: Progress | None = None,
    extractor: RuleExtractor | None = None,
    tagger: TaggerExtractor | None = None,
    batch_size: int = 256,
    ontology: Ontology | None = None,
    reviews: ReviewModels | None = None,
    relations: RelationClassifier | None = None,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
) -> ExtractReport:
    """Find mentions in ingested listings (with the rules, or with a trained ``tagger``) and
    write facts (and mentions) as JSONL, or as Parquet (:mod:`skugraph.tables`) where ``facts_out``
    ends in ``.parquet``, streaming: memory holds a few batches at a time. ``listings``: an
    ingested file, or a directory of shards (JSONL or Parquet, read in name order).

    A first pass over the titles teaches the rule extractor the brands the catalogue writes
    in two scripts (``诺芝（NOZI）``), so brands resolve to one entity however written.

    ``workers`` > 1: that many processes (one thread each) read the batches while this one
    reads the file ahead and writes the results, in order. The rules gain from it (about 2×
    with 2 workers on 2 cores, after a start of a few seconds); a tagger's model runs faster
    in one process on all the cores (see the README's Speed section).

    ``engine="ray"``: the batches are read by an actor pool of ``workers`` on Ray (``address``:
    ``local`` starts one here, ``auto`` joins a cluster; :mod:`skugraph.scale.ray_jobs`); the
    files written are the same."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be local or ray, not {engine!r}")
    columnar = is_parquet(facts_out)
    if mentions_out is not None and is_parquet(mentions_out) != columnar:
        raise ValueError(f"facts and mentions must both be JSONL or both Parquet: {facts_out}, {mentions_out}")
    # bad records are skipped here: the local engine stops at the first, the Ray engine reports each
    extractor = (extractor or RuleExtractor()).learn_brands(listing.title for listing in read_listings(listing_files(listings)))
    reader = _BatchReader(extractor, FactBuilder(extractor.gazetteer, extractor.lexicons["accessory"], ontology, relations),
                          tagger, reviews, columnar)
    if engine == "ray":
        try:
            from skugraph.scale.ray_jobs import extract_on_ray
        except ModuleNotFoundError as error:
            raise ValueError(f"--engine ray needs Ray ({error}): pip install 'skugraph[scale]'") from None

        return extract_on_ray(reader, listings, facts_out, mentions_out, workers, address, batch_size, progress)
    batches = batched(load_listings(listings), batch_size)
    reads = _in_processes(reader, batches, workers) if workers > 1 else map(reader, batches)
    return write_reads(reads, facts_out, mentions_out, progress)


def write_reads(reads: Iterable[_ReadBatch], facts_out: Path, mentions_out: Path | None = None,
                progress: Progress | None = None) -> ExtractReport:
    """Write batches' results in order, as JSONL files or as Parquet directories (one part)."""
    report = ExtractReport()
    facts_out.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if is_parquet(facts_out):
            facts = stack.enter_context(closing(PartWriter(facts_out, FACTS))).write
            mentions = stack.enter_context(closing(PartWriter(mentions_out, MENTIONS))).write if mentions_out else None
        else:
            facts = stack.enter_context(facts_out.open("w", encoding="utf-8")).write
            mentions = stack.enter_context(mentions_out.open("w", encoding="utf-8")).write if mentions_out else None
        for read in reads:
            if mentions:
                mentions(read.mentions)
            facts(read.facts)
            report.add(read)
            if progress:
                progress(read.listings)
    return report


@dataclass
class _ReadBatch:
    listings: int
    mention_count: int
    mentions: str | pa.Table  # JSON lines, or a table (columnar output)
    facts: str | pa.Table
    by_predicate: Counter[str]


@dataclass
class _BatchReader:
    """One batch of listings → its mentions and facts as JSON lines, or as Arrow tables with
    ``columnar`` (picklable results, so worker processes can run it)."""

    extractor: RuleExtractor
    builder: FactBuilder
    tagger: TaggerExtractor | None
    reviews: ReviewModels | None
    columnar: bool = False

    def __call__(self, batch: list[Listing]) -> _ReadBatch:
        found = self.tagger.extract_many(batch) if self.tagger else [self.extractor.extract(listing) for listing in batch]
        review_facts_of = self.reviews.facts(batch) if self.reviews else [[] for _ in batch]
        reader = self.tagger or self.extractor
        mentions: list[Mention] = []
        facts: list[Fact] = []
        for listing, listing_mentions, extra in zip(batch, found, review_facts_of, strict=True):
            mentions += listing_mentions
            read = resolve(self.builder.build(listing, listing_mentions), self.builder.ontology) + merge_facts(extra)
            facts += with_run(read, f"{reader.name}@{reader.version}")
        by_predicate = Counter(fact.predicate for fact in facts)
        if self.columnar:
            return _ReadBatch(len(batch), len(mentions), mentions_table(mentions), facts_table(facts), by_predicate)
        return _ReadBatch(len(batch), len(mentions), "".join(to_json_line(m) + "\n" for m in mentions),
                          "".join(to_json_line(f) + "\n" for f in facts), by_predicate)


_worker_reader: _BatchReader | None = None  # a worker process's reader


def _start_worker(reader: _BatchReader) -> None:
    import torch

    global _worker_reader
    torch.set_num_threads(1)
    _worker_reader = reader


def _read_in_worker(batch: list[Listing]) -> _ReadBatch:
    return _worker_reader(batch)


def _in_processes(reader: _BatchReader, batches: Iterable[list[Listing]], workers: int) -> Iterator[_ReadBatch]:
    """``reader`` over ``batches`` in ``workers`` new processes (spawned: torch's and ONNX
    Runtime's threads do not survive a fork; a tagger travels as its directory and reloads
    there with one thread), results in order, at most two batches per worker in flight."""
    import multiprocessing
    from collections import deque

    with multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker, initargs=(reader,)) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.apply_async(_read_in_worker, (batch,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def fuse(listings: Path, facts: Path, out: Path, matcher: Path | None = None, threshold: float | None = None,
         on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None, encoder: str | None = None,
         complete: bool = True, min_probability: float = 0.7) -> FuseReport:
    """All of fusion on a fact set: resolve which listings offer one product, move the facts onto
    those products (brands unified, duplicates merged, values voted again; see
    :mod:`skugraph.fusion.resolve`), and with ``complete`` add the values products lack as
    facts marked ``inferred`` (:func:`skugraph.fusion.completion.propose`). ``matcher``: a
    trained matcher directory; ``encoder``: an encoder whose nearest neighbours add candidate
    pairs to token blocking."""
    from skugraph.fusion.completion import COMPLETED, propose
    from skugraph.fusion.matching import CrossEncoderMatcher
    from skugraph.fusion.blocking import encoder_embeddings
    from skugraph.fusion.fuse import fuse_facts
    from skugraph.fusion.resolve import group_sizes, resolve_products

    ontology = ontology or load_ontology()
    items = list(load_listings(listings))
    extracted = list(read_facts(facts, on_error, ontology))
    resolution = resolve_products(items, extracted, CrossEncoderMatcher.load(matcher) if matcher else None,
                                  threshold=threshold, ontology=ontology, embed=encoder_embeddings(encoder) if encoder else None)
    fused = fuse_facts(items, extracted, resolution, ontology)
    inferred = []
    if complete:
        inferred = propose(fused, COMPLETED, min_probability=min_probability, ontology=ontology).facts
    write_facts(out, fused + inferred)
    return FuseReport(len(items), resolution.products, len(resolution.pairs), len(resolution.cut), len(extracted),
                      len(fused) + len(inferred), dict(sorted(group_sizes(resolution).items())), len(inferred))


def complete(facts: Path, out: Path, relations: Sequence[str] | None = None, scorer: str = "neighbours",
             min_probability: float = 0.7, on_error: Callable[[str], None] | None = None,
             ontology: Ontology | None = None) -> Proposals:
    """Propose the values products lack (KG completion, :func:`skugraph.fusion.completion.propose`)
    and write them as facts marked ``inferred``."""
    from skugraph.fusion.completion import COMPLETED, propose

    ontology = ontology or load_ontology()
    proposals = propose(list(read_facts(facts, on_error, ontology)), relations or COMPLETED, scorer, min_probability,
                        ontology=ontology)
    write_facts(out, proposals.facts)
    return proposals


def write_facts(path: Path, facts: Iterable[Fact]) -> None:
    """Facts as JSONL, one a line, or as a Parquet directory where ``path`` ends in ``.parquet``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_parquet(path):
        with closing(PartWriter(path, FACTS)) as writer:
            for chunk in batched(facts, 50_000):
                writer.write(facts_table(chunk))
        return
    with path.open("w", encoding="utf-8") as handle:
        for fact in facts:
            handle.write(to_json_line(fact) + "\n")


def read_facts(path: Path, on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None) -> Iterator[Fact]:
    """Facts from a JSONL file or a Parquet file or directory written by :func:`extract`. A bad
    record (broken JSON, a missing field, unknown predicate, wrong labels) is reported to
    ``on_error`` as ``file:line N: not a valid fact: reason`` (``row N`` in Parquet) and skipped;
    without ``on_error`` it raises ``ValueError``. A file of other records (listings, mentions)
    raises :class:`NotFactsError` here, before any record is read; an empty one gives no facts."""
    check_facts_file(path, allow_empty=True)
    return _read_facts(path, on_error, ontology or load_ontology())


class NotFactsError(ValueError):
    """A file given as facts that holds none: empty, or another kind of record."""


#: records read to tell what a file given as facts holds
SNIFF_RECORDS = 20


def check_facts_file(path: Path, allow_empty: bool = False, ontology: Ontology | None = None) -> None:
    """Raise :class:`NotFactsError` for a file that holds no facts: listings or mentions (saying
    which command makes facts), none of its first records a fact (one that fits ``ontology``,
    where given), or (unless ``allow_empty``) empty."""
    if is_parquet(path):
        _check_facts_table(path, allow_empty)
        return
    records: list[tuple[int, Any]] = []
    for number, line in _lines(path):
        try:
            records.append((number, json.loads(line) if line is not None else None))
        except (json.JSONDecodeError, RecursionError, ValueError):
            records.append((number, None))
        if len(records) == SNIFF_RECORDS:
            break
    if not records:
        if allow_empty:
            return
        raise NotFactsError(f"{path}: no facts (the file is empty)")
    problems = [(number, _fact_problem(data, ontology)) for number, data in records]
    if any(problem is None for _, problem in problems):
        return
    objects = [data for _, data in records if isinstance(data, dict)]
    _refuse_other_records(path, [set(data) for data in objects] if len(objects) == len(records) else [])
    number, problem = problems[0]
    raise NotFactsError(f"{path}: none of its first {len(records)} records is a valid fact (line {number}: {problem})")


def _refuse_other_records(path: Path, fields: list[set[str]]) -> None:
    """Name the kind of record a file holds instead of facts, if every one is listings or mentions."""
    if fields and all({"id", "title"} <= names for names in fields):
        raise NotFactsError(f"{path} looks like listings, not facts: run skugraph extract first")
    if fields and all({"listing_id", "label", "start"} <= names for names in fields):
        raise NotFactsError(f"{path} looks like mentions, not facts: give the file `skugraph extract` wrote with --out")


def _check_facts_table(path: Path, allow_empty: bool) -> None:
    import pyarrow.parquet as pq

    files = part_files(path)
    if not files or sum(pq.ParquetFile(file).metadata.num_rows for file in files) == 0:
        if allow_empty:
            return
        raise NotFactsError(f"{path}: no facts (no rows)")
    columns = set(pq.read_schema(files[0]).names)
    missing = sorted(set(FACTS.names) - columns)
    if missing:
        _refuse_other_records(path, [columns])
        raise NotFactsError(f"{path}: not a facts table (no column {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}); "
                            "`skugraph extract` writes facts")


def _fact_problem(data: Any, ontology: Ontology | None = None) -> str | None:
    """What keeps a JSON record from being a fact (one that fits ``ontology``, where given), in
    the user's words; None: it reads as one."""
    if data is None:
        return "broken JSON or not UTF-8"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    for side in ("subject", "object"):
        entity = data.get(side)
        if entity is None:
            return f"no {side!r} field"
        if not isinstance(entity, dict):
            return f"{side!r} is not an object"
        absent = [name for name in ("label", "key", "name") if not isinstance(entity.get(name), str)]
        if absent:
            return f"{side!r} has no text {absent[0]!r}"
        unknown = sorted(set(entity) - set(Entity.__dataclass_fields__))
        if unknown:
            return f"{side!r} has an unknown field {unknown[0]!r}"
    if not isinstance(data.get("predicate"), str):
        return "no text 'predicate' field"
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        return "no number 'confidence' field"
    if ontology is not None:
        try:
            ontology.check(Fact.from_dict(data))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return _reason(error)
    return None


def _parse_fact_line(line: str | None) -> Fact:
    if line is None:
        raise ValueError("not valid UTF-8")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"broken JSON: {error.msg} at column {error.colno}") from None
    problem = _fact_problem(data)
    if problem:
        raise ValueError(problem)
    return Fact.from_dict(data)


def _read_facts(path: Path, on_error: Callable[[str], None] | None, ontology: Ontology) -> Iterator[Fact]:
    if is_parquet(path):
        records = ((file, f"row {number}", row, fact_from_row) for file, number, row in read_rows(path))
    else:
        records = ((path, f"line {number}", line, _parse_fact_line) for number, line in _lines(path))
    for file, where, record, parse in records:
        try:
            fact = parse(record)
            ontology.check(fact)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as error:
            message = f"{file}:{where}: not a valid fact: {_reason(error)}"
            if on_error is None:
                raise ValueError(message) from None
            on_error(message)
            continue
        yield fact


def _reason(error: Exception) -> str:
    """An exception as a reason a user can act on, without Python's wording."""
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} field"
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(error))
    if unexpected:
        return f"unknown field {unexpected.group(1)!r}"
    if isinstance(error, ValueError) and not isinstance(error, json.JSONDecodeError):
        return str(error)
    return "a field holds a value of the wrong type"


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(number, line) of a text file's non-blank lines; the line is None where it is not UTF-8.
    A file that is plainly not text raises :class:`NotFactsError`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as handle:
        try:
            check_text(path, handle.peek(8192)[:8192], "facts")
        except UnreadableFileError as error:
            raise NotFactsError(str(error)) from None
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None
                continue
            if line.strip():
                yield number, line


def load(
    db: Path, listings: Path, facts: Path, on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None,
    batch_size: int = 200_000, keep_previous: bool = False,
) -> tuple[LoadReport, dict[str, dict[str, int]]]:
    """Upsert listings and facts into the graph at ``db``; returns the load report and graph counts.
    Bad fact lines go to ``on_error`` and are skipped (without it, the first one stops the load).
    Facts of a new extraction run of a listing replace the earlier run's, unless ``keep_previous``.
    Each batch is one transaction; a load that was killed is completed by loading again."""
    with open_store(db, ontology=ontology) as store:
        report = store.load(load_listings(listings), read_facts(facts, on_error, store.ontology), batch_size=batch_size,
                            keep_previous=keep_previous)
        return report, store.stats()


def remove_graph(db: Path) -> None:
    """Delete a graph database file and its write-ahead log."""
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)


#: Example questions the demo asks of the graph: (question, Cypher, parameters).
EXAMPLE_QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Which brands sell water heaters (热水器)?",
        "MATCH (p:Product)-[:HAS_VALUE]->(v:Value {kind: 'product_type'}), (p)-[:HAS_BRAND]->(b:Brand) "
        "WHERE v.value CONTAINS $word "
        "RETURN b.name AS brand, count(DISTINCT p) AS products ORDER BY products DESC, brand LIMIT 5",
        {"word": "热水器"},
    ),
    (
        "Which accessories fit Huawei (华为) phones?",
        "MATCH (p:Product)-[r:COMPATIBLE_WITH]->(b:Brand {id: $brand}) "
        "RETURN p.title AS product, round(r.confidence, 2) AS confidence ORDER BY confidence DESC, product LIMIT 5",
        {"brand": "huawei"},
    ),
    (
        "What colours do phones (手机) come in?",
        "MATCH (p:Product)-[:IN_CATEGORY]->(c:Category), (p)-[:HAS_VALUE]->(v:Value {kind: 'colour'}) "
        "WHERE c.name ENDS WITH $category "
        "RETURN v.value AS colour, count(DISTINCT p) AS products ORDER BY products DESC, colour LIMIT 5",
        {"category": "> 手机"},
    ),
    (
        "What do reviews of phones (手机) praise and criticise? (aspects, with review models)",
        "MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product)-[:IN_CATEGORY]->(c:Category) "
        "WHERE c.name ENDS WITH $category "
        "RETURN a.name AS aspect, count(*) AS reviews, "
        "round(avg(CASE WHEN m.polarity = 'positive' THEN 1.0 ELSE 0.0 END), 2) AS share_positive "
        "ORDER BY reviews DESC, aspect LIMIT 6",
        {"category": "> 手机"},
    ),
]


def _tagger_extractor(config: BuildConfig) -> TaggerExtractor | None:
    if config.extractor == "rules":
        return None
    if config.extractor != "tagger":
        raise ValueError(f"extractor must be rules or tagger, not {config.extractor!r}")
    if config.tagger is None:
        raise ValueError("the tagger extractor needs a tagger directory (BuildConfig.tagger)")
    from skugraph.tagging.tagger import Tagger

    return TaggerExtractor(Tagger.load(config.tagger), config.tagger_fields)


@dataclass
class DemoModels:
    encoder: Path
    tagger: Path
    opinions: Path
    sentiment: Path
    pretrain: dict  # the encoder's skugraph.json
    training: dict  # the tagger's skugraph.json
    reused: bool


def train_demo_models(workdir: Path, minutes: float = 1.5, retrain: bool = False,
                      progress: Callable[[str, int | None], Progress] | None = None) -> DemoModels:
    """The whole model chain on the sample catalogue: pretrain a tiny encoder on its text
    (titles, descriptions, reviews) for ``minutes``, then fine-tune a tagger on the labelled
    titles (every fifth product held out as dev). Models already in ``workdir`` are reused
    unless ``retrain``."""
    from skugraph.facts.opinions import train_opinion_extractor
    from skugraph.facts.sentiment import train_sentiment
    from skugraph.lm.pretrain import PretrainConfig, pretrain
    from skugraph.sample.generate import sample_opinions, sample_sentiments
    from skugraph.tagging.train import TrainTaggerConfig, train_tagger

    models = workdir / "models"
    encoder, tagger, opinions, sentiment = models / "encoder", models / "tagger", models / "opinions", models / "sentiment"
    done = [encoder / "skugraph.json", tagger / "skugraph.json", opinions / "opinions.json", sentiment / "classifier.json"]
    if not retrain and all(path.is_file() for path in done):
        return DemoModels(encoder, tagger, opinions, sentiment, _json(encoder / "skugraph.json"), _json(tagger / "skugraph.json"), True)
    step = progress("pretrain", None) if progress else None
    pretrain(PretrainConfig(corpus=[CATALOGUE], out=encoder, base_model="scratch:tiny", time_budget_minutes=minutes,
                            batch_size=32, vocab_size=3000, min_frequency=1, heldout_every=20, checkpoint_minutes=60),
             progress=(lambda point: step(1)) if step else None)
    records = [json.loads(line) for line in LABELS.read_text("utf-8").splitlines() if line.strip()]
    split = workdir / "models" / "labels"
    split.mkdir(parents=True, exist_ok=True)
    train_file, dev_file = split / "train.jsonl", split / "dev.jsonl"
    with train_file.open("w", encoding="utf-8") as train_out, dev_file.open("w", encoding="utf-8") as dev_out:
        for number, record in enumerate(records):
            (dev_out if number % 5 == 4 else train_out).write(json.dumps(record, ensure_ascii=False) + "\n")
    step = progress("fine-tune tagger", None) if progress else None
    train_tagger(TrainTaggerConfig(train=train_file, dev=dev_file, out=tagger, base_model=str(encoder), epochs=25,
                                   batch_size=16, learning_rate=5e-4, patience=6, ngrams=True),
                 progress=(lambda record: step(1)) if step else None)
    step = progress("fine-tune review models", None) if progress else None
    reviews = sample_opinions()
    train_opinion_extractor(reviews, reviews, opinions, base_model=str(encoder), epochs=60, patience=15,
                            progress=(lambda record: step(1)) if step else None)
    train_sentiment(sample_sentiments(), sentiment)
    return DemoModels(encoder, tagger, opinions, sentiment, _json(encoder / "skugraph.json"), _json(tagger / "skugraph.json"), False)


def _json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def build(config: BuildConfig, progress: Callable[[str, int | None], Progress] | None = None) -> BuildResult:
    """Ingest → extract → fuse (resolve products, complete) → load → example queries.
    ``progress(stage, total)`` may return a callback that is told of each record done."""
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
        extractor=RuleExtractor.with_lexicon_files(config.brand_files, config.product_type_files),
        tagger=_tagger_extractor(config),
        ontology=ontology,
        reviews=ReviewModels.load(config.opinion_model, config.sentiment_model),
        relations=RelationClassifier.load(config.relation_model) if config.relation_model else None,
    )
    fuse_report = fuse(config.listings, config.facts, config.fused, config.matcher, config.match_threshold, ontology=ontology,
                       complete=config.complete)
    if config.fresh:
        remove_graph(config.graph)
    load_report, stats = load(config.graph, config.listings, config.fused, ontology=ontology)
    with open_store(config.graph, read_only=True) as store:
        examples = [(question, store.query(cypher, params)) for question, cypher, params in EXAMPLE_QUERIES]
        showcase = dict.fromkeys(row[0] for cypher in SHOWCASE for row in store.query(cypher).rows)
        cards = [product_card(store, product) for product in showcase]
    return BuildResult(config, ingest_report, extract_report, fuse_report, load_report, stats, examples, cards)


#: products worth showing: the first with review aspects, the first with a compatible-with link
#: (each the first with more than one listing, where there is one)
SHOWCASE = (
    "MATCH (p:Product)<-[:OF]-(:Aspect) MATCH (l:Listing)-[:OFFER_OF]->(p) "
    "RETURN p.id AS id, count(DISTINCT l) AS n ORDER BY n > 1 DESC, id LIMIT 1",
    "MATCH (p:Product)-[:COMPATIBLE_WITH]->(:Brand) MATCH (l:Listing)-[:OFFER_OF]->(p) "
    "RETURN p.id AS id, count(DISTINCT l) AS n ORDER BY n > 1 DESC, id LIMIT 1",
)
