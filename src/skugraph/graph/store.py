"""The store interface every graph backend implements, and the rows it loads.

Facts and listings become node rows (keyed by label and id) and edge rows (keyed
by relation, end labels and end ids); a backend upserts them, so loading the same
facts twice gives the same graph.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skugraph.facts.ontology import Ontology
from skugraph.graph.schema import NODE_TABLES, relation_tables
from skugraph.records import CALIBRATED_VERSION, COMPLETION, LISTING, REVIEW, Fact, Listing, Redaction

if TYPE_CHECKING:  # pyarrow is imported where tables are built, so the CLI starts without it
    import pyarrow as pa


class StoreError(RuntimeError):
    """A query or load the database refused, with the database's own reason."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class LoadReport:
    nodes: dict[str, int] = field(default_factory=dict)  # rows upserted per label
    edges: dict[str, int] = field(default_factory=dict)  # rows upserted per relation
    copied: list[str] = field(default_factory=list)  # tables bulk-copied (were empty)
    upserted: list[str] = field(default_factory=list)  # tables that had rows: upserted by id
    merged: int = 0  # products removed because resolution merged their listings into another
    retracted: int = 0  # edges deleted because no loaded listing supports them any more (kept as Change nodes)
    #: listings whose facts came from another extraction run than the graph held: the new run replaced the old
    rerun: int = 0
    rerun_retracted: int = 0  # of ``retracted``: edges that listings of a new extraction run no longer support
    kept_previous: int = 0  # listings of a new extraction run whose earlier runs' facts were kept (keep_previous)
    changed: int = 0  # listing values replaced by a new version (kept as Change nodes)
    changed_by: dict[str, int] = field(default_factory=dict)  # of ``changed``: per listing
    retractions: dict[str, list[str]] = field(default_factory=dict)  # the ``retracted`` edges' keys → the listings that dropped them
    versions: set[str] = field(default_factory=set)  # listings new to the graph or changed in this load
    #: where the time went: "rows" (reading the input and building rows), "stage" (writing them
    #: as files for the store), "store" (the store's statements, commits included)
    seconds: dict[str, float] = field(default_factory=dict)
    #: facts not loaded because their confidence was under the minimum asked for, per predicate
    left_out: dict[str, int] = field(default_factory=dict)

    def add(self, other: LoadReport) -> None:
        for mine, theirs in ((self.nodes, other.nodes), (self.edges, other.edges), (self.seconds, other.seconds)):
            for name, count in theirs.items():
                mine[name] = mine.get(name, 0) + count
        self.copied += [t for t in other.copied if t not in self.copied]
        self.upserted += [t for t in other.upserted if t not in self.upserted]
        self.merged += other.merged
        self.retracted += other.retracted
        self.rerun += other.rerun
        self.rerun_retracted += other.rerun_retracted
        self.kept_previous += other.kept_previous
        self.changed += other.changed
        for listing, count in other.changed_by.items():
            self.changed_by[listing] = self.changed_by.get(listing, 0) + count
        for key, listings in other.retractions.items():
            self.retractions[key] = sorted({*self.retractions.get(key, []), *listings})
        self.versions |= other.versions


#: extractors whose confidences are calibrated probabilities whatever their version: KG completion
#: (isotonic regression on hidden edges of the graph it completes)
CALIBRATED_EXTRACTORS = (COMPLETION,)


@dataclass(frozen=True)
class Confidences:
    """The confidences of a set of facts: how many there are, their sum, and how many of them are
    calibrated probabilities (every reading of the fact from a calibrated extractor: its version
    ends in :data:`CALIBRATED_VERSION`, or it is one of :data:`CALIBRATED_EXTRACTORS`)."""

    facts: int = 0
    total: float = 0.0
    calibrated: int = 0

    def __add__(self, other: Confidences) -> Confidences:
        return Confidences(self.facts + other.facts, self.total + other.total, self.calibrated + other.calibrated)

    @property
    def expected_precision(self) -> float | None:
        """The mean confidence: the share of the facts expected right, were every confidence calibrated."""
        return self.total / self.facts if self.facts else None

    @property
    def expected_wrong(self) -> float:
        """The facts expected wrong: the sum of ``1 - confidence``."""
        return self.facts - self.total

    @property
    def calibration(self) -> str:
        """Whether the expected precision is one: how many of the confidences are calibrated."""
        if self.facts and self.calibrated == self.facts:
            return "calibrated: each confidence is the probability that the fact is right"
        if self.calibrated:
            return (f"partly calibrated: {self.calibrated} of {self.facts} confidences are probabilities; "
                    "read the rest as scores")
        return "uncalibrated: read as a score, not a probability"

    def to_dict(self) -> dict[str, Any]:
        precision = self.expected_precision
        return {"facts": self.facts, "expected_precision": None if precision is None else round(precision, 4),
                "expected_wrong": round(self.expected_wrong, 1), "calibrated": self.calibrated}


