"""Turn a listing and its mentions into facts, and merge facts that say the same thing."""

from __future__ import annotations

from collections.abc import Iterable

from skugraph.facts.ontology import ATTRIBUTE_KINDS
from skugraph.records import BRAND, CATEGORY, PRODUCT, REVIEW, VALUE, Entity, Fact, Listing, Mention, Provenance
from skugraph.corpus.normalize import normalize
from skugraph.tagging.lexicon import BRAND_PAIR, BrandGazetteer, Lexicon, default_gazetteer, default_lexicons, fold

LISTING_EXTRACTOR = "listing@1"  # facts read straight from structured listing fields


def value_entity(kind: str, surface: str) -> Entity:
    """A Value node: keyed by kind and the folded surface (``256 GB`` and ``256gb`` are one value)."""
    folded = fold(surface)
    return Entity(VALUE, f"{kind}:{folded.replace(' ', '')}", folded, kind=kind)


def product_entity(listing: Listing) -> Entity:
    return Entity(PRODUCT, listing.id, listing.title)


def _provenance(mention: Mention) -> Provenance:
    name, _, version = mention.extractor.partition("@")
    return Provenance(mention.listing_id, mention.field, mention.start, mention.end, name, version)


class FactBuilder:
    """Maps mention labels to predicates: brands to ``has_brand``, attribute kinds to
    Value facts, compatibility mentions to ``compatible_with`` and ``accessory_of``."""

    def __init__(self, gazetteer: BrandGazetteer | None = None, accessory_types: Lexicon | None = None):
        self.gazetteer = gazetteer or default_gazetteer()
        self.accessory_types = accessory_types or default_lexicons()["accessory"]

    def brand_entity(self, surface: str) -> Entity:
        brand = self.gazetteer.resolve(surface)
        return Entity(BRAND, brand.key, brand.name, aliases=brand.aliases)

    def _brand_of(self, listing: Listing, mention: Mention) -> Entity:
        """The brand a mention names; one half of ``诺芝（NOZI）`` is read with its other half,
        so both scripts land on one brand with both names."""
        norm = normalize(listing.field_text(mention.field))
        for match in BRAND_PAIR.finditer(norm.text):
            start, end = norm.to_original(*match.span())
            if start <= mention.start and mention.end <= end:
                return self.brand_entity(match.group())
        return self.brand_entity(mention.text)

    def build(self, listing: Listing, mentions: Iterable[Mention]) -> list[Fact]:
        product = product_entity(listing)
        mentions = list(mentions)
        facts = [*self._structured(listing, product)]
        for i, mention in enumerate(mentions):
            fact = self._from_mention(listing, product, mention, mentions[i - 1] if i else None)
            if fact is not None:
                facts.append(fact)
        facts += self._accessory_of(product, mentions)
        return merge_facts(facts)

    def _structured(self, listing: Listing, product: Entity) -> list[Fact]:
        facts = []
        if listing.category:
            path = " > ".join(part.strip() for part in listing.category.split(">"))
            category = Entity(CATEGORY, fold(path), path)
            where = Provenance(listing.id, "category", 0, len(listing.category), *LISTING_EXTRACTOR.split("@"))
            facts.append(Fact(product, "in_category", category, 1.0, (where,)))
        for i, review in enumerate(listing.reviews):
            where = Provenance(listing.id, f"reviews[{i}]", 0, len(review.text), *LISTING_EXTRACTOR.split("@"))
            facts.append(Fact(product, "has_review", Entity(REVIEW, review.id, review.text), 1.0, (where,)))
        return facts

    def _from_mention(
        self, listing: Listing, product: Entity, mention: Mention, previous: Mention | None
    ) -> Fact | None:
        where = (_provenance(mention),)
        if mention.label == "brand":
            return Fact(product, "has_brand", self._brand_of(listing, mention), mention.score, where)
        if mention.label == "compatible_brand":
            return Fact(product, "compatible_with", self.brand_entity(mention.text), mention.score, where)
        if mention.label == "compatible_product":
            return Fact(product, "compatible_with", value_entity("product_type", mention.text), mention.score, where)
        if mention.label == "compatible_model":
            model = mention.text
            if previous and previous.label == "compatible_brand" and previous.field == mention.field:
                model = f"{self.brand_entity(previous.text).name} {model}"  # 苹果 15 pro, not just 15 pro
            return Fact(product, "compatible_with", value_entity("model", model), mention.score, where)
        if mention.label in ATTRIBUTE_KINDS:
            return Fact(product, mention.label, value_entity(mention.label, mention.text), mention.score, where)
        return None

    def _accessory_of(self, product: Entity, mentions: list[Mention]) -> list[Fact]:
        """An accessory product type (手机壳, charger …) fitting a product type makes ``accessory_of``."""
        accessories = [m for m in mentions if m.label == "product_type" and m.text in self.accessory_types]
        targets = [m for m in mentions if m.label == "compatible_product"]
        return [
            Fact(
                product,
                "accessory_of",
                value_entity("product_type", target.text),
                min(accessory.score, target.score),
                (_provenance(accessory), _provenance(target)),
            )
            for accessory in accessories[:1]
            for target in targets
        ]


def merge_facts(facts: Iterable[Fact]) -> list[Fact]:
    """One fact per (subject, predicate, object): provenance joined, confidence combined by
    noisy-or (independent pieces of evidence), in first-seen order."""
    merged: dict[tuple[str, str, str], Fact] = {}
    for fact in facts:
        seen = merged.get(fact.key)
        if seen is None:
            merged[fact.key] = fact
            continue
        new_evidence = tuple(p for p in fact.provenance if p not in seen.provenance)
        if not new_evidence:
            continue
        provenance = seen.provenance + new_evidence
        confidence = 1 - (1 - seen.confidence) * (1 - fact.confidence)
        aliases = tuple(dict.fromkeys(seen.object.aliases + fact.object.aliases))
        obj = seen.object if aliases == seen.object.aliases else _with_aliases(seen.object, aliases)
        merged[fact.key] = Fact(seen.subject, seen.predicate, obj, round(confidence, 6), provenance)
    return list(merged.values())


def _with_aliases(entity: Entity, aliases: tuple[str, ...]) -> Entity:
    return Entity(entity.label, entity.key, entity.name, entity.kind, aliases)
