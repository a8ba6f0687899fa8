"""Listings as columns: read by Arrow where the records are clean, record by record where not,
and the same listings, the same errors and the same node rows as one listing at a time."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from skugraph.corpus import listing_tables
from skugraph.corpus.ingest import load_listing_tables, load_listings
from skugraph.corpus.listings import BadRecordError
from skugraph.graph.schema import NODE_TABLES
from skugraph.graph.store import listing_tables as node_tables
from skugraph.graph.store import rows_table
from skugraph.records import Listing, Redaction, Review
from skugraph.tables import listings_table

from rowwise import rowwise_listing_rows

CLEAN = {"id": "a1", "title": "华为 Mate 60 蓝色", "description": "品牌：华为", "category": "手机通讯 > 手机", "price": 6999.0,
         "currency": "CNY", "source": "shop", "updated_at": "2026-06-01T07:00:00+00:00",
         "reviews": [{"id": "a1#r0", "text": "很好", "rating": 5.0}], "redactions": []}
#: records listing_from_dict takes but changes, or reads another way than Arrow would: each goes record by record
ODD = [
    {"id": 17, "title": "数字的编号"},
    {"id": " padded ", "title": "编号两端有空格"},
    {"id": "cat", "title": "类目是路径", "category": ["家电", "厨房电器"]},
    {"id": "r-text", "title": "评论是文字", "reviews": ["只有文字的评论"]},
    {"id": "r-json", "title": "评论是 JSON 文本", "reviews": '[{"text": "好", "rating": 4}]'},
    {"id": "price-text", "title": "价格是文字", "price": "12.5"},
    {"id": "local-time", "title": "没有时区", "updated_at": "2026-06-01T07:00:00"},
    {"id": "epoch", "title": "秒数", "updated_at": 1780000000},
    {"id": "emoji", "title": "表情 \ud83d\ude00 成对的代理"},
    '{"id": "neg-zero", "title": "负零", "price": -0, "reviews": [{"text": "好", "rating": -0}]}',  # json.loads: 0
]
#: records Arrow reads as they are, the checks passing
EVEN = [
    {"id": "no-review-id", "title": "评论没有编号", "reviews": [{"text": "一般"}, {"id": "", "text": "还行", "rating": 3}]},
    {"id": "scrubbed", "title": "电话 [PHONE] 联系", "reviews": [{"text": "发到 [EMAIL]"}],
     "redactions": [{"field": "title", "start": 3, "end": 10, "type": "phone"}, {"field": "reviews[0]", "start": 3, "end": 10, "type": "email"}]},
    {"id": "sparse", "title": "只有标题", "extra": {"ignored": True}},
    {"id": "eastern", "title": "东八区时间", "price": 0, "updated_at": "2026-06-01T15:00:00+08:00"},
]


def _write(path, records, blank_lines=False):
    lines = [json.dumps(r, ensure_ascii=True) if isinstance(r, dict) else r for r in records]
    path.write_text(("\n\n".join(lines) if blank_lines else "\n".join(lines)) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def columnar_blocks(monkeypatch):
    """How many blocks were read as columns (the others, record by record)."""
    counted = {"columnar": 0, "records": 0}
    read = listing_tables._columnar_block

    def counting(*args):
        table = read(*args)
        counted["columnar" if table is not None else "records"] += 1
        return table

    monkeypatch.setattr(listing_tables, "_columnar_block", counting)
    return counted


def test_columns_hold_what_the_record_reader_gives_whichever_way_each_block_is_read(tmp_path, columnar_blocks):
    records = [CLEAN, *EVEN, *ODD, *({**CLEAN, "id": f"c{i}"} for i in range(6))]
    path = _write(tmp_path / "listings.jsonl", records)
    tables = list(load_listing_tables(path, rows=2))
    assert pa.concat_tables(tables).equals(listings_table(load_listings(path)))
    assert columnar_blocks["columnar"] >= 3 and columnar_blocks["records"] >= 3  # both ways were taken
    assert all(len(t) == 2 for t in tables[:-1]) and sum(map(len, tables)) == len(records)


def test_blank_lines_are_skipped_as_the_record_reader_skips_them(tmp_path, columnar_blocks):
    path = _write(tmp_path / "listings.jsonl", [CLEAN, *EVEN, *({**CLEAN, "id": f"c{i}"} for i in range(6))], blank_lines=True)
    assert pa.concat_tables(list(load_listing_tables(path, rows=4))).equals(listings_table(load_listings(path)))
    assert columnar_blocks["records"] >= 1


def test_each_clean_record_is_read_as_columns(tmp_path, columnar_blocks):
    path = _write(tmp_path / "listings.jsonl", [CLEAN, *EVEN])
    assert pa.concat_tables(list(load_listing_tables(path))).equals(listings_table(load_listings(path)))
    assert columnar_blocks == {"columnar": 1, "records": 0}
    [review] = [row for row in load_listings(path) if row.id == "no-review-id"][:1]
    assert [r.id for r in review.reviews] == ["no-review-id#r0", "no-review-id#r1"]  # as the record reader names them


@pytest.mark.parametrize("bad, field", [
    ({"id": "b", "title": "   "}, "title"),
    ({"id": "b", "title": "负价格", "price": -1}, "price"),
    ({"id": "b", "title": "空评论", "reviews": [{"text": " "}]}, "reviews[0].text"),
    ({"id": "b", "title": "坏的涂抹", "redactions": [{"field": "title", "start": 3, "end": 3, "type": "phone"}]}, "redactions[0]"),
    ({"id": "c1", "title": "重复的编号"}, "id"),
    ({"id": "b\u0000", "title": "编号里的控制字符"}, "id"),
    ({"id": "b", "title": "公元零年", "updated_at": "0000-01-01T00:00:00Z"}, "updated_at"),  # Arrow's cast takes it
    ({"id": "b", "title": "换成协调世界时就出界", "updated_at": "0001-01-01T00:00:00+08:00"}, "updated_at"),
    ('{"id": "b", "title": "深的嵌套", "extra": ' + "[" * 2000 + "]" * 2000 + "}", "(record)"),  # Arrow takes any depth
])
def test_a_bad_record_raises_what_the_record_reader_raises(tmp_path, bad, field):
    path = _write(tmp_path / "listings.jsonl", [{**CLEAN, "id": "c1"}, CLEAN, {**CLEAN, "id": "c2"}, bad])
    with pytest.raises(BadRecordError) as expected:
        list(load_listings(path))
    with pytest.raises(BadRecordError) as found:
        list(load_listing_tables(path, rows=2))
    assert str(found.value) == str(expected.value) and found.value.reject.field == field
    assert found.value.reject.where == "line 4"


def test_bytes_that_are_not_utf8_are_refused_even_in_a_field_the_loader_skips(tmp_path):
    path = tmp_path / "listings.jsonl"
    path.write_bytes(json.dumps(CLEAN).encode() + b'\n{"id": "b", "title": "t", "extra": "\xff\xfe"}\n')
    with pytest.raises(BadRecordError) as expected:
        list(load_listings(path))
    with pytest.raises(BadRecordError) as found:
        list(load_listing_tables(path))
    assert str(found.value) == str(expected.value) and "line 2" in str(found.value) and "UTF-8" in str(found.value)


def test_csv_listings_are_read_record_by_record(tmp_path):
    path = tmp_path / "listings.csv"
    path.write_text("id,title,price\nx1,小米 14,3999\nx2,红米 Note,999\n", encoding="utf-8")
    assert pa.concat_tables(list(load_listing_tables(path))).equals(listings_table(load_listings(path)))


def test_node_rows_are_those_built_one_listing_at_a_time():
    when = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    listings = [
        Listing("l1", "旧标题", reviews=(Review("r1", "好", None),), updated_at=when),
        Listing("l2", "电话 [PHONE]", description="描述", reviews=(Review("r2", "发到 [EMAIL]", 4.0), Review("r3", "一般", 3.0)),
                category="手机", price=10.0, currency="CNY", source="shop",
                redactions=(Redaction("title", 3, 10, "phone"), Redaction("reviews[0]", 3, 10, "email"))),
        Listing("l1", "新标题", reviews=(Review("r1", "好", 5.0), Review("r4", "差", 1.0)), price=9.5),  # l1 again: the last one wins
    ]
    batch, times = node_tables(listings_table(listings))
    rows, reviews = rowwise_listing_rows(listings)
    assert batch.nodes["Listing"].to_pylist() == rows_table(rows.values(), NODE_TABLES["Listing"]).to_pylist()
    assert batch.nodes["Review"].to_pylist() == rows_table(reviews.values(), NODE_TABLES["Review"]).to_pylist()
    assert times == {"l1": None, "l2": None}
    assert rows["l2"]["redactions"] and reviews["r2"]["redactions"] and reviews["r1"]["rating"] == 5.0  # the cases are there


def test_the_demo_listings_make_the_same_node_rows(fused_sample):
    sample_listings = fused_sample / "listings.jsonl"
    listings = list(load_listings(sample_listings))
    batch, times = node_tables(pa.concat_tables(list(load_listing_tables(sample_listings))))
    rows, reviews = rowwise_listing_rows(listings)
    assert batch.nodes["Listing"].to_pylist() == rows_table(rows.values(), NODE_TABLES["Listing"]).to_pylist()
    assert batch.nodes["Review"].to_pylist() == rows_table(reviews.values(), NODE_TABLES["Review"]).to_pylist()
    assert times == {listing_id: row["updated_at"] for listing_id, row in rows.items()} and len(times) == len(listings)

