"""Search, recommendations and market analysis on the sample catalogue's graph."""

import copy

import numpy as np
import pytest

from skugraph.apps.analytics import NO_CATEGORY, WHY, market_report, report_html
from skugraph.apps.documents import Document, gift_only, in_gift, without_gifts
from skugraph.apps.prices import band_of, price_bands
from skugraph.apps.query_parser import QueryParser
from skugraph.apps.recommend import Recommender, _extended, _names, _sold_words, title_vectors
from skugraph.apps.search import FilterError, SearchIndex
from skugraph.apps.search_eval import ndcg, recall, synthesise_queries
from skugraph.extract import ExtractorConfig, build_extractor
from skugraph.graph.store import open_store
from skugraph.records import Entity, Fact, Listing, Provenance


@pytest.fixture(scope="module")
def graph(demo_graph):
    with open_store(demo_graph, read_only=True) as store:
        index = SearchIndex.from_store(store)
        titles = [row[0] for row in store.query("MATCH (l:Listing) RETURN l.title").rows]
        report = market_report(store)
    return index, QueryParser(build_extractor(ExtractorConfig(), titles)), report


def test_query_becomes_constraints_on_the_graph(graph):
    _, parser, _ = graph
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
    assert report["inventory"]["out_of_stock"] > 0 and report["inventory"]["stock_outs"][0]["substitutes"]
    page = report_html(report)
    assert page.count("<svg") >= 4 and "<script" not in page and "http" not in page.replace('lang="zh"', "")
    assert "Out of stock, the fastest sellers first" in page and report["inventory"]["stock_outs"][0]["id"] in page
    for section in ("Low: under 7 days of cover", "Accessories of selling devices", "Slow movers", "Reallocation hints"):
        assert f"<h3>{section}" in page
    # what is not known reads so, never None: a stock-out with no sales given, a value that sells nothing, an accessory
    stock = copy.deepcopy(report["inventory"])
    stock["stock_outs"][0]["daily_sales"] = None
    stock["slow_movers"] = [{"type": "电水壶", "attribute": "colour", "value": "红色", "stock": 5, "days_of_cover": None,
                             "type_days_of_cover": 20.0}]
    stock["accessories"] = [{"id": "phone", "title": "华为 Mate60 手机", "daily_sales": 2.0, "accessories": [
        {"id": "case", "type": "手机壳", "stock": None, "daily_sales": None, "attach_rate": None}]}]
    unknown = report_html(report | {"inventory": stock})
    assert ">None<" not in unknown and "no sales given" in unknown and "no stock given" in unknown and ">no sales<" in unknown


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


@pytest.mark.slow
def test_kg_embeddings_join_the_similarity():
    facts = {f"case-{i}": {("product_type", "t:case"): 1, ("compatible_with", f"m:{i % 3}"): 1} for i in range(9)}
    facts |= {f"phone-{i}": {("product_type", "t:phone"): 1, ("model", f"m:{i % 3}"): 1} for i in range(3)}
    recommender = Recommender(facts)
    before = {r.id: r.score for r in recommender.similar("case-0", 20)}
    recommender.learn_embeddings("TransE", epochs=5, dim=8)
    assert recommender.embeddings.shape == (12, 8)
    after = {r.id: r.score for r in recommender.similar("case-0", 20)}
    assert any(after[p] > before.get(p, 0.0) for p in after)  # embeddings add to what shared values give


# -- apps on listings as real catalogues write them ---------------------------------------------

#: titles written the way real listings are (no category, no price, free gifts, compatible devices)
PLAIN_TITLES = [
    "荣耀9X Pro手机壳 硅胶全包防摔软壳 黑色 送指环支架",
    "荣耀9X Pro 磨砂手机壳 蓝色 全包软壳 送挂绳",
    "vivo X9手机壳 硅胶软壳 黑色 送钢化膜+指环",
    "乐视2手机壳 防摔软壳 红色",
    "小米6X手机壳 防摔保护套 红色 送挂绳",
    "华为 Mate30 手机 黑色 8GB+128GB",
    "华为 P30 手机 曜石黑 8GB+256GB",
    "小米 9 手机 白色 6GB+128GB",
    "得力 中性笔 0.5mm 黑色 12支装",
    "晨光 中性笔 0.5mm 蓝色 12支装",
]


@pytest.fixture(scope="module")
def plain_graph(tmp_path_factory):
    """A graph built with the rules from listings that carry only a title."""
    import json

    from skugraph.pipeline import BuildConfig, build

    workdir = tmp_path_factory.mktemp("plain-graph")
    listings = workdir / "titles.jsonl"
    listings.write_text("".join(json.dumps({"id": f"t-{i}", "title": t}, ensure_ascii=False) + "\n"
                                for i, t in enumerate(PLAIN_TITLES)), encoding="utf-8")
    return build(BuildConfig(inputs=[listings], workdir=workdir, fresh=True, complete=False)).config.graph


def _docs(*rows) -> list[Document]:
    """Documents from (id, {(predicate, key): name}), their text the names."""
    return [Document(pid, pid, " ".join(facts.values()), {f: 1.0 for f in facts}, {k: name for (_, k), name in facts.items()})
            for pid, facts in rows]


