"""Generate the sample catalogue that ships with skugraph (``catalogue.jsonl`` beside this file).

Every listing is made here from templates written for skugraph: no record comes
from any public data set. The same product is often listed by two or three shops
under different titles, as in real catalogues. Output is deterministic for a seed:

    python -m skugraph.sample.generate [--seed 7] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from skugraph.corpus.ner import locate_spans

CATALOGUE = Path(__file__).with_name("catalogue.jsonl")
LABELS = Path(__file__).with_name("catalogue.labels.jsonl")  # entity labels of the titles
SOURCES = ("shop-north", "shop-south", "global-store")
#: warehouses by currency: where a listing's stock is held
WAREHOUSES = {"CNY": ("华东仓", "华北仓", "华南仓"), "USD": ("US-East", "US-West")}
#: units sold a day, low to high, by kind of product
DAILY_SALES = {"phone": (1, 8), "accessory": (4, 30), "laptop": (0.5, 4), "appliance": (0.3, 3), "stationery": (5, 40),
               "beauty": (2, 15), "clothes": (1, 12), "bottle": (2, 10), "en": (1, 10)}
#: the sales period every sample listing reports
SALES_FROM, SALES_TO = "2026-11-01", "2026-11-30"

PHONES = [
    ("华为", "HUAWEI", ["Mate 60", "Pura 70", "nova 12"]),
    ("小米", "Xiaomi", ["14 Pro", "Civi 4", "13 Ultra"]),
    ("苹果", "Apple", ["iPhone 15", "iPhone 15 Pro Max", "iPhone 14"]),
    ("荣耀", "HONOR", ["Magic6", "X50", "90 GT"]),
    ("OPPO", "OPPO", ["Find X7", "Reno11"]),
    ("vivo", "vivo", ["X100", "S18"]),
]
PHONE_COLOURS = ["黑色", "白色", "雅川青", "曜石黑", "深空灰", "蓝色", "紫色", "珍珠白"]
ACCESSORY_BRANDS = [("绿联", "UGREEN"), ("倍思", "Baseus"), ("安克", "Anker"), ("品胜", "PISEN")]
LAPTOPS = [
    ("联想", "Lenovo", ["ThinkPad X1", "小新Pro14", "拯救者Y9000P"]),
    ("戴尔", "DELL", ["XPS13", "灵越14"]),
    ("惠普", "HP", ["战66", "暗影精灵10"]),
    ("华硕", "ASUS", ["天选5", "灵耀14"]),
]
APPLIANCES = [
    # (brand CN, brand EN, product type, sizes, powers, materials)
    ("美的", "Midea", "电热水器", ["50L", "60L", "80L"], ["2100W", "3000W"], ["搪瓷内胆"]),
    ("海尔", "Haier", "电热水器", ["60L", "80L"], ["2200W", "3300W"], ["金刚三层胆"]),
    ("万和", "Vanward", "燃气热水器", ["13L", "16L"], ["30W"], ["无氧铜水箱"]),
    ("诺芝", "NOZI", "太阳能热水器", ["150L", "200L"], ["1500W"], ["304不锈钢水箱"]),
    ("九阳", "Joyoung", "电饭煲", ["3L", "4L", "5L"], ["800W", "1000W"], ["陶瓷内胆"]),
    ("苏泊尔", "SUPOR", "电水壶", ["1.5L", "1.7L"], ["1800W"], ["304不锈钢"]),
    ("小熊", "Bear", "空气炸锅", ["4L", "5L"], ["1350W"], ["不粘涂层"]),
    ("莱克斯", "LEKES", "吸尘器", ["0.6L"], ["450W"], ["铝合金"]),
]
STATIONERY = [
    ("得力", "deli", "中性笔", ["0.5mm", "0.38mm"], ["黑色", "蓝色", "红色"]),
    ("晨光", "M&G", "中性笔", ["0.5mm", "0.7mm"], ["黑色", "蓝色"]),
    ("齐心", "Comix", "文件夹", ["A4"], ["蓝色", "透明"]),
    ("百乐", "PILOT", "钢笔", ["0.5mm"], ["黑色", "酒红色"]),
]
BEAUTY = [
    ("欧莱雅", "L'OREAL", "面霜", ["50ml"]),
    ("兰蔻", "Lancome", "精华液", ["30ml", "50ml"]),
    ("资生堂", "SHISEIDO", "洗面奶", ["120g"]),
    ("玉兰油", "OLAY", "面霜", ["50g"]),
    ("青禾", "QINGHE", "洗发水", ["500ml", "750ml"]),
]
CLOTHES = [
    ("优衣库", "UNIQLO", "T恤", ["纯棉"], ["白色", "黑色", "藏青色"]),
    ("李宁", "LI-NING", "运动鞋", ["网布"], ["白色", "黑色", "灰色"]),
    ("安踏", "ANTA", "卫衣", ["纯棉"], ["灰色", "卡其色"]),
    ("耐克", "NIKE", "跑步鞋", ["网布"], ["黑色", "白色"]),
]
BOTTLES = [
    ("膳魔师", "THERMOS", ["500ml", "350ml"], ["316不锈钢", "304不锈钢"]),
    ("虎牌", "TIGER", ["480ml"], ["不锈钢"]),
    ("象印", "ZOJIRUSHI", ["360ml", "600ml"], ["不锈钢"]),
    ("乐扣乐扣", "LOCK&LOCK", ["450ml"], ["304不锈钢"]),
]

#: review text, rating, and its (aspect or "_", opinion, category, polarity) tuples, written by us
REVIEWS = {
    "phone": [
        ("屏幕很清晰，拍照效果好，电池续航也不错", 5,
         [("屏幕", "很清晰", "外观", "正面"), ("拍照效果", "好", "功能", "正面"), ("电池续航", "不错", "续航", "正面")]),
        ("运行流畅，物流很快，包装完好", 5, [("运行", "流畅", "性能", "正面"), ("物流", "很快", "物流", "正面"), ("包装", "完好", "包装", "正面")]),
        ("手感一般，有点发热，续航还行", 3, [("手感", "一般", "使用体验", "中性"), ("_", "有点发热", "性能", "负面"), ("续航", "还行", "续航", "中性")]),
        ("信号不太好，客服态度差", 2, [("信号", "不太好", "性能", "负面"), ("客服态度", "差", "服务", "负面")]),
        ("性价比高，系统好用", 4, [("性价比", "高", "价格", "正面"), ("系统", "好用", "功能", "正面")]),
    ],
    "accessory": [
        ("做工不错，贴合度很好，手感舒服", 5, [("做工", "不错", "质量", "正面"), ("贴合度", "很好", "尺寸", "正面"), ("手感", "舒服", "使用体验", "正面")]),
        ("充电速度快，发热不明显", 5, [("充电速度", "快", "性能", "正面"), ("发热", "不明显", "性能", "正面")]),
        ("用了一周就发黄了，质量一般", 2, [("_", "发黄了", "质量", "负面"), ("质量", "一般", "质量", "负面")]),
        ("尺寸刚好，按键灵敏", 4, [("尺寸", "刚好", "尺寸", "正面"), ("按键", "灵敏", "功能", "正面")]),
    ],
    "laptop": [
        ("轻薄便携，屏幕素质高，办公很流畅", 5, [("_", "轻薄便携", "外观", "正面"), ("屏幕素质", "高", "外观", "正面"), ("办公", "很流畅", "性能", "正面")]),
        ("散热一般，风扇有点吵", 3, [("散热", "一般", "性能", "中性"), ("风扇", "有点吵", "使用体验", "负面")]),
        ("键盘手感好，续航能撑一天", 4, [("键盘手感", "好", "使用体验", "正面"), ("续航", "能撑一天", "续航", "正面")]),
        ("到手有坏点，售后处理慢", 1, [("_", "有坏点", "质量", "负面"), ("售后", "处理慢", "服务", "负面")]),
    ],
    "appliance": [
        ("加热很快，安装师傅很专业", 5, [("加热", "很快", "性能", "正面"), ("安装师傅", "很专业", "服务", "正面")]),
        ("外观好看，操作简单，就是声音有点大", 4, [("外观", "好看", "外观", "正面"), ("操作", "简单", "使用体验", "正面"), ("声音", "有点大", "使用体验", "负面")]),
        ("用了两个月就漏水了，很失望", 1, [("_", "漏水了", "质量", "负面"), ("_", "很失望", "整体", "负面")]),
        ("省电，保温效果好", 5, [("_", "省电", "性能", "正面"), ("保温效果", "好", "功能", "正面")]),
    ],
    "stationery": [
        ("书写顺滑，不断墨", 5, [("书写", "顺滑", "使用体验", "正面"), ("_", "不断墨", "质量", "正面")]),
        ("出墨不均匀，有点刮纸", 2, [("出墨", "不均匀", "质量", "负面"), ("_", "有点刮纸", "使用体验", "负面")]),
        ("学生用很合适，价格实惠", 4, [("_", "很合适", "整体", "正面"), ("价格", "实惠", "价格", "正面")]),
    ],
    "beauty": [
        ("很滋润，味道淡淡的很好闻", 5, [("_", "很滋润", "功效", "正面"), ("味道", "淡淡的", "气味", "正面"), ("味道", "很好闻", "气味", "正面")]),
        ("用了有点过敏，退货了", 1, [("_", "有点过敏", "功效", "负面")]),
        ("吸收快，不油腻，回购", 5, [("吸收", "快", "使用体验", "正面"), ("_", "不油腻", "使用体验", "正面"), ("_", "回购", "整体", "正面")]),
    ],
    "clothes": [
        ("面料舒服，尺码标准", 5, [("面料", "舒服", "质量", "正面"), ("尺码", "标准", "尺寸", "正面")]),
        ("洗了一次就缩水了", 2, [("_", "缩水了", "质量", "负面")]),
        ("颜色和图片一样，很满意", 4, [("颜色", "和图片一样", "外观", "正面"), ("_", "很满意", "整体", "正面")]),
    ],
    "bottle": [
        ("保温效果很好，一天都是热的", 5, [("保温效果", "很好", "功能", "正面")]),
        ("杯盖有点漏水", 2, [("杯盖", "有点漏水", "质量", "负面")]),
        ("颜值高，容量刚好", 4, [("颜值", "高", "外观", "正面"), ("容量", "刚好", "尺寸", "正面")]),
    ],
    "en": [
        ("Works great, charges fast and feels solid.", 5, []),
        ("Good value for the price, shipping was quick.", 4, []),
        ("Stopped working after two weeks, disappointed.", 1, []),
        ("Exactly as described, would buy again.", 5, []),
    ],
}


def sample_opinions() -> list:
    """The sample reviews with their opinion tuples (Chinese ones; offsets found in the text)."""
    from skugraph.facts.opinions import Opinion, OpinionText

    def span(text: str, term: str, after: int = 0) -> tuple[int, int] | None:
        if term == "_":
            return None
        start = text.index(term, after)
        return (start, start + len(term))

    out = []
    for kind, reviews in REVIEWS.items():
        for number, (text, _, tuples) in enumerate(reviews):
            if tuples:
                opinions = []
                for aspect, opinion, category, polarity in tuples:
                    found = span(text, opinion)
                    opinions.append(Opinion(span(text, aspect), found, category, polarity))
                out.append(OpinionText(f"{kind}-{number}", text, tuple(opinions)))
    return out


def sample_sentiments() -> list[tuple[str, str]]:
    """(review, sentiment) of every sample review: 4–5 stars positive, 1–2 negative, 3 neutral."""
    return [(text, "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral")
            for reviews in REVIEWS.values() for text, rating, _ in reviews]


def stock_fields(rng: random.Random, daily: tuple[float, float], warehouses: Sequence[str]) -> dict:
    """Plausible stock and sales for a listing: 30 days of sales around a daily rate drawn from
    ``daily``, and stock for 0 of those days (one listing in eight), a few, a month or two, or
    many months, in one of ``warehouses``."""
    low, high = daily
    sold = round(30 * rng.uniform(low, high) * rng.choice([0.1, 0.5, 1.0, 1.0, 1.5]))
    cover = rng.choices([0, rng.uniform(1, 7), rng.uniform(10, 60), rng.uniform(120, 300)], weights=[1, 1.5, 4, 1.5])[0]
    return {"stock": round(sold / 30 * cover), "sales": sold, "sales_from": SALES_FROM, "sales_to": SALES_TO,
            "warehouse": rng.choice(warehouses)}


def label_title(title: str, parts) -> list[list]:
    """[start, end, label] of each known part of a title: the generator knows what it wrote,
    so these labels are exact."""
    return [[span.start, span.end, span.label] for span in locate_spans(title, parts)]


class _Writer:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.stock_rng = random.Random(seed + 1)  # its own draws: the listings' text stays as the seed made it
        self.records: list[dict] = []
        self.labels: list[dict] = []
        self.start = datetime(2026, 6, 1, tzinfo=UTC)

    def brand(self, cn: str, en: str) -> str:
        """The brand as shops write it: 华为（HUAWEI）, HUAWEI/华为, or one script alone."""
        return self.rng.choice([f"{cn}（{en}）", f"{en}/{cn}", cn, f"{cn}({en})", cn])

    def reviews(self, kind: str) -> list[dict]:
        picks = self.rng.sample(REVIEWS[kind], k=self.rng.randint(0, min(3, len(REVIEWS[kind]))))
        return [{"text": text, "rating": rating} for text, rating, _ in picks]

    def add(self, title: str, description: str, category: str, price: float, kind: str, currency: str = "CNY", parts=(),
            product: str | None = None):
        """One listing; ``product`` names the product it offers (default: a product of its own)."""
        number = len(self.records) + 1
        self.labels.append({"id": f"sku-{number:04d}", "text": title, "label": label_title(title, parts),
                            "product": product or f"product-{number:04d}"})
        moment = self.start + timedelta(hours=7 * number + self.rng.randint(0, 6))
        self.records.append(
            {
                "id": f"sku-{number:04d}",
                "title": title,
                "description": description,
                "reviews": self.reviews(kind),
                "category": category,
                "price": round(price, 2),
                "currency": currency,
                "source": self.rng.choice(SOURCES),
                "updated_at": moment.isoformat().replace("+00:00", "Z"),
                **self.stock(kind, currency),
            }
        )

    def stock(self, kind: str, currency: str) -> dict:
        return stock_fields(self.stock_rng, DAILY_SALES[kind], WAREHOUSES.get(currency, WAREHOUSES["CNY"]))

    def variants(self, make, count: int) -> None:
        """Add one product as ``count`` listings (the same product in different shops)."""
        product = f"product-{len(self.records) + 1:04d}"
        for i in range(count):
            self.add(*make(i), product=product)


def _phones(w: _Writer) -> None:
    for cn, en, models in PHONES:
        for model in models:
            colour = w.rng.choice(PHONE_COLOURS)
            storage = w.rng.choice(["8+256G", "12+256G", "12+512G", "256GB"])
            size = w.rng.choice(["6.1英寸", "6.7英寸", "6.8英寸"])
            price = w.rng.uniform(2999, 8999)

            def make(i: int, cn=cn, en=en, model=model, colour=colour, storage=storage, size=size, price=price):
                title = [
                    f"{w.brand(cn, en)} {model} {storage} {colour} 5G手机 {size}",
                    f"{cn} {model} 智能手机 {colour} {storage} 全网通",
                    f"【官方正品】{en} {model} {storage} {colour}",
                ][i]
                desc = f"品牌：{cn}；型号：{model}；机身颜色：{colour}；存储：{storage}；屏幕尺寸：{size}。支持5G网络。"
                parts = [("brand", cn), ("brand", en), ("model", model), ("capacity", storage), ("colour", colour), ("size", size), ("product_type", "手机")]
                return title, desc, "手机通讯 > 手机", price + 10 * i, "phone", "CNY", parts

            w.variants(make, w.rng.randint(2, 3))


def _accessories(w: _Writer) -> None:
    for cn, en in ACCESSORY_BRANDS:
        for (phone_cn, _, models), kind in [
            (phone, kind) for phone in PHONES
            for kind in w.rng.sample(["手机壳", "钢化膜", "充电器", "数据线"], 3)
        ]:
            model = w.rng.choice(models)
            colour = w.rng.choice(["黑色", "透明", "白色"])
            material = {"手机壳": "液态硅胶", "钢化膜": "钢化玻璃", "充电器": "PC", "数据线": "尼龙"}[kind]
            power = w.rng.choice(["20W", "65W", "100W"])

            def make(i: int, cn=cn, en=en, phone_cn=phone_cn, model=model, kind=kind, colour=colour, material=material, power=power):
                extra = power if kind in ("充电器", "数据线") else colour
                title = [
                    f"{w.brand(cn, en)} {kind} 适用于{phone_cn}{model}手机 {material} {extra}",
                    f"{cn}{kind} {phone_cn}专用 {model} {extra} {material}",
                ][i]
                desc = f"适用机型：{phone_cn} {model}。材质：{material}。颜色：{colour}。"
                parts = [("brand", cn), ("brand", en), ("product_type", kind), ("compatible_brand", phone_cn), ("compatible_model", model),
                         ("compatible_product", "手机"), ("material", material), ("power" if extra == power else "colour", extra)]
                return title, desc, f"手机配件 > {kind}", w.rng.uniform(19, 149), "accessory", "CNY", parts

            w.variants(make, 2)


def _laptops(w: _Writer) -> None:
    for cn, en, models in LAPTOPS:
        for model in models:
            size = w.rng.choice(["14英寸", "15.6英寸", "16英寸"])
            memory = w.rng.choice(["16G", "32G"])
            disk = w.rng.choice(["512G", "1T"])
            colour = w.rng.choice(["银色", "黑色", "灰色"])

            def make(i: int, cn=cn, en=en, model=model, size=size, memory=memory, disk=disk, colour=colour):
                title = [
                    f"{w.brand(cn, en)} {model} {size}笔记本电脑 {memory} {disk} {colour}",
                    f"{en} {model} 轻薄笔记本电脑 {size} {memory}内存 {disk}固态 办公",
                ][i]
                desc = f"屏幕尺寸：{size}，内存：{memory}，硬盘：{disk}，颜色：{colour}。"
                parts = [("brand", cn), ("brand", en), ("model", model), ("size", size), ("product_type", "笔记本电脑"), ("capacity", memory),
                         ("capacity", disk), ("colour", colour)]
                return title, desc, "电脑办公 > 笔记本电脑", w.rng.uniform(3999, 12999), "laptop", "CNY", parts

            w.variants(make, 2)
    for cn, en in [("罗技", "Logitech"), ("绿联", "UGREEN")]:
        for kind in ["无线鼠标", "机械键盘"]:
            colour = w.rng.choice(["黑色", "白色"])
            w.add(
                f"{w.brand(cn, en)} {kind} {colour} 适用于苹果笔记本电脑",
                f"{kind}，蓝牙连接，适配联想、华为等笔记本电脑。",
                f"电脑办公 > {kind}",
                w.rng.uniform(59, 499),
                "accessory",
                parts=[("brand", cn), ("brand", en), ("product_type", kind), ("colour", colour), ("compatible_brand", "苹果"), ("compatible_product", "笔记本电脑")],
            )


def _appliances(w: _Writer) -> None:
    for cn, en, kind, volumes, powers, materials in APPLIANCES:
        for volume in volumes:
            power = w.rng.choice(powers)
            material = w.rng.choice(materials)

            def make(i: int, cn=cn, en=en, kind=kind, volume=volume, power=power, material=material):
                title = [
                    f"{w.brand(cn, en)} {kind}家用 {volume} {power} {material}",
                    f"{cn}{kind} {volume}大容量 {power} 一级能效",
                ][i]
                desc = f"额定容量{volume}，额定功率{power}，{material}，白色外观，家用安装简单。"
                parts = [("brand", cn), ("brand", en), ("product_type", kind), ("volume", volume), ("power", power), ("material", material)]
                return title, desc, f"家用电器 > {kind}", w.rng.uniform(199, 4999), "appliance", "CNY", parts

            w.variants(make, 2)


def _small_goods(w: _Writer) -> None:
    for cn, en, kind, sizes, colours in STATIONERY:
        for colour, size in [(c, s) for c in colours for s in sizes]:
            w.add(f"{w.brand(cn, en)} {size} {kind} {colour} 12支/盒 办公 学生", f"笔尖{size}，{colour}墨水。", f"文具 > {kind}", w.rng.uniform(9, 59), "stationery",
                  parts=[("brand", cn), ("brand", en), ("size", size), ("product_type", kind), ("colour", colour)])
    for cn, en, kind, volumes in BEAUTY:
        for volume in volumes:
            w.add(f"{w.brand(cn, en)} {kind} {volume} 补水保湿", f"净含量：{volume}。适合所有肤质。", f"美妆护肤 > {kind}", w.rng.uniform(49, 899), "beauty",
                  parts=[("brand", cn), ("brand", en), ("product_type", kind), ("volume" if volume.endswith("ml") else "weight", volume)])
    for cn, en, kind, materials, colours in CLOTHES:
        for colour in colours:
            brand, material = w.brand(cn, en), w.rng.choice(materials)
            w.add(f"{brand} {kind} 男女同款 {material} {colour}", f"颜色：{colour}；面料：{materials[0]}。", f"服饰 > {kind}", w.rng.uniform(79, 899), "clothes",
                  parts=[("brand", cn), ("brand", en), ("product_type", kind), ("material", material), ("colour", colour)])
    for cn, en, volumes, materials in BOTTLES:
        for volume in volumes:
            material = w.rng.choice(materials)
            colour = w.rng.choice(["黑色", "白色", "粉色", "蓝色"])
            w.add(f"{w.brand(cn, en)} 保温杯 {volume} {material} {colour}", f"容量{volume}，{material}内胆，{colour}。", "家居 > 保温杯", w.rng.uniform(69, 399), "bottle",
                  parts=[("brand", cn), ("brand", en), ("product_type", "保温杯"), ("volume", volume), ("material", material), ("colour", colour)])


def _english(w: _Writer) -> None:
    items = [
        ("UGREEN 65W USB-C Charger for iPhone 15, White", "Fast GaN charger, 65W, compatible with iPhone 15 and laptops.", "Phone Accessories > Charger", [("brand", "UGREEN"), ("power", "65W"), ("product_type", "Charger"), ("compatible_model", "iPhone 15"), ("colour", "White")]),
        ("Anker 20W Charger for Samsung phone, Black", "Compact wall charger with 20W output.", "Phone Accessories > Charger", [("brand", "Anker"), ("power", "20W"), ("product_type", "Charger"), ("compatible_brand", "Samsung"), ("compatible_product", "phone"), ("colour", "Black")]),
        ("Baseus Phone Case for iPhone 15 Pro Max, Silicone, Transparent", "Slim silicone case, transparent back.", "Phone Accessories > Case", [("brand", "Baseus"), ("product_type", "Phone Case"), ("compatible_model", "iPhone 15 Pro Max"), ("material", "Silicone"), ("colour", "Transparent")]),
        ("Lenovo ThinkPad X1 Carbon 14 inch Laptop 16GB 1TB Black", "14 inch display, 16GB memory, 1TB SSD.", "Computers > Laptop", [("brand", "Lenovo"), ("model", "ThinkPad X1 Carbon"), ("size", "14 inch"), ("product_type", "Laptop"), ("capacity", "16GB"), ("capacity", "1TB"), ("colour", "Black")]),
        ("DELL XPS13 13.4 inch Laptop 16GB 512GB Silver", "Aluminium body, 16GB RAM.", "Computers > Laptop", [("brand", "DELL"), ("model", "XPS13"), ("size", "13.4 inch"), ("product_type", "Laptop"), ("capacity", "16GB"), ("capacity", "512GB"), ("colour", "Silver")]),
        ("Logitech Wireless Mouse, Grey", "Quiet clicks, 2.4 GHz receiver.", "Computers > Mouse", [("brand", "Logitech"), ("product_type", "Wireless Mouse"), ("colour", "Grey")]),
        ("THERMOS Stainless Steel Water Bottle 500ml Blue", "Keeps drinks cold for 24 hours. 500ml.", "Home > Water Bottle", [("brand", "THERMOS"), ("material", "Stainless Steel"), ("product_type", "Water Bottle"), ("volume", "500ml"), ("colour", "Blue")]),
        ("ZOJIRUSHI Stainless Steel Water Bottle 600ml Pink", "Vacuum insulated, 600ml, pink.", "Home > Water Bottle", [("brand", "ZOJIRUSHI"), ("material", "Stainless Steel"), ("product_type", "Water Bottle"), ("volume", "600ml"), ("colour", "Pink")]),
        ("NIKE Running Sneakers, White, Mesh", "Lightweight mesh sneakers.", "Clothing > Sneakers", [("brand", "NIKE"), ("product_type", "Running Sneakers"), ("colour", "White"), ("material", "Mesh")]),
        ("UNIQLO Cotton T-Shirt, Navy", "100% cotton crew neck t-shirt.", "Clothing > T-Shirt", [("brand", "UNIQLO"), ("material", "Cotton"), ("product_type", "T-Shirt"), ("colour", "Navy")]),
        ("Xiaomi Power Bank 20000mAh 22.5W Black", "20000mAh capacity, 22.5W fast charging.", "Phone Accessories > Power Bank", [("brand", "Xiaomi"), ("product_type", "Power Bank"), ("capacity", "20000mAh"), ("power", "22.5W"), ("colour", "Black")]),
        ("SONY WH-1000XM5 Wireless Headphones Black", "Noise cancelling headphones, 30 hours battery.", "Electronics > Headphones", [("brand", "SONY"), ("model", "WH-1000XM5"), ("product_type", "Wireless Headphones"), ("colour", "Black")]),
        ("PHILIPS Electric Kettle 1.7L 2200W Stainless Steel", "1.7L stainless steel kettle, 2200W.", "Home Appliances > Kettle", [("brand", "PHILIPS"), ("product_type", "Electric Kettle"), ("volume", "1.7L"), ("power", "2200W"), ("material", "Stainless Steel")]),
        ("Midea Air Fryer 5L 1500W Black", "5L basket, 1500W, black.", "Home Appliances > Air Fryer", [("brand", "Midea"), ("product_type", "Air Fryer"), ("volume", "5L"), ("power", "1500W"), ("colour", "Black")]),
        ("Apple iPhone 15 128GB Blue", "6.1 inch display, 128GB, blue.", "Phones > Smartphone", [("brand", "Apple"), ("model", "iPhone 15"), ("capacity", "128GB"), ("colour", "Blue")]),
        ("Samsung Galaxy S24 256GB Grey", "6.2 inch display, 256GB storage.", "Phones > Smartphone", [("brand", "Samsung"), ("model", "Galaxy S24"), ("capacity", "256GB"), ("colour", "Grey")]),
    ]
    for title, description, category, parts in items:
        w.add(title, description, category, w.rng.uniform(9, 1299), "en", currency="USD", parts=parts)


def generate_labelled(seed: int = 7) -> tuple[list[dict], list[dict]]:
    """All sample listings, in a fixed order for a seed, and their titles' entity labels
    (doccano JSONL records: ``id``, ``text``, ``label`` = [start, end, type] triples)."""
    writer = _Writer(seed)
    for part in (_phones, _accessories, _laptops, _appliances, _small_goods, _english):
        part(writer)
    return writer.records, writer.labels


def generate(seed: int = 7) -> list[dict]:
    """All sample listings, in a fixed order for a seed."""
    return generate_labelled(seed)[0]


def write(records: list[dict], path: Path = CATALOGUE) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=CATALOGUE)
    args = parser.parse_args()
    records, labels = generate_labelled(args.seed)
    write(records, args.out)
    labels_out = args.out.with_name(args.out.stem + ".labels.jsonl")
    write(labels, labels_out)
    print(f"wrote {len(records)} listings to {args.out} and their title labels to {labels_out}")


if __name__ == "__main__":
    main()
