"""The LadybugDB backend (embedded, Cypher): the default store.

Loading stages each table as a Parquet file, then a table with no rows yet is
filled by ``COPY`` (bulk, fast) and a table that has rows is upserted by
``LOAD FROM … MERGE`` keyed by id, so a reload never duplicates anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa
import pyarrow.parquet as pq

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.graph.schema import (
    CHANGE,
    NODE_TABLES,
    SINGLE_OBJECT_RELATIONS,
    TRACKED_LISTING_PROPERTIES,
    ddl,
    relation_tables,
)
from skugraph.graph.store import (
    CALIBRATED_EXTRACTORS,
    CALIBRATED_VERSION,
    Confidences,
    GraphRows,
    GraphStore,
    LoadReport,
    QueryResult,
    StoreError,
)
from skugraph.records import LISTING

_ARROW_TYPES = {
    "STRING": pa.string(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us"),
    "STRING[]": pa.list_(pa.string()),
    "INT64": pa.int64(),
    "BOOLEAN": pa.bool_(),
}


def _arrow_table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str]]) -> pa.Table:
    rows = [{name: row.get(name) for name, _ in columns} for row in rows]
    schema = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in columns])
    return pa.Table.from_pylist(rows, schema=schema)


def _quote_path(path: Path) -> str:
    text = path.as_posix()
    if "'" in text or "\\" in text:
        raise StoreError(f"staging path {text!r} has a quote or backslash; set TMPDIR to a plain path")
    return f"'{text}'"


class LadybugStore(GraphStore):
    def __init__(self, path: str | Path, *, read_only: bool = False, ontology: Ontology | None = None):
        self.path = Path(path)
        self.ontology = ontology or load_ontology()
        self._edge_columns = {t.name: [("src", "STRING"), ("dst", "STRING"), *t.columns] for t in relation_tables(self.ontology)}
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
            for statement in ddl(self.ontology):
                self._conn.execute(statement)

    def _open(self, read_only: bool) -> ladybug.Database:
        """Open the database; a read-only open of one that a crash left mid-checkpoint first
        opens it for writing once, which completes the recovery (committed work is kept,
        the rest rolled back), as LadybugDB asks."""
        try:
            return ladybug.Database(str(self.path), read_only=read_only)
        except RuntimeError as error:
            if not (read_only and "recovery is pending" in str(error)):
                raise
        ladybug.Database(str(self.path)).close()
        return ladybug.Database(str(self.path), read_only=True)

    def close(self) -> None:
        self._conn.close()
        self._db.close()

    def query(self, cypher: str, parameters: Mapping[str, Any] | None = None, timeout: float | None = None) -> QueryResult:
        self._conn.set_query_timeout(int(timeout * 1000) if timeout else 0)
        try:
            result = self._conn.execute(cypher, dict(parameters or {}))
        except RuntimeError as error:
            raise StoreError(str(error)) from None
        finally:
            if timeout:
                self._conn.set_query_timeout(0)
        if isinstance(result, list):  # several statements: the last one answers
            result = result[-1]
        columns = result.get_column_names()
        rows = [[_plain(value) for value in row] for row in result.get_all()]
        return QueryResult(columns, rows)

    def export_query(self, cypher: str, path: Path, parameters: Mapping[str, Any] | None = None) -> None:
        """Write a read query's result to a Parquet file (LadybugDB's ``COPY (…) TO``)."""
        self._run(f"COPY ({cypher}) TO {_quote_path(Path(path))}", parameters)

    def _count(self, cypher: str) -> int:
        return int(self.query(cypher).rows[0][0])

    def stats(self) -> dict[str, dict[str, int]]:
        nodes = {label: self._count(f"MATCH (n:{label}) RETURN count(n)") for label in NODE_TABLES}
        edges = {t.name: self._count(f"MATCH ()-[r:{t.name}]->() RETURN count(r)") for t in relation_tables(self.ontology)}
        return {"nodes": nodes, "edges": edges}

    def confidences(self) -> dict[str, Confidences]:
        """Counted in the database: an edge's readings are the entries of its provenance JSON, and
        the calibrated ones those :data:`_CALIBRATED_READING` matches."""
        readings, calibrated = "size(regexp_extract_all(r.provenance, $reading))", "size(regexp_extract_all(r.provenance, $calibrated))"
        found: dict[str, Confidences] = {}
        for table in relation_tables(self.ontology):
            rows = self.query(f"MATCH ()-[r:{table.name}]->() WHERE r.confidence IS NOT NULL RETURN r.predicate, count(r), "
                              f"sum(r.confidence), sum(CASE WHEN {readings} > 0 AND {calibrated} = {readings} THEN 1 ELSE 0 END)",
                              {"reading": '"extractor": ', "calibrated": _CALIBRATED_READING}).rows
            for predicate, facts, total, good in rows:
                found[predicate] = found.get(predicate, Confidences()) + Confidences(int(facts), float(total), int(good))
        return found

    def listing_times(self, ids: list[str]) -> dict[str, datetime | None]:
        result = self._conn.execute("MATCH (l:Listing) WHERE l.id IN $ids RETURN l.id, l.updated_at", {"ids": ids})
        return {listing: moment for listing, moment in result.get_all()}

    def listing_runs(self, ids: list[str]) -> dict[str, list[str]]:
        with tempfile.TemporaryDirectory(prefix="skugraph-runs-") as staging:
            file = Path(staging) / "ids.parquet"
            pq.write_table(pa.table({"id": ids}, schema=pa.schema([("id", pa.string())])), file)
            rows = self.query(f"LOAD FROM {_quote_path(file)} MATCH (l:{LISTING} {{id: id}}) "  # by key: no scan
                              "WHERE size(coalesce(l.supports, [])) > 0 RETURN id, l.runs").rows
        return {listing: held or [] for listing, held in rows}

    def stage(self, rows: GraphRows, directory: Path) -> list[tuple[str, Path, tuple[str, str] | None]]:
        """Write each table of ``rows`` as a Parquet file in ``directory``: (table, file, and for
        an edge table its (from, to) node tables), nodes first."""
        staged: list[tuple[str, Path, tuple[str, str] | None]] = []
        for label, table in rows.nodes.items():
            file = directory / f"{label}.parquet"
            pq.write_table(_arrow_table(table.values(), NODE_TABLES[label]), file)
            staged.append((label, file, None))
        for (relation, src, dst), table in rows.edges.items():
            file = directory / f"{relation}-{src}-{dst}.parquet"
            pq.write_table(_arrow_table(table.values(), self._edge_columns[relation]), file)
            staged.append((relation, file, (src, dst)))
        return staged

    def copy(self, table: str, file: Path, ends: tuple[str, str] | None = None) -> None:
        """LadybugDB's own bulk ``COPY`` of a staged file into a table."""
        options = f" (from='{ends[0]}', to='{ends[1]}')" if ends else ""
        self._run(f"COPY {table} FROM {_quote_path(file)}{options}")

    def load_rows(self, rows: GraphRows) -> LoadReport:
        """Upsert one batch in one transaction: all of it lands, or none of it."""
        report = LoadReport()
        with tempfile.TemporaryDirectory(prefix="skugraph-stage-") as staging:
            began = time.perf_counter()
            staged = self.stage(rows, Path(staging))
            storing = time.perf_counter()
            with self._transaction():
                for table, file, ends in staged:
                    if ends is None:
                        versions = table == LISTING and rows.has_versions
                        if versions:
                            self._keep_changed_listing_values(file, Path(staging), report)
                        self._load_nodes(table, file, report, replace=versions)
                        report.nodes[table] = len(rows.nodes[table])
                    else:
                        self._load_edges(table, *ends, file, report, rows.reloaded)
                        report.edges[table] = report.edges.get(table, 0) + len(rows.edges[(table, *ends)])
            report.seconds = {"stage": storing - began, "store": time.perf_counter() - storing}
        return report

    def _load_nodes(self, label: str, file: Path, report: LoadReport, replace: bool = False) -> None:
        """Copy into an empty table, else merge by id. With ``replace`` (new versions of
        listings) the staged values replace the stored ones, supports and runs aside (they are
        settled after the facts); otherwise nodes gather values from every source: a value already
        there is kept, and aliases add up."""
        if self._count(f"MATCH (n:{label}) RETURN count(n)") == 0:
            self.copy(label, file)
            report.copied.append(label)
            return
        props = [name for name, _ in NODE_TABLES[label] if name != "id"]
        on_create = ", ".join(f"n.{p} = {p}" for p in props)
        if replace:
            on_match = ", ".join(f"n.{p} = {p}" for p in props if p not in ("supports", "runs"))
        else:
            on_match = ", ".join(
                f"n.{p} = list_distinct(list_concat(coalesce(n.{p}, []), {p}))" if p == "aliases" else f"n.{p} = coalesce({p}, n.{p})"
                for p in props
            )
        self._run(
            f"LOAD FROM {_quote_path(file)} MERGE (n:{label} {{id: id}}) "
            f"ON CREATE SET {on_create} ON MATCH SET {on_match}"
        )
        report.upserted.append(label)

    def _load_edges(self, relation: str, src: str, dst: str, file: Path, report: LoadReport, reloaded: frozenset[str]) -> None:
        """An edge is keyed by its two ends: edges already there for the staged pairs are
        replaced (delete, then bulk copy; a relationship MERGE would hold the whole table in
        the buffer pool). A replaced edge keeps its ``valid_from`` and the evidence of the
        listings not reloaded now."""
        name = f"{relation}({src}→{dst})"
        if relation in SINGLE_OBJECT_RELATIONS:  # the staged subjects' other edges of this relation go
            self._run(f"LOAD FROM {_quote_path(file)} MATCH (a:{src} {{id: src}})-[r:{relation}]->() DELETE r")
        if self._count(f"MATCH (:{src})-[r:{relation}]->(:{dst}) RETURN count(r)") > 0:
            match = _staged_edges(file, relation, src, dst)
            before = {(a, b): (provenance, since) for a, b, provenance, since in
                      self.query(f"{match} RETURN src, dst, r.provenance, r.valid_from").rows}
            if before:
                _merge_evidence(file, before, reloaded)
                self._run(f"{match} DELETE r")
            report.upserted.append(name)
        else:
            report.copied.append(name)
        self.copy(relation, file, (src, dst))

    def _keep_changed_listing_values(self, file: Path, staging: Path, report: LoadReport) -> None:
        """Before listings are replaced by their new versions: note which are new or differ
        from the stored ones (``report.versions``), and keep each tracked value that changes as
        a Change node (from the old version's time to the new one's)."""
        props = [name for name, _ in NODE_TABLES[LISTING] if name not in ("id", "supports", "runs")]
        both = ", ".join(f"n.{p}, {p}" for p in props)
        stored = self.query(f"LOAD FROM {_quote_path(file)} MATCH (n:{LISTING} {{id: id}}) RETURN id, {both}").rows
        report.versions |= set(pq.read_table(file, columns=["id"]).column("id").to_pylist()) - {row[0] for row in stored}
        changes = []
        now = datetime.now(UTC).replace(tzinfo=None)
        for listing, *values in stored:
            old = dict(zip(props, values[0::2], strict=True))
            new = dict(zip(props, values[1::2], strict=True))
            if old == new:
                continue
            report.versions.add(listing)
            for attribute in TRACKED_LISTING_PROPERTIES:
                if old[attribute] is not None and old[attribute] != new[attribute]:
                    changes.append(_change(f"{LISTING}:{listing}", attribute, str(old[attribute]), _time(old["updated_at"]),
                                           _time(new["updated_at"]) or now, [listing]))
        if changes:
            self._add_changes(changes, staging / "changes-listings.parquet", report)
            report.changed += len(changes)

    def _add_changes(self, changes: list[dict[str, Any]], file: Path, report: LoadReport) -> None:
        pq.write_table(_arrow_table(changes, NODE_TABLES[CHANGE]), file)
        self._load_nodes(CHANGE, file, report)

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
            before = self.query(f"LOAD FROM {_quote_path(ids_file)} MATCH (l:{LISTING} {{id: id}}) "
                                "WHERE l.supports IS NOT NULL RETURN id, l.supports").rows  # by key: no scan
            lost: dict[str, list[str]] = {}  # edge key → the listings that no longer support it
            for listing, keys in before:
                for key in set(keys) - supported[listing]:
                    lost.setdefault(key, []).append(listing)
            with self._transaction():
                retracted = self._retract(lost, times, now, Path(staging))
                schema = pa.schema([("id", pa.string()), ("supports", pa.list_(pa.string())), ("runs", pa.list_(pa.string()))])
                for name, keys, value in (("replace", supported, "{0}"), ("add", also, "list_sort(list_distinct(list_concat(coalesce(l.{0}, []), {0})))")):
                    if keys:
                        file = Path(staging) / f"supports-{name}.parquet"
                        pq.write_table(pa.table({"id": list(keys), "supports": [sorted(k) for k in keys.values()],
                                                 "runs": [sorted(runs.get(listing, ())) for listing in keys]}, schema=schema), file)
                        self._run(f"LOAD FROM {_quote_path(file)} MATCH (l:{LISTING} {{id: id}}) "
                                  f"SET l.supports = {value.format('supports')}, l.runs = {value.format('runs')}")
        return retracted

    def _retract(self, lost: dict[str, list[str]], times: dict[str, datetime | None], now: datetime,
                 staging: Path) -> dict[str, list[str]]:
        """Drop the evidence of the listings in ``lost`` from each edge; delete the edges left
        with none, keeping each as a Change node. Returns the deleted ones (key → listings)."""
        groups: dict[tuple[str, str, str], list[tuple[str, str, list[str], str]]] = {}
        for key, listings in lost.items():
            relation, src_label, src, dst_label, dst = key.split("\x1f")
            groups.setdefault((relation, src_label, dst_label), []).append((src, dst, listings, key))
        changes, deleted = [], {}
        report = LoadReport()
        for number, ((relation, src_label, dst_label), edges) in enumerate(groups.items()):
            pairs = staging / f"pairs-{number}.parquet"
            pq.write_table(pa.table({"src": [e[0] for e in edges], "dst": [e[1] for e in edges]}), pairs)
            found = {(a, b): (predicate, provenance, since, shown) for a, b, predicate, provenance, since, shown in self.query(
                f"{_staged_edges(pairs, relation, src_label, dst_label)} RETURN src, dst, r.predicate, r.provenance, r.valid_from, "
                f"{_shown('b', dst_label)}").rows}
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
            if keep:
                file = staging / f"keep-{number}.parquet"
                pq.write_table(pa.Table.from_pylist(keep), file)
                self._run(f"{_staged_edges(file, relation, src_label, dst_label)} SET r.provenance = provenance")
            if drop:
                file = staging / f"drop-{number}.parquet"
                pq.write_table(pa.Table.from_pylist(drop), file)
                self._run(f"{_staged_edges(file, relation, src_label, dst_label)} DELETE r")
        if changes:
            self._add_changes(changes, staging / "changes-edges.parquet", report)
        return deleted

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        self._run("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:  # the database already rolled the failed statement's transaction back
                pass
            raise
        self._run("COMMIT")

    def _run(self, statement: str, parameters: Mapping[str, Any] | None = None) -> None:
        try:
            self._conn.execute(statement, dict(parameters or {}))
        except RuntimeError as error:
            raise StoreError(f"{error}\n  while running: {statement}") from None


#: one reading in an edge's provenance JSON (``"extractor": "…", "version": "…"``, as ``json.dumps``
#: writes it) whose confidence is calibrated: from a calibrated extractor, or a version so marked
_CALIBRATED_READING = (f'"extractor": "(?:(?:{"|".join(map(re.escape, CALIBRATED_EXTRACTORS))})", "version": "[^"]*'
                       f'|[^"]*", "version": "[^"]*{re.escape(CALIBRATED_VERSION)})"')

#: the property that names a node of each label, for a Change's value
_NAMES = {"Value": "value", "Brand": "name", "Category": "name", "Aspect": "name", "Product": "title", "Listing": "title", "Review": "text"}


def _staged_edges(file: Path, relation: str, src: str, dst: str) -> str:
    """Cypher that matches the stored edges whose (src, dst) pairs a staged file lists, as ``r``."""
    return f"LOAD FROM {_quote_path(file)} MATCH (a:{src} {{id: src}})-[r:{relation}]->(b:{dst} {{id: dst}})"


def _shown(variable: str, label: str) -> str:
    return f"coalesce({variable}.{_NAMES[label]}, {variable}.id)" if label in _NAMES else f"{variable}.id"


def _time(value: Any) -> datetime | None:
    """A stored time (naive UTC) as a datetime, whatever form the driver gave."""
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


def _change(subject: str, attribute: str, value: str, since: datetime | None, until: datetime | None, sources: list[str]) -> dict:
    key = "\x1f".join((subject, attribute, value, str(since), str(until)))
    return {"id": hashlib.sha1(key.encode()).hexdigest(), "subject": subject, "attribute": attribute, "value": value,
            "valid_from": since, "valid_to": until, "sources": json.dumps(sources, ensure_ascii=False)}


def _merge_evidence(file: Path, before: dict[tuple[str, str], tuple[str | None, Any]], reloaded: frozenset[str]) -> None:
    """Rewrite a staged edge file: an edge already stored keeps its ``valid_from`` and the
    evidence of listings that are not being reloaded."""
    table = pq.read_table(file)
    rows = table.to_pylist()
    for row in rows:
        found = before.get((row["src"], row["dst"]))
        if found is None:
            continue
        provenance, since = found
        kept = [p for p in json.loads(provenance or "[]") if p.get("listing_id") not in reloaded]
        if kept:
            fresh = json.loads(row["provenance"])
            row["provenance"] = json.dumps(fresh + [p for p in kept if p not in fresh], ensure_ascii=False)
        if since is not None:
            row["valid_from"] = _time(since)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), file)


def _plain(value: Any) -> Any:
    """Database values as plain Python: times as ISO text, big integers as int, nodes and relationships as dicts."""
    if isinstance(value, Decimal):  # INT128 sums come back as Decimal
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
