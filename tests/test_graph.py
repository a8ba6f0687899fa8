import ast
import json
from pathlib import Path

import pytest

from skugraph.corpus.listings import read_listings
from skugraph.facts.build import FactBuilder
from skugraph.graph.schema import NODE_TABLES, relation_tables
from skugraph.graph.ladybug_store import LadybugStore
from skugraph.graph.store import GraphStore, StoreError, open_store
from skugraph.records import BRAND, PRODUCT, VALUE, Entity, Fact, Provenance
from skugraph.tagging.rules import RuleExtractor


@pytest.fixture(scope="module")
def sample(request):
    from skugraph.sample.generate import CATALOGUE

    listings = list(read_listings([CATALOGUE]))[:80]
    extractor, builder = RuleExtractor(), FactBuilder()
    facts = [fact for listing in listings for fact in builder.build(listing, extractor.extract(listing))]
    return listings, facts


def dump(store: GraphStore) -> dict[str, list]:
    """Every node and edge with every property, in a stable order."""
    out = {}
    for label in NODE_TABLES:
        out[label] = store.query(f"MATCH (n:{label}) RETURN n ORDER BY n.id").rows
    for table in relation_tables():
        out[table.name] = store.query(
            f"MATCH (a)-[r:{table.name}]->(b) RETURN a.id, b.id, r.predicate, r.confidence, r.provenance, r.updated_at "
            "ORDER BY a.id, b.id"
        ).rows
    return out


def test_load_twice_gives_the_same_graph(store, sample):
    listings, facts = sample
    first = store.load(listings, facts)
    before, counts = dump(store), store.stats()
    second = store.load(listings, facts)
    assert dump(store) == before and store.stats() == counts
    assert "Product" in first.copied and "Product" in second.upserted
    assert counts["nodes"]["Product"] == 80
    assert counts["edges"]["HAS_BRAND"] == sum(f.predicate == "has_brand" for f in facts)
    assert sum(counts["edges"].values()) == len(facts)


def test_bulk_copy_and_merge_paths_agree(tmp_path, sample):
    listings, facts = sample
    with open_store(tmp_path / "copy.lbug") as whole:
        whole.load(listings, facts)
        expected = dump(whole)
    with open_store(tmp_path / "merge.lbug") as pieces:
        pieces.load(listings, facts[:10])  # later batches go through MERGE
        pieces.load([], facts[10:], batch_size=37)
        assert dump(pieces) == expected


def test_properties_and_provenance_are_stored(store, sample):
    listings, facts = sample
    store.load(listings, facts)
    listing = listings[0]
    row = store.query(
        "MATCH (l:Listing {id: $id}), (p:Product {id: $id})-[r:HAS_BRAND]->(b:Brand) "
        "RETURN p.title, l.title, l.price, l.updated_at, b.id, r.provenance",
        {"id": listing.id},
    ).records()[0]
    assert row["p.title"] == row["l.title"] == listing.title and row["l.price"] == listing.price
    assert row["l.updated_at"].startswith(listing.updated_at.strftime("%Y-%m-%dT%H"))
    assert f'"listing_id": "{listing.id}"' in row["r.provenance"]


def test_a_query_by_columns_gives_the_rows_values(store, sample):
    listings, facts = sample
    store.load(listings, facts)
    cypher = ("MATCH (l:Listing) OPTIONAL MATCH (p:Product {id: l.id})-[r:HAS_BRAND]->() RETURN l.id, l.price, l.updated_at, "
              "l.sales_from, l.stock, l.stock IS NULL, r.confidence, map([l.id], [[l.price]]) AS m, l, count(*) AS n ORDER BY l.id")
    rows = store.query(cypher).rows
    assert len(rows) == len(listings) and isinstance(rows[0][2], str) and isinstance(rows[0][3], str)  # times and days as ISO text
    assert rows[0][7] == {rows[0][0]: [rows[0][1]]} and rows[0][8]["id"] == rows[0][0]  # a MAP and a node as dicts
    assert [list(row) for row in zip(*store.columns(cypher), strict=True)] == rows
    assert store.columns("MATCH (p:Product {id: $id}) RETURN p.id, p.title", {"id": "none"}) == [[], []]


