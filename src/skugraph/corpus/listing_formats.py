"""Listing files by format: the format from the suffix, and a raw reader per format (JSONL,
CSV/TSV, Parquet) that yields each record as a dict, or the reason it cannot be read, named by
its line (or row). A whole file that cannot be read as listings raises
:class:`UnreadableFileError`."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from skugraph.corpus.listing_fields import FieldError, Limits

FORMATS = ("jsonl", "csv", "parquet")
#: listing file suffixes and their formats
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def detect_format(path: Path) -> str:
    """Format from the file suffix: .jsonl/.json/.ndjson, .csv/.tsv, .parquet/.pq."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: cannot tell the format from suffix {suffix!r}; pass --format {'|'.join(FORMATS)}")
    return SUFFIXES[suffix]


class _Utf8Lines:
    """Lines of a file decoded one at a time, so one line of bad bytes spoils only itself;
    ``bad`` holds the numbers of the lines that were not valid UTF-8."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.bad: set[int] = set()
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.number += 1
            line, bad = _decoded(self.number, raw)
            if bad:
                self.bad.add(self.number)
            yield line


def _decoded(number: int, raw: bytes) -> tuple[str, bool]:
    """Line ``number`` (from 1; the first may open with a byte order mark) as text, and whether
    it was not UTF-8 (then its bad bytes are replaced)."""
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def _raw_jsonl(path: Path, limits: Limits) -> Iterator[tuple[str, dict[str, Any] | None, str, str]]:
    """Yield (where, record or None, error reason, raw text) for each non-blank line."""
    with path.open("rb") as handle:
        check_text(path, handle.peek(8192)[:8192], "JSONL", refuse_nul=False)  # a NUL spoils only its own line
        yield from jsonl_records(enumerate(handle, 1), limits)


def jsonl_records(lines: Iterable[tuple[int, bytes]], limits: Limits) -> Iterator[tuple[str, dict[str, Any] | None, str, str]]:
    """(where, record or None, error reason, raw text) of each non-blank line of (number from 1, raw bytes)."""
    for number, raw in lines:
        line, bad = _decoded(number, raw)
        if line.strip():
            yield _jsonl_record(number, line, limits, bad)


def _jsonl_record(number: int, line: str, limits: Limits, bad_utf8: bool) -> tuple[str, dict[str, Any] | None, str, str]:
    """(where, record or None, error reason, raw text) of one non-blank JSONL line, numbered from 1."""
    where = f"line {number}"
    if bad_utf8:
        return where, None, "not valid UTF-8", line.rstrip("\n")
    if len(line) > limits.record:
        return where, None, f"record is {len(line)} characters, over the {limits.record} limit", line[:200]
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        return where, None, f"broken JSON: {error.msg.removesuffix(' at')} at column {error.colno}", line.rstrip("\n")
    except RecursionError:
        return where, None, "JSON nested too deeply", line[:200]
    except ValueError as error:  # an integer of more digits than Python converts
        return where, None, f"JSON value cannot be read: {error}", line[:200]
    if not isinstance(data, dict):
        return where, None, f"record is a JSON {type(data).__name__}, not an object", line.rstrip("\n")
    return where, data, "", line.rstrip("\n")


#: the columns every listing file must have
REQUIRED_COLUMNS = ("id", "title")


class UnreadableFileError(ValueError):
    """A whole file that cannot be read as listings (binary data, a missing required column …);
    strict or not, reading stops with this one message naming the file."""


def check_text(path: Path, head: bytes, kind: str, *, refuse_nul: bool = True) -> None:
    """Refuse a file whose first bytes show it is not UTF-8 text (``kind``: CSV, JSONL …);
    ``refuse_nul``: NUL bytes there mean binary data."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFileError(f"{path}: not a UTF-8 {kind} file (it is UTF-16: save it as UTF-8)")
    if head.startswith(b"PK\x03\x04"):
        raise UnreadableFileError(f"{path}: not a text {kind} file (a ZIP archive, an Excel workbook? save it as {kind} in UTF-8)")
    if refuse_nul and b"\x00" in head:
        raise UnreadableFileError(f"{path}: not a text {kind} file (binary data: NUL bytes in its first {len(head):,} bytes)")


def _check_columns(path: Path, columns: list[str]) -> None:
    """Refuse a table without the columns every listing needs."""
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise UnreadableFileError(f"{path}: no {' or '.join(map(repr, missing))} column (it has {', '.join(map(repr, columns))}); "
                                  f"every listing needs {' and '.join(REQUIRED_COLUMNS)}")


#: what the csv module's messages mean, in the user's words
_CSV_ERRORS = {
    "new-line character seen in unquoted field": "a carriage return (\\r) inside a field that is not quoted "
                                                 "(old Mac line ends? save the file with \\n or \\r\\n line ends)",
    "field larger than field limit": "a field over the size limit, probably a quote that is never closed",
}


def _csv_reason(error: csv.Error) -> str:
    for internal, meaning in _CSV_ERRORS.items():
        if str(error).startswith(internal):
            return meaning
    return f"broken CSV: {error}"


class _RereadableLines:
    """Numbered text lines for ``csv.reader``: remembers the lines of the record being read
    (``taken``) and can put lines back, so reading can start again from a later line."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self._lines = lines
        self._back: list[tuple[int, str]] = []
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        numbered = self._back.pop() if self._back else next(self._lines)
        self.taken.append(numbered)
        return numbered[1]

    def put_back(self, lines: list[tuple[int, str]]) -> None:
        self._back.extend(reversed(lines))


def _id_shape(listing_id: str) -> str:
    """An id's shape: runs of letters become ``a``, runs of digits ``9`` (sku-0012 → a-9)."""
    return re.sub(r"\d+", "9", re.sub(r"[^\W\d_]+", "a", listing_id))


