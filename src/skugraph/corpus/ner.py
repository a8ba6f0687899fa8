"""Labelled NER data: character-per-line BIO / BIEOS files, doccano and Label Studio JSONL.

Everything is read into :class:`LabelledText` (text + character spans), the one
form that training and evaluation use; tags are made from spans when needed.
A malformed line or an impossible tag sequence is reported with file, line and
reason, and that one text is skipped (``strict=True`` raises instead).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMES = ("bio", "bieos")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    spans: tuple[Span, ...] = field(default_factory=tuple)
    id: str = ""

    def span_texts(self) -> list[tuple[str, str]]:
        return [(self.text[s.start : s.end], s.label) for s in self.spans]

    @classmethod
    def from_words(cls, text: str, words: list[tuple[str, str]], id: str = "") -> LabelledText:
        """``text`` with a span per (surface, label) of ``words``, each found after the one before;
        a surface not found there raises ``ValueError``."""
        spans, position = [], 0
        for surface, label in words:
            start = text.find(surface, position)
            if start < 0:
                raise ValueError(f"{surface!r} not found in {text!r} after character {position}")
            spans.append(Span(start, start + len(surface), label))
            position = start + len(surface)
        return cls(text, tuple(spans), id)


class NerFormatError(ValueError):
    """A labelled file that cannot be read as its format says, with its location."""

    def __init__(self, path: str, line: int, reason: str):
        super().__init__(f"{path}:line {line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


ErrorHandler = Callable[[NerFormatError], None]


def _report(error: NerFormatError, strict: bool, on_error: ErrorHandler | None) -> None:
    if strict:
        raise error
    if on_error is not None:
        on_error(error)


def tags_to_spans(tags: list[str]) -> list[Span]:
    """Decode BIO or BIEOS (also BMES: ``M`` = inside) tags; raise ``ValueError`` on an impossible sequence."""
    spans: list[Span] = []
    open_start, open_label = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        if prefix not in ("B", "I", "M", "E", "S", "O") or (prefix != "O" and not label) or (prefix == "O" and label):
            raise ValueError(f"tag {i + 1} {tag!r} is not a BIO/BIEOS tag")
        continuing = prefix in ("I", "M", "E") and open_label == label
        if not continuing and open_label:
            spans.append(Span(open_start, i, open_label))
            open_label = ""
        if prefix in ("I", "M", "E") and not continuing:
            raise ValueError(f"tag {i + 1} {tag!r} continues no open {label!r} entity")
        if prefix in ("B", "S"):
            open_start, open_label = i, label
        if prefix in ("E", "S"):
            spans.append(Span(open_start, i + 1, open_label))
            open_label = ""
    return spans


def locate_spans(text: str, values: Iterable[tuple[str, str]], ignore_case: bool = False) -> list[Span]:
    """Spans of known (label, value) pairs in ``text``: longest values first, each at its first
    occurrence not overlapping one already placed; values not found are left out."""
    if ignore_case:  # character by character, so offsets stay those of ``text``
        text = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    taken = [False] * len(text)
    spans = []
    for label, value in sorted(values, key=lambda pair: -len(pair[1])):
        if not value:
            continue
        needle = value.lower() if ignore_case else value
        start = text.find(needle)
        while start >= 0 and any(taken[start : start + len(value)]):
            start = text.find(needle, start + 1)
        if start >= 0:
            taken[start : start + len(value)] = [True] * len(value)
            spans.append(Span(start, start + len(value), label))
    return sorted(spans, key=lambda span: (span.start, span.end))


def spans_to_tags(length: int, spans: Iterable[Span], scheme: str = "bio") -> list[str]:
    """Encode spans as tags; overlapping spans are an error."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; use one of {SCHEMES}")
    tags = ["O"] * length
    for span in sorted(spans, key=lambda s: s.start):
        if any(tag != "O" for tag in tags[span.start : span.end]):
            raise ValueError(f"span {span} overlaps another span")
        size = span.end - span.start
        for i in range(span.start, span.end):
            if scheme == "bieos" and size == 1:
                prefix = "S"
            elif i == span.start:
                prefix = "B"
            elif scheme == "bieos" and i == span.end - 1:
                prefix = "E"
            else:
                prefix = "I"
            tags[i] = f"{prefix}-{span.label}"
    return tags


def _split_line(line: str) -> tuple[str, str] | None:
    """(character, tag) of one data line. A line whose first character is white space
    followed by a separator stands for that white-space character itself."""
    if len(line) >= 3 and line[0].isspace() and line[1] in " \t":
        return line[0], line[2:].strip()
    parts = line.rsplit(None, 1)
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


def read_conll(
    path: str | Path, *, strict: bool = False, on_error: ErrorHandler | None = None
) -> Iterator[LabelledText]:
    """Read one-character-per-line files (``char<space or tab>tag``, blank line between texts),
    BIO or BIEOS alike."""
    path = Path(path)
    chars: list[str] = []
    tags: list[str] = []
    first_line, bad = 0, None
    with path.open("r", encoding="utf-8") as handle:
        for number, raw in enumerate([*handle, "\n"], 1):
            line = raw.rstrip("\r\n")
            if not line:
                if bad is not None:
                    _report(bad, strict, on_error)
                elif chars:
                    try:
                        spans = tags_to_spans(tags)
                    except ValueError as error:
                        _report(NerFormatError(str(path), first_line, f"text starting here: {error}"), strict, on_error)
                    else:
                        yield LabelledText("".join(chars), tuple(spans), id=f"{path.name}:{first_line}")
                chars, tags, bad = [], [], None
                continue
            if not chars and bad is None:
                first_line = number
            pair = _split_line(line)
            if pair is None:
                bad = bad or NerFormatError(str(path), number, f"expected 'character tag', got {line!r}")
                continue
            chars.append(pair[0])
            tags.append(pair[1])