def test_filters_take_names_aliases_or_keys():
    index = SearchIndex(_docs(("a", {("has_brand", "huawei"): "华为", ("product_type", "product_type:手机壳"): "手机壳"}),
                              ("b", {("has_brand", "xiaomi"): "小米", ("product_type", "product_type:手机壳"): "手机壳",
                                     ("colour", "colour:黑色"): "黑色", ("compatible_with", "huawei"): "华为"}),
                              ("c", {("product_type", "product_type:手机壳"): "手机壳", ("compatible_with", "huawei"): "华为"})),
                        {"华为": {"huawei"}, "huawei": {"huawei"}, "小米": {"xiaomi"}, "xiaomi": {"xiaomi"}}, synonyms=[])
    for brand in ("华为", "HUAWEI", "huawei", " Huawei "):
        result = index.search("手机壳", None, filters={"brand": brand})
        assert [h.id for h in result.hits] == ["a"] and result.filters == {"brand": ["huawei"]}, brand
        assert result.hints == [f"2 products fit {brand} (filter fits instead of brand)"]  # cases for 华为 phones
    fitting = index.search("手机壳", None, filters={"fits": "华为"})
    assert sorted(h.id for h in fitting.hits) == ["b", "c"] and fitting.hints == []
    for kind in ("手机壳", "product_type:手机壳"):
        assert index.search("手机壳", None, filters={"type": kind}).total == 3
    assert [h.id for h in index.search("手机壳", None, filters={"colour": "黑色"}).hits] == ["b"]
    with pytest.raises(FilterError, match=r"no brand '苹果' in the graph \(most common: .*华为"):
        index.search("手机壳", None, filters={"brand": "苹果"})
    with pytest.raises(FilterError, match="no price band"):
        index.search("手机壳", None, filters={"price": "100–200"})


def test_filters_by_name_on_a_built_graph(graph, plain_graph):
    index, parser, _ = graph
    by_key = index.search("手机壳", parser, limit=50, filters={"brand": "huawei"})
    by_name = index.search("手机壳", parser, limit=50, filters={"brand": "华为"})
    assert by_key.total > 0 and [h.id for h in by_name.hits] == [h.id for h in by_key.hits]
    assert index.search("手机壳", parser, filters={"type": "手机壳"}).total == \
        index.search("手机壳", parser, filters={"type": "product_type:手机壳"}).total > 0
    band = index.search("手机壳", parser, limit=50).facets["price"][-1]["key"]
    assert index.search("手机壳", parser, filters={"price": band.replace("–", "-")}).total > 0  # an ASCII hyphen too
    with open_store(plain_graph, read_only=True) as store:
        plain = SearchIndex.from_store(store)
    phones = plain.search("手机", None, filters={"brand": "华为", "type": "手机"})
    assert phones.total == 2 and all("华为" in h.title for h in phones.hits)


def test_substitutes_of_an_accessory_fit_the_same_device():
    case = {("product_type", "product_type:手机壳"): 1}
    facts = {"9xpro-a": case | {("compatible_with", "model:荣耀9xpro"): 1, ("compatible_with", "honor"): 1},
             "9xpro-b": {("product_type", "product_type:手机套"): 1, ("compatible_with", "model:荣耀9xpro"): 1},
             "vivo-x9": case | {("compatible_with", "model:vivox9"): 1, ("compatible_with", "vivo"): 1},
             "mi-6x": case | {("compatible_with", "model:小米6x"): 1, ("compatible_with", "honor"): 1},
             "honor-any": case | {("compatible_with", "honor"): 1},
             "plain": dict(case)}
    names = {"model:荣耀9xpro": "荣耀 9xpro", "honor": "荣耀", "model:vivox9": "vivo x9", "model:小米6x": "小米 6x", "vivo": "vivo"}
    recommender = Recommender(facts, names, near_types={"product_type:手机壳": {"product_type:手机套"}})
    substitutes = recommender.substitutes("9xpro-a", 10)
    assert [r.id for r in substitutes] == ["9xpro-b"]  # not the vivo X9, Xiaomi 6X or any-荣耀 cases
    assert substitutes[0].reason == "same type 手机套, fits 荣耀 9xpro"
    # an accessory that names only a brand it fits, or a case (most cases name a model) that names none: which device
    # it is for is not known, so nothing stands in for it
    assert recommender.fitted_types == {"product_type:手机壳"}
    assert recommender.substitutes("honor-any", 10) == [] and recommender.substitutes("plain", 10) == []
    bags = {f"bag-{n}": {("product_type", "product_type:电脑包"): 1} for n in range(5)}
    assert {r.id for r in Recommender(bags).substitutes("bag-0", 10)} == set(bags) - {"bag-0"}  # bags fit nothing: any bag


