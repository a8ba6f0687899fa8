import pytest

from skugraph.corpus.normalize import fold
from skugraph.facts.build import FactBuilder
from skugraph.records import BRAND, Listing
from skugraph.tagging.lexicon import BrandGazetteer
from skugraph.tagging.rules import RuleExtractor


@pytest.fixture(scope="module")
def rules() -> RuleExtractor:
    return RuleExtractor()


def found(rules: RuleExtractor, text: str) -> list[tuple[str, str]]:
    return [(text[start:end], label) for start, end, label, _ in rules.spans(text)]


def test_the_mission_title(rules):
    title = "诺芝（NOZI）太阳能热水器家用 304不锈钢水箱 适用于华为手机"
    assert found(rules, title) == [
        ("诺芝", "brand"),
        ("NOZI", "brand"),
        ("太阳能热水器", "product_type"),
        ("304不锈钢", "material"),
        ("华为", "compatible_brand"),
        ("手机", "compatible_product"),
    ]


def test_slash_brands_units_and_colours(rules):
    title = "Apple/苹果 iPhone 15 Pro Max 256GB 深空灰 5G手机 6.7英寸"
    result = found(rules, title)
    assert result[:3] == [("Apple", "brand"), ("苹果", "brand"), ("iPhone", "brand")]
    assert ("256GB", "capacity") in result and ("深空灰", "colour") in result and ("6.7英寸", "size") in result
    assert not any(text == "5G" for text, _ in result), "a 5G network is neither a weight nor a capacity"


def test_full_width_text_keeps_original_offsets(rules):
    title = "ＵＧＲＥＥＮ　６５Ｗ充电器 ｆｏｒ ｉＰｈｏｎｅ １５ 白色"
    assert found(rules, title) == [
        ("ＵＧＲＥＥＮ", "brand"),
        ("６５Ｗ", "power"),
        ("充电器", "product_type"),
        ("ｉＰｈｏｎｅ", "compatible_brand"),
        ("１５", "compatible_model"),
        ("白色", "colour"),
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("美的电热水器 60L 2100W", [("60L", "volume"), ("2100W", "power")]),
        ("保温杯 500ml 0.5kg", [("500ml", "volume"), ("0.5kg", "weight")]),
        ("笔记本 16G 1T 14英寸", [("16G", "capacity"), ("1T", "capacity"), ("14英寸", "size")]),
        ("收纳盒 30x20x10cm 2片装", [("30x20x10cm", "size"), ("2片装", "quantity")]),
        # a count of items, not a word the classifier starts (支架, 个月, 包邮, 单片机)
        ("中性笔 36支装 单支 两个装 手机支架2支架 3个月 99包邮 单片机", [("36支装", "quantity"), ("单支", "quantity"), ("两个装", "quantity")]),
        # nor a part the offer includes or gives, a decimal, a book of bills (账单本), an option (套餐一)
        ("音箱+2个话筒 含8个刷头 送10支 0.510支 2.0箱 账单本 套餐一", []),
        # a set is a form; a paper size (a specification) only in a title about paper and no device (OPPO A5, 奥迪A4)
        ("活页笔记本子 A5B5 套装 3件套", [("A5", "specification"), ("B5", "specification"), ("套装", "form"), ("3件套", "quantity")]),
        # the colours of a set, not those one may choose from
        ("水彩笔 36色 套装 5色可选", [("36色", "quantity"), ("套装", "form")]),
        ("手机壳贴纸 A3", []),
        ("活页本外壳 车线本 A5", [("A5", "specification")]),  # 外壳 of a notebook, 车线 a binding: paper goods
        ("奥迪A4 汽车贴纸", []),
        ("充电宝 20000mAh", [("20000mAh", "capacity")]),
        ("充电宝20000毫安移动电源 5000毫安时 10000毫安PD快充", [("20000毫安", "capacity"), ("5000毫安时", "capacity"),
                                                          ("10000毫安", "capacity")]),
        # a length in metres is a specification, as JD labels it; not 20 米黄色 (a colour)
        ("六类网线 20米 数据线1.5m 封套20 米黄色", [("20米", "specification"), ("1.5m", "specification"), ("黄色", "colour")]),
        # an upper-case M, a speed, a camera's pixels, a model's end are no lengths
        ("3M双面胶 路由器1200M 读速90m/s 1300万像素 800m像素 EW-83M", [("EW-83M", "model")]),
        ("零食 500g 袋装 大米 5KG", [("500g", "weight"), ("5KG", "weight")]),
        # giga, codes and speeds are no measures: an upper-case G is never grams, digits inside a code are no number
        ("希捷 22000G 硬盘 AMD 2400G 处理器", []),
        ("DDR43000320036008G 内存 IH310MB2 主板 HP 800 G4", []),
        ("读速180MB/s 优盘 5G 全网通", []),
        # a ratio's digits are not glued to the measure after it (4:3, 120 inches)
        ("投影幕布 白塑4比3120英寸", [("120英寸", "size")]),
        ("幕布 16比9100寸 16:10 84英寸", [("100寸", "size"), ("84英寸", "size")]),
        ("投影幕 16比10100英寸", [("100英寸", "size")]),
    ],
)
def test_units(rules, text, expected):
    assert [pair for pair in found(rules, text) if pair[1] not in ("brand", "product_type")] == expected


