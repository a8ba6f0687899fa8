"""Listings, mentions and facts as Arrow tables and Parquet files: the columnar form of :mod:`skugraph.records`,
written by the extraction workers and read by fusion and the loader.

A Parquet output is a directory of part files (``part-000000.parquet`` …) as Ray, Spark and
DuckDB write and read them; the parts, read in name order, give the records in input order.

Fact columns: ``subject_label``, ``subject_key``, ``subject_name``, ``subject_kind``,
``subject_aliases`` (and the same five for ``object_``), ``predicate``, ``confidence``,
``provenance`` (a list of structs: listing_id, field, start, end, extractor, version, run) and
``properties`` (the edge properties as a JSON object, or null).

Listing columns: those of :class:`~skugraph.records.Listing`, ``reviews`` and ``redactions`` as
lists of structs, ``updated_at`` in UTC (:data:`LISTINGS`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skugraph.records import Entity, Fact, Listing, Mention, Provenance

PROVENANCE = pa.struct([("listing_id", pa.string()), ("field", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                        ("extractor", pa.string()), ("version", pa.string()), ("run", pa.string())])
_ENTITY_FIELDS = [("label", pa.string()), ("key", pa.string()), ("name", pa.string()), ("kind", pa.string()),
                  ("aliases", pa.list_(pa.string()))]
FACTS = pa.schema([*[(f"subject_{name}", kind) for name, kind in _ENTITY_FIELDS], ("predicate", pa.string()),
                   *[(f"object_{name}", kind) for name, kind in _ENTITY_FIELDS], ("confidence", pa.float64()),
                   ("provenance", pa.list_(PROVENANCE)), ("properties", pa.string())])
LISTINGS = pa.schema([("id", pa.string()), ("title", pa.string()), ("description", pa.string()),
                      ("reviews", pa.list_(pa.struct([("id", pa.string()), ("text", pa.string()), ("rating", pa.float64())]))),
                      ("category", pa.string()), ("price", pa.float64()), ("currency", pa.string()), ("source", pa.string()),
                      ("updated_at", pa.timestamp("us", "UTC")),
                      ("redactions", pa.list_(pa.struct([("field", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                                                          ("type", pa.string())]))),
                      ("stock", pa.int64()), ("sales", pa.int64()), ("sales_from", pa.date32()), ("sales_to", pa.date32()),
                      ("warehouse", pa.string())])
MENTIONS = pa.schema([("listing_id", pa.string()), ("field", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                      ("text", pa.string()), ("label", pa.string()), ("score", pa.float64()), ("extractor", pa.string())])


def is_parquet(path: Path) -> bool:
    """A Parquet output: a ``.parquet`` path, or a directory (of part files)."""
    return path.suffix.lower() in (".parquet", ".pq") or path.is_dir()


def facts_table(facts: Iterable[Fact]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in FACTS.names}
    for fact in facts:
        for side, entity in (("subject", fact.subject), ("object", fact.object)):
            columns[f"{side}_label"].append(entity.label)
            columns[f"{side}_key"].append(entity.key)
            columns[f"{side}_name"].append(entity.name)
            columns[f"{side}_kind"].append(entity.kind)
            columns[f"{side}_aliases"].append(list(entity.aliases))
        columns["predicate"].append(fact.predicate)
        columns["confidence"].append(fact.confidence)
        columns["provenance"].append([{**p.to_dict(), "run": p.run} for p in fact.provenance])
        columns["properties"].append(json.dumps(fact.properties, ensure_ascii=False) if fact.properties else None)
    return pa.table(columns, schema=FACTS)


def listings_table(listings: Iterable[Listing]) -> pa.Table:
    """Listings as a :data:`LISTINGS` table."""
    return pa.Table.from_pylist([{**listing.to_dict(), "updated_at": listing.updated_at, "sales_from": listing.sales_from,
                                  "sales_to": listing.sales_to} for listing in listings], schema=LISTINGS)


def mentions_table(mentions: Iterable[Mention]) -> pa.Table:
    return pa.Table.from_pylist([mention.to_dict() for mention in mentions], schema=MENTIONS)


def fact_from_row(row: dict) -> Fact:
    """One row of a facts table (as ``to_pylist`` gives it) → a Fact; a missing column or a
    wrong value raises ``KeyError``/``TypeError``/``ValueError``."""

    def entity(side: str) -> Entity:
        return Entity(row[f"{side}_label"], row[f"{side}_key"], row[f"{side}_name"], row[f"{side}_kind"] or "",
                      tuple(row[f"{side}_aliases"] or ()))

    properties = row["properties"]
    return Fact(entity("subject"), row["predicate"], entity("object"), float(row["confidence"]),
                tuple(Provenance(**p) for p in row["provenance"] or ()), dict(json.loads(properties)) if properties else {})


def part_files(path: Path) -> list[Path]:
    """The Parquet files of an output: the file itself, or a directory's ``*.parquet`` in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in (".parquet", ".pq"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or directory")
    return [path]


