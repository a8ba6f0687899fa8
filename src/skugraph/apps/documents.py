"""Products as search sees them: one :class:`Document` per product, with its listings' text
and prices and the weights of its facts, built from facts or from the graph.

What a title offers as a free gift (``送指环支架``, ``赠品：挂绳``) is not what the product is:
such facts are left out of the documents search and recommendations work on.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from skugraph.corpus.normalize import fold
from skugraph.graph.store import GraphStore
from skugraph.processes import collector_paused
from skugraph.records import BRAND, LISTING, PRODUCT, Fact, Listing

#: how much an inferred fact (KG completion) counts against an extracted one
INFERRED = 0.5
#: where a free gift's words end: a break between title segments, or a word that says what the product fits
_GIFT_END = re.compile(r"[\s，,。；;！!|【】\[\]()（）]|适用|适合|兼容|专用|for", re.IGNORECASE)
#: how far after 送 / 赠 a gift's words may reach
GIFT_REACH = 12
#: 送 in a word that is no free gift: conveying (传送带, 送风), delivery (配送, 送货), or the product given to someone (送女友)
_NOT_GIFT = re.compile(r"[传输配运发递护接]送|送(?:风|货|达|料|礼|给|女友|男友|老公|老婆|朋友|同学|老师|长辈|爸|妈|孩子|儿童|人)")


#: the words that may start a free gift (:func:`in_gift`): a text without them has none
GIFT_MARKS = "送赠"
_GIFT_MARK = re.compile(f"[{GIFT_MARKS}]")
#: a listing id in a provenance's JSON text
_LISTING_ID = re.compile(r'"listing_id": ?"([^"\\]*)"')


def in_gift(text: str, start: int) -> bool:
    """Whether the span at ``start`` of ``text`` names a free gift: the same title segment has
    送 or 赠 at most ``GIFT_REACH`` characters before it (``送钢化膜+指环``, ``赠品：挂绳``)."""
    begin = max(0, start - GIFT_REACH)
    cut = max((m.end() for m in _GIFT_END.finditer(text, begin, start)), default=begin)
    return any(text[i] in GIFT_MARKS and not _in_word(i, text) for i in range(cut, min(start, len(text))))


def without_gifts(text: str) -> str:
    """``text`` without the free gifts :func:`in_gift` finds in it, their 送 or 赠 too
    (``x20plus-热情红 送钢化膜`` is ``x20plus-热情红 ``); white space and the breaks between title
    segments stay (``【买1赠2】诺印`` is ``【买1】诺印``)."""
    if not _GIFT_MARK.search(text):
        return text
    # a 送 or 赠 that starts a gift goes with it
    return "".join(ch for i, ch in enumerate(text) if _GIFT_END.fullmatch(ch) or not in_gift(text, i + 1 if ch in GIFT_MARKS else i))


def _in_word(i: int, text: str) -> bool:
    """Whether the 送 at ``i`` is part of a word that is no free gift (:data:`_NOT_GIFT`)."""
    return any(m.start() <= i < m.end() for m in _NOT_GIFT.finditer(text, max(0, i - 1), i + 3))


def _read_in(provenance: str | None, listings: set[str]) -> bool:
    """Whether a provenance (JSON text) names one of ``listings``, or may: its listing ids read
    without parsing it, unless it has an escape."""
    if not provenance:
        return False
    return "\\" in provenance or any(lid in listings for lid in _LISTING_ID.findall(provenance))


def _gift_only_in(provenance: str, fields: Mapping[str, tuple[str, str]]) -> bool:
    """:func:`gift_only` of a provenance's JSON text, given each listing's (title, description)."""
    places = json.loads(provenance)
    named = {place.get("listing_id") for place in places}
    return gift_only(places, {lid: {"title": fields[lid][0], "description": fields[lid][1]} for lid in named if lid in fields})


def gift_only(provenance: Sequence[Mapping] | None, texts: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether every place a fact was read (``listing_id``, ``field``, ``start``) is a free gift
    in its listing's text; False when no place can be checked."""
    checked = [(texts[p["listing_id"]][p["field"]], p["start"]) for p in provenance or ()
               if p.get("field") in texts.get(p.get("listing_id"), {})]
    return bool(checked) and all(in_gift(text, start) for text, start in checked)


@dataclass
class Document:
    """One product as search sees it."""

    id: str
    title: str
    text: str  # its listings' titles and descriptions
    facts: dict[tuple[str, str], float] = field(default_factory=dict)  # (predicate, entity key) → weight
    names: dict[str, str] = field(default_factory=dict)  # entity key → display name
    prices: tuple[float, ...] = ()

    @cached_property
    def weights_by_key(self) -> dict[str, list[tuple[str, float]]]:
        """Entity key → (predicate, weight) of each fact on it, made on first use (after the
        document is complete)."""
        out: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for (predicate, key), weight in self.facts.items():
            out[key].append((predicate, weight))
        return dict(out)


