import pytest
import yaml

from skugraph.facts.build import value_entity
from skugraph.facts.values import TABLES, chinese_number, crosses_family, family_of, normalize_value, palette_colour
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
        ("capacity", ["20000毫安", "20000mAh", "20000毫安时"], "20000mAh"),  # a power bank's capacity
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
    assert normalize_value("colour", "A4").canonical == "a4"
    assert normalize_value("model", "a5").canonical == "a5" and normalize_value("model", "a5").family == ""  # OPPO A5
    assert normalize_value("quantity", "支架").family == "" and normalize_value("size", "a55").family == ""


def test_paper_sizes_are_sizes_of_their_own_family_keyed_by_area():
    a4, a5, b5 = (normalize_value("size", text) for text in ("a4", "A5", "b5"))
    assert (a4.canonical, a4.family, a4.low) == ("A4", "paper", 62_500.0)
    assert a4.low == 2 * a5.low and a5.low < b5.low < a4.low  # B5 lies between A5 and A4
    assert normalize_value("specification", "A3").canonical == "A3"  # as the JD data labels it


def test_the_sides_of_a_thing_are_one_value_however_written_and_measure_its_area_or_volume():
    pad, same, big, box = (normalize_value("size", text) for text in ("700x300mm", "30*70cm", "1200X600mm", "30x20x10cm"))
    assert (pad.canonical, pad.family, pad.low) == ("300x700mm", "area", 210_000.0) and same.canonical == pad.canonical
    assert big.canonical == "600x1200mm" and big.low / pad.low > 3 and (box.canonical, box.family, box.low) == ("100x200x300mm", "bulk", 6e6)
    assert normalize_value("size", "1.5*0.8").family == ""  # no unit: no measure


@pytest.mark.parametrize(("kind", "written", "canonical", "family", "count"),
                         [("quantity", "36支装", "36支", "count:支", 36), ("quantity", "两个装", "2个", "count:个", 2),
                          ("quantity", "单支", "1支", "count:支", 1), ("quantity", "3件套", "3件套", "count:件套", 3),
                          ("specification", "100张", "100张", "count:张", 100), ("quantity", "36色", "36色", "count:色", 36)])
def test_a_count_of_items_keeps_its_classifier_as_its_family(kind, written, canonical, family, count):
    value = normalize_value(kind, written)
    assert (value.canonical, value.family, value.low) == (canonical, family, count)


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


TABLE = yaml.safe_load(TABLES.read_text(encoding="utf-8"))
SPELLINGS = [(family, unit, str(word), spec["factors"][unit])
             for family, spec in TABLE["units"].items() for unit, words in spec["spellings"].items() for word in words]
FAMILIES_OF = {}
for _family, _, _word, _ in SPELLINGS:
    FAMILIES_OF.setdefault(_word.lower(), set()).add(_family)


@pytest.mark.parametrize(("family", "unit", "word", "factor"), SPELLINGS, ids=[f"{f}:{w}" for f, _, w, _ in SPELLINGS])
def test_every_unit_spelling_reads_in_its_own_family_and_round_trips(family, unit, word, factor):
    kinds = [kind for kind, families in TABLE["kinds"].items() if family in families]
    assert kinds, f"no attribute kind reads {family}"
    for kind in kinds:
        for surface in {f"3{word}", f"3 {word.upper()}"}:
            value = normalize_value(kind, surface)
            assert (value.family, value.low) == (family, pytest.approx(3 * factor)), (kind, surface, value)
            assert family_of(kind, value.canonical) == family and not crosses_family(kind, surface, value.canonical)
            again = normalize_value(kind, value.canonical)  # the graph loader reads the canonical again (2 decimals)
            assert again.canonical == value.canonical and again.low == pytest.approx(value.low, rel=0.01), surface


@pytest.mark.parametrize(("family", "word"), [(f, w) for f, _, w, _ in SPELLINGS],
                         ids=[f"{f}:{w}" for f, _, w, _ in SPELLINGS])
def test_a_kind_that_allows_every_family_reads_an_ambiguous_spelling_only_as_the_tables_say(family, word):
    families = FAMILIES_OF[word.lower()]
    for unit in {word, word.upper()}:
        value = normalize_value("specification", f"3{unit}")  # a kind the tables do not restrict
        if len(families) == 1:
            assert value.family == family
        elif unit in TABLE["written_as"]:  # 1m is a metre
            assert value.family == TABLE["written_as"][unit]
        else:  # 3M, 3G, 3g: megabytes or metres, gigabytes or grams? kept as written, case too
            assert (value.family, value.canonical) == ("", f"3{unit}")
        assert not crosses_family("specification", f"3{unit}", value.canonical)
        again = normalize_value("specification", value.canonical)  # 3克 → 3g, then kept as written: never grams → GB
        assert again.canonical == value.canonical and again.family in (value.family, "")


def test_display_units_tell_their_family():
    shown = [(unit, family) for family, spec in TABLE["units"].items() for _, unit in spec["display"]]
    assert len({unit for unit, _ in shown}) == len(shown), "a display unit shared by two families"
    for unit, family in shown:
        assert unit.lower() in {w.lower() for f, _, w, _ in SPELLINGS if f == family}


@pytest.mark.parametrize(
    ("kind", "surface", "canonical", "family"),
    [
        ("size", "1m", "1m", "length"),  # a cable's length is no megabyte
        ("specification", "1m", "1m", "length"),
        ("specification", "2m", "2m", "length"),
        ("size", "1.5米", "1.5m", "length"),
        ("specification", "1.5米", "1.5m", "length"),
        ("specification", "5G", "5G", ""),  # a 5G network: neither 5GB nor five grams
        ("feature", "5G", "5G", ""),
        ("capacity", "1T", "1TB", "storage"),
        ("specification", "1T", "1TB", "storage"),
        ("capacity", "256G", "256GB", "storage"),
        ("specification", "256G", "256G", ""),
        ("capacity", "128M", "128MB", "storage"),
        ("specification", "128M", "128M", ""),
        ("capacity", "500ml", "500ml", "volume"),
        ("specification", "500ml", "500ml", "volume"),
        ("weight", "2kg", "2kg", "weight"),
        ("weight", "500g", "500g", "weight"),
        ("specification", "300g", "300g", ""),  # 300g paper, or a 300g card? kept
        ("specification", "300克", "300g", "weight"),
        ("power", "65W", "65W", "power"),
        ("specification", "32K", "32k", ""),  # paper format, not kilobytes
    ],
)
def test_unit_families_never_cross(kind, surface, canonical, family):
    value = normalize_value(kind, surface)
    assert (value.canonical, value.family) == (canonical, family)
    assert not crosses_family(kind, surface, value.canonical)
    again = normalize_value(kind, value.canonical)  # as the graph loader reads it
    assert again.canonical == canonical and again.family in (family, "")


def test_crossing_is_seen():
    assert crosses_family("specification", "1m", "1MB")  # what the normaliser did before
    assert crosses_family("specification", "128M", "128MB")  # the kind does not say megabytes
    assert crosses_family("size", "2m", "2MB")
    assert not crosses_family("capacity", "128m", "128MB")
    assert not crosses_family("model", "Mate 60", "mate 60")
    assert [family_of(kind, "2m") for kind in ("capacity", "size", "specification")] == ["storage", "length", "length"]
    assert family_of("specification", "2M") is None
