"""Inventory on the graph: stock and demand summed per product over the listings entity
resolution merged, substitutes for what is out that are in stock and fit the same device,
accessories against their devices' sales, slow movers and reallocation hints."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from skugraph import pipeline
from skugraph.apps.inventory import ProductStock, inventory, product_inventory, product_stock
from skugraph.apps.recommend import Recommender, _bare_areas, _far
from skugraph.apps.substitute_model import SubstituteModel, read_judged
from skugraph.cli import app
from skugraph.corpus.ingest import ingest
from skugraph.graph.store import open_store

PERIOD = {"sales_from": "2026-11-01", "sales_to": "2026-11-10"}  # ten days


def _listing(lid: str, title: str, price: float, stock: int | None, sales: int | None, warehouse: str = "华东仓", **more) -> dict:
    return {"id": lid, "title": title, "price": price, "stock": stock, "warehouse": warehouse,
            **({"sales": sales, **PERIOD} if sales is not None else {}), **more}


CATALOGUE = [
    # one phone case: shop-north sells it from two warehouses, out in 华北仓 with plenty in 华东仓; shop-south is out
    _listing("case-a1", "倍思 手机壳 适用于华为Mate60手机 液态硅胶 黑色", 59, 0, 100, "华北仓", source="shop-north"),
    _listing("case-a2", "倍思 手机壳 适用于华为Mate60手机 液态硅胶 黑色", 59, 900, 20, "华东仓", source="shop-north"),
    _listing("case-a3", "倍思 手机壳 适用于华为Mate60手机 液态硅胶 黑色", 59, 0, 50, "华南仓", source="shop-south"),
    # out of stock everywhere, sells well
    _listing("case-b", "绿联 手机壳 适用于华为Mate60手机 液态硅胶 透明", 49, 0, 80),
    # in stock, another brand, fits the same phone: a substitute
    _listing("case-c", "品胜 手机壳 适用于华为Mate60手机 液态硅胶 透明", 55, 300, 30),
    # in stock, the same brand as case-b but for another phone: no substitute
    _listing("case-d", "绿联 手机壳 适用于华为P60手机 液态硅胶 透明", 49, 500, 30),
    # fits the same phone but at ten times the price: outside the price band
    _listing("case-e", "奢华 真皮手机壳 适用于华为Mate60手机 真皮 透明", 499, 50, 5),
    # the phone itself, and a charger for it
    _listing("phone", "华为 Mate60 手机 12+256G 黑色", 5999, 40, 50),
    _listing("charger", "安克 充电器 适用于华为Mate60手机 PC 66W", 129, 200, 25),
    # a colour of kettles that does not sell beside two that do
    _listing("kettle-red", "美的 电水壶 1.7L 红色", 99, 600, 2),
    _listing("kettle-white", "美的 电水壶 1.5L 白色", 99, 40, 40),
    _listing("kettle-grey", "苏泊尔 电水壶 1.5L 灰色", 109, 30, 30),
    # stock and no sales; and neither; a type that sells nothing at all
    _listing("pen", "得力 中性笔 0.5mm 黑色 12支/盒", 19, 70, None),
    _listing("stapler-grey", "得力 重型订书机 灰色", 32, 100, 0),
    _listing("stapler-pink", "得力 迷你订书机 粉色", 9, 50, 0),
    _listing("nothing", "晨光 订书机 12号 蓝色", 12, None, None),
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    work = tmp_path_factory.mktemp("inventory")
    (work / "catalogue.jsonl").write_text("\n".join(json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False)
                                                    for r in CATALOGUE) + "\n", encoding="utf-8")
    ingest([work / "catalogue.jsonl"], work / "listings.jsonl")
    pipeline.extract(work / "listings.jsonl", work / "facts.jsonl")
    pipeline.fuse(work / "listings.jsonl", work / "facts.jsonl", work / "fused.jsonl")
    pipeline.load(work / "graph.lbug", work / "listings.jsonl", work / "fused.jsonl")
    return work / "graph.lbug"


@pytest.fixture(scope="module")
def found(graph):
    with open_store(graph, read_only=True) as store:
        return inventory(store, Recommender.from_store(store), excess_days=60)


def _product_of(graph, listing: str) -> str:
    with open_store(graph, read_only=True) as store:
        return store.query("MATCH (:Listing {id: $id})-[:OFFER_OF]->(p:Product) RETURN p.id", {"id": listing}).rows[0][0]


def test_stock_and_sales_are_summed_over_the_listings_resolution_merged(graph, found):
    product = _product_of(graph, "case-a1")
    assert product == _product_of(graph, "case-a2") == _product_of(graph, "case-a3")  # the same case from two shops: one product
    row = next(p for p in found.per_product if p.id == product)
    assert (row.listings, row.stock) == (3, 900)
    assert row.warehouses == {"shop-north / 华北仓": 0, "shop-north / 华东仓": 900, "shop-south / 华南仓": 0}
    assert ProductStock("p", "", 5, None, 1, {("", ""): 5}).warehouses == {"none named": 5}
    assert row.daily_sales == pytest.approx(17.0) and row.days_of_cover == pytest.approx(900 / 17)  # 170 units over 10 days
    pen = next(p for p in found.per_product if p.id == _product_of(graph, "pen"))
    assert (pen.stock, pen.daily_sales, pen.days_of_cover) == (70, None, None)
    assert _product_of(graph, "nothing") not in {p.id for p in found.per_product}
    assert found.listings == len(CATALOGUE) - 1 and found.stock == sum(r["stock"] or 0 for r in CATALOGUE)
    with open_store(graph, read_only=True) as store:
        assert {p.id: p.stock for p in product_stock(store)} == {p.id: p.stock for p in found.per_product}


def test_a_stock_out_gets_in_stock_substitutes_that_fit_the_same_phone_within_the_price_band(graph, found):
    out = {s.product.id: s for s in found.stock_outs}
    case_b = out[_product_of(graph, "case-b")]
    named = [s.id for s in case_b.substitutes]
    assert _product_of(graph, "case-c") in named  # in stock, fits the Mate60
    assert _product_of(graph, "case-d") not in named  # the P60's
    assert _product_of(graph, "case-e") not in named  # ten times the price
    assert _product_of(graph, "case-a1") in named  # in stock in one warehouse
    for substitute in case_b.substitutes:
        assert substitute.stock > 0 and "mate60" in substitute.reason.lower().replace(" ", "") and "in stock" in substitute.reason
    assert found.out_of_stock == 1 and _product_of(graph, "case-a1") not in out  # out in two warehouses of three is not out


def test_one_products_inventory_agrees_with_the_whole(graph, found):
    with open_store(graph, read_only=True) as store:
        recommender = Recommender.from_store(store)
        case_b = next(s for s in found.to_dict()["stock_outs"] if s["id"] == _product_of(graph, "case-b"))
        alone = product_inventory(store, recommender, case_b["id"])
        assert alone == case_b  # the same stock, places and substitutes
        assert product_inventory(store, recommender, _product_of(graph, "nothing")) is None  # no stock, no sales


def test_accessories_are_counted_against_the_phone_they_fit(graph, found):
    phone = next(d for d in found.accessories if d.device.id == _product_of(graph, "phone"))
    by_id = {a.id: a for a in phone.accessories}
    charger = by_id[_product_of(graph, "charger")]
    assert charger.attach_rate == pytest.approx(25 / 50) and charger.device_days == pytest.approx(200 / 5)
    assert _product_of(graph, "case-d") not in by_id  # fits the P60
    assert {_product_of(graph, "case-b"), _product_of(graph, "case-c")} <= set(by_id)


def test_slow_movers_and_reallocation_hints(graph, found):
    red = [s for s in found.slow_movers if s.value == "红色" and s.type == "电水壶"]
    assert red and red[0].stock == 600 and red[0].days_of_cover == pytest.approx(3000) and not math.isinf(red[0].type_days_of_cover)
    assert not [s for s in found.slow_movers if s.value in ("白色", "灰色")]
    assert not [s for s in found.slow_movers if s.type == "订书机"]  # nothing of the type sells: no value is slower
    moves = [r for r in found.reallocations if r.product == _product_of(graph, "case-a1")]
    # shop-north's 华东仓 keeps 30 days of its own 2 a day; its 华北仓 gets at most 30 days of its 10 a day;
    # shop-south, out too, gets nothing from another shop's warehouse
    assert [(r.shop, r.source, r.target, r.move) for r in moves] == [("shop-north", "华东仓", "华北仓", 300)]


def test_the_inventory_command_prints_it_and_its_json(graph):
    shown = CliRunner().invoke(app, ["inventory", "--db", str(graph), "--excess-days", "60"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert f"{_product_of(graph, 'case-a2')} " in shown.stdout and "300 from 华东仓 to 华北仓" in shown.stdout  # the tables' rows
    assert CliRunner().invoke(app, ["inventory", "--db", str(graph), "--limit", "0"]).exit_code != 0
    data = json.loads(CliRunner().invoke(app, ["inventory", "--db", str(graph), "--json"]).stdout)
    assert data["out_of_stock"] == 1 and data["stock_outs"][0]["substitutes"] and data["summary"].startswith(f"{data['products']} products")
    assert "titles" in data["stock_outs"][0]["substitutes"][0]["reason"]
    # a title floor of 1: only a title exactly alike stands in (品胜's case is not 绿联's word for word)
    strict = json.loads(CliRunner().invoke(app, ["inventory", "--db", str(graph), "--json", "--title-floor", "1"]).stdout)
    assert strict["out_of_stock"] == 1 and strict["stock_outs"][0]["substitutes"] == []
    assert CliRunner().invoke(app, ["inventory", "--db", str(graph), "--title-floor", "2"]).exit_code != 0
    assert CliRunner().invoke(app, ["inventory", "--db", str(graph), "--low-days", "-5"]).exit_code != 0
    every = json.loads(CliRunner().invoke(app, ["inventory", "--db", str(graph), "--json", "--per-product"]).stdout)["per_product"]
    assert len(every) == data["products"] and {p["id"] for p in every} >= {s["id"] for s in data["stock_outs"]}
    assert "per_product" not in data and CliRunner().invoke(app, ["inventory", "--db", str(graph), "--per-product"]).exit_code != 0


def test_the_summary_counts_every_finding_not_only_those_shown(graph, found):
    """A list cut at ``limit`` still counts what was cut: 2 slow movers with one shown."""
    with open_store(graph, read_only=True) as store:
        one = inventory(store, Recommender.from_store(store), limit=1, excess_days=60, low_days=1000)
        with pytest.raises(ValueError, match="0 or more"):
            inventory(store, Recommender.from_store(store), low_days=-1)
    slow = found.slow_movers_total
    assert slow >= 2 and len(one.slow_movers) == 1 and one.slow_movers_total == slow
    assert len(one.low) == 1 and one.low_total >= 2 and f"{one.low_total} (1 shown) under 1000 days of cover" in one.summary()
    assert f"{slow} (1 shown) slow movers" in one.summary() and one.to_dict()["slow_movers_total"] == slow
    assert found.to_dict()["low_total"] == len(found.low) and "shown) under" not in found.summary()


#: a substitute model that refuses a substitute whose title has 品胜 where the stock-out's has not (or the other way)
NOT_PINSHENG = SubstituteModel({"cosine": 0, "d:品胜": 1}, np.array([0.0, -6.0]), 2.0, 0.5)


def test_a_substitute_model_keeps_the_substitutes_it_accepts(graph, found):
    case_b, case_c = _product_of(graph, "case-b"), _product_of(graph, "case-c")
    before = next(s for s in found.stock_outs if s.product.id == case_b).substitutes
    assert case_c in [s.id for s in before] and all(s.probability is None for s in before)
    with open_store(graph, read_only=True) as store:
        recommender = Recommender.from_store(store)
        after = next(s for s in inventory(store, recommender, model=NOT_PINSHENG).stock_outs if s.product.id == case_b).substitutes
        alone = product_inventory(store, recommender, case_b, model=NOT_PINSHENG)
    assert [s.id for s in after] == [s.id for s in before if s.id != case_c]  # accepted alike: the recommender's order
    assert all(s.probability == pytest.approx(0.881) and "accepted with probability 0.88" in s.reason for s in after)
    assert [s["id"] for s in alone["substitutes"]] == [s.id for s in after]


def test_the_inventory_command_writes_substitutes_to_judge_and_takes_a_model(graph, tmp_path):
    out = tmp_path / "substitutes.jsonl"
    done = CliRunner().invoke(app, ["inventory", "--db", str(graph), "--json", "--substitutes-out", str(out)])
    assert done.exit_code == 0, done.output
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["product"] == _product_of(graph, "case-b") and line["accessory"] and len(line["substitutes"]) >= 2
    assert read_judged([out]) == []  # nothing judged yet
    shown = CliRunner().invoke(app, ["inventory", "--db", str(graph), "--substitutes-out", str(out)], env={"COLUMNS": "300"})
    assert f"1 stock-outs with their substitutes → {out}" in shown.stdout
    for substitute in line["substitutes"]:
        substitute["ok"] = "品胜" not in substitute["title"]
    out.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [pair.ok for pair in read_judged([out])] == [s["ok"] for s in line["substitutes"]]
    NOT_PINSHENG.save(tmp_path / "model")
    judged = json.loads(CliRunner().invoke(app, ["inventory", "--db", str(graph), "--json", "--substitute-model", str(tmp_path / "model")]).stdout)
    assert [s["id"] for s in judged["stock_outs"][0]["substitutes"]] == [s["id"] for s in line["substitutes"] if s["ok"]]
    missing = CliRunner().invoke(app, ["inventory", "--db", str(graph), "--substitute-model", str(tmp_path)])
    assert missing.exit_code == 1 and "not a substitute model directory" in missing.output
    both = CliRunner().invoke(app, ["inventory", "--db", str(graph), "--substitute-model", str(tmp_path / "model"),
                                    "--substitutes-out", str(out)])
    assert both.exit_code == 1 and "leave --substitute-model off" in both.output


def test_a_substitute_far_off_in_a_measure_is_none():
    """A 1 m cable is no substitute for a 30 m one (more than twice shorter); a 25 m one is, ranked
    after one that states no length, and says its length differs."""
    kind = ("product_type", "product_type:hdmi线")
    facts = {"cable-30": {kind: 1.0, ("size", "size:30m"): 1.0}, "cable-25": {kind: 1.0, ("size", "size:25m"): 1.0},
             "cable-1": {kind: 1.0, ("size", "size:1m"): 1.0}, "cable": {kind: 1.0}, "kettle": {("product_type", "product_type:电水壶"): 1.0}}
    recommender = Recommender(facts, {"size:30m": "30米", "size:25m": "25米", "size:1m": "1米", "product_type:hdmi线": "HDMI线"})
    found = recommender.substitutes("cable-30")
    assert [s.id for s in found] == ["cable", "cable-25"] and "other size 25米" in found[1].reason


def test_a_power_banks_capacity_in_milliamp_hours_is_a_measure():
    """A 5000 mAh power bank is no substitute for a 20000 mAh one, however written (毫安, mAh)."""
    kind = ("product_type", "product_type:充电宝")
    facts = {"20000": {kind: 1.0, ("capacity", "capacity:20000毫安"): 1.0}, "5000": {kind: 1.0, ("capacity", "capacity:5000毫安"): 1.0},
             "20000-too": {kind: 1.0, ("capacity", "capacity:20000mah"): 1.0}}
    recommender = Recommender(facts, {"capacity:20000毫安": "20000毫安", "capacity:5000毫安": "5000毫安", "capacity:20000mah": "20000mAh"})
    assert recommender.stated_measures("20000") == {"battery": {"20000毫安": 20_000.0}}
    assert [s.id for s in recommender.substitutes("20000")] == ["20000-too"]


def test_another_kind_of_the_product_is_no_substitute():
    """A 家用 vacuum is no substitute for an 工业 one, nor 全自动 for 半自动; a title that names no
    kind of a group is not held to it, one that names several is held to any of them; a kind named
    only in a free gift (送) does not count, nor one inside a word that names none (工业风, 男女款),
    while 工业风扇 is an industrial fan."""
    def substitutes(titles: dict[str, str], product: str, kind: str = "吸尘器") -> set[str]:
        facts = {p: {("product_type", f"product_type:{kind}"): 1.0} for p in titles}
        return {s.id for s in Recommender(facts, titles=titles, title_floor=0).substitutes(product)}

    vacuums = {"industrial": "威德尔 工业吸尘器 大功率 3600W", "household": "欧圣 吸尘器家用强力手持式",
               "both": "吸尘器 家用工业两用 大吸力", "plain": "吸尘器 大吸力 桶式", "gift": "大功率吸尘器 桶式 送家用刷头",
               "style": "工业风 桶式吸尘器"}
    assert substitutes(vacuums, "industrial") == {"both", "plain", "gift", "style"}
    assert substitutes(vacuums, "household") == {"both", "plain", "gift", "style"}
    assert substitutes(vacuums, "plain") == set(vacuums) - {"plain"}
    machines = {"semi": "德龙 半自动咖啡机 家用", "full": "德龙 全自动咖啡机 家用", "semi-too": "意式泵压半自动咖啡机"}
    assert substitutes(machines, "semi", "咖啡机") == {"semi-too"}
    fans = {"industrial": "工业风扇 强力落地扇", "household": "家用落地扇 静音", "industrial-too": "工厂 工业风扇 大功率"}
    assert substitutes(fans, "industrial", "风扇") == {"industrial-too"}
    watches = {"men": "男款 石英手表", "both": "男女款 石英手表", "women": "女款 石英手表"}
    assert substitutes(watches, "men", "手表") == {"both"}
    fridges = {"one": "展示柜 单门 冷藏", "two-three": "展示柜 双门 三门 冷藏", "one-two": "展示柜 单门 双门 冷藏"}
    assert substitutes(fridges, "one", "冰柜") == {"one-two"} and substitutes(fridges, "two-three", "冰柜") == {"one-two"}
    freezers = {"chest": "商用冰柜 岛柜 卧式 冷冻", "upright": "商用冰柜 立式 单门 冷藏", "chest-too": "卧式冷柜 大容量 冷冻"}
    assert substitutes(freezers, "chest", "冰柜") == {"chest-too"} and substitutes(freezers, "upright", "冰柜") == set()
    cables = {"cat6": "六类网线 千兆 10米", "cat5e": "超五类网线 百兆 10米", "cat6a": "超六类网线 万兆", "cat6-too": "cat6 千兆网线",
              "plain": "网线 10米"}
    assert substitutes(cables, "cat6", "网线") == {"cat6-too", "plain"}  # 超六类 is read whole, not as 六类
    cabinets = {"built-in": "嵌入式消毒柜 家用", "standing": "立式消毒柜 双门", "counter": "台式消毒柜 小型", "built-in-too": "消毒碗柜 嵌入式"}
    assert substitutes(cabinets, "built-in", "消毒柜") == {"built-in-too"}  # 立式 and 台式 both stand free
    juicers = {"manual": "手摇榨汁机 橙子压汁器", "electric": "电动榨汁机 便携", "rechargeable": "充电式榨汁杯", "manual-too": "手动榨汁器 家用",
               "automatic": "全自动榨汁机 免手动清洗"}  # 全自动 says no power source, 免手动 no manual one
    assert substitutes(juicers, "manual", "榨汁机") == {"manual-too", "automatic"}
    filters = {"uv": "佳能 UV镜 58mm", "close-up": "近摄镜 微距镜 58mm", "cpl": "CPL偏振镜 58mm", "uv-too": "超薄uv镜 58mm"}
    assert substitutes(filters, "uv", "滤镜") == {"uv-too"}
    cards = {"tf": "金士顿 TF存储卡 128G", "nm": "华为 NM存储卡 128G", "microsd": "闪迪 microSD 128G", "sd": "相机 SD卡 128G",
             "micro-sd": "Micro SD卡 128G 手机"}  # two words, one kind
    assert substitutes(cards, "tf", "存储卡") == {"microsd", "micro-sd"}


def test_a_pack_stands_in_for_a_pack_of_a_near_count():
    """A pack of 5 bags is no substitute for one of 50 (ten times), nor one of 250, one of 30, 100 or 150 is, ranked after
    one of 50; an offer that states no count is not held to one; a single item's substitutes are
    not held to counts (packs rank after single items, as before)."""
    kind = ("product_type", "product_type:文件袋")
    counts = {"p50": "50个", "p50-too": "50个", "p5": "5个", "p30": "30个", "p100": "100个", "p150": "150个", "p250": "250个"}
    facts = {p: {kind: 1.0, ("quantity", f"quantity:{n}"): 1.0} for p, n in counts.items()} | {"plain": {kind: 1.0}}
    recommender = Recommender(facts, title_floor=0)
    found = [s.id for s in recommender.substitutes("p50")]
    assert set(found) == {"p50-too", "p30", "p100", "p150", "plain"} and found[0] == "p50-too"  # 150 is 3 times 50, 250 five
    assert {s.id for s in recommender.substitutes("p5")} == {"plain"}  # 30 is six times 5
    assert "p5" in {s.id for s in recommender.substitutes("plain")}


def test_a_paper_size_stands_in_for_itself_only_and_a_variant_names_the_one_sold():
    """An A4 folder is no substitute for an A3 one, nor a B4 for either (a step apart, though less
    than twice the area); a folder whose title lists A3, A4 and B5 but whose variant is A4 is sold in A4."""
    kind = ("product_type", "product_type:文件夹")
    facts = {"a3": {kind: 1.0, ("size", "size:A3"): 1.0}, "a4": {kind: 1.0, ("size", "size:A4"): 1.0},
             "b4": {kind: 1.0, ("size", "size:B4"): 1.0}, "a3-too": {kind: 1.0, ("specification", "specification:A3"): 1.0},
             "lists-all": {kind: 1.0, ("size", "size:A3"): 1.0, ("size", "size:A4"): 1.0, ("size", "size:B5"): 1.0}}
    titles = {p: "文件夹资料册" for p in facts} | {"lists-all": "文件夹A3资料夹多层A4资料册B5 A4-20页"}
    recommender = Recommender(facts, titles=titles, title_floor=0)
    assert recommender.stated_measures("lists-all") == {"paper": {"a4": 62_500.0}}
    counted = {"lists": {kind: 1.0, ("size", "size:A3"): 1.0, ("size", "size:A4"): 1.0, ("quantity", "quantity:10个"): 1.0}}
    # a variant naming a value of a family the title gives once (10个装) narrows no other: the search goes on to A4
    assert Recommender(counted, titles={"lists": "文件夹 A3 A4 多层 A4 10个装"}).stated_measures("lists")["paper"] == {"a4": 62_500.0}
    # a title of one word: its last bracket is its variant
    one_word = Recommender(counted, titles={"lists": "文件夹A3资料夹多层A4资料册创意10个装【A3加厚】蓝色"})
    assert one_word.stated_measures("lists")["paper"] == {"a3": 125_000.0}
    assert [s.id for s in recommender.substitutes("a3")] == ["a3-too"]  # a specification A3 reads as the size
    assert {s.id for s in recommender.substitutes("a4")} == {"lists-all"}
    assert [s.id for s in recommender.substitutes("b4")] == []  # A4 has 0.71 of its area, A3 1.41 times


def test_sides_are_far_at_twice_the_area():
    kind = ("product_type", "product_type:鼠标垫")
    facts = {"700x300": {kind: 1.0, ("size", "size:700x300mm"): 1.0}, "800x400": {kind: 1.0, ("size", "size:800x400mm"): 1.0},
             "1000x500": {kind: 1.0, ("size", "size:1000x500mm"): 1.0}, "1500x600": {kind: 1.0, ("size", "size:1500x600mm"): 1.0},
             "600x700": {kind: 1.0, ("size", "size:600x700mm"): 1.0}}
    recommender = Recommender(facts, title_floor=0)
    # 800x400 has 1.5 times the area, 600x700 twice; 1000x500 2.4 times (sides 1.4 and 1.7 times as long), 1500x600 4.3 times
    assert {s.id for s in recommender.substitutes("700x300")} == {"800x400", "600x700"}
    assert {s.id for s in recommender.substitutes("1000x500")} == {"800x400", "1500x600", "600x700"}  # 1.6, 1.8 and 1.2 times


def test_sides_written_with_no_unit_are_far_at_twice_the_area_of_others_so_written():
    """A 60*90 whiteboard takes a 70*100 one (1.3 times the area) and a 90*120 one (twice), not a
    100*150 one (2.8 times), which takes the 90*120 (1.4 times), not the 70*100 (2.1 times);
    sides with no unit are not compared with sides with one (whose unit the facts read), nor read
    where the title writes some with a unit, nor a third side or a count after them."""
    board = ("product_type", "product_type:白板")
    titles = {"60x90": "移动白板 60*90双白+支架", "70x100": "移动白板 70*100双白+支架", "100x150": "移动白板 100*150银框双白+支架",
              "90x120": "移动白板 90X120双白+支架",
              "no-unit-read": "移动白板 1000*1500mm 90*60 双白+支架", "third-side": "移动白板 100*150*20 双白+支架",
              "no-sides": "移动白板 双白+支架"}
    recommender = Recommender({product: {board: 1.0} for product in titles}, titles=titles, title_floor=0)
    unread = {"no-unit-read", "third-side", "no-sides"}
    assert {s.id for s in recommender.substitutes("60x90")} == {"70x100", "90x120", *unread}
    assert {s.id for s in recommender.substitutes("100x150")} == {"90x120", *unread}
    assert "100x150" in {s.id for s in recommender.substitutes("no-sides")}
    # a model code, a volume in letters and a resolution's neighbours are no sides; 米白 is a colour, not metres
    assert not _bare_areas("空调遥控器 KS-15X60RD") and not _bare_areas("水彩颜料 12x12ml") and not _bare_areas("i9-9920X 12核")
    assert _bare_areas("白板 60*90 米白色") == {5400.0}
    # a screen resolution is no sides: a 1024*768 projector takes a 1920*1080 one (2.6 times the pixels)
    assert not _bare_areas("投影机 3500流明1024*768 标配") and not _bare_areas("电子相册 1920x1080 8G卡")
    projector = ("product_type", "product_type:投影仪")
    screens = {"xga": "便携投影仪 E520（3600流明 1024*768）", "full-hd": "家用投影仪 1920*1080 高清"}
    shown = Recommender({product: {projector: 1.0} for product in screens}, titles=screens, title_floor=0)
    assert [s.id for s in shown.substitutes("xga")] == ["full-hd"]


def test_an_accessory_sold_by_the_inch_stands_in_within_five_percent_a_device_within_twice():
    """A 15.6" laptop bag (for a Lenovo or an HP) takes a 15" one, not a 14" or 17.3" one; a 6.1"
    phone may take a 6.5" one, ranked after one of its own size."""
    bag, fits = ("product_type", "product_type:电脑包"), {("compatible_with", "lenovo"): 1.0, ("compatible_with", "hp"): 1.0}
    facts = {f"bag-{size}": {bag: 1.0, ("size", f"size:{size}英寸"): 1.0, **fits} for size in ("15.6", "15", "14", "17.3")}
    phone = ("product_type", "product_type:手机")
    facts |= {f"phone-{size}-{n}": {phone: 1.0, ("size", f"size:{size}英寸"): 1.0} for size, n in (("6.1", 1), ("6.1", 2), ("6.5", 1))}
    recommender = Recommender(facts, title_floor=0)
    assert [s.id for s in recommender.substitutes("bag-15.6")] == ["bag-15"]
    assert [s.id for s in recommender.substitutes("phone-6.1-1")] == ["phone-6.1-2", "phone-6.5-1"]