def write_conll(texts: Iterable[LabelledText], path: str | Path, scheme: str = "bio") -> int:
    """Write texts one character a line, ``char<space>tag``; returns how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for item in texts:
            for char, tag in zip(item.text, spans_to_tags(len(item.text), item.spans, scheme), strict=True):
                handle.write(f"{char} {tag}\n")
            handle.write("\n")
            count += 1
    return count


def _json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, record) from JSONL, or from one JSON array (line 1 for each)."""
    with path.open("r", encoding="utf-8") as handle:
        head = handle.read(1 << 16).lstrip()
        handle.seek(0)
        if head.startswith("["):
            for item in json.load(handle):
                yield 1, item
            return
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    yield number, NerFormatError(str(path), number, f"broken JSON: {error.msg}")


def _checked(text: str, spans: list[Span]) -> tuple[Span, ...]:
    for span in spans:
        if not 0 <= span.start < span.end <= len(text):
            raise ValueError(f"span {span.start}-{span.end} outside text of length {len(text)}")
    return tuple(sorted(spans, key=lambda s: (s.start, s.end)))


def _doccano(record: dict[str, Any]) -> LabelledText:
    text = record["text"]
    if "entities" in record:  # doccano ≥ 1.6 export
        spans = [Span(e["start_offset"], e["end_offset"], e["label"]) for e in record["entities"]]
    else:  # classic "label": [[start, end, label], …]
        spans = [Span(int(s), int(e), str(lab)) for s, e, lab in record.get("label", record.get("labels", []))]
    return LabelledText(text, _checked(text, spans), id=str(record.get("id", "")))


def _label_studio(record: dict[str, Any]) -> LabelledText:
    data = record["data"]
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise ValueError("task has no data.text")
    annotations = record.get("annotations") or record.get("completions") or []
    spans = []
    for annotation in annotations[:1]:  # the first annotation is the one kept
        for result in annotation.get("result", []):
            value = result.get("value", {})
            if "start" in value and value.get("labels"):
                spans.append(Span(int(value["start"]), int(value["end"]), value["labels"][0]))
    return LabelledText(text, _checked(text, spans), id=str(record.get("id", "")))


def _read_json_spans(
    path: str | Path, convert: Callable[[dict[str, Any]], LabelledText], strict: bool, on_error: ErrorHandler | None
) -> Iterator[LabelledText]:
    path = Path(path)
    for number, record in _json_records(path):
        if isinstance(record, NerFormatError):
            _report(record, strict, on_error)
            continue
        try:
            yield convert(record)
        except (KeyError, TypeError, ValueError) as error:
            reason = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            _report(NerFormatError(str(path), number, reason), strict, on_error)


def read_doccano(path: str | Path, *, strict: bool = False, on_error: ErrorHandler | None = None) -> Iterator[LabelledText]:
    """Read doccano sequence-labelling exports (``label`` triples or ``entities`` objects)."""
    return _read_json_spans(path, _doccano, strict, on_error)


def read_label_studio(
    path: str | Path, *, strict: bool = False, on_error: ErrorHandler | None = None
) -> Iterator[LabelledText]:
    """Read Label Studio NER tasks (JSON array or JSONL), first annotation of each."""
    return _read_json_spans(path, _label_studio, strict, on_error)


def write_doccano(texts: Iterable[LabelledText], path: str | Path) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for item in texts:
            record = {"id": item.id, "text": item.text, "label": [[s.start, s.end, s.label] for s in item.spans]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


FORMATS = ("bio", "bieos", "jsonl", "label-studio")
_SUFFIXES = {".bio": "bio", ".bieos": "bieos", ".bmes": "bieos", ".conll": "bio", ".txt": "bio", ".jsonl": "jsonl", ".json": "jsonl"}


def detect_format(path: str | Path, format: str | None = None) -> str:
    """The format given, else the one the file name says (``.bio``, ``.bieos``, ``.jsonl`` …); a
    JSON file whose first record is a Label Studio task (``data``) is ``label-studio``."""
    if format:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"{path}: cannot tell the format from the file name; pass one of {', '.join(FORMATS)}")
    if _SUFFIXES[suffix] == "jsonl" and Path(path).is_file():
        first = next(_json_records(Path(path)), (0, None))[1]
        if isinstance(first, dict) and "data" in first and "text" not in first:
            return "label-studio"
    return _SUFFIXES[suffix]


def read_labelled(
    path: str | Path, format: str | None = None, *, strict: bool = False, on_error: ErrorHandler | None = None
) -> list[LabelledText]:
    """Labelled texts from any supported format (CoNLL BIO/BIEOS, doccano JSONL, Label Studio)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    chosen = detect_format(path, format)
    if chosen in ("bio", "bieos"):
        return list(read_conll(path, strict=strict, on_error=on_error))
    if chosen == "label-studio":
        return list(read_label_studio(path, strict=strict, on_error=on_error))
    return list(read_doccano(path, strict=strict, on_error=on_error))
