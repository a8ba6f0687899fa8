"""Inventory on the graph: stock and demand per **product**, summed over the listings entity
resolution put in it (the same phone sold by three shops from two warehouses is one row),
read from the listings' ``stock``, ``sales`` (units over ``sales_from`` … ``sales_to``) and
``warehouse``.

- **days of cover**: stock over units sold a day;
- **stock-outs with substitutes**: each product out of stock, with the in-stock products that
  can stand in for it (:meth:`~skugraph.apps.recommend.Recommender.substitutes`: the same type,
  a title alike, for an accessory the same device model it is sold for, shared key values)
  within a price band, and why;
- **accessory demand**: for a device that sells, the accessories that fit its model, their
  stock and the device's sales, and the attach rate (accessory units sold per device sold)
  where both sell;
- **slow movers**: attribute values (colour, size, capacity …) of a product type whose stock
  lasts far longer than the type's as a whole;
- **reallocation hints**: a product a shop has run out of in one of its warehouses while another
  of its warehouses holds more than it sells in ``excess_days`` (a shop's stock is moved by that
  shop: warehouses are told apart by shop, ``source``, and a listing without a warehouse is in
  none that stock can be moved to or from).

A graph made before listings had stock columns, opened read-only, has no inventory (see
:func:`has_stock`). Listings without stock or sales leave their products out; a product whose listings give stock
but no sales has stock and no days of cover. In JSON (``to_dict``), days of cover are null where
they cannot be known and where the stock does not sell at all.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from skugraph.apps.recommend import DEVICE_KINDS, FITS, Recommender
from skugraph.apps.substitute_model import SubstituteModel
from skugraph.graph.store import GraphStore
from skugraph.processes import collector_paused
from skugraph.records import UNITS_A_DAY_CYPHER

#: a substitute's price may be this many times the product's at most, and the product's this many times the substitute's
PRICE_BAND = 1.5
#: attributes whose values are compared for slow movers
ATTRIBUTES = ("colour", "size", "capacity", "volume", "power", "material", "weight")
#: days of stock a warehouse keeps for itself before any is moved out
KEEP_DAYS = 30.0
#: the predicate of a product's type
TYPE = "product_type"
#: the place of stock held by a listing that names neither its shop nor its warehouse
NO_PLACE = "none named"
#: the listing properties the inventory reads
COLUMNS = ("stock", "sales", "sales_from", "sales_to", "warehouse")

#: the recommender's best substitutes a single product's are chosen from (see :func:`product_inventory`)
CANDIDATES = 50

LISTINGS = ("MATCH (l:Listing)-[:OFFER_OF]->(p:Product) WHERE {products}(l.stock IS NOT NULL OR l.sales IS NOT NULL) "
            f"RETURN p.id, p.title, l.id, l.stock, {UNITS_A_DAY_CYPHER}, l.source, l.warehouse, l.price "
            "ORDER BY p.id, l.id")


@dataclass
class ProductStock:
    """A product's stock and demand over its listings."""

    id: str
    title: str
    stock: int | None  # units on hand over its listings that give stock
    daily_sales: float | None  # units sold a day over its listings that give sales
    listings: int
    stock_at: dict[tuple[str, str], int] = field(default_factory=dict)  # (shop, warehouse) → units ("" where none is named)
    sales_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (shop, warehouse) → units sold a day
    price: float | None = None  # the median of its listings' prices

    @property
    def warehouses(self) -> dict[str, int]:
        """Units per place, named ``shop / warehouse`` (either left out where not given; ``none named``
        where neither is)."""
        return {" / ".join(part for part in place if part) or NO_PLACE: units for place, units in self.stock_at.items()}

    @property
    def days_of_cover(self) -> float | None:
        """Days its stock lasts at its sales; infinite with stock and no sales, None without stock or sales."""
        if self.stock is None or self.daily_sales is None:
            return None
        return self.stock / self.daily_sales if self.daily_sales > 0 else (math.inf if self.stock else 0.0)

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "stock": self.stock, "daily_sales": _round(self.daily_sales),
                "days_of_cover": _round(self.days_of_cover), "listings": self.listings, "warehouses": self.warehouses,
                "price": _round(self.price)}


