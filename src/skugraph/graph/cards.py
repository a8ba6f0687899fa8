"""A product as the graph knows it: brand, head product type, attribute values,
compatible-with and accessory links, and what its reviews say per aspect, each fact with
its confidence and provenance (field, span and the text there)."""

from __future__ import annotations

import json
from typing import Any

from skugraph.graph.store import GraphStore
from skugraph.records import COMPLETION

_FACTS = (
    "MATCH (p:Product {id: $id})-[r]->(o) "
    "RETURN label(r) AS relation, r.predicate AS predicate, label(o) AS label, o.id AS key, "
    "coalesce(o.name, o.value, o.id) AS name, r.confidence AS confidence, r.provenance AS provenance "
    "ORDER BY relation, predicate, confidence DESC, name"
)
_SECTIONS = {"HAS_BRAND": "brand", "COMPATIBLE_WITH": "compatible_with", "ACCESSORY_OF": "accessory_of",
             "RELATED_TO": "related_products", "IN_CATEGORY": "category"}


def product_card(store: GraphStore, product_id: str) -> dict[str, Any] | None:
    """The product's listings and its facts grouped by kind, or None when there is no such product.
    Each fact: ``value``, ``confidence`` and ``evidence`` (``sku-0001 title[3:5] 华为 (rules)`` …)."""
    found = _product_texts(store, product_id)
    if found is None:
        return None
    title, texts = found
    card: dict[str, Any] = {"id": product_id, "title": title, "listings": offers(store, product_id), "type": [], "brand": [],
                            "attributes": {}, "compatible_with": [], "accessory_of": [], "related_products": [], "category": [],
                            "aspects": []}
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
    if not store.query("MATCH (a:Aspect)-[:OF]->(:Product {id: $id}) RETURN a.id LIMIT 1", {"id": product_id}).rows:
        return card  # no reviews read: the review queries below scan every review (20 ms on 40,000)
    from skugraph.facts.opinions import aspect_summary

    card["aspects"] = [{k: v for k, v in row.items() if k != "product"} | {"opinions": []} for row in aspect_summary(store, product_id)]
    by_aspect = {row["aspect"]: row for row in card["aspects"]}
    for row in store.query(_OPINIONS, {"id": product_id}).records():
        places = json.loads(row["provenance"] or "[]")
        review = {places[0]["listing_id"]: {places[0]["field"]: row["text"]}} if places else {}  # the review it was read in
        by_aspect[row["aspect"]]["opinions"].append(
            {"opinion": row["opinion"], "polarity": row["polarity"], "evidence": _evidence(row["provenance"], review)})
    return card


_OPINIONS = (
    "MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product {id: $id}) "
    "RETURN a.name AS aspect, m.polarity AS polarity, m.opinion AS opinion, m.provenance AS provenance, r.text AS text "
    "ORDER BY aspect, r.id"
)


def _product_texts(store: GraphStore, product_id: str) -> tuple[str, dict[str, dict[str, str]]] | None:
    """The product's title, and listing id → the title and description its provenance spans point
    into (its listings, or the listing of its own id before resolution); None when there is no
    such product."""
    found = store.query("MATCH (p:Product {id: $id}) RETURN p.title", {"id": product_id}).rows
    if not found:
        return None
    rows = store.query("MATCH (l:Listing)-[:OFFER_OF]->(:Product {id: $id}) RETURN l.id, l.title, l.description", {"id": product_id}).rows
    rows = rows or store.query("MATCH (l:Listing {id: $id}) RETURN l.id, l.title, l.description", {"id": product_id}).rows
    return found[0][0] or "", {lid: {"title": title or "", "description": text or ""} for lid, title, text in rows}


