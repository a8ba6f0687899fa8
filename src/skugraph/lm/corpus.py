"""Unlabelled text for pretraining, read as documents (lists of sentences).

- ``.txt`` (or any other suffix): one text a line, each its own document;
- ``.csv`` / ``.tsv``: one column (``--column``, or the first of review/Reviews/text/content/title);
- ``.jsonl``: listings (title, description, reviews) or records with a ``text`` field.

Descriptions and reviews are split into sentences, so the next-sentence task has pairs to learn from.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

TEXT_COLUMNS = ("review", "Reviews", "text", "content", "title")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])\s*|(?<=[.])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a review or description (Chinese and English end marks, line breaks)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def read_documents(path: str | Path, column: str | None = None) -> Iterator[list[str]]:
    """Documents of one corpus file, each a list of sentences."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        yield from _csv_documents(path, column, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_documents(path)
    else:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    yield [line.strip()]


def _csv_documents(path: Path, column: str | None, delimiter: str) -> Iterator[list[str]]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        names = reader.fieldnames or []
        chosen = column or next((c for c in TEXT_COLUMNS if c in names), None)
        if chosen not in names:
            raise ValueError(f"{path}: no column {column or ' / '.join(TEXT_COLUMNS)!r}; columns are {names}")
        for row in reader:
            text = (row.get(chosen) or "").strip()
            if text:
                yield split_sentences(text)


def _jsonl_documents(path: Path) -> Iterator[list[str]]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:line {number}: broken JSON: {error.msg}") from None
            if not isinstance(record, dict):
                continue
            if "title" in record:  # a listing
                for text in (record.get("title"), record.get("description")):
                    if isinstance(text, str) and text.strip():
                        yield split_sentences(text)
                for review in record.get("reviews") or []:
                    text = review.get("text") if isinstance(review, dict) else review
                    if isinstance(text, str) and text.strip():
                        yield split_sentences(text)
            elif isinstance(record.get("text"), str) and record["text"].strip():
                yield split_sentences(record["text"])


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
