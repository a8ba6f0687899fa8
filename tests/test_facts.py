from skugraph.facts.build import FactBuilder, head_product, merge_facts, value_entity
from skugraph.records import BRAND, PRODUCT, Entity, Fact, Listing, Mention, Provenance, Review
from skugraph.tagging.rules import RuleExtractor


def facts_of(listing: Listing) -> dict[tuple[str, str], Fact]:
    facts = FactBuilder().build(listing, RuleExtractor().extract(listing))
    return {(f.predicate, f.object.ref): f for f in facts}


def test_listing_to_facts_with_provenance():
    listing = Listing(
        "sku-1",
        "倍思（Baseus） 手机壳 适用于华为Pura 70手机 液态硅胶 透明",
        description="适用机型：华为 Pura 70。颜色：透明。",
        reviews=(Review("sku-1#r0", "做工不错"),),
        category="手机配件 > 手机壳",
    )
    facts = facts_of(listing)
    assert set(facts) == {
        ("has_brand", "Brand:baseus"),
        ("product_type", "Value:product_type:手机壳"),
        ("compatible_with", "Brand:huawei"),
        ("compatible_with", "Value:model:华为pura70"),
        ("compatible_with", "Value:product_type:手机"),
        ("accessory_of", "Value:product_type:手机"),
        ("material", "Value:material:液态硅胶"),
        ("colour", "Value:colour:透明"),
        ("in_category", "Category:手机配件 > 手机壳"),
        ("has_review", "Review:sku-1#r0"),
    }
    brand = facts[("has_brand", "Brand:baseus")]
    assert brand.subject == Entity(PRODUCT, "sku-1", listing.title)
    assert (brand.object.name, brand.object.aliases) == ("倍思", ("Baseus",))
    assert [listing.title[p.start : p.end] for p in brand.provenance] == ["倍思", "Baseus"]
    # 华为 is read twice (title and description): both spans kept, confidence combined
    huawei = facts[("compatible_with", "Brand:huawei")]
    assert [(p.field, listing.field_text(p.field)[p.start : p.end]) for p in huawei.provenance] == [
        ("title", "华为"),
        ("description", "华为"),
    ]
    assert huawei.confidence == round(1 - 0.15 * 0.15, 6)
    colour = facts[("colour", "Value:colour:透明")]
    assert {p.extractor for p in colour.provenance} == {"rules"}


def test_merge_combines_independent_evidence_once():
    product = Entity(PRODUCT, "p", "t")
    brand = Entity(BRAND, "midea", "美的", aliases=("Midea",))
    a = Fact(product, "has_brand", brand, 0.8, (Provenance("p", "title", 0, 2, "rules", "1"),))
    b = Fact(product, "has_brand", brand, 0.5, (Provenance("p", "description", 3, 5, "rules", "1"),))
    (merged,) = merge_facts([a, b, a])
    assert merged.confidence == 0.9  # 1 - 0.2 * 0.5; the repeated fact adds no evidence
    assert len(merged.provenance) == 2


def test_values_with_different_spelling_are_one_node():
    same = {value_entity("capacity", v).key for v in ("256 GB", "２５６ｇｂ", "256G", "256gb")}
    assert same == {"capacity:256GB"}
    assert value_entity("capacity", "0.5L").key == value_entity("capacity", "500ml").key == "capacity:500ml"
    assert value_entity("colour", "曜石黑").name == "曜石黑"  # a colour keeps its own name; the palette is on the node


def test_both_halves_of_an_unknown_two_script_brand_are_one_brand():
    listing = Listing("n1", "诺芝（NOZI）太阳能热水器")
    facts = [f for f in facts_of(listing).values() if f.predicate == "has_brand"]
    assert len(facts) == 1
    assert (facts[0].object.key, facts[0].object.name, facts[0].object.aliases) == ("nozi", "诺芝", ("NOZI",))
    assert len(facts[0].provenance) == 2


def _mentions(listing: Listing, labelled: list[tuple[str, str]]) -> list[Mention]:
    """Mentions for (surface, label) pairs, found left to right in the title."""
    mentions, at = [], 0
    for surface, label in labelled:
        start = listing.title.index(surface, at)
        at = start + len(surface)
        mentions.append(Mention(listing.id, "title", start, at, surface, label, 0.9, "tagger@1"))
    return mentions


