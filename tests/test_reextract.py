"""Re-extraction replaces: facts of a new extraction run of a listing (another extractor, say a
tagger after the rules) retract the previous run's facts about it, kept as history, unless
``--keep-previous``; other listings, and inferred facts loaded after the same run, stay."""

import json
import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from skugraph import pipeline
from skugraph.cli import app
from skugraph.corpus.ingest import ingest
from skugraph.extract import ExtractorConfig, brands_file
from skugraph.facts.io import read_facts
from skugraph.graph.store import open_store
from skugraph.records import Entity, Fact, Listing, Provenance, to_json_line, with_run
from skugraph.sample.generate import CATALOGUE
from skugraph.tagging.rules import read_brands

WHEN = datetime(2026, 1, 1, tzinfo=UTC)
LISTINGS = [Listing("l1", "Dinox 适用华为P30手机壳 黑色", updated_at=WHEN), Listing("l2", "简帕 小米9钢化膜", updated_at=WHEN),
            Listing("l3", "苹果 iPhone 11 手机", updated_at=WHEN)]


def _fact(listing: str, predicate: str, obj: Entity, confidence: float, extractor: str) -> Fact:
    name, _, version = extractor.partition("@")
    return Fact(Entity("Product", listing, listing), predicate, obj, confidence, (Provenance(listing, "title", 0, 2, name, version),))


def _brand(key: str, name: str) -> Entity:
    return Entity("Brand", key, name)


def _value(kind: str, value: str) -> Entity:
    return Entity("Value", f"{kind}:{value}", value, kind)


def _run(extractor: str, readings: dict[str, list[tuple[str, Entity, float]]]) -> list[Fact]:
    """Each listing's facts as one extraction run of ``extractor`` stamps them."""
    return [fact for listing, said in readings.items()
            for fact in with_run([_fact(listing, predicate, obj, score, extractor) for predicate, obj, score in said], extractor)]


RULES = _run("rules@1", {
    "l1": [("has_brand", _brand("huawei", "华为"), 0.9), ("product_type", _value("product_type", "手机壳"), 0.9),
           ("colour", _value("colour", "黑色"), 0.8)],
    "l2": [("has_brand", _brand("xiaomi", "小米"), 0.9), ("product_type", _value("product_type", "钢化膜"), 0.9)],
    "l3": [("has_brand", _brand("apple", "苹果"), 0.95), ("product_type", _value("product_type", "手机"), 0.9)],
})
TAGGER = _run("tagger@0123456789ab", {  # a new reading of l1 and l2 only
    "l1": [("has_brand", _brand("dinox", "Dinox"), 0.72), ("product_type", _value("product_type", "手机壳"), 0.95),
           ("colour", _value("colour", "黑色"), 0.9)],
    "l2": [("has_brand", _brand("jianpa", "简帕"), 0.8), ("product_type", _value("product_type", "钢化膜"), 0.93)],
})
#: what KG completion proposes for l1 after the rules run (no run of its own: derived, not read)
INFERRED = [Fact(Entity("Product", "l1", "l1"), "material", _value("material", "硅胶"), 0.75,
                 (Provenance("l1", "graph", 0, 0, "completion", "neighbours"),), {"inferred": True})]


def _edges(store) -> set[tuple[str, str, str]]:
    return {tuple(row) for row in store.query("MATCH (p:Product)-[r]->(o) RETURN p.id, r.predicate, o.id").rows}


def _write(path, records) -> None:
    path.write_text("".join(to_json_line(record) + "\n" for record in records), "utf-8")


def test_a_run_is_the_extractor_and_what_it_read():
    again = _run("rules@1", {"l1": [("has_brand", _brand("huawei", "华为"), 0.9)]})
    other = _run("rules@1", {"l1": [("has_brand", _brand("dinox", "Dinox"), 0.9)]})
    run = RULES[0].provenance[0].run
    assert run.startswith("rules@1:") and again[0].provenance[0].run != other[0].provenance[0].run
    assert {f.provenance[0].run for f in RULES if f.subject.key == "l1"} == {run}  # one run per listing reading
    assert RULES[0].provenance[0].to_dict()["run"] == run and "run" not in INFERRED[0].provenance[0].to_dict()


