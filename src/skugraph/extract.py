"""The extraction engine: listings in, mentions and facts out.

One :class:`Extractor` protocol (the rules and a trained tagger both satisfy it), one factory
that assembles an extractor from options (:func:`build_extractor`), one that assembles all of
what reads a batch of listings (:func:`build_reader`: the extractor, the fact builder, review
and relation models), and the runners over that reader: in this process or in worker
processes (:func:`extract_locally`). The Ray runner, :func:`skugraph.scale.ray_jobs.extract_on_ray`,
runs the same reader and writes with :func:`write_reads`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import pyarrow as pa

from skugraph import __version__
from skugraph.corpus.ingest import load_listings
from skugraph.facts.build import FactBuilder, merge_facts
from skugraph.facts.calibration import CALIBRATION_FILE, FactCalibration
from skugraph.facts.ontology import Ontology
from skugraph.fusion.conflicts import resolve
from skugraph.graph.store import batched
from skugraph.records import Fact, Listing, Mention, to_json_line, with_run
from skugraph.tables import FACTS, MENTIONS, PartWriter, facts_table, is_parquet, mentions_table
from skugraph.tagging.rules import RuleExtractor

if TYPE_CHECKING:
    from skugraph.facts.classify import LinearTextClassifier
    from skugraph.facts.opinions import OpinionExtractor

Progress = Callable[[int], None]


@runtime_checkable
class Extractor(Protocol):
    """What finds mentions in listings; ``name@version`` marks the run of every fact it yields."""

    name: str
    version: str

    def extract_many(self, listings: Sequence[Listing]) -> list[list[Mention]]:
        """The mentions of each listing, in the order given."""
        ...


@dataclass
class ExtractorConfig:
    """The options an extraction is assembled from (``skugraph extract``'s options)."""

    kind: Literal["rules", "tagger"] = "rules"
    model: Path | None = None  # a tagger directory (kind "tagger")
    fields: tuple[str, ...] = ("title",)  # the fields the tagger reads (what it was trained on), or ("all",)
    min_score: float = 0.0  # tagger mentions below this calibrated confidence are dropped
    runtime: str = "torch-bf16"  # what runs the tagger (skugraph.tagging.runtime.RUNTIMES)
    brand_files: list[Path] = field(default_factory=list)  # extra brand names, one a line; or brands.tsv rows (brands_file)
    product_type_files: list[Path] = field(default_factory=list)  # extra product words, one a line
    opinion_model: Path | None = None  # review opinions (`skugraph train opinions`)
    sentiment_model: Path | None = None  # review sentiment (`skugraph train sentiment`)
    relation_model: Path | None = None  # what each mention is to the head product (`skugraph train relations`)
    calibration: Path | None = None  # fact calibration file (default: the tagger directory's, when it has one)

    def check(self) -> None:
        """Raise ``ValueError`` for options that name no extractor."""
        if self.kind not in ("rules", "tagger"):
            raise ValueError(f"--extractor must be rules or tagger, not {self.kind!r}")
        if self.kind == "tagger" and self.model is None:
            raise ValueError("--extractor tagger needs --model DIR (a directory from `skugraph train tagger`)")
        if self.kind == "rules" and self.min_score > 0:
            raise ValueError("--min-score filters the tagger's calibrated confidences; the rules have none (use --extractor tagger)")


def build_extractor(config: ExtractorConfig, titles: Iterable[str] | None = None) -> Extractor:
    """The extractor ``config`` names. ``titles`` (the catalogue's) teach the rules the brands it
    writes in two scripts (``诺芝（NOZI）``), so a brand resolves to one entity however written;
    a tagger learns nothing from them."""
    config.check()
    if config.kind == "tagger":
        from skugraph.tagging.tagger import TaggerExtractor, load_tagger

        return TaggerExtractor(load_tagger(config.model, config.runtime), config.fields, config.min_score)
    return _rules(config, titles)


def _rules(config: ExtractorConfig, titles: Iterable[str] | None) -> RuleExtractor:
    rules = RuleExtractor.with_lexicon_files(config.brand_files, config.product_type_files)
    return rules if titles is None else rules.learn_brands(titles)


def brands_file(facts: Path) -> Path:
    """Where an extraction writing ``facts`` leaves the brands it knew beyond the shipped ones,
    learned ones included (``facts.jsonl`` or ``facts.parquet`` → ``facts.brands.tsv``): given
    back as a brand file, an update of some listings reads them as this extraction did."""
    return facts.with_suffix(".brands.tsv")


@dataclass
class ReviewModels:
    """What reads reviews: opinion tuples and review-level sentiment (either may be absent)."""

    opinions: OpinionExtractor | None = None
    sentiment: LinearTextClassifier | None = None

    @classmethod
    def load(cls, opinions: Path | None, sentiment: Path | None) -> ReviewModels | None:
        if opinions is None and sentiment is None:
            return None
        from skugraph.facts.classify import LinearTextClassifier
        from skugraph.facts.opinions import OpinionExtractor

        return cls(OpinionExtractor.load(opinions) if opinions else None, LinearTextClassifier.load(sentiment) if sentiment else None)

    def facts(self, listings: list[Listing]) -> list[list[Fact]]:
        """Review facts of each listing."""
        from skugraph.facts.opinions import review_facts

        where = [(n, i) for n, listing in enumerate(listings) for i in range(len(listing.reviews))]
        texts = [listings[n].reviews[i].text for n, i in where]
        opinions = self.opinions.extract(texts) if self.opinions and texts else [[] for _ in texts]
        sentiments = self.sentiment.predict(texts) if self.sentiment and texts else [None for _ in texts]
        out: list[list[Fact]] = [[] for _ in listings]
        for (n, i), found, sentiment in zip(where, opinions, sentiments, strict=True):
            out[n] += review_facts(listings[n], i, found, sentiment, f"reviews@{__version__}")
        return out


@dataclass
class ReadResult:
    """What a :class:`ListingReader` made of one batch: its mentions and facts, as JSON lines or
    as Arrow tables, and their counts."""

    listings: int
    mention_count: int
    mentions: str | pa.Table  # JSON lines, or a table (columnar output)
    facts: str | pa.Table
    by_predicate: Counter[str]


@dataclass
class ListingReader:
    """One batch of listings → its mentions and facts as JSON lines, or as Arrow tables with
    ``columnar`` (picklable results, so worker processes can run it)."""

    extractor: Extractor
    builder: FactBuilder
    reviews: ReviewModels | None = None
    columnar: bool = False
    calibration: FactCalibration | None = None  # rewrites fact confidences as dev precision (skugraph.facts.calibration)

    def read(self, batch: list[Listing]) -> list[tuple[list[Mention], list[Fact]]]:
        """Each listing's mentions and facts (its values voted, its review facts merged)."""
        found = self.extractor.extract_many(batch)
        review_facts_of = self.reviews.facts(batch) if self.reviews else [[] for _ in batch]
        run = f"{self.extractor.name}@{self.extractor.version}"
        return [(listing_mentions, with_run(self._voted(self.builder.build(listing, listing_mentions)) + merge_facts(extra), run))
                for listing, listing_mentions, extra in zip(batch, found, review_facts_of, strict=True)]

    def _voted(self, facts: list[Fact]) -> list[Fact]:
        """One listing's facts voted (and calibrated, with a calibration)."""
        facts = resolve(facts, self.builder.ontology)
        return resolve(self.calibration.apply(facts), self.builder.ontology) if self.calibration else facts

    def __call__(self, batch: list[Listing]) -> ReadResult:
        mentions: list[Mention] = []
        facts: list[Fact] = []
        for listing_mentions, listing_facts in self.read(batch):
            mentions += listing_mentions
            facts += listing_facts
        by_predicate = Counter(fact.predicate for fact in facts)
        if self.columnar:
            return ReadResult(len(batch), len(mentions), mentions_table(mentions), facts_table(facts), by_predicate)
        return ReadResult(len(batch), len(mentions), "".join(to_json_line(m) + "\n" for m in mentions),
                          "".join(to_json_line(f) + "\n" for f in facts), by_predicate)


def build_reader(config: ExtractorConfig, ontology: Ontology | None = None, titles: Iterable[str] | None = None,
                 columnar: bool = False) -> ListingReader:
    """All of what reads listings, from ``config``: the extractor (see :func:`build_extractor`),
    the fact builder (with the rules' brands and accessory words, whichever extractor finds
    the mentions, and the relation model), and the review models."""
    config.check()
    rules = _rules(config, titles)
    extractor = build_extractor(config) if config.kind == "tagger" else rules
    relations = None
    if config.relation_model is not None:
        from skugraph.facts.relations import RelationClassifier

        relations = RelationClassifier.load(config.relation_model)
    builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"], ontology, relations)
    return ListingReader(extractor, builder, ReviewModels.load(config.opinion_model, config.sentiment_model), columnar,
                         _calibration(config))


def _calibration(config: ExtractorConfig) -> FactCalibration | None:
    """The fact calibration ``config`` names, else the one in the tagger directory, else none."""
    if config.calibration is not None:
        return FactCalibration.load(config.calibration)
    saved = config.model / CALIBRATION_FILE if config.kind == "tagger" and config.model else None
    return FactCalibration.load(saved) if saved and saved.is_file() else None


@dataclass
class ExtractReport:
    listings: int = 0
    mentions: int = 0
    facts: int = 0
    by_predicate: Counter[str] = field(default_factory=Counter)
    rejects: list[str] = field(default_factory=list)  # listings left out, with file and reason (Ray engine)

    def add(self, read: ReadResult) -> None:
        self.listings += read.listings
        self.mentions += read.mention_count
        self.facts += sum(read.by_predicate.values())
        self.by_predicate.update(read.by_predicate)


def write_reads(reads: Iterable[ReadResult], facts_out: Path, mentions_out: Path | None = None,
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


def extract_locally(reader: ListingReader, listings: Path, facts_out: Path, mentions_out: Path | None = None,
                    workers: int = 1, batch_size: int = 256, progress: Progress | None = None) -> ExtractReport:
    """``reader`` over the listings (a file, or a directory of shards) in batches of
    ``batch_size``, in this process or in ``workers`` worker processes; the results are
    written in input order (:func:`write_reads`). Memory holds a few batches at a time."""
    batches = batched(load_listings(listings), batch_size)
    reads = read_in_processes(reader, batches, workers) if workers > 1 else map(reader, batches)
    return write_reads(reads, facts_out, mentions_out, progress)


_worker_reader: ListingReader | None = None  # a worker process's reader


def _start_worker(reader: ListingReader) -> None:
    import torch

    global _worker_reader
    torch.set_num_threads(1)
    _worker_reader = reader


def _read_in_worker(batch: list[Listing]) -> ReadResult:
    return _worker_reader(batch)


def read_in_processes(reader: ListingReader, batches: Iterable[list[Listing]], workers: int) -> Iterator[ReadResult]:
    """``reader`` over ``batches`` in ``workers`` new processes (a tagger travels as its
    directory and reloads there with one thread), results in order, at most two batches per
    worker in flight (:class:`~skugraph.processes.Workers`)."""
    from skugraph.processes import Workers

    with Workers(workers, _start_worker, (reader,)) as pool:
        yield from pool.map(_read_in_worker, batches)
