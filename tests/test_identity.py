"""Identity verdicts on titles modelled on real JD listings (written for these tests): the reason a
pair is kept apart names what changed between the titles."""

import pytest

from skugraph.fusion.identity import identity, read_title, rules_out
from skugraph.fusion.matching import Offer


def _offer(key: str, title: str, **fields: str) -> Offer:
    return Offer(key, (("title", title), *sorted((name, value) for name, value in fields.items() if value)))


def test_a_model_code_after_a_word_is_no_measure():
    """286G2 (after MT) is a model code: only the storage that changed is named."""
    pc = "惠普（HP）台式机 MT 286G2 商用办公电脑整机 单主机 i5 8G {}G 定制"
    verdict = identity(_offer("a", pc.format(256), brand="hp", product_type="台式机"),
                       _offer("b", pc.format(512), brand="hp", product_type="台式机"))
    assert verdict.veto and "256" in verdict.reason and "512" in verdict.reason
    assert "286" not in verdict.reason and " 8 " not in f" {verdict.reason} "


def test_a_capacity_conflict_names_the_capacities_the_titles_changed():
    """The extractor chose 32GB from one title and 512MB from the other; the titles changed 32G to 64G."""
    usb = "投标专用U盘16G/32G 定制刻字 车载礼品128/512MB优盘 金属款红色 USB3.0 {}G"
    verdict = identity(_offer("a", usb.format(32), capacity="32GB", colour="红色"),
                       _offer("b", usb.format(64), capacity="512MB", colour="红色"))
    assert verdict.veto and verdict.reason == "capacity differs: 32GB vs 64GB"


def test_a_replaced_variant_word_is_named_apart_from_a_word_added_before_it():
    """一套 → 二套 in the variant part, and lyq added at the end of the keywords: not 一 vs lyq二."""
    brush = "尼龙水粉水彩油画笔涂鸦补漆颜料画刷幼儿园儿童绘画笔刷{} 5毫米宽"
    verdict = identity(_offer("a", brush.format(" 一套")), _offer("b", brush.format("lyq 二套")))
    assert verdict.veto and verdict.reason.startswith("variant differs: 一 vs 二")
    assert "lyq二" not in verdict.reason


def test_a_case_edited_to_fit_another_phone_is_kept_apart():
    """苹果x → 华为x in a case title that also names iPhone elsewhere: the edited listing fits one
    more brand (the extractor reads apple in both), and must not join the original."""
    case = "ZK iPhonex手机壳金属边框保护壳时尚撞色防摔手机套{}x时尚金属壳 红金 苹果xs"
    original = _offer("a", case.format("苹果"), fits="apple", product_type="保护壳")
    edited = _offer("b", case.format("华为"), fits="apple huawei", product_type="保护壳")
    verdict = identity(original, edited)
    assert verdict.veto and not verdict.same and "huawei" in verdict.reason


def test_a_brand_one_title_names_and_the_other_does_not_is_no_veto():
    """得力 before an otherwise identical title: one listing, not 'one is branded (deli), the other not'."""
    rack = "a4加厚文件架资料架桌面办公室收纳架四联文件框多层简易桌上书架多功能文件栏 四栏文件架蓝色"
    verdict = identity(_offer("a", "得力" + rack, brand="deli", colour="蓝色", product_type="文件架"),
                       _offer("b", rack, colour="蓝色", product_type="文件架"))
    assert verdict.same and not verdict.veto and "得力" in verdict.reason
    # a word read as a brand (樱花 of 樱花雨系列, a pattern) that only one variant names: kept apart by the variant
    clip = "A4文件夹板书夹子考试写字档案试卷资料册学生用写字垫板夹板办公用品书写板夹菜单夹 {}(2个装)双夹"
    verdict = identity(_offer("a", clip.format("樱花雨系列"), brand="sakura", product_type="文件夹"),
                       _offer("b", clip.format(""), product_type="文件夹"))
    assert verdict.veto and verdict.reason == "variant differs: only one says 樱花雨系列"


