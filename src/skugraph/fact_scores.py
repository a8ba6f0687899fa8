"""Fact-level scores: how much of what an extractor puts in the graph is right.

Span F1 says whether the tagger found the labelled characters; a user of the graph sees facts.
Here the gold spans of labelled titles become facts through the same reader as the predicted
mentions (the same fact builder, ontology, value normalisation and per-listing vote), and the
two sets of (product, object, predicate) are compared listing by listing: precision, recall
and F1 per predicate and micro (:func:`skugraph.tagging.evaluate.score_spans` over facts).

**After fusion** (:func:`score_fused`): the predicted facts of all the listings go through
fusion as ``skugraph fuse`` runs it (products resolved, facts moved onto them, brands
unified, duplicates merged, values voted again, completion's inferred values added), and
each listing is judged by what its product then holds against the gold facts of the listing
itself: its labelled title is the truth about the product it offers. A wrong merge brings
another product's facts (precision falls); a right one can bring a fact the extractor missed
in this title but read in another (recall rises); an inferred value counts like any other.
So the difference from the per-listing figure is what fusion did, harm or good. Two
allowances keep renaming from counting as harm: a gold brand is renamed as fusion renamed
the predicted brand of that key (``华为`` and ``HUAWEI`` are one brand node), and the
product's key is read as the listing's. The measure is conservative: a right merge adds true
facts the listing's own title never states, and they count against precision.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from skugraph.corpus.ner import LabelledText, read_labelled
from skugraph.extract import ExtractorConfig, ListingReader, build_reader
from skugraph.facts.calibration import CALIBRATION_FILE, FactCalibration, Lexicon, fit_calibration, lexical_prior, listing_folds
from skugraph.facts.ontology import Ontology
from skugraph.graph.store import batched
from skugraph.records import BRAND, PRODUCT, Fact, Listing, Mention
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


def fact_key(fact: Fact) -> FactKey:
    """What a fact states, without its confidence and evidence."""
    return (fact.subject.key, f"{fact.object.label}:{fact.object.key}", fact.predicate)


def fact_keys(facts: Sequence[Fact]) -> set[FactKey]:
    return {fact_key(fact) for fact in facts}


@dataclass
class LabelledReads:
    """What a reader made of labelled titles beside what their gold spans make."""

    listings: list[Listing]
    facts: list[list[Fact]]  # the reader's facts of each listing
    gold: list[set[FactKey]]  # the gold spans' facts of each listing
    predicates: set[str]  # the predicates the gold facts state: only these are judged

    def outcomes(self) -> tuple[list[list[Fact]], list[list[bool | None]]]:
        """Each listing's facts and whether each is right (None where the gold states no fact of its predicate)."""
        return self.facts, [[fact_key(fact) in gold if fact.predicate in self.predicates else None for fact in facts]
                            for facts, gold in zip(self.facts, self.gold, strict=True)]


def read_with_gold(texts: Sequence[LabelledText], reader: ListingReader, batch_size: int = 256,
                   parts: int | None = None) -> LabelledReads:
    """The labelled ``texts`` read by ``reader`` and, for the gold, by the same fact builder over
    their spans. With ``parts``, a span scorer the reader's tagger holds is cross-fitted: each
    of ``parts`` shares of the texts (the shares :func:`~skugraph.facts.calibration.cross_fit`
    holds out) is read with a scorer refitted on the spans of the others, so no fact's
    confidence was fitted on its own title's labels."""
    listings = labelled_listings(texts)
    gold_reader = ListingReader(GoldMentions({listing.id: item for listing, item in zip(listings, texts, strict=True)}),
                                reader.builder)
    gold = [fact_keys(facts) for batch in batched(listings, batch_size) for _, facts in gold_reader.read(batch)]
    tagger = getattr(reader.extractor, "tagger", None)
    if parts is None or getattr(tagger, "span_scorer", None) is None:
        found = [facts for batch in batched(listings, batch_size) for _, facts in reader.read(batch)]
    else:
        found = _read_cross_fitted(texts, listings, reader, tagger, parts, batch_size)
    return LabelledReads(listings, found, gold, {predicate for facts in gold for _, _, predicate in facts})


def _read_cross_fitted(texts: Sequence[LabelledText], listings: list[Listing], reader: ListingReader, tagger,
                       parts: int, batch_size: int) -> list[list[Fact]]:
    from skugraph.tagging.ensemble import span_rows
    from skugraph.tagging.span_scorer import SpanScorer

    part = listing_folds(len(listings), parts)
    rows = span_rows(tagger, tagger.scores([item.title for item in listings]), texts)
    found: list[list[Fact]] = [[] for _ in listings]
    fitted = tagger.span_scorer
    try:
        for k in range(parts):
            others = [(row, right) for n in np.flatnonzero(part != k) for row, right in rows[n]]
            tagger.span_scorer = SpanScorer.fit([row for row, _ in others], [right for _, right in others])
            for batch in batched(np.flatnonzero(part == k).tolist(), batch_size):
                for n, (_, facts) in zip(batch, reader.read([listings[n] for n in batch]), strict=True):
                    found[n] = facts
    finally:
        tagger.span_scorer = fitted
    return found