def test_an_accessory_sized_in_millimetres_stands_in_within_five_percent_a_cable_within_twice():
    """A band for a 44 mm Apple Watch takes a 44 mm one, not a 40 mm one; a 1 m cable for an
    iPhone takes a 1.5 m one (a length of 100 mm and more is no size of what it fits)."""
    fits = {("compatible_with", "applewatch4"): 1.0, ("compatible_with", "applewatch5"): 1.0}
    band = ("product_type", "product_type:表带")
    facts = {f"band-{mm}-{n}": {band: 1.0, ("size", f"size:{mm}mm"): 1.0, **fits} for mm, n in (("44", 1), ("44", 2), ("40", 1))}
    cable = ("product_type", "product_type:数据线")
    facts |= {f"cable-{m}": {cable: 1.0, ("specification", f"specification:{m}m"): 1.0, **fits} for m in ("1", "1.5", "3")}
    recommender = Recommender(facts, title_floor=0)
    assert [s.id for s in recommender.substitutes("band-44-1")] == ["band-44-2"]
    assert [s.id for s in recommender.substitutes("cable-1")] == ["cable-1.5"]
    film = ("product_type", "product_type:钢化膜")
    films = {f"film-{mm}": {film: 1.0, ("specification", f"specification:{mm}mm"): 1.0, **fits} for mm in ("0.26", "0.33")}
    assert [s.id for s in Recommender(films, title_floor=0).substitutes("film-0.26")] == ["film-0.33"]  # a thickness
    assert _far([40.0], [44.0, 200.0], "length", accessory=True)  # each pair at its own ratio: 200 mm does not widen 44