@dataclass
class _RowShape:
    """What a row of one CSV file looks like: its header, and the shapes of the ids read so far."""

    headers: list[str]
    delimiter: str
    limits: Limits
    id_shapes: set[str] = field(default_factory=set)

    def matches(self, line: str) -> bool:
        """Whether a line inside a quoted field reads as a row of its own: a plausible id where
        the id goes, and as many cells as the header, or (trailing cells left out) an id shaped
        like the ids read so far."""
        cells = next(csv.reader([line], delimiter=self.delimiter), [])
        position = self.headers.index("id")
        if not 2 <= len(cells) <= len(self.headers) or position >= len(cells):
            return False
        listing_id = cells[position].strip()
        if not listing_id or len(listing_id) > self.limits.id or any(c.isspace() for c in listing_id):
            return False
        return len(cells) == len(self.headers) or _id_shape(listing_id) in self.id_shapes


def _ends_inside_quotes(lines: list[str], delimiter: str) -> bool:
    """Whether these lines, read alone, end inside a quoted field."""
    try:
        for _ in csv.reader(io.StringIO("".join(lines)), delimiter=delimiter, strict=True):
            pass
    except csv.Error as error:
        return "unexpected end of data" in str(error)
    return False


def _unclosed_quote(cells: list[str], taken: list[tuple[int, str]], shape: _RowShape) -> FieldError | None:
    """A quote left open in this record: it swallowed lines that read as rows of their own, or
    it is still open where the file ends."""
    if not any("\n" in cell for cell in cells):
        return None
    spanning = next(i for i, cell in enumerate(cells) if "\n" in cell)
    name = shape.headers[spanning] if spanning < len(shape.headers) else "(record)"
    rows = [number for number, line in taken[1:] if shape.matches(line)]
    if rows:
        lines = (f"line {rows[0]}, which reads as a row of its own" if len(rows) == 1
                 else f"lines {rows[0]}–{rows[-1]}, which read as rows of their own")
        return FieldError(name, f"unclosed quote: the field runs on over {lines}; "
                                  "this row is left out and reading goes on at the next line")
    if _ends_inside_quotes([line for _, line in taken], shape.delimiter):
        return FieldError(name, "unclosed quote: the file ends inside this field; this row is left out")
    return None


def _raw_csv(path: Path, limits: Limits) -> Iterator[tuple[str, dict[str, Any] | None, str | FieldError, str]]:
    """Rows of a CSV (TSV) file, each named by the line it starts on.

    A quote left open (the field runs on over lines that read as rows of their own, or to the
    end of the file) is reported at its line and field, and reading goes on from the next line,
    so the rows it swallowed are kept. A file that is not UTF-8 text, or whose header lacks a
    required column, raises :class:`UnreadableFileError`."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(limits.record)
    with path.open("rb") as handle:
        check_text(path, handle.peek(8192)[:8192], "CSV")
        utf8 = _Utf8Lines(handle)
        lines = _RereadableLines(enumerate(utf8, 1))
        reader = csv.reader(lines, delimiter=delimiter)
        header_error, headers = None, []
        try:
            headers = [name.strip() for name in next((row for row in reader if row), [])]  # the first line not blank
        except csv.Error as error:
            header_error = _csv_reason(error)
        if any(number in utf8.bad for number, _ in lines.taken):
            raise UnreadableFileError(f"{path}: not a text CSV file (its header line is not UTF-8; "
                                      "if the file is GBK or another encoding, save it as UTF-8)")
        if header_error:
            raise UnreadableFileError(f"{path}:line {lines.taken[-1][0]} (the header): {header_error}")
        if not headers:
            return
        _check_columns(path, headers)
        shape = _RowShape(headers, delimiter, limits)
        while True:
            lines.taken = []
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                taken = lines.taken
                lines.put_back(taken[1:])  # read on from the line after the broken one
                yield f"line {taken[0][0]}", None, _csv_reason(error), taken[0][1].rstrip("\r\n")
                continue
            taken = lines.taken
            if not cells:  # a blank line
                continue
            where = f"line {taken[0][0]}"
            if any(number in utf8.bad for number, _ in taken):
                yield where, None, "not valid UTF-8", ""
                continue
            broken = _unclosed_quote(cells, taken, shape)
            if broken is not None:
                lines.put_back(taken[1:])
                yield where, None, broken, taken[0][1].rstrip("\r\n")
                continue
            if len(cells) > len(headers):
                yield where, None, f"row has more cells than the {len(headers)} headers", ""
                continue
            row = dict(zip(headers, cells, strict=False))
            shape.id_shapes.add(_id_shape(row.get("id", "").strip()))
            yield where, {k: v for k, v in row.items() if v != ""}, "", delimiter.join(cells)


def _raw_parquet(path: Path, limits: Limits) -> Iterator[tuple[str, dict[str, Any] | None, str, str]]:
    """Rows of a Parquet file; a file (or the rest of one) that cannot be read is one reject."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from skugraph.tables import read_rows

    number = 0
    try:
        _check_columns(path, pq.read_schema(path).names)
    except (pa.ArrowException, OSError):
        pass  # reading the rows reports it
    try:
        for _, number, row in read_rows(path, batch_size=1024):
            yield f"row {number}", {k: v for k, v in row.items() if v is not None}, "", ""
    except (pa.ArrowException, OSError) as error:
        yield f"row {number + 1}", None, f"not a readable Parquet file from here on: {str(error).splitlines()[0]}", ""


RAW_READERS = {"jsonl": _raw_jsonl, "csv": _raw_csv, "parquet": _raw_parquet}
