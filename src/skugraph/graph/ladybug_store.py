"""The LadybugDB backend (embedded, Cypher): the default store.

Loading stages each table as a Parquet file, then a table with no rows yet is
filled by ``COPY`` (bulk, fast) and a table that has rows is upserted by
``LOAD FROM … MERGE`` keyed by id, so a reload never duplicates anything.
A load commits every :data:`CHUNK_ROWS` rows or so, so that what it holds in
memory (its rows, and the database's uncommitted pages) does not grow with the catalogue.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.graph.columnar import Stated, gathered_nodes, merge_stated
from skugraph.graph.schema import (
    CHANGE,
    LIST_COLUMNS_NOW_TEXT,
    NODE_TABLES,
    SINGLE_OBJECT_RELATIONS,
    TRACKED_LISTING_PROPERTIES,
    ddl,
    edge_key,
    relation_tables,
)
from skugraph.graph.store import (
    CALIBRATED_EXTRACTORS,
    BulkLoad,
    CALIBRATED_VERSION,
    Confidences,
    GraphStore,
    INFERRED,
    LoadReport,
    QueryResult,
    StoreError,
    TableBatch,
    rows_table,
)
from skugraph.records import COMPLETION, LISTING, Listing

#: rows (nodes and edges) a load writes in one transaction, about: past them it commits and goes on in a new one.
#: Each commit's checkpoint costs seconds that grow with the graph (3-8 s at 100k listings), and listings written
#: before the facts end get their supports in a second pass: a smaller chunk lowers a load's peak memory and
#: slows it (100k generated listings, about 1.1M rows: 35 s in one chunk, 48 s in two, 55 s in chunks of 100k rows)
CHUNK_ROWS = 2_000_000
#: rows of a relation table whose scan costs what one statement by key costs (about 0.2 ms against 0.2–0.8 µs a
#: row, LadybugDB 0.22 on 2 cores): a staged edge, and each of its subjects, is matched by key when all of
#: them by key cost less than the table's scan (LadybugDB matches a staged file's pairs by scanning the table)
KEYED_STATEMENT_ROWS = 200
#: with a buffer pool of a set size, one COPY takes rows of at most this share of it (as Arrow holds
#: them): copying a table LadybugDB holds a few times its rows' size in the pool (at 300,000 generated
#: listings, 620,000 HAS_VALUE rows, 185 MB in Arrow, fill a 1 GB pool; pieces of 200,000 fit)
COPY_SHARE_OF_POOL = 1 / 16
#: the environment variable that caps how large, in GiB (a power of two), an open graph may grow: each
#: open graph reserves that much address space, 8 TiB by default, so one process holds at most 15 at once
MAX_DB_GB = "SKUGRAPH_MAX_DB_GB"


def _release_freed_memory() -> None:
    """Memory freed but kept by Arrow's allocator and by C's (glibc's ``malloc_trim``) handed back
    to the system, for LadybugDB's pool to take (at 300,000 listings, 250-400 MB before a COPY)."""
    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def pieces_for_pool(file: Path, buffer_pool_mb: int) -> Iterator[Path]:
    """A staged Parquet ``file``'s rows in pieces a COPY into a pool of ``buffer_pool_mb`` fits
    (:data:`COPY_SHARE_OF_POOL`), each written beside it and removed once the next is asked for;
    ``file`` itself where its rows fit at once."""
    parquet = pq.ParquetFile(file)
    rows = parquet.metadata.num_rows
    size = sum(parquet.metadata.row_group(number).total_byte_size for number in range(parquet.metadata.num_row_groups))
    piece_rows = max(1, int((buffer_pool_mb << 20) * COPY_SHARE_OF_POOL * rows / max(size, 1)))
    if piece_rows >= rows:
        yield file
        return
    for number, batch in enumerate(parquet.iter_batches(batch_size=piece_rows)):
        piece = file.with_name(f"piece-{number}-{file.name}")
        pq.write_table(pa.Table.from_batches([batch]), piece)
        yield piece
        piece.unlink()


def _copy_statement(table: str, file: Path, ends: tuple[str, str] | None) -> str:
    return f"COPY {table} FROM {_quote_path(file)}" + (f" (from='{ends[0]}', to='{ends[1]}')" if ends else "")


def _quote_path(path: Path) -> str:
    text = path.as_posix()
    if "'" in text or "\\" in text:
        raise StoreError(f"staging path {text!r} has a quote or backslash; set TMPDIR to a plain path")
    return f"'{text}'"


@dataclass
class _Bulk:
    """What :meth:`LadybugStore.bulk` holds back until a chunk is full, or the block ends."""

    directory: Path
    tables: set[str]  # node labels and relation tables empty when it began: filled by COPY, a chunk at a time
    load: BulkLoad  # what the block yields
    nodes: dict[str, list[pa.Table]] = field(default_factory=dict)  # the chunk's node rows of those, batch by batch
    #: the chunk's edge rows of those, one file each
    writers: dict[tuple[str, str, str], pq.ParquetWriter] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], pa.Array] = field(default_factory=dict)  # "src\x1fdst" of the rows the block wrote
    rest: list[TableBatch] = field(default_factory=list)  # the rest of each batch of the chunk, upserted after its copies
    held: int = 0  # rows the chunk holds
    chunks: int = 0  # chunks written
    #: whether listings were written before their supports were known (a chunk filled before the
    #: facts ended): their supports and runs are set at the end
    listings_written: bool = False

    @property
    def chunk(self) -> Path:
        """Where the chunk's files go."""
        return self.directory / f"chunk-{self.chunks}"


