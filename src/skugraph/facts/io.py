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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from skugraph.corpus.listing_formats import UnreadableFileError, check_text
from skugraph.facts.checks import ARROW_TYPES, fact_problems, property_types
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.records import Entity, Fact, to_json_line
from skugraph.tables import (
    FACTS,
    PROVENANCE,
    LineBlock,
    PartWriter,
    fact_from_row,
    facts_table,
    is_parquet,
    line_blocks,
    part_files,
    read_rows,
    valid_utf8,
)

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


def confident_tables(tables: Iterable[pa.Table], min_confidence: float, left_out: Counter[str]) -> Iterator[pa.Table]:
    """:func:`confident_facts` on fact tables (:func:`read_fact_tables`), filtered on the columns."""
    check_min_confidence(min_confidence)
    for table in tables:
        if min_confidence > 0:
            kept = pc.or_(pc.greater_equal(table["confidence"], min_confidence),
                          pc.is_in(table["predicate"], value_set=pa.array(sorted(ALWAYS_KEPT))))
            for found in pc.value_counts(table["predicate"].filter(pc.invert(kept))).to_pylist():
                left_out[found["values"]] += found["counts"]
            table = table.filter(kept)
        yield table


#: facts a table :func:`read_fact_tables` gives holds at most
TABLE_ROWS = 200_000


def read_fact_tables(path: Path, on_error: Callable[[str], None] | None = None, ontology: Ontology | None = None,
                     rows: int = TABLE_ROWS) -> Iterator[pa.Table]:
    """The facts :func:`read_facts` gives, as tables of the :data:`skugraph.tables.FACTS` layout
    (``properties`` as a struct), ``rows`` facts at most each, never a Python object per fact:
    Parquet is read in batches, JSONL by Arrow's JSON reader, and both are checked against the
    ontology on the columns. A batch with a record either refuses is read again record by record,
    as :func:`read_facts` reads it, so each bad record is reported (or raises) by its line and the
    good ones around it are kept."""
    check_facts_file(path, allow_empty=True)
    ontology = ontology or load_ontology()
    if is_parquet(path):
        for file in part_files(path):
            first = 1
            for batch in pq.ParquetFile(file).iter_batches(batch_size=rows):
                table = pa.Table.from_batches([batch])
                yield _checked(table, ontology) or facts_table(_read_records(
                    ((file, f"row {first + number}", row, fact_from_row) for number, row in enumerate(table.to_pylist())),
                    on_error, ontology))
                first += table.num_rows
        return
    schema = _json_schema(ontology)
    for block in line_blocks(path, rows):
        table = _read_json_block(block, schema, ontology)
        yield table if table is not None else facts_table(_read_records(
            ((path, f"line {number}", line, _parse_fact_line) for number, line in _decoded(block.lines())), on_error, ontology))


def _json_schema(ontology: Ontology) -> pa.Schema:
    """A fact's JSON record as Arrow reads it: entities and provenance as structs, the
    properties as a struct of those the ontology declares."""
    entity = pa.struct([("label", pa.string()), ("key", pa.string()), ("name", pa.string()), ("kind", pa.string()),
                        ("aliases", pa.list_(pa.string()))])
    return pa.schema([("subject", entity), ("predicate", pa.string()), ("object", entity), ("confidence", pa.float64()),
                      ("provenance", pa.list_(PROVENANCE)),
                      ("properties", pa.struct([(name, ARROW_TYPES[kind]) for name, kind in property_types(ontology).items()]))])


def _decoded(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, str | None]]:
    """(number, text) of the non-blank lines, as :func:`_lines` gives them."""
    for number, raw in lines:
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield number, None
            continue
        if line.strip():
            yield number, line


def _read_json_block(block: LineBlock, schema: pa.Schema, ontology: Ontology) -> pa.Table | None:
    """A block of JSONL facts read by Arrow and checked; None where a record is broken, has a
    field of the wrong type or an unknown one, or the ontology refuses it, or the lines are not
    one object each (:meth:`~skugraph.tables.LineBlock.braced`)."""
    if not block.braced() or not valid_utf8(block.data):  # Arrow's JSON reader takes bytes that are not UTF-8
        return None
    try:
        table = pa_json.read_json(pa.BufferReader(pa.py_buffer(block.data)), parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="error"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != block.count:
        return None  # a line of two objects
    facts = {}
    for side in ("subject", "object"):
        entity = table[side]
        for name in ("label", "key", "name", "kind", "aliases"):
            facts[f"{side}_{name}"] = pc.struct_field(entity, name)
        if side == "subject":
            facts["predicate"] = table["predicate"]
    facts |= {"confidence": table["confidence"], "provenance": table["provenance"], "properties": table["properties"]}
    required = [facts[f"{side}_{name}"] for side in ("subject", "object") for name in ("label", "key", "name")]
    pieces = pc.list_flatten(table["provenance"])
    required += [facts["predicate"], facts["confidence"], *(pc.struct_field(pieces, name) for name in ("listing_id", "field", "start", "end", "extractor"))]
    if any(column.null_count for column in required):
        return None
    for side in ("subject", "object"):
        facts[f"{side}_kind"] = pc.fill_null(facts[f"{side}_kind"], "")
        facts[f"{side}_aliases"] = pc.fill_null(facts[f"{side}_aliases"], pa.scalar([], pa.list_(pa.string())))
    return _checked(pa.table(facts), ontology)


def _checked(table: pa.Table, ontology: Ontology) -> pa.Table | None:
    """``table`` if the ontology takes every fact of it, else None."""
    try:
        _, problems = fact_problems(table, ontology)
    except (ValueError, pa.ArrowInvalid, KeyError):
        return None
    return None if problems else table


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
        if not isinstance(entity.get("kind", ""), str):
            return f"{side!r} has a 'kind' that is not text"
        aliases = entity.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
            return f"{side!r} has 'aliases' that are not a list of texts"
    unknown = sorted(set(data) - set(Fact.__dataclass_fields__))
    if unknown:
        return f"an unknown field {unknown[0]!r}"
    if not isinstance(data.get("predicate"), str):
        return "no text 'predicate' field"
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        return "no number 'confidence' field"
    places = data.get("provenance", [])
    if not isinstance(places, list) or not all(isinstance(place, dict) for place in places):
        return "'provenance' is not a list of objects"
    for place in places:
        texts = [name for name in ("listing_id", "field", "extractor") if not isinstance(place.get(name), str)]
        texts += [name for name in ("version", "run") if not isinstance(place.get(name, ""), str)]
        if texts:
            return f"a provenance has no text {texts[0]!r}"
        numbers = [name for name in ("start", "end")
                   if isinstance(place.get(name), bool) or not isinstance(place.get(name), int)]
        if numbers:
            return f"a provenance has no whole number {numbers[0]!r}"
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
    return _read_records(records, on_error, ontology)


def _read_records(records: Iterable[tuple[Path, str, Any, Callable[[Any], Fact]]], on_error: Callable[[str], None] | None,
                  ontology: Ontology) -> Iterator[Fact]:
    """Facts parsed from (file, where, record, parser), checked against the ontology; a bad one
    goes to ``on_error`` (without it: ``ValueError``)."""
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
        yield from _decoded(enumerate(handle, 1))