def test_jd_labelled_title_gets_one_head_product_and_typed_links():
    listing = Listing("jd-1", "三星S10+手机壳女款水钻边框壳硅胶保护套防摔 送支架", category="手机配件 > 手机壳")
    mentions = _mentions(listing, [("三星", "37"), ("S10", "38"), ("手机壳", "4"), ("女款", "8"), ("水钻", "12"),
                                   ("边框壳", "4"), ("硅胶", "12"), ("保护套", "4"), ("防摔", "11"), ("支架", "22")])
    facts = {(f.predicate, f.subject.ref, f.object.ref): f for f in FactBuilder().build(listing, mentions)}
    by_predicate: dict[str, set[str]] = {}
    for predicate, subject, obj in facts:
        by_predicate.setdefault(predicate, set()).add(obj if subject == "Product:jd-1" else subject)
    assert by_predicate["product_type"] == {"Value:product_type:手机壳"}  # the 壳 group is largest; its first word heads
    assert by_predicate["related_product"] == {"Value:product_type:边框壳", "Value:product_type:保护套"}
    assert by_predicate["compatible_with"] == {"Brand:samsung", "Value:model:三星s10"}
    assert by_predicate["audience"] == {"Value:audience:女款"}
    assert by_predicate["material"] == {"Value:material:水钻", "Value:material:硅胶"}
    assert by_predicate["feature"] == {"Value:feature:防摔"}
    assert by_predicate["component_of"] == {"Value:component:支架"}  # the stand comes with the case
    component = facts[("component_of", "Value:component:支架", "Product:jd-1")]
    assert listing.title[component.provenance[0].start : component.provenance[0].end] == "支架"


def test_a_model_written_with_its_makers_latin_name_is_one_node_with_the_model_after_its_brand():
    builder = FactBuilder()
    nodes = set()
    for title, labelled in [("iphone6s手机壳", [("iphone6s", "38")]), ("iPhone 6s钢化膜", [("iPhone 6s", "38")]),
                            ("苹果6s保护套", [("苹果", "37"), ("6s", "38")]),
                            ("苹果iphone6s屏幕", [("苹果", "37"), ("iphone6s", "38")])]:
        listing = Listing("jd-1", title)
        nodes |= {(f.object.ref, f.object.name) for f in builder.build(listing, _mentions(listing, labelled)) if f.object.label != BRAND}
    assert nodes == {("Value:model:苹果6s", "苹果 6s")}  # one node, one name
    listing = Listing("jd-1", "适用苹果iPhone 15 Pro Max")
    spaced = builder.build(listing, _mentions(listing, [("苹果", "37"), ("iPhone 15 Pro Max", "38")]))
    assert {(f.object.ref, f.object.name) for f in spaced if f.object.label != BRAND} == {("Value:model:苹果15promax", "苹果 15 pro max")}
    listing = Listing("jd-2", "ipad6钢化膜")  # an iPad 6 is no iPhone 6
    assert {f.object.ref for f in builder.build(listing, _mentions(listing, [("ipad6", "38")]))} == {"Value:model:苹果ipad6"}
    listing = Listing("jd-2", "galaxy note9钢化膜")  # Samsung's line names Samsung, as iPhone names Apple
    read = builder.build(listing, _mentions(listing, [("galaxy", "37"), ("note9", "38")]))
    assert {f.object.ref for f in read} == {"Brand:samsung", "Value:model:三星note9"}
    listing = Listing("jd-2", "mix2手机壳")  # Xiaomi's MIX, not an "mi" glued to x2
    assert {f.object.ref for f in builder.build(listing, _mentions(listing, [("mix2", "38")]))} == {"Value:model:mix2"}


def test_head_product_is_the_largest_group_of_product_words():
    listing = Listing("x", "燃气烤火炉家用天然气取暖器节能取暖炉 配件")
    mentions = _mentions(listing, [("烤火炉", "4"), ("取暖器", "4"), ("取暖炉", "4")])
    meanings = ["product"] * 3
    assert head_product(mentions, meanings) == 0  # 炉 ×2 beats 器 ×1
    listing = Listing("y", "电源连接延长线电源线插头")
    mentions = _mentions(listing, [("电源", "4"), ("延长线", "4"), ("电源线", "4"), ("插头", "4")])
    assert mentions[head_product(mentions, ["product"] * 4)].text == "延长线"
    assert head_product(mentions, ["colour"] * 4) is None


