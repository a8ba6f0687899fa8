import pytest

from skugraph.facts.build import value_entity
from skugraph.fusion.values import chinese_number, normalize_value, palette_colour
from skugraph.records import PRODUCT, Entity, Fact


@pytest.mark.parametrize(
    ("kind", "spellings", "canonical"),
    [
        ("capacity", ["256G", "256GB", "256 gb", "２５６ＧＢ"], "256GB"),
        ("capacity", ["1T", "1TB", "1024G"], "1TB"),
        ("capacity", ["0.5L", "500ml", "500毫升", ".5升"], "500ml"),
        ("volume", ["1.5L", "1500ml", "1.5升"], "1.5L"),
        ("size", ["15.6英寸", "15.6寸", '15.6"', "15.6 inch"], "15.6英寸"),
        ("size", ["120cm", "1.2米", "1200mm", "1.2m"], "1.2m"),
        ("weight", ["2斤", "1kg", "1000克", "1公斤"], "1kg"),
        ("power", ["1200W", "1.2kW", "1200瓦"], "1.2kW"),
        ("battery", ["两千毫安", "2000mAh", "2000 mah"], "2000mAh"),
        ("capacity", ["12+256G", "12G+256GB", "12gb+256gb"], "12GB+256GB"),
        ("power", ["10-20W", "10~20w", "10W-20W", "10至20瓦"], "10W-20W"),
    ],
)
def test_spellings_of_one_value_meet(kind, spellings, canonical):
    assert {normalize_value(kind, s).canonical for s in spellings} == {canonical}


def test_measures_carry_their_magnitude_in_the_base_unit():
    value = normalize_value("capacity", "0.5L")
    assert (value.family, value.low, value.high, value.unit, value.surface) == ("volume", 500.0, 500.0, "ml", "0.5L")
    span = normalize_value("power", "10-20W")
    assert (span.low, span.high) == (10.0, 20.0)
    assert normalize_value("capacity", "128m").canonical == "128MB"  # m is a megabyte in a capacity…
    assert normalize_value("size", "2m").canonical == "2m"  # …and a metre in a size


@pytest.mark.parametrize(("text", "number"), [("二十五", 25), ("两千", 2000), ("一万二", 12000), ("三百五", 350),
                                              ("一百零八", 108), ("三点五", 3.5), ("十", 10), ("万", 10000)])
def test_chinese_numerals(text, number):
    assert chinese_number(text) == number


def test_not_numbers_stay_text():
    assert chinese_number("黑色") is None
    assert normalize_value("model", "Mate 60").canonical == "mate 60"  # folded, not measured
    assert normalize_value("size", "A4").canonical == "a4"


@pytest.mark.parametrize(("name", "colour"), [("曜石黑", "black"), ("黑色", "black"), ("玫瑰金", "gold"), ("墨绿色", "green"),
                                              ("深空灰", "grey"), ("象牙白", "white"), ("宝石蓝", "blue"), ("Midnight Black", "black"),
                                              ("透明", "transparent"), ("酒红色", "red")])
def test_colours_map_to_the_palette(name, colour):
    assert palette_colour(name) == colour


def test_colour_nodes_keep_their_name_and_carry_the_palette(store):
    product = Entity(PRODUCT, "p1", "手机")
    facts = [Fact(product, "colour", value_entity("colour", "曜石黑"), 0.9),
             Fact(product, "capacity", value_entity("capacity", "256G"), 0.9),
             Fact(Entity(PRODUCT, "p2", "手机"), "capacity", value_entity("capacity", "1T"), 0.9)]
    store.load([], facts)
    assert store.query("MATCH (v:Value {kind: 'colour'}) RETURN v.value, v.canonical").rows == [["曜石黑", "black"]]
    big = store.query("MATCH (p:Product)-[:HAS_VALUE]->(v:Value {kind: 'capacity'}) WHERE v.low >= $gb RETURN p.id, v.value",
                      {"gb": 512.0}).rows
    assert big == [["p2", "1TB"]]