def test_a_length_in_metres_does_not_hide_a_model(rules):
    assert ("FX-53M", "compatible_model") in found(rules, "键盘膜 适用于华硕FX-53M 笔记本")


def test_compatibility_lists_and_specific_use(rules):
    assert found(rules, "适配联想、华为等笔记本电脑") == [
        ("联想", "compatible_brand"),
        ("华为", "compatible_brand"),
        ("笔记本电脑", "compatible_product"),
    ]
    assert found(rules, "小米专用 钢化膜")[0] == ("小米", "compatible_brand")
    assert found(rules, "适用机型：苹果 iPhone 15 Pro")[:2] == [("苹果", "compatible_brand"), ("iPhone 15 Pro", "compatible_model")]


def test_a_pair_of_a_product_word_or_a_code_is_not_a_brand(rules):
    learned = rules.learn_brands(["本子/A5笔记本子 加厚", "Type-C/安卓 数据线"])
    assert not {"a5", "本子", "type-c", "安卓"} & set(learned.gazetteer.by_surface)
    assert not [pair for pair in found(learned, "萨搏 A5笔记本子") if pair[1] == "brand"]


def test_two_known_brands_with_a_slash_stay_two_brands(rules):
    listing = Listing("l1", "vivo/华为 数据线 快充")  # a cable for both, not the brand vivo written in two scripts
    builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"])
    brands = {(fact.predicate, fact.object.key) for fact in builder.build(listing, rules.extract(listing)) if fact.object.label == BRAND}
    assert brands == {("compatible_with", "vivo"), ("compatible_with", "huawei")}


def test_two_brands_that_share_a_chinese_name_stay_apart(rules):
    titles = ["先锋（Pioneer）蓝牙音箱", "先锋（SINGFUN）家用干衣机 绿色"]  # 先锋 names both
    learned = rules.learn_brands(titles)
    builder = FactBuilder(learned.gazetteer, learned.lexicons["accessory"])
    brands = [[(f.predicate, f.object.key) for f in builder.build(Listing("l", t), learned.extract(Listing("l", t)))
               if f.object.label == BRAND] for t in titles]
    assert brands == [[("has_brand", "pioneer")], [("has_brand", "singfun")]]


def test_a_colour_pair_is_not_a_brand(rules):
    assert found(rules, "黑色/white T恤") == [("黑色", "colour"), ("white", "colour"), ("T恤", "product_type")]


def test_mentions_carry_listing_field_and_extractor(rules):
    listing = Listing("sku-9", "得力(deli) 中性笔", description="笔尖0.5mm，黑色。")
    mentions = rules.extract(listing)
    assert {(m.field, m.text, m.label) for m in mentions} == {
        ("title", "得力", "brand"),
        ("title", "deli", "brand"),
        ("title", "中性笔", "product_type"),
        ("description", "0.5mm", "size"),
        ("description", "黑色", "colour"),
    }
    for m in mentions:
        assert listing.field_text(m.field)[m.start : m.end] == m.text
        assert m.extractor == "rules@2" and 0 < m.score <= 1


