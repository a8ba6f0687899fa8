import csv
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skugraph.corpus.ingest import ingest, load_listings
from skugraph.corpus.listing_fields import Limits
from skugraph.corpus.listing_formats import UnreadableFileError
from skugraph.corpus.listings import BadRecordError, Reject, read_listings


def good(i: int) -> dict:
    return {
        "id": f"p{i}",
        "title": f"华为 手机 {i}",
        "price": 10 + i,
        "reviews": ["不错", {"text": "很好", "rating": 5}],
        "updated_at": "2026-05-01T00:00:00Z",
    }


BROKEN = [
    ('{"id": "x1", "title": "unterminated', "(record)", "broken JSON"),
    ('{"title": "no id"}', "id", "missing"),
    ('{"id": "x3", "title": 42}', "title", "expected text"),
    ('{"id": "x4", "title": "t", "price": "cheap"}', "price", "expected a number"),
    ('{"id": "x5", "title": "' + "长" * 1001 + '"}', "title", "over the 1000 limit"),
    ('{"id": "p0", "title": "same id as line 1"}', "id", "duplicate id"),
    ('["a", "list"]', "(record)", "not an object"),
    ('{"id": "x8", "title": "t", "reviews": [{"rating": 5}]}', "reviews[0].text", "missing"),
    ('{"id": "x9", "title": "t", "updated_at": "yesterday"}', "updated_at", "ISO 8601"),
    ('{"id": "x10", "title": "t", "price": -3}', "price", "non-negative"),
]


def write_mixed(path: Path, count: int = 1000) -> dict[int, tuple[str, str]]:
    """1,000 good lines with the 10 broken ones spread among them; returns line → (field, reason)."""
    lines, expected = [], {}
    broken = iter(BROKEN)
    for i in range(count):
        lines.append(json.dumps(good(i), ensure_ascii=False))
        if i % 100 == 50:
            raw, field, reason = next(broken)
            lines.append(raw)
            expected[len(lines)] = (field, reason)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected


def test_thousand_good_and_ten_broken(tmp_path):
    source = tmp_path / "mixed.jsonl"
    expected = write_mixed(source)
    report = ingest([source], tmp_path / "out.jsonl", tmp_path / "rejects.jsonl")
    assert (report.ingested, report.rejected) == (1000, 10)
    assert report.summary() == "ingested 1000, rejected 10"
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert [r["where"] for r in rejects] == [f"line {n}" for n in expected]
    for reject, (field, reason) in zip(rejects, expected.values(), strict=True):
        assert reject["file"] == str(source)
        assert reject["field"] == field
        assert reason in reject["reason"]
    kept = list(load_listings(tmp_path / "out.jsonl"))
    assert [listing.id for listing in kept] == [f"p{i}" for i in range(1000)]
    assert kept[3].reviews[1].rating == 5.0 and kept[3].reviews[0].id == "p3#r0"


def test_strict_stops_at_the_first_bad_record(tmp_path):
    source = tmp_path / "mixed.jsonl"
    first_bad = min(write_mixed(source))
    with pytest.raises(BadRecordError) as caught:
        ingest([source], tmp_path / "out.jsonl", strict=True)
    assert caught.value.reject.where == f"line {first_bad}"
    assert not (tmp_path / "out.jsonl").exists()


def test_csv_reader_reports_row_lines(tmp_path):
    source = tmp_path / "listings.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "price", "reviews", "category"])
        writer.writerow(["1", "小米 充电器 65W", "99", '["充电快", "发热小"]', "配件"])
        writer.writerow(["2", "多行\n标题", "abc", "", ""])
        writer.writerow(["3", "得力 中性笔", "", "好用", "文具"])
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    assert [(l.id, l.price) for l in listings] == [("1", 99.0), ("3", None)]
    assert [r.text for r in listings[0].reviews] == ["充电快", "发热小"]
    assert listings[1].reviews[0].text == "好用"
    assert [(r.where, r.field) for r in rejects] == [("line 3", "price")]


def test_parquet_reader_reports_rows(tmp_path):
    source = tmp_path / "listings.parquet"
    table = pa.table({"id": ["a", "b", "a"], "title": ["一", "二", "三"], "price": [1.0, None, 3.0]})
    pq.write_table(table, source)
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    assert [l.id for l in listings] == ["a", "b"]
    assert [(r.where, r.field, r.reason) for r in rejects] == [("row 3", "id", "duplicate id 'a'")]