def test_a_set_or_pack_ranks_after_single_items_for_a_single_item():
    """A single pen's substitutes rank a 12-pen pack and a 套装 after a single pen, and say so; a
    pack's do not, though one pen is no stand-in for 12 (:data:`PACK_RATIO`); a title offering 单支
    or 12支 with 12支 as its variant is a pack."""
    kind = ("product_type", "product_type:中性笔")
    facts = {"single": {kind: 1.0}, "one": {kind: 1.0, ("quantity", "quantity:1支"): 1.0},
             "twelve": {kind: 1.0, ("quantity", "quantity:12支"): 1.0}, "set": {kind: 1.0, ("form", "form:套装"): 1.0},
             "either": {kind: 1.0, ("quantity", "quantity:1支"): 1.0, ("quantity", "quantity:12支"): 1.0},
             "either-one": {kind: 1.0, ("quantity", "quantity:1支"): 1.0, ("quantity", "quantity:12支"): 1.0},
             "sheets": {kind: 1.0, ("quantity", "quantity:100张"): 1.0}}
    titles = {p: "中性笔" for p in facts} | {"either": "中性笔 单支 12支 黑色 12支", "either-one": "中性笔 单支 12支 黑色 单支"}
    names = {"quantity:1支": "1支", "quantity:12支": "12支", "quantity:100张": "100张", "form:套装": "套装"}
    recommender = Recommender({p: f for p, f in facts.items() if p not in ("either-one", "sheets")}, names, titles, title_floor=0)
    assert [recommender.offers_several(p) for p in ("single", "one", "twelve", "set", "either")] == [False, False, True, True, True]
    assert not Recommender(facts, names, titles).offers_several("either-one")  # its variant, 单支, is one pen
    assert not Recommender(facts, names, titles).offers_several("sheets")  # 100 sheets are what one item holds
    found = recommender.substitutes("single")
    assert found[0].id == "one" and {s.id for s in found[1:]} == {"twelve", "set", "either"}
    assert "a pack or set" in found[1].reason and "a pack or set" not in found[0].reason
    for_a_pack = recommender.substitutes("twelve")
    assert {s.id for s in for_a_pack} == {"single", "set", "either"} and not any("a pack or set" in s.reason for s in for_a_pack)