def test_a_device_word_right_before_an_accessory_modifies_it():
    """笔记本外壳保护贴膜: the laptop is what the film is for; within one word (a few Chinese
    characters, or a model, between) the accessory is the head, not the device named first; a
    space, a year or a gift's 送 ends the word."""
    accessories = {"贴膜", "数据线"}
    listing = Listing("z", "联想小新14英寸笔记本外壳保护贴膜 笔记本 贴纸")
    mentions = _mentions(listing, [("笔记本", "4"), ("贴膜", "4")])
    assert mentions[head_product(mentions, ["product"] * 2)].text == "笔记本"  # without the text: the first word
    assert mentions[head_product(mentions, ["product"] * 2, listing.field_text, accessories)].text == "贴膜"
    apart = Listing("w", "华为手机 黑色 送数据线")  # a space between: the phone, with a cable thrown in
    mentions = _mentions(apart, [("手机", "4"), ("数据线", "4")])
    assert mentions[head_product(mentions, ["product"] * 2, apart.field_text, accessories)].text == "手机"
    model = Listing("v", "oppor15手机r11s数据线")  # the phones a cable fits
    mentions = _mentions(model, [("手机", "4"), ("数据线", "4")])
    assert mentions[head_product(mentions, ["product"] * 2, model.field_text, accessories)].text == "数据线"
    for title in ("华为手机2019数据线", "华为手机nova5送数据线"):  # a year; a cable thrown in
        listing = Listing("u", title)
        mentions = _mentions(listing, [("手机", "4"), ("数据线", "4")])
        assert mentions[head_product(mentions, ["product"] * 2, listing.field_text, accessories)].text == "手机", title


def test_a_phone_right_before_another_product_word_is_what_it_is_used_with():
    """手机远程监控器 is a camera watched from a phone, 手机耳机 earphones for one; a space ends the word."""
    for title, words, head in (("无线wifi手机远程家用监控器室外高清", ("手机", "监控器"), "监控器"),
                               ("手机耳机入耳式 重低音", ("手机", "耳机"), "耳机"),
                               ("华为手机 黑色 耳机套装", ("手机", "耳机"), "手机")):
        listing = Listing("p", title)
        mentions = _mentions(listing, [(word, "4") for word in words])
        assert mentions[head_product(mentions, ["product"] * 2, listing.field_text)].text == head, title


def test_a_service_word_is_the_head_wherever_it_stands():
    """A repair or an installation sells a service, not the device it names first."""
    for title, words, head in (("宏碁笔记本键盘失灵（主板问题）换件服务", ("笔记本", "换件服务"), "换件服务"),
                               ("创维电视上门安装服务70英寸", ("电视", "安装服务"), "安装服务"),
                               ("空调延长保修1年服务", ("空调", "延长保修"), "延长保修"),
                               ("空调 家用 挂机 上门安装", ("空调", "上门安装"), "空调")):  # installed with it: no service word
        listing = Listing("s", title)
        mentions = _mentions(listing, [(word, "4") for word in words])
        assert mentions[head_product(mentions, ["product"] * 2, listing.field_text)].text == head, title
    listing = Listing("s", "小米手机上门换屏mix2s屏幕总成")  # an accessory word after it modifies no service
    mentions = _mentions(listing, [("手机", "4"), ("上门换屏", "4"), ("屏幕总成", "4")])
    assert mentions[head_product(mentions, ["product"] * 3, listing.field_text, {"屏幕总成"})].text == "上门换屏"


def test_the_head_word_said_again_is_the_type_not_a_related_product():
    listing = Listing("z", "镇尺一对 黄铜镇尺 书法镇纸")
    mentions = [Mention("z", "title", s, s + 2, listing.title[s : s + 2], "4", 0.5, "t@1") for s in (0, 7, 12)]
    facts = {(f.predicate, f.object.name): f for f in FactBuilder().build(listing, mentions)}
    assert set(facts) == {("product_type", "镇尺"), ("related_product", "镇纸")}
    assert facts[("product_type", "镇尺")].confidence == 0.75  # two readings of the head, noisy-or
    assert len(facts[("product_type", "镇尺")].provenance) == 2


def test_attribute_off_its_category_keeps_a_lower_confidence():
    listing = Listing("t1", "纯棉T恤 256G 黑色", category="服装 > T恤")
    mentions = _mentions(listing, [("256G", "36"), ("黑色", "16")])
    facts = {f.predicate: f for f in FactBuilder().build(listing, mentions)}
    assert facts["capacity"].confidence == 0.45  # capacity does not apply to clothes: 0.9 × 0.5
    assert facts["colour"].confidence == 0.9


def test_unknown_labels_become_attr_kinds_and_load():
    listing = Listing("u1", "某某 特别款 XL")
    mentions = _mentions(listing, [("特别款", "17"), ("XL", "size_cn")])
    facts = FactBuilder().build(listing, mentions)
    assert sorted((f.predicate, f.object.key) for f in facts) == [("attr_17", "attr_17:特别款"), ("attr_size_cn", "attr_size_cn:xl")]


def _brand_roles(listing: Listing, labelled: list[tuple[str, str]]) -> dict[str, set[str]]:
    """The brand names of each of has_brand and compatible_with that a tagger's mentions give."""
    roles: dict[str, set[str]] = {"has_brand": set(), "compatible_with": set()}
    for fact in FactBuilder().build(listing, _mentions(listing, labelled)):
        if fact.object.label == BRAND:
            roles[fact.predicate].add(fact.object.name)
    return roles


