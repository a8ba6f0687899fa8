"""Fuzzing the listing readers and the extractors with generated malformed files (hypothesis).

A generated JSONL file mixes good listings (odd but valid text: any Unicode, escaped control
characters, emoji, long fields within the limits) with bad records of known kinds: bytes that
are not UTF-8, lines in another encoding, broken or truncated JSON, a JSON value that is not an
object, wrong types, missing, blank or duplicate ids, fields and records over the limits, raw
control characters, lone surrogates, numbers too large to hold, nesting too deep, times that
cannot be. :func:`check_file` ingests it and extracts facts from what was kept, and says what
went wrong: a crash, a good listing lost, a bad record not reported with its file and line.

Used by ``tests/test_fuzz.py`` (a few hundred files) and ``skugraph bench fuzz`` (10,000
records or more, counts to ``benchmarks/results/fuzz.json``); needs the ``dev`` extra.
"""

from __future__ import annotations

import json
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from skugraph.corpus.listing_fields import Limits
from skugraph.corpus.listings import UNFORESEEN

LIMITS = Limits(record=20_000, title=300, description=5_000, review=1_000, reviews=20)  # small, so "huge" stays fast

_text = st.text(st.characters(codec="utf-8"), max_size=60)  # any Unicode scalar value: no lone surrogates
_title = _text.filter(lambda t: t.strip())


@dataclass(frozen=True)
class Line:
    """One line of a generated file: what it is, and how to write it given its id."""

    kind: str  # "good" or the kind of damage
    fields: dict = field(default_factory=dict)
    raw: bytes | None = None  # the whole line, for damage that is not a JSON object

    @property
    def good(self) -> bool:
        return self.kind == "good"

    def encode(self, listing_id: str, earlier: list[str]) -> bytes:
        if self.raw is not None:
            return self.raw
        record = dict(self.fields)
        if self.kind == "duplicate_id":
            record["id"] = earlier[0]
        elif "id" not in record and self.kind not in ("missing_id",):
            record["id"] = listing_id
        text = json.dumps(record, ensure_ascii=False)
        if self.kind == "raw_control":  # a control character written as itself inside a string, not escaped
            text = text.replace("\\u0001", "\x01")
        if self.kind == "lone_surrogate":
            text = text.replace("SURROGATE", "\\ud800")
        return text.encode("utf-8", "surrogatepass")


@st.composite
def good_line(draw) -> Line:
    record = {"title": draw(_title)}
    if draw(st.booleans()):
        record["description"] = draw(st.text(st.characters(codec="utf-8"), max_size=400))
    if draw(st.booleans()):
        record["price"] = draw(st.one_of(st.floats(0, 1e6), st.integers(0, 10**6), st.just("12.50")))
    if draw(st.booleans()):
        record["reviews"] = draw(st.lists(st.one_of(_title, st.fixed_dictionaries({"text": _title, "rating": st.integers(1, 5)})),
                                          max_size=3))
    if draw(st.booleans()):
        record["category"] = draw(st.one_of(_text, st.lists(_title, max_size=3)))
    if draw(st.booleans()):
        record["updated_at"] = draw(st.sampled_from(["2025-03-01T08:00:00Z", "2025-03-01", 1_700_000_000, None]))
    return Line("good", record)