def test_substitutes_have_titles_alike():
    """A type the rules read from a word the title only mentions (手机 in 手机臂包) is outvoted by the
    rest of the title; the titles' likeness is the character bigrams' TF-IDF cosine, as scikit-learn's."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    titles = {"arm-band": "跑步手机臂包 运动手臂袋 黑色", "arm-band-2": "运动跑步手机臂包 手臂袋 粉色",
              "phone": "华为 Mate 30 手机 8GB+128GB", "phone-2": "小米9 手机 全网通 6GB+64GB", "microphone": "手机麦克风 K歌 直播声卡"}
    facts = {p: {("product_type", "product_type:手机"): 1} for p in titles}
    recommender = Recommender(facts, titles=titles)
    assert [r.id for r in recommender.substitutes("arm-band", 10)] == ["arm-band-2"]
    assert "titles" in recommender.substitutes("arm-band", 10)[0].reason
    assert [r.id for r in recommender.substitutes("phone", 10)] == ["phone-2"]  # not the arm bands or the microphone
    vectors = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True).fit_transform(recommender.titles[p] for p in recommender.products)
    assert np.allclose((recommender.title_vectors @ recommender.title_vectors.T).toarray(), (vectors @ vectors.T).toarray())
    assert title_vectors([]).shape[0] == 0 and title_vectors(["", "a"]).nnz == 0


def test_an_accessory_listing_several_models_is_sold_for_the_one_its_variant_names():
    case = {("product_type", "product_type:手机壳"): 1, ("compatible_with", "oppo"): 1}
    fits = {"a3": ("compatible_with", "model:oppoa3"), "a5": ("compatible_with", "model:oppoa5"), "r11": ("compatible_with", "model:oppor11")}
    titles = {"listed": "oppo a5手机壳A7 A3 玻璃防摔保护套 卡通 熬不完的夜 oppo A3", "for-a3": "OPPO A3手机壳 玻璃防摔保护套 卡通",
              "for-a5": "适用于oppo a5手机壳 玻璃防摔保护套 卡通", "r11-or-a3": "oppo r11手机壳 A3 玻璃防摔保护套 卡通 R11",
              "both": "oppo a3/a5手机壳玻璃防摔保护套 卡通", "pro": "华为p30手机壳p30pro玻璃保护套 华为P30 pro【蓝】",
              "marked": "莫凡 oppoa5手机壳oppoa3防摔保护套硅胶男女款oppoa5皮套【oppo a3】古典",
              "one-word": "oppoa5手机壳oppor11防摔保护套a3【蓝】硅胶", "one-word-a13": "oppoa5手机壳a13【蓝】硅胶",
              "one-word-r11": "oppoa3手机壳保护套oppor11【蓝】硅胶"}
    facts = {"listed": case | {fits["a3"]: 1, fits["a5"]: 1}, "for-a3": case | {fits["a3"]: 1}, "for-a5": case | {fits["a5"]: 1},
             "r11-or-a3": case | {fits["r11"]: 1, fits["a3"]: 1}, "both": case | {fits["a3"]: 1, fits["a5"]: 1},
             "marked": case | {fits["a3"]: 1, fits["a5"]: 1}, "one-word": case | {fits["a3"]: 1, fits["a5"]: 1, fits["r11"]: 1},
             "one-word-a13": case | {fits["a5"]: 1}, "one-word-r11": case | {fits["a3"]: 1, fits["r11"]: 1},
             "pro": {("product_type", "product_type:手机壳"): 1, ("compatible_with", "huawei"): 1,
                     ("compatible_with", "model:华为p30"): 1, ("compatible_with", "model:华为p30pro"): 1}}
    names = {"oppo": "欧珀", "huawei": "华为", "model:oppoa3": "oppo a3", "model:oppoa5": "oppo a5", "model:oppor11": "oppo r11",
             "model:华为p30": "华为 p30", "model:华为p30pro": "华为 p30pro"}
    recommender = Recommender(facts, names, titles)
    assert recommender.sold_models("listed") == {"a3"} and recommender.sold_models("both") == {"a3", "a5"}
    assert recommender.sold_models("r11-or-a3") == {"r11"}  # its variant: R11
    assert recommender.sold_models("pro") == {"p30pro"}  # a variant of two words: P30 pro
    assert recommender.sold_models("marked") == {"a3"}  # no space before the variant: the bracket names it
    assert recommender.sold_models("one-word") == {"a3"}  # one word: the model its last bracket follows
    assert recommender.sold_models("one-word-a13") == {"a5"}  # a13 is no a3: every model it fits
    sized = Recommender({"sized": facts["listed"]}, names, {"sized": "oppo a5手机壳A3 玻璃防摔保护套 卡通 oppo A56.2寸"})
    assert sized.sold_models("sized") == {"a5"}  # the variant's model and its screen's size: a5 6.2寸
    assert not _names("oppo a57 5.2寸", "a5") and not _names("新ipad2018 9.7寸", "ipad2") and not _names("5.97寸", "9")
    names = {"a3", "r11", "oppor11"}  # the longest name the bracket follows, not its tail
    assert recommender._variant_names("one-word-r11", names) == {"oppor11"}
    assert {r.id for r in recommender.substitutes("listed", 10)} == {"for-a3", "both", "marked", "one-word"}
    # the listed, marked and one-word ones are A3 cases
    assert {r.id for r in recommender.substitutes("for-a5", 10)} == {"both", "one-word-a13"}


def test_a_title_run_together_is_sold_for_the_model_it_ends_with():
    """A title whose last word runs its models together ends with its variant where at most a few
    characters, no model code, follow the last model (a colour): that model, with a list it ends
    (separators, codes and makers between them) and a code it is named inside; where more follows,
    every model it names."""
    case = {("product_type", "product_type:手机壳"): 1, ("compatible_with", "huawei"): 1}
    models = {m: ("compatible_with", f"model:华为{m}") for m in ("p30", "p30pro", "p30-ele")}
    titles = {"colour": "SAESOKG 华为P30手机壳全包保护皮套手机壳P30pro个性防摔手机套保华为P30土豪金 送全屏钢化膜",
              "slash": "壳 华为p30手机壳防摔p30pro全包 华为p30/p30pro通用-宝石蓝", "makers": "壳 华为p30pro手机壳防摔全包华为p30华为p30pro黑",
              "more": "壳 华为p30手机壳p30pro保护壳钢化玻璃硅胶同款个性男女款", "code": "壳 华为p30pro手机壳防摔全包华为p30-ele黑",
              "first": "适用于华为p30手机套保护套p30pro保护壳p30真皮套防摔商务p30pP30Pro 复古咖",
              "and": "壳 华为p30和p30pro通用手机壳", "both-red": "壳 华为p30手机壳防摔全包 华为p30及p30pro红", "no-colour": "壳 华为p30手机壳防摔p30pro全包"}
    facts = {name: case | {models["p30"]: 1, models["p30pro"]: 1} for name in titles} | {"code": case | dict.fromkeys(models.values(), 1)}
    names = {"huawei": "华为"} | {f"model:华为{m}": f"华为 {m}" for m in models}
    recommender = Recommender(facts, names, titles)
    assert recommender.sold_models("colour") == {"p30"}  # not the P30 Pro it names before
    assert recommender.sold_models("slash") == recommender.sold_models("makers") == {"p30", "p30pro"}
    assert recommender.sold_models("more") == {"p30", "p30pro"}  # a list, no variant
    assert recommender.sold_models("code") == {"p30", "p30-ele"}  # the P30 named inside its code
    assert recommender.sold_models("first") == {"p30pro"}  # the first word, where the words after it name none
    assert recommender.sold_models("and") == recommender.sold_models("no-colour") == {"p30", "p30pro"}  # no colour after: a list
    assert recommender.sold_models("both-red") == {"p30", "p30pro"}  # 和, 及 join a list
    # two numbers sharing a suffix are two models with it: an iPhone 7 Plus or 8 Plus case, not an iPhone 7 one
    assert _sold_words("壳膜套装 iPhone7/8plus") == ("壳膜套装", "iphone7plus/8plus")
    assert _sold_words("苹果7/8 1.5/2pro") == ("苹果7/8", "1.5/2pro")


def test_a_variant_naming_another_model_of_the_line_is_sold_for_that_one():
    """A case fitting the X20 and X20A whose variant is the X20 Plus (a model another case fits;
    read past a free gift, 送…) is an X20 Plus case: no substitute for an X20 case. A suffix no
    product's model has (x20q), or a model of digits inside a longer code (the 9 of mate9pro),
    names no other model; a gift inside the first word leaves it the first."""
    def case(*models: str) -> dict:
        return {("product_type", "product_type:手机壳"): 1, ("compatible_with", "vivo"): 1,
                **{("compatible_with", f"model:vivo{m}"): 1 for m in models}}

    titles = {"x20": "vivo x20手机壳 磨砂软壳 vivox20", "plus": "vivox20手机壳x20plus保护套x20a全包 x20plus-热情红 送钢化膜 支架 挂",
              "x20a": "vivox20手机壳 x20a全包 软壳 x20a-黑", "x20-too": "适用于vivo x20手机壳 卡通软壳",
              "plus-only": "vivo x20plus手机壳 软壳", "q": "vivox20手机壳 软壳 x20q-黑",
              "nine": "vivo 9手机壳 软壳 mate9pro", "gift": "【买1赠2】vivox20plus手机壳 软壳"}
    facts = {"x20": case("x20"), "plus": case("x20", "x20a"), "x20a": case("x20", "x20a"), "x20-too": case("x20"),
             "plus-only": case("x20plus"), "q": case("x20"), "nine": case("9"), "gift": case("x20", "x20plus")}
    names = {"vivo": "vivo", "model:vivox20": "vivo x20", "model:vivox20a": "vivo x20a", "model:vivox20plus": "vivo x20plus",
             "model:vivo9": "vivo 9"}
    recommender = Recommender(facts, names, titles)
    assert recommender.sold_models("plus") == {"x20plus"} and recommender.sold_models("x20a") == {"x20a"}
    assert recommender.sold_models("x20") == {"x20"} and recommender.sold_models("q") == {"x20"}
    assert recommender.sold_models("nine") == {"9"} and recommender.sold_models("gift") == {"x20", "x20plus"}
    assert {r.id for r in recommender.substitutes("x20", 10)} == {"x20-too", "q", "gift"}  # the X20A's variant names a model of its own too
    # an extra (+…) may be the variant's own words
    tablet = {("product_type", "product_type:保护套"): 1, ("compatible_with", "huawei"): 1, ("compatible_with", "model:华为m5"): 1,
              ("compatible_with", "model:华为m6"): 1}
    keyboard = Recommender({"duku": tablet}, {"huawei": "华为", "model:华为m5": "华为 m5", "model:华为m6": "华为 m6"},
                           {"duku": "华为m5/m6键盘保护套 平板壳套 雅致黑+黑色背光键盘华为M6平板"})
    assert keyboard.sold_models("duku") == {"m6"}
    # a youth edition is a model of its own: a 荣耀8 case whose variant is the 荣耀8青春版 is sold for that one
    honor = {("product_type", "product_type:手机壳"): 1, ("compatible_with", "honor"): 1, ("compatible_with", "model:荣耀8"): 1}
    youth = {("product_type", "product_type:手机壳"): 1, ("compatible_with", "honor"): 1, ("compatible_with", "model:荣耀8青春版"): 1}
    editions = Recommender({"both": honor, "youth": youth}, {"honor": "荣耀", "model:荣耀8": "荣耀 8", "model:荣耀8青春版": "荣耀 8青春版"},
                           {"both": "荣耀8手机壳 硅胶 荣耀8青春版-黑", "youth": "荣耀8青春版手机壳"})
    assert editions.sold_models("both") == {"8青春版"}


def test_a_variant_naming_models_the_product_is_not_known_to_fit_is_sold_for_those():
    """An arm band read as fitting the Mate20 whose variant is for the 荣耀畅玩7A/7X (models other
    products fit) is sold for the 7X: no substitute for a Mate20 band, nor one for it. A variant's
    measure or count (5A, 3M, x2), paper size (A5) or processor (i5) names no model, and so neither
    does 7A (read as 5A is), nor does a model's name inside a longer run (the 7x of mate7x), nor
    one that a model it fits holds (nova3 for a nova3i band)."""
    def band(*models: str) -> dict:
        return {("product_type", "product_type:臂包"): 1, ("compatible_with", "huawei"): 1,
                **{("compatible_with", f"model:{m}"): 1 for m in models}}

    titles = {"mate20": "华为mate20手臂包 运动跑步臂带 Mate20 黑色", "honor": "华为mate20跑步臂套运动臂包 荣耀畅玩7/7A/7X 橙色",
              "mate20-too": "华为mate20运动臂包 跑步臂带 黑色", "charged": "华为mate20运动臂包 跑步臂带 5A快充线 3M x2",
              "inside": "华为mate20运动臂包 跑步臂带 mate7x黑", "nova": "华为nova3i运动臂包 跑步臂带 NOVA3 黑色",
              "x": "荣耀畅玩7X臂包 跑步", "mate7": "华为mate7臂包", "nova3": "华为nova3臂包", "5g": "华为mate20臂包 跑步 黑色-mate20X5G",
              "paper": "华为mate20臂包 跑步 a5 i5 灰色", "seven-plus": "华为mate20臂包 跑步 黑色 7P", "two": "华为mate20臂包 跑步 荣耀畅玩7x 2条装"}
    facts = {"mate20": band("华为mate20"), "honor": band("华为mate20"), "mate20-too": band("华为mate20"), "charged": band("华为mate20"),
             "inside": band("华为mate20"), "nova": band("华为nova3i"), "x": band("荣耀畅玩7x"),
             "mate7": band("华为mate7a", "华为5a", "华为3m", "华为x2", "华为a5", "华为i5", "华为7p"), "nova3": band("华为nova3"),
             "5g": band("华为mate20", "华为mate20x5g"), "paper": band("华为mate20"), "seven-plus": band("华为mate20"), "two": band("华为mate20")}
    names = {"huawei": "华为", **{f"model:{m}": f"华为 {m[2:]}" for m in ("华为mate20", "华为nova3i", "华为mate7a", "华为5a", "华为3m",
                                                                   "华为x2", "华为nova3", "华为mate20x5g", "华为a5", "华为i5",
                                                                   "华为7p")},
             "model:荣耀畅玩7x": "7x"}
    recommender = Recommender(facts, names, titles)
    assert recommender.sold_models("honor") == {"7x"}
    assert recommender.sold_models("charged") == recommender.sold_models("inside") == {"mate20"}
    assert recommender.sold_models("paper") == {"mate20"}  # a5 a paper size, i5 a processor
    assert recommender.sold_models("seven-plus") == {"7p"} and recommender.sold_models("two") == {"7x"}  # 7x, then 2条装
    assert recommender.sold_models("nova") == {"nova3i"}
    assert recommender.sold_models("5g") == {"mate20x5g"}  # after a colour and a hyphen
    honor_5g = Recommender({"honor": facts["honor"], "5g": band("华为mate20x5g")}, names,
                           {"honor": "华为mate20臂包 跑步 黑色-mate20X5G", "5g": "华为mate20x5g臂包"})
    assert honor_5g.sold_models("honor") == {"mate20x5g"}
    # not the bands for the 7X, the 7 Plus or the Mate20 X 5G
    assert {r.id for r in recommender.substitutes("mate20", 10)} == {"mate20-too", "charged", "inside", "paper"}
    # the 7X band fits no Mate20, which the extractor read it fits; only the other one so read and sold for the 7X
    assert [r.id for r in recommender.substitutes("honor", 10)] == ["two"]


def test_the_model_sold_is_read_from_the_variant_by_its_whole_name():
    """A device's name without its brand and spaces (p10 plus is p10plus, not plus); a model of one
    digit named after a brand (小米9, not the 9 of 9se); a product's own model code at the end of a
    title (编号 SC-699) is no device, a model of its own that another product fits is; the first
    word of a title is never its variant."""
    def case(*models: str) -> dict:
        return {("product_type", "product_type:手机壳"): 1, ("compatible_with", "huawei"): 1, ("compatible_with", "xiaomi"): 1,
                **{("compatible_with", f"model:{m}"): 1 for m in models}}

    names = {"huawei": "华为", "xiaomi": "小米", "model:华为p10plus": "华为 p10 plus", "model:荣耀8plus": "荣耀 8 plus",
             "model:小米9": "小米 9", "model:小米9se": "小米 9se", "model:联想g50-80": "联想 g50-80", "model:sc-699": "sc-699",
             "model:华为p30pro": "华为 p30pro", "model:华为p20pro": "华为 p20pro", "model:p20pro": "p20pro"}
    titles = {"p10plus": "华为p10 plus手机壳 硅胶 华为P10 Plus", "honor8plus": "荣耀8plus手机壳 硅胶 荣耀8 Plus",
              "mi9": "小米9se手机壳 小米9透明壳 小米9", "mi9se": "小米9手机壳 小米9se透明壳 小米9se",
              "skin": "联想G50-80笔记本贴膜 编号：SC-699", "short": "小米9/9se手机壳", "p30-or-p20pro": "华为p30pro手机壳p20pro保护套 黑色 P20pro",
              "p20pro": "华为p20pro手机壳"}
    facts = {"p10plus": case("华为p10plus"), "honor8plus": case("荣耀8plus"), "mi9": case("小米9", "小米9se"),
             "mi9se": case("小米9", "小米9se"), "skin": case("联想g50-80") | {("model", "model:sc-699"): 1}, "short": case("小米9", "小米9se"),
             "p30-or-p20pro": case("华为p30pro") | {("model", "model:p20pro"): 1}, "p20pro": case("华为p20pro")}
    recommender = Recommender(facts, names, titles)
    assert {p: recommender.sold_models(p) for p in facts} == {
        "p10plus": {"p10plus"}, "honor8plus": {"荣耀8plus"}, "mi9": {"9"}, "mi9se": {"9se"}, "skin": {"联想g50-80"}, "short": {"9", "9se"},
        "p30-or-p20pro": {"p20pro"}, "p20pro": {"p20pro"}}  # its own model P20pro, a device another case fits, is its variant
    # (荣耀 and 联想 are no brand this recommender knows: their names keep them, and the variant, brand and all, still names them)


def test_a_variant_names_the_other_models_a_title_lists_and_editions_of_their_own():
    """Models of the fitted models' brand that a title lists are read in its variant, though the
    extractor read only the first (…nova2, …xsmax after a colourless tail of 8 characters); a
    model of letters alone is not read inside another's name (the x ending xsmax); an edition is
    a model of its own (x21屏幕指纹版 is no x21), as is a known model with a longer suffix
    (nova5ipro) or a year (x212020, in a title of one word); a count after a hyphen is no part of
    a model (mate9-2片装); a screen's size after the model named last is no other model (…8plus（5.5寸）紫色)."""
    brands = {"华为": "huawei", "苹果": "apple", "vivo": "vivo", "荣耀": "honor"}

    def case(*models: str) -> dict:
        return {("product_type", "product_type:手机壳"): 1, **{("compatible_with", f"model:{m}"): 1 for m in models},
                **{("compatible_with", key): 1 for name, key in brands.items() for m in models if m.startswith(name)}}

    models = ("华为nova5pro", "华为nova2", "华为nova5i", "华为mate10", "苹果x", "苹果xsmax", "苹果8plus", "苹果7plus", "vivox21", "vivox20",
              "荣耀v10", "荣耀v20", "华为note10")
    names = {**{key: name for name, key in brands.items()}, "model:mate9": "mate9",  # a model of no brand named
             **{f"model:{m}": f"{m[:2] if m[0] > 'z' else m[:4]} {m[2:] if m[0] > 'z' else m[4:]}" for m in models}}
    titles = {"nova2": "MEKS华为nova5pro手机壳4e中国风腕带流苏3i复古nova2", "nova5ipro": "华为nova5pro手机壳nova5ipro防摔nova5i男款 nova5iPro/5Z通用【瑞红】",
              "nova5pro": "华为nova5pro手机壳 硅胶 nova5pro【黑】", "xsmax": "新款苹果x手机壳xsmax腕带iphone8plus防摔7plus创意XsMax透明腕带一夜暴富",
              "iphonex": "苹果x手机壳 硅胶 iphonexsmax", "8plus": "苹果8plus手机壳 硅胶 8plus 黑色",
              "x21": "vivo X21手机壳 硅胶 vivo X21", "x21-edition": "vivox21手机壳 硅胶 X21屏幕指纹版 [黑蓝色]",
              "mate9": "华为mate10钢化膜 全屏 mate9-2片装-黑色", "mate10": "华为mate10钢化膜 全屏 mate10-黑色",
              "other-mate9": "mate9钢化膜", "nova2-case": "华为nova2手机壳", "xsmax-case": "苹果xsmax手机壳",
              "v20": "华为荣耀v20手机壳荣耀V10手机壳华为note10保护套荣耀10超薄hon荣耀V20土豪金【升级版送钢化膜】",
              "nova5pro-too": "华为nova5pro手机壳 硅胶 nova5pro【红】", "8plus-too": "苹果8plus手机壳 硅胶 8plus 红色",
              "x21-too": "vivo X21手机壳 硅胶 vivo X21 红", "x21-year": "新年vivox21手机壳x20硅胶x21全包x212020【送挂绳】",
              "8plus-screen": "苹果x手机壳硅胶全包边挂绳7plus/8plus（5.5寸）紫色"}
    facts = {"nova2": case("华为nova5pro"), "nova5ipro": case("华为nova5pro", "华为nova5i"), "nova5pro": case("华为nova5pro"),
             "xsmax": case("苹果8plus", "苹果x"), "iphonex": case("苹果x"), "8plus": case("苹果8plus", "苹果7plus"),
             "x21": case("vivox21"), "x21-edition": case("vivox21"), "mate9": case("华为mate10"), "mate10": case("华为mate10"), "other-mate9": case("mate9"),
             "nova2-case": case("华为nova2"), "xsmax-case": case("苹果xsmax"),  # models some product fits
             "nova5pro-too": case("华为nova5pro"), "8plus-too": case("苹果8plus"), "x21-too": case("vivox21"),
             "v20": case("荣耀v10", "荣耀v20", "华为note10"), "x21-year": case("vivox21", "vivox20"),
             "8plus-screen": case("苹果x", "苹果8plus", "苹果7plus")}
    recommender = Recommender(facts, names, titles)
    assert {p: recommender.sold_models(p) for p in facts} == {
        "nova2": {"nova2"}, "nova5ipro": {"nova5ipro"}, "nova5pro": {"nova5pro"}, "xsmax": {"xsmax"}, "iphonex": {"xsmax"},
        "8plus": {"8plus"}, "x21": {"x21"}, "x21-edition": {"x21屏幕指纹版"}, "mate9": {"mate9"}, "mate10": {"mate10"},
        "other-mate9": {"mate9"}, "nova2-case": {"nova2"}, "xsmax-case": {"xsmax"},
        "nova5pro-too": {"nova5pro"}, "8plus-too": {"8plus"}, "x21-too": {"x21"},
        "v20": {"v20"}, "x21-year": {"x212020"},
        "8plus-screen": {"7plus", "8plus"}}  # a title of one word: the model before its last bracket, a colour between
    # not the nova 2 or nova 5i Pro cases, nor the X21 edition's, nor the XS Max case whose title lists the 8 Plus
    assert [[r.id for r in recommender.substitutes(p)] for p in ("nova5pro", "x21", "8plus")] == [["nova5pro-too"], ["x21-too"], ["8plus-too", "8plus-screen"]]


