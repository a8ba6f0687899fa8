import json
from pathlib import Path

import pytest

from skugraph.fusion.brands import BrandAliases, clashing_clusters, mine_aliases, read_title
from skugraph.fusion.fuse import unify_brands
from skugraph.records import BRAND, PRODUCT, Entity, Fact, Listing, Provenance
from skugraph.tagging.lexicon import Brand, BrandGazetteer, is_brand_name, name_key

NO_GAZETTEER = BrandGazetteer([])
TITLES = Path(__file__).parent.parent.parent / "shared" / "data" / "corpus" / "jd-titles.txt"
PAIRS = Path(__file__).parent.parent / "benchmarks" / "data" / "brand-pairs-jd.jsonl"


def titles(*texts_and_brands):
    """(title, spans) from titles and the brand names in them, in order; a name written
    ``~name`` is a brand the product fits (role ``compatible``)."""
    out = []
    for text, brands in texts_and_brands:
        spans, at = [], 0
        for brand in brands:
            role = "compatible" if brand.startswith("~") else "brand"
            brand = brand.lstrip("~")
            start = text.index(brand, at)
            at = start + len(brand)
            spans.append((start, at, role))
        out.append((text, spans))
    return out


def test_bilingual_brand_patterns_merge():
    aliases = mine_aliases(titles(
        ("美的（Midea）电饭煲", ["美的", "Midea"]),
        ("MIDEA/美的 电饭煲", ["MIDEA", "美的"]),
        ("普联（TPLINK）交换机", ["普联", "TPLINK"]),
        ("adidas阿迪达斯 运动鞋", ["adidas", "阿迪达斯"]),  # the title opens with its maker in two scripts
    ), gazetteer=NO_GAZETTEER)
    assert aliases.same("美的", "midea") and aliases.same("Midea", "ＭＩＤＥＡ")
    assert aliases.same("TP-LINK", "普联") and name_key("TP-LINK") == name_key("tplink")
    assert aliases.same("adidas", "阿迪达斯")
    assert aliases.canonical("Midea") == "美的" and aliases.canonical("unknown") == "unknown"
    assert "written as one brand" in next(iter(aliases.reasons.values()))


def test_side_by_side_needs_an_opening_or_a_second_title():
    once = titles(("新款 nubia努比亚 蓝牙音箱", ["nubia", "努比亚"]))
    assert not mine_aliases(once, gazetteer=NO_GAZETTEER).same("nubia", "努比亚")
    assert mine_aliases(once * 2, gazetteer=NO_GAZETTEER).same("nubia", "努比亚")
    accessory = titles(("GYSFONE 神舟战神K680E 笔记本电脑包", ["GYSFONE", "神舟"]))
    assert not mine_aliases(accessory * 3, gazetteer=NO_GAZETTEER).same("GYSFONE", "神舟")  # the brand a bag fits
    seller = titles(("GYSFONE 神舟 笔记本配件 底座支架", ["GYSFONE", "神舟"]))  # opens with a seller of accessories
    assert not mine_aliases(seller * 2, gazetteer=NO_GAZETTEER).same("GYSFONE", "神舟")


def test_the_failing_clusters_of_issue_19_cannot_form():
    data = titles(
        ("苹果/小米 数据线", ["苹果", "小米"]),  # one script, two makers
        ("Apple/苹果 数据线", ["Apple", "苹果"]),
        ("小米（Xiaomi）充电器", ["小米", "Xiaomi"]),
        ("MI/小米 充电器", ["MI", "小米"]),
        ("苹果（安卓）通用充电器", ["苹果", "安卓"]),  # a generic word in brackets
        ("iPhone苹果 安卓 小米 通用数据线", ["iPhone", "苹果", "小米"]),
        ("壳当家 适用于三星 手机壳", ["壳当家", "三星"]),  # a shop and the brand its case fits
        ("加吾 适用于OPPO R17 手机壳", ["加吾", "OPPO"]),
        ("阿西迪巴 OPPO R11 手机壳", ["阿西迪巴", "~OPPO"]),
        ("膜思维/OPPO A9 手机壳", ["膜思维", "~OPPO"]),
        ("斐亚德 OPPO R11S 水凝膜", ["斐亚德", "OPPO"]),
        ("OPPO（欧珀）手机", ["OPPO", "欧珀"]),
        ("加吾（OPPO）蓝牙耳机", ["加吾", "OPPO"]),  # the bracket would join them, the other titles forbid it
        ("GYSFONE/三星 平板保护套", ["GYSFONE", "~三星"]),
        ("GYSFONE 神舟 笔记本电脑包", ["GYSFONE", "神舟"]),
        ("三星（Samsung）手机", ["三星", "Samsung"]),
        ("适用小米/三星 手机壳", ["小米", "三星"]),
        ("Xiaomi/Samsung 数据线", ["Xiaomi", "Samsung"]),
    )
    for gazetteer in (NO_GAZETTEER, None):  # the titles alone keep them apart; the gazetteer too
        aliases = mine_aliases(data, gazetteer=gazetteer)
        assert aliases.same("Apple", "苹果") and aliases.same("OPPO", "欧珀") and aliases.same("三星", "Samsung")
        assert aliases.same("小米", "Xiaomi") and aliases.same("MI", "小米")
        for a, b in [("苹果", "小米"), ("苹果", "安卓"), ("Apple", "Xiaomi"), ("OPPO", "加吾"), ("OPPO", "阿西迪巴"),
                     ("OPPO", "膜思维"), ("OPPO", "斐亚德"), ("欧珀", "加吾"), ("三星", "壳当家"), ("三星", "GYSFONE"),
                     ("三星", "神舟"), ("Samsung", "小米"), ("Xiaomi", "Samsung")]:
            assert not aliases.same(a, b), (a, b)
        families = [{"apple", "苹果", "iphone"}, {"小米", "xiaomi", "mi"}, {"oppo", "欧珀"}, {"三星", "samsung"}]
        assert all(any(cluster <= family for family in families) for cluster in aliases.clusters), aliases.clusters
        assert clashing_clusters(aliases) == []


