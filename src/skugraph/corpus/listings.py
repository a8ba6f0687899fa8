"""Streaming listing readers (JSONL, CSV, Parquet) with per-record validation.

A bad record is reported as a :class:`Reject` naming file, line (or row), field
and reason, and skipped; the good records around it are kept. With
``strict=True`` the first bad record raises :class:`BadRecordError` instead.
Memory does not grow with file size: records are read one at a time (Parquet
one batch at a time); only the set of ids seen is kept, to catch duplicates.
The raw readers per format live in :mod:`skugraph.corpus.listing_formats`, the checks of
each field in :mod:`skugraph.corpus.listing_fields`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from skugraph.corpus.listing_fields import FieldError, Limits, listing_from_dict
from skugraph.corpus.listing_formats import RAW_READERS, UnreadableFileError, detect_format
from skugraph.records import Listing

UNFORESEEN = "cannot be read: "  # how a reject that no field check named begins (the fuzz bench counts them)


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that failed validation, and why."""

    path: str
    where: str  # "line 12" or "row 7"
    field: str
    reason: str
    record: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.where}: field {self.field!r}: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {
            "file": self.path,
            "where": self.where,
            "field": self.field,
            "reason": self.reason,
            "record": self.record,
        }


class BadRecordError(ValueError):
    """Raised in strict mode on the first bad record."""

    def __init__(self, reject: Reject):
        super().__init__(str(reject))
        self.reject = reject


def read_listings(
    paths: Iterable[str | Path],
    *,
    format: str | None = None,
    strict: bool = False,
    limits: Limits = Limits(),
    on_reject: Callable[[Reject], None] | None = None,
) -> Iterator[Listing]:
    """Stream valid listings from one or more files; report each bad record to ``on_reject``.

    Ids must be unique across all the files read together: a repeated id is rejected
    (the first record with that id wins).
    """
    seen: set[str] = set()
    for path in map(Path, paths):
        if path.is_dir():
            raise UnreadableFileError(f"{path}: a directory, not a listing file (name its files: {path}/*.jsonl)")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        raw_reader = RAW_READERS[format or detect_format(path)]
        for where, data, error, raw in raw_reader(path, limits):
            checked = checked_listing(path, where, data, error, raw, limits, seen)
            if isinstance(checked, Listing):
                yield checked
            elif strict:
                raise BadRecordError(checked)
            elif on_reject is not None:
                on_reject(checked)


def checked_listing(path: Path, where: str, data: dict | None, error: str | FieldError, raw: str, limits: Limits,
                    seen: set[str]) -> Listing | Reject:
    """One raw record (as a raw reader yields it) as a listing, its id added to ``seen``, or the reason it is rejected."""
    if isinstance(error, FieldError):
        return Reject(str(path), where, error.field, error.reason, raw[:2000])
    if data is None:
        return Reject(str(path), where, "(record)", error, raw[:2000])
    try:
        listing = listing_from_dict(data, limits)
    except FieldError as failure:
        return Reject(str(path), where, failure.field, failure.reason, raw[:2000])
    except (ValueError, TypeError, OverflowError, RecursionError) as error:  # a case the checks above miss
        return Reject(str(path), where, "(record)", f"{UNFORESEEN}{type(error).__name__}: {error}", raw[:2000])
    if listing.id in seen:
        return Reject(str(path), where, "id", f"duplicate id {listing.id!r}", raw[:2000])
    seen.add(listing.id)
    return listing