def test_a_new_run_retracts_the_old_runs_facts_of_its_listings_only(tmp_path):
    with open_store(tmp_path / "graph.lbug") as store:
        first = store.load(LISTINGS, RULES)
        assert (first.rerun, first.retracted) == (0, 0)
        inferred = store.load([], INFERRED)  # completion after extraction of the same run: adds, retracts nothing
        assert (inferred.rerun, inferred.retracted) == (0, 0)
        assert ("l1", "material", "material:硅胶") in _edges(store) and ("l1", "has_brand", "huawei") in _edges(store)
        l3_before = store.query("MATCH (p:Product {id: 'l3'})-[r]->(o) RETURN r.predicate, o.id, r.provenance, r.valid_from "
                                "ORDER BY o.id").rows
        agreed_since = store.query("MATCH (:Product {id: 'l1'})-[r:HAS_VALUE]->(:Value {id: 'product_type:手机壳'}) "
                                   "RETURN r.valid_from").rows

        report = store.load([], TAGGER)
        edges = _edges(store)
        # l1 (brand 华为, material 硅胶 inferred from the rules' reading) and l2 (brand 小米) lost what only the rules said
        assert (report.rerun, report.retracted, report.rerun_retracted) == (2, 3, 3)
        assert {("l1", "has_brand", "huawei"), ("l2", "has_brand", "xiaomi"), ("l1", "material", "material:硅胶")}.isdisjoint(edges)
        assert {("l1", "has_brand", "dinox"), ("l2", "has_brand", "jianpa"), ("l1", "product_type", "product_type:手机壳"),
                ("l1", "colour", "colour:黑色"), ("l2", "product_type", "product_type:钢化膜")} <= edges
        # what both runs say stays, since it was first held, with the new run's evidence only
        agreed = store.query("MATCH (:Product {id: 'l1'})-[r:HAS_VALUE]->(:Value {id: 'product_type:手机壳'}) "
                             "RETURN r.valid_from, r.provenance, r.confidence").rows
        assert agreed[0][0] == agreed_since[0][0] and agreed[0][2] == 0.95
        assert [p["extractor"] for p in json.loads(agreed[0][1])] == ["tagger"]
        # another listing is untouched
        assert store.query("MATCH (p:Product {id: 'l3'})-[r]->(o) RETURN r.predicate, o.id, r.provenance, r.valid_from "
                           "ORDER BY o.id").rows == l3_before
        runs = {listing: json.loads(held) for listing, held in store.query("MATCH (l:Listing) RETURN l.id, l.runs").rows}
        assert [r.split(":")[0] for r in runs["l1"] + runs["l2"] + runs["l3"]] == ["tagger@0123456789ab"] * 2 + ["rules@1"]
        ended = store.query("MATCH (c:Change) RETURN c.subject, c.attribute, c.value, c.sources ORDER BY c.subject, c.value").rows
        assert ended == [["Product:l1", "has_brand", "华为", '["l1"]'], ["Product:l1", "material", "硅胶", '["l1"]'],
                         ["Product:l2", "has_brand", "小米", '["l2"]']]
        before = store.digest()
        again = store.load(LISTINGS, TAGGER)  # the same run again changes nothing
        assert (again.rerun, again.retracted) == (0, 0) and store.digest() == before


def test_keep_previous_keeps_both_runs_until_a_third(tmp_path):
    with open_store(tmp_path / "graph.lbug") as store:
        store.load(LISTINGS, RULES)
        report = store.load([], TAGGER, keep_previous=True)
        assert (report.rerun, report.retracted, report.kept_previous) == (0, 0, 2)
        assert {("l1", "has_brand", "huawei"), ("l1", "has_brand", "dinox"), ("l2", "has_brand", "xiaomi"),
                ("l2", "has_brand", "jianpa")} <= _edges(store)
        assert len(json.loads(store.query("MATCH (l:Listing {id: 'l1'}) RETURN l.runs").rows[0][0])) == 2
        third = store.load([], _run("rules@2", {"l1": [("has_brand", _brand("dinox", "Dinox"), 0.9)]}))
        assert (third.rerun, third.retracted) == (1, 3)  # l1's 华为, 手机壳, 黑色 of both earlier runs
        assert {(a, b) for a, b, _ in _edges(store) if a == "l1"} == {("l1", "has_brand")}


def test_the_decision_holds_when_a_listings_facts_span_batches(tmp_path):
    """A listing whose derived facts (no run) come in a batch before its new run's facts is
    replaced all the same, whatever the batch size."""
    graphs = []
    for size in (1, 200_000):
        with open_store(tmp_path / f"graph-{size}.lbug") as store:
            store.load(LISTINGS, RULES)
            report = store.load([], INFERRED + TAGGER, batch_size=size)
            assert (report.rerun, report.retracted) == (2, 2)  # the inferred material comes with the new run
            graphs.append(store.query("MATCH (p)-[r]->(o) RETURN p.id, r.predicate, o.id, r.confidence, r.provenance "
                                      "ORDER BY p.id, r.predicate, o.id").rows +
                          store.query("MATCH (l:Listing) RETURN l.id, l.supports, l.runs ORDER BY l.id").rows)
    assert graphs[0] == graphs[1]  # the Change nodes aside: they end at the time of each load


