"""Ingested listings as Arrow tables (:data:`skugraph.tables.LISTINGS`), for the loader, never a
Python object per listing where the records are clean: JSONL is read by Arrow's JSON reader
a block of lines at a time and each block checked on its columns as
:func:`~skugraph.corpus.listing_fields.listing_from_dict` checks a record. A block holding
anything these checks do not pass as they are (a number where text belongs, a category path,
an id to strip, a review without an id, an escaped surrogate …) is read again record by
record, so it gives the same listings, or the same error naming file, line and field.
Other formats are read record by record."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from skugraph.corpus.listing_fields import CONTROL, MOST_UNITS, Limits
from skugraph.corpus.listing_formats import RAW_READERS, check_text, detect_format, jsonl_records
from skugraph.corpus.listings import BadRecordError, checked_listing
from skugraph.records import Listing
from skugraph.tables import LISTINGS, LineBlock, line_blocks, listings_table, valid_utf8

#: listings a table holds at most
TABLE_ROWS = 100_000
#: the characters Python's ``str.isspace`` takes for whitespace, as an RE2 class
_SPACE = r"[\t\n\x{0b}\x{0c}\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
#: an escaped UTF-16 surrogate, which json.loads tells apart when lone; not one after an escaped
#: backslash (JSON text \\uD83D is a backslash, then the letters uD83D)
_SURROGATE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F]")
_NEGATIVE_ZERO = re.compile(rb":\s*-0(?![0-9.eE])")  # json.loads reads an integer -0 as 0, Arrow as -0.0
#: the times Python holds in UTC (Arrow's cast takes year 0 too)
_EARLIEST, _LATEST = (pa.scalar(moment, pa.timestamp("us", "UTC")) for moment in (datetime.min.replace(tzinfo=UTC),
                                                                                  datetime.max.replace(tzinfo=UTC)))
#: the first day Python holds (Arrow's cast takes year 0 too)
_FIRST_DAY = pa.scalar(date(1, 1, 1), pa.date32())
#: more brackets than this on one line send its block to the record reader, whose JSON parser refuses deep nesting
_BRACKETS = 500
#: the days as the text they are given in: a day that is not ISO 8601 sends its block to the record reader
_RAW = pa.schema([field.with_type(pa.string()) if field.name in ("updated_at", "sales_from", "sales_to") else field
                  for field in LISTINGS])


def read_listing_tables(files: Iterable[Path], rows: int = TABLE_ROWS, limits: Limits = Limits()) -> Iterator[pa.Table]:
    """The listings of ``files`` (ingested: any bad record raises
    :class:`~skugraph.corpus.listings.BadRecordError`, a repeated id too) as tables of ``rows`` at most."""
    seen: set[str] = set()
    for path in files:
        if (kind := detect_format(path)) != "jsonl":
            listings = _listings(path, RAW_READERS[kind](path, limits), limits, seen)
            while chunk := list(islice(listings, rows)):
                yield listings_table(chunk)
            continue
        with path.open("rb") as handle:
            check_text(path, handle.peek(8192)[:8192], "JSONL", refuse_nul=False)
        for block in line_blocks(path, rows):
            table = _columnar_block(block, limits, seen)
            yield table if table is not None else listings_table(_listings(path, jsonl_records(block.lines(), limits), limits, seen))


def _listings(path: Path, records: Iterable[tuple], limits: Limits, seen: set[str]) -> Iterator[Listing]:
    """Raw records (as the raw readers yield them) checked one by one: the listings, or the first reject raised."""
    for where, data, error, raw in records:
        checked = checked_listing(path, where, data, error, raw, limits, seen)
        if not isinstance(checked, Listing):
            raise BadRecordError(checked)
        yield checked


def _columnar_block(block: LineBlock, limits: Limits, seen: set[str]) -> pa.Table | None:
    """A block of JSONL lines read by Arrow and checked on its columns; None where any record
    is one the checks do not pass as it is (it is then read record by record)."""
    data = block.data
    if (not block.braced() or np.diff(block.ends, prepend=0).max() > limits.record or _SURROGATE.search(data)
            or _NEGATIVE_ZERO.search(data) or _deeply_nested(block) or not valid_utf8(data)):
        return None  # Arrow's JSON reader takes bytes that are not UTF-8, and any nesting, even in fields it skips
    try:
        table = pa_json.read_json(pa.BufferReader(pa.py_buffer(data)), parse_options=pa_json.ParseOptions(
            explicit_schema=_RAW, unexpected_field_behavior="ignore"))
        updated_at = table["updated_at"].cast(LISTINGS.field("updated_at").type)
        days = {name: pc.if_else(pc.equal(table[name], ""), pa.scalar(None, pa.string()), table[name]).cast(pa.date32())
                for name in ("sales_from", "sales_to")}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != block.count:
        return None  # a line of two records
    table = table.combine_chunks().to_batches()[0]  # one batch: its columns are arrays
    updated_at = updated_at.combine_chunks()
    days = {name: day.combine_chunks() for name, day in days.items()}
    ids = table["id"]
    sold, stock, warehouse = table["sales"], table["stock"], table["warehouse"]
    texts = {"description": limits.description, "category": limits.title, "currency": 16, "source": limits.title}
    fine = [
        _filled(ids, 1, limits.id), pc.invert(pc.match_substring_regex(ids, f"^{_SPACE}|{_SPACE}$")),
        pc.invert(pc.match_substring_regex(ids, CONTROL.pattern)),
        _filled(table["title"], 1, limits.title), pc.invert(pc.match_substring_regex(table["title"], f"^{_SPACE}*$")),
        *(pc.less_equal(pc.utf8_length(pc.fill_null(table[name], "")), limit) for name, limit in texts.items()),
        pc.or_kleene(pc.is_null(table["price"]), pc.and_(pc.is_finite(table["price"]), pc.greater_equal(table["price"], 0))),
        pc.less_equal(pc.fill_null(pc.list_value_length(table["reviews"]), 0), limits.reviews),
        pc.or_kleene(pc.is_null(updated_at), pc.and_(pc.greater_equal(updated_at, _EARLIEST), pc.less_equal(updated_at, _LATEST))),
        *(pc.or_kleene(pc.is_null(units), pc.and_(pc.greater_equal(units, 0), pc.less_equal(units, MOST_UNITS))) for units in (stock, sold)),
        # sales come with both days, the last not before the first; days without sales are an error
        pc.equal(pc.is_null(sold), pc.is_null(days["sales_from"])), pc.equal(pc.is_null(sold), pc.is_null(days["sales_to"])),
        pc.or_kleene(pc.is_null(sold), pc.greater_equal(days["sales_to"], days["sales_from"])),
        *(pc.or_kleene(pc.is_null(day), pc.greater_equal(day, _FIRST_DAY)) for day in days.values()),
        pc.or_kleene(pc.is_null(warehouse), pc.and_(pc.less_equal(pc.utf8_length(warehouse), limits.id),
                                                     pc.invert(pc.match_substring_regex(warehouse, f"^{_SPACE}|{_SPACE}$|{CONTROL.pattern}")))),
    ]
    reviews = _reviews(table["reviews"], ids, limits)
    redactions = _redactions(table["redactions"])
    if reviews is None or redactions is None or not all(map(_holds, fine)):
        return None
    named = ids.to_pylist()
    if len(set(named)) != len(named) or not seen.isdisjoint(named):
        return None  # a repeated id: the record-by-record read names its line
    seen.update(named)
    blank = {name: pc.fill_null(table[name], "") for name in texts}
    return pa.Table.from_arrays([ids, table["title"], blank["description"], reviews, blank["category"], table["price"],
                                 blank["currency"], blank["source"], updated_at, redactions, stock, sold, days["sales_from"],
                                 days["sales_to"], pc.fill_null(warehouse, "")], schema=LISTINGS)


def _deeply_nested(block: LineBlock) -> bool:
    """Whether a line of the block has so many brackets that it may nest deeper than ``json.loads`` goes."""
    data = np.frombuffer(block.data, np.uint8)
    opening = np.flatnonzero((data == 0x5B) | (data == 0x7B))
    if len(opening) <= _BRACKETS:
        return False
    return bool(np.bincount(np.searchsorted(block.ends, opening, side="right")).max() > _BRACKETS)


def _holds(mask: pa.Array) -> bool:
    """Whether every row of ``mask`` is true (a null is not)."""
    return pc.all(pc.fill_null(mask, False), min_count=0).as_py()


def _filled(texts: pa.Array, shortest: int, longest: int) -> pa.Array:
    """Whether each text is there (not null) and ``shortest`` to ``longest`` characters long."""
    length = pc.utf8_length(texts)
    return pc.fill_null(pc.and_(pc.greater_equal(length, shortest), pc.less_equal(length, longest)), False)


def _reviews(reviews: pa.Array, ids: pa.Array, limits: Limits) -> pa.Array | None:
    """The reviews as :func:`~skugraph.corpus.listing_fields.listing_from_dict` takes them (an id
    left out: ``<listing id>#r<number>``, cut to the id limit); None where one fails its checks."""
    reviews = pc.fill_null(reviews, pa.scalar([], reviews.type))
    items = pc.list_flatten(reviews)
    if items.null_count:
        return None
    text, rating, given = (pc.struct_field(items, name) for name in ("text", "rating", "id"))
    fine = [_filled(text, 1, limits.review), pc.invert(pc.match_substring_regex(text, f"^{_SPACE}*$")),
            pc.or_kleene(pc.is_null(rating), pc.is_finite(rating))]
    if not all(map(_holds, fine)):
        return None
    lengths = pc.list_value_length(reviews).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    parent = np.repeat(np.arange(len(lengths)), lengths)
    number = np.arange(len(items)) - offsets[parent]
    default = pc.binary_join_element_wise(pc.take(ids, pa.array(parent)), "#r", pa.array(number).cast(pa.string()), "")
    review_id = pc.utf8_slice_codeunits(pc.if_else(pc.fill_null(pc.equal(given, ""), True), default, given), 0, limits.id)
    struct = pa.StructArray.from_arrays([review_id, text, rating], fields=list(LISTINGS.field("reviews").type.value_type))
    return pa.ListArray.from_arrays(pa.array(offsets), struct)


def _redactions(redactions: pa.Array) -> pa.Array | None:
    """The redactions, none of them missing a part or with offsets out of order; else None."""
    redactions = pc.fill_null(redactions, pa.scalar([], redactions.type))
    items = pc.list_flatten(redactions)
    start, end = pc.struct_field(items, "start"), pc.struct_field(items, "end")
    parts = [pc.struct_field(items, name) for name in ("field", "type")] + [start, end]
    if items.null_count or any(part.null_count for part in parts):
        return None
    if not _holds(pc.and_(pc.greater_equal(start, 0), pc.less(start, end))):
        return None
    return redactions
