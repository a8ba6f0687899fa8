"""Product entity resolution: blocking, the attribute matcher, clustering with weak-bridge cuts,
fused facts, and the graph after loading them."""

import json

import pytest

from skugraph.corpus.listings import read_listings
from skugraph.facts.build import FactBuilder, merge_facts
from skugraph.fusion.blocking import block, blocking_recall, offers_from
from skugraph.fusion.clustering import cluster
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.fuse import fuse_facts, unify_brands
from skugraph.fusion.identity import AttributeMatcher, Judge, conflicting_model_merges, identity
from skugraph.fusion.matching import Offer
from skugraph.fusion.resolve import pairwise_scores, resolve_offers, resolve_products
from skugraph.graph.cards import explain, product_card
from skugraph.records import ASPECT, LISTING, PRODUCT, Entity, Fact, Listing, Provenance
from skugraph.sample.generate import CATALOGUE, LABELS
from skugraph.tagging.rules import RuleExtractor


@pytest.fixture(scope="module")
def extracted():
    listings = list(read_listings([CATALOGUE]))
    extractor = RuleExtractor().learn_brands(listing.title for listing in listings)
    builder = FactBuilder(extractor.gazetteer, extractor.lexicons["accessory"])
    facts = [fact for listing in listings for fact in resolve_conflicts(builder.build(listing, extractor.extract(listing)))]
    gold = {row["id"]: row["product"] for row in map(json.loads, LABELS.read_text(encoding="utf-8").splitlines())}
    return listings, facts, gold


def test_sample_listings_resolve_to_the_generators_products(extracted):
    listings, facts, gold = extracted
    resolution = resolve_products(listings, facts)
    assert len(set(gold.values())) < len(listings)  # the sample repeats products across shops
    score = pairwise_scores(resolution.product_of, gold)
    # strict by design: without agreeing model codes, brand and type, only near-identical titles merge
    assert score.precision == 1.0 and score.recall >= 0.85, score
    assert resolution.products < len(listings)
    # every listing is in a product named by its smallest listing id
    for listing, product in resolution.product_of.items():
        assert product <= listing and resolution.product_of[product] == product


def test_a_resolution_without_its_pairs_counts_them_and_resolves_alike(extracted):
    listings, facts, _ = extracted
    kept = resolve_offers(offers_from(listings, facts))
    counted = resolve_offers(offers_from(listings, facts), keep_pairs=False)
    assert kept.candidate_pairs == len(kept.pairs) > 100 and counted.candidate_pairs == kept.candidate_pairs
    assert counted.pairs == [] and counted.cut == kept.cut
    assert (counted.product_of, counted.evidence, counted.confidence) == (kept.product_of, kept.evidence, kept.confidence)


def test_blocking_keeps_the_true_pairs_and_prunes_the_rest(extracted):
    listings, facts, gold = extracted
    offers = offers_from(listings, facts)
    pairs = block(offers)
    assert blocking_recall(pairs, [gold[o.id] for o in offers]) == 1.0
    assert len(pairs) < len(offers) * (len(offers) - 1) / 2 / 3


def test_attribute_matcher_refuses_a_disagreeing_key_attribute():
    a = Offer("a", (("title", "华为 Mate 60 12+256G 蓝色 5G手机"), ("brand", "huawei"), ("colour", "蓝色"), ("product_type", "手机")))
    same = Offer("b", (("title", "华为 Mate 60 智能手机 蓝色 12+256G 全网通"), ("brand", "huawei"), ("colour", "蓝色"), ("product_type", "智能手机")))
    other_colour = Offer("c", (("title", "华为 Mate 60 智能手机 白色 12+256G"), ("brand", "huawei"), ("colour", "白色")))
    other_model = Offer("d", (("title", "华为 Pura 70 智能手机 蓝色 12+256G"), ("brand", "huawei"), ("colour", "蓝色")))
    scores = AttributeMatcher().scores([(a, same), (a, other_colour), (a, other_model)])
    assert scores[0] >= 0.75 and scores[1] == 0.0 and scores[2] == 0.0


