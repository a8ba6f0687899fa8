"""The write API (``create_app(writable=True)``): posted listings validated as ``ingest`` does,
fused with the stored products and upserted; delisting; idempotency keys; the feed of writes;
one writer with reads going on; the write role on every write route."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from conftest import api_routes
from fastapi.testclient import TestClient

from skugraph.apps.search import SearchIndex
from skugraph.graph.cards import history
from skugraph.graph.store import StoreError
from skugraph.serve.app import create_app, read_only_query
from skugraph.serve.keys import KeyStore
from skugraph.serve.writes import request_digest, writes_file

#: a listing of the sample's 华为 Mate 60 12+256G 蓝色 phone, as another shop writes it
SAME_PHONE = {"id": "post-mate60", "title": "华为 Mate 60 5G手机 蓝色 12+256G 6.7英寸 官方旗舰店", "price": 6899.0,
              "currency": "CNY", "source": "shop-new", "updated_at": "2026-12-03T08:00:00Z"}
#: a product the sample does not hold
NEW_THING = {"id": "post-stapler", "title": "得力 订书机 12号 办公 蓝色", "price": 19.9, "currency": "CNY",
             "updated_at": "2026-12-03T08:00:00Z"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict:
    store = KeyStore(tmp_path_factory.mktemp("write-keys") / "keys.json")
    return {"path": store.path, **{role: store.create(f"{role} client", role)[1] for role in ("read", "write")}}


@pytest.fixture(scope="module")
def graph(demo_graph: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo graph that this module writes to."""
    copy = tmp_path_factory.mktemp("write-graph") / demo_graph.name
    for path in demo_graph.parent.glob(demo_graph.name + "*"):
        (shutil.copytree if path.is_dir() else shutil.copy)(path, copy.parent / path.name)
    return copy


@pytest.fixture(scope="module")
def app(graph: Path, keys: dict):
    made = create_app(graph, keys=keys["path"], rate_limit=0, writable=True)
    made.state.services.catch_up_every = 0.2  # the tests wait for the counts (wait_caught_up)
    return made


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    return TestClient(app)


def _writer(keys: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys['write']}"}


def _post(client: TestClient, keys: dict, records, **headers: str):
    return client.post("/listings", json=records, headers=_writer(keys) | headers)


def _digest(app) -> str:
    services = app.state.services
    with services.lock:
        return services.store.digest()


def test_a_posted_listing_joins_its_product_and_a_new_one_is_searchable(app, client, keys):
    assert app.state.services.wait_caught_up(30)
    listings = client.get("/stats", headers=_writer(keys)).json()["nodes"]["Listing"]
    answer = _post(client, keys, [SAME_PHONE, NEW_THING])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 2 and body["rejected"] == []
    placed = {row["id"]: row for row in body["listings"]}
    mate = client.get("/products/sku-0001", headers=_writer(keys)).json()
    assert placed["post-mate60"]["product"] == mate["id"] and placed["post-mate60"]["joined"]
    assert "post-mate60" in {row["listing"] for row in mate["listings"]}
    first = next(row for row in mate["listings"] if row["listing"] == mate["id"])  # its evidence counts the joined listing
    assert first["evidence"] == f"the first of {len(mate['listings'])} listings of this product", mate["listings"]
    assert not placed["post-stapler"]["joined"] and placed["post-stapler"]["product"] == "post-stapler"
    card = client.get("/products/post-stapler", headers=_writer(keys)).json()
    assert card["title"] == NEW_THING["title"] and card["brand"] and card["type"]
    hits = client.get("/search", params={"q": "订书机"}, headers=_writer(keys)).json()["hits"]
    assert hits and hits[0]["id"] == "post-stapler"
    assert app.state.services.wait_caught_up(30)  # counts follow the writes in the background
    assert client.get("/stats", headers=_writer(keys)).json()["nodes"]["Listing"] == listings + 2


def test_bad_records_are_named_by_index_and_field_and_the_good_ones_land(client, keys):
    records = [{"id": "post-pen", "title": "得力 订书机 24号 办公 黑色 联系电话13812345678"}, {"id": "post-untitled", "title": ""},
               {"title": "no id"}, "not an object", {"id": "post-pen", "title": "a second post-pen"},
               {"id": "post-price", "title": "得力 订书机", "price": "cheap"}]
    answer = _post(client, keys, records)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 1 and body["masked"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "title"), (2, "id"), (3, "(record)"), (4, "id"), (5, "price")]
    card = client.get("/products/post-pen", headers=_writer(keys)).json()
    assert "13812345678" not in json.dumps(card, ensure_ascii=False)  # masked before anything was stored

    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in ({"id": "post-nd", "title": "齐心 订书机 10号 红色"}, {"id": "x"}))
    ndjson = client.post("/listings", content=lines.encode(), headers=_writer(keys) | {"content-type": "application/x-ndjson"})
    assert ndjson.status_code == 200, ndjson.text
    assert ndjson.json()["accepted"] == 1 and [(r["index"], r["field"]) for r in ndjson.json()["rejected"]] == [(1, "title")]

    for bad, reason in (({"id": "a"}, "JSON array"), ([], "no listings")):
        refused = _post(client, keys, bad)  # not a batch: 422
        assert refused.status_code == 422 and reason in refused.json()["error"], refused.text
    turned_away = _post(client, keys, [{"id": "post-blank", "title": " "}, {"id": "", "title": "晨光 订书机"}])  # a batch, every record bad
    assert turned_away.status_code == 200 and turned_away.json()["accepted"] == 0 and turned_away.json()["seq"] is None
    assert [(r["index"], r["field"]) for r in turned_away.json()["rejected"]] == [(0, "title"), (1, "id")]
    broken = client.post("/listings", content=b"[{", headers=_writer(keys) | {"content-type": "application/json"})
    assert broken.status_code == 422 and "not JSON" in broken.json()["error"]


def test_stock_and_sales_are_posted_as_whole_numbers_and_stored(client, keys):
    records = [{"id": "post-stock-text", "title": "得力 订书机 12号 绿色", "stock": "12"},
               {"id": "post-stock", "title": "得力 订书机 12号 紫色", "stock": 3, "sales": 9, "sales_from": "2026-11-01",
                "sales_to": "2026-11-03", "warehouse": "华东仓"},
               {"id": "post-stock-days", "title": "得力 订书机 12号 橙色", "sales": 9, "sales_from": "2026-11-03", "sales_to": "2026-11-01"}]
    body = _post(client, keys, records).json()
    assert {(r["index"], r["field"]): r["reason"] for r in body["rejected"]} == {
        (0, "stock"): 'expected a whole number, got text "12"', (2, "sales_to"): "2026-11-01 is before sales_from 2026-11-03"}
    assert body["accepted"] == 1
    stored = client.post("/query", json={"cypher": "MATCH (l:Listing {id: 'post-stock'}) RETURN l.stock, l.sales, l.warehouse"},
                         headers=_writer(keys)).json()["rows"]
    assert stored == [[3, 9, "华东仓"]]