def test_one_model_code_merges_only_when_both_name_the_brand():
    """Agreeing codes merge whatever the rest of the titles say only under one brand both name."""
    verdict = identity(_offer("a", "飞宇 FY-K52 无线话筒 会议专用 一拖二", brand="feiyu", product_type="话筒"),
                       _offer("b", "FY-K52 专业无线话筒 舞台演出 家用K歌 一拖二", product_type="话筒"))
    assert not verdict.same


def test_two_filler_words_sharing_a_character_are_no_variant():
    """新品 and 正品 differ by one character; both are words a shop adds, so the titles are one
    product, while 新版 and 旧版 (a real variant) stay apart."""
    phone = "华为 mate60 pro 手机 12+512G 雅川青 {}"
    verdict = identity(_offer("a", phone.format("新品"), brand="华为"), _offer("b", phone.format("正品"), brand="华为"))
    assert verdict.same and not verdict.veto and "新品/正品" in verdict.reason
    book = "得力 订书机 12号 {} 蓝色"
    assert identity(_offer("a", book.format("新版"), brand="得力"), _offer("b", book.format("旧版"), brand="得力")).veto


def test_a_stretch_covered_by_several_filler_words_is_no_variant():
    """现货 正品 against 新品: the differing stretch 现货正 / 新 is all filler (现货, 正品 / 新品); 现货速发 and 正品保证 are filler too."""
    heater = "美的（Midea）电热水器 F6030-X1(S) 60升 {}"
    for mine, yours in (("现货 正品", "新品"), ("【现货速发】", ""), ("正品保证", "")):
        verdict = identity(_offer("a", heater.format(mine), brand="midea"), _offer("b", heater.format(yours), brand="midea"))
        assert verdict.same and not verdict.veto, (mine, yours, verdict.reason)


def test_a_season_year_said_by_one_title_only_is_no_model_number():
    """2024新款 (or 新款2024, 2024年新款) on one title only is a shop's season, not a model number that
    one title lacks; two seasons' years that differ (2023款, 2024款) keep the offers apart, and a bare
    2024 without 款 is still a number one title lacks."""
    phone = "华为 mate60 pro 手机 12+512G 雅川青"
    for said in ("2024新款 " + phone, "2024年新款 " + phone, phone + " 新款2024"):
        verdict = identity(_offer("a", phone, brand="华为"), _offer("b", said, brand="华为"))
        assert verdict.same and not verdict.veto, (said, verdict.reason)
    verdict = identity(_offer("a", "2023款 " + phone, brand="华为"), _offer("b", "2024款 " + phone, brand="华为"))
    assert verdict.veto and "2023 vs 2024" in verdict.reason
    assert identity(_offer("a", "联想 ThinkPad 2024 笔记本", brand="联想"), _offer("b", "联想 ThinkPad 笔记本", brand="联想")).veto