def test_the_judge_asks_once_per_pair_of_contents_and_answers_as_identity():
    """Copies of one listing share their verdicts, and whether a group holds a conflicting pair
    is what asking identity of every pair (a < b) says."""
    import random

    titles = [(("title", "华为 Mate 60 12+256G 蓝色 5G手机"), ("brand", "huawei"), ("colour", "蓝色")),
              (("title", "华为 Mate 60 智能手机 蓝色 12+256G 全网通"), ("brand", "huawei"), ("colour", "蓝色")),
              (("title", "华为 Mate 60 智能手机 白色 12+256G"), ("brand", "huawei"), ("colour", "白色")),
              (("title", "小米 14 16+512G 黑色"), ("brand", "xiaomi"))]
    rng = random.Random(0)
    offers = [Offer(str(i), titles[rng.randrange(len(titles))]) for i in range(30)]
    judge = Judge(offers)
    for _ in range(200):
        group = sorted(rng.sample(range(len(offers)), rng.randrange(1, 6)))
        assert judge.any_conflict(group) == any(identity(offers[a], offers[b]).veto for k, a in enumerate(group) for b in group[k + 1 :])
    assert len(judge._found) <= len(titles) ** 2
    assert all(judge(a, b) == identity(offers[a], offers[b]) for a in range(10) for b in range(a + 1, 10))


def test_clustering_cuts_a_weak_bridge_between_two_groups_but_keeps_a_weak_pair():
    strong = [(0, 1, 0.95), (1, 2, 0.95), (0, 2, 0.9), (3, 4, 0.95), (4, 5, 0.95)]
    labels, cut = cluster(8, [*strong, (2, 3, 0.6), (6, 7, 0.6)], threshold=0.5, strong=0.8)
    assert labels[:6] == [0, 0, 0, 3, 3, 3]
    assert labels[6] == labels[7] == 6  # a lone weak pair is a match, not a chain
    assert cut == [(2, 3, 0.6)]
    labels, cut = cluster(6, [*strong, (2, 3, 0.85)], threshold=0.5, strong=0.8)
    assert len(set(labels)) == 1 and cut == []


def _fact(listing: str, predicate: str, obj: Entity, confidence: float = 0.9, field: str = "title") -> Fact:
    return Fact(Entity(PRODUCT, listing, listing), predicate, obj, confidence, (Provenance(listing, field, 0, 2, "rules"),))


def test_fused_facts_merge_provenance_vote_again_and_say_why(extracted):
    listings, _, _ = extracted
    two = listings[:2]  # sku-0001 and sku-0002: one product in two shops
    blue, white = Entity("Value", "colour:蓝色", "蓝色", "colour"), Entity("Value", "colour:白色", "白色", "colour")
    facts = [_fact("sku-0001", "colour", blue), _fact("sku-0002", "colour", blue, 0.8), _fact("sku-0002", "colour", white, 0.5, "description"),
             Fact(Entity("Aspect", "sku-0002|价格", "价格"), "aspect_of", Entity(PRODUCT, "sku-0002", ""), 0.9,
                  (Provenance("sku-0002", "reviews[0]", 0, 2, "opinions"),))]
    resolution = resolve_products(two, facts, threshold=0.0)
    assert resolution.product_of == {"sku-0001": "sku-0001", "sku-0002": "sku-0001"}
    fused = fuse_facts(two, facts, resolution)
    colours = {f.object.name: f for f in fused if f.predicate == "colour"}
    assert {f.subject.key for f in colours.values()} == {"sku-0001"}
    assert [p.listing_id for p in colours["蓝色"].provenance] == ["sku-0001", "sku-0002"]
    assert colours["蓝色"].confidence == pytest.approx(1 - 0.1 * 0.2)
    assert colours["蓝色"].properties["chosen"] and not colours["白色"].properties["chosen"]
    aspect = next(f for f in fused if f.predicate == "aspect_of")
    assert aspect.subject == Entity(ASPECT, "sku-0001|价格", "价格") and aspect.object.key == "sku-0001"
    offers = {f.subject.key: f for f in fused if f.predicate == "offer_of"}
    assert offers["sku-0002"].subject.label == LISTING and offers["sku-0002"].object.key == "sku-0001"
    assert "matches sku-0001" in offers["sku-0002"].properties["evidence"]