def test_what_one_item_holds_is_compared_as_a_measure():
    """A set's colours (36色) and pieces (5件套) and a stapler's sheets (120张) say what one item holds:
    no pack, and more than twice as many or as few is no stand-in (12 colours for 36)."""
    pens, staplers = ("product_type", "product_type:水彩笔"), ("product_type", "product_type:订书机")
    facts = {f"pens-{n}": {pens: 1.0, ("quantity", f"quantity:{n}色"): 1.0} for n in (36, 24, 12)}
    facts |= {"pens": {pens: 1.0}, "set-5": {pens: 1.0, ("quantity", "quantity:5件套"): 1.0},
              "set-14": {pens: 1.0, ("quantity", "quantity:14件套"): 1.0}}
    facts |= {f"stapler-{n}": {staplers: 1.0, ("quantity", f"quantity:{n}张"): 1.0} for n in (120, 100, 20)}
    names = {f"quantity:{n}{unit}": f"{n}{unit}" for n, unit in ((36, "色"), (24, "色"), (12, "色"), (5, "件套"), (14, "件套"),
                                                                  (120, "张"), (100, "张"), (20, "张"))}
    recommender = Recommender(facts, names, title_floor=0)
    assert not recommender.offers_several("pens-36")
    assert {s.id for s in recommender.substitutes("pens-36")} == {"pens-24", "pens", "set-5", "set-14"}
    assert "set-14" not in {s.id for s in recommender.substitutes("set-5")}
    assert [s.id for s in recommender.substitutes("stapler-120")] == ["stapler-100"]