class LadybugStore(GraphStore):
    def __init__(self, path: str | Path, *, read_only: bool = False, ontology: Ontology | None = None,
                 chunk_rows: int | None = None, buffer_pool_mb: int | None = None):
        self.path = Path(path)
        self.buffer_pool_mb = buffer_pool_mb  # LadybugDB's page cache; None: its default, 80% of the machine's memory
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self._bulk: _Bulk | None = None
        self._this_load: dict[str, Stated] = {}  # see load_tables
        self._in_transaction = False
        self._no_copy = False  # within transaction(): no COPY
        #: the tables (by their count query) seen holding rows: a load asks each table whether it is empty
        #: (an empty one is copied into), a statement a table that a small write pays over and over; one
        #: emptied since, or filled by a load rolled back, only takes the upsert, which is right for any table
        self._filled: dict[str, int] = {}  # … and the rows each held when first seen (what a statement by key is weighed against)
        self._written: int | None = None  # within load_tables: rows written since its last commit
        self._owns_db = True  # False for another connection's store (connection()): closing it leaves the database open
        self.ontology = ontology or load_ontology()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no graph database here; run `skugraph load` first")
        try:
            self._db = self._open(read_only)
        except RuntimeError as error:
            raise StoreError(f"{self.path}: cannot open the graph database: {error}") from None
        self._conn = ladybug.Connection(self._db)
        if not read_only:
            for label, columns in LIST_COLUMNS_NOW_TEXT.items():
                self._lists_to_text(label, columns)
            for statement in ddl(self.ontology):
                self._conn.execute(statement)

    def _lists_to_text(self, label: str, columns: list[str]) -> None:
        """Rewrite the list columns of a graph written before they became JSON text, keeping their values."""
        try:
            kinds = {name: kind for _, name, kind, *_ in self._conn.execute(f"CALL table_info('{label}') RETURN *").get_all()}
        except RuntimeError:  # a new graph: no such table yet
            return
        lists = [name for name in columns if kinds.get(name, "").endswith("[]")]
        if not lists:
            return
        rows = self._conn.execute(f"MATCH (n:{label}) RETURN n.id, {', '.join(f'n.{name}' for name in lists)}").get_all()
        with tempfile.TemporaryDirectory(prefix="skugraph-migrate-") as staging:
            file = Path(staging) / "values.parquet"
            pq.write_table(pa.table({"id": [row[0] for row in rows], **{
                name: [None if row[i] is None else json.dumps(row[i], ensure_ascii=False) for row in rows]
                for i, name in enumerate(lists, 1)}}, schema=pa.schema([("id", pa.string())] + [(n, pa.string()) for n in lists])), file)
            with self._transaction():
                for name in lists:
                    self._run(f"ALTER TABLE {label} DROP {name}")
                    self._run(f"ALTER TABLE {label} ADD {name} STRING")
                self._run(f"LOAD FROM {_quote_path(file)} MATCH (n:{label} {{id: id}}) "
                          f"SET {', '.join(f'n.{name} = {name}' for name in lists)}")

    def _open(self, read_only: bool) -> ladybug.Database:
        """Open the database; a read-only open of one that a crash left mid-checkpoint first
        opens it for writing once, which completes the recovery (committed work is kept,
        the rest rolled back), as LadybugDB asks."""
        sizes = {"buffer_pool_size": (self.buffer_pool_mb or 0) << 20}
        if os.environ.get(MAX_DB_GB):
            sizes["max_db_size"] = int(os.environ[MAX_DB_GB]) << 30
        try:
            return ladybug.Database(str(self.path), read_only=read_only, **sizes)
        except RuntimeError as error:
            if not (read_only and "recovery is pending" in str(error)):
                raise
        ladybug.Database(str(self.path), **sizes).close()
        return ladybug.Database(str(self.path), read_only=True, **sizes)

    def close(self) -> None:
        self._conn.close()
        if self._owns_db:
            self._db.close()

    def connection(self) -> LadybugStore:
        other = copy.copy(self)
        other._conn, other._owns_db = ladybug.Connection(self._db), False
        other._bulk, other._this_load, other._in_transaction, other._written, other._no_copy = None, {}, False, None, False
        return other

    def query(self, cypher: str, parameters: Mapping[str, Any] | None = None, timeout: float | None = None) -> QueryResult:
        self._conn.set_query_timeout(int(timeout * 1000) if timeout else 0)
        try:
            result = self._answer(cypher, parameters)
        finally:
            if timeout:
                self._conn.set_query_timeout(0)
        columns = result.get_column_names()
        rows = [[_plain(value) for value in row] for row in result.get_all()]
        return QueryResult(columns, rows)

    def columns(self, cypher: str, parameters: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """As Arrow (a quarter of the row-by-row fetch's time on 100,000 rows), converted to plain
        Python as :meth:`query` does where a column is not text, a number or a flag."""
        table = self._answer(cypher, parameters).get_as_arrow()
        return [column.to_pylist() if _plain_arrow(column.type) else [_from_arrow(v, column.type) for v in column.to_pylist()]
                for column in table.columns]

    def _answer(self, cypher: str, parameters: Mapping[str, Any] | None) -> ladybug.QueryResult:
        """The result of ``cypher`` (of its last statement where it has several); a failure as a StoreError."""
        try:
            result = self._conn.execute(cypher, dict(parameters or {}))
        except RuntimeError as error:
            raise StoreError(str(error)) from None
        return result[-1] if isinstance(result, list) else result

    def export_query(self, cypher: str, path: Path, parameters: Mapping[str, Any] | None = None) -> None:
        """Write a read query's result to a Parquet file (LadybugDB's ``COPY (…) TO``)."""
        self._run(f"COPY ({cypher}) TO {_quote_path(Path(path))}", parameters)

    def _count(self, cypher: str) -> int:
        return int(self.query(cypher).rows[0][0])

    def _empty(self, cypher: str) -> bool:
        """Whether the table that ``cypher`` counts is empty (known filled: not asked again)."""
        if cypher in self._filled:
            return False
        if count := self._count(cypher):
            self._filled[cypher] = count
            return False
        return True

    def stats(self) -> dict[str, dict[str, int]]:
        nodes = {label: self._count(f"MATCH (n:{label}) RETURN count(n)") for label in NODE_TABLES}
        edges = {t.name: self._count(f"MATCH ()-[r:{t.name}]->() RETURN count(r)") for t in relation_tables(self.ontology)}
        return {"nodes": nodes, "edges": edges}

    def confidences(self) -> dict[str, Confidences]:
        """Counted in the database: an edge's readings are the entries of its provenance JSON, and
        the calibrated ones those :data:`_CALIBRATED_READING` matches."""
        found: dict[str, Confidences] = {}
        for table in relation_tables(self.ontology):
            rows = self.query(f"MATCH ()-[r:{table.name}]->() WHERE r.confidence IS NOT NULL "
                              "WITH r, size(regexp_extract_all(r.provenance, $reading)) AS readings, "
                              "size(regexp_extract_all(r.provenance, $calibrated)) AS calibrated, "
                              "size(regexp_extract_all(r.provenance, $inferred)) AS inferred "
                              "RETURN r.predicate, readings > 0 AND inferred = readings, count(r), sum(r.confidence), "
                              "sum(CASE WHEN readings > 0 AND calibrated = readings THEN 1 ELSE 0 END)",
                              {"reading": '"extractor": ', "calibrated": _CALIBRATED_READING, "inferred": _INFERRED_READING}).rows
            for predicate, inferred, facts, total, good in rows:
                name = predicate + INFERRED if inferred else predicate
                found[name] = found.get(name, Confidences()) + Confidences(int(facts), float(total), int(good))
        return found

    def listing_times(self, ids: list[str]) -> dict[str, datetime | None]:
        result = self._conn.execute("UNWIND $ids AS id MATCH (l:Listing {id: id}) RETURN l.id, l.updated_at", {"ids": ids})  # by key
        return {listing: moment for listing, moment in result.get_all()}

    def listing_runs(self, ids: list[str]) -> dict[str, list[str]]:
        with tempfile.TemporaryDirectory(prefix="skugraph-runs-") as staging:
            file = Path(staging) / "ids.parquet"
            pq.write_table(pa.table({"id": ids}, schema=pa.schema([("id", pa.string())])), file)
            rows = self.query(f"LOAD FROM {_quote_path(file)} MATCH (l:{LISTING} {{id: id}}) "  # by key: no scan
                              "WHERE l.supports IS NOT NULL AND l.supports <> '[]' RETURN id, l.runs").rows
        return {listing: json.loads(held or "[]") for listing, held in rows}

    def stage(self, batch: TableBatch, directory: Path) -> list[tuple[str, Path, tuple[str, str] | None]]:
        """Write each table of ``batch`` as a Parquet file in ``directory``: (table, file, and for
        an edge table its (from, to) node tables), nodes first."""
        staged: list[tuple[str, Path, tuple[str, str] | None]] = []
        for label, table in batch.nodes.items():
            file = directory / f"{label}.parquet"
            pq.write_table(table, file)
            staged.append((label, file, None))
        for (relation, src, dst), table in batch.edges.items():
            file = directory / _edge_file(relation, src, dst)
            pq.write_table(table, file)
            staged.append((relation, file, (src, dst)))
        return staged

    def copy(self, table: str, file: Path, ends: tuple[str, str] | None = None) -> None:
        """LadybugDB's own bulk ``COPY`` of a staged file into a table; within :meth:`transaction`,
        a statement that creates the rows instead (see there)."""
        if self._no_copy:
            columns = pq.read_schema(file).names
            if ends:
                values = ", ".join(f"{name}: {name}" for name in columns if name not in ("src", "dst"))
                # two MATCH clauses, each by key: LadybugDB 0.22 plans the one pattern `(a {id: src}), (b {id: dst})`
                # as a join over both whole tables (on a graph of 20,000 products it fills any buffer pool)
                self._run(f"LOAD FROM {_quote_path(file)} MATCH (a:{ends[0]} {{id: src}}) MATCH (b:{ends[1]} {{id: dst}}) "
                          f"CREATE (a)-[:{table} {{{values}}}]->(b)")
            else:
                self._run(f"LOAD FROM {_quote_path(file)} CREATE (:{table} {{{', '.join(f'{name}: {name}' for name in columns)}}})")
            return
        pieces = pieces_for_pool(file, self.buffer_pool_mb) if self._commits_per_copy else (file,)
        for number, piece in enumerate(pieces):
            if number:  # LadybugDB 0.22 takes one COPY into a table per transaction (a third crashes it)
                self._commit()
            if self.buffer_pool_mb:
                _release_freed_memory()
            self._run(_copy_statement(table, piece, ends))
        if self._commits_per_copy:
            self._commit()

    @property
    def _commits_per_copy(self) -> bool:
        """Whether a COPY is committed alone, in pieces a capped pool takes: in a load with a capped
        pool (which may commit between them), not within a transaction that must stay whole."""
        return bool(self.buffer_pool_mb) and self._written is not None

    def copy_staged(self, staged: Iterable[tuple[str, Path, tuple[str, str] | None]]) -> None:
        """LadybugDB's ``COPY`` of each staged file and nothing else, each its own transaction,
        in pieces that a capped pool takes, as a load copies them."""
        for table, file, ends in staged:
            for piece in pieces_for_pool(file, self.buffer_pool_mb) if self.buffer_pool_mb else (file,):
                _release_freed_memory()
                self._run(_copy_statement(table, piece, ends))

    def load_tables(self, listings: Iterable[pa.Table], facts: Iterable[pa.Table], *, keep_previous: bool = False) -> LoadReport:
        """:meth:`GraphStore.load_tables` in one transaction while it has written fewer than
        ``chunk_rows`` rows (one commit, one checkpoint), else in one per chunk of about that many:
        a load killed mid-way leaves the graph as it was or with the chunks it committed, and
        loading again completes it (the graph a clean load gives). A load that gives a new
        version of a stored listing commits nothing from there to its end (loaded again, the
        version it committed would be the stored one, and the facts of the one before it
        would stay): an update is one transaction. Within a caller's :meth:`transaction` it
        commits nothing of its own: all of it is part of that one. Remembers, for each stored
        edge whose evidence from before the load it keeps beside the load's, the load's facts
        merged so far: a later batch that states the edge again merges with those (:func:`_merge_evidence`)."""
        self._this_load, self._written = {}, None if self._in_transaction else 0
        try:
            with self._transaction():
                report = super().load_tables(listings, facts, keep_previous=keep_previous)
                committing = time.perf_counter()
            report.seconds["store"] = report.seconds.get("store", 0.0) + time.perf_counter() - committing
            return report
        finally:
            self._this_load, self._written = {}, None

    def _wrote(self, rows: int) -> None:
        """Within :meth:`load_tables`: count rows written, and commit once a chunk's worth are."""
        if self._written is None:
            return
        self._written += rows
        if self._written >= self.chunk_rows:
            self._commit()

    def _commit(self) -> None:
        """Within :meth:`load_tables`: commit what it wrote so far and go on in a new transaction."""
        self._run("COMMIT")
        self._run("BEGIN TRANSACTION")
        self._written = 0

    def load_batch(self, batch: TableBatch) -> LoadReport:
        """Upsert one batch in one transaction (or as part of the caller's): all of it lands, or
        none of it. Within :meth:`bulk`, a batch of facts is held back to the end of its chunk
        instead, and so are listings new to the graph until a chunk is written."""
        bulk = self._bulk
        if bulk is not None and batch.has_versions and bulk.listings_written:  # stored as they come, supports at the end
            self._flush(bulk)
            listings = batch.nodes[LISTING]
            bulk.load.new_listings |= set(listings["id"].to_pylist())
            batch = TableBatch(batch.nodes | {LISTING: _no_supports(listings, listings["id"])}, batch.edges,
                               has_versions=True)
        elif bulk is not None and (not batch.has_versions or LISTING in bulk.tables):
            report = self._hold(batch, bulk)
            if bulk.held >= self.chunk_rows:
                self._flush(bulk)
            return report
        report = LoadReport()
        with tempfile.TemporaryDirectory(prefix="skugraph-stage-") as staging:
            began = time.perf_counter()
            with self._transaction():
                self._load_staged(batch, Path(staging), report)
            self._wrote(sum(t.num_rows for t in batch.nodes.values()) + sum(t.num_rows for t in batch.edges.values()))
            report.seconds = {"store": time.perf_counter() - began - report.seconds.get("stage", 0.0),
                              "stage": report.seconds.get("stage", 0.0)}
        return report

    def _load_staged(self, batch: TableBatch, staging: Path, report: LoadReport) -> None:
        """Upsert a batch within the caller's transaction, its tables staged in ``staging`` as the
        files :meth:`stage` writes: the node tables' first, an edge table's only where a statement
        reads it (a write that restates stored edges matches them by key and copies nothing)."""
        began = time.perf_counter()
        staged = self.stage(TableBatch(batch.nodes), staging)
        report.seconds["stage"] = report.seconds.get("stage", 0.0) + time.perf_counter() - began
        for table, file, _ in staged:
            versions = table == LISTING and batch.has_versions
            if versions:
                self._keep_changed_listing_values(file, batch.nodes[table]["id"], staging, report)
            self._load_nodes(table, file, batch.nodes[table], report, replace=versions)
            report.nodes[table] = report.nodes.get(table, 0) + batch.nodes[table].num_rows
        for (relation, src, dst), rows in batch.edges.items():
            self._load_edges(relation, src, dst, staging / _edge_file(relation, src, dst), report, batch)
            report.edges[relation] = report.edges.get(relation, 0) + rows.num_rows

    @contextmanager
    def bulk(self) -> Iterator[BulkLoad]:
        """Within the block, batches of facts are held back, and written a chunk at a time
        (once they hold ``chunk_rows`` rows, and at its end): every table that was empty when the
        block began gets the chunk's rows in one ``COPY`` (nodes gathered across the batches as
        the upserts would gather them, and merged by id with those of earlier chunks; an edge
        an earlier batch stated is upserted after the copy, as it would have been), then the
        rest of each batch is upserted in batch order. (LadybugDB copies into an empty table
        cheaply, but each commit of rows added to a filled one rewrites much of it.)
        Into an empty graph, the listings are held back too, and copied with the ``supports``
        and ``runs`` the load gives them (``BulkLoad.listing_supports``): nothing is written
        twice, unless a chunk is written before the facts end; then they are copied with it,
        those that come after are stored as they come, and all get their supports and runs at
        the end. The report yielded is filled at the end."""
        empty = {label for label in NODE_TABLES if self._empty(f"MATCH (n:{label}) RETURN count(n)")}
        empty |= {t.name for t in relation_tables(self.ontology) if t.name not in SINGLE_OBJECT_RELATIONS
                  and self._empty(f"MATCH ()-[r:{t.name}]->() RETURN count(r)")}
        with tempfile.TemporaryDirectory(prefix="skugraph-bulk-") as directory:
            self._bulk = _Bulk(Path(directory), empty, BulkLoad())
            try:
                yield self._bulk.load
            finally:
                bulk, self._bulk = self._bulk, None
                for writer in bulk.writers.values():
                    writer.close()
            self._finish(bulk)

    def _hold(self, batch: TableBatch, bulk: _Bulk) -> LoadReport:
        """Keep a batch for the end of :meth:`bulk`: rows of tables empty when it began are
        gathered (nodes) or written to one file per table (edges new to it); the rest is kept
        to be upserted in order."""
        report = LoadReport()
        began = time.perf_counter()
        rest = TableBatch(reloaded=batch.reloaded, restated=batch.restated, stated=batch.stated)
        if batch.has_versions:
            batch = self._hold_versions(batch, bulk, report)
        for label, table in batch.nodes.items():
            bulk.held += table.num_rows
            if label in bulk.tables:
                bulk.nodes.setdefault(label, []).append(table)
                report.nodes[label] = table.num_rows
            else:
                rest.nodes[label] = table
        for key, table in batch.edges.items():
            bulk.held += table.num_rows
            if key[0] not in bulk.tables:
                rest.edges[key] = table
                continue
            table = table.combine_chunks()
            pairs = pc.binary_join_element_wise(table["src"], table["dst"], "\x1f").combine_chunks()
            seen = bulk.seen.get(key)
            again = pc.is_in(pairs, value_set=seen) if seen is not None else pa.array([False] * table.num_rows)
            fresh = pc.invert(again)
            if key not in bulk.writers:
                bulk.chunk.mkdir(exist_ok=True)
                bulk.writers[key] = pq.ParquetWriter(bulk.chunk / f"{'-'.join(key)}.parquet", table.schema)
            bulk.writers[key].write_table(table.filter(fresh))
            written = pairs.filter(fresh)
            bulk.seen[key] = written if seen is None else pa.concat_arrays([seen, written])
            report.edges[key[0]] = report.edges.get(key[0], 0) + len(written)
            if len(written) < table.num_rows:
                rest.edges[key] = table.filter(again)
        if rest.nodes or rest.edges:
            bulk.rest.append(rest)
        report.seconds = {"stage": time.perf_counter() - began}
        return report

    def _hold_versions(self, batch: TableBatch, bulk: _Bulk, report: LoadReport) -> TableBatch:
        """Listings for a Listing table that was empty: every one is new, and a listing an
        earlier batch held is replaced, its changed values kept as Change nodes, as if that
        batch had been stored (see :meth:`_keep_changed_listing_values`)."""
        listings = batch.nodes[LISTING]
        ids = listings["id"]
        report.versions |= set(ids.to_pylist())
        bulk.load.new_listings |= report.versions
        held = bulk.nodes.get(LISTING, [])
        if not held:
            return batch
        old = pa.concat_tables(held)
        again = pc.is_in(old["id"], value_set=ids)
        if not pc.any(again).as_py():
            return batch
        bulk.nodes[LISTING] = [old.filter(pc.invert(again))]
        stored = {row["id"]: row for row in old.filter(again).to_pylist()}
        changes = _version_changes(stored, {row["id"]: row for row in listings.filter(pc.is_in(ids, value_set=old["id"])).to_pylist()})
        if changes:
            _count_changes(changes, report)
            return TableBatch(batch.nodes | {CHANGE: rows_table(changes, NODE_TABLES[CHANGE])}, batch.edges, has_versions=True)
        return batch

    def _node_file(self, label: str, tables: list[pa.Table], bulk: _Bulk, chunk: Path) -> tuple[Path, pa.Table]:
        """The held rows of one node table that :meth:`_flush` copies, gathered by id (listings
        with their supports and runs, or ``[]`` until the facts end), written as a Parquet file in
        ``chunk``: the file and its rows."""
        nodes = gathered_nodes(pa.concat_tables(tables))
        if label == LISTING:
            if bulk.load.listing_supports is not None:  # the facts have ended: all held, so few
                nodes = _with_supports(nodes, pa.concat_tables(bulk.load.listing_supports()))
            elif bulk.load.new_listings:
                nodes = _no_supports(nodes, pa.array(list(bulk.load.new_listings), pa.string()))
                bulk.listings_written = True
        file = chunk / f"{label}.parquet"
        pq.write_table(nodes, file)
        return file, nodes

    def _finish(self, bulk: _Bulk) -> None:
        """The last chunk (:meth:`_flush`); then, where listings were written before the facts
        ended, their supports and runs, a slice of listings a statement (those with none keep
        the ``[]`` they were written with)."""
        with self._transaction():
            self._flush(bulk)
            if not bulk.listings_written or bulk.load.listing_supports is None:
                return
            began = time.perf_counter()
            file = bulk.directory / "supports.parquet"
            for number, given in enumerate(bulk.load.listing_supports()):
                if number and self._commits_per_copy:
                    self._commit()  # a capped pool: LadybugDB 0.22 crashed (SIGSEGV) setting 300,000 listings' supports at once
                given = given.filter(pc.or_(pc.not_equal(given["supports"], "[]"), pc.not_equal(given["runs"], "[]")))
                pq.write_table(given, file)
                self._run(f"LOAD FROM {_quote_path(file)} MATCH (l:{LISTING} {{id: id}}) "
                          "SET l.supports = supports, l.runs = runs")
                self._wrote(given.num_rows)
            report = bulk.load.report
            report.seconds["store"] = report.seconds.get("store", 0.0) + time.perf_counter() - began

    def _flush(self, bulk: _Bulk) -> None:
        """Write the chunk held back, in the transaction open: the nodes (the copies, merged by id
        with those of earlier chunks, then the rest of each batch in order), then the edges likewise.
        Listings held back are written with their supports and runs where the facts have ended
        (``BulkLoad.listing_supports`` is set), else with none (``[]``) until the end; they are
        copied after the edges that do not end at a listing, while their rows are built."""
        if not bulk.held:
            return
        report = bulk.load.report
        began, staging = time.perf_counter(), report.seconds.get("stage", 0.0)
        for writer in bulk.writers.values():
            writer.close()
        chunk = bulk.chunk
        chunk.mkdir(exist_ok=True)
        # the rows of each copied node table are gathered by a second thread while this one copies the one before;
        # the listings (with their supports, the slowest to build) last, after the edges that do not end at one
        labels = sorted(bulk.nodes, key=lambda label: label == LISTING)
        with self._transaction(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="skugraph-flush") as pool:
            files = {label: pool.submit(self._node_file, label, bulk.nodes[label], bulk, chunk) for label in labels}
            for label in labels:
                if label != LISTING:
                    self._load_nodes(label, *files[label].result(), report=report)
            self._load_rest([TableBatch(nodes=rest.nodes) for rest in bulk.rest], chunk / "nodes", report)
            edges = sorted(bulk.writers, key=lambda key: LISTING in key[1:])
            for (relation, src, dst) in edges:
                if LISTING in files and LISTING in (src, dst):
                    self._load_nodes(LISTING, *files.pop(LISTING).result(), report=report)
                self.copy(relation, chunk / _edge_file(relation, src, dst), (src, dst))
                report.copied.append(f"{relation}({src}→{dst})")
            if LISTING in files:
                self._load_nodes(LISTING, *files.pop(LISTING).result(), report=report)
            self._load_rest([TableBatch(edges=rest.edges, reloaded=rest.reloaded, restated=rest.restated, stated=rest.stated)
                             for rest in bulk.rest],
                            chunk / "edges", report)
        shutil.rmtree(chunk)
        self._wrote(bulk.held)
        bulk.held, bulk.chunks, bulk.nodes, bulk.writers, bulk.rest = 0, bulk.chunks + 1, {}, {}, []
        report.seconds["store"] = (report.seconds.get("store", 0.0) + time.perf_counter() - began
                                   - (report.seconds.get("stage", 0.0) - staging))

    def _load_rest(self, batches: list[TableBatch], directory: Path, report: LoadReport) -> None:
        for number, batch in enumerate(batches):
            if batch.nodes or batch.edges:
                (directory / str(number)).mkdir(parents=True)
                self._load_staged(batch, directory / str(number), report)

    def _load_nodes(self, label: str, file: Path, staged: pa.Table, report: LoadReport, replace: bool = False) -> None:
        """Copy into an empty table; else copy the nodes new to it and merge by id the stored
        ones the batch changes (a stored node it leaves as it is is not written: rewriting it
        costs the commit's checkpoint as much as a new one). With ``replace`` (new versions of
        listings) the staged values replace the stored ones, supports and runs aside (they are
        settled after the facts); otherwise nodes gather values from every source: a new value
        replaces the stored one, a missing one keeps it, and aliases add up. ``staged``: the file's
        rows, as written (not read back)."""
        if self._empty(f"MATCH (n:{label}) RETURN count(n)"):
            self.copy(label, file)
            report.copied.append(label)
            return
        props = [name for name, _ in NODE_TABLES[label] if name != "id"]
        stored = {row[0]: row[1:] for row in self._conn.execute(
            f"LOAD FROM {_quote_path(file)} MATCH (n:{label} {{id: id}}) RETURN id, {', '.join(f'n.{p}' for p in props)}").get_all()}
        is_new = pc.invert(pc.is_in(staged["id"], value_set=pa.array(list(stored), pa.string())))
        if pc.any(is_new).as_py():
            new = file.with_name(f"new-{file.name}")
            pq.write_table(staged.filter(is_new), new)
            self.copy(label, new)
        kept = [name for name in props if not (replace and name in ("supports", "runs"))]
        changed: list[dict[str, Any]] = []
        columns: set[str] = set()  # only the columns some row changes are set: a column set is rewritten at checkpoint
        for row in staged.filter(pc.invert(is_new)).to_pylist():
            if differ := _changes(stored[row["id"]], props, row, kept, replace):
                changed.append(row)
                columns |= differ
        if changed:
            pq.write_table(pa.Table.from_pylist(changed, schema=staged.schema), file)
            if replace:
                values = [f"n.{p} = {p}" for p in kept if p in columns]
            else:
                values = [f"n.{p} = list_distinct(list_concat(coalesce(n.{p}, []), {p}))" if p == "aliases"
                          else f"n.{p} = coalesce({p}, n.{p})" for p in props if p in columns]
            self._run(f"LOAD FROM {_quote_path(file)} MATCH (n:{label} {{id: id}}) SET {', '.join(values)}")
        report.upserted.append(label)

    def _load_edges(self, relation: str, src: str, dst: str, file: Path, report: LoadReport, batch: TableBatch) -> None:
        """An edge is keyed by its two ends: an edge already there for a staged pair is updated
        in place (its properties set: a commit that deletes and copies edges of a filled table
        rewrites much of it, one that sets properties does not), the others are copied. An
        updated edge keeps its ``valid_from`` and the evidence of the listings the batch does not
        reload; one an earlier batch of this load stated merges with it (:func:`_merge_evidence`).
        A relation with one object per subject first drops the staged subjects' edges.
        LadybugDB matches a staged file's pairs by scanning the relation table, so a few pairs
        (a write's) are matched by key instead, a statement each (:meth:`_keyed`); by file,
        the statement that reads the stored edges also sets their time, and only other changes
        take a second one. ``file``: where the batch's rows of the table are written when a
        statement reads them."""
        name = f"{relation}({src}→{dst})"
        count = f"MATCH (:{src})-[r:{relation}]->(:{dst}) RETURN count(r)"
        staged = batch.edges[(relation, src, dst)]  # written to ``file`` where a statement reads it
        if self._empty(count):
            report.copied.append(name)
            pq.write_table(staged, file)
            self.copy(relation, file, (src, dst))
            return
        report.upserted.append(name)
        keyed = self._keyed(count, staged.num_rows, len(pc.unique(staged["src"])))
        if relation in SINGLE_OBJECT_RELATIONS:  # the staged subjects' other edges of this relation go (the one kept keeps its valid_from)
            if keyed:
                self._drop_other_objects(relation, src, dst, staged)
            else:
                pq.write_table(staged, file)
                self._run(f"LOAD FROM {_quote_path(file)} MATCH (a:{src} {{id: src}})-[r:{relation}]->(b) WHERE b.id <> dst DELETE r")
        columns = [name for name in staged.column_names if name not in ("src", "dst")]
        keys = pc.binary_join_element_wise(f"{relation}\x1f{src}", staged["src"], dst, staged["dst"], "\x1f")
        again = pc.is_in(keys, value_set=pa.array(list(batch.restated), pa.string()))
        if keyed:
            stored, held = self._stored_by_key(relation, src, dst, staged, again, columns)
        else:
            stored, held = self._stored_by_file(relation, src, dst, file, staged, again, columns), None
        if stored:
            keys = {pair: edge_key(relation, src, pair[0], dst, pair[1]) for pair in stored}
            rows = _merge_evidence(staged, stored, keys, batch, self._this_load).to_pylist()
            new = [row for row in rows if (row["src"], row["dst"]) not in stored]
            if held is not None:
                self._set_by_key(relation, src, dst, [row for row in rows if (row["src"], row["dst"]) in stored], held, columns)
            else:
                changed, differ = [], set()  # only what changes is set: a column set is rewritten at checkpoint
                for row in rows:
                    if (found := stored.get((row["src"], row["dst"]))) is not None:
                        if found_columns := {c for c in columns if not _same(row[c], found[c])}:
                            changed.append(row)
                            differ |= found_columns
                if changed:
                    updates = file.with_name(f"set-{file.name}")
                    pq.write_table(pa.Table.from_pylist(changed, schema=staged.schema), updates)
                    self._run(f"{_staged_edges(updates, relation, src, dst)} SET " + ", ".join(f"r.{c} = {c}" for c in columns if c in differ))
            staged = pa.Table.from_pylist(new, schema=staged.schema)
        if staged.num_rows:
            pq.write_table(staged, file)
            self.copy(relation, file, (src, dst))

    def _keyed(self, count: str, pairs: int, subjects: int) -> bool:
        """Whether matching ``pairs`` edges of ``subjects`` subjects by key (a statement per subject
        to read, one per pair to set) costs less than scanning their table, the filled table
        ``count`` counts (:data:`KEYED_STATEMENT_ROWS`)."""
        return (pairs + subjects) * KEYED_STATEMENT_ROWS <= self._filled[count]

    def _edges_from(self, relation: str, src: str, dst: str, subjects: Iterable[str], columns: list[str],
                    held: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Add to ``held`` every stored edge of ``relation`` from each of ``subjects``, by key: (src, dst) → its columns."""
        returned = ", ".join(["b.id", *(f"r.{c}" for c in columns)])
        for subject in subjects:
            for row in self._conn.execute(f"MATCH (a:{src} {{id: $id}})-[r:{relation}]->(b:{dst}) RETURN {returned}",
                                          {"id": subject}).get_all():
                held[(subject, row[0])] = dict(zip(columns, row[1:], strict=True))

    def _drop_other_objects(self, relation: str, src: str, dst: str, staged: pa.Table) -> None:
        """By key: delete each staged subject's stored edges to objects other than its staged one."""
        kept = dict(zip(staged["src"].to_pylist(), staged["dst"].to_pylist(), strict=True))
        held: dict[tuple[str, str], dict[str, Any]] = {}
        self._edges_from(relation, src, dst, sorted(kept), [], held)
        for subject, target in held:
            if target != kept[subject]:
                self._run(f"MATCH (a:{src} {{id: $src}})-[r:{relation}]->(b:{dst} {{id: $dst}}) DELETE r", {"src": subject, "dst": target})

    def _stored_by_key(self, relation: str, src: str, dst: str, staged: pa.Table, again: pa.Array, columns: list[str]
                       ) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
        """The stored edges of ``staged``'s pairs read by key: (as :meth:`_stored_by_file` gives them,
        those no earlier batch stated with the staged time, the columns as stored)."""
        held: dict[tuple[str, str], dict[str, Any]] = {}
        self._edges_from(relation, src, dst, sorted(set(staged["src"].to_pylist())), columns, held)
        stored = {}
        for pair, restated, time_ in zip(zip(staged["src"].to_pylist(), staged["dst"].to_pylist(), strict=True),
                                         again.to_pylist(), staged["updated_at"].to_pylist(), strict=True):
            if pair in held:
                stored[pair] = held[pair] if restated else held[pair] | {"updated_at": time_}
        return stored, held

    def _stored_by_file(self, relation: str, src: str, dst: str, file: Path, staged: pa.Table, again: pa.Array,
                        columns: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored edges of ``staged``'s pairs, read by one statement over a staged file for
        those no earlier batch stated (which also sets their time to the staged one) and one for
        the others: (src, dst) → its columns."""
        returned = f"RETURN src, dst, {', '.join(f'r.{c}' for c in columns)}"
        stored = {}
        for restated, part in ((False, staged.filter(pc.invert(again))), (True, staged.filter(again))):
            if not part.num_rows:
                continue
            # an edge no earlier batch of the load stated takes the staged time whatever its merge: set in the same pass
            part_file = file.with_name(f"{'again' if restated else 'plain'}-{file.name}")
            pq.write_table(part, part_file)
            stamp = "" if restated else "SET r.updated_at = updated_at "
            stored |= {(row[0], row[1]): dict(zip(columns, row[2:], strict=True)) for row in self._conn.execute(
                f"{_staged_edges(part_file, relation, src, dst)} {stamp}{returned}").get_all()}
        return stored

    def _set_by_key(self, relation: str, src: str, dst: str, rows: list[dict[str, Any]], held: dict[tuple[str, str], dict[str, Any]],
                    columns: list[str]) -> None:
        """By key: set on each stored edge of ``rows`` the columns whose value differs from what
        it ``held`` before the load."""
        for row in rows:
            if differ := [c for c in columns if not _same(row[c], held[(row["src"], row["dst"])][c])]:
                self._run(f"MATCH (a:{src} {{id: $src}})-[r:{relation}]->(b:{dst} {{id: $dst}}) SET "
                          + ", ".join(f"r.{c} = ${c}" for c in differ), {"src": row["src"], "dst": row["dst"]} | {c: row[c] for c in differ})

    def _keep_changed_listing_values(self, file: Path, ids: pa.ChunkedArray, staging: Path, report: LoadReport) -> None:
        """Before listings are replaced by their new versions: note which are new or differ
        from the stored ones (``report.versions``), and keep each tracked value that changes as
        a Change node (from the old version's time to the new one's)."""
        both = ", ".join(f"n.{p}, {p}" for p in _VERSIONED)
        stored = self.query(f"LOAD FROM {_quote_path(file)} MATCH (n:{LISTING} {{id: id}}) RETURN id, {both}").rows
        report.versions |= set(ids.to_pylist()) - {row[0] for row in stored}
        old = {listing: dict(zip(_VERSIONED, values[0::2], strict=True)) for listing, *values in stored}
        new = {listing: dict(zip(_VERSIONED, values[1::2], strict=True)) for listing, *values in stored}
        changes = _version_changes(old, new)
        replaced = {listing for listing in old if _versioned(old[listing]) != _versioned(new[listing])}
        report.versions |= replaced
        if replaced:  # committed before its facts, a new version would read as the stored one to a load run again
            self._written = None  # so the load commits no more until it ends (see load_tables)
        if changes:
            self._add_changes(changes, staging / "changes-listings.parquet", report)
            _count_changes(changes, report)

    def _add_changes(self, changes: list[dict[str, Any]], file: Path, report: LoadReport) -> None:
        rows = rows_table(changes, NODE_TABLES[CHANGE])
        pq.write_table(rows, file)
        self._load_nodes(CHANGE, file, rows, report)

    def retract_unsupported(self, supported: dict[str, set[str]], times: dict[str, datetime | None], now: datetime,
                            also: dict[str, set[str]] | None = None,
                            runs: dict[str, set[str]] | None = None) -> dict[str, list[str]]:
        also = {listing: keys for listing, keys in (also or {}).items() if listing not in supported}
        runs = runs or {}
        if not supported and not also:
            return {}
        with tempfile.TemporaryDirectory(prefix="skugraph-retract-") as staging:
            ids_file = Path(staging) / "ids.parquet"
            pq.write_table(pa.table({"id": sorted(supported)}, schema=pa.schema([("id", pa.string())])), ids_file)
            held = {listing: (keys, stored_runs) for listing, keys, stored_runs in self.query(  # by key: no scan
                f"LOAD FROM {_quote_path(ids_file)} MATCH (l:{LISTING} {{id: id}}) RETURN id, l.supports, l.runs").rows}
            lost: dict[str, list[str]] = {}  # edge key → the listings that no longer support it
            for listing, (keys, _) in held.items():
                for key in set(json.loads(keys or "[]")) - supported[listing]:
                    lost.setdefault(key, []).append(listing)
            written = {listing: (keys, runs.get(listing, set())) for listing, keys in supported.items()}
            if also:  # their stored supports and runs gain these
                pq.write_table(pa.table({"id": list(also)}, schema=pa.schema([("id", pa.string())])), ids_file)
                for listing, keys, stored_runs in self.query(f"LOAD FROM {_quote_path(ids_file)} MATCH (l:{LISTING} {{id: id}}) "
                                                             "RETURN id, l.supports, l.runs").rows:
                    held[listing] = (keys, stored_runs)
                    written[listing] = (also[listing] | set(json.loads(keys or "[]")), runs.get(listing, set()) | set(json.loads(stored_runs or "[]")))
            with self._transaction():
                retracted = self._retract(lost, times, now, Path(staging))
                texts = {listing: (json.dumps(sorted(keys), ensure_ascii=False), json.dumps(sorted(named), ensure_ascii=False))
                         for listing, (keys, named) in written.items()}
                texts = {listing: text for listing, text in texts.items() if held.get(listing) != text}  # only what changes is written
                if texts:
                    file = Path(staging) / "supports.parquet"
                    pq.write_table(pa.table({"id": list(texts), "supports": [keys for keys, _ in texts.values()],
                                             "runs": [named for _, named in texts.values()]},
                                            schema=pa.schema([("id", pa.string()), ("supports", pa.string()), ("runs", pa.string())])), file)
                    self._run(f"LOAD FROM {_quote_path(file)} MATCH (l:{LISTING} {{id: id}}) SET l.supports = supports, l.runs = runs")
        return retracted

    def _retract(self, lost: dict[str, list[str]], times: dict[str, datetime | None], now: datetime,
                 staging: Path) -> dict[str, list[str]]:
        """Drop the evidence of the listings in ``lost`` from each edge; delete the edges left
        with none, keeping each as a Change node. Returns the deleted ones (key → listings). A
        table's few edges (a write's) are read and changed by key, the rest by staged file (as
        :meth:`_load_edges` chooses)."""
        groups: dict[tuple[str, str, str], list[tuple[str, str, list[str], str]]] = {}
        for key, listings in lost.items():
            relation, src_label, src, dst_label, dst = key.split("\x1f")
            groups.setdefault((relation, src_label, dst_label), []).append((src, dst, listings, key))
        changes, deleted = [], {}
        report = LoadReport()
        for number, ((relation, src_label, dst_label), edges) in enumerate(groups.items()):
            count = f"MATCH (:{src_label})-[r:{relation}]->(:{dst_label}) RETURN count(r)"
            if self._empty(count):
                continue
            keyed = self._keyed(count, len(edges), len({e[0] for e in edges}))
            returned = f"r.predicate, r.provenance, r.valid_from, {_shown('b', dst_label)}"
            if keyed:  # a statement per subject (LadybugDB scans the table to match a staged file's pairs)
                wanted = {(e[0], e[1]) for e in edges}
                found = {(subject, row[0]): tuple(row[1:]) for subject in sorted({e[0] for e in edges})
                         for row in self._conn.execute(f"MATCH (a:{src_label} {{id: $id}})-[r:{relation}]->(b:{dst_label}) "
                                                       f"RETURN b.id, {returned}", {"id": subject}).get_all()
                         if (subject, row[0]) in wanted}
            else:
                pairs = staging / f"pairs-{number}.parquet"
                pq.write_table(pa.table({"src": [e[0] for e in edges], "dst": [e[1] for e in edges]}), pairs)
                found = {(row[0], row[1]): tuple(row[2:]) for row in self.query(
                    f"{_staged_edges(pairs, relation, src_label, dst_label)} RETURN src, dst, {returned}").rows}
            keep, drop = [], []
            for src, dst, listings, key in edges:
                if (src, dst) not in found:
                    continue
                predicate, provenance, since, shown = found[(src, dst)]
                evidence = json.loads(provenance or "[]")
                left = [p for p in evidence if p.get("listing_id") not in listings]
                if left:
                    keep.append({"src": src, "dst": dst, "provenance": json.dumps(left, ensure_ascii=False)})
                    continue
                drop.append({"src": src, "dst": dst})
                deleted[key] = listings
                ended = max((t for t in (times.get(listing) for listing in listings) if t is not None), default=now)
                changes.append(_change(f"{src_label}:{src}", predicate, shown, _time(since), ended,
                                       sorted({p.get("listing_id") for p in evidence})))
            one = f"MATCH (a:{src_label} {{id: $src}})-[r:{relation}]->(b:{dst_label} {{id: $dst}})"
            for rows, name, by_key, by_file in ((keep, "keep", "SET r.provenance = $provenance", "SET r.provenance = provenance"),
                                                (drop, "drop", "DELETE r", "DELETE r")):
                if rows and keyed:
                    for row in rows:
                        self._run(f"{one} {by_key}", row)
                elif rows:
                    file = staging / f"{name}-{number}.parquet"
                    pq.write_table(pa.Table.from_pylist(rows), file)
                    self._run(f"{_staged_edges(file, relation, src_label, dst_label)} {by_file}")
        if changes:
            self._add_changes(changes, staging / "changes-edges.parquet", report)
        return deleted

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """:meth:`GraphStore.transaction`. Within it rows are created by statements, not
        ``COPY``: LadybugDB 0.22 cannot replay a write-ahead log in which rows that a ``COPY``
        appended are then updated (the next open segfaults), and a ``COPY`` makes its commit
        checkpoint, which a killed process leaves half done: replayed at the next open, the
        same way. A commit without one only appends to the log."""
        no_copy, self._no_copy = self._no_copy, True
        try:
            with self._transaction():
                yield
        finally:
            self._no_copy = no_copy

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back when it raises; within
        another, part of it."""
        if self._in_transaction:
            yield
            return
        self._run("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:  # the database already rolled the failed statement's transaction back
                pass
            raise
        finally:
            self._in_transaction = False
        self._run("COMMIT")

    def _run(self, statement: str, parameters: Mapping[str, Any] | None = None) -> None:
        try:
            self._conn.execute(statement, dict(parameters or {}))
        except RuntimeError as error:
            if "buffer pool is full" in str(error) and self.buffer_pool_mb:
                raise StoreError(f"{self.path}: LadybugDB's page cache of {self.buffer_pool_mb} MB is too small for this "
                                 "(a larger --buffer-pool-mb, or none for LadybugDB's default; a load cut short is "
                                 f"completed by loading again)\n  {error}\n  while running: {statement}") from None
            raise StoreError(f"{error}\n  while running: {statement}") from None


#: one reading in an edge's provenance JSON (as ``json.dumps`` writes it) by KG completion
_INFERRED_READING = f'"extractor": "{COMPLETION}"'
#: one reading in an edge's provenance JSON (``"extractor": "…", "version": "…"``, as ``json.dumps``
#: writes it) whose confidence is calibrated: from a calibrated extractor, or a version so marked
_CALIBRATED_READING = (f'"extractor": "(?:(?:{"|".join(map(re.escape, CALIBRATED_EXTRACTORS))})", "version": "[^"]*'
                       f'|[^"]*", "version": "[^"]*{re.escape(CALIBRATED_VERSION)})"')

#: the property that names a node of each label, for a Change's value
_NAMES = {"Value": "value", "Brand": "name", "Category": "name", "Aspect": "name", "Product": "title", "Listing": "title", "Review": "text"}


def _edge_file(relation: str, src: str, dst: str) -> str:
    """The name of an edge table's staged file."""
    return f"{relation}-{src}-{dst}.parquet"


def _staged_edges(file: Path, relation: str, src: str, dst: str) -> str:
    """Cypher that matches the stored edges whose (src, dst) pairs a staged file lists, as ``r``:
    both ends by key first, then the edge between them (LadybugDB 0.22 plans the one pattern
    ``(a {id: src})-[r]->(b {id: dst})`` as a scan of the whole relation table)."""
    return (f"LOAD FROM {_quote_path(file)} MATCH (a:{src} {{id: src}}) MATCH (b:{dst} {{id: dst}}) "
            f"MATCH (a)-[r:{relation}]->(b)")


def _shown(variable: str, label: str) -> str:
    return f"coalesce({variable}.{_NAMES[label]}, {variable}.id)" if label in _NAMES else f"{variable}.id"


def _time(value: Any) -> datetime | None:
    """A stored time (naive UTC) as a datetime, whatever form the driver gave."""
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


#: the listing properties a new version is compared on
_VERSIONED = [name for name, _ in NODE_TABLES[LISTING] if name not in ("id", "supports", "runs")]


def _versioned(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in _VERSIONED}


def _version_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[dict]:
    """Change nodes for the tracked values (:data:`TRACKED_LISTING_PROPERTIES`) that the new
    version of each listing of ``old`` (id → its stored row) changes (``new``: id → the new row):
    from the old version's time to the new one's (else now)."""
    changes = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for listing, before in old.items():
        after = new[listing]
        if _versioned(before) == _versioned(after):
            continue
        for attribute in TRACKED_LISTING_PROPERTIES:
            if before[attribute] is not None and before[attribute] != after[attribute]:
                changes.append(_change(f"{LISTING}:{listing}", attribute, str(before[attribute]), _time(before["updated_at"]),
                                       _time(after["updated_at"]) or now, [listing]))
    return changes


def _no_supports(nodes: pa.Table, ids: pa.Array) -> pa.Table:
    """Listing nodes, those of ``ids`` with no ``supports`` and ``runs`` (``[]``) where they have none."""
    given = pc.is_in(nodes["id"], value_set=ids)
    for name in ("supports", "runs"):
        index = nodes.schema.get_field_index(name)
        column = pc.if_else(pc.and_(given, pc.is_null(nodes[name])), pa.scalar("[]", pa.string()), nodes[name])
        nodes = nodes.set_column(index, nodes.schema.field(name), column)
    return nodes


def _with_supports(nodes: pa.Table, supports: pa.Table) -> pa.Table:
    """Listing nodes with the ``supports`` and ``runs`` that ``supports`` (``id``, ``supports``,
    ``runs``) gives those it names."""
    found = pc.index_in(nodes["id"], value_set=supports["id"])
    for name in ("supports", "runs"):
        given = pc.take(supports[name], found)
        nodes = nodes.set_column(nodes.schema.get_field_index(name), nodes.schema.field(name),
                                 pc.if_else(pc.is_null(found), nodes[name], given))
    return nodes


def _count_changes(changes: list[dict], report: LoadReport) -> None:
    """Add the listing-value changes to ``report``: in all, and per listing (each has one source)."""
    report.changed += len(changes)
    for change in changes:
        for listing in json.loads(change["sources"]):
            report.changed_by[listing] = report.changed_by.get(listing, 0) + 1


def _change(subject: str, attribute: str, value: str, since: datetime | None, until: datetime | None, sources: list[str]) -> dict:
    key = "\x1f".join((subject, attribute, value, str(since), str(until)))
    return {"id": hashlib.sha1(key.encode()).hexdigest(), "subject": subject, "attribute": attribute, "value": value,
            "valid_from": since, "valid_to": until, "sources": json.dumps(sources, ensure_ascii=False)}


def _changes(stored: list[Any], props: list[str], staged: dict[str, Any], kept: list[str], replace: bool) -> set[str]:
    """The columns of a stored node that upserting a staged row would change (see ``_load_nodes``)."""
    held = dict(zip(props, stored, strict=True))
    changed = set()
    for name in kept:
        value, old = staged[name], held[name]
        if name == "aliases" and not replace:
            if not set(value or ()) <= set(old or ()):
                changed.add(name)
        elif value is None and not replace:
            continue  # the stored value stays
        elif not _same(value, old):
            changed.add(name)
    return changed


def _same(value: Any, old: Any) -> bool:
    """Whether a staged value is the stored one (times compared as naive UTC)."""
    if isinstance(value, datetime) or isinstance(old, datetime):
        return _time(value) == _time(old)
    return value == old


def _merge_evidence(staged: pa.Table, stored: dict[tuple[str, str], dict[str, Any]], keys: dict[tuple[str, str], str],
                    batch: TableBatch, this_load: dict[str, Stated]) -> pa.Table:
    """Staged edge rows of ``batch`` merged with the edges already ``stored`` (``keys``: their
    edge keys). An edge keeps its ``valid_from``; its confidence and first provenance are the
    load's facts', and the evidence from before the load of listings the batch does not reload
    follows. An edge an earlier batch of this load stated merges the batch's facts (its row, or
    ``batch.stated``) into the load's facts of it so far (``this_load``, else the stored row) as
    the facts of one batch merge (:func:`skugraph.graph.columnar.merge_stated`), and stays as
    it is where they add nothing. ``this_load`` gains the load's facts of each edge that keeps
    evidence from before it."""
    rows = staged.to_pylist()
    for row in rows:
        pair = (row["src"], row["dst"])
        found = stored.get(pair)
        if found is None:
            continue
        key, held, since = keys[pair], json.loads(found["provenance"] or "[]"), found["valid_from"]
        if key in batch.restated:
            score, places = this_load.get(key, (found["confidence"], held))
            earlier = [p for p in held if p not in places]  # evidence from before the load
            before = [p for p in earlier if p.get("listing_id") not in batch.reloaded]
            facts = batch.stated.get(key) or [(row["confidence"], json.loads(row["provenance"]))]
            score, places, added = merge_stated(score, places, facts)
            if added or len(before) < len(earlier):
                before = [p for p in before if p not in places]
                row["confidence"], row["provenance"] = score, json.dumps(places + before, ensure_ascii=False)
            else:
                row.update(found)
            row["updated_at"] = max(_time(found["updated_at"]), _time(row["updated_at"]))
        else:
            fresh = json.loads(row["provenance"])
            before = [p for p in held if p.get("listing_id") not in batch.reloaded and p not in fresh]
            score, places = row["confidence"], fresh
            if before:
                row["provenance"] = json.dumps(fresh + before, ensure_ascii=False)
        if before:
            this_load[key] = (score, places)
        if since is not None:
            row["valid_from"] = _time(since)
    return pa.Table.from_pylist(rows, schema=staged.schema)


#: the types a database value already has as plain Python (most of them: checked first)
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _plain_arrow(kind: pa.DataType) -> bool:
    """Whether an Arrow column of this type gives plain Python as it is (no :func:`_plain` needed)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind) or pa.types.is_floating(kind) \
        or pa.types.is_integer(kind) or pa.types.is_null(kind)


def _from_arrow(value: Any, kind: pa.DataType) -> Any:
    """An Arrow column's value (as ``to_pylist`` gives it) as :func:`_plain` gives the row fetch's:
    a MAP, which Arrow gives as (key, value) pairs, as a dict, within lists and structs too."""
    if value is None:
        return None
    if pa.types.is_map(kind):
        return {_from_arrow(key, kind.key_type): _from_arrow(item, kind.item_type) for key, item in value if not _internal(key)}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return [_from_arrow(item, kind.value_type) for item in value]
    if pa.types.is_struct(kind):
        return {field.name: _from_arrow(value[field.name], field.type) for field in kind if not _internal(field.name)}
    return _plain(value)


def _internal(key: Any) -> bool:
    """Whether a dict key is a node's or relationship's own (``_id``, ``_label`` …), left out of plain values."""
    return isinstance(key, str) and key.startswith("_")


def _plain(value: Any) -> Any:
    """Database values as plain Python: times as ISO text, big integers as int, nodes and relationships as dicts."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, Decimal):  # INT128 sums come back as Decimal
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if not _internal(k)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