def test_parameters_are_values_never_cypher(store, sample):
    listings, facts = sample
    store.load(listings, facts)
    hostile = "x'}) MATCH (n) DETACH DELETE n //"
    assert store.query("MATCH (p:Product) WHERE p.id = $id RETURN p.id", {"id": hostile}).rows == []
    assert store.stats()["nodes"]["Product"] == 80


def test_brand_aliases_accumulate_on_reload(store):
    product = Entity(PRODUCT, "p1", "诺芝太阳能热水器")
    where = (Provenance("p1", "title", 0, 2, "rules", "1"),)
    store.load([], [Fact(product, "has_brand", Entity(BRAND, "nozi", "诺芝", aliases=("NOZI",)), 0.8, where)])
    store.load([], [Fact(product, "has_brand", Entity(BRAND, "nozi", "诺芝", aliases=("Nozi Home",)), 0.9, where)])
    assert store.query("MATCH (b:Brand) RETURN b.aliases").rows == [[["NOZI", "Nozi Home"]]]
    assert store.query("MATCH ()-[r:HAS_BRAND]->() RETURN r.confidence").rows == [[0.9]]


def test_a_fact_that_breaks_the_ontology_is_refused(store):
    wrong = Fact(Entity(BRAND, "b", "b"), "has_brand", Entity(VALUE, "colour:红色", "红色", kind="colour"), 1.0)
    with pytest.raises(ValueError, match="does not fit predicate"):
        store.load([], [wrong])
    with pytest.raises(ValueError, match="unknown predicate"):
        store.load([], [Fact(wrong.subject, "made_of_cheese", wrong.object, 1.0)])


def test_bad_cypher_is_a_store_error(store):
    with pytest.raises(StoreError, match="Produc"):
        store.query("MATCH (p:Produc) RETURN p")


def test_reopening_keeps_data_and_missing_read_only_is_clear(tmp_path, sample):
    listings, facts = sample
    with open_store(tmp_path / "g.lbug") as first:
        first.load(listings, facts)
        counts = first.stats()
    with open_store(tmp_path / "g.lbug", read_only=True) as again:
        assert again.stats() == counts
    with pytest.raises(FileNotFoundError, match="no graph database"):
        open_store(tmp_path / "none.lbug", read_only=True)


def test_a_graph_gains_the_edge_properties_a_newer_ontology_declares(tmp_path):
    import yaml

    from skugraph.facts.ontology import DEFAULT_ONTOLOGY, load_ontology
    from skugraph.records import Listing

    older = yaml.safe_load(DEFAULT_ONTOLOGY.read_text("utf-8"))
    del older["predicates"]["has_brand"]["properties"]  # a graph made before HAS_BRAND had evidence
    (tmp_path / "older.yaml").write_text(yaml.safe_dump(older, allow_unicode=True), "utf-8")
    listing = Listing("a", "诺芝（NOZI）热水器")
    fact = Fact(Entity(PRODUCT, "a", listing.title), "has_brand", Entity(BRAND, "nozi", "诺芝"), 0.9,
                (Provenance("a", "title", 0, 2, "rules"),))
    with open_store(tmp_path / "g.lbug", ontology=load_ontology(tmp_path / "older.yaml")) as store:
        store.load([listing], [fact])
    with open_store(tmp_path / "g.lbug") as store:
        store.load([listing], [Fact(fact.subject, fact.predicate, fact.object, 0.9, fact.provenance, {"evidence": "why"})])
        assert store.query("MATCH (:Product)-[r:HAS_BRAND]->(:Brand) RETURN r.evidence").rows == [["why"]]


def test_the_store_interface_declares_what_its_callers_use():
    """Every ``store.<name>`` outside the backends is declared on GraphStore, and the backend defines
    every abstract method (so no caller needs to know it holds a LadybugStore)."""
    source = Path(__file__).resolve().parents[1] / "src" / "skugraph"
    backends = {source / "graph" / "store.py", source / "graph" / "ladybug_store.py"}
    used: dict[str, str] = {}
    for path in sorted(set(source.rglob("*.py")) - backends):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "store":
                used.setdefault(node.attr, f"{path.relative_to(source)}:{node.lineno}")
    assert {"query", "load_tables", "stage", "copy_staged"} <= used.keys(), "the walk found too few callers"
    undeclared = {name: place for name, place in used.items()
                  if not hasattr(GraphStore, name) and name not in GraphStore.__annotations__}
    assert not undeclared, f"used on a store but not declared on GraphStore: {undeclared}"
    assert not LadybugStore.__abstractmethods__