def test_a_service_has_no_substitutes():
    """Two repairs of a laptop (换件服务) fix different faults: neither stands in for the other."""
    repair, laptop = ("product_type", "product_type:换件服务"), ("product_type", "product_type:笔记本")
    facts = {"repair-keys": {repair: 1.0}, "repair-sound": {repair: 1.0}, "laptop": {laptop: 1.0}, "laptop-2": {laptop: 1.0}}
    recommender = Recommender(facts, {"product_type:换件服务": "换件服务", "product_type:笔记本": "笔记本"}, title_floor=0)
    assert recommender.substitutes("repair-keys") == [] and [s.id for s in recommender.substitutes("laptop")] == ["laptop-2"]


def test_an_accessory_counts_for_a_device_of_the_brand_it_fits_only():
    """红米13 and 小米13 are both 13 once their brands are left out: a case that says it fits 小米
    is not counted against a 红米 phone."""
    from skugraph.apps.inventory import _accessories

    facts = {"redmi-13": {("has_brand", "redmi"): 1.0, ("model", "model:13"): 1.0, ("product_type", "product_type:手机"): 1.0},
             "mi-13": {("has_brand", "xiaomi"): 1.0, ("model", "model:13"): 1.0, ("product_type", "product_type:手机"): 1.0},
             "mi-case": {("compatible_with", "model:小米13"): 1.0, ("compatible_with", "xiaomi"): 1.0,
                         ("product_type", "product_type:手机壳"): 1.0}}
    recommender = Recommender(facts, {"xiaomi": "小米", "redmi": "红米"})
    stocked = [ProductStock("redmi-13", "", 10, 5.0, 1), ProductStock("mi-13", "", 10, 4.0, 1), ProductStock("mi-case", "", 50, 2.0, 1)]
    found = _accessories(stocked, {p.id: p for p in stocked}, recommender, {"小米": frozenset({"xiaomi"}), "红米": frozenset({"redmi"})}, 5)
    assert {d.device.id: [a.id for a in d.accessories] for d in found} == {"mi-13": ["mi-case"]}


