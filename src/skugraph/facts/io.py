"""Fact files: write facts as JSONL or Parquet, read them back checked against the ontology,
and tell a file of other records (listings, mentions) from a facts file before reading it."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import Any

from skugraph.corpus.listing_formats import UnreadableFileError, check_text
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.records import Entity, Fact, to_json_line
from skugraph.tables import FACTS, PartWriter, fact_from_row, facts_table, is_parquet, part_files, read_rows

#: facts a Parquet row group holds when writing
PARQUET_CHUNK = 50_000


def write_facts(path: Path, facts: Iterable[Fact]) -> None:
    """Facts as JSONL, one a line, or as a Parquet directory where ``path`` ends in ``.parquet``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_parquet(path):
        remaining = iter(facts)
        with closing(PartWriter(path, FACTS)) as writer:
            while chunk := list(islice(remaining, PARQUET_CHUNK)):
                writer.write(facts_table(chunk))
        return
    with path.open("w", encoding="utf-8") as handle:
        for fact in facts:
            handle.write(to_json_line(fact) + "\n")


#: facts a confidence threshold never leaves out: a listing's ``offer_of`` carries the match score
#: that joined it to its product, which the matcher's threshold decides (without it the listing has no product)
ALWAYS_KEPT = frozenset({"offer_of"})


def check_min_confidence(min_confidence: float) -> None:
    """Raise ``ValueError`` for a confidence threshold outside 0..1."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"--min-confidence must be between 0 and 1, not {min_confidence:g}")


def confident_facts(facts: Iterable[Fact], min_confidence: float, left_out: Counter[str]) -> Iterator[Fact]:
    """The facts whose confidence is at least ``min_confidence`` (and every :data:`ALWAYS_KEPT`
    one), streaming; each fact left out is counted in ``left_out`` by its predicate as it passes.
    ``min_confidence`` outside 0..1 raises ``ValueError`` at once."""
    check_min_confidence(min_confidence)

    def kept(fact: Fact) -> bool:
        if fact.confidence >= min_confidence or fact.predicate in ALWAYS_KEPT:
            return True
        left_out[fact.predicate] += 1
        return False

    return filter(kept, facts)


def read_facts(path: Path, on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None) -> Iterator[Fact]:
    """Facts from a JSONL file or a Parquet file or directory written by :func:`skugraph.pipeline.extract`. A bad
    record (broken JSON, a missing field, unknown predicate, wrong labels) is reported to
    ``on_error`` as ``file:line N: not a valid fact: reason`` (``row N`` in Parquet) and skipped;
    without ``on_error`` it raises ``ValueError``. A file of other records (listings, mentions)
    raises :class:`NotFactsError` here, before any record is read; an empty one gives no facts."""
    check_facts_file(path, allow_empty=True)
    return _read_facts(path, on_error, ontology or load_ontology())


class NotFactsError(ValueError):
    """A file given as facts that holds none: empty, or another kind of record."""


#: records read to tell what a file given as facts holds
SNIFF_RECORDS = 20


def check_facts_file(path: Path, allow_empty: bool = False, ontology: Ontology | None = None) -> None:
    """Raise :class:`NotFactsError` for a file that holds no facts: listings or mentions (saying
    which command makes facts), none of its first records a fact (one that fits ``ontology``,
    where given), or (unless ``allow_empty``) empty."""
    if is_parquet(path):
        _check_facts_table(path, allow_empty)
        return
    records: list[tuple[int, Any]] = []
    for number, line in _lines(path):
        try:
            records.append((number, json.loads(line) if line is not None else None))
        except (json.JSONDecodeError, RecursionError, ValueError):
            records.append((number, None))
        if len(records) == SNIFF_RECORDS:
            break
    if not records:
        if allow_empty:
            return
        raise NotFactsError(f"{path}: no facts (the file is empty)")
    problems = [(number, _fact_problem(data, ontology)) for number, data in records]
    if any(problem is None for _, problem in problems):
        return
    objects = [data for _, data in records if isinstance(data, dict)]
    _refuse_other_records(path, [set(data) for data in objects] if len(objects) == len(records) else [])
    number, problem = problems[0]
    raise NotFactsError(f"{path}: none of its first {len(records)} records is a valid fact (line {number}: {problem})")


def _refuse_other_records(path: Path, fields: list[set[str]]) -> None:
    """Name the kind of record a file holds instead of facts, if every one is listings or mentions."""
    if fields and all({"id", "title"} <= names for names in fields):
        raise NotFactsError(f"{path} looks like listings, not facts: run skugraph extract first")
    if fields and all({"listing_id", "label", "start"} <= names for names in fields):
        raise NotFactsError(f"{path} looks like mentions, not facts: give the file `skugraph extract` wrote with --out")


def _check_facts_table(path: Path, allow_empty: bool) -> None:
    import pyarrow.parquet as pq

    files = part_files(path)
    if not files or sum(pq.ParquetFile(file).metadata.num_rows for file in files) == 0:
        if allow_empty:
            return
        raise NotFactsError(f"{path}: no facts (no rows)")
    columns = set(pq.read_schema(files[0]).names)
    missing = sorted(set(FACTS.names) - columns)
    if missing:
        _refuse_other_records(path, [columns])
        raise NotFactsError(f"{path}: not a facts table (no column {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}); "
                            "`skugraph extract` writes facts")


def _fact_problem(data: Any, ontology: Ontology | None = None) -> str | None:
    """What keeps a JSON record from being a fact (one that fits ``ontology``, where given), in
    the user's words; None: it reads as one."""
    if data is None:
        return "broken JSON or not UTF-8"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    for side in ("subject", "object"):
        entity = data.get(side)
        if entity is None:
            return f"no {side!r} field"
        if not isinstance(entity, dict):
            return f"{side!r} is not an object"
        absent = [name for name in ("label", "key", "name") if not isinstance(entity.get(name), str)]
        if absent:
            return f"{side!r} has no text {absent[0]!r}"
        unknown = sorted(set(entity) - set(Entity.__dataclass_fields__))
        if unknown:
            return f"{side!r} has an unknown field {unknown[0]!r}"
    if not isinstance(data.get("predicate"), str):
        return "no text 'predicate' field"
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        return "no number 'confidence' field"
    if ontology is not None:
        try:
            ontology.check(Fact.from_dict(data))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return _reason(error)
    return None


