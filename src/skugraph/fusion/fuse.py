"""Facts fused onto resolved products: brands that are one brand made one node, the same fact
read from several listings merged (provenance joined, confidence by noisy-or), attribute values
voted again across the listings, and one ``offer_of`` fact per listing with its evidence."""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skugraph.facts.build import LISTING_EXTRACTOR, merge_facts
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.brands import mine_aliases
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.resolve import Resolution, resolve_products
from skugraph.records import ASPECT, BRAND, LISTING, PRODUCT, Entity, Fact, Listing, Provenance


class BrandNames:
    """What unifying brands needs, gathered a fact at a time (facts stream through): where the
    titles mention brands (listing numbers and spans, in flat arrays) and each brand entity the
    facts name, with how often and where first. ``number_of``: listing id → its number."""

    def __init__(self, number_of: Mapping[str, int]):
        self.number_of = number_of
        self.first_seen = array("q")  # listing numbers, in the order their first brand span is seen
        self.seen = bytearray(len(number_of))
        self.spans = array("q")  # (listing number, start, end, role: 0 maker, 1 a brand it fits) flat
        self.variants: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}  # (key, name, aliases) → [facts, first]
        self.facts = 0

    def add(self, fact: Fact) -> None:
        brand = fact.object
        if brand.label == BRAND:
            self._note(fact.predicate, brand.key, brand.name, brand.aliases,
                       [(place.listing_id, place.field, place.start, place.end) for place in fact.provenance])

    def add_table(self, facts: pa.Table) -> None:
        """:meth:`add` of each fact of a :data:`~skugraph.tables.FACTS` table, reading only the
        columns it needs."""
        brands = facts.filter(pc.equal(facts["object_label"], BRAND))
        columns = brands.select(["predicate", "object_key", "object_name", "object_aliases"]).to_pydict()
        places = brands["provenance"].to_pylist()
        for (predicate, key, name, aliases), found in zip(zip(*columns.values(), strict=True), places, strict=True):
            self._note(predicate, key, name, tuple(aliases or ()),
                       [(place["listing_id"], place["field"], place["start"], place["end"]) for place in found or ()])

    def _note(self, predicate: str, key: str, name: str, aliases: tuple[str, ...], places: list[tuple[str, str, int, int]]) -> None:
        """One fact naming a brand, with where it was read (listing, field, start, end)."""
        variant = (key, name, aliases)
        if variant in self.variants:
            self.variants[variant][0] += 1
        else:
            self.variants[variant] = [1, self.facts]
        self.facts += 1
        role = int(predicate == "compatible_with")  # a brand it fits is not its maker
        for listing, field, start, end in places:
            number = self.number_of.get(listing) if field == "title" else None
            if number is not None:
                if not self.seen[number]:
                    self.seen[number] = 1
                    self.first_seen.append(number)
                self.spans.extend((number, start, end, role))

    def unified(self, titles: Sequence[str]) -> tuple[dict[str, Entity], dict[str, str]]:
        """Brand key → its unified brand, and unified key → why its names are one brand (see
        :func:`unify_brands`); ``titles``: by listing number."""
        spans = np.frombuffer(self.spans, dtype=np.int64).reshape(-1, 4)
        rank = np.zeros(len(self.seen), dtype=np.int64)
        rank[np.frombuffer(self.first_seen, dtype=np.int64)] = np.arange(len(self.first_seen))
        spans = np.unique(np.column_stack([rank[spans[:, 0]], spans]), axis=0)  # by first seen, then span
        roles = ("brand", "compatible")

        def written() -> Iterator[tuple[str, list[tuple[int, int, str]]]]:
            ends = np.flatnonzero(np.diff(spans[:, 0])) + 1
            for group in np.split(spans, ends) if len(spans) else ():
                yield titles[int(group[0, 1])], [(int(a), int(b), roles[int(r)]) for _, _, a, b, r in group.tolist()]

        aliases = mine_aliases(written())
        groups: dict[str, list[tuple[str, str, tuple[str, ...], int]]] = defaultdict(list)
        for (key, name, names), (count, _) in sorted(self.variants.items(), key=lambda item: item[1][1]):
            groups[aliases.canonical(name)].append((key, name, names, count))
        unified: dict[str, Entity] = {}
        why: dict[str, str] = {}
        for canonical, members in groups.items():
            counts: Counter[str] = Counter()
            for key, _, _, count in members:
                counts[key] += count
            key = counts.most_common(1)[0][0]
            names = tuple(dict.fromkeys(n for _, name, others, _ in members for n in (name, *others) if n != canonical))
            for member, _, _, _ in members:
                unified[member] = Entity(BRAND, key, canonical, aliases=names)
            if names:
                why[key] = "; ".join(aliases.why(canonical)) or f"{' / '.join((canonical, *names))}: one brand in the brand list"
        return unified, why