def test_a_brand_after_a_compatibility_trigger_is_what_the_product_fits():
    listing = Listing("c1", "XX手机壳 适用于华为P40")
    facts = FactBuilder().build(listing, _mentions(listing, [("手机壳", "4"), ("华为", "1"), ("P40", "38")]))
    assert {(f.predicate, f.object.ref) for f in facts if f.predicate in ("has_brand", "compatible_with")} == {
        ("compatible_with", "Brand:huawei"), ("compatible_with", "Value:model:华为p40")}
    # a mark between: the other name of the brand and the brands of a list fit too
    listing = Listing("c2", "咔咔鱼 键盘膜 适用于惠普（HP）暗影精灵4 适用：宝锋/万华对讲机")
    assert _brand_roles(listing, [("咔咔鱼", "1"), ("键盘膜", "4"), ("惠普", "37"), ("HP", "1"),
                                  ("宝锋", "1"), ("万华", "1")]) == {"has_brand": {"咔咔鱼"},
                                                                  "compatible_with": {"惠普", "宝锋", "万华"}}
    # a fitted brand named again fits again: 奥普LQ730K is the printer the ribbon fits
    listing = Listing("c3", "适用奥普LQ630K色带架 奥普LQ730K")
    assert _brand_roles(listing, [("奥普", "1"), ("色带架", "4"), ("奥普", "1")]) == {
        "has_brand": set(), "compatible_with": {"奥普"}}


def test_a_trigger_marks_no_brand_it_is_not_right_before_nor_the_maker_opening_the_title():
    listing = Listing("g1", "绿联 电源适配器 惠普 笔记本充电器")  # 适配 in 适配器: a word between, the tagger's reading stands
    assert _brand_roles(listing, [("绿联", "1"), ("电源适配器", "4"), ("惠普", "1")]) == {
        "has_brand": {"绿联", "惠普"}, "compatible_with": set()}
    listing = Listing("g2", "得力（deli）装订机钻头 适用得力3876装订机")  # the maker's own device: both
    assert _brand_roles(listing, [("得力", "1"), ("deli", "1"), ("钻头", "4"), ("得力", "1")]) == {
        "has_brand": {"得力"}, "compatible_with": {"得力"}}


def test_the_maker_named_again_before_the_head_product_is_the_maker():
    listing = Listing("m1", "海尔（Haier）消毒柜家用立式 海尔消毒柜")
    labelled = [("海尔", "1"), ("Haier", "1"), ("消毒柜", "4"), ("海尔", "37"), ("消毒柜", "4")]
    assert _brand_roles(listing, labelled) == {"has_brand": {"海尔"}, "compatible_with": set()}
    listing = Listing("m2", "华为（HUAWEI）充电器 华为充电器")  # an accessory: it may fit its maker's devices
    labelled = [("华为", "1"), ("HUAWEI", "1"), ("充电器", "4"), ("华为", "37"), ("充电器", "4")]
    assert _brand_roles(listing, labelled) == {"has_brand": {"华为"}, "compatible_with": {"华为"}}


def test_a_shops_or_generic_word_read_as_a_brand_or_product_word_makes_no_fact():
    """A tagger that reads 官方 of 官方旗舰店, or 【京东 of 【京东配送】, as a brand, and 旗舰店 as the
    product word, gives no brand from them and leaves the head to the real product word; a brand
    that is no shop word stays one, even one that only may look like a colour (万年红), and
    Android stays what a product fits."""
    listing = Listing("t1", "官方旗舰店 彩色铝合金画架 紫色画架")
    facts = FactBuilder().build(listing, _mentions(listing, [("官方", "1"), ("旗舰店", "4"), ("彩色", "1"), ("画架", "4")]))
    assert {(f.predicate, f.object.ref) for f in facts if f.predicate in ("has_brand", "product_type")} == {
        ("product_type", "Value:product_type:画架")}
    listing = Listing("t2", "【京东配送】万年红 红木毛笔")
    assert _brand_roles(listing, [("【京东", "1"), ("万年红", "1")])["has_brand"] == {"万年红"}
    listing = Listing("t3", "手机壳 适用安卓")
    assert _brand_roles(listing, [("手机壳", "4"), ("安卓", "37")])["compatible_with"] == {"安卓"}


def test_shop_and_generic_words_and_words_cut_across_a_bracket_name_no_brand():
    from skugraph.tagging.lexicon import is_brand_name, is_shop_or_generic

    assert all(is_shop_or_generic(word) for word in ("官方", "京东", "适用", "彩色", "【京东", "京东】", "旗舰店", "x"))
    assert not any(is_shop_or_generic(word) for word in ("华为", "京东京造", "惠普(HP)", "诺芝（NOZI）", "万年红", "H3C"))
    assert not is_brand_name("【京东") and is_brand_name("惠普(HP)")