def test_a_device_is_one_whose_type_the_title_of_an_accessory_names():
    """A Samsung keyboard whose title names the S10 it is for is no device for the S10's cases
    (they name a 手机, not a 键盘); a D500 camera (单反相机) is one for a grip that names 单反, a
    type of its own, while 蓝牙 in a title names no 蓝牙耳机."""
    from skugraph.apps.inventory import _accessories

    def device(model: str, kind: str) -> dict:
        return {("has_brand", "samsung" if "s10" in model else "nikon"): 1.0, ("model", f"model:{model}"): 1.0,
                ("product_type", f"product_type:{kind}"): 1.0}

    facts = {"keyboard": device("s10", "键盘"), "earphone": device("s10", "蓝牙耳机"), "phone": device("s10", "手机"),
             "camera": device("d500", "单反相机"), "other-camera": {("product_type", "product_type:单反"): 1.0},
             "case": {("compatible_with", "model:三星s10"): 1.0, ("product_type", "product_type:手机壳"): 1.0},
             "bt-case": {("compatible_with", "model:三星s10"): 1.0, ("product_type", "product_type:保护套"): 1.0},
             "grip": {("compatible_with", "model:尼康d500"): 1.0, ("product_type", "product_type:手柄"): 1.0},
             "headset": device("pico4", "vr眼镜"),  # a type is named folded: VR眼镜 in a title
             "strap": {("compatible_with", "model:pico4"): 1.0, ("product_type", "product_type:头带"): 1.0}}
    titles = {"case": "三星S10手机壳 硅胶", "bt-case": "三星s10 蓝牙智能保护套", "grip": "尼康D500单反手柄 MB-D17",
              "keyboard": "三星S10 蓝牙键盘", "earphone": "蓝牙耳机 三星S10", "phone": "三星 Galaxy S10 手机", "camera": "尼康 D500 单反相机",
              "strap": "Pico4 VR眼镜头带", "headset": "Pico4 VR眼镜"}
    recommender = Recommender(facts, {"samsung": "三星", "nikon": "尼康"}, titles=titles)
    stocked = [ProductStock(product, titles.get(product, ""), 10, 5.0, 1) for product in facts]
    found = _accessories(stocked, {p.id: p for p in stocked}, recommender, {"三星": frozenset({"samsung"}), "尼康": frozenset({"nikon"})}, 10)
    assert {d.device.id: [a.id for a in d.accessories] for d in found} == {"phone": ["bt-case", "case"], "camera": ["grip"],
                                                                         "headset": ["strap"]}