def test_skugraph_load_says_what_a_new_run_retracted_and_history_keeps_it(tmp_path):
    db, listings = tmp_path / "graph.lbug", tmp_path / "listings.jsonl"
    _write(listings, LISTINGS)
    _write(tmp_path / "rules.jsonl", RULES)
    _write(tmp_path / "tagger.jsonl", TAGGER)
    runner = CliRunner()
    first = runner.invoke(app, ["load", str(tmp_path / "rules.jsonl"), "--listings", str(listings), "--db", str(db)])
    assert first.exit_code == 0, first.output
    kept_db = tmp_path / "kept.lbug"
    runner.invoke(app, ["load", str(tmp_path / "rules.jsonl"), "--listings", str(listings), "--db", str(kept_db)])
    kept = runner.invoke(app, ["load", str(tmp_path / "tagger.jsonl"), "--listings", str(listings), "--db", str(kept_db),
                               "--keep-previous"])
    assert kept.exit_code == 0, kept.output
    assert "kept the facts of earlier extraction runs of 2 listing(s)" in kept.stdout and "retracted" not in kept.stdout
    with open_store(kept_db, read_only=True) as store:
        assert {("l1", "has_brand", "huawei"), ("l1", "has_brand", "dinox")} <= _edges(store)
    loaded = runner.invoke(app, ["load", str(tmp_path / "tagger.jsonl"), "--listings", str(listings), "--db", str(db)])
    assert loaded.exit_code == 0, loaded.output
    assert "a new extraction run of 2 listing(s) replaced the previous one: 2 facts of the previous run retracted" in loaded.stdout
    assert "new versions of listings" not in loaded.stdout
    shown = runner.invoke(app, ["history", "l1", "--db", str(db), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = {(r["attribute"], r["value"]): r for r in json.loads(shown.stdout)["history"]}
    assert rows[("has_brand", "华为")]["valid_to"] is not None and rows[("has_brand", "华为")]["sources"] == ["l1"]
    assert rows[("has_brand", "Dinox")]["valid_to"] is None and rows[("product_type", "手机壳")]["valid_to"] is None
    card = runner.invoke(app, ["show", "l1", "--db", str(db)])
    assert card.exit_code == 0, card.output
    assert "Dinox" in card.stdout and "华为" not in card.stdout


def _read_graph(db) -> set[tuple]:
    """Every edge but those KG completion proposed (a proposal for a listing that was not read
    again stays: it is no fact of the run that changed)."""
    with open_store(db, read_only=True) as store:
        rows = store.query("MATCH (a)-[r]->(b) RETURN a.id, r.predicate, b.id, r.confidence, r.provenance").rows
    return {tuple(row[:4]) for row in rows if "completion" not in {p["extractor"] for p in json.loads(row[4])}}


def test_extract_fuse_load_again_with_another_lexicon_gives_the_graph_a_fresh_load_gives(tmp_path):
    """The whole pipeline: the same extraction twice is one run (byte-equal files, nothing
    replaced); a word list that changes what the rules read is a new run of the listings it
    changes, and loading it leaves the graph a fresh load of it would build."""
    listings = tmp_path / "listings.jsonl"
    ingest([CATALOGUE], listings)
    for name in ("one", "two"):
        pipeline.extract(listings, tmp_path / f"{name}.jsonl")
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    pipeline.fuse(listings, tmp_path / "one.jsonl", tmp_path / "one.fused.jsonl")
    (tmp_path / "types.txt").write_text("全网通\n", "utf-8")  # now a product word: listings that write it read differently
    pipeline.extract(listings, tmp_path / "new.jsonl", config=ExtractorConfig(product_type_files=[tmp_path / "types.txt"]))
    pipeline.fuse(listings, tmp_path / "new.jsonl", tmp_path / "new.fused.jsonl")

    def runs(name: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for fact in read_facts(tmp_path / name):
            for place in fact.provenance:
                if place.run:
                    found.setdefault(place.listing_id, set()).add(place.run)
        return found

    before, after = runs("one.fused.jsonl"), runs("new.fused.jsonl")
    assert all(run.startswith("rules@") for held in before.values() for run in held)
    changed = {listing for listing in after if after[listing] != before.get(listing)}
    assert 0 < len(changed) < len(after)

    db = tmp_path / "graph.lbug"
    pipeline.load(db, listings, tmp_path / "one.fused.jsonl")
    again, _ = pipeline.load(db, listings, tmp_path / "one.fused.jsonl")
    assert (again.rerun, again.retracted) == (0, 0)
    report, _ = pipeline.load(db, listings, tmp_path / "new.fused.jsonl")
    assert report.rerun == len(changed) and report.retracted == report.rerun_retracted
    pipeline.load(tmp_path / "fresh.lbug", listings, tmp_path / "new.fused.jsonl")
    assert _read_graph(db) == _read_graph(tmp_path / "fresh.lbug")


#: 诺芝 is no shipped brand: the rules learn it from the first title, which writes it in two scripts
NOZI = [Listing("n1", "诺芝（NOZI）太阳能热水器家用 304不锈钢水箱", updated_at=WHEN),
        Listing("n2", "诺芝 电热水壶 1.5L 家用", updated_at=WHEN), Listing("n3", "苹果 iPhone 11 手机", updated_at=WHEN)]


def _facts_of(path, listing: str) -> list[str]:
    return [to_json_line(fact) for fact in read_facts(path) if fact.subject.key == listing]


def test_an_update_given_the_brands_file_reads_its_listings_as_the_full_run_did(tmp_path):
    """The brands the full extraction learned are written beside its facts; an extraction of
    some listings only (an update) given that file reads them as the full run did, so loading
    it retracts nothing. Without it, the update has not seen the title that taught 诺芝."""
    listings, update, db = tmp_path / "listings.jsonl", tmp_path / "update.jsonl", tmp_path / "graph.lbug"
    _write(listings, NOZI)
    _write(update, NOZI[1:2])
    runner = CliRunner()

    def extract(source, out, *options) -> None:
        result = runner.invoke(app, ["extract", str(source), "--out", str(tmp_path / out), *options])
        assert result.exit_code == 0, result.output

    extract(listings, "facts.jsonl")
    brands = tmp_path / "facts.brands.tsv"
    assert [line.split("\t")[:3] for line in brands.read_text("utf-8").splitlines() if not line.startswith("#")] == \
        [["nozi", "诺芝", "NOZI"]]
    extract(update, "alone.jsonl")
    extract(update, "update.facts.jsonl", "--brands", str(brands))
    full = _facts_of(tmp_path / "facts.jsonl", "n2")
    assert any('"has_brand"' in fact for fact in full) and not any('"has_brand"' in fact for fact in _facts_of(tmp_path / "alone.jsonl", "n2"))
    assert _facts_of(tmp_path / "update.facts.jsonl", "n2") == full

    for facts in ("facts.jsonl", "update.facts.jsonl"):
        loaded = runner.invoke(app, ["load", str(tmp_path / facts), "--listings", str(listings), "--db", str(db)])
        assert loaded.exit_code == 0, loaded.output
    with open_store(db, read_only=True) as store:
        assert ("n2", "has_brand", "nozi") in _edges(store) and not store.query("MATCH (c:Change) RETURN c.value").rows


def test_given_its_own_brands_file_an_extraction_reads_the_catalogue_byte_for_byte_the_same(tmp_path):
    listings = tmp_path / "listings.jsonl"
    ingest([CATALOGUE], listings)
    pipeline.extract(listings, tmp_path / "one.jsonl")
    assert {brand.key for brand in read_brands(brands_file(tmp_path / "one.jsonl"))} == {"nozi", "lekes", "qinghe"}  # learned
    pipeline.extract(listings, tmp_path / "two.jsonl", config=ExtractorConfig(brand_files=[brands_file(tmp_path / "one.jsonl")]))
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert brands_file(tmp_path / "one.jsonl").read_bytes() == brands_file(tmp_path / "two.jsonl").read_bytes()


def test_a_build_upserting_an_update_reads_with_the_previous_builds_brands(tmp_path):
    everything, update = tmp_path / "all.jsonl", tmp_path / "update.jsonl"
    _write(everything, NOZI)
    _write(update, NOZI[1:2])
    pipeline.build(pipeline.BuildConfig(inputs=[everything], workdir=tmp_path / "work", complete=False))
    result = pipeline.build(pipeline.BuildConfig(inputs=[update], workdir=tmp_path / "work", complete=False))
    assert (result.load.rerun, result.load.retracted) == (0, 0)
    with open_store(result.config.graph, read_only=True) as store:
        assert ("n2", "has_brand", "nozi") in _edges(store)


def test_a_bad_brands_file_row_names_its_file_and_line(tmp_path):
    path = tmp_path / "brands.tsv"
    path.write_text("# key, name\nnozi\t诺芝\tNOZI\nnameless\n", "utf-8")
    with pytest.raises(ValueError, match=r"brands.tsv, line 3: a brand row needs a key and a name"):
        read_brands(path)