def test_a_year_run_into_a_model_is_an_edition_of_its_own_not_a_date():
    assert _extended("三星a52016版手机壳", "a5") == {"a52016"}
    assert _extended("vivox212020【送挂绳】", "x21") == {"x212020"}
    for text, model in (("华为p302019年新款", "p30"), ("mate202019新款", "mate20"), ("oppor72015-06", "r7"), ("拯救者r72015.6寸", "r7")):
        assert _extended(text, model) == set(), text


def test_universal_accessories_blank_titles_and_the_title_floor():
    """An accessory for any phone (通用, or two brands) stands in for another that names no model;
    one that names a single brand and no model gets none. A title of no bigram leaves titles out,
    as a floor of 0 does; a floor of 1 keeps a title alike word for word."""
    cable = ("product_type", "product_type:数据线")
    titles = {"any": "绿联 数据线 USB 苹果华为小米通用 1米", "any-2": "品胜 数据线 USB 苹果华为小米通用 1米", "huawei-only": "数据线 适用华为 1米",
              "iphone-15": "数据线 适用苹果iPhone 15 1米", "blank": "  ", "other": "公牛 线材 2米"}
    facts = {"any": {cable: 1, ("compatible_with", "apple"): 1, ("compatible_with", "huawei"): 1},
             "any-2": {cable: 1, ("compatible_with", "product_type:通用"): 1}, "huawei-only": {cable: 1, ("compatible_with", "huawei"): 1},
             "iphone-15": {cable: 1, ("compatible_with", "model:苹果15"): 1}, "blank": {cable: 1}, "other": {cable: 1}}
    names = {"apple": "苹果", "huawei": "华为", "product_type:通用": "通用", "model:苹果15": "苹果 15"}
    recommender = Recommender(facts, names, titles)
    assert recommender.universal("any") and recommender.universal("any-2") and not recommender.universal("huawei-only")
    assert [r.id for r in recommender.substitutes("any")] == ["any-2"]  # not the iPhone 15 or Huawei cable, nor the unlike title
    assert recommender.substitutes("huawei-only") == []  # which Huawei is not known
    assert {r.id for r in recommender.substitutes("blank")} == {"any", "any-2", "other"}  # titles left out; no Huawei or iPhone cable
    assert "titles" not in recommender.substitutes("blank")[0].reason
    recommender.title_floor = 0.0
    assert "other" in {r.id for r in recommender.substitutes("any")}
    twins = Recommender({"a": {cable: 1}, "b": {cable: 1}}, titles={"a": "品胜 数据线 1米 白色", "b": "品胜 数据线 1米 白色"}, title_floor=1.0)
    assert [r.id for r in twins.substitutes("a")] == ["b"]