def test_records_are_checked_strictly_and_unknown_fields_are_warned_of(client, keys):
    """No silent coercion: a number for the id, text for the price, an empty id are named by index and field;
    an unknown field is a warning (the record is written without it); the good records land all the same."""
    records = [{"id": 123, "title": "得力 订书机 12号 蓝色"}, {"id": "post-strict-price", "title": "得力 订书机 12号 红色", "price": "129"},
               {"id": "", "title": "晨光 订书机"}, {"id": "post-strict-extra", "title": "得力 订书机 24号 白色", "shelf": 5, "colour": "白"},
               {"id": "post-strict-ok", "title": "得力 订书机 10号 黑色", "price": 129, "updated_at": 1764748800},
               {"id": "post-strict-when", "title": "得力 订书机", "updated_at": [2026]}]
    answer = _post(client, keys, records)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rejected = {(r["index"], r["field"]): r["reason"] for r in body["rejected"]}
    assert set(rejected) == {(0, "id"), (1, "price"), (2, "id"), (5, "updated_at")}, body["rejected"]
    assert rejected[0, "id"] == "expected text, got number 123" and rejected[1, "price"] == 'expected a number, got text "129"'
    assert rejected[2, "id"] == "empty" and rejected[5, "updated_at"] == "expected text or a number, got array [2026]"
    assert [(w["index"], w["field"]) for w in body["warnings"]] == [(3, "colour"), (3, "shelf")]
    assert all("not stored" in w["reason"] for w in body["warnings"])
    assert body["accepted"] == 2 and {row["id"] for row in body["listings"]} == {"post-strict-extra", "post-strict-ok"}
    for missing in ("123", "post-strict-price"):
        assert client.get(f"/products/{missing}", headers=_writer(keys)).status_code == 404


def test_a_retried_idempotency_key_adds_nothing(app, client, keys):
    record = {"id": "post-retry", "title": "齐心 订书机 12号 办公 白色", "price": 25.0}
    first = _post(client, keys, [record], **{"Idempotency-Key": "retry-1"})
    assert first.status_code == 200, first.text
    before, feed = _digest(app), client.get("/changes", headers=_writer(keys)).json()
    again = _post(client, keys, [record], **{"Idempotency-Key": "retry-1"})
    assert again.status_code == 200 and again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    reordered = json.dumps([dict(reversed(record.items()))], ensure_ascii=False, indent=2).encode()  # the same records written otherwise
    for body, kind in ((reordered, "application/json"), (json.dumps(record).encode() + b"\n", "application/x-ndjson")):
        same = client.post("/listings", content=body, headers=_writer(keys) | {"Idempotency-Key": "retry-1", "content-type": kind})
        assert same.status_code == 200 and same.json() == first.json() and same.headers["Idempotent-Replayed"] == "true"
    other = _post(client, keys, [record | {"price": 26.0}], **{"Idempotency-Key": "retry-1"})
    assert other.status_code == 409 and "another request" in other.json()["error"]
    elsewhere = client.delete("/listings/post-retry", headers=_writer(keys) | {"Idempotency-Key": "retry-1"})
    assert elsewhere.status_code == 409
    assert _digest(app) == before and client.get("/changes", headers=_writer(keys)).json() == feed


def test_idempotency_keys_and_the_feed_outlive_a_restart(graph, client, keys):
    first = _post(client, keys, [{"id": "post-restart", "title": "齐心 订书机 12号 绿色"}], **{"Idempotency-Key": "restart-1"})
    assert first.status_code == 200, first.text
    assert writes_file(graph).is_file()
    from skugraph.serve.writes import WriteLog

    log = WriteLog(writes_file(graph))  # what a restarted server reads
    seq, _, status, code, answer = log.find("restart-1")
    assert (seq, status, code, json.loads(answer)) == (first.json()["seq"], "done", 200, first.json())
    assert log.feed(seq - 1, 10)[0]["seq"] == seq
    log.close()


def test_a_write_left_pending_runs_again_under_its_key_and_a_failed_one_frees_its_key(app, client, keys, monkeypatch):
    body = json.dumps([{"id": "post-pending", "title": "齐心 订书机 12号 橙色"}], ensure_ascii=False).encode()
    writer = app.state.writer
    seq = writer.log.begin("pending-1", request_digest("POST", "/listings", body), "upsert")  # as a server stopped mid-write leaves it
    assert client.get("/changes", params={"since": seq - 1}, headers=_writer(keys)).json()["changes"] == []  # not done: not in the feed
    posted = client.post("/listings", content=body, headers=_writer(keys) | {"content-type": "application/json",
                                                                             "Idempotency-Key": "pending-1"})
    assert posted.status_code == 200 and posted.json()["seq"] > seq and "Idempotent-Replayed" not in posted.headers
    assert client.get("/products/post-pending", headers=_writer(keys)).status_code == 200

    def broken(*_, **__):
        raise StoreError("disk full")

    monkeypatch.setattr("skugraph.serve.writes.upsert_listings", broken)
    record = [{"id": "post-failed", "title": "齐心 订书机 12号 青色"}]
    failed = _post(TestClient(app, raise_server_exceptions=False), keys, record, **{"Idempotency-Key": "failed-1"})
    assert failed.status_code == 500 and failed.json() == {"error": "internal error (StoreError)"}
    assert writer.log.find("failed-1") is None and client.get("/products/post-failed", headers=_writer(keys)).status_code == 404
    monkeypatch.undo()
    assert _post(client, keys, record, **{"Idempotency-Key": "failed-1"}).status_code == 200  # the writer goes on; the key is free


