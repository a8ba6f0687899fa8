from skugraph.fusion.brands import mine_aliases, name_key, pattern_weight


def titles(*texts_and_brands):
    out = []
    for text, brands in texts_and_brands:
        spans, at = [], 0
        for brand in brands:
            start = text.index(brand, at)
            at = start + len(brand)
            spans.append((start, at))
        out.append((text, spans))
    return out


def test_title_patterns_weigh_the_evidence():
    assert pattern_weight("美的", "（", "Midea") == pattern_weight("midea", "/", "美的") == 0.9
    assert pattern_weight("adidas", "", "阿迪达斯") == 0.5  # two scripts side by side
    assert pattern_weight("中国联通", "", "电信") == 0.0  # one script: two brands
    assert pattern_weight("Midea", "）", "小天鹅") == 0.0


def test_aliases_cluster_and_chains_between_brands_are_refused():
    aliases = mine_aliases(titles(
        ("美的（Midea）小天鹅（LittleSwan）洗衣机", ["美的", "Midea", "小天鹅", "LittleSwan"]),
        ("MIDEA/美的 电饭煲", ["MIDEA", "美的"]),
        ("TP-LINK 普联 路由器", ["TP-LINK", "普联"]),
        ("普联（TPLINK）交换机", ["普联", "TPLINK"]),
        ("中国联通电信 手机卡", ["中国联通", "电信"]),
    ))
    assert aliases.same("美的", "midea") and aliases.same("Midea", "ＭＩＤＥＡ")
    assert not aliases.same("美的", "小天鹅") and aliases.same("小天鹅", "LittleSwan")
    assert aliases.same("TP-LINK", "普联") and name_key("TP-LINK") == name_key("tplink")
    assert not aliases.same("中国联通", "电信")
    assert aliases.canonical("Midea") == "美的" and aliases.canonical("unknown") == "unknown"


def test_threshold_trades_recall_for_precision():
    data = titles(("adidas阿迪达斯 运动鞋", ["adidas", "阿迪达斯"]))
    assert mine_aliases(data, threshold=0.5).same("adidas", "阿迪达斯")
    assert not mine_aliases(data, threshold=0.75).same("adidas", "阿迪达斯")  # one weak piece is not enough
    assert mine_aliases(data * 2, threshold=0.75).same("adidas", "阿迪达斯")


def test_two_latin_names_join_when_they_spell_one_brand():
    aliases = mine_aliases(titles(
        ("喜莱盛（Xnesen）冰柜", ["喜莱盛", "Xnesen"]),
        ("喜莱盛（xenese)工作台", ["喜莱盛", "xenese"]),
        ("new balance/nb 跑鞋", ["new balance", "nb"]),
        ("华为（HUAWEI）手机", ["华为", "HUAWEI"]),
        ("荣耀（honor）手机", ["荣耀", "honor"]),
        ("华为荣耀 手机壳", ["华为", "荣耀"]),
    ))
    assert aliases.same("Xnesen", "xenese") and aliases.same("new balance", "nb")
    assert not aliases.same("华为", "荣耀")  # one script side by side is no evidence, and both have Latin names
