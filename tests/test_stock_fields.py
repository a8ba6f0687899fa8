"""Stock, sales and warehouse on listings: checked at ingest like every other field (a bad value
named by line and field, never guessed), carried to the graph, and their changes kept as history."""

import csv
import json
from datetime import date

import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import ingest, load_listings
from skugraph.corpus.listing_tables import read_listing_tables
from skugraph.corpus.listings import Reject, read_listings
from skugraph.graph.cards import history
from skugraph.graph.store import open_store
from skugraph.sample.generate import CATALOGUE
from skugraph.corpus.listing_fields import Limits
from skugraph.corpus.listing_tables import _columnar_block
from skugraph.tables import line_blocks, listings_table

PERIOD = {"sales_from": "2026-11-01", "sales_to": "2026-11-30"}

BAD = [
    ({"stock": -1}, "stock", "0 to"),
    ({"stock": 2.5}, "stock", "whole number"),
    ({"stock": "many"}, "stock", "whole number"),
    ({"stock": "12."}, "stock", "whole number"),
    ({"stock": "-3"}, "stock", "0 to 1,000,000,000,000 units, got -3"),
    ({"stock": True}, "stock", "got bool"),
    ({"sales": 30}, "sales_from", "units over a period"),
    ({"sales": 30, "sales_from": "2026-11-01"}, "sales_to", "missing"),
    ({"sales": 30, "sales_from": "2026-11-30", "sales_to": "2026-11-01"}, "sales_to", "before sales_from"),
    ({"sales_from": "2026-11-01", "sales_to": "2026-11-30"}, "sales", "no units sold"),
    ({"sales": 30, "sales_from": "30/11/2026", "sales_to": "2026-11-30"}, "sales_from", "ISO 8601 day"),
    ({"warehouse": "华东\x07仓"}, "warehouse", "control character"),
]


def test_bad_stock_sales_and_warehouse_are_named_by_line_and_field_and_the_good_records_kept(tmp_path):
    source = tmp_path / "stocked.jsonl"
    lines = []
    for number, (bad, _, _) in enumerate(BAD):
        lines.append(json.dumps({"id": f"good-{number}", "title": f"得力 订书机 {number}号", "stock": number, "sales": 3 * number,
                                 "warehouse": "华东仓", **PERIOD}, ensure_ascii=False))
        lines.append(json.dumps({"id": f"bad-{number}", "title": "得力 订书机", **bad}, ensure_ascii=False))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest([source], tmp_path / "out.jsonl", tmp_path / "rejects.jsonl")
    assert (report.ingested, report.rejected) == (len(BAD), len(BAD))
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert [(r["where"], r["field"]) for r in rejects] == [(f"line {2 * n + 2}", field) for n, (_, field, _) in enumerate(BAD)]
    for reject, (_, _, reason) in zip(rejects, BAD, strict=True):
        assert reason in reject["reason"], reject
    kept = list(load_listings(tmp_path / "out.jsonl"))
    assert [(k.stock, k.sales, k.sales_from, k.sales_to, k.warehouse) for k in kept[:2]] == [
        (0, 0, date(2026, 11, 1), date(2026, 11, 30), "华东仓"), (1, 3, date(2026, 11, 1), date(2026, 11, 30), "华东仓")]
    assert kept[1].daily_sales == pytest.approx(3 / 30)


def test_csv_cells_are_whole_numbers_and_days_as_text(tmp_path):
    source = tmp_path / "stocked.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "stock", "sales", "sales_from", "sales_to", "warehouse"])
        writer.writerow(["1", "小米 充电器 65W", "12", "40", "2026-11-01", "2026-11-10", "华北仓"])
        writer.writerow(["2", "小米 数据线", "12.5", "", "", "", ""])
        writer.writerow(["3", "得力 中性笔", "", "", "", "", ""])
        writer.writerow(["4", "得力 订书机", "12.0", "", "", "", ""])  # a spreadsheet's number column, as JSON's 12.0
        writer.writerow(["5", "得力 订书钉", "-1", "", "", "", ""])
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    assert [(l.id, l.stock, l.sales, l.daily_sales, l.warehouse) for l in listings] == [
        ("1", 12, 40, 4.0, "华北仓"), ("3", None, None, None, ""), ("4", 12, None, None, "")]
    assert [(r.where, r.field) for r in rejects] == [("line 3", "stock"), ("line 6", "stock")]
    assert "whole number" in rejects[0].reason and "0 to 1,000,000,000,000 units, got -1" in rejects[1].reason  # as in JSON


def test_the_column_reader_gives_the_stock_fields_the_record_reader_gives(tmp_path):
    """A clean JSONL block is read on its columns: the same rows as record by record."""
    source = tmp_path / "stocked.jsonl"
    records = [{"id": f"s{i}", "title": f"华为 手机壳 {i}", "stock": i, "warehouse": ["华东仓", "", "华南仓"][i % 3],
                **({"sales": 2 * i, **PERIOD} if i % 2 else {})} for i in range(50)]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    assert all(_columnar_block(block, Limits(), set()) is not None for block in line_blocks(source, 16))
    columns = [row for table in read_listing_tables([source]) for row in table.to_pylist()]
    assert columns == listings_table(load_listings(source)).to_pylist()
    assert columns[3]["sales_from"] == date(2026, 11, 1) and columns[2]["sales"] is None and columns[1]["warehouse"] == ""