def documents_from_facts(listings: Iterable[Listing],
                         facts: Iterable[Fact]) -> tuple[list[Document], dict[str, set[str]]]:
    """One document per product: the products the facts are about, each with the text of
    the listings that offer it (``offer_of`` facts; a listing of its own id before fusion);
    and the brand names and aliases (:func:`alias_map`)."""
    listings = {listing.id: listing for listing in listings}
    texts = {i: {"title": listing.title, "description": listing.description or ""} for i, listing in listings.items()}
    offers: dict[str, list[str]] = defaultdict(list)
    docs: dict[str, Document] = {}
    facts = list(facts)
    for fact in facts:
        if fact.subject.label == LISTING and fact.predicate == "offer_of":
            offers[fact.object.key].append(fact.subject.key)
    for fact in facts:
        if fact.subject.label != PRODUCT:
            continue
        doc = docs.get(fact.subject.key)
        if doc is None:
            ids = offers.get(fact.subject.key) or [fact.subject.key]
            members = [listings[i] for i in ids if i in listings]
            doc = docs[fact.subject.key] = Document(
                fact.subject.key, fact.subject.name or (members[0].title if members else ""),
                "\n".join(f"{m.title}\n{m.description}" for m in members),
                prices=tuple(m.price for m in members if m.price is not None))
        places = [{"listing_id": p.listing_id, "field": p.field, "start": p.start} for p in fact.provenance]
        if gift_only(places, texts):
            continue
        inferred = fact.properties.get("inferred")
        weight = fact.confidence * (INFERRED if inferred else 1.0)
        key = (fact.predicate, fact.object.key)
        doc.facts[key] = max(doc.facts.get(key, 0.0), weight)
        doc.names[fact.object.key] = fact.object.name
    brands = [(f.object.key, [f.object.name, *f.object.aliases]) for f in facts if f.object.label == BRAND]
    return list(docs.values()), alias_map(brands)


@collector_paused()  # a tuple a row, dicts a product: the collector would scan them again and again
def documents_from_store(store: GraphStore, products: Collection[str] | None = None,
                         with_text: bool = True) -> tuple[list[Document], dict[str, set[str]]]:
    """Every product in the graph (or those of ``products`` it holds), with its listings' text
    (unless not ``with_text``: for the recommender, which reads facts alone) and prices and its
    facts; and the brand names and aliases (:func:`alias_map`)."""
    where, only = ("WHERE p.id IN $ids ", {"ids": sorted(products)}) if products is not None else ("", None)
    texts: dict[str, list[tuple[str, str, float | None]]] = defaultdict(list)
    fields: dict[str, tuple[str, str]] = {}  # listing id → its title and description (where facts were read)
    for pid, lid, title, text, price in zip(*store.columns(
            f"MATCH (l:Listing)-[:OFFER_OF]->(p:Product) {where}RETURN p.id, l.id, l.title, l.description, l.price ORDER BY l.id",
            only), strict=True):
        title, text = title or "", text or ""
        fields[lid] = (title, text)
        texts[pid].append((title, text, price))
    # some products by key: WHERE p.id IN $ids scans the table (4 ms at 20,000 products against 0.1)
    products = store.query("UNWIND $ids AS id MATCH (p:Product {id: id}) RETURN p.id, p.title ORDER BY p.id" if only
                           else "MATCH (p:Product) RETURN p.id, p.title ORDER BY p.id", only).rows
    unfused = [pid for pid, _ in products if pid not in texts]  # loaded without fusion: the listing of its own id
    delisted = set()  # products whose own listing was taken off the market and that no other listing offers
    if unfused:
        for lid, title, text, price, supports in store.query("MATCH (l:Listing) WHERE l.id IN $ids RETURN l.id, l.title, "
                                                             "l.description, l.price, l.supports", {"ids": unfused}).rows:
            if supports is not None and not json.loads(supports):
                delisted.add(lid)
                continue
            title, text = title or "", text or ""
            fields[lid] = (title, text)
            texts[lid].append((title, text, price))
    products = [(pid, title) for pid, title in products if pid not in delisted]
    docs: dict[str, Document] = {}
    for pid, title in products:
        members = texts.get(pid) or [(title or "", "", None)]
        docs[pid] = Document(pid, title or members[0][0], "\n".join(f"{t}\n{d}" for t, d, _ in members) if with_text else "",
                             prices=tuple(p for _, _, p in members if p is not None))
    rows = store.columns(f"MATCH (p:Product)-[r]->(o) {where or 'WHERE '}{'AND ' if where else ''}label(r) <> 'HAS_REVIEW' "
                         "RETURN p.id, r.predicate, o.id, coalesce(o.name, o.value, o.id), r.confidence, r.inferred, r.provenance",
                         only)  # weighed here: the weight or a predicate's check in Cypher costs more than in Python
    gifts = {lid for lid, (title, text) in fields.items() if _GIFT_MARK.search(title) or _GIFT_MARK.search(text)}
    held = {pid: (doc.facts, doc.names) for pid, doc in docs.items()}
    for pid, predicate, key, name, confidence, inferred, provenance in zip(*rows, strict=True):  # 100,000 rows: kept lean
        if predicate is None or (found := held.get(pid)) is None \
                or gifts and _read_in(provenance, gifts) and _gift_only_in(provenance, fields):
            continue
        weight = (confidence or 0.0) * (INFERRED if inferred else 1.0)
        facts, names = found
        if (fact := (predicate, key)) not in facts or weight > facts[fact]:
            facts[fact] = weight
        names[key] = name
    brands = [(key, [name, *(aliases or [])]) for key, name, aliases in
              store.query("MATCH (b:Brand) RETURN b.id, b.name, b.aliases").rows]
    return list(docs.values()), alias_map(brands)


def alias_map(brands: Iterable[tuple[str, Sequence[str]]]) -> dict[str, set[str]]:
    """Folded brand name or alias → the brand keys written so."""
    out: dict[str, set[str]] = defaultdict(set)
    for key, forms in brands:
        for form in forms:
            if form:
                out[fold(form)].add(key)
    return dict(out)
