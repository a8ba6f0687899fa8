"""Ingest: validate listing files into one clean JSONL file plus a JSONL of rejects."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from skugraph.corpus.listing_fields import Limits
from skugraph.corpus.listing_formats import SUFFIXES, detect_format
from skugraph.corpus.listings import Reject, read_listings
from skugraph.corpus.pii import scrub, scrub_listing
from skugraph.records import Listing, to_json_line

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class IngestReport:
    """What an ingest run kept and what it turned away."""

    ingested: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)  # the first few, for display
    output: Path | None = None
    rejects_output: Path | None = None
    redactions: Counter[str] = field(default_factory=Counter)  # personal data masked, per type
    #: reviews whose id was given before to a review of other text (the graph keeps one review per
    #: id: the first), and the first few as (review id, the listing that gave it first, this listing)
    review_id_clashes: int = 0
    clash_examples: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        scrubbed = f", masked {sum(self.redactions.values())} personal values" if self.redactions else ""
        clashes = f", {self.review_id_clashes} review ids given to other reviews too" if self.review_id_clashes else ""
        return f"ingested {self.ingested}, rejected {self.rejected}{scrubbed}{clashes}"


def ingest(
    inputs: Iterable[str | Path],
    output: str | Path,
    rejects_output: str | Path | None = None,
    *,
    format: str | None = None,
    strict: bool = False,
    limits: Limits = Limits(),
    keep_rejects: int = 20,
    scrub_pii: bool = True,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Read, validate and write listings; rejects go to ``rejects_output`` as JSONL.

    Personal data (phones, e-mails, ID and bank cards, addresses, order numbers, names)
    is masked in every text field before anything is written, rejects included; the
    listing keeps only the type and offsets of each masked value.

    In strict mode the first bad record raises ``BadRecordError`` and the output file
    is left incomplete (written to a temporary name, so no half file is mistaken for a result).
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = IngestReport(output=output)
    reject_handle = None
    if rejects_output is not None:
        report.rejects_output = Path(rejects_output)
        report.rejects_output.parent.mkdir(parents=True, exist_ok=True)
        reject_handle = report.rejects_output.open("w", encoding="utf-8")

    def on_reject(reject: Reject) -> None:
        if scrub_pii:
            reject = replace(reject, record=scrub(reject.record)[0])
        report.rejected += 1
        if len(report.rejects) < keep_rejects:
            report.rejects.append(reject)
        if reject_handle is not None:
            reject_handle.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")

    reviews = _ReviewIds()
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            for listing in read_listings(inputs, format=format, strict=strict, limits=limits, on_reject=on_reject):
                if scrub_pii:
                    masked = len(listing.redactions)
                    listing = scrub_listing(listing)
                    report.redactions.update(r.type for r in listing.redactions[masked:])
                reviews.check(listing, report, keep_rejects)
                handle.write(to_json_line(listing) + "\n")
                report.ingested += 1
                if progress is not None:
                    progress(1)
        partial.replace(output)
    finally:
        if reject_handle is not None:
            reject_handle.close()
        partial.unlink(missing_ok=True)
    return report


class _ReviewIds:
    """Each review id seen, with the first listing that gave it and a hash of its text, to tell
    when the same id is given to another review (a review's id is its key in the graph)."""

    def __init__(self):
        self.first: dict[str, tuple[str, int]] = {}

    def check(self, listing: Listing, report: IngestReport, keep: int) -> None:
        for review in listing.reviews:
            text = zlib.crc32(review.text.encode("utf-8"))
            seen = self.first.setdefault(review.id, (listing.id, text))
            if seen[1] != text:
                report.review_id_clashes += 1
                if len(report.clash_examples) < keep:
                    report.clash_examples.append((review.id, seen[0], listing.id))


def load_listings(path: str | Path) -> Iterator[Listing]:
    """Read listings back from an ingested file, or a directory of shards (read in name
    order); any bad record is an error here."""
    return read_listings(listing_files(Path(path)), strict=True)


def load_listing_tables(path: str | Path, rows: int | None = None) -> Iterator[pa.Table]:
    """:func:`load_listings` as Arrow tables of ``rows`` listings at most (default
    :data:`~skugraph.corpus.listing_tables.TABLE_ROWS`; :func:`skugraph.corpus.listing_tables.read_listing_tables`)."""
    from skugraph.corpus.listing_tables import TABLE_ROWS, read_listing_tables

    return read_listing_tables(listing_files(Path(path)), rows or TABLE_ROWS)


def listing_files(path: Path) -> list[Path]:
    """A file, or a directory's listing files (.jsonl, .csv, .parquet …) in name order; one
    format per directory."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no listing files (.jsonl, .csv, .tsv, .parquet) in this directory")
    formats = {detect_format(file) for file in files}
    if len(formats) > 1:
        raise ValueError(f"{path}: mixes formats ({', '.join(sorted(formats))}); keep one format per directory")
    return files