def _parse_fact_line(line: str | None) -> Fact:
    if line is None:
        raise ValueError("not valid UTF-8")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"broken JSON: {error.msg} at column {error.colno}") from None
    problem = _fact_problem(data)
    if problem:
        raise ValueError(problem)
    return Fact.from_dict(data)


def _read_facts(path: Path, on_error: Callable[[str], None] | None, ontology: Ontology) -> Iterator[Fact]:
    if is_parquet(path):
        records = ((file, f"row {number}", row, fact_from_row) for file, number, row in read_rows(path))
    else:
        records = ((path, f"line {number}", line, _parse_fact_line) for number, line in _lines(path))
    for file, where, record, parse in records:
        try:
            fact = parse(record)
            ontology.check(fact)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as error:
            message = f"{file}:{where}: not a valid fact: {_reason(error)}"
            if on_error is None:
                raise ValueError(message) from None
            on_error(message)
            continue
        yield fact


def _reason(error: Exception) -> str:
    """An exception as a reason a user can act on, without Python's wording."""
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} field"
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(error))
    if unexpected:
        return f"unknown field {unexpected.group(1)!r}"
    if isinstance(error, ValueError) and not isinstance(error, json.JSONDecodeError):
        return str(error)
    return "a field holds a value of the wrong type"


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(number, line) of a text file's non-blank lines; the line is None where it is not UTF-8.
    A file that is plainly not text raises :class:`NotFactsError`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as handle:
        try:
            check_text(path, handle.peek(8192)[:8192], "facts")
        except UnreadableFileError as error:
            raise NotFactsError(str(error)) from None
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None
                continue
            if line.strip():
                yield number, line