@dataclass
class Substitute:
    id: str
    title: str
    stock: int
    days_of_cover: float | None
    price: float | None
    reason: str
    #: how likely the substitute model (where one was given) says it is accepted
    probability: float | None = None


@dataclass
class StockOut:
    product: ProductStock
    substitutes: list[Substitute]

    def to_dict(self) -> dict:
        return {**self.product.to_dict(), "substitutes": [asdict(s) | {"days_of_cover": _round(s.days_of_cover), "price": _round(s.price)}
                                                           for s in self.substitutes]}


@dataclass
class Accessory:
    id: str
    title: str
    type: str
    stock: int | None
    daily_sales: float | None
    attach_rate: float | None  # its units sold per device sold, where both sell
    device_days: float | None  # days of the device's sales its stock covers, one accessory a device


@dataclass
class DeviceAccessories:
    device: ProductStock
    accessories: list[Accessory]

    def to_dict(self) -> dict:
        return {**self.device.to_dict(), "accessories": [asdict(a) | {k: _round(getattr(a, k)) for k in
                                                                      ("daily_sales", "attach_rate", "device_days")}
                                                         for a in self.accessories]}


@dataclass
class SlowMover:
    type: str  # the product type
    attribute: str
    value: str
    products: int
    stock: int
    daily_sales: float
    days_of_cover: float
    type_days_of_cover: float  # the type's as a whole

    def to_dict(self) -> dict:
        return asdict(self) | {k: _round(getattr(self, k)) for k in ("daily_sales", "days_of_cover", "type_days_of_cover")}


@dataclass
class Reallocation:
    product: str
    title: str
    move: int  # units
    source: str  # the warehouse that holds too many
    target: str  # the warehouse that is out
    reason: str
    shop: str = ""  # whose both warehouses are (the listings' source)


@dataclass
class Inventory:
    """What :func:`inventory` found; each list ranked, at most ``limit`` long."""

    products: int  # products with stock or sales
    listings: int
    stock: int
    daily_sales: float
    out_of_stock: int  # products with stock given, all of it 0
    low: list[ProductStock]  # in stock, under ``low_days`` of cover, the fastest sellers first
    stock_outs: list[StockOut]  # the fastest sellers first
    accessories: list[DeviceAccessories]
    slow_movers: list[SlowMover]
    reallocations: list[Reallocation]
    per_product: list[ProductStock] = field(repr=False, default_factory=list)
    low_days: float = 7.0
    seconds: float = 0.0
    #: how many there are of each list before ``limit`` cut it (None: as many as shown)
    low_total: int | None = None
    slow_movers_total: int | None = None
    reallocations_total: int | None = None

    def summary(self) -> str:
        """One line: the totals and how many of each finding (with how many are shown, where fewer)."""
        def counted(shown: list, total: int | None) -> str:
            total = _total(shown, total)
            return f"{total:,}" + (f" ({len(shown)} shown)" if len(shown) < total else "")

        covered = sum(1 for s in self.stock_outs if s.substitutes)
        return (f"{self.products:,} products with stock or sales ({self.listings:,} listings): {self.stock:,} units, "
                f"{self.daily_sales:,.0f} sold a day; {self.out_of_stock:,} out of stock (substitutes in stock for {covered} "
                f"of the {len(self.stock_outs)} shown), {counted(self.low, self.low_total)} under {self.low_days:g} days of cover, "
                f"{len(self.accessories)} selling devices with accessories shown, "
                f"{counted(self.slow_movers, self.slow_movers_total)} slow movers, "
                f"{counted(self.reallocations, self.reallocations_total)} reallocation hints")

    def to_dict(self, per_product: bool = False) -> dict:
        """The totals and lists as JSON; ``per_product``: every product's stock and demand too."""
        every = {"per_product": [p.to_dict() for p in sorted(self.per_product, key=lambda p: p.id)]} if per_product else {}
        return {"summary": self.summary(), "products": self.products, "listings": self.listings, "stock": self.stock, "daily_sales": _round(self.daily_sales),
                "out_of_stock": self.out_of_stock, "low_days": self.low_days, "low_total": _total(self.low, self.low_total),
                "slow_movers_total": _total(self.slow_movers, self.slow_movers_total),
                "reallocations_total": _total(self.reallocations, self.reallocations_total), "low": [p.to_dict() for p in self.low],
                "stock_outs": [s.to_dict() for s in self.stock_outs], "accessories": [a.to_dict() for a in self.accessories],
                "slow_movers": [s.to_dict() for s in self.slow_movers], "reallocations": [asdict(r) for r in self.reallocations],
                "seconds": round(self.seconds, 3)} | every


