"""The product ontology: attribute kinds, predicates, and the graph relationship each maps to.

The graph schema (:mod:`skugraph.graph.schema`) is generated from these tables,
so a predicate added here is stored without further code.
"""

from __future__ import annotations

from dataclasses import dataclass

from skugraph.records import ASPECT, BRAND, CATEGORY, PRODUCT, REVIEW, VALUE, Fact

#: Attribute kinds (the ``kind`` of a Value node) with their Chinese names.
ATTRIBUTE_KINDS: dict[str, str] = {
    "product_type": "品类词",
    "colour": "颜色",
    "material": "材质",
    "capacity": "容量",
    "size": "尺寸",
    "volume": "体积",
    "weight": "重量",
    "power": "功率",
    "model": "型号",
}


@dataclass(frozen=True, slots=True)
class Predicate:
    name: str
    relation: str  # relationship table in the graph
    subject: str  # node label
    objects: tuple[str, ...]  # node labels the object may have
    description: str


_PREDICATES = [
    Predicate("has_brand", "HAS_BRAND", PRODUCT, (BRAND,), "the product is made or sold under this brand"),
    Predicate("in_category", "IN_CATEGORY", PRODUCT, (CATEGORY,), "the shop files the product in this category"),
    Predicate("has_review", "HAS_REVIEW", PRODUCT, (REVIEW,), "a customer review of the product"),
    Predicate(
        "compatible_with",
        "COMPATIBLE_WITH",
        PRODUCT,
        (PRODUCT, BRAND, VALUE),
        "the product fits another product, a brand's products, or a product type or model",
    ),
    Predicate(
        "accessory_of", "ACCESSORY_OF", PRODUCT, (PRODUCT, VALUE), "the product is an accessory for another product"
    ),
    Predicate("has_aspect", "HAS_ASPECT", REVIEW, (ASPECT,), "the review gives an opinion on this aspect"),
    *(
        Predicate(kind, "HAS_VALUE", PRODUCT, (VALUE,), f"attribute value: {chinese}")
        for kind, chinese in ATTRIBUTE_KINDS.items()
    ),
]
PREDICATES: dict[str, Predicate] = {p.name: p for p in _PREDICATES}


def predicate(name: str) -> Predicate:
    try:
        return PREDICATES[name]
    except KeyError:
        raise KeyError(f"unknown predicate {name!r}; known: {', '.join(PREDICATES)}") from None


def check(fact: Fact) -> Predicate:
    """The fact's predicate; ``ValueError`` unless it is known and the fact's ends have the labels it joins."""
    try:
        spec = predicate(fact.predicate)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    if fact.subject.label != spec.subject or fact.object.label not in spec.objects:
        raise ValueError(
            f"fact {fact.key} does not fit predicate {spec.name!r}: {spec.subject} → {'|'.join(spec.objects)} expected"
        )
    if not 0.0 <= fact.confidence <= 1.0:
        raise ValueError(f"fact {fact.key} has confidence {fact.confidence}, outside [0, 1]")
    return spec