def test_substitutes_on_a_built_graph_fit_the_same_model(plain_graph):
    with open_store(plain_graph, read_only=True) as store:
        index = SearchIndex.from_store(store)
    recommender = Recommender.from_index(index)
    accessories = [p for p in recommender.products if recommender.fits_of(p)[0]]
    assert len(accessories) >= 4  # the cases name the phone they fit
    checked = 0
    for product in accessories:
        devices, _ = recommender.fits_of(product)
        for substitute in recommender.substitutes(product, 10):
            assert devices & recommender.fits_of(substitute.id)[0], (product, substitute)
            checked += 1
    assert checked >= 2  # the two 荣耀9X Pro cases stand in for each other


def test_free_gifts_are_not_what_a_product_is():
    def gift(text: str, word: str) -> bool:
        return in_gift(text, text.index(word))

    assert gift("荣耀9X手机壳 送指环支架", "指环") and gift("手机壳【送钢化膜+指环】", "指环") and gift("手机壳 赠品：指环", "指环")
    assert not gift("荣耀9X手机壳 送指环支架", "手机壳")
    assert not gift("适用华为P30手机壳", "华为") and not gift("送钢化膜适用华为P30", "华为")  # what it fits is no gift
    assert not gift("手机壳 送 一个指环", "指环")  # 送 in another segment
    assert not gift("洗衣机传送带 O-640E", "O-640E") and not gift("情人节礼物送女友项链", "项链")  # no free gift
    # the text without them: white space and segment breaks stay, a word that is no gift too
    assert without_gifts("x20plus-热情红 送钢化膜 支架") == "x20plus-热情红  支架" and without_gifts("【买1赠2】诺印") == "【买1】诺印"
    assert without_gifts("洗衣机传送带 工业") == "洗衣机传送带 工业" and without_gifts("手机壳【送钢化膜+指环】黑") == "手机壳【】黑"
    title = "荣耀9X Pro手机壳 硅胶 送指环支架"
    listing = Listing("c1", title)
    product = Entity("Product", "c1", title)

    def fact(predicate: str, key: str, name: str) -> Fact:
        start = title.index(name)
        return Fact(product, predicate, Entity("Value", key, name, key.partition(":")[0]), 0.9,
                    (Provenance("c1", "title", start, start + len(name), "tagger"),))

    facts = [fact("product_type", "product_type:手机壳", "手机壳"), fact("accessory_of", "product_type:指环", "指环"),
             fact("material", "material:硅胶", "硅胶")]
    doc = SearchIndex.from_facts([listing], facts).documents[0]
    assert set(doc.facts) == {("product_type", "product_type:手机壳"), ("material", "material:硅胶")}
    assert gift_only([{"listing_id": "c1", "field": "title", "start": title.index("指环")}], {"c1": {"title": title}})
    assert not gift_only([{"listing_id": "other", "field": "title", "start": 0}], {"c1": {"title": title}})  # unknown: kept


