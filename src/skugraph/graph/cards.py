"""A product as the graph knows it: brand, head product type, attribute values,
compatible-with and accessory links, and what its reviews say per aspect, each fact with
its confidence and provenance (field, span and the text there)."""

from __future__ import annotations

import json
from typing import Any

from skugraph.graph.store import GraphStore

_FACTS = (
    "MATCH (p:Product {id: $id})-[r]->(o) "
    "RETURN label(r) AS relation, r.predicate AS predicate, label(o) AS label, o.id AS key, "
    "coalesce(o.name, o.value, o.id) AS name, r.confidence AS confidence, r.provenance AS provenance "
    "ORDER BY relation, predicate, confidence DESC, name"
)
_SECTIONS = {"HAS_BRAND": "brand", "COMPATIBLE_WITH": "compatible_with", "ACCESSORY_OF": "accessory_of",
             "RELATED_TO": "related_products", "IN_CATEGORY": "category"}


def product_card(store: GraphStore, product_id: str) -> dict[str, Any] | None:
    """The product's facts grouped by kind, or None when there is no such product. Each fact:
    ``value``, ``confidence`` and ``evidence`` (``title[3:5] 华为`` …)."""
    texts = _product_texts(store, product_id)
    if texts is None:
        return None
    card: dict[str, Any] = {"id": product_id, "title": texts["title"], "type": [], "brand": [], "attributes": {}, "compatible_with": [],
                            "accessory_of": [], "related_products": [], "category": [], "aspects": []}
    for row in store.query(_FACTS, {"id": product_id}).records():
        if row["relation"] == "HAS_REVIEW":
            continue
        fact = {"value": row["name"], "confidence": round(row["confidence"], 3), "evidence": _evidence(row["provenance"], texts)}
        if row["relation"] == "HAS_VALUE":
            if row["predicate"] == "product_type":
                card["type"].append(fact)
            else:
                card["attributes"].setdefault(row["predicate"], []).append(fact)
        elif row["relation"] in _SECTIONS:
            card[_SECTIONS[row["relation"]]].append(fact | ({"kind": row["label"]} if row["relation"] == "COMPATIBLE_WITH" else {}))
    from skugraph.facts.opinions import aspect_summary

    card["aspects"] = [{k: v for k, v in row.items() if k != "product"} | {"opinions": []} for row in aspect_summary(store, product_id)]
    by_aspect = {row["aspect"]: row for row in card["aspects"]}
    for row in store.query(_OPINIONS, {"id": product_id}).records():
        review = {_field(row["provenance"]): row["text"]}  # the review the opinion was read in
        by_aspect[row["aspect"]]["opinions"].append(
            {"opinion": row["opinion"], "polarity": row["polarity"], "evidence": _evidence(row["provenance"], review)})
    return card


_OPINIONS = (
    "MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product {id: $id}) "
    "RETURN a.name AS aspect, m.polarity AS polarity, m.opinion AS opinion, m.provenance AS provenance, r.text AS text "
    "ORDER BY aspect, r.id"
)


def _product_texts(store: GraphStore, product_id: str) -> dict[str, str] | None:
    """The title and description the product's provenance spans point into; None when there is no such product."""
    found = store.query("MATCH (p:Product {id: $id}) RETURN p.title, p.description", {"id": product_id}).rows
    return {"title": found[0][0] or "", "description": found[0][1] or ""} if found else None


def _field(provenance: str | None) -> str:
    places = json.loads(provenance or "[]")
    return places[0]["field"] if places else ""


def _evidence(provenance: str | None, texts: dict[str, str]) -> list[str]:
    """``field[start:end] text`` for each place a fact was read (the text when the field is on
    the product node), with the extractor."""
    out = []
    for place in json.loads(provenance or "[]"):
        field, start, end = place["field"], place["start"], place["end"]
        snippet = texts[field][start:end] if field in texts else ""
        out.append(f"{field}[{start}:{end}]{' ' + snippet if snippet else ''} ({place['extractor']})")
    return out


_VALUES = (
    "MATCH (p:Product {{id: $id}})-[r:HAS_VALUE]->(v:Value) {where}"
    "RETURN r.predicate AS attribute, v.value AS value, v.canonical AS canonical, r.chosen AS chosen, "
    "r.support AS support, r.confidence AS confidence, r.provenance AS provenance "
    "ORDER BY attribute, support DESC, value"
)


def explain(store: GraphStore, product_id: str, attribute: str | None = None) -> list[dict[str, Any]] | None:
    """Every value the product has for each attribute (or one), the chosen one first, each with
    its support, confidence and evidence; None when there is no such product."""
    texts = _product_texts(store, product_id)
    if texts is None:
        return None
    where = "WHERE r.predicate = $attribute " if attribute else ""
    rows = store.query(_VALUES.format(where=where), {"id": product_id, **({"attribute": attribute} if attribute else {})}).records()
    for row in rows:
        row["evidence"] = _evidence(row.pop("provenance"), texts)
    return rows