#: predicates that are not read from text, so no expected precision of the graph's facts counts
#: them: a listing's offer of its product (the matcher's score, chosen by its own threshold) and
#: its reviews (the listing's own records)
NOT_READ = ("offer_of", "has_review")
#: :meth:`GraphStore.confidences` counts a predicate's facts KG completion inferred (every reading
#: of them its) apart, under the predicate's name with this suffix: they were read in no text
INFERRED = " (inferred)"


def read_facts(confidences: Mapping[str, Confidences]) -> Confidences:
    """The confidences of the facts read from text, all predicates but :data:`NOT_READ` together,
    the inferred ones (:data:`INFERRED`) left out."""
    return sum((found for name, found in confidences.items() if name not in NOT_READ and not name.endswith(INFERRED)),
               Confidences())


def inferred_facts(confidences: Mapping[str, Confidences]) -> Confidences:
    """The confidences of the facts KG completion inferred, all predicates together."""
    return sum((found for name, found in confidences.items() if name.endswith(INFERRED)), Confidences())


def confidence_summary(confidences: Mapping[str, Confidences]) -> dict[str, Any]:
    """Per-predicate confidences (:meth:`GraphStore.confidences`) as JSON: the read facts'
    (``all``: every predicate but :data:`NOT_READ`, with ``calibration`` saying whether its
    expected precision is one), the inferred facts' (``inferred``) and each predicate's."""
    overall = read_facts(confidences)
    return {"all": overall.to_dict() | {"calibration": overall.calibration}, "inferred": inferred_facts(confidences).to_dict(),
            "predicates": {name: found.to_dict() for name, found in sorted(confidences.items())}}


#: up to this many listings, a load finds the products their merges left behind by key (see
#: :meth:`GraphStore.remove_merged_products`); past it, by one pass over every offer
MERGED_BY_KEY = 2_000
#: past this many listings, their offers are found by key (``UNWIND``: LadybugDB 0.22 then scans
#: the offers once, about 15 ms a 40,000) rather than by ``IN`` (a scan of the listings that
#: checks each against the whole list: 5 ms for 10 ids but 120 ms for 1,000 among 43,000
#: listings, 760 ms among 100,000; nodes alone, 30,000 ids among 100,000 products: 8.8 s by
#: ``IN``, 0.07 s by key; measured 2026-12-04)
OFFERS_BY_KEY = 100


def holds_offers(store: GraphStore) -> bool:
    """Whether the graph's listings offer products (it was fused), now or before they were delisted."""
    return bool(store.query("MATCH ()-[r:OFFER_OF]->() RETURN 1 LIMIT 1").rows
                or store.query("MATCH (c:Change) WHERE c.attribute = 'offer_of' RETURN 1 LIMIT 1").rows)


def market_stats(store: GraphStore) -> dict[str, Any]:
    """``store.stats()`` with the products and listings on the market only (``nodes``), those kept
    for their history alone counted apart (``delisted``: none in a graph without offers), and the
    facts' expected precision (``confidence``: :func:`confidence_summary`)."""
    found = store.stats()
    fused = holds_offers(store)
    gone = {label: store.query(f"MATCH (n:{label}) WHERE NOT EXISTS {{ MATCH {pattern} }} RETURN count(n)").rows[0][0]
            if fused else 0
            for label, pattern in (("Product", "(:Listing)-[:OFFER_OF]->(n)"), ("Listing", "(n)-[:OFFER_OF]->(:Product)"))}
    found["nodes"] |= {label: found["nodes"][label] - count for label, count in gone.items()}
    return found | {"delisted": gone, "confidence": confidence_summary(store.confidences())}