def test_reasons_never_cite_gifts_or_generic_words(plain_graph):
    facts = {"a": {("product_type", "t:壳"): 1, ("compatible_with", "t:手机"): 1, ("style", "s:通用"): 1, ("material", "m:硅胶"): 1},
             "b": {("product_type", "t:壳"): 1, ("compatible_with", "t:手机"): 1, ("style", "s:通用"): 1, ("material", "m:硅胶"): 1},
             "c": {("product_type", "t:壳"): 1, ("compatible_with", "t:手机"): 1, ("style", "s:通用"): 1},
             "phone": {("product_type", "t:手机"): 1}, **{f"pen-{i}": {("product_type", "t:笔"): 1} for i in range(6)}}
    names = {"t:壳": "手机壳", "t:手机": "手机", "s:通用": "通用", "m:硅胶": "硅胶", "t:笔": "中性笔"}
    recommender = Recommender(facts, names)
    similar = {r.id: r.reason for r in recommender.similar("a", 5)}
    assert similar["b"] == "same material 硅胶, type 手机壳" and similar["c"] == "same type 手机壳"
    assert [r.reason for r in recommender.complementary("phone", 3)] == ["fits any 手机"] * 3
    with open_store(plain_graph, read_only=True) as store:
        index = SearchIndex.from_store(store)
    built = Recommender.from_index(index)
    reasons = [r["reason"] for p in built.products for rs in built.recommend(p, 5).values() for r in rs]
    assert reasons and not [r for r in reasons if any(w in r for w in ("指环", "钢化膜", "挂绳", "赠", "送", "通用", "fits 手机"))]


