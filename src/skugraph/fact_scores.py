"""Fact-level scores: how much of what an extractor puts in the graph is right.

Span F1 says whether the tagger found the labelled characters; a user of the graph sees facts.
Here the gold spans of labelled titles become facts through the same reader as the predicted
mentions (the same fact builder, ontology, value normalisation and per-listing vote), and the
two sets of (product, object, predicate) are compared listing by listing: precision, recall
and F1 per predicate and micro (:func:`skugraph.tagging.evaluate.score_spans` over facts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skugraph.corpus.ner import LabelledText
from skugraph.extract import ListingReader
from skugraph.graph.store import batched
from skugraph.records import Fact, Listing, Mention
from skugraph.tagging.evaluate import Report, score_spans

FactKey = tuple[str, str, str]  # (subject key, object label:key, predicate): the predicate last, as a span's label


@dataclass
class GoldMentions:
    """An extractor that returns the labelled spans of each listing (by its id) as mentions."""

    texts: dict[str, LabelledText]
    name: str = "gold"
    version: str = "1"

    def extract_many(self, listings: Sequence[Listing]) -> list[list[Mention]]:
        return [[Mention(listing.id, "title", span.start, span.end, listing.title[span.start : span.end], span.label,
                         1.0, f"{self.name}@{self.version}")
                 for span in self.texts[listing.id].spans] for listing in listings]


def labelled_listings(texts: Sequence[LabelledText]) -> list[Listing]:
    """A listing per labelled text, titled with it (ids from the data, or the line number)."""
    return [Listing(item.id or f"text-{number}", item.text) for number, item in enumerate(texts, 1)]


def fact_keys(facts: Sequence[Fact]) -> set[FactKey]:
    """What a fact states, without its confidence and evidence."""
    return {(fact.subject.key, f"{fact.object.label}:{fact.object.key}", fact.predicate) for fact in facts}


def score_facts(texts: Sequence[LabelledText], reader: ListingReader, batch_size: int = 256) -> Report:
    """Facts ``reader`` makes of the labelled ``texts`` against the facts their gold spans make
    through the same fact builder: per predicate and micro, over the predicates the gold facts
    state (a data set that labels only brands and products cannot judge a colour)."""
    listings = labelled_listings(texts)
    gold_reader = ListingReader(GoldMentions({listing.id: item for listing, item in zip(listings, texts, strict=True)}),
                                reader.builder)
    gold: list[set[FactKey]] = []
    found: list[set[FactKey]] = []
    for batch in batched(listings, batch_size):
        gold += [fact_keys(facts) for _, facts in gold_reader.read(batch)]
        found += [fact_keys(facts) for _, facts in reader.read(batch)]
    return score_spans(gold, found, {predicate for facts in gold for _, _, predicate in facts})
