"""Search, recommendations and market analysis on the sample catalogue's graph."""

import pytest

from skugraph.apps.analytics import market_report, report_html
from skugraph.apps.recommend import Recommender
from skugraph.apps.search import (
    Document,
    QueryParser,
    SearchIndex,
    band_of,
    ndcg,
    price_bands,
    recall,
    synthesise_queries,
)
from skugraph.graph.store import open_store
from skugraph.tagging.rules import RuleExtractor


@pytest.fixture(scope="module")
def graph(demo_graph):
    with open_store(demo_graph, read_only=True) as store:
        index = SearchIndex.from_store(store)
        titles = [row[0] for row in store.query("MATCH (l:Listing) RETURN l.title").rows]
        report = market_report(store)
    return index, QueryParser(RuleExtractor().learn_brands(titles)), report


def test_query_becomes_constraints_on_the_graph(graph):
    index, parser, _ = graph
    asked = {(c.predicate, c.name) for c in parser.parse("华为 手机壳 透明")}
    assert asked == {("has_brand", "华为"), ("product_type", "手机壳"), ("colour", "透明")}
    # the last product word is the one wanted, an earlier one only related
    assert {c.predicate for c in parser.parse("手机 钢化膜") if c.name == "钢化膜"} == {"product_type"}


def test_a_brand_in_the_query_is_read_as_the_graph_reads_it_for_that_type(graph):
    index, parser, _ = graph
    cases = index.resolve(parser.parse("华为 手机壳"))
    assert ("compatible_with", "huawei") in {(c.predicate, c.key) for c in cases}  # cases that fit 华为
    phones = index.resolve(parser.parse("华为 手机"))
    assert ("has_brand", "huawei") in {(c.predicate, c.key) for c in phones}
    hits = index.search("华为 手机壳", parser, limit=3).hits
    assert all("compatible_with 华为" in h.matched and "product_type 手机壳" in h.matched for h in hits), hits


def test_constraints_rank_what_the_query_asks_above_word_matches(graph):
    index, parser, _ = graph
    result = index.search("苹果 256G 手机", parser, limit=3)
    assert all("has_brand 苹果" in hit.matched and "capacity 256GB" in hit.matched for hit in result.hits), result.hits
    plain = index.search("苹果 256G 手机", None, limit=3)
    assert plain.constraints == [] and plain.hits
    # normalised values: the query's 256GB finds titles that wrote 256G
    titles = [h.title for h in index.search("256GB 手机", parser, limit=10).hits]
    assert any("256G " in t for t in titles)


def test_brand_alias_in_the_query_finds_the_brand(graph):
    index, parser, _ = graph
    hits = index.search("Apple 手机", parser, limit=5).hits
    assert hits and all(hit.brand == "苹果" for hit in hits[:3])


def test_facets_count_matches_and_filters_narrow(graph):
    index, parser, _ = graph
    result = index.search("手机壳", parser, limit=50)
    brands = result.facets["brand"]
    assert brands and sum(b["count"] for b in brands) >= result.total * 0.5
    chosen = brands[0]
    narrowed = index.search("手机壳", parser, limit=50, filters={"brand": chosen["key"]})
    assert narrowed.total == chosen["count"]
    facts = {d.id: d.facts for d in index.documents}
    assert all(("has_brand", chosen["key"]) in facts[hit.id] for hit in narrowed.hits)
    band = result.facets["price"][0]["key"]
    priced = index.search("手机壳", parser, limit=50, filters={"price": band})
    assert priced.total == result.facets["price"][0]["count"]
    with pytest.raises(ValueError, match="unknown facet"):
        index.search("手机壳", parser, filters={"size": "x"})


def test_price_bands_are_quantile_edges():
    edges = price_bands([10, 20, 30, 40, 150, 160, 900, 1000])
    assert edges == sorted(edges) and len(edges) == 3
    assert band_of(5, edges).startswith("<") and band_of(5000, edges).startswith("≥")


def test_ranking_metrics():
    assert ndcg(["a", "b"], {"a"}) == 1.0
    assert ndcg(["b", "a"], {"a"}) == pytest.approx(1 / 1.58496, rel=1e-4)
    assert recall(["a", "x"], {"a", "b"}, k=50) == 0.5


def test_synthesised_queries_have_their_relevant_products():
    gold = {"1": [("product_type", "t:壳", "手机壳"), ("colour", "c:黑", "黑色")],
            "2": [("product_type", "t:壳", "手机壳"), ("colour", "c:黑", "黑色"), ("has_brand", "b", "华为")],
            "3": [("product_type", "t:壳", "手机壳"), ("colour", "c:白", "白色")]}
    queries = synthesise_queries(gold, min_relevant=2)
    assert [(q.text, sorted(q.relevant)) for q in queries] == [("黑色 手机壳", ["1", "2"])]