def _total(shown: list, total: int | None) -> int:
    return len(shown) if total is None else total


def accessory_line(accessory: dict) -> str:
    """An accessory of :meth:`Inventory.to_dict` in words: its type and id, stock, units sold a day
    and attach rate, each where given."""
    parts = ["no stock given" if accessory["stock"] is None else f"stock {accessory['stock']}",
             "no sales given" if accessory["daily_sales"] is None else f"{accessory['daily_sales']:g}/day"]
    if accessory["attach_rate"] is not None:
        parts.append(f"attach {accessory['attach_rate']:g}")
    return f"{accessory['type']} {accessory['id']}: " + ", ".join(parts)


def _round(value: float | None) -> float | None:
    """For JSON: two decimals; None for infinite days of cover (stock that does not sell) as for unknown."""
    return None if value is None or math.isinf(value) else round(value, 2)


def stock_columns(store: GraphStore) -> bool:
    """Whether the graph's listings have the stock columns (a graph made before them gains them
    when first opened for writing)."""
    return set(COLUMNS) <= {row[1] for row in store.query("CALL table_info('Listing') RETURN *").rows}


def has_stock(store: GraphStore) -> bool:
    """Whether any listing of the graph gives stock or sales."""
    return stock_columns(store) and bool(store.query("MATCH (l:Listing) WHERE l.stock IS NOT NULL OR l.sales IS NOT NULL "
                                                     "RETURN l.id LIMIT 1").rows)


def product_stock(store: GraphStore) -> list[ProductStock]:
    """Every product with stock or sales, summed over its listings, by id (none in a graph
    without the stock columns)."""
    return _summed(store, "") if stock_columns(store) else []


def _stock_of(store: GraphStore, ids: list[str]) -> dict[str, ProductStock]:
    """:func:`product_stock` of the products ``ids`` alone, by id."""
    return {p.id: p for p in _summed(store, "p.id IN $ids AND ", {"ids": ids})} if ids and stock_columns(store) else {}


@collector_paused()
def _summed(store: GraphStore, where: str, parameters: dict | None = None) -> list[ProductStock]:
    """The rows of :data:`LISTINGS` (``where``: a condition on them, with its ``parameters``) summed per product."""
    products: dict[str, ProductStock] = {}
    prices: dict[str, list[float]] = defaultdict(list)
    rows = zip(*store.columns(LISTINGS.format(products=where), parameters), strict=True)
    for pid, title, _, stock, daily, shop, warehouse, price in rows:
        if (found := products.get(pid)) is None:
            found = products[pid] = ProductStock(pid, title or "", None, None, 0)
        found.listings += 1
        place = (shop or "", warehouse or "")
        if stock is not None:
            found.stock = (found.stock or 0) + stock
            found.stock_at[place] = found.stock_at.get(place, 0) + stock
        if daily is not None:
            found.daily_sales = (found.daily_sales or 0.0) + daily
            found.sales_at[place] = found.sales_at.get(place, 0.0) + daily
        if price is not None:
            prices[pid].append(price)
    for pid, given in prices.items():
        products[pid].price = statistics.median(given)
    return list(products.values())