def test_batches_held_back_and_copied_give_the_graph_loading_them_one_by_one_gives(tmp_path, sample, monkeypatch):
    listings, facts = sample
    # the same edges stated again by other listings, batches later: upserted after the copy
    again = [Fact(f.subject, f.predicate, f.object, 0.5, tuple(Provenance(p.listing_id + "-again", p.field, p.start, p.end, p.extractor)
                                                              for p in f.provenance)) for f in facts[::7]]
    brands = [Fact(Entity(PRODUCT, "p-new", ""), "has_brand", Entity(BRAND, "nozi", "诺芝", aliases=(alias,)), 0.7,
                   (Provenance(listings[0].id, "title", 0, 2, "rules"),)) for alias in ("NOZI", "Nozi", "NOZI")]
    with open_store(tmp_path / "held.lbug") as held:
        report = held.load(listings, facts + again + brands, batch_size=23)
        expected = held.digest(), report.nodes, report.edges
        nozi = held.query("MATCH (b:Brand {id: 'nozi'}) RETURN b.aliases").rows
    monkeypatch.setattr(LadybugStore, "bulk", GraphStore.bulk)  # every batch upserted as it comes
    with open_store(tmp_path / "one-by-one.lbug") as one_by_one:
        report = one_by_one.load(listings, facts + again + brands, batch_size=23)
        assert (one_by_one.digest(), report.nodes, report.edges) == expected  # the digest leaves out the edges' load times
    assert len(again) > 10 and nozi == [[["NOZI", "Nozi"]]]


def test_listings_held_back_for_an_empty_graph_keep_what_loading_them_as_they_come_keeps(tmp_path, sample, monkeypatch):
    """Into an empty graph the listings are held back and copied with their supports; a listing
    given again in a later batch is a new version of the first (its old price kept as a Change),
    as when each batch is stored as it comes."""
    from dataclasses import replace
    from datetime import timedelta

    listings, facts = sample
    again = replace(listings[3], price=(listings[3].price or 1) + 1, updated_at=listings[3].updated_at + timedelta(days=1))
    given = listings[:10] + [again]
    digests, supports = [], []
    for number in range(2):
        if number:
            monkeypatch.setattr(LadybugStore, "bulk", GraphStore.bulk)  # every batch stored as it comes
        with open_store(tmp_path / f"graph-{number}.lbug") as store:
            report = store.load(given, [f for f in facts if f.provenance[0].listing_id in {x.id for x in given}], batch_size=4)
            assert report.changed == 1 and len(report.versions) == 10
            digests.append(store.digest())
            supports.append(store.query("MATCH (l:Listing) RETURN l.id, l.supports, l.runs ORDER BY l.id").rows)
            assert store.query("MATCH (c:Change) RETURN c.attribute, c.value").rows == [["price", str(listings[3].price)]]
    assert digests[0] == digests[1] and supports[0] == supports[1]
    assert all(keys and keys != "[]" for _, keys, _ in supports[0])


def test_a_graph_whose_listings_kept_supports_as_lists_is_rewritten_with_its_values(tmp_path):
    import ladybug

    path = tmp_path / "old.lbug"
    db = ladybug.Database(str(path))
    connection = ladybug.Connection(db)
    columns = ", ".join(f"{name} {'STRING[]' if name in ('supports', 'runs') else kind}" for name, kind in NODE_TABLES["Listing"])
    connection.execute(f"CREATE NODE TABLE Listing({columns}, PRIMARY KEY(id))")
    connection.execute("CREATE (:Listing {id: 'l1', title: '杯子', supports: ['HAS_VALUE\x1fProduct\x1fl1\x1fValue\x1fcolour:红色'], "
                       "runs: ['rules@1:abc']}), (:Listing {id: 'l2', title: '碗'})")
    connection.close()
    db.close()
    with open_store(path) as store:
        assert store.query("MATCH (l:Listing) RETURN l.id, l.title, l.supports, l.runs ORDER BY l.id").rows == [
            ["l1", "杯子", '["HAS_VALUE\\u001fProduct\\u001fl1\\u001fValue\\u001fcolour:红色"]', '["rules@1:abc"]'],
            ["l2", "碗", None, None]]
        assert store.listing_runs(["l1", "l2"]) == {"l1": ["rules@1:abc"]}