def test_empty_report_sections_say_why(plain_graph):
    with open_store(plain_graph, read_only=True) as store:
        report = market_report(store)
    notes = report["notes"]
    assert notes["brand_share"] == NO_CATEGORY and report["brand_share_by"] == "product type"
    assert {c["category"] for c in report["brand_share"]} >= {"手机"}  # counted per product type instead
    assert all(0 < c["branded"] <= c["products"] for c in report["brand_share"])  # shares are of all, how many have a brand
    assert notes["prices"] == WHY["prices"] and notes["ratings"] == WHY["ratings"] and notes["aspects"] == WHY["aspects"]
    assert notes["inventory"] == WHY["inventory"] and report["inventory"] is None
    assert "attributes" not in notes
    page = report_html(report)
    assert "Brand share per product type" in page and "no <code>category</code> field" in page
    assert "no <code>price</code> field" in page and "no <code>stock</code>" in page and page.count("class='why'") == 5
    for section in page.split("<h2")[1:]:  # no heading stands alone
        assert "<figure>" in section or "class='why'" in section or "<table>" in section, section[:80]


def test_report_shows_values_in_the_catalogues_language(graph, plain_graph):
    for report in (graph[2], market_report(open_store(plain_graph, read_only=True))):
        colours = next(a for a in report["attributes"] if a["attribute"] == "colour")["values"]
        black = next(v for v in colours if v["key"] == "black")
        assert black["value"] == "黑色"  # the key stays canonical, the catalogue's word is shown
        assert all(not v["value"].isascii() for v in colours)
        assert "black" not in report_html(report).replace("key", "")


def test_cli_search_filters_by_name(plain_graph):
    import json

    from typer.testing import CliRunner

    from skugraph.cli import app

    runner = CliRunner()
    for brand in ("华为", "huawei"):
        done = runner.invoke(app, ["search", "手机", "--db", str(plain_graph), "--brand", brand, "--type", "手机", "--json"])
        assert done.exit_code == 0, done.output
        result = json.loads(done.stdout)
        assert result["total"] == 2 and result["filters"] == {"brand": ["huawei"], "type": ["product_type:手机"]}
    refused = runner.invoke(app, ["search", "手机", "--db", str(plain_graph), "--brand", "苹果"])
    assert refused.exit_code == 1 and "no brand '苹果' in the graph" in refused.output and "Traceback" not in refused.output