def product_inventory(store: GraphStore, recommender: Recommender, product_id: str, substitutes: int = 3,
                      model: SubstituteModel | None = None) -> dict | None:
    """One product's stock and demand over its listings (per place), and, when it is out of
    stock, the in-stock products that can stand in for it: ranked as :func:`inventory` ranks
    them, but chosen among the recommender's :data:`CANDIDATES` best alone (kept where in stock
    and priced alike), so it may find fewer. ``substitutes`` is empty for a product in stock.
    None where its listings give neither stock nor sales."""
    ours = _stock_of(store, [product_id]).get(product_id)
    if ours is None:
        return None
    found = []
    if ours.stock == 0 and product_id in recommender:
        candidates = [hit.id for hit in recommender.substitutes(product_id, CANDIDATES)]
        by_id = _stock_of(store, candidates)
        among = np.zeros(len(recommender.products), dtype=bool)
        for other in by_id.values():
            if other.stock and _priced_alike(ours.price, np.array([other.price or np.nan]))[0]:
                among[recommender.row[other.id]] = True
        found = _substitutes(ours, by_id, recommender, among, substitutes, model)
    return StockOut(ours, found).to_dict()


def inventory(store: GraphStore, recommender: Recommender, *, limit: int = 20, substitutes: int = 3, low_days: float = 7.0,
              excess_days: float = 90.0, model: SubstituteModel | None = None) -> Inventory:
    """Stock and demand per product, stock-outs with their substitutes, accessories against
    their devices' sales, slow movers and reallocation hints (see the module doc); each list at
    most ``limit`` long (at least 1). ``model``: a substitute model learned from judged
    substitutes (:mod:`skugraph.apps.substitute_model`) keeps only those it accepts."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if low_days < 0 or excess_days < 0:
        raise ValueError(f"days of cover must be 0 or more, got low_days {low_days:g}, excess_days {excess_days:g}")
    began = time.perf_counter()
    stocked = product_stock(store)
    by_id = {p.id: p for p in stocked}
    out = sorted((p for p in stocked if p.stock == 0), key=lambda p: (-(p.daily_sales or 0.0), p.id))
    low = sorted((p for p in stocked if p.stock and p.days_of_cover is not None and p.days_of_cover < low_days),
                 key=lambda p: (-(p.daily_sales or 0.0), p.id))
    theirs = [by_id.get(other) for other in recommender.products]
    in_stock = np.array([bool(p and p.stock) for p in theirs], dtype=bool)
    prices = np.array([p.price if p and p.price else np.nan for p in theirs], dtype=float)
    slow, moves = _slow_movers(stocked, recommender, excess_days), _reallocations(stocked, excess_days)
    return Inventory(
        products=len(stocked), listings=sum(p.listings for p in stocked), stock=sum(p.stock or 0 for p in stocked),
        daily_sales=sum(p.daily_sales or 0.0 for p in stocked), out_of_stock=len(out), low=low[:limit],
        stock_outs=[StockOut(p, _substitutes(p, by_id, recommender, in_stock & _priced_alike(p.price, prices), substitutes, model))
                    for p in out[:limit]],
        accessories=_accessories(stocked, by_id, recommender, brand_forms(store), limit),
        slow_movers=slow[:limit], reallocations=moves[:limit], per_product=stocked, low_days=low_days,
        seconds=time.perf_counter() - began, low_total=len(low), slow_movers_total=len(slow), reallocations_total=len(moves))


def _substitutes(product: ProductStock, by_id: dict[str, ProductStock], recommender: Recommender, among: np.ndarray,
                 k: int, model: SubstituteModel | None = None) -> list[Substitute]:
    """The products ``among`` (a mask over the recommender's) that can stand in for ``product``,
    best first; with a ``model``, those of the ``k`` best it accepts (asked to choose among
    more, it took worse ones from further down: see the inventory guide)."""
    if product.id not in recommender:
        return []
    hits = recommender.substitutes(product.id, k, among)
    probabilities = [None] * len(hits)
    if model is not None and hits:
        accepted = model.probabilities(product.title, [hit.title for hit in hits])
        chosen = [i for i in range(len(hits)) if accepted[i] >= model.threshold]
        hits, probabilities = [hits[i] for i in chosen], [round(float(accepted[i]), 3) for i in chosen]
    found = []
    for hit, probability in zip(hits, probabilities, strict=True):
        theirs = by_id[hit.id]
        cover = theirs.days_of_cover
        stocked = f"{theirs.stock} in stock" + (f" ({cover:.0f} days)" if cover is not None and not math.isinf(cover) else "")
        priced = (f"price {round(theirs.price, 2):g} against {round(product.price, 2):g}"
                  if theirs.price is not None and product.price is not None else "")
        judged = f"accepted with probability {probability:.2f}" if probability is not None else ""
        found.append(Substitute(hit.id, hit.title, theirs.stock or 0, cover, theirs.price,
                                "; ".join(part for part in (hit.reason, stocked, priced, judged) if part), probability))
    return found


def write_substitutes(found: Inventory, recommender: Recommender, out: str | Path) -> int:
    """Each stock-out of ``found`` with its substitutes, one JSON line, for someone to judge
    (adding ``"ok": true`` or ``false`` to each substitute) and a substitute model to learn from
    (:mod:`skugraph.apps.substitute_model`); ``accessory`` says where a substitute must fit the
    same device. The number of lines written."""
    with Path(out).open("w", encoding="utf-8") as handle:
        for stock_out in found.stock_outs:
            product = stock_out.product
            devices, brands = recommender.fits_of(product.id) if product.id in recommender else (set(), set())
            substitutes = [{"id": s.id, "title": s.title, "reason": s.reason} for s in stock_out.substitutes]
            handle.write(json.dumps({"product": product.id, "title": product.title, "accessory": bool(devices or brands),
                                     "substitutes": substitutes}, ensure_ascii=False) + "\n")
    return len(found.stock_outs)


def _priced_alike(ours: float | None, theirs: np.ndarray) -> np.ndarray:
    """Which of ``theirs`` (prices, NaN where not given) are within :data:`PRICE_BAND` of ``ours``
    either way (a price not given rules no product out)."""
    if not ours or ours <= 0:
        return np.ones(len(theirs), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.maximum(theirs, ours) / np.minimum(theirs, ours)
    return np.isnan(theirs) | (theirs <= 0) | (ratio <= PRICE_BAND)


def _accessories(stocked: list[ProductStock], by_id: dict[str, ProductStock], recommender: Recommender,
                 brands: Mapping[str, frozenset[str]], limit: int) -> list[DeviceAccessories]:
    """The selling devices (a model or series of their own, fitting nothing, of no type of
    accessory: :attr:`~skugraph.apps.recommend.Recommender.fitted_types`, whose type the title of
    an accessory names: :func:`_named_by_one`) with the stocked
    accessories that fit that model or series (named with its brand or without: 华为Mate60 is
    Mate60), the fastest-selling devices first. An accessory whose model names a brand
    (三星S10) counts only for a device of that brand (its own, or the one its model names: a
    device of no brand gets none of them); ``brands``: as :func:`brand_forms`."""
    from skugraph.corpus.normalize import fold

    named: dict[str, tuple[str, frozenset[str]]] = {}  # a model key → its name without the brand, and that name's brands

    def model(key: str) -> tuple[str, frozenset[str]]:
        if key not in named:
            named[key] = _model_name(key, brands)
        return named[key]

    accessory_types = recommender.fitted_types
    type_names = {fold(recommender.name(key)) for _, key in recommender.features if key.partition(":")[0] == TYPE}
    fitting: dict[str, set[tuple[str, frozenset[str]]]] = defaultdict(set)  # a model's name → (product, brands named) fitting it
    fits_brands: dict[str, set[str]] = {}  # an accessory → the brands it says it fits
    for product, facts in recommender.facts.items():
        for predicate, key in facts:
            if predicate in FITS and key.partition(":")[0] in DEVICE_KINDS:
                name, maker = model(key)
                fitting[name].add((product, maker))
                if product not in fits_brands:
                    fits_brands[product] = recommender.fits_of(product)[1]
    found: list[DeviceAccessories] = []
    if not fitting:
        return found
    for device in sorted((p for p in stocked if p.daily_sales), key=lambda p: (-(p.daily_sales or 0.0), p.id)):
        if device.id not in recommender:
            continue
        facts = recommender.facts[device.id]
        own_models = [model(key) for _, key in facts if key.partition(":")[0] in DEVICE_KINDS]
        if not any(name in fitting for name, _ in own_models) or any(recommender.fits_of(device.id)):
            continue
        own_types = {key for p, key in facts if p == TYPE}
        if own_types & accessory_types:  # a case whose title names the phone's model as its own
            continue
        own_brands = {key for p, key in facts if p == "has_brand"}
        makers = own_brands.union(*(maker for _, maker in own_models))
        # the same model name without the brand (红米13 and 小米13 are both 13): the brands must not differ
        fit = {other for name, _ in own_models for other, maker in fitting.get(name, ())
               if (maker & makers if maker else not own_brands or not fits_brands[other] or own_brands & fits_brands[other])}
        if not fit or not _named_by_one(own_types | {n for t in own_types for n in recommender.near_types.get(t, ())}, fit, recommender,
                             type_names):
            continue
        accessories = []
        for other_id in sorted(fit):
            other, types = by_id.get(other_id), [key for p, key in sorted(recommender.facts[other_id]) if p == TYPE]
            if other is None or own_types.intersection(types):
                continue
            attach = other.daily_sales / device.daily_sales if other.daily_sales is not None and device.daily_sales else None
            cover = other.stock / device.daily_sales if other.stock is not None and device.daily_sales else None
            accessories.append(Accessory(other.id, other.title, recommender.name(types[0]) if types else "", other.stock,
                                         other.daily_sales, attach, cover))
        if accessories:
            found.append(DeviceAccessories(device, sorted(accessories, key=lambda a: (a.type, a.id))))
        if len(found) >= limit:
            break
    return found


def _named_by_one(types: set[str], accessories: set[str], recommender: Recommender, type_names: set[str]) -> bool:
    """Whether the title of one of the ``accessories`` names one of the device's ``types`` (folded:
    VR眼镜 is vr眼镜), whole or by a leading word that is a type of its own (``type_names``: 单反 for
    单反相机, 笔记本 for 笔记本电脑; not 蓝牙 for 蓝牙耳机), or none of their titles is known. A keyboard or microphone whose title
    names the phone it is for (三星S10) has that phone's model as its own; the phone cases that fit
    the S10 name a 手机, not a 键盘."""
    from skugraph.corpus.normalize import fold

    titles = [fold(recommender.titles[a]) for a in accessories if recommender.titles.get(a)]
    names = {fold(recommender.name(t)) for t in types}
    names |= {name[:end] for name in names for end in range(2, len(name)) if name[:end] in type_names}
    return not titles or any(name in title for title in titles for name in names)


def _model_name(key: str, brands: Mapping[str, frozenset[str]]) -> tuple[str, frozenset[str]]:
    """A model key's name without the longest brand name it starts with, and the brands of that
    name (``model:华为mate60`` → ``model:mate60``, {huawei}; none named: empty); ``brands``: as
    :func:`brand_forms`."""
    kind, _, name = key.partition(":")
    for end in range(len(name) - 1, 0, -1):
        if name[:end] in brands:
            return f"{kind}:{name[end:]}", brands[name[:end]]
    return key, frozenset()


def brand_forms(store: GraphStore) -> dict[str, frozenset[str]]:
    """Every brand's folded names and aliases without spaces, as model keys write them → the brands
    of that form (two brands may share one)."""
    from skugraph.corpus.normalize import fold

    forms: dict[str, set[str]] = defaultdict(set)
    for brand, name, aliases in store.query("MATCH (b:Brand) RETURN b.id, b.name, b.aliases").rows:
        for form in [name, *(aliases or [])]:
            if form and (folded := fold(form).replace(" ", "")):
                forms[folded].add(brand)
    return {form: frozenset(brands) for form, brands in forms.items()}


def _slow_movers(stocked: list[ProductStock], recommender: Recommender, excess_days: float) -> list[SlowMover]:
    """Attribute values whose stock, within a product type, lasts at least ``excess_days`` and
    twice as long as the type's; the longest first."""
    groups: dict[tuple[str, str, str], list] = defaultdict(lambda: [0, 0, 0.0])  # (type, predicate, value) → products, stock, sold a day
    types: dict[str, list] = defaultdict(lambda: [0, 0.0])  # type → stock, sold a day
    for product in stocked:
        if product.stock is None or product.daily_sales is None or product.id not in recommender:
            continue
        facts = recommender.facts[product.id]
        values = [(predicate, key) for predicate, key in facts if predicate in ATTRIBUTES]
        for kind in {key for p, key in facts if p == TYPE}:
            total = types[kind]
            total[0] += product.stock
            total[1] += product.daily_sales
            for predicate, key in values:
                group = groups[(kind, predicate, key)]
                group[0] += 1
                group[1] += product.stock
                group[2] += product.daily_sales
    found = []
    for (kind, predicate, key), (products, stock, daily) in groups.items():
        type_stock, type_daily = types[kind]
        if not type_daily:  # a type that does not sell at all: no value of it sells slower than the rest
            continue
        cover = stock / daily if daily else math.inf
        type_cover = type_stock / type_daily
        if stock and cover >= excess_days and cover >= 2 * type_cover:
            found.append(SlowMover(recommender.name(kind), predicate, recommender.name(key), products, stock, daily, cover, type_cover))
    return sorted(found, key=lambda s: (-s.days_of_cover, -s.stock, s.type, s.value))


