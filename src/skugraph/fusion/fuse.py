"""Facts fused onto resolved products: brands that are one brand made one node, the same fact
read from several listings merged (provenance joined, confidence by noisy-or), attribute values
voted again across the listings, and one ``offer_of`` fact per listing with its evidence."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from skugraph.facts.build import LISTING_EXTRACTOR, merge_facts
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.brands import mine_aliases
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.resolve import Resolution, resolve_products
from skugraph.records import ASPECT, BRAND, LISTING, PRODUCT, Entity, Fact, Listing, Provenance


def unify_brands(listings: Sequence[Listing], facts: Sequence[Fact]) -> list[Fact]:
    """Brand nodes that are one brand made one: aliases are mined (:func:`~skugraph.fusion.brands.mine_aliases`)
    from how the titles write the brand mentions the facts were read from; each cluster takes the
    key its facts use most, the canonical name, and every name as an alias. A ``has_brand`` fact
    whose brand has several names says why in its ``evidence``."""
    titles = {listing.id: listing.title for listing in listings}
    spans: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
    brands = [f.object for f in facts if f.object.label == BRAND]
    for fact in facts:
        role = "compatible" if fact.predicate == "compatible_with" else "brand"  # a brand it fits is not its maker
        for place in fact.provenance if fact.object.label == BRAND else ():
            if place.field == "title":
                spans[place.listing_id].add((place.start, place.end, role))
    aliases = mine_aliases((titles[i], sorted(found)) for i, found in spans.items() if i in titles)
    groups: dict[str, list[Entity]] = defaultdict(list)
    for brand in brands:
        groups[aliases.canonical(brand.name)].append(brand)
    unified: dict[str, Entity] = {}
    why: dict[str, str] = {}
    for canonical, members in groups.items():
        key = Counter(b.key for b in members).most_common(1)[0][0]
        names = tuple(dict.fromkeys(n for b in members for n in (b.name, *b.aliases) if n != canonical))
        for brand in members:
            unified[brand.key] = Entity(BRAND, key, canonical, aliases=names)
        if names:
            why[key] = "; ".join(aliases.why(canonical)) or f"{' / '.join((canonical, *names))}: one brand in the brand list"

    def onto_unified(fact: Fact) -> Fact:
        if fact.object.label != BRAND:
            return fact
        brand = unified[fact.object.key]
        if fact.predicate == "has_brand" and brand.key in why:
            return replace(fact, object=brand, properties={**fact.properties, "evidence": why[brand.key]})
        return replace(fact, object=brand)

    return [onto_unified(fact) for fact in facts]


def fuse_facts(listings: Sequence[Listing], facts: Iterable[Fact], resolution: Resolution,
               ontology: Ontology | None = None) -> list[Fact]:
    """The facts moved onto resolved products, brands that are one brand made one node,
    duplicates merged, attribute values voted again across the product's listings, plus an
    ``offer_of`` fact per listing."""
    ontology = ontology or load_ontology()
    product_of = resolution.product_of
    titles = {listing.id: listing.title for listing in listings}

    def moved(entity: Entity) -> Entity:
        if entity.label == PRODUCT and entity.key in product_of:
            product = product_of[entity.key]
            return replace(entity, key=product, name=titles.get(product, entity.name))
        if entity.label == ASPECT and "|" in entity.key:
            listing, _, aspect = entity.key.partition("|")
            if listing in product_of:
                return replace(entity, key=f"{product_of[listing]}|{aspect}")
        return entity

    rewritten = [replace(f, subject=moved(f.subject), object=moved(f.object),
                         properties={k: v for k, v in f.properties.items() if k not in ("chosen", "support")})
                 for f in facts]
    fused = resolve_conflicts(merge_facts(unify_brands(listings, rewritten)), ontology)
    version = LISTING_EXTRACTOR.partition("@")[2]
    for listing in listings:
        product = product_of.get(listing.id, listing.id)
        where = Provenance(listing.id, "title", 0, len(listing.title), "resolve", version)
        fused.append(Fact(Entity(LISTING, listing.id, listing.title), "offer_of", Entity(PRODUCT, product, titles.get(product, "")),
                          resolution.confidence.get(listing.id, 1.0), (where,),
                          {"evidence": resolution.evidence.get(listing.id, "the only listing of this product")}))
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