def _nozi(listing: str, confidence: float) -> Fact:
    return Fact(Entity(PRODUCT, "p1", "诺芝 热水器"), "has_brand", Entity(BRAND, "nozi", "诺芝", aliases=("NOZI",)), confidence,
                (Provenance(listing, "title", 0, 2, "rules", "2"),))


@pytest.mark.parametrize("with_listings", [True, False], ids=["new-listings", "facts-only"])
def test_an_edge_two_listings_state_keeps_both_their_evidence_in_one_batch_or_in_several(tmp_path, monkeypatch, with_listings):
    """One edge stated by the facts of two listings: loaded in one batch, in two (held back and
    copied, or upserted as they come), the graph is the same: the edge holds both listings'
    evidence and their confidences combined as fusion combines them (noisy-or), so a new
    version of one listing that no longer says it leaves the other's evidence."""
    from datetime import UTC, datetime

    from skugraph.facts.build import merge_facts
    from skugraph.records import Listing

    when = datetime(2026, 1, 1, tzinfo=UTC)
    listings = [Listing("a", "诺芝 热水器", updated_at=when), Listing("b", "诺芝（NOZI）热水器 家用", updated_at=when)]
    facts = [_nozi("a", 0.8), Fact(Entity(PRODUCT, "p1", ""), "product_type", Entity(VALUE, "product_type:热水器", "热水器", "product_type"),
                                   0.7, (Provenance("a", "title", 3, 6, "rules", "2"),)), _nozi("b", 0.6)]
    digests = []
    for number, size in enumerate((len(facts), 1, 2)):
        if number == 2:
            monkeypatch.setattr(LadybugStore, "bulk", GraphStore.bulk)  # every batch upserted as it comes
        with open_store(tmp_path / f"graph-{number}.lbug") as store:
            store.load(listings if with_listings else [], facts, batch_size=size)
            digests.append(store.digest())
            [(confidence, provenance)] = store.query("MATCH (:Product {id: 'p1'})-[r:HAS_BRAND]->(:Brand {id: 'nozi'}) "
                                                     "RETURN r.confidence, r.provenance").rows
            assert [p["listing_id"] for p in json.loads(provenance)] == ["a", "b"]
            assert confidence == merge_facts([facts[0], facts[2]])[0].confidence == 0.92
    assert digests[0] == digests[1] == digests[2]
    if with_listings:
        with open_store(tmp_path / "graph-0.lbug") as store:
            report = store.load([Listing("b", "热水器 家用", updated_at=datetime(2026, 2, 1, tzinfo=UTC))], [])
            assert report.retracted == 0
            [(provenance,)] = store.query("MATCH (:Product {id: 'p1'})-[r:HAS_BRAND]->(:Brand {id: 'nozi'}) RETURN r.provenance").rows
            assert [p["listing_id"] for p in json.loads(provenance)] == ["a"]


def test_the_facts_of_one_edge_merge_as_fusion_merges_them_whatever_the_batches(tmp_path, monkeypatch):
    """Evidence stated again adds nothing; new evidence is joined and its fact's confidence
    combined (merge_facts); any batch size gives the graph one batch gives."""
    from datetime import UTC, datetime

    from skugraph.facts.build import merge_facts
    from skugraph.facts.ontology import load_ontology
    from skugraph.graph.columnar import fact_tables
    from skugraph.tables import facts_table

    a, b = _nozi("a", 0.8), _nozi("b", 0.6)
    both = Fact(b.subject, b.predicate, b.object, 0.5, b.provenance + (Provenance("d", "title", 0, 2, "rules", "2"),))
    facts = [a, b, Fact(a.subject, a.predicate, a.object, 0.1, a.provenance), _nozi("c", 0.3), both]
    [merged] = merge_facts(facts)
    [edge] = fact_tables(facts_table(facts), load_ontology(), datetime.now(UTC)).edges[("HAS_BRAND", "Product", "Brand")].to_pylist()
    assert edge["confidence"] == merged.confidence and json.loads(edge["provenance"]) == [p.to_dict() for p in merged.provenance]
    assert [p.listing_id for p in merged.provenance] == ["a", "b", "c", "d"]
    digests = set()
    for number, size in enumerate((5, 1, 2, 3, 2)):
        if number == 4:
            monkeypatch.setattr(LadybugStore, "bulk", GraphStore.bulk)  # every batch upserted as it comes
        with open_store(tmp_path / f"graph-{number}.lbug") as store:
            store.load([], facts, batch_size=size)
            digests.add(store.digest())
    assert len(digests) == 1