def _reallocations(stocked: list[ProductStock], excess_days: float) -> list[Reallocation]:
    """For a product a shop is out of in a warehouse that sells it while another warehouse of the
    same shop holds more than ``excess_days`` of its own sales: move what is over
    :data:`KEEP_DAYS` there, at most :data:`KEEP_DAYS` of the empty one's sales. Listings with no
    warehouse named take no part. The most units first."""
    found = []
    for product in stocked:
        empty = [(place, product.sales_at[place]) for place, units in product.stock_at.items()
                 if place[1] and units == 0 and product.sales_at.get(place)]
        full = {place: units for place, units in product.stock_at.items() if place[1] and units}
        for target, target_daily in sorted(empty, key=lambda e: -e[1]):
            for source, units in sorted(full.items(), key=lambda f: -f[1]):
                if source[0] != target[0]:  # another shop's stock
                    continue
                daily = product.sales_at.get(source, 0.0)
                if daily and units / daily < excess_days:
                    continue
                move = min(units - math.ceil(daily * KEEP_DAYS), math.ceil(target_daily * KEEP_DAYS))
                if move <= 0:
                    continue
                held = f"{units / daily:.0f} days" if daily else "no sales"
                shop = f"{source[0]}: " if source[0] else ""
                found.append(Reallocation(product.id, product.title, move, source[1], target[1],
                                          f"{shop}{source[1]} holds {units} ({held}); {target[1]} is out and sells "
                                          f"{target_daily:.1f} a day", source[0]))
                full[source] -= move
                break
    return sorted(found, key=lambda r: (-r.move, r.product))