def offers(store: GraphStore, product_id: str) -> list[dict[str, Any]]:
    """The product's listings, each with why entity resolution put it here, how sure it is, and
    since when it offers the product (``since``: its first version here; later versions keep it)."""
    return store.query(
        "MATCH (l:Listing)-[o:OFFER_OF]->(:Product {id: $id}) RETURN l.id AS listing, l.title AS title, l.source AS source, "
        "l.price AS price, o.evidence AS evidence, round(o.confidence, 3) AS confidence, o.valid_from AS since ORDER BY listing",
        {"id": product_id}).records()


def evidence_places(provenance: str | None, texts: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Each place a fact was read: listing, field, span, extractor, and the whole field text when
    it is one of the product's listings' titles or descriptions (so a page can highlight the span)."""
    places = []
    for place in json.loads(provenance or "[]"):
        text = texts.get(place["listing_id"], {}).get(place["field"], "")
        places.append({"listing": place["listing_id"], "field": place["field"], "start": place["start"], "end": place["end"],
                       "extractor": place["extractor"], "version": place["version"], "text": text,
                       "inferred": place["extractor"] == COMPLETION})
    return places


def _evidence(provenance: str | None, texts: dict[str, dict[str, str]]) -> list[str]:
    """``listing field[start:end] text (extractor)`` for each place a fact was read; the text
    when that listing field is known (title or description of one of the product's listings)."""
    out = []
    for place in evidence_places(provenance, texts):
        if place["inferred"]:
            out.append(f"inferred by KG completion ({place['version']}), not read in any listing")
            continue
        snippet = place["text"][place["start"] : place["end"]]
        out.append(f"{place['listing']} {place['field']}[{place['start']}:{place['end']}]{' ' + snippet if snippet else ''} ({place['extractor']})")
    return out


def product_facts(store: GraphStore, product_id: str) -> list[dict[str, Any]] | None:
    """Every fact about a product, flat: relation, predicate, object (label, key, name),
    confidence, and structured evidence (:func:`evidence_places`); None when there is no such product."""
    found = _product_texts(store, product_id)
    if found is None:
        return None
    _, texts = found
    return [{"relation": row["relation"], "predicate": row["predicate"], "label": row["label"], "key": row["key"],
             "value": row["name"], "confidence": round(row["confidence"], 3), "evidence": evidence_places(row["provenance"], texts)}
            for row in store.query(_FACTS, {"id": product_id}).records() if row["relation"] != "HAS_REVIEW"]


_VALUES = (
    "MATCH (p:Product {{id: $id}})-[r:HAS_VALUE]->(v:Value) {where}"
    "RETURN r.predicate AS attribute, v.value AS value, v.canonical AS canonical, r.chosen AS chosen, "
    "coalesce(r.inferred, false) AS inferred, "
    "r.support AS support, r.confidence AS confidence, r.provenance AS provenance "
    "ORDER BY attribute, support DESC, value"
)


_BRANDS = (
    "MATCH (p:Product {id: $id})-[r:HAS_BRAND]->(b:Brand) "
    "RETURN b.name AS brand, b.aliases AS aliases, r.evidence AS why, r.confidence AS confidence, r.provenance AS provenance "
    "ORDER BY confidence DESC, brand"
)


def product_of(store: GraphStore, product_or_listing: str) -> str | None:
    """The product id itself, or the product a listing of that id offers; None when neither exists."""
    if store.query("MATCH (p:Product {id: $id}) RETURN p.id", {"id": product_or_listing}).rows:
        return product_or_listing
    found = store.query("MATCH (:Listing {id: $id})-[:OFFER_OF]->(p:Product) RETURN p.id", {"id": product_or_listing}).rows
    return found[0][0] if found else None


def explain(store: GraphStore, product_or_listing: str, attribute: str | None = None) -> dict[str, Any] | None:
    """Why the graph says what it says about a product (or the product a listing offers): its
    listings with why entity resolution merged them, its brands with why names were taken for
    one brand, and every value of each attribute (or of one), the chosen one first, with
    support, confidence and evidence. None when there is no such product or listing."""
    product_id = product_of(store, product_or_listing)
    found = _product_texts(store, product_id) if product_id else None
    if found is None:
        return None
    title, texts = found
    where = "WHERE r.predicate = $attribute " if attribute else ""
    rows = store.query(_VALUES.format(where=where), {"id": product_id, **({"attribute": attribute} if attribute else {})}).records()
    brands = store.query(_BRANDS, {"id": product_id}).records() if attribute in (None, "brand") else []
    for row in rows + brands:
        row["evidence"] = _evidence(row.pop("provenance"), texts)
    return {"product": product_id, "title": title, "listings": offers(store, product_id), "brands": brands, "values": rows}


def history(store: GraphStore, product_or_listing: str) -> dict[str, Any] | None:
    """What a product (or the product a listing offers) said over time: every value it holds
    now, with the time it was first held, and every value that ended (a retracted fact, a
    listing's old price or title), with when it held. A listing's current value holds since
    its previous one ended, or, if it never changed, since the listing began to offer its
    product (its first version there; a listing offering none: its latest version). Rows
    sorted by attribute, then time; ``valid_to`` None is current. None when there is no such
    product or listing."""
    product_id = product_of(store, product_or_listing)
    if product_id is None:
        return None
    listings = {row["listing"] for row in offers(store, product_id)}
    listings |= {row[0] for row in store.query("MATCH (l:Listing {id: $id}) RETURN l.id", {"id": product_id}).rows}
    rows = store.query(
        "MATCH (p:Product {id: $id})-[r]->(b) WHERE r.predicate IS NOT NULL "
        "RETURN 'product' AS subject, r.predicate AS attribute, coalesce(b.value, b.name, b.title, b.text, b.id) AS value, "
        "r.valid_from AS valid_from, NULL AS valid_to, r.provenance AS provenance", {"id": product_id}).records()
    for row in rows:
        row["sources"] = sorted({p["listing_id"] for p in json.loads(row.pop("provenance") or "[]")})
    if listings:
        for listing, title, price, currency, category, latest, offered in store.query(
                "MATCH (l:Listing) WHERE l.id IN $ids OPTIONAL MATCH (l)-[o:OFFER_OF]->(:Product) "
                "RETURN l.id, l.title, l.price, l.currency, l.category, l.updated_at, min(o.valid_from)",
                {"ids": sorted(listings)}).rows:
            since = min((t for t in (latest, offered) if t is not None), default=None)
            for attribute, value in (("title", title), ("price", price), ("currency", currency), ("category", category)):
                if value is not None:
                    rows.append({"subject": listing, "attribute": attribute, "value": str(value), "valid_from": since,
                                 "valid_to": None, "sources": [listing]})
    subjects = [f"Product:{product_id}", *(f"Listing:{listing}" for listing in sorted(listings))]
    for subject, attribute, value, since, until, sources in store.query(
            "MATCH (c:Change) WHERE c.subject IN $subjects RETURN c.subject, c.attribute, c.value, c.valid_from, c.valid_to, c.sources",
            {"subjects": subjects}).rows:
        label, _, key = subject.partition(":")
        rows.append({"subject": "product" if label == "Product" else key, "attribute": attribute, "value": value,
                     "valid_from": since, "valid_to": until, "sources": json.loads(sources or "[]")})
    ended: dict[tuple[str, str], str] = {}  # (listing, attribute) → when its last old value ended
    for row in rows:
        if row["subject"] != "product" and row["valid_to"]:
            key = (row["subject"], row["attribute"])
            ended[key] = max(ended.get(key, row["valid_to"]), row["valid_to"])
    for row in rows:  # a listing's current value holds since its old one ended, else since it began to offer its product
        if row["subject"] != "product" and row["valid_to"] is None and (row["subject"], row["attribute"]) in ended:
            row["valid_from"] = ended[(row["subject"], row["attribute"])]
    rows.sort(key=lambda row: (row["subject"] != "product", row["subject"], row["attribute"], row["valid_from"] or "",
                               row["valid_to"] is None))
    return {"product": product_id, "listings": sorted(listings), "history": rows}