def test_loading_again_facts_that_state_an_edge_in_several_batches_changes_nothing(tmp_path):
    """A second load of the same facts (an interrupted load run again, say) leaves the graph as
    it was; a new version of one listing that says it again gives what one batch gives."""
    from datetime import UTC, datetime

    from skugraph.records import Listing

    when = datetime(2026, 1, 1, tzinfo=UTC)
    listings = [Listing("a", "诺芝 热水器", updated_at=when), Listing("b", "诺芝（NOZI）热水器 家用", updated_at=when)]
    facts = [_nozi("a", 0.8), _nozi("b", 0.6)]
    changed = [Listing("a", "诺芝 热水器 新款", updated_at=datetime(2026, 2, 1, tzinfo=UTC))]
    again = [Fact(facts[0].subject, "has_brand", facts[0].object, 0.7, (Provenance("a", "title", 0, 2, "rules", "3"),)), facts[1]]
    graphs = []
    for size in (2, 1):
        with open_store(tmp_path / f"graph-{size}.lbug") as store:
            store.load(listings, facts, batch_size=size)
            before = store.digest()
            store.load(listings, facts, batch_size=size)
            assert store.digest() == before
            store.load(changed, again, batch_size=size)
            graphs.append((store.digest(), store.query("MATCH ()-[r:HAS_BRAND]->() RETURN r.confidence, r.provenance").rows))
    assert graphs[0] == graphs[1] and graphs[0][1][0][0] == 0.88


def test_a_capped_buffer_pool_holds_the_sample_and_refuses_what_outgrows_it(tmp_path, sample):
    listings, facts = sample
    with open_store(tmp_path / "whole.lbug") as whole:
        whole.load(listings, facts)
        expected = dump(whole)
    with open_store(tmp_path / "capped.lbug", buffer_pool_mb=20) as capped:
        capped.load(listings, facts)
        assert dump(capped) == expected
        many = "UNWIND range(1, 300000) AS i CREATE (:Change {id: 'c' + to_string(i), subject: 'a long enough subject text'})"
        with pytest.raises(StoreError, match="buffer pool is full"):  # 20 MB is applied: one transaction this big does not fit (16 MB held the sample until listings gained five stock columns)
            capped.query(many)


def test_fused_facts_copied_into_an_empty_graph_give_the_graph_storing_them_as_they_come_gives(tmp_path, fused_sample, monkeypatch):
    """The listings are copied after the edges that do not end at one (their supports built
    meanwhile) and before the offers, which do: the graph is the one batches stored as they come give."""
    from skugraph import pipeline

    digests, supports = [], []
    for number in range(2):
        if number:
            monkeypatch.setattr(LadybugStore, "bulk", GraphStore.bulk)  # every batch stored as it comes
        report, stats = pipeline.load(tmp_path / f"graph-{number}.lbug", fused_sample / "listings.jsonl", fused_sample / "fused.jsonl",
                                      batch_size=150)
        with open_store(tmp_path / f"graph-{number}.lbug") as store:
            digests.append(store.digest())
            supports.append(store.query("MATCH (l:Listing) RETURN l.id, l.supports, l.runs ORDER BY l.id").rows)
        if not number:
            assert "OFFER_OF(Listing→Product)" in report.copied and stats["edges"]["OFFER_OF"] > 0
    assert digests[0] == digests[1] and supports[0] == supports[1]


