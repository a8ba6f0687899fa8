"""Incremental updates: a new version of a listing updates its facts, retracts what nothing
supports any more, and keeps what ended as history (valid_from / valid_to)."""

import json
import re
from datetime import UTC, datetime

from typer.testing import CliRunner

from skugraph import pipeline
from skugraph.cli import app
from skugraph.corpus.ingest import ingest
from skugraph.graph.cards import history
from skugraph.graph.store import open_store
from skugraph.records import Entity, Fact, Listing, Provenance
from skugraph.sample.generate import CATALOGUE


def test_a_changed_listing_retracts_its_old_colour_and_keeps_its_old_price(tmp_path):
    db = tmp_path / "graph.lbug"
    ingest([CATALOGUE], tmp_path / "listings.jsonl")
    pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "facts.jsonl")
    first, _ = pipeline.load(db, tmp_path / "listings.jsonl", tmp_path / "facts.jsonl")
    assert (first.retracted, first.changed) == (0, 0)

    record = next(json.loads(line) for line in (tmp_path / "listings.jsonl").open(encoding="utf-8") if "红色" in line)
    new = json.loads(json.dumps(record, ensure_ascii=False).replace("红色", "蓝色"))
    new.update(price=record["price"] + 100, updated_at="2026-12-01T00:00:00Z")
    (tmp_path / "changed.jsonl").write_text(json.dumps(new, ensure_ascii=False) + "\n", "utf-8")
    ingest([tmp_path / "changed.jsonl"], tmp_path / "changed-listings.jsonl")
    pipeline.extract(tmp_path / "changed-listings.jsonl", tmp_path / "changed-facts.jsonl")
    loaded = CliRunner().invoke(app, ["load", str(tmp_path / "changed-facts.jsonl"), "--listings", str(tmp_path / "changed-listings.jsonl"),
                                      "--db", str(db)])
    assert loaded.exit_code == 0, loaded.output
    retracted, replaced = map(int, re.search(r"(\d+) facts retracted, (\d+) listing values replaced", loaded.stdout).groups())
    assert retracted >= 1 and replaced >= 2  # the colour; the price and the title

    with open_store(db, read_only=True) as store:
        colours = store.query("MATCH (:Product {id: $id})-[:HAS_VALUE]->(v:Value {kind: 'colour'}) RETURN v.value",
                              {"id": record["id"]}).rows
        assert colours == [["蓝色"]]
        found = history(store, record["id"])
        before = store.digest()
    rows = {(r["subject"], r["attribute"], r["value"]): r for r in found["history"]}
    red = rows[("product", "colour", "红色")]
    assert red["valid_to"].startswith("2026-12-01") and red["sources"] == [record["id"]]
    assert rows[("product", "colour", "蓝色")]["valid_to"] is None
    old_price = rows[(record["id"], "price", str(record["price"]))]
    assert old_price["valid_from"] == record["updated_at"] and old_price["valid_to"].startswith("2026-12-01")
    new_price = rows[(record["id"], "price", str(record["price"] + 100))]
    assert new_price["valid_to"] is None and new_price["valid_from"] == old_price["valid_to"]

    again, _ = pipeline.load(db, tmp_path / "changed-listings.jsonl", tmp_path / "changed-facts.jsonl")
    assert (again.retracted, again.changed) == (0, 0)
    with open_store(db, read_only=True) as store:
        assert store.digest() == before  # the same version twice changes nothing

    shown = CliRunner().invoke(app, ["history", record["id"], "--db", str(db), "--json"])
    assert shown.exit_code == 0, shown.output
    assert {(r["attribute"], r["value"]) for r in json.loads(shown.stdout)["history"]} >= {("colour", "红色"), ("colour", "蓝色")}
    assert CliRunner().invoke(app, ["history", "no-such-product", "--db", str(db)]).exit_code == 1


def _colour(product: str, colour: str, *listings: str) -> Fact:
    return Fact(Entity("Product", product, product), "colour", Entity("Value", f"colour:{colour}", colour, "colour"), 0.9,
                tuple(Provenance(listing, "title", 0, 2, "rules") for listing in listings))


def test_a_fact_stays_while_another_listing_supports_it(tmp_path):
    when = datetime(2026, 1, 1, tzinfo=UTC)
    one, two = Listing("l1", "红色 杯子", updated_at=when), Listing("l2", "红色 水杯", updated_at=when)
    with open_store(tmp_path / "graph.lbug") as store:
        store.load([one, two], [_colour("cup", "红色", "l1", "l2")])
        later = datetime(2026, 2, 1, tzinfo=UTC)
        report = store.load([Listing("l1", "蓝色 杯子", updated_at=later)], [_colour("cup", "蓝色", "l1")])
        assert report.retracted == 0
        edges = store.query("MATCH (:Product {id: 'cup'})-[r:HAS_VALUE]->(v:Value) RETURN v.value, r.provenance ORDER BY v.value").rows
        assert [(value, [p["listing_id"] for p in json.loads(provenance)]) for value, provenance in edges] == [
            ("红色", ["l2"]), ("蓝色", ["l1"])]
        report = store.load([Listing("l2", "水杯", updated_at=datetime(2026, 3, 1, tzinfo=UTC))], [])
        assert report.retracted == 1
        assert store.query("MATCH (:Product {id: 'cup'})-[:HAS_VALUE]->(v:Value) RETURN v.value").rows == [["蓝色"]]
        ended = store.query("MATCH (c:Change {attribute: 'colour'}) RETURN c.value, c.valid_to, c.sources").rows
        assert ended == [["红色", "2026-03-01T00:00:00+00:00", '["l2"]']]
