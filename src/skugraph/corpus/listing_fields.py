"""Validation of one raw listing record: each field checked (type, size, text that is UTF-8,
numbers, times, stock and sales, reviews, redactions) and the :class:`~skugraph.records.Listing` built, or a
:class:`FieldError` naming the field that is wrong."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from skugraph.records import Listing, Redaction, Review


@dataclass(frozen=True, slots=True)
class Limits:
    """Largest accepted sizes, in characters, so one runaway record cannot sink a run."""

    record: int = 2_000_000
    id: int = 256
    title: int = 1_000
    description: int = 200_000
    review: int = 20_000
    reviews: int = 5_000


class FieldError(ValueError):
    """A field of a record that fails its check: the field's name and why."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


#: characters no id holds: C0 and C1 controls and DEL
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise FieldError(name, "missing")
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name == "id":
        if isinstance(value, float) and not math.isfinite(value):  # NaN: a spreadsheet's empty cell
            raise FieldError(name, "missing" if math.isnan(value) else f"not an id: {value}")
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)  # 1.0 of a float column: 1
    if not isinstance(value, str):
        raise FieldError(name, f"expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise FieldError(name, f"{len(value)} characters, over the {limit} limit")
    _check_unicode(name, value)
    if required and not value.strip():
        raise FieldError(name, "blank")
    return value


def _check_unicode(name: str, value: str) -> None:
    """Text must be writable as UTF-8: a lone UTF-16 surrogate (JSON ``"\\ud800"``) is not."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise FieldError(name, f"holds a lone UTF-16 surrogate at character {error.start}, which is not text") from None


def _price(data: dict[str, Any]) -> float | None:
    value = data.get("price")
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("price", "expected a number, got bool")
    try:
        price = float(value)
    except (TypeError, ValueError, OverflowError):
        raise FieldError("price", f"expected a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(price) or price < 0:
        raise FieldError("price", f"expected a non-negative finite number, got {value!r}")
    return price


#: the largest count of units taken (LadybugDB's INT64 holds it; a larger one is a typo)
MOST_UNITS = 10**12
_INTEGER = re.compile(r"([+-]?\d{1,13})(?:\.0+)?")  # 12, -3 (refused as out of range), 12.0; more digits than MOST_UNITS has: refused


def _units(data: dict[str, Any], name: str) -> int | None:
    """A count of units (stock, sales): a whole number from 0; in text too (a CSV cell: ``12``,
    ``12.0``), never rounded."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(name, "expected a whole number of units, got bool")
    if isinstance(value, str) and (whole := _INTEGER.fullmatch(value.strip())):
        value = int(whole.group(1))
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():  # 12.0: a spreadsheet's number column
        value = int(value)
    if not isinstance(value, int):
        raise FieldError(name, f"expected a whole number of units, got {str(value)[:40]!r}")
    if not 0 <= value <= MOST_UNITS:
        raise FieldError(name, f"expected 0 to {MOST_UNITS:,} units, got {value}")
    return value


def _day(data: dict[str, Any], name: str) -> date | None:
    """A day (ISO 8601 ``2026-11-30``; a time's day too)."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise FieldError(name, f"expected an ISO 8601 day, got {type(value).__name__}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        try:
            return _timestamp({"updated_at": value}).date()  # type: ignore[union-attr]
        except FieldError:
            raise FieldError(name, f"not an ISO 8601 day: {value[:40]!r}") from None


def _sales(data: dict[str, Any]) -> tuple[int | None, date | None, date | None]:
    """Units sold and the days they were sold over: all three, or none."""
    sales, first, last = _units(data, "sales"), _day(data, "sales_from"), _day(data, "sales_to")
    if sales is None:
        if first or last:
            raise FieldError("sales", f"missing: {'sales_from' if first else 'sales_to'} is given, but no units sold")
        return None, None, None
    if first is None or last is None:
        raise FieldError("sales_from" if first is None else "sales_to", "missing: sales are units over a period, from one day to another")
    if last < first:
        raise FieldError("sales_to", f"{last} is before sales_from {first}")
    return sales, first, last


def _timestamp(data: dict[str, Any]) -> datetime | None:
    value = data.get("updated_at")
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise FieldError("updated_at", f"not a time: {value!r} seconds since 1970") from None
    if isinstance(value, str):
        try:
            text = value.strip()
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)  # RFC 3339 takes z too
        except ValueError:
            raise FieldError("updated_at", f"not an ISO 8601 time: {value!r}") from None
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        try:
            moment.astimezone(UTC)  # the graph keeps times in UTC
        except OverflowError:
            raise FieldError("updated_at", f"out of range once in UTC: {value!r}") from None
        return moment
    raise FieldError("updated_at", f"expected an ISO 8601 time, got {type(value).__name__}")


def _category(data: dict[str, Any], limits: Limits) -> str:
    value = data.get("category")
    if isinstance(value, list):
        if not all(isinstance(part, str) for part in value):
            raise FieldError("category", "a category path must be a list of text")
        value = " > ".join(value)
        data = {"category": value}
    return _text(data, "category", limits.title)


def _reviews(data: dict[str, Any], listing_id: str, limits: Limits) -> tuple[Review, ...]:
    value = data.get("reviews")
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.lstrip().startswith("[") else [value]
        except json.JSONDecodeError as error:
            raise FieldError("reviews", f"broken JSON array: {error.msg}") from None
        except (RecursionError, ValueError):
            raise FieldError("reviews", "a JSON array that cannot be read (nested too deeply, or a number too long)") from None
    if not isinstance(value, list):
        raise FieldError("reviews", f"expected a list, got {type(value).__name__}")
    if len(value) > limits.reviews:
        raise FieldError("reviews", f"{len(value)} reviews, over the {limits.reviews} limit")
    reviews = []
    for i, item in enumerate(value):
        name = f"reviews[{i}]"
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            raise FieldError(name, f"expected text or an object, got {type(item).__name__}")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FieldError(f"{name}.text", "missing" if text is None else "expected non-blank text")
        if len(text) > limits.review:
            raise FieldError(f"{name}.text", f"{len(text)} characters, over the {limits.review} limit")
        _check_unicode(f"{name}.text", text)
        rating = item.get("rating")
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, (int, float))):
            raise FieldError(f"{name}.rating", f"expected a number, got {type(rating).__name__}")
        if rating is not None and not math.isfinite(rating):
            raise FieldError(f"{name}.rating", f"expected a finite number, got {rating!r}")
        review_id = str(item.get("id") or f"{listing_id}#r{i}")[: limits.id]
        _check_unicode(f"{name}.id", review_id)
        reviews.append(Review(id=review_id, text=text, rating=None if rating is None else float(rating)))
    return tuple(reviews)


def _redactions(data: dict[str, Any]) -> tuple[Redaction, ...]:
    value = data.get("redactions") or []
    if not isinstance(value, list):
        raise FieldError("redactions", f"expected a list, got {type(value).__name__}")
    redactions = []
    for i, item in enumerate(value):
        name = f"redactions[{i}]"
        if not isinstance(item, dict):
            raise FieldError(name, f"expected an object, got {type(item).__name__}")
        if not isinstance(item.get("field"), str) or not isinstance(item.get("type"), str):
            raise FieldError(name, "needs text 'field' and 'type'")
        _check_unicode(name, item["field"] + item["type"])
        start, end = item.get("start"), item.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            raise FieldError(name, f"bad offsets {start!r}..{end!r}")
        redactions.append(Redaction(item["field"], start, end, item["type"]))
    return tuple(redactions)


def listing_from_dict(data: dict[str, Any], limits: Limits = Limits()) -> Listing:
    """Validate one raw record; raises ``ValueError`` subclass naming the bad field."""
    listing_id = _text(data, "id", limits.id, required=True).strip()
    if control := CONTROL.search(listing_id):  # an id names a listing in paths, files and logs
        raise FieldError("id", f"holds a control character (U+{ord(control.group()):04X})")
    warehouse = _text(data, "warehouse", limits.id).strip()
    if control := CONTROL.search(warehouse):
        raise FieldError("warehouse", f"holds a control character (U+{ord(control.group()):04X})")
    sales, sales_from, sales_to = _sales(data)
    return Listing(
        id=listing_id,
        title=_text(data, "title", limits.title, required=True),
        description=_text(data, "description", limits.description),
        reviews=_reviews(data, listing_id, limits),
        category=_category(data, limits),
        price=_price(data),
        currency=_text(data, "currency", 16),
        source=_text(data, "source", limits.title),
        updated_at=_timestamp(data),
        redactions=_redactions(data),
        stock=_units(data, "stock"),
        sales=sales,
        sales_from=sales_from,
        sales_to=sales_to,
        warehouse=warehouse,
    )