@pytest.mark.parametrize("lookup", ["by-key-in", "by-key-unwind", "one-pass"])
def test_loading_fused_facts_merges_products_idempotently(store, extracted, lookup, monkeypatch):
    import skugraph.graph.store as stores

    monkeypatch.setattr(stores, "MERGED_BY_KEY", 0 if lookup == "one-pass" else 2_000)  # a write's lookup, a catalogue's pass
    monkeypatch.setattr(stores, "OFFERS_BY_KEY", 0 if lookup == "by-key-unwind" else 2_000)  # its offers by UNWIND, or by IN
    listings, facts, _ = extracted
    listings, facts = listings[:40], [f for f in facts if f.subject.key <= "sku-0040" or f.subject.label != PRODUCT]
    store.load(listings, facts)  # before resolution: one product per listing
    assert store.stats()["nodes"]["Product"] == 40
    resolution = resolve_products(listings, facts)
    fused = fuse_facts(listings, facts, resolution)
    report = store.load(listings, fused)
    stats = store.stats()
    assert report.merged == 40 - resolution.products
    assert stats["nodes"]["Product"] == resolution.products < 40 and stats["nodes"]["Listing"] == 40
    assert stats["edges"]["OFFER_OF"] == 40
    store.load(listings, fused)
    assert store.stats() == stats
    merged = next(listing for listing, product in resolution.product_of.items() if listing != product)
    product = resolution.product_of[merged]
    why = explain(store, merged)  # a listing id explains the product it offers
    assert why["product"] == product
    assert {row["listing"] for row in why["listings"]} == {i for i, p in resolution.product_of.items() if p == product}
    assert any(row["evidence"].startswith("matches ") for row in why["listings"])
    card = product_card(store, product)
    evidence = [e for facts in card["attributes"].values() for fact in facts for e in fact["evidence"]]
    assert any(e.startswith(merged + " ") for e in evidence)  # provenance keeps the merged listing
    assert product_card(store, merged) is None


def test_brand_names_the_titles_join_become_one_brand_node(store):
    listings = [Listing("a", "诺芝（NOZI）太阳能热水器"), Listing("b", "NOZI 热水器 家用"), Listing("c", "诺芝 热水器")]
    facts = [_fact("a", "has_brand", Entity("Brand", "诺芝", "诺芝")), _fact("b", "has_brand", Entity("Brand", "nozi", "NOZI")),
             _fact("c", "has_brand", Entity("Brand", "诺芝", "诺芝"))]
    facts[0] = Fact(facts[0].subject, "has_brand", facts[0].object, 0.9, (Provenance("a", "title", 0, 2, "rules"),))
    facts.insert(1, Fact(facts[0].subject, "has_brand", Entity("Brand", "nozi", "NOZI"), 0.9, (Provenance("a", "title", 3, 7, "rules"),)))
    unified = unify_brands(listings, facts)
    assert {(f.object.key, f.object.name) for f in unified} == {("诺芝", "诺芝")}
    assert "NOZI" in unified[0].object.aliases
    assert all("诺芝 / NOZI" in f.properties["evidence"] or "NOZI / 诺芝" in f.properties["evidence"] for f in unified)
    store.load(listings, merge_facts(unified))
    brands = explain(store, "b")["brands"]  # explain says why NOZI, as listing b writes it, is the brand 诺芝
    assert [(row["brand"], row["aliases"]) for row in brands] == [("诺芝", ["NOZI"])]
    assert "written as one brand" in brands[0]["why"] and brands[0]["evidence"]


def test_embedding_neighbours_add_candidate_pairs():
    import numpy as np

    offers = [Offer(str(i), (("title", f"item {i}"),)) for i in range(4)]
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert block(offers, max_block=0, embeddings=vectors, neighbours=1) == {(0, 1), (2, 3)}
    assert block(offers, max_block=0) == set()  # no shared rare token, no embeddings: nothing to compare