@dataclass
class TableBatch:
    """One batch ready to stage, as Arrow tables: ``nodes[label]`` with the columns of
    ``NODE_TABLES[label]``, ``edges[(relation, from label, to label)]`` with ``src``, ``dst`` and
    the relation's columns."""

    nodes: dict[str, pa.Table] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], pa.Table] = field(default_factory=dict)
    #: the listings whose facts this batch replaces (new versions, new extraction runs): an edge's
    #: evidence from them is replaced, not added to
    reloaded: frozenset[str] = frozenset()
    #: whether the batch holds new versions of listings (their values replace the stored ones),
    #: not only listings named by facts (whose stored values stay)
    has_versions: bool = False
    #: the edges (:func:`skugraph.graph.schema.edge_key`) that earlier batches of the same load
    #: stated: their stored evidence is this load's, and the batch's facts merge with it as the
    #: facts of one batch merge (:func:`skugraph.graph.columnar.fact_tables`)
    restated: frozenset[str] = frozenset()
    #: of those, the ones the batch states more than once: their facts in order (confidence, provenance)
    stated: dict[str, list[tuple[float, list[dict]]]] = field(default_factory=dict)


@dataclass
class BulkLoad:
    """What :meth:`GraphStore.bulk` yields: the report of what it loads at its end (filled when
    the block ends), the listings it takes as nodes new to the graph, and, set by
    :meth:`GraphStore.load_tables` before the block ends, their ``supports`` and ``runs`` JSON
    (tables of ``id``, ``supports``, ``runs``, :data:`SUPPORTS_SLICE` listings each), which the
    store writes with the nodes or after them."""

    report: LoadReport = field(default_factory=LoadReport)
    new_listings: set[str] = field(default_factory=set)
    listing_supports: Callable[[], Iterator[pa.Table]] | None = None


#: new listings whose supports are built at once: their (listing, edge) pairs wait on disk, a file a slice
SUPPORTS_SLICE = 50_000