def onto_unified(fact: Fact, unified: Mapping[str, Entity], why: Mapping[str, str]) -> Fact:
    """A fact with its brand object made the unified brand (:meth:`BrandNames.unified`); a
    ``has_brand`` fact whose brand has several names says why in its ``evidence``."""
    if fact.object.label != BRAND:
        return fact
    brand = unified[fact.object.key]
    if fact.predicate == "has_brand" and brand.key in why:
        return Fact(fact.subject, fact.predicate, brand, fact.confidence, fact.provenance,
                    {**fact.properties, "evidence": why[brand.key]})
    return Fact(fact.subject, fact.predicate, brand, fact.confidence, fact.provenance, fact.properties)


def unify_brands(listings: Sequence[Listing], facts: Sequence[Fact]) -> list[Fact]:
    """Brand nodes that are one brand made one: aliases are mined (:func:`~skugraph.fusion.brands.mine_aliases`)
    from how the titles write the brand mentions the facts were read from; each cluster takes the
    key its facts use most, the canonical name, and every name as an alias. A ``has_brand`` fact
    whose brand has several names says why in its ``evidence``."""
    names = BrandNames({listing.id: number for number, listing in enumerate(listings)})
    for fact in facts:
        names.add(fact)
    unified, why = names.unified([listing.title for listing in listings])
    return [onto_unified(fact, unified, why) for fact in facts]


def move_fact(fact: Fact, product_of: Mapping[str, str], titles: Mapping[str, str]) -> Fact:
    """A listing's fact moved onto its product (named by the title of the product's listing;
    an aspect keyed by the listing keyed by the product), its vote (``chosen``, ``support``) dropped."""

    def moved(entity: Entity) -> Entity:
        if entity.label == PRODUCT and entity.key in product_of:
            product = product_of[entity.key]
            return Entity(entity.label, product, titles.get(product, entity.name), entity.kind, entity.aliases)
        if entity.label == ASPECT and "|" in entity.key:
            listing, _, aspect = entity.key.partition("|")
            if listing in product_of:
                return Entity(entity.label, f"{product_of[listing]}|{aspect}", entity.name, entity.kind, entity.aliases)
        return entity

    return Fact(moved(fact.subject), fact.predicate, moved(fact.object), fact.confidence, fact.provenance,
                {k: v for k, v in fact.properties.items() if k not in ("chosen", "support")})


def offer_facts(listings: Iterable[tuple[str, str]], titles: Mapping[str, str], resolution: Resolution) -> Iterator[Fact]:
    """One ``offer_of`` fact per listing (id, title), with the evidence that put it in its product."""
    version = LISTING_EXTRACTOR.partition("@")[2]
    for listing, title in listings:
        product = resolution.product_of.get(listing, listing)
        where = Provenance(listing, "title", 0, len(title), "resolve", version)
        yield Fact(Entity(LISTING, listing, title), "offer_of", Entity(PRODUCT, product, titles.get(product, "")),
                   resolution.confidence.get(listing, 1.0), (where,),
                   {"evidence": resolution.evidence.get(listing, "the only listing of this product")})


def fuse_facts(listings: Sequence[Listing], facts: Iterable[Fact], resolution: Resolution,
               ontology: Ontology | None = None, titles: Mapping[str, str] | None = None) -> list[Fact]:
    """The facts moved onto resolved products, brands that are one brand made one node,
    duplicates merged, attribute values voted again across the product's listings, plus an
    ``offer_of`` fact per listing. ``titles``: the titles of products named by no listing given
    (stored products that new listings join), beside the listings' own."""
    ontology = ontology or load_ontology()
    titles = {**(titles or {}), **{listing.id: listing.title for listing in listings}}
    rewritten = [move_fact(fact, resolution.product_of, titles) for fact in facts]
    fused = resolve_conflicts(merge_facts(unify_brands(listings, rewritten)), ontology)
    fused += offer_facts(((listing.id, listing.title) for listing in listings), titles, resolution)
    return fused


def fuse_all(listings: Sequence[Listing], facts: Sequence[Fact], ontology: Ontology | None = None, matcher=None, *,
             threshold: float | None = None, embed=None, complete: bool = True,
             min_probability: float = 0.7) -> tuple[Resolution, list[Fact], list[Fact]]:
    """All of fusion as ``skugraph fuse`` runs it: which listings are one product
    (:func:`~skugraph.fusion.resolve.resolve_products`), their facts moved onto the products
    (:func:`fuse_facts`), and with ``complete`` the values products lack, proposed by KG
    completion and marked ``inferred``. Returns the resolution, the fused facts and the inferred ones."""
    from skugraph.fusion.completion import COMPLETED, propose

    ontology = ontology or load_ontology()
    resolution = resolve_products(listings, facts, matcher, threshold=threshold, ontology=ontology, embed=embed)
    fused = fuse_facts(listings, facts, resolution, ontology)
    inferred = propose(fused, COMPLETED, min_probability=min_probability, ontology=ontology).facts if complete else []
    return resolution, fused, inferred