def test_a_case_naming_the_phone_as_its_own_model_and_a_device_of_another_maker_get_no_accessories():
    """Titles name the phone a case is for as if it were the case's own model (``MATE20PRO防摔后壳``),
    and a microphone's sound card may be an ``S10``: a product of a type of accessory is no device,
    and an accessory for a model that names its maker (三星S10) counts only for a device of that maker."""
    from skugraph.apps.inventory import _accessories

    def case(model: str, *, own: str = "", kind: str = "手机壳") -> dict:
        return {("product_type", f"product_type:{kind}"): 1.0,
                **({("model", own): 1.0, ("has_brand", "samsung"): 1.0} if own else {("compatible_with", model): 1.0})}

    facts = {"s10-phone": {("has_brand", "samsung"): 1.0, ("model", "model:s10"): 1.0, ("product_type", "product_type:手机"): 1.0},
             "p20-phone": {("model", "model:华为p20"): 1.0, ("product_type", "product_type:手机"): 1.0},
             "microphone": {("model", "model:s10"): 1.0, ("product_type", "product_type:麦克风"): 1.0},
             "earphone": {("has_brand", "honor"): 1.0, ("model", "model:p20"): 1.0, ("product_type", "product_type:蓝牙耳机"): 1.0},
             "s10-case": case("model:三星s10"), "p20-case": case("model:华为p20"), "x-case": case("model:vivox27"),
             "y-case": case("model:vivoy7"), "a-case": case("model:oppoa5"), "case-of-its-own": case("", own="model:s10"),
             "s10-film": case("model:三星s10", kind="钢化膜")}
    recommender = Recommender(facts, {"samsung": "三星", "huawei": "华为", "honor": "荣耀"})
    assert "product_type:手机壳" in recommender.fitted_types
    stocked = [ProductStock(product, "", 10, 5.0, 1) for product in facts]
    forms = {form: frozenset({brand}) for form, brand in (("三星", "samsung"), ("samsung", "samsung"), ("华为", "huawei"),
                                                          ("荣耀", "honor"), ("vivo", "vivo"), ("oppo", "oppo"))}
    found = _accessories(stocked, {p.id: p for p in stocked}, recommender, forms, 10)
    # the P20 phone's maker is named by its own model (华为p20); the earphone is 荣耀's, the microphone no maker's
    assert {d.device.id: [a.id for a in d.accessories] for d in found} == {"s10-phone": ["s10-case", "s10-film"], "p20-phone": ["p20-case"]}
