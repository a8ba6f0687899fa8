"""Query text → constraints (:class:`Constraint`): the extractor the graph was built with reads
the query as a title, and the fact builder turns its mentions into the keys the graph uses
(``256G`` and ``256GB`` are one value, ``苹果`` and ``Apple`` one brand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from skugraph.facts.build import FactBuilder
from skugraph.records import PRODUCT, Fact, Listing, Mention

if TYPE_CHECKING:
    from skugraph.extract import Extractor

#: predicates of the product words a title or query names
PRODUCT_WORDS = ("product_type", "related_product")


@dataclass(frozen=True)
class Constraint:
    """What the query asks for: ``predicate`` and entity ``key``, read from ``surface``."""

    predicate: str
    key: str
    name: str
    surface: str


class QueryParser:
    """Query text → constraints, with the extractor the graph was built with (a
    :class:`~skugraph.tagging.rules.RuleExtractor` or a ``TaggerExtractor``)."""

    def __init__(self, extractor: Extractor, builder: FactBuilder | None = None):
        self.extractor = extractor
        self.builder = builder or FactBuilder(getattr(extractor, "gazetteer", None))

    def read(self, text: str, listing_id: str = "query") -> tuple[list[Mention], list[Fact]]:
        """The mentions the extractor finds in ``text`` (as a title) and the facts built from them."""
        listing = Listing(listing_id, text)
        mentions = self.extractor.extract_many([listing])[0]
        return mentions, self.builder.build(listing, mentions)

    def parse(self, query: str) -> list[Constraint]:
        found = []
        for fact in self.read(query)[1]:
            if fact.subject.label != PRODUCT or not fact.provenance:
                continue
            place = fact.provenance[0]
            found.append((place.start, Constraint(fact.predicate, fact.object.key, fact.object.name, query[place.start : place.end])))
        # a query names the product it wants last (透明 手机壳, 保护 手机壳): that word is the type
        words_ = sorted((start, c) for start, c in found if c.predicate in PRODUCT_WORDS)
        constraints = []
        for start, c in sorted(found, key=lambda item: item[0]):
            if c.predicate in PRODUCT_WORDS:
                predicate = "product_type" if (start, c) == words_[-1] else "related_product"
                c = Constraint(predicate, c.key, c.name, c.surface)
            constraints.append(c)
        return list(dict.fromkeys(constraints))