@pytest.mark.parametrize(("title", "kind", "value", "ruled_out"), [
    ("联想台式机 E75 原封G3900/4G/500G 主机", "capacity", "1TB", True),  # states its disk (and memory): no 1TB
    ("惠普台式电脑主机 i7 8G 1TB 2G独显", "capacity", "1TB", False),  # states it among others
    ("戴尔台式机 商用办公 主机", "capacity", "1TB", False),  # states none
    ("联想台式机 定制i78G1T+128固态", "capacity", "1TB", False),  # writes 1T, glued to its memory
    ("水暖电热毯 双人 180*200", "size", "80cm", True),
    ("晨光中性笔0.5mm 墨蓝12支", "colour", "黑色", True),  # another colour
    ("晨光中性笔 3黑1红", "colour", "黑色", False),
    ("按动中性笔0.5黑蓝红签字笔医生碳素笔教师专用红笔学生用考试用品 墨蓝24支/0.5mm", "colour", "黑色", True),  # its variant's
    ("双头油性记号笔 24色 盒装", "colour", "黑色", True),  # a set of colours
    ("水彩笔 十二色", "colour", "红色", True),
    ("晨光中性笔 签字笔 12支", "colour", "黑色", False),
    ("华为平板键盘保护套10.1英寸", "compatible_with", "华为", False),  # no measure: its size says nothing of what it fits
    ("华为荣耀10青春版手机壳 蓝牙 金属", "colour", "黑色", False),  # 青春版, 蓝牙 and 金属 name no colour
    ("金属尺子 4件套 银色", "colour", "金色", True),
    ("佳能TS8380 6色墨水 打印机 (红色", "colour", "红色", False),  # the variant says it, whatever the inks
    ("水彩笔 6色可选 深灰", "colour", "灰色", False),  # colours to choose from are no set
    ("笔记本防窥膜 12.5/13.3/15.6英寸", "size", "13.3英寸", False),  # a list that ends with its unit
    ("笔记本防窥膜 12.5/13.3/15.6英寸", "size", "14英寸", True),
    ("YOGA730-13IKB电脑外壳保护贴膜13.3笔记本机身贴纸", "size", "15.6英寸", True),  # a screen's size, bare
    ("正立德a3资料册 韩版资料夹 a3资料册 画册夹 a3文件夹 a3资料夹 20页/40页多色可选 A3 20页湖蓝", "colour", "透明", True),  # variant 湖蓝
    ("透明文件袋 按扣 A4 透明蓝", "colour", "透明", False),
    ("a3资料册 韩版资料夹 20页", "colour", "透明", False),  # no colour named
    ("战神Z7笔记本贴膜电脑保护膜15.6屏幕膜", "size", "15.6英寸", False),
    ("笔记本贴纸 特价 12.5元", "size", "15.6英寸", False),  # a price, no screen
    ("新ipad9.7保护套 硅胶", "size", "10.5英寸", True),
    ("ipad pro 12.9套pro9.7保护套", "size", "9.7英寸", False),
    ("华硕a豆13.3/14破晓7贴纸", "size", "14英寸", False),  # a list: its numbers are no bare screens
    ("IOS9-10.2系统 平板套", "size", "10.1英寸", False),  # a range of versions
    ("Macbook air 13.3 保护壳", "size", "13-14英寸", False),  # within the range
    ("平板套 适用14 售价29.9", "size", "14英寸", False),  # its number written
    ("联想小新 air14寸全套 13.3金属色膜", "size", "14英寸", False),  # 14寸 is 14英寸
    ("闪迪u盘16gusb3.0高速16gu盘加密 官方标配", "capacity", "32GB", True),  # 16g written on into usb and u盘
    ("64gtf卡 行车记录仪 内存卡", "capacity", "64GB", False),
    ("64gtf卡 行车记录仪 内存卡", "capacity", "32GB", True),
    ("蓝牙音箱 标配版+送16GU盘", "capacity", "32GB", False),  # the gift's capacity is not the speaker's
    ("罗马仕充电宝10000毫安 移动电源", "capacity", "20000mAh", True),
    ("荣耀Play 4000毫安大电池 全网通手机", "capacity", "128GB", False),  # a battery's mAh says nothing of the storage
])
def test_a_title_rules_out_a_value_it_contradicts(title, kind, value, ruled_out):
    assert rules_out(title, kind, value) is ruled_out


def test_a_number_before_a_model_code_is_not_read_with_the_unit_after_the_code():
    assert "寸" not in read_title("联想小新 7000 air14寸 笔记本").measures  # 7000, then air14寸: no 7000寸
    assert read_title("闪迪 16gusb3.0 优盘").measures == {"g": frozenset({"16"})}
    assert read_title("6GRAM+128GROM 手机").measures == {"g": frozenset({"6", "128"})}
    assert read_title("罗马仕充电宝20000毫安 移动电源").measures == {"毫安": frozenset({"20000"})}
    # a capacity read apart keeps the title's runs of keywords, and so where its variant starts
    glued, coded = read_title("闪迪u盘16gusb3.0高速加密 黑色"), read_title("闪迪u盘16gxusb3.0高速加密 黑色")
    assert glued.compact[glued.variant_from :] == coded.compact[coded.variant_from :] == "黑色"