def test_search_documents_from_facts_match_the_store(graph):
    index, _, _ = graph
    assert len(index) > 100
    doc = next(d for d in index.documents if d.id == "sku-0001")
    assert ("has_brand", "huawei") in doc.facts and doc.prices


def test_recommendations_with_reasons(graph):
    index, _, _ = graph
    recommender = Recommender.from_documents(index.documents)
    phone = "sku-0001"  # 华为 Mate 60
    similar = recommender.similar(phone, 3)
    assert similar and phone not in [r.id for r in similar] and similar[0].reason.startswith("same ")
    accessories = recommender.complementary(phone, 5)
    assert accessories and all("华为" in r.reason or "手机" in r.reason for r in accessories)
    assert all(("product_type", "product_type:手机") not in recommender.facts[r.id] for r in accessories)
    substitutes = recommender.substitutes(phone, 5)
    assert substitutes and all(r.reason.startswith("same type") for r in substitutes)
    assert "capacity 256GB" in substitutes[0].reason


def test_fitting_scores_direct_and_inferred():
    facts = {"case-a": {("product_type", "t:case"): 1, ("compatible_with", "m:p30"): 1, ("compatible_with", "b:huawei"): 1},
             "case-b": {("product_type", "t:case"): 1, ("compatible_with", "m:p30"): 1},
             "phone": {("product_type", "t:phone"): 1, ("model", "m:p30"): 1}}
    recommender = Recommender(facts)
    direct, inferred = recommender.fitting({"b:huawei": 1.0})
    row = recommender.row
    assert direct[row["case-a"]] == 1 and direct[row["case-b"]] == 0
    assert inferred[row["case-b"]] > inferred[row["phone"]]  # fits p30, as the huawei case does


def test_market_report_and_page(graph):
    _, _, report = graph
    assert report["summary"]["products"] > 100
    phones = next(c for c in report["brand_share"] if c["category"].endswith("手机"))
    assert abs(sum(b["share"] for b in phones["brands"]) - 1.0) < 0.35  # a product may carry two brand names
    assert any(a["attribute"] == "colour" for a in report["attributes"])
    assert sum(b["listings"] for b in report["prices"]["bands"]) > 200
    assert report["ratings"] and 1 <= report["ratings"][0]["mean_rating"] <= 5
    page = report_html(report)
    assert page.count("<svg") >= 4 and "<script" not in page and "http" not in page.replace('lang="zh"', "")


def test_near_values_match_for_less(graph):
    index, parser, _ = graph
    assert "colour:曜石黑" in index.near_keys("colour:黑色")  # the same palette colour
    assert "product_type:智能手机" in index.near_keys("product_type:手机")  # a synonym group
    hits = index.search("黑色 苹果 手机", parser, limit=10).hits
    exact = [h for h in hits if "colour 黑色" in h.matched]
    near = [h for h in hits if "colour 曜石黑 ≈ 黑色" in h.matched]
    assert exact and near
    assert max(h.score for h in near) < max(h.score for h in exact)


def test_query_words_link_to_the_graphs_values_and_brand_keys_unify():
    docs = [Document("a", "尼凡 笔记本 外壳 贴纸", "尼凡 笔记本 外壳 贴纸", {("has_brand", "nifan"): 1.0, ("pattern", "pattern:樱花"): 0.9,
                                                   ("product_type", "product_type:贴纸"): 1.0},
                     {"nifan": "尼凡", "pattern:樱花": "樱花", "product_type:贴纸": "贴纸"}),
            Document("b", "尼凡 贴纸", "尼凡 贴纸", {("has_brand", "尼凡"): 1.0, ("product_type", "product_type:贴纸"): 1.0},
                     {"尼凡": "尼凡", "product_type:贴纸": "贴纸"})]
    index = SearchIndex(docs, {"尼凡": {"nifan", "尼凡"}, "nifan": {"nifan"}})
    assert index.same_brand("尼凡") == {"nifan"}
    linked = index.link("樱花 贴纸", [])
    assert [(c.predicate, c.key) for c in linked] == [("pattern", "pattern:樱花"), ("product_type", "product_type:贴纸")]
    scores = index.constraint_scores([index.link("尼凡", [])[0]])
    assert scores[0] == scores[1] == 1.0  # either key of the brand meets the constraint fully


def test_kg_embeddings_join_the_similarity():
    facts = {f"case-{i}": {("product_type", "t:case"): 1, ("compatible_with", f"m:{i % 3}"): 1} for i in range(9)}
    facts |= {f"phone-{i}": {("product_type", "t:phone"): 1, ("model", f"m:{i % 3}"): 1} for i in range(3)}
    recommender = Recommender(facts)
    before = {r.id: r.score for r in recommender.similar("case-0", 20)}
    recommender.learn_embeddings("TransE", epochs=5, dim=8)
    assert recommender.embeddings.shape == (12, 8)
    after = {r.id: r.score for r in recommender.similar("case-0", 20)}
    assert any(after[p] > before.get(p, 0.0) for p in after)  # embeddings add to what shared values give