def test_gazetteer_resolves_aliases_and_new_two_script_brands():
    gazetteer = BrandGazetteer.from_tsv()
    assert gazetteer.resolve("HUAWEI").key == gazetteer.resolve("华为（HUAWEI）").key == "huawei"
    assert gazetteer.resolve("iphone").key == "apple"
    nozi = gazetteer.resolve("诺芝（NOZI）")
    assert (nozi.key, nozi.name, nozi.aliases) == ("nozi", "诺芝", ("NOZI",))
    assert fold("ＮＯＺＩ  Pro") == "nozi pro"


def test_user_lexicon_files_extend_the_shipped_ones(tmp_path):
    brands = tmp_path / "brands.txt"
    brands.write_text("# our own brands\n诺芝\n", encoding="utf-8")
    words = tmp_path / "products.txt"
    words.write_text("暖脚器\n", encoding="utf-8")
    plain = RuleExtractor()
    extended = RuleExtractor.with_lexicon_files([brands], [words])
    title = "诺芝 暖脚器 黑色"
    assert found(plain, title) == [("黑色", "colour")]
    assert found(extended, title) == [("诺芝", "brand"), ("暖脚器", "product_type"), ("黑色", "colour")]
    assert extended.gazetteer.resolve("诺芝").key == "诺芝"


