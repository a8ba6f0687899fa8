"""The LadybugDB backend (embedded, Cypher): the default store.

Loading stages each table as a Parquet file, then a table with no rows yet is
filled by ``COPY`` (bulk, fast) and a table that has rows is upserted by
``LOAD FROM … MERGE`` keyed by id, so a reload never duplicates anything.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa
import pyarrow.parquet as pq

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.graph.schema import NODE_TABLES, SINGLE_OBJECT_RELATIONS, ddl, relation_tables
from skugraph.graph.store import GraphRows, GraphStore, LoadReport, QueryResult

_ARROW_TYPES = {
    "STRING": pa.string(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us"),
    "STRING[]": pa.list_(pa.string()),
    "INT64": pa.int64(),
    "BOOLEAN": pa.bool_(),
}


class StoreError(RuntimeError):
    """A query or load the database refused, with the database's own reason."""


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

    def export_query(self, cypher: str, path: Path) -> None:
        """Write a read query's result to a Parquet file (LadybugDB's ``COPY (…) TO``)."""
        self._run(f"COPY ({cypher}) TO {_quote_path(Path(path))}")

    def _count(self, cypher: str) -> int:
        return int(self.query(cypher).rows[0][0])

    def stats(self) -> dict[str, dict[str, int]]:
        nodes = {label: self._count(f"MATCH (n:{label}) RETURN count(n)") for label in NODE_TABLES}
        edges = {t.name: self._count(f"MATCH ()-[r:{t.name}]->() RETURN count(r)") for t in relation_tables(self.ontology)}
        return {"nodes": nodes, "edges": edges}

    def listing_times(self, ids: list[str]) -> dict[str, datetime | None]:
        result = self._conn.execute("MATCH (l:Listing) WHERE l.id IN $ids RETURN l.id, l.updated_at", {"ids": ids})
        return {listing: moment for listing, moment in result.get_all()}

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
            self._run("BEGIN TRANSACTION")
            try:
                for table, file, ends in staged:
                    if ends is None:
                        self._load_nodes(table, file, report)
                        report.nodes[table] = len(rows.nodes[table])
                    else:
                        self._load_edges(table, *ends, file, report)
                        report.edges[table] = report.edges.get(table, 0) + len(rows.edges[(table, *ends)])
            except BaseException:
                try:
                    self._conn.execute("ROLLBACK")
                except RuntimeError:  # the database already rolled the failed statement's transaction back
                    pass
                raise
            self._run("COMMIT")
            report.seconds = {"stage": storing - began, "store": time.perf_counter() - storing}
        return report

    def _load_nodes(self, label: str, file: Path, report: LoadReport) -> None:
        if self._count(f"MATCH (n:{label}) RETURN count(n)") == 0:
            self.copy(label, file)
            report.copied.append(label)
            return
        props = [name for name, _ in NODE_TABLES[label] if name != "id"]
        on_create = ", ".join(f"n.{p} = {p}" for p in props)
        on_match = ", ".join(
            f"n.{p} = list_distinct(list_concat(coalesce(n.{p}, []), {p}))" if p == "aliases" else f"n.{p} = coalesce({p}, n.{p})"
            for p in props
        )
        self._run(
            f"LOAD FROM {_quote_path(file)} MERGE (n:{label} {{id: id}}) "
            f"ON CREATE SET {on_create} ON MATCH SET {on_match}"
        )
        report.upserted.append(label)

    def _load_edges(self, relation: str, src: str, dst: str, file: Path, report: LoadReport) -> None:
        """An edge is keyed by its two ends: edges already there for the staged pairs are
        replaced (delete, then bulk copy; a relationship MERGE would hold the whole
        table in the buffer pool)."""
        name = f"{relation}({src}→{dst})"
        if relation in SINGLE_OBJECT_RELATIONS:  # the staged subjects' other edges of this relation go
            self._run(f"LOAD FROM {_quote_path(file)} MATCH (a:{src} {{id: src}})-[r:{relation}]->() DELETE r")
        if self._count(f"MATCH (:{src})-[r:{relation}]->(:{dst}) RETURN count(r)") > 0:
            self._run(
                f"LOAD FROM {_quote_path(file)} MATCH (a:{src} {{id: src}})-[r:{relation}]->(b:{dst} {{id: dst}}) DELETE r"
            )
            report.upserted.append(name)
        else:
            report.copied.append(name)
        self.copy(relation, file, (src, dst))

    def _run(self, statement: str) -> None:
        try:
            self._conn.execute(statement)
        except RuntimeError as error:
            raise StoreError(f"{error}\n  while running: {statement}") from None


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