def score_reads(reads: LabelledReads) -> Report:
    """Per predicate and micro, over the predicates the gold facts state (a data set that labels
    only brands and products cannot judge a colour)."""
    return score_spans(reads.gold, [fact_keys(facts) for facts in reads.facts], reads.predicates)


def score_facts(texts: Sequence[LabelledText], reader: ListingReader, batch_size: int = 256) -> Report:
    """Facts ``reader`` makes of the labelled ``texts`` against the facts their gold spans make
    through the same fact builder (:func:`score_reads`)."""
    return score_reads(read_with_gold(texts, reader, batch_size))


def calibrate(texts: Sequence[LabelledText], reader: ListingReader, batch_size: int = 256,
              train: Sequence[LabelledText] | None = None) -> FactCalibration:
    """A fact calibration for ``reader`` (its raw confidences, any calibration it has set aside)
    fitted on labelled dev ``texts`` (:func:`skugraph.facts.calibration.fit_calibration`), with the
    lexical prior of the labelled ``train`` texts when given (:func:`training_prior`)."""
    lexicon = training_prior(train, reader) if train else None
    return fit_calibration(*read_with_gold(texts, replace(reader, calibration=None), batch_size).outcomes(), lexicon=lexicon)


def training_prior(texts: Sequence[LabelledText], reader: ListingReader, batch_size: int = 256) -> Lexicon:
    """The lexical prior (:func:`skugraph.facts.calibration.lexical_prior`) of labelled training
    ``texts``: the facts their gold spans make through ``reader``'s fact builder."""
    listings = labelled_listings(texts)
    gold = ListingReader(GoldMentions({listing.id: item for listing, item in zip(listings, texts, strict=True)}), reader.builder)
    facts = [facts for batch in batched(listings, batch_size) for _, facts in gold.read(batch)]
    return lexical_prior([listing.title for listing in listings], facts)


def tagger_training_texts(model: Path) -> list[LabelledText] | None:
    """The labelled texts a tagger directory was trained on, when its record names a file that is
    still there unchanged (same SHA-256); None otherwise."""
    from skugraph.lm.corpus import file_sha256

    try:
        train = json.loads((model / "skugraph.json").read_text(encoding="utf-8")).get("train") or {}
    except (OSError, ValueError):
        return None
    path = Path(train.get("path") or "")
    if not train.get("path") or not path.is_file() or file_sha256(path) != train.get("sha256"):
        return None
    return read_labelled(path, on_error=lambda _: None)


def calibrate_tagger(model: Path, texts: Sequence[LabelledText], train: Sequence[LabelledText] | None = None) -> FactCalibration:
    """Fit a tagger directory's fact calibration on labelled dev ``texts`` and save it there
    (:data:`~skugraph.facts.calibration.CALIBRATION_FILE`), where every reader of the model applies it.
    The lexical prior comes from ``train``, by default the texts the tagger was trained on
    (:func:`tagger_training_texts`; none when that file is gone or changed)."""
    reader = build_reader(ExtractorConfig(kind="tagger", model=model), titles=[t.text for t in texts])
    fitted = calibrate(texts, reader, train=train if train is not None else tagger_training_texts(model))
    fitted.save(model / CALIBRATION_FILE)
    return fitted


def score_fused(reads: LabelledReads, ontology: Ontology, complete: bool = True) -> Report:
    """The facts each listing's product holds after fusion (with ``complete``, completion's
    inferred values too) against the listing's gold facts; see the module doc."""
    from skugraph.fusion.fuse import fuse_all, unify_brands

    facts = [fact for listing_facts in reads.facts for fact in listing_facts]
    resolution, fused, inferred = fuse_all(reads.listings, facts, ontology, complete=complete)
    fused += inferred
    brand_names = {f"{BRAND}:{before.object.key}": f"{BRAND}:{after.object.key}"
                   for before, after in zip(facts, unify_brands(reads.listings, facts), strict=True) if before.object.label == BRAND}
    held: dict[str, list[Fact]] = defaultdict(list)
    for fact in fused:
        if fact.subject.label == PRODUCT:
            held[fact.subject.key].append(fact)
        elif fact.object.label == PRODUCT and fact.predicate != "offer_of":
            held[fact.object.key].append(fact)
    found = []
    for listing in reads.listings:
        product = resolution.product_of.get(listing.id, listing.id)
        found.append({_as_listing(fact_key(fact), product, listing.id) for fact in held[product]})
    gold = [{(s, brand_names.get(o, o), p) for s, o, p in keys} for keys in reads.gold]
    return score_spans(gold, found, reads.predicates)


def _as_listing(key: FactKey, product: str, listing: str) -> FactKey:
    """A product's fact key read as one of its listing's."""
    subject, obj, predicate = key
    obj = f"{PRODUCT}:{listing}" if obj == f"{PRODUCT}:{product}" else obj
    return (listing if subject == product else subject, obj, predicate)