@pytest.mark.parametrize(("bad", "field"), [
    ({"stock": -1}, "stock"),
    ({"sales": 30}, "sales_from"),
    ({"sales": 3, "sales_from": "2026-11-30", "sales_to": "2026-11-01"}, "sales_to"),
    ({"sales_from": "2026-11-01", "sales_to": "2026-11-30"}, "sales"),
    ({"sales": 3, "sales_from": "0000-01-01", "sales_to": "2026-11-01"}, "sales_from"),  # Arrow takes year 0, Python no
    ({"warehouse": "华东仓 "}, None),  # stripped by the record reader
])
def test_a_block_the_column_checks_refuse_is_read_record_by_record(tmp_path, bad, field):
    """Each record Arrow parses but the checks refuse sends its block to the record reader: the
    same listings, or the same error naming the field."""
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps({"id": "a", "title": "华为 手机壳", **bad}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [_columnar_block(block, Limits(), set()) for block in line_blocks(source, 16)] == [None]
    rejects: list[Reject] = []
    listings = list(read_listings([source], on_reject=rejects.append))
    if field is None:
        assert listings[0].warehouse == "华东仓" and not rejects
    else:
        assert [(r.where, r.field) for r in rejects] == [("line 1", field)] and not listings


def test_a_new_stock_level_is_a_new_version_and_the_old_one_is_history(tmp_path):
    db, sample_listings = tmp_path / "graph.lbug", tmp_path / "listings.jsonl"
    ingest([CATALOGUE], sample_listings)
    pipeline.extract(sample_listings, tmp_path / "facts.jsonl")
    pipeline.load(db, sample_listings, tmp_path / "facts.jsonl")
    record = next(json.loads(line) for line in sample_listings.open(encoding="utf-8") if json.loads(line)["stock"] > 0)
    with open_store(db, read_only=True) as store:
        stored = store.query("MATCH (l:Listing {id: $id}) RETURN l.stock, l.sales, l.sales_from, l.sales_to, l.warehouse",
                             {"id": record["id"]}).rows[0]
    assert stored == [record["stock"], record["sales"], "2026-11-01", "2026-11-30", record["warehouse"]]  # days as ISO text

    changed = dict(record, stock=0, warehouse="华北仓" if record["warehouse"] != "华北仓" else "华南仓", updated_at="2026-12-01T00:00:00Z")
    (tmp_path / "changed.jsonl").write_text(json.dumps(changed, ensure_ascii=False) + "\n", "utf-8")
    ingest([tmp_path / "changed.jsonl"], tmp_path / "changed-listings.jsonl")
    pipeline.extract(tmp_path / "changed-listings.jsonl", tmp_path / "changed-facts.jsonl")
    report, _ = pipeline.load(db, tmp_path / "changed-listings.jsonl", tmp_path / "changed-facts.jsonl")
    assert report.changed == 2  # the stock and the warehouse
    with open_store(db, read_only=True) as store:
        assert store.query("MATCH (l:Listing {id: $id}) RETURN l.stock, l.warehouse", {"id": record["id"]}).rows == [[0, changed["warehouse"]]]
        found = history(store, record["id"])
    rows = {(r["subject"], r["attribute"]): r for r in found["history"] if r["subject"] == record["id"]}
    old_stock, old_warehouse = rows[(record["id"], "stock")], rows[(record["id"], "warehouse")]
    assert old_stock["value"] == str(record["stock"]) and old_stock["valid_to"].startswith("2026-12-01")
    assert old_warehouse["value"] == record["warehouse"]


@pytest.mark.parametrize(("sales", "first", "last"), [(170, "2026-11-01", "2026-11-10"), (0, "2026-11-05", "2026-11-05"),
                                                      (10, "2026-11-02", "2026-11-01"), (None, "2026-11-01", "2026-11-02"),
                                                      (5, None, "2026-11-01"), (7, "2026-11-01", None)])
def test_units_a_day_in_a_query_are_units_a_day(tmp_path, sales, first, last):
    from skugraph.records import UNITS_A_DAY_CYPHER, units_a_day

    expected = units_a_day(sales, first and date.fromisoformat(first), last and date.fromisoformat(last))
    with open_store(tmp_path / "graph.lbug") as store:
        got = store.query(f"WITH {{sales: $sales, sales_from: CAST($first AS DATE), sales_to: CAST($last AS DATE)}} AS l "
                          f"RETURN {UNITS_A_DAY_CYPHER}", {"sales": sales, "first": first, "last": last}).rows[0][0]
    assert got == expected and (expected is None) is (sales is None or not first or not last or last < first)
