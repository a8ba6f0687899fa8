"""A generated catalogue of any size in which product resolution has real work: products in
families. Each product has a model code of its own and is listed by one to four shops under
titles written differently (brand in one script or two, words moved, shop filler); beside it,
near-miss products: the same model code in another colour or capacity, which must stay apart.
Deterministic for a seed; the gold product of each listing comes with it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from skugraph.sample.generate import APPLIANCES, BOTTLES, LAPTOPS, PHONE_COLOURS, PHONES, REVIEWS

SHOPS = ("shop-north", "shop-south", "global-store", "mall-east", "outlet-west", "direct-store")
FILLERS = ("官方正品", "新款", "现货", "包邮", "旗舰店", "爆款")
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _kinds() -> list[dict]:
    """What products are made of: brand in both scripts, type, category, review kind, and the
    attribute choices a variant picks from (the first varies between near-miss products)."""
    kinds = [{"brand": (cn, en), "type": "手机", "category": "手机通讯 > 手机", "reviews": "phone", "price": (1999, 8999),
              "choices": [["8+256G", "12+256G", "12+512G", "16+1T"], PHONE_COLOURS]} for cn, en, _ in PHONES]
    kinds += [{"brand": (cn, en), "type": "笔记本电脑", "category": "电脑办公 > 笔记本电脑", "reviews": "laptop", "price": (3999, 12999),
               "choices": [["16G 512G", "16G 1T", "32G 1T"], ["银色", "黑色", "灰色"]]} for cn, en, _ in LAPTOPS]
    kinds += [{"brand": (cn, en), "type": kind, "category": f"家用电器 > {kind}", "reviews": "appliance", "price": (199, 4999),
               "choices": [volumes, powers]} for cn, en, kind, volumes, powers, _ in APPLIANCES]
    kinds += [{"brand": (cn, en), "type": "保温杯", "category": "家居 > 保温杯", "reviews": "bottle", "price": (69, 399),
               "choices": [volumes, ["黑色", "白色", "粉色", "蓝色"]]} for cn, en, volumes, _ in BOTTLES]
    return kinds


class _Families:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.kinds = _kinds()
        self.start = datetime(2026, 6, 1, tzinfo=UTC)

    def brand(self, cn: str, en: str) -> str:
        return self.rng.choice([f"{cn}（{en}）", f"{en}/{cn}", cn, f"{cn}({en})", en])

    def title(self, kind: dict, code: str, first: str, second: str) -> str:
        """One shop's title of a product: the same words, ordered and dressed its own way."""
        cn, en = kind["brand"]
        template = self.rng.randrange(4)
        if template == 0:
            text = f"{self.brand(cn, en)} {code} {first} {second} {kind['type']}"
        elif template == 1:
            text = f"{cn} {code} {kind['type']} {second} {first}"
        elif template == 2:
            text = f"【{self.rng.choice(FILLERS)}】{en} {code} {first} {second} {kind['type']}"
        else:
            text = f"{self.brand(cn, en)} {kind['type']} {code} {second} {first} {self.rng.choice(FILLERS)}"
        return text

    def products(self) -> Iterator[tuple[str, list[dict]]]:
        """Endless products, a family (one model code, one to three variants) at a time: each
        product's gold id and its listings (without ids)."""
        family = 0
        while True:
            family += 1
            kind = self.rng.choice(self.kinds)
            letters = self.rng.sample(_LETTERS, 3)  # digits in runs of three at most: never read as a postcode or phone
            code = f"{letters[0]}{letters[1]}-{family // 1000}{letters[2]}{family % 1000:03d}"
            firsts = self.rng.sample(kind["choices"][0], k=min(len(kind["choices"][0]), self.rng.randint(1, 3)))
            second = self.rng.choice(kind["choices"][1])
            price = self.rng.uniform(*kind["price"])
            for variant, first in enumerate(firsts):
                listings = []
                for shop in self.rng.sample(SHOPS, k=self.rng.choice((1, 1, 2, 2, 3, 4))):
                    cn, _ = kind["brand"]
                    picks = self.rng.sample(REVIEWS[kind["reviews"]], k=self.rng.randint(0, 2))
                    listings.append({
                        "title": self.title(kind, code, first, second),
                        "description": f"品牌：{cn}；型号：{code}；规格：{first}；{second}。",
                        "reviews": [{"text": text, "rating": rating} for text, rating, _ in picks],
                        "category": kind["category"],
                        "price": round(price * (1 + 0.1 * variant) * self.rng.uniform(0.95, 1.05), 2),
                        "currency": "CNY",
                        "source": shop,
                    })
                yield f"family-{family}-{variant}", listings


def family_listings(count: int, seed: int = 0) -> Iterator[tuple[str, dict]]:
    """``count`` listings (ids ``bench-0`` …) of products in families (see the module doc), each
    with its gold product, shuffled within windows of a few thousand so one product's listings
    are not neighbours in the file (memory holds one window)."""
    families, window, number = _Families(seed), 4096, 0
    products = ((product, listing) for product, listings in families.products() for listing in listings)
    while number < count:
        part = [next(products) for _ in range(min(window, count - number))]
        families.rng.shuffle(part)
        for product, listing in part:
            moment = families.start + timedelta(minutes=number)
            yield product, {"id": f"bench-{number}", **listing, "updated_at": moment.isoformat().replace("+00:00", "Z")}
            number += 1


def family_catalogue(path: Path, count: int, seed: int = 0) -> int:
    """Write :func:`family_listings` as JSONL; returns the listings written."""
    with path.open("w", encoding="utf-8") as handle:
        for _, record in family_listings(count, seed):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count