def test_a_cluster_merge_is_checked_against_every_member():
    # 甲乙 and 丙丁 are two makers (one script, one title): JIAYI may join one of them, never both
    aliases = mine_aliases(titles(
        ("甲乙（JIAYI）台灯", ["甲乙", "JIAYI"]),
        ("JIAYI/丙丁 台灯", ["JIAYI", "丙丁"]),
        ("甲乙 丙丁 台灯 两只装", ["甲乙", "丙丁"]),
    ), gazetteer=NO_GAZETTEER)
    assert aliases.same("甲乙", "JIAYI") != aliases.same("丙丁", "JIAYI")  # one of the two bracket/slash pairs
    assert not aliases.same("甲乙", "丙丁")


def test_the_gazetteer_joins_its_brands_and_keeps_them_apart():
    gazetteer = BrandGazetteer([Brand("huawei", "华为", ("HUAWEI",)), Brand("honor", "荣耀", ("HONOR",))])
    aliases = mine_aliases(titles(
        ("华为（HUAWEI）手机", ["华为", "HUAWEI"]),
        ("荣耀/HUAWEI 手机", ["荣耀", "HUAWEI"]),  # written as one, known as two
        ("HONOR 平板", ["HONOR"]), ("荣耀 手机", ["荣耀"]),  # never together, known as one
    ), gazetteer=gazetteer)
    assert aliases.same("华为", "HUAWEI") and not aliases.same("荣耀", "HUAWEI") and aliases.same("荣耀", "honor")
    joined = BrandAliases([{"华为", "荣耀", "huawei"}], {"华为": "华为", "荣耀": "荣耀", "huawei": "HUAWEI"})
    clashing = [{"names": ["HUAWEI", "华为", "荣耀"], "brands": ["honor", "huawei"]}]
    assert clashing_clusters(joined, gazetteer) == clashing


def test_brackets_with_models_colours_shops_or_generic_words_are_no_evidence():
    not_brands = ["安卓", "手机", "原装", "B5", "NOVA2S", "几何黑", "华为官方旗舰店", "黑色", "手机壳"]
    assert not any(map(is_brand_name, not_brands))
    assert all(map(is_brand_name, ["3M", "1MORE", "JBL", "华为", "喜莱盛", "LM"]))
    reading = read_title("华为P30手机壳 几何黑（LM） B5（混搭）", [(0, 2), (9, 12), (13, 15), (17, 19), (20, 22)])
    assert reading.evidence == {}


def test_two_latin_names_join_when_they_spell_one_brand():
    aliases = mine_aliases(titles(
        ("喜莱盛（Xnesen）冰柜", ["喜莱盛", "Xnesen"]),
        ("喜莱盛（xenese)工作台", ["喜莱盛", "xenese"]),
        ("新百伦（new balance）跑鞋", ["新百伦", "new balance"]),
        ("新百伦（nb）跑鞋", ["新百伦", "nb"]),
        ("美的（Midea）小天鹅（LittleSwan）洗衣机", ["美的", "Midea", "小天鹅", "LittleSwan"]),
        ("小天鹅（Midea）洗衣机", ["小天鹅", "Midea"]),
    ), gazetteer=NO_GAZETTEER)
    assert aliases.same("Xnesen", "xenese") and aliases.same("new balance", "nb")
    assert not aliases.same("美的", "小天鹅") and aliases.same("小天鹅", "LittleSwan")


def test_unify_brands_keeps_a_maker_and_the_brand_its_product_fits_apart():
    listings = [Listing("l1", "Nifan/火影 笔记本电脑包"), Listing("l2", "尼凡（Nifan）电脑包")]

    def brand_fact(listing, predicate, key, start, end):
        where = Provenance(listing.id, "title", start, end, "rules", "1")
        return Fact(Entity(PRODUCT, listing.id, listing.title), predicate,
                    Entity(BRAND, key, listing.title[start:end]), 0.9, (where,))

    facts = [brand_fact(listings[0], "has_brand", "nifan", 0, 5),
             brand_fact(listings[0], "compatible_with", "火影", 6, 8),
             brand_fact(listings[1], "has_brand", "尼凡", 0, 2),
             brand_fact(listings[1], "has_brand", "nifan", 3, 8)]
    keys = {(f.predicate, f.object.key, f.object.name) for f in unify_brands(listings, facts)}
    assert ("compatible_with", "火影", "火影") in keys  # slash between a maker and what it fits: no alias
    assert {k for p, k, _ in keys if p == "has_brand"} == {"nifan"}  # 尼凡（Nifan）: one brand


@pytest.mark.skipif(not TITLES.exists(), reason="no shared JD titles at ../shared/data/corpus/jd-titles.txt")
def test_labelled_pairs_point_at_titles_that_hold_both_names():
    lines = TITLES.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300 and {r["label"] for r in rows} == {"same", "different"}
    assert all(r["a"] in lines[r["line"]] and r["b"] in lines[r["line"]] for r in rows)
