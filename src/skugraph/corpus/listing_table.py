"""Listings read as one Arrow table (Arrow's JSON reader, never a Python object per listing),
for a bulk load: :func:`read_listing_table` gives what :func:`skugraph.corpus.listings.read_listings`
gives, or None where it cannot vouch for that, and the caller reads the file record by record."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from skugraph.corpus.listing_fields import FieldError, Limits, _timestamp
from skugraph.corpus.listing_formats import detect_format

#: the characters ``str.strip`` and ``str.isspace`` take as white space, as an RE2 class
_SPACE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x3001)) if c.isspace()) + "]"
_REVIEW = pa.struct([("id", pa.string()), ("text", pa.string()), ("rating", pa.float64())])
_REDACTION = pa.struct([("field", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("type", pa.string())])
#: a listing record as :meth:`skugraph.records.Listing.to_dict` writes it, as Arrow reads it
LISTING_JSON = pa.schema([("id", pa.string()), ("title", pa.string()), ("description", pa.string()),
                          ("reviews", pa.list_(_REVIEW)), ("category", pa.string()), ("price", pa.float64()),
                          ("currency", pa.string()), ("source", pa.string()), ("updated_at", pa.string()),
                          ("redactions", pa.list_(_REDACTION))])


def read_listing_table(paths: Iterable[str | Path], limits: Limits = Limits()) -> pa.Table | None:
    """The listings :func:`read_listings` gives for ``paths`` (strict), as one table read by
    Arrow's JSON reader, never a Python object per listing: :data:`LISTING_JSON`'s columns, text
    fields a listing lacks as ``""``, ``updated_at`` as naive UTC and each review's ``id`` filled
    in. None where the fast read cannot vouch for giving the same listings: a file not JSONL or
    empty, a record Arrow refuses (a field of another type or name, broken JSON), or one the
    field checks might judge otherwise (blank or padded ids, sizes over ``limits``, …); the
    caller then reads them with :func:`read_listings`, which names the bad file, line and field."""
    tables = []
    for path in map(Path, paths):
        if not path.is_file() or detect_format(path) != "jsonl":
            return None
        table = _read_jsonl_table(path, limits)
        if table is None:
            return None
        tables.append(table)
    if not tables:
        return None
    table = pa.concat_tables(tables).combine_chunks()
    if pc.count_distinct(table["id"]).as_py() != table.num_rows:
        return None  # a repeated id: read_listings refuses it by its line
    return _checked_listings(table, limits)


def _read_jsonl_table(path: Path, limits: Limits) -> pa.Table | None:
    """A JSONL file of one listing a line read by Arrow; None unless every line holds one
    record that begins with ``{`` (no blank or padded lines, no byte-order mark), none longer
    than ``limits.record``, and Arrow reads every one with :data:`LISTING_JSON`."""
    lines, longest = 0, 0
    with path.open("rb") as handle:
        tail = b""
        while block := handle.read(1 << 24):
            data = np.frombuffer(tail + block, np.uint8)
            ends = np.flatnonzero(data == 0x0A)
            if not len(ends):
                tail = data.tobytes()
                continue
            starts = np.concatenate([[0], ends[:-1] + 1])
            if not (data[starts] == ord("{")).all():
                return None
            longest = max(longest, int((ends - starts).max()) + 1)  # with its newline, as read_listings counts
            lines += len(ends)
            tail = data[ends[-1] + 1 :].tobytes()
    if tail:
        if tail[:1] != b"{":
            return None
        lines, longest = lines + 1, max(longest, len(tail))
    if not lines or longest > limits.record:  # bytes: at least as many as characters
        return None
    try:
        table = pa_json.read_json(path, parse_options=pa_json.ParseOptions(explicit_schema=LISTING_JSON,
                                                                           unexpected_field_behavior="error"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    return table if table.num_rows == lines else None


def _checked_listings(table: pa.Table, limits: Limits) -> pa.Table | None:
    """``table`` as :func:`skugraph.corpus.listing_fields.listing_from_dict` would make each
    listing of it, or None where a field check could refuse one or change its value."""
    def blank(texts: pa.Array) -> bool:
        return pc.any(pc.match_substring_regex(texts, f"^{_SPACE}*$")).as_py() or False

    def longer(texts: pa.Array, limit: int) -> bool:
        return (pc.max(pc.utf8_length(texts)).as_py() or 0) > limit

    ids, titles = table["id"], table["title"]
    if ids.null_count or titles.null_count or blank(ids) or blank(titles) \
            or longer(ids, limits.id) or longer(titles, limits.title):
        return None
    if pc.any(pc.match_substring_regex(ids, f"^{_SPACE}|{_SPACE}$")).as_py():
        return None  # listing_from_dict strips the id
    texts = {"description": limits.description, "category": limits.title, "currency": 16, "source": limits.title}
    if any(longer(table[name], limit) for name, limit in texts.items()):
        return None
    price = table["price"].drop_null()
    if len(price) and not pc.all(pc.and_(pc.is_finite(price), pc.greater_equal(price, 0))).as_py():
        return None
    reviews, redactions = _checked_reviews(table, limits), _checked_redactions(table["redactions"])
    times = _times(table["updated_at"])
    if reviews is None or redactions is None or times is None:
        return None
    columns = {name: pc.fill_null(table[name], "") for name in texts} | {"reviews": reviews, "redactions": redactions,
                                                                          "updated_at": times}
    return pa.table({name: columns.get(name, table[name]) for name in LISTING_JSON.names})


def _checked_reviews(table: pa.Table, limits: Limits) -> pa.Array | None:
    """Each listing's reviews with their ids filled in (``{listing id}#r{i}``), or None where a
    review check could refuse one (a null review, blank or long text, a rating not finite,
    too many reviews, an id over the limit)."""
    reviews = pc.fill_null(table["reviews"].combine_chunks(), pa.scalar([], table.schema.field("reviews").type))
    if (pc.max(pc.list_value_length(reviews)).as_py() or 0) > limits.reviews:
        return None
    offsets = pc.subtract(reviews.offsets, reviews.offsets[0])
    items = reviews.flatten()
    if not len(items):
        return reviews
    text, rating, given = (pc.struct_field(items, name) for name in ("text", "rating", "id"))
    if items.null_count or text.null_count or pc.any(pc.match_substring_regex(text, f"^{_SPACE}*$")).as_py() \
            or pc.max(pc.utf8_length(text)).as_py() > limits.review:
        return None
    if len(ratings := rating.drop_null()) and not pc.all(pc.is_finite(ratings)).as_py():
        return None
    parent = pc.list_parent_indices(reviews)
    place = pc.subtract(pa.array(np.arange(len(items), dtype=np.int64)), pc.take(offsets, parent).cast(pa.int64()))
    default = pc.binary_join_element_wise(pc.take(table["id"].combine_chunks(), parent), "#r", place.cast(pa.string()), "")
    ids = pc.if_else(pc.fill_null(pc.not_equal(given, ""), False), given, default)
    if pc.max(pc.utf8_length(ids)).as_py() > limits.id:
        return None
    return pa.ListArray.from_arrays(offsets, pa.StructArray.from_arrays([ids, text, rating], fields=list(_REVIEW)))


def _checked_redactions(column: pa.ChunkedArray) -> pa.Array | None:
    """Each listing's redactions (none for a null list), or None where one could be refused
    (null, without its text ``field`` and ``type``, offsets not 0 <= start < end)."""
    redactions = pc.fill_null(column.combine_chunks(), pa.scalar([], column.type))
    items = pc.list_flatten(redactions)
    if not len(items):
        return redactions
    if items.null_count or any(pc.struct_field(items, name).null_count for name in ("field", "start", "end", "type")):
        return None
    start, end = pc.struct_field(items, "start"), pc.struct_field(items, "end")
    return redactions if pc.all(pc.and_(pc.greater_equal(start, 0), pc.less(start, end))).as_py() else None


def _times(values: pa.ChunkedArray) -> pa.Array | None:
    """``updated_at`` as naive UTC, each distinct text read as :func:`listing_from_dict` reads
    it (null or empty: null); None where one is not a time."""
    encoded = pc.dictionary_encode(values.combine_chunks())
    try:
        moments = [_timestamp({"updated_at": value}) for value in encoded.dictionary.to_pylist()]
    except FieldError:
        return None
    naive = [moment.astimezone(UTC).replace(tzinfo=None) if moment else None for moment in moments]
    return pc.take(pa.array(naive, pa.timestamp("us")), encoded.indices)