@st.composite
def bad_line(draw, kind: str | None = None) -> Line:
    """A damaged record: of ``kind``, or of any kind."""
    kind = kind or draw(st.sampled_from(BAD_KINDS))
    title = draw(_title)
    if kind == "not_utf8":
        where = draw(st.sampled_from([b'"title": "', b'"title": "t", "extra": "']))  # a field read, or one skipped
        return Line(kind, raw=b'{"id": "x", ' + where + draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"])) + b'"}')
    if kind == "other_encoding":
        return Line(kind, raw=json.dumps({"id": "gbk", "title": "诺芝太阳能热水器 " + title}, ensure_ascii=False).encode("gb18030",
                                                                                                                  "replace"))
    if kind == "broken_json":
        return Line(kind, raw=draw(st.sampled_from([b'{"id": "x", "title": ', b'{"id": x}', b"{'id': 'x'}", b'{"id": "x",}'])))
    if kind == "not_object":
        return Line(kind, raw=draw(st.sampled_from([b"[1, 2]", b'"a listing"', b"42", b"null", b"true"])))
    if kind == "wrong_type":
        name, value = draw(st.sampled_from([("title", 5), ("title", ["a"]), ("title", {"zh": "a"}), ("price", "cheap"),
                                            ("price", True), ("reviews", 3), ("reviews", [5]), ("updated_at", "yesterday"),
                                            ("category", [1, 2]), ("description", 1.5), ("redactions", "x")]))
        return Line(kind, {"title": title, name: value})
    if kind == "missing_id":
        return Line(kind, {"title": title})
    if kind == "blank_id":
        return Line(kind, {"id": draw(st.sampled_from(["", "   ", None])), "title": title})
    if kind == "missing_title":
        return Line(kind, draw(st.sampled_from([{}, {"title": ""}, {"title": "  "}, {"description": title}])))
    if kind == "duplicate_id":
        return Line(kind, {"title": title})
    if kind == "huge_field":
        name, size = draw(st.sampled_from([("title", LIMITS.title + 1), ("description", LIMITS.description + 1), ("id", LIMITS.id + 1)]))
        return Line(kind, {"title": title, name: "长" * size})
    if kind == "huge_record":
        return Line(kind, {"title": title, "extra": "x" * LIMITS.record})
    if kind == "raw_control":
        return Line(kind, {"title": title + "\u0001"})
    if kind == "lone_surrogate":
        return Line(kind, {"title": title + "SURROGATE"})
    if kind == "huge_number":
        return Line(kind, raw=b'{"id": "n", "title": "t", "price": 1' + b"0" * draw(st.sampled_from([400, 5000])) + b"}")
    if kind == "deep_nesting":
        field = draw(st.sampled_from([b"reviews", b"extra"]))  # a field read, or one skipped
        return Line(kind, raw=b'{"id": "d", "title": "t", "' + field + b'": ' + b"[" * 5_000 + b"]" * 5_000 + b"}")
    if kind == "impossible_time":
        return Line(kind, {"title": title, "updated_at": draw(st.sampled_from([1e20, -1e20, "2025-13-45", float("nan")]))})
    if kind == "bad_number":
        return Line(kind, {"title": title, **draw(st.sampled_from([{"price": -1}, {"price": float("inf")}, {"price": float("nan")},
                                                                   {"reviews": [{"text": "好", "rating": float("nan")}]}]))})
    raise AssertionError(kind)


BAD_KINDS = ("not_utf8", "other_encoding", "broken_json", "not_object", "wrong_type", "missing_id", "blank_id", "missing_title",
             "duplicate_id", "huge_field", "huge_record", "raw_control", "lone_surrogate", "huge_number", "deep_nesting",
             "impossible_time", "bad_number")


@dataclass
class GeneratedFile:
    lines: list[Line]
    truncate: int  # bytes cut from the end of the file (0: whole)

    def write(self, path: Path) -> tuple[list[str], dict[int, str]]:
        """Write the file; returns (the good listings' ids in order, bad line number → kind)."""
        good_ids: list[str] = []
        bad: dict[int, str] = {}
        chunks = []
        for number, line in enumerate(self.lines, 1):
            kind = line.kind if good_ids or line.kind != "duplicate_id" else "good"  # a duplicate needs an earlier id
            chunks.append(Line(kind, line.fields, line.raw).encode(f"L{number}", good_ids) + b"\n")
            if kind == "good":
                good_ids.append(f"L{number}")
            else:
                bad[number] = kind
        data = b"".join(chunks)
        cut = min(self.truncate, len(chunks[-1]) - 1) if chunks else 0
        if cut > 1:  # the last line loses its end (the newline and more): a truncated record
            data = data[: len(data) - cut]
            last = len(chunks)
            if last not in bad:
                good_ids.pop()
                bad[last] = "truncated"
        path.write_bytes(data)
        return good_ids, bad


@st.composite
def generated_file(draw, max_lines: int = 60) -> GeneratedFile:
    lines = draw(st.lists(st.one_of(good_line(), bad_line()), min_size=1, max_size=max_lines))
    return GeneratedFile(lines, draw(st.one_of(st.just(0), st.integers(0, 40))))