class _Pairs:
    """(listing_id, value) pairs of a load, those of the new listings (``ids``, sorted) written to
    one Parquet file per :data:`SUPPORTS_SLICE` of them in ``directory``, the others kept."""

    def __init__(self, directory: Path, name: str, ids: pa.Array):
        self.directory, self.name, self.ids = directory, name, ids
        self.writers: dict[int, Any] = {}
        self.others: list[pa.Table] = []

    def add(self, pairs: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        position = pc.index_in(pairs["listing_id"], value_set=self.ids)
        self.others.append(pairs.filter(pc.is_null(position)))
        pairs = pairs.append_column("slice", pc.divide(position, SUPPORTS_SLICE)).filter(pc.is_valid(position))
        for number in pc.unique(pairs["slice"]).to_pylist():
            part = pairs.filter(pc.equal(pairs["slice"], number)).drop_columns(["slice"])
            if number not in self.writers:
                self.writers[number] = pq.ParquetWriter(self.directory / f"{self.name}-{number}.parquet", part.schema)
            self.writers[number].write_table(part)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def slice(self, number: int) -> pa.Table:
        """The pairs of the new listings of slice ``number``."""
        import pyarrow.parquet as pq

        if number in self.writers:
            return pq.read_table(self.directory / f"{self.name}-{number}.parquet")
        return _pairs([], self.name)

    def rest(self) -> pa.Table:
        """The pairs of the other listings."""
        return _pairs(self.others, self.name)


def listing_tables(listings: pa.Table) -> tuple[TableBatch, dict[str, datetime | None]]:
    """Listing and review nodes of ``listings`` (a :data:`skugraph.tables.LISTINGS` table; a
    listing given twice: the last one), and each listing's update time (naive UTC). A review
    given twice keeps its first values and gains the later ones' where it had none. Python
    touches only the listings with redactions."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from skugraph.graph.columnar import typed_table

    listings = listings.combine_chunks()
    numbered = pa.table({"id": listings["id"], "row": np.arange(listings.num_rows)})
    kept = _in_first_seen_order(numbered.group_by("id", use_threads=False).aggregate([("row", "max"), ("row", "min")]))["row_max"]
    own_redactions, review_redactions = _redaction_json(listings)
    listed = listings.append_column("redactions_json", own_redactions).take(kept)
    empty_is_null = {name: pc.if_else(pc.equal(listed[name], ""), pa.scalar(None, pa.string()), listed[name])
                     for name in ("description", "category", "currency", "source", "warehouse")}
    updated_at = listed["updated_at"].cast(pa.timestamp("us"))  # naive UTC
    rows = {"id": listed["id"], "title": listed["title"], **empty_is_null, "price": listed["price"],
            "updated_at": updated_at, "redactions": listed["redactions_json"],
            **{name: listed[name] for name in ("stock", "sales", "sales_from", "sales_to")}}
    batch = TableBatch({LISTING: typed_table(rows, NODE_TABLES[LISTING], listed.num_rows)}, has_versions=True)
    reviews = pc.list_flatten(listings["reviews"])
    if len(reviews):
        given = pa.table({"id": pc.struct_field(reviews, "id"), "text": pc.struct_field(reviews, "text"),
                          "rating": pc.struct_field(reviews, "rating"), "redactions": review_redactions,
                          "row": np.arange(len(reviews))})
        first = _in_first_seen_order(given.group_by("id", use_threads=False).aggregate(
            [("row", "min"), *((name, "first") for name in ("text", "rating", "redactions"))]))
        batch.nodes[REVIEW] = typed_table({"id": first["id"], **{name: first[f"{name}_first"] for name in ("text", "rating", "redactions")}},
                                          NODE_TABLES[REVIEW], first.num_rows)
    return batch, dict(zip(listed["id"].to_pylist(), updated_at.to_pylist(), strict=True))


def _in_first_seen_order(groups: pa.Table) -> pa.Table:
    """Groups (with ``row_min``, the first row of each) in the order their first rows come."""
    return groups.take(groups["row_min"].combine_chunks().to_numpy().argsort(kind="stable"))


def _redaction_json(listings: pa.Table) -> tuple[pa.Array, pa.Array]:
    """What was scrubbed, as JSON (:func:`_redactions`): per listing from its own fields, and per
    review (in the order of the listings' flattened reviews) from that review; null where nothing was."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    redactions = listings["redactions"]
    counts = pc.fill_null(pc.list_value_length(redactions), 0)
    scrubbed = pc.indices_nonzero(pc.greater(counts, 0))
    reviews = pc.fill_null(pc.list_value_length(listings["reviews"]), 0).to_numpy(zero_copy_only=False)
    first_review = np.concatenate([[0], np.cumsum(reviews)])
    own: dict[int, str | None] = {}
    of_review: dict[int, str | None] = {}
    for row, items in zip(scrubbed.to_pylist(), pc.take(redactions, scrubbed).to_pylist(), strict=True):
        found = [Redaction(**item) for item in items]
        own[row] = _redactions(r for r in found if not r.field.startswith("reviews["))
        for number in range(reviews[row]):
            of_review[int(first_review[row]) + number] = _redactions(r for r in found if r.field == f"reviews[{number}]")

    def spread(values: dict[int, str | None], count: int) -> pa.Array:
        return pa.array([values.get(i) for i in range(count)], pa.string()) if values else pa.nulls(count, pa.string())

    return spread(own, listings.num_rows), spread(of_review, int(first_review[-1]))


def rows_table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str]]) -> pa.Table:
    """Rows as a table of exactly ``columns`` (a column a row lacks is null)."""
    import pyarrow as pa

    from skugraph.facts.checks import ARROW_TYPES

    rows = list(rows)
    schema = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns])
    return pa.table([pa.array([row.get(field.name) for row in rows], field.type) for field in schema], schema=schema)