def test_a_listing_whose_id_holds_a_slash_can_be_read_and_delisted(client, keys):
    """Ids are the shop's: one with a slash, a space or a question mark (sent percent-encoded)
    reaches its product page and its delist like any other."""
    from urllib.parse import quote

    odd = "post-odd/7 a?b"
    assert _post(client, keys, [{"id": odd, "title": "晨光 订书机 24号 蓝色"}]).status_code == 200
    page = client.get(f"/products/{quote(odd, safe='')}", headers=_writer(keys))
    assert page.status_code == 200 and odd in {row["listing"] for row in page.json()["listings"]}, page.text
    assert client.get(f"/recommend/{quote(odd, safe='')}", headers=_writer(keys)).status_code == 200
    answer = client.delete(f"/listings/{quote(odd, safe='')}", headers=_writer(keys))
    assert answer.status_code == 200 and answer.json()["listings"][0]["id"] == odd and answer.json()["retracted"] > 0


def test_delisting_retracts_and_the_history_keeps_it(app, client, keys):
    record = {"id": "post-delist", "title": "晨光 订书机 12号 办公 紫色", "updated_at": "2026-12-01T00:00:00Z"}
    assert _post(client, keys, [record]).status_code == 200
    held = client.get("/facts", params={"product": "post-delist"}, headers=_writer(keys)).json()["facts"]
    assert {fact["predicate"] for fact in held} >= {"has_brand", "colour"}
    found = client.get("/search", params={"q": "晨光 订书机 紫色"}, headers=_writer(keys)).json()
    assert "post-delist" in [hit["id"] for hit in found["hits"]]
    assert app.state.services.wait_caught_up(30)
    counted = client.get("/stats", headers=_writer(keys)).json()
    answer = client.delete("/listings/post-delist", headers=_writer(keys))
    assert answer.status_code == 200, answer.text
    assert answer.json()["retracted"] == len(held) + 1  # its facts and its offer of the product
    for path, params in (("/products/post-delist", {}), ("/facts", {"product": "post-delist"}), ("/recommend/post-delist", {})):
        gone = client.get(path, params=params, headers=_writer(keys))  # its only listing delisted: the product is gone
        assert gone.status_code == 410 and gone.json() == {"error": "product 'post-delist' was delisted: no listing offers it now"}, path
    assert app.state.services.wait_caught_up(30)
    now = client.get("/stats", headers=_writer(keys)).json()
    assert now["nodes"]["Product"] == counted["nodes"]["Product"] - 1 and now["nodes"]["Listing"] == counted["nodes"]["Listing"] - 1
    assert now["delisted"] == {"Product": counted["delisted"]["Product"] + 1, "Listing": counted["delisted"]["Listing"] + 1}
    found = client.get("/search", params={"q": "晨光 订书机 紫色"}, headers=_writer(keys)).json()
    assert "post-delist" not in [hit["id"] for hit in found["hits"]]  # off the market: not found any more
    services = app.state.services
    with services.lock:
        found = history(services.store, "post-delist")
    ended = {(row["attribute"], row["value"]) for row in found["history"] if row["valid_to"] and row["sources"] == ["post-delist"]}
    assert {("has_brand", "晨光"), ("colour", "紫色")} <= ended
    assert client.delete("/listings/post-delist", headers=_writer(keys)).json()["retracted"] == 0
    assert client.delete("/listings/no-such-listing", headers=_writer(keys)).status_code == 404
    joined = _post(client, keys, [SAME_PHONE | {"id": "post-mate60-gone"}]).json()["listings"][0]
    assert joined["joined"] and client.delete("/listings/post-mate60-gone", headers=_writer(keys)).status_code == 200
    gone = client.get("/products/post-mate60-gone", headers=_writer(keys))  # a listing delisted from a product still on the market
    assert gone.status_code == 410 and gone.json() == {"error": "listing 'post-mate60-gone' was delisted"}
    assert client.get(f"/products/{joined['product']}", headers=_writer(keys)).status_code == 200


def test_the_changes_feed_pages_with_a_cursor(client, keys):
    start = client.get("/changes", params={"limit": 1000}, headers=_writer(keys)).json()
    cursor = start["next"]
    made = [_post(client, keys, [{"id": f"post-feed-{n}", "title": f"齐心 订书机 {n}号 灰色"}]).json()["seq"] for n in (1, 2, 3)]
    page = client.get("/changes", params={"since": cursor, "limit": 2}, headers=_writer(keys)).json()
    assert [c["seq"] for c in page["changes"]] == made[:2] and page["more"] and page["next"] == made[1]
    assert page["changes"][0]["op"] == "upsert" and page["changes"][0]["listings"][0]["id"] == "post-feed-1"
    rest = client.get("/changes", params={"since": page["next"]}, headers=_writer(keys)).json()
    assert [c["seq"] for c in rest["changes"]] == made[2:] and not rest["more"]
    assert client.get("/changes", params={"since": 2**63}, headers=_writer(keys)).status_code == 422  # past SQLite's integers
    assert client.get("/changes", params={"since": 2**63 - 1}, headers=_writer(keys)).json()["changes"] == []


def test_writes_that_change_nothing_are_not_in_the_feed_and_a_404_takes_no_number(app, client, keys):
    """A listing posted again unchanged, or delisted twice, is answered (seq null, unchanged) but
    makes no feed entry; a DELETE of an unknown listing does not use up a sequence number."""
    record = {"id": "post-noop", "title": "晨光 订书机 12号 办公 橙色", "price": 15.0, "currency": "CNY"}
    first = _post(client, keys, [record]).json()
    assert first["seq"] and not first["unchanged"]
    before = _digest(app)
    again = _post(client, keys, [dict(reversed(record.items()))])  # the same listing, sent again
    assert again.status_code == 200 and again.json()["seq"] is None and again.json()["unchanged"], again.text
    assert again.json()["listings"] == first["listings"] and _digest(app) == before
    assert client.delete("/listings/no-such-listing", headers=_writer(keys)).status_code == 404
    changed = _post(client, keys, [record | {"price": 14.0}]).json()
    assert changed["seq"] == first["seq"] + 2 and not changed["unchanged"]  # the no-op took a number; the 404 none
    gone = client.delete("/listings/post-noop", headers=_writer(keys)).json()
    twice = client.delete("/listings/post-noop", headers=_writer(keys)).json()
    assert gone["seq"] == changed["seq"] + 1 and not gone["unchanged"]
    assert twice["seq"] is None and twice["unchanged"] and twice["retracted"] == 0
    feed = client.get("/changes", params={"since": first["seq"]}, headers=_writer(keys)).json()["changes"]
    assert [change["seq"] for change in feed] == [changed["seq"], gone["seq"]]