def read_rows(path: Path, batch_size: int = 4096) -> Iterator[tuple[Path, int, dict]]:
    """(file, row number from 1, row) over a Parquet file or directory of parts."""
    for file in part_files(path):
        number = 0
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                number += 1
                yield file, number, row


class PartWriter:
    """Writes one table's batches as part files of a directory, numbered in order; ``part``
    starts a new file (the local engine writes one part, Ray's write tasks one each)."""

    def __init__(self, directory: Path, schema: pa.Schema):
        self.directory = directory
        self.schema = schema
        clear_parts(directory)
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.part(0)
        assert self._writer is not None
        self._writer.write_table(table)

    def part(self, number: int) -> None:
        self.close()
        self._writer = pq.ParquetWriter(self.directory / part_name(number), self.schema)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def clear_parts(directory: Path) -> None:
    """Make ``directory`` (if need be) and remove an earlier run's part files from it."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("part-*.parquet"):
        stale.unlink()


def part_name(number: int) -> str:
    return f"part-{number:06d}.parquet"


@dataclass(frozen=True)
class LineBlock:
    """Whole lines of a JSONL file: ``data`` (a view of the bytes read), the number of its first
    line, and where each line ends in ``data``."""

    first: int
    data: memoryview
    ends: np.ndarray  # after each line's newline, or at the end of the data

    @property
    def count(self) -> int:
        """The lines it holds."""
        return len(self.ends)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], self.ends[:-1]]).astype(np.int64)

    def lines(self) -> list[tuple[int, bytes]]:
        """(number, raw line with its newline) of each line."""
        return [(self.first + i, bytes(self.data[a:b])) for i, (a, b) in enumerate(zip(self.starts.tolist(), self.ends.tolist(), strict=True))]

    def braced(self) -> bool:
        """Whether every line begins with ``{`` and ends with ``}``: then none is blank, none is a
        JSON value other than an object (Arrow's JSON reader crashes on a line ``null``), and no
        object spans two lines (``}`` then ``{`` is not JSON). Read as JSON, such a block holds
        one object a line if it gives as many records as it has lines (none holds two)."""
        if not self.count:
            return False
        data, starts = np.frombuffer(self.data, np.uint8), self.starts
        last = self.ends - 1
        last = last - (data[last] == 0x0A)  # before the newline
        last = last - ((data[last] == 0x0D) & (last > starts))  # and a carriage return
        return bool(np.all(data[starts] == 0x7B) and np.all(data[last] == 0x7D))


def valid_utf8(data: memoryview | bytes) -> bool:
    """Whether ``data`` is UTF-8 throughout (checked by Arrow, without a copy)."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def line_blocks(path: Path, rows: int, chunk: int = 1 << 24) -> Iterator[LineBlock]:
    """A file's lines in blocks of ``rows`` (the last one fewer), read ``chunk`` bytes at a time;
    each byte is scanned for newlines once."""
    first = 1
    pieces: list[bytes] = []  # read and not yet given, in order
    ends: list[np.ndarray] = []  # where their lines end, counted from the start of the first piece
    size = count = 0
    with path.open("rb") as handle:
        while True:
            more = handle.read(chunk)
            if more:
                pieces.append(more)
                ends.append(np.flatnonzero(np.frombuffer(more, np.uint8) == 0x0A) + 1 + size)
                size, count = size + len(more), count + len(ends[-1])
                if count < rows:
                    continue
            data, found = b"".join(pieces), np.concatenate(ends) if ends else np.empty(0, np.int64)
            if not more and len(data) and (not len(found) or found[-1] != len(data)):
                found = np.append(found, len(data))  # the last line, without a newline
            start = taken = 0
            view = memoryview(data)
            while len(found) - taken >= rows or (not more and taken < len(found)):
                block = found[taken : taken + rows]
                yield LineBlock(first, view[start : block[-1]], block - start)
                first, start, taken = first + len(block), int(block[-1]), taken + len(block)
            if not more:
                return
            pieces, ends = [data[start:]], [found[taken:] - start]
            size, count = len(pieces[0]), len(ends[0])


def to_ipc(table: pa.Table) -> bytes:
    """A table as Arrow IPC stream bytes (how a batch's results travel inside a Ray block)."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()
