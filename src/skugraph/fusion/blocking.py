"""Candidate pairs for product resolution: one :class:`~skugraph.fusion.matching.Offer` per
listing, then blocking: pairs sharing a rare token of the title (a jieba word, a model code, the
brand), or among each other's nearest titles by encoder embedding."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import jieba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skugraph.corpus.normalize import fold
from skugraph.facts.checks import properties_struct
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.offers import Offer
from skugraph.processes import Workers
from skugraph.records import BRAND, PRODUCT, Fact, Listing

jieba.setLogLevel(60)

_WORD = re.compile(r"[\w\-+.]+")


class OfferFeatures:
    """What offers are made of, gathered a fact at a time (facts stream through; only each
    listing's chosen identity values are kept): see :func:`offers_from`."""

    def __init__(self, ontology: Ontology | None = None):
        self.ontology = ontology or load_ontology()
        self.attributes: dict[str, dict[str, str]] = defaultdict(dict)
        self.fits: dict[str, set[str]] = defaultdict(set)

    def add(self, fact: Fact) -> None:
        if fact.subject.label == PRODUCT and fact.properties.get("chosen") is not False:
            self._note(fact.subject.key, fact.predicate, fact.object.label, fact.object.key, fact.object.kind)

    def add_table(self, facts: pa.Table) -> None:
        """:meth:`add` of each fact of a :data:`~skugraph.tables.FACTS` table (properties as JSON
        text or a struct), reading only the columns it needs."""
        properties = properties_struct(facts["properties"], self.ontology)
        kept = pc.equal(facts["subject_label"], PRODUCT)
        if any(field.name == "chosen" for field in properties.type):
            kept = pc.and_(kept, pc.fill_null(pc.not_equal(pc.struct_field(properties, "chosen"), False), True))
        columns = facts.filter(kept).select(["subject_key", "predicate", "object_label", "object_key", "object_kind"]).to_pydict()
        for row in zip(*columns.values(), strict=True):
            self._note(*row)

    def _note(self, listing: str, predicate: str, label: str, key: str, kind: str) -> None:
        """One fact of ``listing`` (as its product) not voted out."""
        if predicate == "has_brand":
            name = "brand"
        elif predicate == "compatible_with" and (label == BRAND or kind == "model"):
            self.fits[listing].add(sys.intern(key))
            return
        elif self.ontology.is_kind(predicate):
            name = predicate
        else:
            return
        value = key.split(":", 1)[-1] if label != BRAND else key
        self.attributes[listing].setdefault(name, sys.intern(value))

    def offer(self, listing: str, title: str) -> Offer:
        """The offer of one listing."""
        attributes = self.attributes.get(listing, {})
        fitting = self.fits.get(listing)
        if fitting:
            attributes = {**attributes, "fits": " ".join(sorted(fitting))}
        return Offer(listing, (("title", title), *sorted(attributes.items())))


def offers_from(listings: Sequence[Listing], facts: Iterable[Fact], ontology: Ontology | None = None) -> list[Offer]:
    """One offer per listing: its title, then its chosen brand and attribute values (canonical),
    and ``fits``: the brands and models it is compatible with."""
    features = OfferFeatures(ontology)
    for fact in facts:
        features.add(fact)
    return [features.offer(listing.id, listing.title) for listing in listings]


def _tokens(offer: Offer) -> set[str]:
    words = set(_title_words(offer.title))
    words |= set(offer.codes())
    if offer.get("brand"):
        words.add("brand=" + offer.get("brand"))
    return {w for w in words if not w.isdigit()}


@lru_cache(maxsize=1 << 14)  # a write resolves against the same stored titles again and again
def _title_words(title: str) -> frozenset[str]:
    return frozenset(w for w in jieba.lcut(fold(title)) if _WORD.fullmatch(w) and (len(w) > 1 or not w.isascii()))


def block(offers: Sequence[Offer], max_block: int = 50, embeddings: np.ndarray | None = None,
          neighbours: int = 5, workers: Workers | None = None) -> set[tuple[int, int]]:
    """Candidate pairs (i < j): sharing a token found in at most ``max_block`` offers, or
    among each other's nearest neighbours by cosine of ``embeddings``. ``workers``: processes
    that tokenise the titles."""
    postings: dict[str, list[int]] = defaultdict(list)
    for i, tokens in enumerate((workers or Workers(1)).map(_tokens, offers, batch=1000)):
        for token in tokens:
            postings[token].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in postings.values():
        if 1 < len(members) <= max_block:
            pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    if embeddings is not None and len(offers) > 1:
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
        for start in range(0, len(unit), 1024):
            similarity = unit[start : start + 1024] @ unit.T
            for row, i in enumerate(range(start, min(start + 1024, len(unit)))):
                similarity[row, i] = -np.inf
                nearest = np.argpartition(-similarity[row], neighbours)[:neighbours] if neighbours < len(unit) else range(len(unit))
                pairs.update((min(i, int(j)), max(i, int(j))) for j in nearest if j != i)
    return pairs


def encoder_embeddings(model: str, batch_size: int = 64, max_length: int = 64) -> Callable[[list[str]], np.ndarray]:
    """A function from texts to mean-pooled embeddings of an encoder (a model directory, ``minilm``
    …), for nearest-neighbour blocking."""
    import torch

    from skugraph.fusion.matching import mean_pool
    from skugraph.lm.finetune import cpu_autocast, load_encoder

    encoder, tokenizer = load_encoder(model)
    encoder.eval()

    def embed(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode(), cpu_autocast():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start : start + batch_size], truncation=True, max_length=max_length, padding=True,
                                  return_tensors="pt")
                out.append(mean_pool(encoder(**batch).last_hidden_state.float(), batch["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, encoder.config.hidden_size))

    return embed


def blocking_recall(pairs: set[tuple[int, int]], groups: Sequence[str]) -> float:
    """Share of the true pairs (same gold group) that blocking kept."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        by_group[group].append(i)
    true = {(a, b) for members in by_group.values() for k, a in enumerate(members) for b in members[k + 1 :]}
    return len(true & pairs) / len(true) if true else 1.0