def test_a_listing_posted_again_unchanged_beside_a_copy_changes_nothing(client, keys):
    """The first listing of a product that a copy joined, posted again as it is: unchanged (the
    facts' provenance lists the same readings, whatever their order)."""
    record = {"id": "post-noop-x", "title": "得力 订书机 12号 办公 青色 金属", "price": 30.0}
    _post(client, keys, [record])
    assert _post(client, keys, [record | {"id": "post-noop-y"}]).json()["listings"][0]["joined"]
    again = _post(client, keys, [record]).json()
    assert again["unchanged"] and again["seq"] is None, again


def _evidence_tree(card: dict) -> dict[str, str]:
    """A product's listings' evidence, checked: each "matches X" names a listing of the product
    (on the market), following them never goes round and ends at the one listing that heads it."""
    import re

    said = {row["listing"]: row["evidence"] for row in card["listings"]}
    named = {listing: re.match(r"(?:matches|closest to) (.+?) \(score ", text) for listing, text in said.items()}
    heads = [listing for listing, match in named.items() if match is None]
    assert len(heads) == 1 and said[heads[0]] == ("the only listing of this product" if len(said) == 1 else
                                                  f"the first of {len(said)} listings of this product"), said
    for listing in said:
        seen = [listing]
        while named[seen[-1]] is not None:
            target = named[seen[-1]][1]
            assert target in said and target not in seen, (seen, target, said)
            seen.append(target)
    return said


def test_a_listing_posted_again_keeps_the_time_it_began_to_offer_its_product(app, client, keys):
    record = {"id": "post-since", "title": "得力 长尾夹 41mm 黑色 12只", "price": 9.9, "updated_at": "2026-11-01T00:00:00Z"}
    assert _post(client, keys, [record]).status_code == 200
    again = _post(client, keys, [dict(record, price=8.9, updated_at="2026-11-20T00:00:00Z")]).json()
    assert again["new_versions"] == 1 and again["changed"] == 1
    services = app.state.services
    with services.lock:
        rows = services.store.query("MATCH (l:Listing {id: 'post-since'})-[o:OFFER_OF]->(p:Product) RETURN o.valid_from, "
                                    "o.updated_at, l.price, p.id").rows
    assert len(rows) == 1 and str(rows[0][0]).startswith("2026-11-01") and str(rows[0][1]).startswith("2026-11-20") and rows[0][2] == 8.9
    card = client.get("/products/post-since", headers=_writer(keys)).json()
    assert [row["since"][:10] for row in card["listings"] if row["listing"] == "post-since"] == ["2026-11-01"]
    with services.lock:  # history: the title, never changed, holds since the first version; the price since it changed
        found = {(row["attribute"], row["value"]): row for row in history(services.store, "post-since")["history"]
                 if row["subject"] == "post-since"}
    assert str(found[("title", record["title"])]["valid_from"]).startswith("2026-11-01")
    assert str(found[("price", "8.9")]["valid_from"]).startswith("2026-11-20") and found[("price", "8.9")]["valid_to"] is None
    assert str(found[("price", "9.9")]["valid_from"]).startswith("2026-11-01")


def test_evidence_names_listings_on_the_market_and_never_goes_round(client, keys):
    """A listing posted again, and delistings, leave each listing's evidence naming a listing still
    on the market in its product, along a chain that ends at the product's first listing."""
    title = "小米黑鲨2代钢化膜2pro电竞游戏专用二代手机保护膜全屏磨砂贴膜 防指纹抗蓝光 单片装"
    first = _post(client, keys, [{"id": "post-ev-x", "title": title}]).json()["listings"][0]
    assert first["product"] == "post-ev-x"
    copy = _post(client, keys, [{"id": "post-ev-0", "title": title}]).json()["listings"][0]
    assert copy["joined"] and copy["product"] == "post-ev-x" and copy["evidence"].startswith("matches post-ev-x ")
    again = _post(client, keys, [{"id": "post-ev-x", "title": title, "price": 12.0}]).json()["listings"][0]  # the first, posted again
    card = client.get("/products/post-ev-x", headers=_writer(keys)).json()
    said = _evidence_tree(card)
    assert again["evidence"] == said["post-ev-x"] == "the first of 2 listings of this product"  # not "matches post-ev-0"
    assert _post(client, keys, [{"id": "post-ev-1", "title": title}]).json()["listings"][0]["joined"]
    _evidence_tree(client.get("/products/post-ev-x", headers=_writer(keys)).json())
    apart = _post(client, keys, [{"id": "post-ev-k", "title": title + " 高清"}]).json()["listings"][0]  # a variant: its own product
    assert not apart["joined"] and "; kept apart from post-ev-" in apart["evidence"], apart
    for gone, left in (("post-ev-x", 2), ("post-ev-0", 1)):  # the namesake first, then another
        assert client.delete(f"/listings/{gone}", headers=_writer(keys)).status_code == 200
        said = _evidence_tree(client.get("/products/post-ev-x", headers=_writer(keys)).json())
        assert len(said) == left and not any(gone in text for text in said.values()), said
    variant = client.get("/products/post-ev-k", headers=_writer(keys)).json()["listings"][0]["evidence"]
    assert "post-ev-x" not in variant and "post-ev-0" not in variant, variant


def test_search_after_writes_answers_as_an_index_built_afresh(app, client, keys):
    """Each write updates only the products it touched; the index is the one a rebuild gives."""
    assert _post(client, keys, [SAME_PHONE | {"id": "post-mate60-b", "price": 4999.0}]).status_code == 200
    services = app.state.services
    with services.lock:
        fresh = SearchIndex.from_store(services.store)
    assert len(services.index) == len(fresh)
    for query in ("华为 Mate 60 手机", "订书机", "晨光 订书机 紫色", "齐心 灰色"):
        served, rebuilt = (index.search(query, services.parser, 10).to_dict() for index in (services.index, fresh))
        assert served == rebuilt, query


def _hold_the_writer(writer, monkeypatch):
    """Hold the writer's next write inside its transaction (at its first batch of rows) until
    ``release`` is set; ``inside`` is set once it waits there. Also the store's own load_batch."""
    inside, release = threading.Event(), threading.Event()
    load_batch = writer.store.load_batch

    def held(batch):
        inside.set()
        release.wait(20)
        return load_batch(batch)

    monkeypatch.setattr(writer.store, "load_batch", held)
    return inside, release, load_batch