@dataclass
class FuzzReport:
    """What a fuzz run generated and what went wrong reading it: ``crashes``, ``lost_good``,
    ``unreported_bad``, ``mislabelled``, ``unforeseen`` and ``bad_spans`` should all be nothing."""

    files: int = 0  # files generated
    records: int = 0  # records written, good and bad
    good: int = 0  # good records written
    bad: Counter[str] = field(default_factory=Counter)  # bad records written, by kind of damage
    crashes: list[str] = field(default_factory=list)  # errors ingest or extract raised, with their tracebacks' ends
    lost_good: int = 0  # good listings not kept
    unreported_bad: int = 0  # bad records kept, or not reported with file and line
    mislabelled: int = 0  # reports naming another file or line
    unforeseen: int = 0  # bad records caught only by the readers' last wall, not by a field check
    facts: int = 0  # facts extracted from the records kept
    bad_spans: int = 0  # fact evidence pointing outside its field's text

    def to_dict(self) -> dict:
        return {"files": self.files, "records": self.records, "good_records": self.good, "bad_records": sum(self.bad.values()),
                "bad_by_kind": dict(sorted(self.bad.items())), "crashes": len(self.crashes), "crash_examples": self.crashes[:5],
                "lost_good_records": self.lost_good, "unreported_bad_records": self.unreported_bad,
                "misplaced_reports": self.mislabelled, "caught_only_by_the_last_wall": self.unforeseen,
                "facts_extracted": self.facts, "facts_with_bad_spans": self.bad_spans}


def check_file(generated: GeneratedFile, work: Path, report: FuzzReport) -> None:
    """Ingest ``generated`` and extract facts from what was kept; count what went wrong."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest, load_listings
    from skugraph.facts.io import read_facts

    work.mkdir(parents=True, exist_ok=True)
    source = work / "listings.jsonl"
    good_ids, bad = generated.write(source)
    report.files += 1
    report.records += len(good_ids) + len(bad)
    report.good += len(good_ids)
    report.bad.update(bad.values())
    try:
        ingested = ingest([source], work / "clean.jsonl", work / "rejects.jsonl", limits=LIMITS)
        kept = [json.loads(line)["id"] for line in _lines(work / "clean.jsonl")]
        rejects = [json.loads(line) for line in _lines(work / "rejects.jsonl")]
        extracted = pipeline.extract(work / "clean.jsonl", work / "facts.jsonl")
    except Exception as error:
        report.crashes.append(f"{type(error).__name__}: {error}"[:300] + " | " + traceback.format_exc(limit=-6).replace("\n", " ")[:500])
        report.lost_good += len(good_ids)
        return
    report.facts += extracted.facts
    texts = {listing.id: listing for listing in load_listings(work / "clean.jsonl")}
    for fact in read_facts(work / "facts.jsonl"):
        for place in fact.provenance:
            listing = texts.get(place.listing_id)
            if listing is not None and not 0 <= place.start <= place.end <= len(listing.field_text(place.field)):
                report.bad_spans += 1
    report.lost_good += len(set(good_ids) - set(kept))
    reported = {int(r["where"].removeprefix("line ")) for r in rejects if r["file"] == str(source) and r["where"].startswith("line ")
                and r["reason"]}
    report.unreported_bad += len(set(bad) - reported) + len(set(kept) - set(good_ids))
    report.mislabelled += len(rejects) - len(reported & set(bad))
    report.unforeseen += sum(r["reason"].startswith(UNFORESEEN) for r in rejects)
    assert ingested.ingested == len(kept)


def _lines(path: Path) -> list[str]:
    """A JSONL file's lines, split on newlines only (str.splitlines also splits on U+2028 …)."""
    return [line for line in path.read_text("utf-8").split("\n") if line]


def run(records: int = 10_000, work: Path | None = None, start_seed: int = 0) -> FuzzReport:
    """Generate and check files until ``records`` records have been read."""
    import tempfile

    report = FuzzReport()
    with tempfile.TemporaryDirectory(prefix="skugraph-fuzz-") as scratch:
        base = work or Path(scratch)
        round_seed = start_seed
        while report.records < records:

            @seed(round_seed)
            @settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(generated_file())
            def one(generated: GeneratedFile) -> None:
                check_file(generated, base / f"file-{report.files}", report)

            one()
            round_seed += 1
    return report