def test_reading_streams_instead_of_loading_the_file(tmp_path):
    source = tmp_path / "big.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for i in range(4000):
            handle.write(json.dumps({"id": str(i), "title": "t", "description": "描述" * 2500}) + "\n")
    size = source.stat().st_size
    tracemalloc.start()
    count = sum(1 for _ in read_listings([source]))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 4000
    assert peak < size / 10, f"peak {peak} bytes while reading a {size}-byte file"


def test_limits_are_configurable(tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_text('{"id": "1", "title": "一二三四五六"}\n', encoding="utf-8")
    rejects: list[Reject] = []
    assert list(read_listings([source], limits=Limits(title=5), on_reject=rejects.append)) == []
    assert "over the 5 limit" in str(rejects[0])


def test_unknown_suffix_and_missing_file_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(read_listings([tmp_path / "missing.jsonl"]))
    (tmp_path / "x.xml").write_text("")
    with pytest.raises(ValueError, match="cannot tell the format"):
        list(read_listings([tmp_path / "x.xml"]))


def test_a_line_of_bad_bytes_spoils_only_itself(tmp_path):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_bytes(b'{"id": "1", "title": "ok"}\n{"id": "2", "title": "\xff\xfe"}\n{"id": "3", "title": "ok"}\n')
    table = tmp_path / "a.csv"
    table.write_bytes(b"id,title\n1,ok\n2,\xff\n3,ok\n")
    for source in (jsonl, table):
        rejects: list[Reject] = []
        assert [l.id for l in read_listings([source], on_reject=rejects.append)] == ["1", "3"]
        expected_line = "line 2" if source is jsonl else "line 3"
        assert [(r.where, r.reason) for r in rejects] == [(expected_line, "not valid UTF-8")]


def test_an_unclosed_quote_is_reported_at_its_line_and_the_rows_it_swallowed_are_kept(tmp_path):
    source = tmp_path / "listings.csv"
    source.write_text('id,title,price\n1,"华为 手机壳,9\n2,小米 充电器,10\n3,得力 中性笔,3\n4,"晨光 文具盒,5\n', encoding="utf-8")
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    assert [(l.id, l.title, l.price) for l in listings] == [("2", "小米 充电器", 10.0), ("3", "得力 中性笔", 3.0)]
    assert [(r.where, r.field) for r in rejects] == [("line 2", "title"), ("line 5", "title")]
    assert "unclosed quote" in rejects[0].reason and "lines 3–4" in rejects[0].reason
    assert "the file ends inside this field" in rejects[1].reason
    assert rejects[0].record == '1,"华为 手机壳,9'


def test_a_quoted_field_over_several_lines_is_kept_whole(tmp_path):
    source = tmp_path / "listings.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description"])
        writer.writerow(["1", "华为 手机壳", '第一行\n颜色: 红,蓝,绿\n"引号" 也行'])
        writer.writerow(["2", "小米 充电器", ""])
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    assert rejects == []
    assert [(l.id, l.description) for l in listings] == [("1", '第一行\n颜色: 红,蓝,绿\n"引号" 也行'), ("2", "")]


@pytest.mark.parametrize(("header", "missing"), [("id,name,price", "'title'"), ("sku,title", "'id'"), ("name,price", "'id' or 'title'")])
def test_a_missing_required_column_is_one_error_naming_it_and_the_file(tmp_path, header, missing):
    source = tmp_path / "listings.csv"
    source.write_text(f"{header}\n1,华为 手机壳,9\n2,小米 充电器,10\n", encoding="utf-8")
    rejects: list[Reject] = []
    with pytest.raises(UnreadableFileError) as caught:
        list(read_listings([source], on_reject=rejects.append))
    assert str(caught.value).startswith(f"{source}: no {missing} column")
    assert rejects == []  # one error for the file, not one per row


def test_a_parquet_file_without_a_title_column_is_one_error(tmp_path):
    source = tmp_path / "listings.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "name": ["一", "二"]}), source)
    with pytest.raises(UnreadableFileError, match="no 'title' column"):
        list(read_listings([source]))