def test_a_user_product_type_may_be_marked_an_accessory(tmp_path):
    words, plain = tmp_path / "products.txt", tmp_path / "plain.txt"
    words.write_text("暖脚器\n脚套\taccessory\n", encoding="utf-8")
    plain.write_text("暖脚器\n脚套\n", encoding="utf-8")
    extended = RuleExtractor.with_lexicon_files((), [words])
    assert "脚套" in extended.lexicons["accessory"] and "脚套" in extended.lexicons["product_type"]
    assert "暖脚器" not in extended.lexicons["accessory"]
    listing = Listing("l", "暖脚器加绒脚套 黑色")  # the device before its accessory's word only says what it is for
    for path, head in [(words, "脚套"), (plain, "暖脚器")]:
        rules = RuleExtractor.with_lexicon_files((), [path])
        builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"])
        assert [f.object.name for f in builder.build(listing, rules.extract(listing)) if f.predicate == "product_type"] == [head]
    words.write_text("暖脚器\n脚套\taccesory\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"products.txt, line 2: .*'accessory'"):
        RuleExtractor.with_lexicon_files((), [words])


@pytest.mark.parametrize(("title", "head"), [
    ("纯铜网线千兆家用超六高速宽带6类路由器15成品室外8芯网络线20米", "网线"),  # not the router it plugs into
    ("iPhone xs Max跑步手机臂包xsMax臂套运动腕包", "臂包"),  # not the phone it holds
    ("西部数据（WD）Green系列240G M.2固态硬盘台式机电脑笔记本SSD", "固态硬盘"),  # not the laptop it goes in
    ("宏碁 TMP249 7代酷睿I3处理器 14英寸轻薄笔记本电脑", "笔记本电脑"),  # a part it has is no product word
    ("联想ThinkBook 14 笔记本电脑 512G固态硬盘+1T机械硬盘", "笔记本电脑"),
    ("金正 广场舞音响 户外 带无线话筒 手提音箱 两话筒", "音响"),  # an extra it comes with is not what it is
    ("萤石 C6CN 云台摄像头", "云台摄像头"),
])
def test_real_titles_take_the_type_they_sell(rules, title, head):
    builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"])
    listing = Listing("l", title)
    assert [f.object.name for f in builder.build(listing, rules.extract(listing)) if f.predicate == "product_type"] == [head]


@pytest.mark.parametrize(("title", "maker"), [
    ("索尼 DSC-HX99 长焦数码相机 +三脚架经济套餐", "sony"),  # a tripod it comes with makes it no accessory
    ("飞利浦 S5000 电动剃须刀 三刀头", "philips"),  # nor do the heads it has
    ("佳能（Canon）EOS 80D 单反相机 +18-135镜头", "canon"),
])
def test_a_device_sold_with_extras_keeps_its_maker(rules, title, maker):
    builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"])
    listing = Listing("l", title)
    facts = builder.build(listing, rules.extract(listing))
    assert {f.object.key for f in facts if f.predicate == "has_brand"} == {maker}
    assert not [f for f in facts if f.predicate == "compatible_with"]


def test_brands_written_in_two_scripts_are_learned_for_the_whole_catalogue(rules):
    titles = ["莱克斯（LEKES）吸尘器 450W", "莱克斯吸尘器 0.6L", "黑色（BLACK）T恤", "华为（HUAWEI）手机"]
    learned = rules.learn_brands(titles)
    assert found(rules, titles[1])[0] != ("莱克斯", "brand")
    assert found(learned, titles[1])[0] == ("莱克斯", "brand")
    lekes = learned.gazetteer.resolve("莱克斯")
    assert (lekes.key, lekes.name, lekes.aliases) == ("lekes", "莱克斯", ("LEKES",))
    assert "黑色" not in learned.gazetteer.by_surface, "a colour is never learned as a brand"
    assert rules.learn_brands(["华为（HUAWEI）手机"]) is rules


def test_a_brand_before_an_accessory_is_what_it_fits(rules):
    assert found(rules, "杰普顿 华为P20手机壳 真皮") == [
        ("华为", "compatible_brand"),
        ("P20", "compatible_model"),
        ("手机壳", "product_type"),
        ("真皮", "material"),
    ]
    assert found(rules, "vivo z3i保护套")[:2] == [("vivo", "compatible_brand"), ("z3i", "compatible_model")]
    assert found(rules, "华为手机 黑色")[0] == ("华为", "brand"), "a phone is no accessory"
    assert found(rules, "倍思充电器 65W")[0] == ("倍思", "brand"), "an accessory maker's own brand"
    assert found(rules, "倍思 华为充电器")[:2] == [("倍思", "brand"), ("华为", "compatible_brand")]


def roles(rules: RuleExtractor, text: str) -> list[tuple[str, str]]:
    return [pair for pair in found(rules, text) if pair[1] in ("brand", "compatible_brand", "compatible_model")]


@pytest.mark.parametrize(
    "title, expected",
    [
        # the only brand of an accessory is the device it fits: no maker at all
        ("适用华为nova5手机壳 防摔软壳 华为nova3",
         [("华为", "compatible_brand"), ("nova5", "compatible_model"),
          ("华为", "compatible_brand"), ("nova3", "compatible_model")]),
        ("【鼠年浮雕】三星s10手机壳 硅胶软壳", [("三星", "compatible_brand"), ("s10", "compatible_model")]),
        ("三星SM-T550皮套 平板保护套", [("三星", "compatible_brand"), ("SM-T550", "compatible_model")]),
        ("华为荣耀10手机壳 磨砂", [("华为", "compatible_brand"), ("荣耀", "compatible_brand"), ("10", "compatible_model")]),
        # the maker opens the title or is written in two scripts; later brands are what it fits
        ("绿联 15.6英寸戴尔笔记本电脑包", [("绿联", "brand"), ("戴尔", "compatible_brand")]),
        ("绿联（UGREEN） 联想ThinkPad X1 键盘膜",
         [("绿联", "brand"), ("UGREEN", "brand"), ("联想", "compatible_brand"), ("ThinkPad", "compatible_brand"),
          ("X1", "compatible_model")]),
        ("蓝牙耳机 适用苹果华为小米", [("苹果", "compatible_brand"), ("华为", "compatible_brand"), ("小米", "compatible_brand")]),
        ("电脑包 联想 戴尔 惠普 笔记本通用", [("联想", "compatible_brand"), ("戴尔", "compatible_brand"), ("惠普", "compatible_brand")]),
        ("华为（HUAWEI）原装数据线 适用华为P30",
         [("华为", "brand"), ("HUAWEI", "brand"), ("华为", "compatible_brand"), ("P30", "compatible_model")]),
        ("适用于华硕(ASUS) 笔记本键盘膜", [("华硕", "compatible_brand"), ("ASUS", "compatible_brand")]),
        ("华为畅享9手机壳 软壳", [("华为", "compatible_brand")]),  # a series name (畅享) before the model
        ("华硕笔记本电脑顽石A407 外壳膜", [("华硕", "compatible_brand")]),  # a device word and a series before it
        # an accessory word and another brand's series: the maker's charger fits the Huawei
        ("绿联充电器华为p30快充", [("绿联", "brand"), ("华为", "compatible_brand"), ("p30", "compatible_model")]),
        # a line of the brand's devices opening an accessory's title: what it fits, not its maker
        ("ipad保护套9.7寸 2018款", [("ipad", "compatible_brand")]),
        ("iPhone xr手机壳 硅胶", [("iPhone", "compatible_brand"), ("xr", "compatible_model")]),
        # a maker's Latin name written together with the model, and an iPhone's model without digits
        ("vivox27手机壳 软壳", [("vivo", "compatible_brand"), ("x27", "compatible_model")]),
        ("oppoa83手机壳", [("oppo", "compatible_brand"), ("a83", "compatible_model")]),
        ("iphone8plus钢化膜", [("iphone", "compatible_brand"), ("8plus", "compatible_model")]),
        ("苹果xs max手机壳", [("苹果", "compatible_brand"), ("xs max", "compatible_model")]),
        ("ipadmini5保护套", [("ipad", "compatible_brand"), ("mini5", "compatible_model")]),
        ("小米8手机壳mix2全包边", [("小米", "compatible_brand"), ("8", "compatible_model")]),  # mix2: no mi
        # a brand that is an everyday word, not opening the title: a print, neither maker nor fit
        ("ipad保护套 网红 小熊 黑色", [("ipad", "compatible_brand")]),
        ("自粘便利贴100张 小熊(四层彩色)", []),
        ("小熊（Bear）电炖锅 陶瓷", [("小熊", "brand"), ("Bear", "brand")]),
        ("小熊电炖锅", [("小熊", "brand")]),
        ("日本斑马中性笔 JJ15", [("斑马", "brand")]),  # after where it is made: the brand
        ("斑马笔zebra 中性笔", [("斑马", "brand"), ("zebra", "brand")]),  # its other name in the title
        ("可爱小熊 九阳豆浆机", [("九阳", "brand")]),  # the print takes no maker's place
        # a maker's name written with a model past the opening: the device, not the maker
        ("运动耳机入耳式 OPPOA33", [("OPPO", "compatible_brand")]),
        ("VIVOX23手机模型 仿真上交模型机", [("VIVO", "compatible_brand"), ("X23", "compatible_model")]),  # a dummy of the phone
        ("苹果xr6.1寸手机壳", [("苹果", "compatible_brand"), ("xr", "compatible_model")]),  # a size after the model
        ("荣耀MagicBook2019 外壳贴纸", [("荣耀", "compatible_brand"), ("MagicBook2019", "compatible_model")]),
        ("适用于2代充电仓 蓝牙耳机 苹果安卓", [("苹果", "compatible_brand")]),  # the text is about fitting
        ("电话耳麦 用于思科/华为", [("华为", "compatible_brand")]),
        # a brand the product is compared with is neither maker nor fit
        ("长虹同款取暖器", []),
        ("电风扇 质量堪比 美的 格力", []),
        # a model and its colour in two scripts are no brand
        ("手机壳 X6plus（宝石蓝）", []),
        # no accessory sold: the brand and its model are the product's own
        ("华为 Mate 30 手机 送手机壳", [("华为", "brand")]),
        ("联想台式机 E75商用办公电脑整机兼容win7", [("联想", "brand")]),  # it runs an operating system, fits nothing
        ("Apple苹果MacBook Pro 16英寸 笔记本电脑", [("Apple", "brand"), ("苹果", "brand"), ("MacBook", "brand")]),
        ("美的电热水器 60L 美的出品", [("美的", "brand"), ("美的", "brand")]),
    ],
)
def test_the_maker_is_never_the_brand_an_accessory_fits(rules, title, expected):
    assert roles(rules, title) == expected


def test_a_youth_edition_is_a_model_of_its_own(rules):
    """荣耀8青春版 is not the 荣耀8: its case fits the one, not the other."""
    assert ("8青春版", "compatible_model") in roles(rules, "华为荣耀8青春版手机壳 硅胶")
    assert ("8 青春版", "compatible_model") in roles(rules, "小米8 青春版 手机壳")
    assert ("8", "compatible_model") in roles(rules, "华为荣耀8手机壳 硅胶")


def test_a_year_or_a_screen_size_is_no_model(rules):
    assert roles(rules, "绿联 2019款 14英寸 笔记本电脑包") == [("绿联", "brand")]
    assert ("RedmiBook 14英寸", "size") not in found(rules, "小米RedmiBook 14英寸电脑包")
    assert ("14英寸", "size") in found(rules, "小米RedmiBook 14英寸电脑包")


def test_facts_give_an_accessory_the_maker_or_no_brand_never_the_device_it_fits(rules):
    builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"])
    for title, maker in [("适用华为nova5手机壳 防摔软壳 华为nova3", set()), ("绿联 15.6英寸戴尔笔记本电脑包", {"ugreen"})]:
        listing = Listing("sku-1", title)
        facts = builder.build(listing, rules.extract(listing))
        brands = {f.object.key for f in facts if f.predicate == "has_brand"}
        fits = {f.object.key for f in facts if f.predicate == "compatible_with" and f.object.label == BRAND}
        assert brands == maker and fits and not brands & fits


def test_a_hose_for_a_washing_machine_is_a_hose_that_fits_the_brands_it_names(rules):
    """洗衣机进水管: an inlet hose for washing machines (a shipped accessory type), not a washing
    machine; the brands before it are those it fits, none its maker."""
    builder = FactBuilder(rules.gazetteer, rules.lexicons["accessory"])
    listing = Listing("sku-1", "海尔美的奥克斯长虹全自动波轮洗衣机进水管加厚加长接水管【三种接头】1.5米特制防爆管")
    facts = {(f.predicate, f.object.name) for f in builder.build(listing, rules.extract(listing))}
    assert {("product_type", "进水管"), ("related_product", "洗衣机"), ("compatible_with", "海尔")} <= facts
    assert not {name for predicate, name in facts if predicate == "has_brand"} and ("product_type", "洗衣机") not in facts


@pytest.fixture(scope="module")
def learned(rules) -> RuleExtractor:
    """The shipped brands plus brands learned as an extraction learns them."""
    return rules.learn_brands(["樱花（SAKURA）针管笔 0.5mm", "柯达（Kodak）胶卷 36张", "超人（SID）剃须刀", "布朗（Bruno）香薰",
                                "英雄（HERO）钢笔", "老板（ROBAM）油烟机"])


@pytest.mark.parametrize("title, inside", [
    ("卡通鼠标垫 浪漫樱花猫 260x210mm", "樱花"),  # a cat pattern, not Sakura
    ("日系樱花雨系列笔记本", "樱花"),
    ("木质文件架 五层 柯达黄", "柯达"),  # a colour
    ("樱花粉 收纳盒", "樱花"),
    ("王者荣耀鼠标垫 游戏桌垫", "荣耀"),  # a game, not Honor
    ("英雄联盟周边抱枕", "英雄"),
    ("可爱布朗熊钥匙扣", "布朗"),  # a character
    ("一拳超人动漫海报", "超人"),
    ("黑白斑马纹桌布", "斑马"),
    ("实木老板桌 办公桌", "老板"),  # jieba's word: a boss's desk
])
def test_a_brand_inside_a_longer_word_is_no_brand(learned, title, inside):
    assert not [text for text, label in found(learned, title) if text == inside], title


@pytest.mark.parametrize("title, brand", [
    ("华为手机壳 防摔", "华为"),
    ("小米充电器 快充", "小米"),
    ("得力文件架 桌面收纳", "得力"),
    ("樱花针管笔 勾线笔", "樱花"),
    ("柯达胶卷 彩色", "柯达"),
    ("苹果电脑 内胆包", "苹果"),
    ("联想昭阳E53 笔记本电脑", "联想"),
    ("晨光按动中性笔 0.5mm", "晨光"),
])
def test_a_brand_glued_to_a_product_or_a_series_is_still_found(learned, title, brand):
    assert [text for text, label in found(learned, title) if text == brand], title


def test_a_colour_word_or_a_compatibility_phrase_does_not_hide_the_brand(learned):
    assert "华为" in [text for text, _ in found(learned, "安卓耳机 华为白色2条装")]
    assert ("微软", "compatible_brand") in found(learned, "电脑包 适用于微软Surface Pro 4")


@pytest.mark.parametrize("title, kind", [
    ("卡通鼠标垫 超大桌垫", "鼠标垫"),
    ("游戏键盘垫 加厚", "键盘垫"),
    ("学生铅笔盒 多功能", "铅笔盒"),
    ("旋转铅笔刀 削笔器", None),  # no pencil: jieba's word 铅笔刀 goes on after it
    ("光电鼠标 办公", "鼠标"),  # a kind of mouse: the product word ends jieba's word
])
def test_a_product_word_inside_a_longer_one_gives_the_longer_type_or_none(rules, title, kind):
    types = [text for text, label in found(rules, title) if label == "product_type"]
    assert types[:1] == ([kind] if kind else []), title