def _runs(facts: pa.Table) -> pa.Table:
    """(listing_id, run): the extraction runs (``Provenance.run``) of the facts' evidence from each listing, once each."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces = pc.list_flatten(facts["provenance"])
    pairs = pa.table({"listing_id": pc.struct_field(pieces, "listing_id"), "run": pc.struct_field(pieces, "run")})
    return pairs.filter(pc.fill_null(pc.not_equal(pairs["run"], ""), False)).group_by(["listing_id", "run"]).aggregate([])


def _pairs(tables: list[pa.Table], name: str) -> pa.Table:
    """(listing_id, ``name``) pairs of several tables, in one (a pair may repeat)."""
    import pyarrow as pa

    if not tables:
        return pa.table({"listing_id": pa.array([], pa.string()), name: pa.array([], pa.string())})
    return pa.concat_tables(tables)


def _grouped(pairs: pa.Table) -> dict[str, set[str]]:
    """(listing_id, value) pairs as listing → its values."""
    found: dict[str, set[str]] = {}
    for listing, value in zip(pairs.column(0).to_pylist(), pairs.column(1).to_pylist(), strict=True):
        found.setdefault(listing, set()).add(value)
    return found


def read_ahead(items: Iterable[Any], pool: Executor) -> Iterator[Any]:
    """``items`` as they come, each next one produced in ``pool`` while the caller works on the
    one before (one at a time, in order; the first is asked for at once). An error producing
    one is raised where the caller asks for it."""
    iterator, end = iter(items), object()
    first = pool.submit(next, iterator, end)

    def ahead() -> Iterator[Any]:
        pending = first
        while (item := pending.result()) is not end:
            pending = pool.submit(next, iterator, end)
            yield item

    return ahead()


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` items (the last one shorter), streaming."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _redactions(redactions: Iterable[Redaction]) -> str | None:
    """What was scrubbed, as JSON: type and offsets only, never the value."""
    rows = [r.to_dict() for r in redactions]
    return json.dumps(rows, ensure_ascii=False) if rows else None


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class GraphStore(ABC):
    """What every graph backend offers: upsert, parameterised Cypher, counts."""

    ontology: Ontology

    def load(self, listings: Iterable[Listing], facts: Iterable[Fact], *, batch_size: int = 200_000,
             keep_previous: bool = False) -> LoadReport:
        """:meth:`load_tables` for listings and facts as objects, ``batch_size`` of them a table."""
        from skugraph.tables import facts_table, listings_table

        return self.load_tables((listings_table(chunk) for chunk in batched(listings, batch_size)),
                                (facts_table(chunk) for chunk in batched(facts, batch_size)), keep_previous=keep_previous)

    def load_tables(self, listings: Iterable[pa.Table], facts: Iterable[pa.Table], *, keep_previous: bool = False) -> LoadReport:
        """Upsert each table of listings (the :data:`skugraph.tables.LISTINGS` layout;
        :func:`skugraph.corpus.listing_tables.read_listing_tables` reads them), then each table of facts (the
        :data:`skugraph.tables.FACTS` layout; :func:`skugraph.facts.io.read_fact_tables` reads
        them), each batch one transaction (or part of one: a store may commit several batches,
        or a chunk of rows, at once), turned into node and edge tables on the columns
        (:func:`skugraph.graph.columnar.fact_tables`); a table empty before a batch is bulk-copied.
        Then retract what the listings loaded no longer support, and remove the products that
        entity resolution merged into others. Loading the same input twice changes nothing.

        A listing given that is new or differs from the stored one is a new version: a changed
        value of it is kept as a ``Change``; an edge's evidence from it is replaced by the facts
        given, and an edge left with no evidence is retracted (kept as a ``Change`` too).
        Facts from an extraction run (``Provenance.run``) the graph does not hold for a stored
        listing are a new reading of it, and replace its facts the same way (the earlier run's,
        and what was derived from them), unless ``keep_previous``. Evidence from other listings
        stays, and facts about a listing given unchanged with no new run (say, inferred facts
        loaded after the extracted ones) add to its evidence.

        The facts of one edge merge as fusion merges facts (evidence joined, confidences by
        noisy-or), whether they come in one batch or in several (an edge stated again in a
        later batch keeps the ``valid_from`` the first gave it).

        Which edges each listing supports is kept in Arrow tables, never a Python object per
        fact, those of listings new to the graph on disk, a slice of them a file: they get theirs
        with their nodes or after them (:class:`BulkLoad`), and only the others are compared with
        what the graph holds."""
        with tempfile.TemporaryDirectory(prefix="skugraph-supports-") as directory:
            return self._load_tables(listings, facts, keep_previous, Path(directory))

    def _load_tables(self, listings: Iterable[pa.Table], facts: Iterable[pa.Table], keep_previous: bool, directory: Path) -> LoadReport:
        import pyarrow as pa
        import pyarrow.compute as pc

        from skugraph.graph.columnar import FactTables, fact_tables, json_lists

        report = LoadReport()
        began = time.perf_counter()
        times: dict[str, datetime | None] = {}
        reread: set[str] = set()  # listings whose facts come from a new extraction run: replaced like versions
        earlier: list[pa.Array] = []  # the edges of the batches before this one
        loaded_at = datetime.now(UTC)
        with self.bulk() as bulk, ThreadPoolExecutor(max_workers=2, thread_name_prefix="skugraph-load") as pool:
            # the second core reads the next table and builds a batch's rows while this thread writes the one before
            facts = read_ahead(facts, pool)  # started now: the facts are read while the listings are written
            for table in read_ahead(listings, pool):
                batch, chunk_times = listing_tables(table)
                times.update(chunk_times)
                report.add(self.load_batch(batch))
            versions = frozenset(report.versions)  # a listing loaded again unchanged only gains evidence
            checked = set(versions)  # listings whose stored runs were compared with the runs of these facts
            new_ids = pa.array(sorted(bulk.new_listings), pa.string())
            supports = _Pairs(directory, "key", new_ids)  # (listing_id, key) of the edges the facts support
            runs = _Pairs(directory, "run", new_ids)  # (listing_id, run) of the facts
            building: deque[tuple[Future[FactTables], frozenset[str]]] = deque()  # batches whose rows are being built

            def write(built: Future[FactTables], replaced: frozenset[str]) -> None:
                tables = built.result()
                supports.add(tables.supports)
                restated: frozenset[str] = frozenset()
                if earlier:
                    restated = frozenset(tables.keys.filter(pc.is_in(tables.keys, value_set=pa.concat_arrays(earlier))).to_pylist())
                earlier.append(tables.keys)
                stated = {key: tables.stated[key] for key in restated if key in tables.stated}
                report.add(self.load_batch(TableBatch(tables.nodes, tables.edges, replaced, restated=restated, stated=stated)))

            for table in facts:
                if not table.num_rows:
                    continue
                table = table.combine_chunks()
                named = pc.unique(pc.struct_field(pc.list_flatten(table["provenance"]), "listing_id")).to_pylist()
                unknown = [listing for listing in named if listing not in times]
                if unknown:
                    times.update(dict.fromkeys(unknown))  # asked once, even when not stored
                    times.update(self.listing_times(sorted(unknown)))
                pairs = _runs(table)
                runs.add(pairs)
                found = _grouped(pairs.filter(pc.invert(pc.is_in(pairs["listing_id"], value_set=pa.array(list(checked), pa.string())))))
                new = self._new_runs(found)
                checked.update(found)
                if keep_previous:
                    report.kept_previous += len(new)
                else:
                    reread |= new
                evidence_times = pa.table({"id": pa.array(named, pa.string()),
                                           "updated_at": pa.array([times[listing] for listing in named], pa.timestamp("us"))})
                building.append((pool.submit(fact_tables, table, self.ontology, loaded_at, evidence_times), frozenset(versions | reread)))
                if len(building) > 1:
                    write(*building.popleft())
            while building:
                write(*building.popleft())
            supports.close()
            runs.close()
            if len(new_ids):  # new to the graph: every key and run of theirs, written with their nodes or after them
                def given() -> Iterator[pa.Table]:
                    for number in range((len(new_ids) + SUPPORTS_SLICE - 1) // SUPPORTS_SLICE):
                        ids = new_ids.slice(number * SUPPORTS_SLICE, SUPPORTS_SLICE)
                        yield pa.table({"id": ids, "supports": json_lists(supports.slice(number), "key", ids),
                                        "runs": json_lists(runs.slice(number), "run", ids)})
                bulk.listing_supports = given
        report.add(bulk.report)
        merging = time.perf_counter()
        replaced = versions | reread
        supported: dict[str, set[str]] = {listing: set() for listing in replaced if listing not in bulk.new_listings}
        also: dict[str, set[str]] = {}  # listings not replaced whose evidence these facts add
        rest = supports.rest()
        for listing, key in zip(rest["listing_id"].to_pylist(), rest["key"].to_pylist(), strict=True):
            (supported if listing in replaced else also).setdefault(listing, set()).add(key)
        held_runs = _grouped(runs.rest())
        # an edge that a re-read listing drops ends now; one a new version drops, at that version's time
        retracted = self.retract_unsupported(supported, {k: times[k] for k in versions}, _naive_utc(loaded_at), also, held_runs)
        report.retracted, report.retractions = len(retracted), retracted
        report.rerun = len(reread)
        report.rerun_retracted = sum(1 for listings in retracted.values() if reread.intersection(listings))
        report.merged = self.remove_merged_products(sorted(times))
        report.seconds["store"] = report.seconds.get("store", 0.0) + time.perf_counter() - merging
        report.seconds["rows"] = time.perf_counter() - began - sum(report.seconds.values())
        return report

    @contextmanager
    def bulk(self) -> Iterator[BulkLoad]:
        """A block within which :meth:`load_batch` may hold batches back and load them at its
        end, all at once (a store that can bulk-copy does); yields a :class:`BulkLoad` whose
        report is filled when the block ends. By default every batch is loaded as it comes."""
        yield BulkLoad()

    def _new_runs(self, runs: dict[str, set[str]]) -> set[str]:
        """The listings among ``runs`` (listing → extraction runs of facts about it) whose facts
        in the graph came from other runs (or from none: facts written before runs were kept)."""
        if not runs:
            return set()
        stored = self.listing_runs(sorted(runs))
        return {listing for listing, held in stored.items() if not runs[listing] <= set(held)}

    def remove_merged_products(self, listings: list[str]) -> int:
        """Delete each product that was the own product of one of ``listings`` (those a load
        wrote or named) until resolution moved the listing to another product, and that no
        listing offers now (with its edges, and the aspect nodes left with no product): a
        product whose namesake listing moved away stays with its other listings. A few listings
        (a write) are looked up by key; for many (a catalogue's load) one pass over every
        listing's offer costs less."""
        if len(listings) > MERGED_BY_KEY:
            merged = self.query("MATCH (l:Listing)-[:OFFER_OF]->(q:Product) WITH l, q MATCH (p:Product {id: l.id}) "
                                "WHERE p.id <> q.id RETURN collect(p.id)").rows[0][0] or []
        else:
            owned = [row[0] for row in self.query("UNWIND $ids AS id MATCH (p:Product {id: id}) RETURN p.id", {"ids": listings}).rows]
            offers = ("UNWIND $ids AS id MATCH (l:Listing {id: id})-[:OFFER_OF]->(q:Product) RETURN l.id, q.id"
                      if len(owned) > OFFERS_BY_KEY else "MATCH (l:Listing)-[:OFFER_OF]->(q:Product) WHERE l.id IN $ids RETURN l.id, q.id")
            merged = [listing for listing, product in self.query(offers, {"ids": owned}).rows if product != listing] if owned else []
        if merged:  # those some listing still offers stay
            merged = [row[0] for row in self.query("UNWIND $ids AS id MATCH (p:Product {id: id}) "
                                                   "WHERE NOT EXISTS { MATCH (:Listing)-[:OFFER_OF]->(p) } RETURN p.id",
                                                   {"ids": merged}).rows]
        if merged:
            self.query("UNWIND $ids AS id MATCH (p:Product {id: id}) DETACH DELETE p", {"ids": merged})  # by key: IN scans per id
            self.query("MATCH (a:Aspect) WHERE NOT EXISTS { MATCH (a)-[:OF]->(:Product) } DETACH DELETE a")
        return len(merged)

    def digest(self) -> str:
        """A stable hash of the whole graph: every node with its properties and every edge with
        its ends and properties, in sorted order. An edge's ``updated_at`` and ``valid_from``
        are left out: where its evidence has no time they are the time of loading, which
        differs from run to run."""
        hasher = hashlib.sha256()
        for label, columns in NODE_TABLES.items():
            names = [name for name, _ in columns]
            rows = self.query(f"MATCH (n:{label}) RETURN {', '.join(f'n.{name}' for name in names)}").rows
            for row in sorted(json.dumps([label, *row], ensure_ascii=False, default=str) for row in rows):
                hasher.update(row.encode() + b"\n")
        for table in relation_tables(self.ontology):
            names = [name for name, _ in table.columns if name not in ("updated_at", "valid_from")]
            rows = self.query(f"MATCH (a)-[r:{table.name}]->(b) RETURN label(a), a.id, label(b), b.id, "
                              f"{', '.join(f'r.{name}' for name in names)}").rows
            for row in sorted(json.dumps([table.name, *row], ensure_ascii=False, default=str) for row in rows):
                hasher.update(row.encode() + b"\n")
        return hasher.hexdigest()

    def duplicates(self) -> dict[str, int]:
        """Edges stored more than once between the same two nodes, per relation (0 everywhere in a sound graph;
        node ids are primary keys, so nodes cannot repeat)."""
        counts = {}
        for table in relation_tables(self.ontology):
            counts[table.name] = int(self.query(f"MATCH (a)-[r:{table.name}]->(b) WITH a, b, count(r) AS n WHERE n > 1 "
                                                "RETURN count(*)").rows[0][0])
        return counts

    def delist(self, ids: list[str], now: datetime | None = None) -> int:
        """Take listings off the market: every edge they support loses their evidence, as a new
        version of them that says nothing would (:meth:`retract_unsupported`), and those left with
        none are deleted and kept as ``Change`` nodes ended ``now``. The listing nodes stay, with
        nothing to support, so their history stays readable. Returns the edges retracted."""
        now = _naive_utc(now or datetime.now(UTC))
        return len(self.retract_unsupported({listing: set() for listing in ids}, {}, now))

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A block run as one transaction: committed when it ends, rolled back when it raises. The
        loads and queries within it are part of it (a load commits no chunk of its own)."""

    @abstractmethod
    def connection(self) -> GraphStore:
        """Another store over the same open database with a connection of its own (a writer
        thread's beside the readers'); closing it leaves the database open."""

    @abstractmethod
    def retract_unsupported(self, supported: dict[str, set[str]], times: dict[str, datetime | None], now: datetime,
                            also: dict[str, set[str]] | None = None,
                            runs: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
        """For each listing whose facts were replaced (id → the keys of the edges its new facts
        support): the edges it supported before and no longer does lose its evidence, and those
        left with none are deleted and kept as ``Change`` nodes, ended at the listing's time in
        ``times`` (else ``now``). Records the new supports and extraction runs (``runs``: listing
        → runs of the facts loaded), and adds ``also`` (listings not replaced whose evidence the
        facts added) and their runs to theirs. Returns the retracted edges: key → the listings
        that no longer support it."""

    @abstractmethod
    def listing_runs(self, ids: list[str]) -> dict[str, list[str]]:
        """The stored listings among ``ids`` that support edges, with the extraction runs of their facts."""

    @abstractmethod
    def listing_times(self, ids: list[str]) -> dict[str, datetime | None]:
        """``updated_at`` of the stored listings among ``ids`` (naive UTC)."""

    @abstractmethod
    def load_batch(self, batch: TableBatch) -> LoadReport:
        """Upsert one batch of tables."""

    @abstractmethod
    def stage(self, batch: TableBatch, directory: Path) -> list[tuple[str, Path, tuple[str, str] | None]]:
        """Write each table of ``batch`` as a file in ``directory`` that :meth:`copy` can bulk-load:
        (table, file, and for an edge table its (from, to) node tables), nodes first."""

    @abstractmethod
    def copy(self, table: str, file: Path, ends: tuple[str, str] | None = None) -> None:
        """The backend's own bulk load of a file :meth:`stage` wrote into ``table`` (empty before;
        ``ends``: an edge table's (from, to) node tables), with no upsert and no history: the
        baseline ``skugraph bench load`` measures :meth:`load` against."""

    def copy_staged(self, staged: Iterable[tuple[str, Path, tuple[str, str] | None]]) -> None:
        """:meth:`copy` of every file :meth:`stage` wrote, in its order: that whole baseline."""
        for table, file, ends in staged:
            self.copy(table, file, ends)

    def query_each(self, cypher: str, keys: Iterable[Any], parameters: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """The rows of ``cypher`` run once for each of ``keys`` (bound to ``$key``), in the keys'
        order: a few dozen lookups by key beat one ``WHERE x.id IN $list``, which LadybugDB 0.22
        plans as a scan (120 products' listings at 20,000 products: 10 ms against 35)."""
        return [row for key in keys for row in self.query(cypher, {**(parameters or {}), "key": key}).rows]

    @abstractmethod
    def query(self, cypher: str, parameters: Mapping[str, Any] | None = None, timeout: float | None = None) -> QueryResult:
        """Run Cypher; user input goes in ``parameters``, never into the query text. ``timeout``:
        seconds after which the query is stopped with an error."""

    def columns(self, cypher: str, parameters: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """A read query's result column by column (each a list in row order, values as
        :meth:`query` gives them): for a caller that walks many rows, which a backend may hand
        over without a Python object a row."""
        result = self.query(cypher, parameters)
        return [list(column) for column in zip(*result.rows, strict=True)] if result.rows else [[] for _ in result.columns]

    @abstractmethod
    def export_query(self, cypher: str, path: Path, parameters: Mapping[str, Any] | None = None) -> None:
        """Write a read query's result to a Parquet file."""

    @abstractmethod
    def stats(self) -> dict[str, dict[str, int]]:
        """``{"nodes": {label: count}, "edges": {relation: count}}``."""

    @abstractmethod
    def confidences(self) -> dict[str, Confidences]:
        """The confidences of the graph's facts (its edges), per predicate (see :class:`Confidences`),
        those KG completion inferred apart (``colour (inferred)``: :data:`INFERRED`)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, *, read_only: bool = False, ontology: Ontology | None = None,
               buffer_pool_mb: int | None = None) -> GraphStore:
    """Open (creating if needed) the embedded LadybugDB store at ``path``, with the schema of
    ``ontology``; ``buffer_pool_mb`` caps its page cache (default: 80% of the machine's memory)."""
    from skugraph.graph.ladybug_store import LadybugStore

    return LadybugStore(path, read_only=read_only, ontology=ontology, buffer_pool_mb=buffer_pool_mb)