@contextmanager
def _posting_held(app, client, keys, monkeypatch, record: dict):
    """Post ``record`` in a thread and hold its write inside its transaction for the block; yields
    the list its answer is appended to once the block has let it go."""
    inside, release, _ = _hold_the_writer(app.state.writer, monkeypatch)
    answers: list = []
    writing = threading.Thread(target=lambda: answers.append(_post(client, keys, [record])))
    writing.start()
    try:
        assert inside.wait(10)
        yield answers
    finally:
        release.set()
        writing.join(10)


def test_reads_go_on_while_a_write_transaction_is_open(app, client, keys, monkeypatch):
    """A write held inside its transaction (its first batch of rows waits) leaves reads answering."""
    with _posting_held(app, client, keys, monkeypatch, {"id": "post-slow", "title": "齐心 订书机 黄色"}) as answers:
        assert client.get("/search", params={"q": "手机壳"}, headers=_writer(keys)).status_code == 200
        assert client.get("/products/sku-0001", headers=_writer(keys)).status_code == 200
        assert client.get("/products/post-slow", headers=_writer(keys)).status_code == 404  # not committed: not seen
        assert not answers  # not answered before it is committed
    assert answers[0].status_code == 200
    assert client.get("/products/post-slow", headers=_writer(keys)).status_code == 200


def test_a_waiting_write_holds_none_of_the_threads_that_serve_reads(graph, keys, monkeypatch, tmp_path):
    """With one request thread (``threads=1``), a post waiting for the writer leaves it to the reads."""
    copy = tmp_path / graph.name
    for path in graph.parent.glob(graph.name + "*"):
        if ".writes.sqlite" not in path.name:  # its own feed and keys, not the module graph's
            (shutil.copytree if path.is_dir() else shutil.copy)(path, copy.parent / path.name)
    made = create_app(copy, keys=keys["path"], rate_limit=0, writable=True, threads=1)
    with TestClient(made) as client:  # runs the lifespan, which sets the threads
        with _posting_held(made, client, keys, monkeypatch, {"id": "post-wait", "title": "齐心 订书机 紫色"}) as answers:
            read = threading.Thread(target=lambda: answers.append(client.get("/search", params={"q": "订书机"}, headers=_writer(keys))))
            read.start()
            read.join(10)
            assert not read.is_alive() and answers and answers[0].status_code == 200  # the read, answered while the post waits
        assert [answer.status_code for answer in answers] == [200, 200] and answers[1].json()["accepted"] == 1
    made.state.services.store.close()  # each open graph reserves 8 TB of address space: the process has room for a few


def _queue_behind_a_held_write(app, client, keys, monkeypatch, batches: list[list[dict]], headers: list[dict] | None = None):
    """Post a first write and hold it inside its transaction; post ``batches`` meanwhile (they
    queue), then let it go. Each request's answer, the first's first, and the batches each call
    of ``upsert_listings`` wrote (listing ids)."""
    from skugraph.serve import writes

    writer = app.state.writer
    inside, release, load_batch = _hold_the_writer(writer, monkeypatch)
    calls: list[list[str]] = []
    upsert = writes.upsert_listings

    def recorded(store, listings, *args, **kwargs):
        calls.append(sorted(listing.id for listing in listings))
        return upsert(store, listings, *args, **kwargs)

    monkeypatch.setattr(writes, "upsert_listings", recorded)
    answers: dict[int, object] = {}
    first = threading.Thread(target=lambda: answers.__setitem__(-1, _post(client, keys, [{"id": "group-first", "title": "齐心 订书机 灰色"}])))
    first.start()
    assert inside.wait(20)
    monkeypatch.setattr(writer.store, "load_batch", load_batch)
    queued = [threading.Thread(target=lambda n=n, b=b: answers.__setitem__(n, _post(client, keys, b, **((headers or [{}] * len(batches))[n]))))
              for n, b in enumerate(batches)]
    for thread in queued:
        thread.start()
    deadline = time.monotonic() + 20
    while writer._jobs.qsize() < len(batches) and time.monotonic() < deadline:  # every one queued behind the held write
        time.sleep(0.02)
    release.set()
    for thread in [first, *queued]:
        thread.join(60)
    return [answers[-1], *(answers[n] for n in range(len(batches)))], calls


def test_upserts_queued_together_are_written_in_one_transaction_each_with_its_own_answer(app, client, keys, monkeypatch):
    batches = [[{"id": f"group-{n}-{m}", "title": f"{brand} 订书机 12号 {colour}", "updated_at": "2026-12-02T00:00:00Z"}
                for m, colour in enumerate(("红色", "绿色"))] for n, brand in enumerate(("得力", "晨光", "齐心"))]
    answers, calls = _queue_behind_a_held_write(app, client, keys, monkeypatch, batches)
    assert [answer.status_code for answer in answers] == [200] * 4
    assert calls == [["group-first"], sorted(f"group-{n}-{m}" for n in range(3) for m in range(2))]  # the three: one write
    bodies = [answer.json() for answer in answers[1:]]
    for n, body in enumerate(bodies):  # each answer is its own request's: listings, versions, number
        assert [row["id"] for row in body["listings"]] == [f"group-{n}-0", f"group-{n}-1"]
        assert body["new_versions"] == 2 and body["unchanged"] is False and body["accepted"] == 2
        assert set(body["products"]) == {row["product"] for row in body["listings"]}
    assert len({body["seq"] for body in bodies}) == 3
    feed = client.get("/changes", params={"since": answers[0].json()["seq"]}, headers=_writer(keys)).json()["changes"]
    assert [change["seq"] for change in feed] == sorted(body["seq"] for body in bodies)
    for n in range(3):
        assert client.get(f"/products/{bodies[n]['listings'][0]['product']}", headers=_writer(keys)).status_code == 200
    again, calls = _queue_behind_a_held_write(app, client, keys, monkeypatch, [batches[0], batches[1]])  # the same again: nothing changes
    assert [answer.json()["unchanged"] for answer in again[1:]] == [True, True] and len(calls) == 2