def test_cli_chain_fuses_completes_and_explains(tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app
    from skugraph.lm.finetune import load_encoder

    encoder, tokenizer = load_encoder("scratch:tiny", [line for line in CATALOGUE.read_text(encoding="utf-8").splitlines()])
    encoder.save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    runner = CliRunner()
    w = tmp_path
    steps = [["ingest", str(CATALOGUE), "--out", str(w / "l.jsonl"), "--rejects", str(w / "r.jsonl")],
             ["extract", str(w / "l.jsonl"), "--out", str(w / "f.jsonl")],
             ["fuse", str(w / "f.jsonl"), "--listings", str(w / "l.jsonl"), "--out", str(w / "fused.jsonl"), "--encoder", str(w / "encoder"),
              "--no-complete"],
             ["complete", str(w / "fused.jsonl"), "--out", str(w / "inferred.jsonl"), "--min-probability", "0.55"],
             ["load", str(w / "fused.jsonl"), "--listings", str(w / "l.jsonl"), "--db", str(w / "g.lbug")],
             ["load", str(w / "inferred.jsonl"), "--listings", str(w / "l.jsonl"), "--db", str(w / "g.lbug")]]
    outputs = []
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.stdout)
    assert "294 listings → 189 products" in outputs[2] and "(0 inferred)" in outputs[2]
    assert "inferred facts" in outputs[3]
    result = runner.invoke(app, ["explain", "sku-0002", "--db", str(w / "g.lbug"), "--json"])
    found = json.loads(result.stdout)
    assert found["product"] == "sku-0001" and [row["listing"] for row in found["listings"]] == ["sku-0001", "sku-0002"]
    inferred = [json.loads(line) for line in (w / "inferred.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(f["properties"]["inferred"] and f["provenance"][0]["extractor"] == "completion" for f in inferred)


# -- identity vetoes on real-looking titles (written for these tests) ---------------------------------------------

def _offer(key: str, title: str, brand: str = "", kind: str = "", fits: str = "") -> Offer:
    fields = [("title", title), ("brand", brand), ("product_type", kind), ("fits", fits)]
    return Offer(key, tuple((name, value) for name, value in fields if value))


def test_different_model_numbers_of_one_brand_and_type_are_kept_apart():
    a = _offer("a", "戴尔（DELL）成就3681 商用办公台式机电脑主机 i5 16G 512G固态", "dell", "台式机")
    b = _offer("b", "戴尔（DELL）灵越3880 商用办公台式机电脑主机 i5 16G 512G固态", "dell", "台式机")
    verdict = identity(a, b)
    assert verdict.veto and not verdict.same and verdict.score == 0.0
    assert "成就3681" in verdict.reason and "灵越3880" in verdict.reason


def test_different_model_codes_are_kept_apart():
    a = _offer("a", "飞宇 FY-K52 无线话筒 会议专用 一拖二", "feiyu", "话筒")
    b = _offer("b", "飞宇 FY-K58 无线话筒 会议专用 一拖二", "feiyu", "话筒")
    verdict = identity(a, b)
    assert verdict.veto and "fyk52" in verdict.reason and "fyk58" in verdict.reason


def test_different_capacities_sizes_and_counts_are_kept_apart():
    usb = "闪迪 CZ73 金属U盘 高速 USB3.0 {}"
    verdict = identity(_offer("a", usb.format("64GB"), "sandisk", "U盘"), _offer("b", usb.format("128GB"), "sandisk", "U盘"))
    assert verdict.veto and "64" in verdict.reason and "128" in verdict.reason
    pens = "按动中性笔学生考试办公签字笔顺滑速干大容量 黑色 0.5mm {}支装"
    assert identity(_offer("a", pens.format(12)), _offer("b", pens.format(24))).veto
    # the variant's number also appears among the title's keywords: the variant parts still differ
    paints = "水彩颜料盒24格36格48格便携调色盒保湿调色盘美术生写生专用 {}格颜料盒(大容量) 单盒"
    verdict = identity(_offer("a", paints.format(36)), _offer("b", paints.format(48)))
    assert verdict.veto and "36" in verdict.reason and "48" in verdict.reason


def test_colours_as_variant_are_kept_apart():
    towel = "纯棉加厚吸水洗脸毛巾家用成人柔软不掉毛面巾 {} 3条装"
    verdict = identity(_offer("a", towel.format("浅灰色")), _offer("b", towel.format("藏青色")))
    assert verdict.veto and verdict.reason.startswith("colour")
    case = "硅胶软壳全包防摔手机保护套简约轻薄磨砂男女款 {}【送挂绳】"  # a colour without 色, swapped in the variant part
    assert identity(_offer("a", case.format("雾蓝"), fits="model:p60"), _offer("b", case.format("雾粉"), fits="model:p60")).veto


def test_different_brands_are_kept_apart_and_a_brand_one_title_leaves_out_is_no_conflict():
    title = "办公桌面多层文件收纳架 A4资料架 铁艺 三层 黑色"
    verdict = identity(_offer("a", title, "deli", "文件架"), _offer("b", title, "comix", "文件架"))
    assert verdict.veto and "deli" in verdict.reason and "comix" in verdict.reason
    verdict = identity(_offer("a", "晨光" + title, "mg", "文件架"), _offer("b", title, "", "文件架"))
    assert verdict.same and "晨光" in verdict.reason and "mg named by one only" in verdict.reason
    # another maker's name in its place, one the extractor does not know, is a replaced piece
    verdict = identity(_offer("a", "晨光" + title, "mg", "文件架"), _offer("b", "齐心" + title, "", "文件架"))
    assert verdict.veto and "晨光 vs 齐心" in verdict.reason


def test_accessories_for_different_devices_are_kept_apart():
    case = "适用{}手机壳 液态硅胶 全包防摔 保护套 黑色"
    verdict = identity(_offer("a", case.format("华为P50"), fits="huawei model:华为p50"),
                       _offer("b", case.format("华为P60"), fits="huawei model:华为p60"))
    assert verdict.veto and "p50" in verdict.reason and "p60" in verdict.reason


def test_one_model_code_brand_and_type_merge_and_say_why():
    a = _offer("a", "飞宇 FY-K52 无线话筒 会议专用 一拖二", "feiyu", "话筒")
    b = _offer("b", "飞宇（FEIYU）FY-K52 专业无线话筒 会议专用 家用K歌 一拖二", "feiyu", "话筒")
    verdict = identity(a, b)
    assert verdict.same and verdict.score >= 0.8
    assert "fyk52" in verdict.reason and "话筒" in verdict.reason and "feiyu" in verdict.reason


def test_without_a_model_code_only_near_identical_titles_merge():
    box = "加厚塑料文件收纳盒桌面办公整理盒学生书立 蓝色 A4"
    same = identity(_offer("a", box), _offer("b", box.replace("桌面", "桌面多功能")))
    assert same.same and 0.75 <= same.score <= 1.0 and "near-identical" in same.reason
    reworded = identity(_offer("a", box), _offer("b", "学生书立 A4 文件盒 蓝色 办公桌面收纳"))
    assert not reworded.same and not reworded.veto
    variant = identity(_offer("a", box), _offer("b", box + " 加高款"))  # a word only one has, in the variant part
    assert not variant.same
    skin = "笔记本电脑外壳贴膜15.6英寸机身贴纸 款式W-14 {}面+键盘膜"
    code_letter = identity(_offer("a", skin.format("ABCD")), _offer("b", skin.format("ABC")))  # one letter more in a code
    assert code_letter.veto and "d" in code_letter.reason
    word_letter = identity(_offer("a", box), _offer("b", box.replace("学生", "学生K歌")))  # a lone letter in a word
    assert word_letter.same
    # the variant word of one (after a space) replaced at the other's end, though it appears among its keywords
    steamer = "商用电热蒸饭柜全自动燃气小型馒头机蒸包炉{}"
    assert identity(_offer("a", steamer.format(" 6盘燃气")), _offer("b", steamer.format("6盘定时"))).veto


def test_a_chain_of_matches_is_split_where_two_listings_conflict():
    base = "加厚塑料文件收纳盒桌面办公整理盒学生书立抽屉式"
    listings = [Listing("a", base + " 蓝色"), Listing("b", base), Listing("c", base + " 红色")]
    resolution = resolve_products(listings, [])
    assert resolution.product_of["a"] != resolution.product_of["c"]
    assert len(set(resolution.product_of.values())) == 2
    alone = next(i for i in "ac" if list(resolution.product_of.values()).count(resolution.product_of[i]) == 1)
    assert "kept apart from" in resolution.evidence[alone] and "colours differ" in resolution.evidence[alone]


def test_a_resolution_asks_identity_once_of_each_pair(monkeypatch):
    """The evidence tree's links are read from the verdicts the pairs' scoring asked for, not
    asked again the other way round (which cost fusion a tenth of its time)."""
    import skugraph.fusion.identity as identity_module

    asked: list[tuple[str, str]] = []

    def counted(a: Offer, b: Offer):
        asked.append((a.id, b.id))
        return identity(a, b)

    monkeypatch.setattr(identity_module, "identity", counted)
    titles = ["飞宇 FY-K52 无线话筒 会议专用 一拖二", "飞宇（FEIYU）FY-K52 专业无线话筒 会议专用 一拖二",
              "飞宇FY-K52无线话筒 会议专用 一拖二", "飞宇 FY-K52 无线话筒 一拖二 会议专用"]
    brand, kind = Entity("Brand", "feiyu", "飞宇"), Entity("Value", "product_type:话筒", "话筒", "product_type")
    facts = [_fact(f"l{i}", predicate, value) for i in range(len(titles)) for predicate, value in (("has_brand", brand), ("product_type", kind))]
    resolution = resolve_products([Listing(f"l{i}", title) for i, title in enumerate(titles)], facts)
    assert set(resolution.product_of.values()) == {"l0"} and len(asked) >= 3
    assert len(asked) == len({frozenset(pair) for pair in asked})


def test_merge_evidence_names_the_code_type_and_brand():
    listings = [Listing("a", "飞宇 FY-K52 无线话筒 会议专用 一拖二"), Listing("b", "飞宇（FEIYU）FY-K52 专业无线话筒 会议专用 一拖二")]
    brand, kind = Entity("Brand", "feiyu", "飞宇"), Entity("Value", "product_type:话筒", "话筒", "product_type")
    facts = [_fact(i, "has_brand", brand) for i in "ab"] + [_fact(i, "product_type", kind) for i in "ab"]
    resolution = resolve_products(listings, facts)
    assert resolution.product_of == {"a": "a", "b": "a"}
    assert "same model code fyk52" in resolution.evidence["b"] and "话筒" in resolution.evidence["b"]


def test_conflicting_model_merges_are_counted():
    titles = {"a": "戴尔 成就3681 台式机", "b": "戴尔 灵越3880 台式机", "c": "飞宇 FY-K52 话筒", "d": "飞宇 FY-K58 话筒",
              "e": "飞宇 FY-K52 话筒 一拖二"}
    found = conflicting_model_merges(titles, {"a": "a", "b": "a", "c": "c", "d": "c", "e": "c"})
    assert [(listing, product) for listing, product, _ in found] == [("b", "a"), ("d", "c")]


def test_a_trained_matcher_cannot_merge_a_vetoed_pair():
    class SaysAlwaysSame:
        threshold = 0.5

        def scores(self, pairs):
            return [1.0] * len(pairs)

    listings = [Listing("a", "戴尔（DELL）成就3681 商用办公台式机电脑主机"), Listing("b", "戴尔（DELL）灵越3880 商用办公台式机电脑主机"),
                Listing("c", "戴尔（DELL）成就3681 商用办公家用台式机电脑主机")]
    resolution = resolve_products(listings, [], SaysAlwaysSame())
    assert resolution.product_of == {"a": "a", "b": "b", "c": "a"}


def test_settled_listings_are_not_judged_again_and_a_new_listing_joins_them():
    a1, a2 = Listing("a1", "华为 mate60 pro 手机 12+512G 雅川青"), Listing("a2", "华为 mate60 pro 手机 12+512G 雅川青 现货")
    b1, n1 = Listing("b1", "华为 mate60 pro 手机 12+512G 雅川青 正品"), Listing("n1", "华为 mate60 pro 手机 12+512G 雅川青 新品")
    judged = resolve_products([a1, a2, b1], [])
    assert len(set(judged.product_of.values())) == 1  # judged afresh, the three are one product
    held = resolve_products([a1, a2, b1], [], settled={"a1": "P", "a2": "P", "b1": "Q"})
    assert held.product_of == {"a1": "a1", "a2": "a1", "b1": "b1"}  # as they were stored: no pair of two settled ones judged
    assert [(p.left, p.right, p.score) for p in held.pairs] == [("a1", "a2", 1.0)] and held.evidence["a2"] == "resolved before"
    joined = resolve_products([n1, a1, a2], [], settled={"a1": "P", "a2": "P"})
    assert joined.product_of["n1"] == "a1" and joined.evidence["n1"].startswith("matches a1")


def test_a_new_listing_is_judged_only_with_the_settled_products_it_reaches():
    a1, b1 = Listing("a1", "华为 mate60 pro 手机 12+512G 雅川青"), Listing("b1", "华为 mate60 pro 手机 12+512G 雅川青 正品")
    n1 = Listing("n1", "华为 mate60 pro 手机 12+512G 雅川青 新品")
    settled = {"a1": "P", "b1": "Q"}
    everywhere = resolve_products([n1, a1, b1], [], settled=settled)
    assert {(p.left, p.right) for p in everywhere.pairs} == {("n1", "a1"), ("n1", "b1")}
    reached = resolve_products([n1, a1, b1], [], settled=settled, reach={"n1": {"P"}})
    assert {(p.left, p.right) for p in reached.pairs} == {("n1", "a1")} and reached.product_of["n1"] == reached.product_of["a1"]
    alone = resolve_products([n1, a1, b1], [], settled=settled, reach={"n1": set()})
    assert alone.pairs == [] and alone.product_of["n1"] not in (alone.product_of["a1"], alone.product_of["b1"])


def test_evidence_leads_from_every_listing_to_its_products_first_one():
    """Two copies match each other best: their evidence still leads, link by link, to the
    product's first listing (the strongest spanning tree), never round between the two."""
    import re

    base = "飞宇 FY-K52 无线话筒 会议专用 一拖二"
    listings = [Listing("a1", base + " 官方旗舰店"), Listing("b2", base), Listing("c3", base),
                Listing("d4", base + " 包邮")]
    resolution = resolve_products(listings, [])
    assert set(resolution.product_of.values()) == {"a1"}
    assert resolution.evidence["a1"] == "the first of 4 listings of this product"
    for listing in "b2", "c3", "d4":
        seen = [listing]
        while seen[-1] != "a1":
            seen.append(re.match(r"matches (\S+) \(score ", resolution.evidence[seen[-1]])[1])
            assert seen[-1] not in seen[:-1], seen


def test_a_word_after_a_dimension_is_no_unit_of_it():
    """800*300 包邮 is the size 800x300 (包 is a count unit, not one of length): no conflict with
    800*300 alone, still one with 900*400."""
    mat = "超大号键盘鼠标垫 办公室电脑书桌写字垫"
    assert identity(_offer("a", f"{mat} 800*300 包邮"), _offer("b", f"{mat} 800*300")).same
    apart = identity(_offer("a", f"{mat} 800*300 包邮"), _offer("c", f"{mat} 900*400"))
    assert apart.veto and "800x300 vs 900x400" in apart.reason


def test_shop_phrases_in_brackets_are_no_variant():
    """【正品行货】 and 【京东配送】 say how the shop sells, not what it sells."""
    body = "哈蒂尔冷藏工作台卧式冰柜商用冰箱 不锈钢冷藏柜 高配款-单温冷藏冷冻转换柜 长150宽60高80cm"
    assert identity(_offer("a", f"【正品行货】{body}"), _offer("b", f"【京东配送】{body}")).same
