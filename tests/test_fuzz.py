"""Fuzzing the readers and the extractors: generated malformed files never crash a run, every
good record is kept, every bad one is reported with its file and line (see skugraph.fuzz)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("hypothesis", reason="hypothesis (the dev extra) is not installed")

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skugraph.corpus.ingest import ingest
from skugraph.corpus.listing_formats import UnreadableFileError
from skugraph.corpus.listings import Reject, read_listings
from skugraph.fuzz import BAD_KINDS, FuzzReport, GeneratedFile, Line, check_file, generated_file, good_line


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(generated=generated_file())
def test_generated_files_never_crash_and_lose_or_hide_nothing(generated, tmp_path_factory):
    report = FuzzReport()
    check_file(generated, tmp_path_factory.mktemp("fuzz"), report)
    assert report.crashes == []
    assert (report.lost_good, report.unreported_bad, report.mislabelled, report.unforeseen, report.bad_spans) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_each_kind_of_damage_is_reported_with_its_line(kind, tmp_path_factory):
    """Each kind between two good records (the file test above may not draw every kind)."""
    from skugraph.fuzz import Line, bad_line

    @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(bad=bad_line(kind))
    def reported(bad):
        generated = GeneratedFile([Line("good", {"title": "华为 手机"}), bad, Line("good", {"title": "小米 手表"})], truncate=0)
        report = FuzzReport()
        check_file(generated, tmp_path_factory.mktemp(kind), report)
        assert report.crashes == [] and report.good == 2 and report.lost_good == 0 and report.unreported_bad == 0
        assert sum(report.bad.values()) == 1

    reported()


def test_an_unreadable_parquet_file_is_one_reject_and_the_other_files_are_read(tmp_path):
    good = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": f"p{i}", "title": f"标题 {i}"} for i in range(50)]), good)
    broken = tmp_path / "b.parquet"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    rejects: list[Reject] = []
    kept = list(read_listings([broken, good], on_reject=rejects.append))
    assert [listing.id for listing in kept] == [f"p{i}" for i in range(50)]
    assert len(rejects) == 1 and rejects[0].path == str(broken) and "not a readable Parquet file" in rejects[0].reason


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(damage=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=3)), min_size=1, max_size=6),
       cut=st.integers(0, 50))
def test_damaged_csv_bytes_never_crash_and_every_reject_names_file_and_line(damage, cut, tmp_path_factory):
    work = tmp_path_factory.mktemp("csv")
    rows = ["id,title,price,reviews"] + [f'c{i},"标题, {i}",{i}.5,"[""好用""]"' for i in range(40)]
    data = bytearray("\n".join(rows).encode("utf-8") + b"\n")
    for position, junk in damage:
        position %= len(data)
        data[position : position + len(junk)] = junk
    source = work / "listings.csv"
    source.write_bytes(bytes(data[: len(data) - cut]))
    try:
        report = ingest([source], work / "clean.jsonl", work / "rejects.jsonl")
    except UnreadableFileError as refused:  # a damaged header: the whole file is refused, in one line naming it
        assert str(refused).startswith(str(source)) and "\n" not in str(refused)
        return
    assert all(r.path == str(source) and r.where.startswith("line ") and r.reason for r in report.rejects)
    assert report.ingested + report.rejected >= 1


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(generated=generated_file(max_lines=12), rows=st.integers(1, 5))
def test_listings_read_as_columns_are_those_the_record_reader_gives_or_the_same_error(generated, rows, tmp_path_factory):
    """The loader's columnar read (skugraph.corpus.listing_tables) on fuzzed files: the listings
    the record reader gives, or the same first error, so a check added to the record reader
    that the columns lack shows here."""
    from skugraph.corpus.listing_tables import read_listing_tables
    from skugraph.corpus.listings import BadRecordError
    from skugraph.fuzz import LIMITS
    from skugraph.tables import LISTINGS, listings_table

    path = tmp_path_factory.mktemp("columns") / "listings.jsonl"
    generated.write(path)
    try:
        expected = listings_table(read_listings([path], strict=True, limits=LIMITS))
    except BadRecordError as error:
        with pytest.raises(BadRecordError) as found:
            list(read_listing_tables([path], rows, LIMITS))
        assert str(found.value) == str(error)
    else:
        assert pa.concat_tables([LISTINGS.empty_table(), *read_listing_tables([path], rows, LIMITS)]).equals(expected)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(good_line(), min_size=1, max_size=12))
@example(lines=[Line(kind="good", fields={"title": "\\uD8"}, raw=None)])  # a backslash then "uD8": no escaped surrogate
def test_what_ingest_writes_is_read_as_columns(lines, tmp_path_factory):
    from skugraph.corpus.ingest import load_listings
    from skugraph.corpus.listing_tables import _columnar_block, read_listing_tables
    from skugraph.fuzz import LIMITS
    from skugraph.tables import line_blocks, listings_table

    work = tmp_path_factory.mktemp("ingested")
    GeneratedFile(lines, truncate=0).write(work / "raw.jsonl")
    ingest([work / "raw.jsonl"], work / "listings.jsonl", limits=LIMITS)
    assert all(_columnar_block(block, LIMITS, set()) is not None for block in line_blocks(work / "listings.jsonl", 4))
    tables = list(read_listing_tables([work / "listings.jsonl"], 4, LIMITS))
    assert pa.concat_tables(tables).equals(listings_table(load_listings(work / "listings.jsonl")))