def test_an_unchanged_post_queued_with_one_that_joins_its_product_stays_unchanged(app, client, keys, monkeypatch):
    """Written together, a listing posted again as stored and a near-copy that joins its product:
    the first changes nothing (as it does alone) and the second joined (LadybugDB crashed when the
    first one's answer read the product's edges after the second had changed them)."""
    stored = {"id": "aa-stored", "title": "美的（Midea）电热水器 F6030-X1(S) 60升 一级能效", "price": 1299.0,
              "updated_at": "2026-11-01T00:00:00Z"}
    first = _post(client, keys, [stored]).json()
    product = first["listings"][0]["product"]
    assert _post(client, keys, [stored]).json()["unchanged"] is True  # alone
    copy = {"id": "a-near", "title": stored["title"] + " 新品", "price": 1199.0, "updated_at": "2026-11-02T00:00:00Z"}
    answers, calls = _queue_behind_a_held_write(app, client, keys, monkeypatch, [[stored], [copy]])
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert any(len(call) == 2 for call in calls)  # the two went together
    again, near = answers[1].json(), answers[2].json()
    assert again["unchanged"] is True and again["seq"] is None and again["listings"][0]["joined"] is False
    assert near["listings"][0] == {"id": "a-near", "product": product, "joined": True, "evidence": near["listings"][0]["evidence"]}
    assert near["listings"][0]["evidence"].startswith(("matches aa-stored (score", "closest to aa-stored"))
    assert "; " in near["listings"][0]["evidence"]  # the match's reason, though a-near sorts before aa-stored


def test_a_bad_write_queued_with_others_fails_alone_and_a_key_repeated_in_the_queue_is_replayed(app, client, keys, monkeypatch):
    from skugraph.serve import writes

    upsert = writes.upsert_listings

    def broken_on_bad(store, listings, *args, **kwargs):
        if any(listing.id == "group-bad" for listing in listings):
            raise StoreError("disk full")
        return upsert(store, listings, *args, **kwargs)

    monkeypatch.setattr(writes, "upsert_listings", broken_on_bad)
    batches = [[{"id": "group-ok-1", "title": "得力 胶棒 21g 白色"}], [{"id": "group-bad", "title": "得力 胶棒 9g"}],
               [{"id": "group-ok-2", "title": "晨光 胶棒 21g 白色"}], [{"id": "group-ok-2", "title": "晨光 胶棒 21g 白色"}]]
    headers = [{"Idempotency-Key": key} for key in ("g-ok-1", "g-bad", "g-ok-2", "g-ok-2")]
    answers, calls = _queue_behind_a_held_write(app, TestClient(app, raise_server_exceptions=False), keys, monkeypatch, batches, headers)
    codes = [answer.status_code for answer in answers[1:]]
    assert codes == [200, 500, 200, 200]
    assert answers[4].json()["seq"] == answers[3].json()["seq"]  # whichever came first was written, the other replays it
    assert sorted(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers[3:]) == [False, True]
    assert any(len(call) > 1 for call in calls[1:])  # queued writes went together (with the bad one: then each alone again)
    assert ["group-bad"] in calls
    assert client.get("/products/group-ok-1", headers=_writer(keys)).status_code == 200
    assert client.get("/products/group-bad", headers=_writer(keys)).status_code == 404 and app.state.writer.log.find("g-bad") is None


def test_query_stays_read_only_on_a_writable_graph(app, client, keys):
    refused = client.post("/query", json={"cypher": "MATCH (p:Product) SET p.title = 'x'"}, headers=_writer(keys))
    assert refused.status_code == 403
    services = app.state.services
    with services.lock, pytest.raises(StoreError, match="read-only"):
        read_only_query(services, "MATCH (p:Product {id: 'sku-0001'}) SET p.title = 'x'", {})
    assert client.post("/query", json={"cypher": "MATCH (p:Product) RETURN count(p)"}, headers=_writer(keys)).status_code == 200


def test_every_write_route_needs_the_write_role(app, client, keys):
    write = app.state.access.write
    every = api_routes(app.routes)
    assert len(every) >= 10  # the walk sees the API's endpoints
    routes = [(method, route.path_format) for route in every
              if any(dependency.call is write for dependency in route.dependant.dependencies) for method in route.methods]
    assert sorted(routes) == [("DELETE", "/listings/{listing_id}"), ("POST", "/listings")]
    schema = client.get("/openapi.json").json()["paths"]
    for method, path in routes:
        assert {"401", "403", "409", "422"} <= set(schema[path][method.lower()]["responses"]), (method, path)
        url = path.format(listing_id="post-role")
        kwargs = {"json": [{"id": "post-role", "title": "齐心 订书机 棕色"}]} if method == "POST" else {}
        assert client.request(method, url, **kwargs).status_code == 401
        assert client.request(method, url, headers={"X-API-Key": keys["read"]}, **kwargs).status_code == 403
        assert client.request(method, url, headers=_writer(keys), **kwargs).status_code == 200
    assert "requestBody" in schema["/listings"]["post"]
    assert client.get("/changes", headers={"X-API-Key": keys["read"]}).status_code == 200  # the feed is read


def test_a_read_only_server_has_no_write_routes(demo_graph):
    paths = TestClient(create_app(demo_graph)).get("/openapi.json").json()["paths"]
    assert "/listings" not in paths and "/changes" not in paths


def test_a_body_that_cannot_be_read_is_refused_for_its_key_first(client, keys):
    """FastAPI parses a body before the route's key check; the key still decides first."""
    for route in ("/listings", "/extract", "/query"):
        bad = {"content": b"{not json", "headers": {"content-type": "application/json"}}
        refused = client.post(route, **bad)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer", (route, refused.text)
        reader = client.post(route, content=bad["content"], headers=bad["headers"] | {"X-API-Key": keys["read"]})
        assert reader.status_code == (403 if route == "/listings" else 422), (route, reader.text)
        writer = client.post(route, content=bad["content"], headers=bad["headers"] | _writer(keys))
        assert writer.status_code == 422, (route, writer.text)