@pytest.mark.parametrize(("content", "reason"), [
    (bytes(range(256)) * 8, "not a text CSV file (binary data: NUL bytes"),
    ("id,title\n1,华为\n".encode("utf-16"), "it is UTF-16: save it as UTF-8"),
    (b"PK\x03\x04" + bytes(60), "a ZIP archive"),
    ("id,标题\n1,华为\n".encode("gbk"), "its header line is not UTF-8"),
])
def test_a_file_that_is_not_utf8_text_is_refused_in_one_line(tmp_path, content, reason):
    source = tmp_path / "listings.csv"
    source.write_bytes(content)
    with pytest.raises(UnreadableFileError) as caught:
        list(read_listings([source]))
    assert str(caught.value).startswith(f"{source}: not a") and reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bare_carriage_return_is_reported_without_the_csv_module_wording(tmp_path):
    source = tmp_path / "listings.csv"
    source.write_bytes(b"id,title\n1,a\r2,b\n3,c\n")
    rejects: list[Reject] = []
    assert [l.id for l in read_listings([source], on_reject=rejects.append)] == ["3"]
    assert [r.where for r in rejects] == ["line 2"]
    assert "carriage return" in rejects[0].reason and "universal-newline" not in rejects[0].reason
    (tmp_path / "header.csv").write_bytes(b"id,title\rx\n1,a\n")
    with pytest.raises(UnreadableFileError, match=r"line 1 \(the header\): a carriage return"):
        list(read_listings([tmp_path / "header.csv"]))


def test_blank_lines_before_the_header_are_skipped(tmp_path):
    source = tmp_path / "listings.csv"
    source.write_text("\n\nid,title\n1,华为 手机壳\n", encoding="utf-8")
    assert [(l.id, l.title) for l in read_listings([source])] == [("1", "华为 手机壳")]


def test_an_unclosed_quote_is_found_when_the_swallowed_rows_leave_out_trailing_cells(tmp_path):
    source = tmp_path / "listings.csv"
    source.write_text('id,title,price,category\nsku-01,小米 充电器,10\nsku-02,"华为 手机壳,9\nsku-03,得力 中性笔\n'
                      'sku-04,"晨光" 文具盒,5\nsku-05,ok,1\n', encoding="utf-8")
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    assert [l.id for l in listings] == ["sku-01", "sku-03", "sku-04", "sku-05"]
    assert [(r.where, r.field) for r in rejects] == [("line 3", "title")]


def test_a_float_id_column_gives_whole_numbers_and_its_empty_cells_are_missing(tmp_path):
    """Spreadsheet exports store ids as floats (1.0) and empty cells as NaN: 1, not "1.0", and
    NaN is a missing id, not the listing "nan" (a NaN time stays a bad time); an RFC 3339 time may
    end in a lowercase z."""
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": [1.0, float("nan"), 2.5], "title": ["华为 手机", "小米 手机", "OPPO 手机"]}), path)
    rejects: list[Reject] = []
    assert [listing.id for listing in read_listings([path], on_reject=rejects.append)] == ["1", "2.5"]
    assert [(reject.where, reject.field, reject.reason) for reject in rejects] == [("row 2", "id", "missing")]
    times = tmp_path / "times.jsonl"
    times.write_text('{"id": "a", "title": "华为 手机", "updated_at": "2026-05-01T10:00:00z"}\n'
                     '{"id": "b", "title": "小米 手机", "updated_at": NaN}\n', encoding="utf-8")
    rejects.clear()
    assert [listing.updated_at.isoformat() for listing in read_listings([times], on_reject=rejects.append)] == ["2026-05-01T10:00:00+00:00"]
    assert [(reject.field, reject.reason) for reject in rejects] == [("updated_at", "not a time: nan seconds since 1970")]


def test_an_id_with_a_control_character_is_rejected_naming_it(tmp_path):
    source = tmp_path / "ids.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in (
        {"id": "ok-1", "title": "得力 订书机"}, {"id": "bad\u0000", "title": "得力 订书机"},
        {"id": "tab\tid", "title": "得力 订书机"}, {"id": "ok-2", "title": "得力 订书机"})) + "\n", encoding="utf-8")
    report = ingest([source], tmp_path / "out.jsonl", tmp_path / "rejects.jsonl")
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert (report.ingested, report.rejected) == (2, 2)
    assert [(r["where"], r["field"], r["reason"]) for r in rejects] == [
        ("line 2", "id", "holds a control character (U+0000)"), ("line 3", "id", "holds a control character (U+0009)")]
    assert [listing.id for listing in load_listings(tmp_path / "out.jsonl")] == ["ok-1", "ok-2"]