def test_read_ahead_gives_the_items_in_order_each_made_while_the_one_before_is_used():
    from concurrent.futures import ThreadPoolExecutor
    from threading import current_thread

    from skugraph.graph.store import read_ahead

    made = []

    def items():
        for number in range(4):
            made.append((number, current_thread().name))
            if number == 3:
                raise ValueError("item 3 is broken")
            yield number

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ahead") as pool:
        given = read_ahead(items(), pool)
        pool.submit(lambda: None).result()  # the first is asked for at once, before the caller takes it
        assert made == [(0, "ahead_0")]
        taken = []
        with pytest.raises(ValueError, match="item 3 is broken"):
            for item in given:
                pool.submit(lambda: None).result()
                assert len(made) == item + 2  # the next one was made while this one was in use
                taken.append(item)
    assert taken == [0, 1, 2] and {thread for _, thread in made} == {"ahead_0"}


def test_stored_edges_matched_by_key_or_by_file_give_the_same_graph(tmp_path, fused_sample, monkeypatch):
    """An update's stored edges are matched a statement per subject and pair where that costs less
    than a scan of their table (a write's few), else by a staged file: either way the same graph,
    the same edge times, the same report, an offer moved to another product included."""
    from dataclasses import replace
    from datetime import timedelta

    from skugraph.corpus.ingest import load_listings
    from skugraph.facts.io import read_facts
    from skugraph.graph import ladybug_store

    listings = list(load_listings(fused_sample / "listings.jsonl"))
    facts = list(read_facts(fused_sample / "fused.jsonl"))
    offers = {f.subject.key: f for f in facts if f.predicate == "offer_of"}
    moved, *kept = [listing for listing in listings if listing.id in offers][:4]
    other = next(f.object for f in offers.values() if f.object != offers[moved.id].object)
    chosen = {moved.id, *(listing.id for listing in kept)}
    again = [replace(listing, price=(listing.price or 1) + 1, updated_at=listing.updated_at + timedelta(days=1))
             for listing in [moved, *kept]]
    update = [replace(f, object=other) if f is offers[moved.id] else f
              for f in facts if any(p.listing_id in chosen for p in f.provenance)]
    values = [f for f in update if f.predicate != "offer_of" and f.subject.label == "Product"]
    only_theirs = next(f for f in values if {p.listing_id for p in f.provenance} <= chosen)  # retracted: the edge goes
    shared = next(f for f in values if {p.listing_id for p in f.provenance} - chosen)  # loses their evidence, stays
    update = [f for f in update if f not in (only_theirs, shared)]
    results, by_key, by_file = [], [], []
    read_by_key, staged_edges = LadybugStore._stored_by_key, ladybug_store._staged_edges
    monkeypatch.setattr(LadybugStore, "_stored_by_key", lambda self, *args: (by_key.append(args[0]), read_by_key(self, *args))[1])
    monkeypatch.setattr(ladybug_store, "_staged_edges", lambda *args: (by_file.append(args[1]), staged_edges(*args))[1])
    for rows in (0, 10**12):  # every table by key; every table by file
        monkeypatch.setattr(ladybug_store, "KEYED_STATEMENT_ROWS", rows)
        with open_store(tmp_path / f"graph-{rows}.lbug") as store:
            store.load(listings, facts)
            by_key.clear()
            by_file.clear()
            report = store.load(again, update, batch_size=7)
            edges = store.query("MATCH (a)-[r]->(b) RETURN a.id, b.id, label(r), r.updated_at, r.valid_from ORDER BY a.id, b.id, label(r)").rows
            loaded = sorted({str(t) for row in edges for t in row[3:] if t is not None and str(t) >= "2026-12-05"})
            times = [row[:3] + [f"load {loaded.index(str(t))}" if str(t) in loaded else t for t in row[3:]] for row in edges]
            offer = store.query("MATCH (:Listing {id: $id})-[:OFFER_OF]->(p:Product) RETURN p.id", {"id": moved.id}).rows
            results.append((store.digest(), times, report.retracted, report.changed, report.nodes, report.edges, offer))
        assert ("OFFER_OF" in by_key) == (rows == 0) and (by_file == []) == (rows == 0)  # retractions too
    assert results[0] == results[1]
    assert results[0][-1] == [[other.key]] and results[0][3] >= 4 and results[0][2] >= 1