def test_line_separators_inside_strings_are_text_not_record_breaks(client, keys):
    """U+2028, U+0085 and form feeds are characters of a JSON string, not line ends (schemathesis found a 500)."""
    record = {"id": "post-separators", "title": "晨光\u2028订书机\x85紫色\x0c", "description": "a\u2029b"}
    bad = {"id": "", "title": "x\u2028y"}
    answer = _post(client, keys, [record, bad])
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1 and [r["index"] for r in answer.json()["rejected"]] == [1]
    lines = (json.dumps(record, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\r\n").encode()
    again = client.post("/listings", content=lines, headers=_writer(keys) | {"content-type": "application/x-ndjson"})
    assert again.status_code == 200 and again.json()["accepted"] == 1, again.text


def test_a_graph_without_its_write_log_numbers_its_writes_after_its_last(demo_graph, tmp_path):
    """The write log beside the graph lost (a graph copied alone): new writes take numbers past the graph's own."""
    copy = tmp_path / demo_graph.name
    shutil.copy(demo_graph, copy)
    first = TestClient(create_app(copy, writable=True))
    seq = first.post("/listings", json=[{"id": "post-moved-1", "title": "晨光 订书机 蓝色"}]).json()["seq"]
    first.app.state.writer.close()
    writes_file(copy).unlink()
    again = TestClient(create_app(copy, writable=True))
    answer = again.post("/listings", json=[{"id": "post-moved-2", "title": "得力 订书机 红色"}])
    assert answer.status_code == 200 and answer.json()["seq"] > seq, answer.text
    again.app.state.writer.close()


def test_the_writer_reads_a_stored_listing_once_until_its_text_changes():
    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.records import Listing
    from skugraph.serve.upsert import CachedReader

    reader = build_reader(ExtractorConfig())
    asked: list[str] = []
    real = reader.read
    reader.read = lambda batch: asked.extend(listing.id for listing in batch) or real(batch)
    cached = CachedReader(reader, size=2)
    phone, case = Listing("a", "华为 Mate 60 手机 黑色"), Listing("b", "苹果 iPhone 15 手机壳 透明")
    first = cached.read([phone, case])
    assert cached.read([case, phone]) == first[::-1] and asked == ["a", "b"]
    assert cached.read([Listing("a", "华为 Mate 60 手机 白色")])[0][1] != first[0][1] and asked == ["a", "b", "a"]
    cached.read([phone])  # still kept; the least recently read (case) was dropped to keep two
    cached.read([case])
    assert asked == ["a", "b", "a", "b"]
    repriced = Listing("b", case.title, price=9.9, currency="CNY", source="shop-2", updated_at=datetime(2026, 12, 4))
    assert cached.read([repriced]) == cached.read([case]) and asked == ["a", "b", "a", "b"]  # what no extractor reads: no read
    cached.read([Listing("b", case.title, category="手机配件")])
    assert asked == ["a", "b", "a", "b", "b"]


def test_a_write_keeps_only_the_latest_applied_nodes_and_numbering_goes_on(demo_graph, tmp_path, monkeypatch):
    from skugraph.serve import writes

    monkeypatch.setattr(writes, "KEEP_APPLIED", 2)
    copy = tmp_path / demo_graph.name
    shutil.copy(demo_graph, copy)
    client = TestClient(create_app(copy, writable=True))
    made = [client.post("/listings", json=[{"id": f"post-kept-{n}", "title": f"晨光 订书机 {n}号"}]).json()["seq"] for n in range(4)]
    services = client.app.state.services
    with services.lock:
        kept = services.store.query(f"MATCH (w:{writes.APPLIED}) RETURN w.seq ORDER BY w.seq").rows
    assert [row[0] for row in kept] == made[-2:]
    client.app.state.writer.close()
    writes_file(copy).unlink()  # numbering comes from the graph's newest node alone
    again = TestClient(create_app(copy, writable=True))
    assert again.post("/listings", json=[{"id": "post-kept-5", "title": "得力 订书机"}]).json()["seq"] == made[-1] + 1
    again.app.state.writer.close()


def test_the_placer_places_a_batch_in_another_process_as_place_does_here():
    import os

    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.records import Listing
    from skugraph.serve.upsert import CachedReader, Placer, place

    reader = build_reader(ExtractorConfig())
    stored = [Listing("s1", "华为 mate60 pro 手机 12+512G 雅川青"), Listing("s2", "苹果 iPhone 15 手机壳 透明")]
    posted = [Listing("n1", "华为 mate60 pro 手机 12+512G 雅川青 新品"), Listing("n2", "小米 14 手机 16+512G 白色")]
    args = (posted, stored, {"s1": "P1", "s2": "P2"}, {"P1": stored[0].title, "P2": stored[1].title}, reader.builder.ontology)
    here = place(*args, CachedReader(reader))
    placer = Placer(reader)
    try:
        assert len(placer._pool._processes) == 1  # its worker starts with it, not with the first write
        there = placer(*args)
        assert placer._pool.submit(os.getpid).result() != os.getpid()
    finally:
        placer.close()
    assert there == here and here.products == {"n1": "P1", "n2": "n2"} and here.joined == {"n1"}


class _LoggedReader:
    """A reader that appends the ids of the listings of each read to a file, a line a read (seen from any process)."""

    def __init__(self, reader, log):
        self.reader, self.log = reader, log

    def read(self, listings):
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(",".join(listing.id for listing in listings) + "\n")
        return self.reader.read(listings)


def test_the_placer_reads_a_queued_batch_ahead_and_its_placement_reads_it_no_more(tmp_path):
    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.records import Listing
    from skugraph.serve.upsert import CachedReader, Placer, place

    reader = build_reader(ExtractorConfig())
    stored = [Listing("s1", "华为 mate60 pro 手机 12+512G 雅川青")]
    posted = [Listing("n1", "华为 mate60 pro 手机 12+512G 雅川青 新品"), Listing("n2", "小米 14 手机 16+512G 白色")]
    args = (posted, stored, {"s1": "P1"}, {"P1": stored[0].title}, reader.builder.ontology)
    log = tmp_path / "read.txt"
    placer = Placer(_LoggedReader(reader, log))
    try:
        placer.read_ahead(posted)
        there = placer(*args)
    finally:
        placer.close()
    assert log.read_text(encoding="utf-8").split() == ["n1,n2", "s1"]  # the batch ahead; the placement reads only the stored listing
    assert there == place(*args, CachedReader(reader))


def test_new_listings_that_join_a_stored_product_link_towards_its_listings_not_round():
    """Two new copies of a stored product's listing: one names a stored listing, the other names
    it (or a stored one), never each other."""
    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.records import Listing
    from skugraph.serve.upsert import CachedReader, place

    reader = build_reader(ExtractorConfig())
    title = "华为 mate60 pro 手机 12+512G 雅川青"
    stored = [Listing("x1", title + " 官方"), Listing("x2", title)]
    placed = place([Listing("b1", title), Listing("b2", title)], stored, {"x1": "x1", "x2": "x1"}, {"x1": stored[0].title},
                   reader.builder.ontology, CachedReader(reader))
    assert placed.products == {"b1": "x1", "b2": "x1"} and placed.joined == {"b1", "b2"}
    named = {listing: re.match(r"matches (\S+) \(score ", text)[1] for listing, text in placed.evidence.items()}
    for listing in named:
        seen = [listing]
        while seen[-1] in named:
            seen.append(named[seen[-1]])
            assert seen[-1] not in seen[:-1], seen
        assert seen[-1] in ("x1", "x2")


def test_a_listing_posted_as_stored_stays_in_its_product_and_nothing_is_resolved(monkeypatch):
    """A listing ``kept`` (posted with its stored text) keeps its product and evidence though its
    title matches another product's listing; a batch of such listings is not resolved at all."""
    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.fusion import resolve
    from skugraph.records import Listing
    from skugraph.serve.upsert import CachedReader, Kept, place

    reader = CachedReader(build_reader(ExtractorConfig()))
    title = "小米 14 手机 16+512G 白色"
    args = ([Listing("k", title)], [Listing("s1", title)], {"s1": "P1"}, {"P1": title}, reader.reader.builder.ontology, reader)
    assert place(*args).products == {"k": "P1"}  # resolved, it would join P1
    kept = {"k": Kept("P2", "the only listing of this product", 1.0)}
    monkeypatch.setattr(resolve, "resolve_products", lambda *a, **k: pytest.fail("a batch of kept listings was resolved"))
    placed = place(*args, kept=kept)
    assert placed.products == {"k": "P2"} and placed.evidence == {"k": "the only listing of this product"} and not placed.joined
    assert {fact.subject.key for fact in placed.fused if fact.subject.label == "Product"} == {"P2"}
    assert [fact.object.key for fact in placed.fused if fact.predicate == "offer_of"] == ["P2"]


def test_the_writer_reads_a_products_stored_listings_once_until_a_write_touches_it(app, client, keys, monkeypatch):
    """The stored listings a write resolves against are kept between writes (StoredOffers): read
    from the graph once, and again after a committed write changed the product's listings."""
    writer = app.state.writer
    record = {"id": "post-cache", "title": "得力 回形针 29mm 银色 100枚 办公"}
    product = _post(client, keys, [record]).json()["listings"][0]["product"]
    lookups: list = []
    query_each = writer.store.query_each
    monkeypatch.setattr(writer.store, "query_each", lambda cypher, keys_, *rest: lookups.append(list(keys_)) or query_each(cypher, keys_, *rest))
    assert [row[0] for row in writer.offers.rows(writer.store, [product])] == ["post-cache"]
    assert [row[0] for row in writer.offers.rows(writer.store, [product])] == ["post-cache"] and lookups == [[product]]  # kept
    copy = _post(client, keys, [{"id": "post-cache-2", "title": record["title"]}]).json()["listings"][0]
    assert copy["product"] == product and copy["joined"]
    assert [row[0] for row in writer.offers.rows(writer.store, [product])] == ["post-cache", "post-cache-2"]  # read again


def test_a_listing_given_another_products_title_moves_to_that_product(app, client, keys):
    """A stored listing re-posted with a title that now matches another product's listings joins
    that product, whichever id sorts first, and its own product, left with no listing, goes."""
    alone = {"id": "post-album", "title": "晨光 相册 影集 6寸 200张 插页式 米白", "price": 39.0, "currency": "CNY",
             "updated_at": "2026-12-03T08:00:00Z"}
    first = _post(client, keys, [alone])
    assert first.status_code == 200 and first.json()["listings"][0]["product"] == "post-album", first.text
    phone = client.get("/products/sku-0001", headers=_writer(keys)).json()
    retitled = alone | {"title": phone["title"], "updated_at": "2026-12-04T08:00:00Z"}
    assert retitled["id"] < phone["id"]  # the product it offered sorts before the one it now matches
    moved = _post(client, keys, [retitled])
    assert moved.status_code == 200, moved.text
    placed = moved.json()["listings"][0]
    assert placed["product"] == phone["id"] and placed["joined"], placed
    assert "post-album" in {row["listing"] for row in client.get("/products/sku-0001", headers=_writer(keys)).json()["listings"]}
    services = app.state.services
    with services.lock:
        assert services.store.query("MATCH (p:Product {id: 'post-album'}) RETURN p.id").rows == []


def test_a_stored_listing_posted_with_its_text_keeps_its_product_unresolved(app, client, keys, monkeypatch):
    """A stored listing posted again with a new price only is not resolved again (no candidates
    looked up for it): it keeps its product and evidence; a new title is resolved."""
    title = "得力 订书机 24/6 中号 办公 黑色 加厚款"
    _post(client, keys, [{"id": "post-kept-a", "title": title, "price": 25.0}])
    copy = _post(client, keys, [{"id": "post-kept-b", "title": title, "price": 24.0}]).json()["listings"][0]
    assert copy["joined"] and copy["product"] == "post-kept-a"
    writer, looked_up = app.state.writer, []
    candidates = writer.candidates
    monkeypatch.setattr(writer, "candidates", lambda listings: looked_up.append([l.id for l in listings]) or candidates(listings))
    again = _post(client, keys, [{"id": "post-kept-b", "title": title, "price": 19.0}]).json()
    assert looked_up == [] and again["new_versions"] == 1 and again["changed"] == 1
    assert again["listings"][0] == copy | {"joined": False}
    retitled = _post(client, keys, [{"id": "post-kept-b", "title": title + " 新款", "price": 19.0}]).json()
    assert looked_up == [["post-kept-b"]] and retitled["listings"][0]["product"] == "post-kept-a"


def test_a_products_namesake_listing_that_moves_away_leaves_the_product_to_its_other_listings(app, client, keys):
    """The listing a product is named after, re-titled to match another product, moves there;
    the product it leaves keeps its other listings (they were not delisted), headed by one of them."""
    title = "晨光 中性笔 0.5mm 黑色 12支 考试办公"
    _post(client, keys, [{"id": "post-head", "title": title, "price": 15.0}])
    copy = _post(client, keys, [{"id": "post-tail", "title": title + " 包邮", "price": 14.0}]).json()["listings"][0]
    assert copy["product"] == "post-head" and copy["joined"]
    phone = client.get("/products/sku-0001", headers=_writer(keys)).json()
    moved = _post(client, keys, [{"id": "post-head", "title": phone["title"], "price": 15.0}]).json()["listings"][0]
    assert moved["product"] == "sku-0001" and moved["joined"]
    left = client.get("/products/post-tail", headers=_writer(keys))
    assert left.status_code == 200, left.text
    card = left.json()
    assert card["id"] == "post-head" and [(row["listing"], row["evidence"]) for row in card["listings"]] == [
        ("post-tail", "the only listing of this product")]
