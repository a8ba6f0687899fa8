import json

from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.facts.build import value_entity
from skugraph.fusion.conflicts import resolve
from skugraph.graph.cards import explain
from skugraph.records import BRAND, PRODUCT, Entity, Fact, Listing, Provenance


def read_in(field: str, start: int, end: int) -> tuple[Provenance, ...]:
    return (Provenance("p1", field, start, end, "tagger", "1"),)


PRODUCT_1 = Entity(PRODUCT, "p1", "华为 Mate 60 黑色")


def test_the_best_supported_value_is_chosen_and_the_others_kept():
    facts = [
        Fact(PRODUCT_1, "colour", value_entity("colour", "黑色"), 0.9, read_in("title", 11, 13)),
        Fact(PRODUCT_1, "colour", value_entity("colour", "白色"), 0.9, read_in("description", 3, 5)),
        Fact(PRODUCT_1, "colour", value_entity("colour", "蓝色"), 0.95, read_in("reviews[0]", 0, 2)),
        Fact(PRODUCT_1, "has_brand", Entity(BRAND, "huawei", "华为"), 0.99, read_in("title", 0, 2)),
    ]
    resolved = {f.object.name: f for f in resolve(facts)}
    assert resolved["黑色"].properties == {"chosen": True, "support": 0.9}
    assert resolved["白色"].properties == {"chosen": False, "support": 0.72}  # description weighs 0.8
    assert resolved["蓝色"].properties == {"chosen": False, "support": 0.285}  # a review weighs 0.3
    assert resolved["华为"].properties == {}  # only attribute values are voted on


def test_a_confident_description_beats_an_unsure_title():
    facts = [Fact(PRODUCT_1, "capacity", value_entity("capacity", "256G"), 0.5, read_in("title", 0, 4)),
             Fact(PRODUCT_1, "capacity", value_entity("capacity", "512GB"), 0.9, read_in("description", 0, 5))]
    chosen = [f.object.name for f in resolve(facts) if f.properties["chosen"]]
    assert chosen == ["512GB"]


def test_a_product_word_that_is_the_products_type_is_no_related_product():
    """Two listings of one product: one heads 手机壳, the other names it beside its head 钢化膜."""
    case, film = value_entity("product_type", "手机壳"), value_entity("product_type", "钢化膜")
    facts = [Fact(PRODUCT_1, "product_type", case, 0.9, read_in("title", 0, 3)),
             Fact(PRODUCT_1, "product_type", film, 0.6, read_in("title", 5, 8)),
             Fact(PRODUCT_1, "related_product", case, 0.8, read_in("title", 9, 12)),
             Fact(Entity(PRODUCT, "p2", "钢化膜 送手机壳"), "related_product", case, 0.8, read_in("title", 5, 8))]
    kept = [(f.subject.key, f.predicate, f.object.name) for f in resolve(facts)]
    assert kept == [("p1", "product_type", "手机壳"), ("p1", "product_type", "钢化膜"), ("p2", "related_product", "手机壳")]


def test_explain_shows_the_choice_and_its_evidence(store):
    listing = Listing("p1", "华为 Mate 60 黑色", description="颜色：白色")
    facts = resolve([Fact(PRODUCT_1, "colour", value_entity("colour", "黑色"), 0.9, read_in("title", 11, 13)),
                     Fact(PRODUCT_1, "colour", value_entity("colour", "白色"), 0.9, read_in("description", 3, 5))])
    store.load([listing], facts)
    rows = explain(store, "p1", "colour")["values"]
    assert [(r["value"], r["chosen"], r["canonical"]) for r in rows] == [("黑色", True, "black"), ("白色", False, "white")]
    assert rows[0]["evidence"] == ["p1 title[11:13] 黑色 (tagger)"] and rows[1]["evidence"] == ["p1 description[3:5] 白色 (tagger)"]
    assert explain(store, "nope") is None


def test_explain_command_on_an_extracted_listing(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "x1", "title": "华为 Mate 60 黑色 256G 手机", "description": "颜色：白色；存储：512G。"},
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    runner = CliRunner()
    for args in (["ingest", str(source), "--out", str(tmp_path / "l.jsonl"), "--rejects", str(tmp_path / "r.jsonl")],
                 ["extract", str(tmp_path / "l.jsonl"), "--out", str(tmp_path / "f.jsonl")],
                 ["load", str(tmp_path / "f.jsonl"), "--listings", str(tmp_path / "l.jsonl"), "--db", str(tmp_path / "g.lbug")]):
        assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["explain", "x1", "--db", str(tmp_path / "g.lbug"), "--json"])
    rows = {(r["attribute"], r["value"]): r for r in json.loads(result.stdout)["values"]}
    assert rows[("colour", "黑色")]["chosen"] and not rows[("colour", "白色")]["chosen"]
    assert rows[("capacity", "256GB")]["chosen"] and not rows[("capacity", "512GB")]["chosen"]
