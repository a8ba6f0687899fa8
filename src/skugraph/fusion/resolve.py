"""Product entity resolution: which listings offer the same product, and one Product node for each.

1. **Offers**: each listing becomes an :class:`~skugraph.fusion.matching.Offer` of its title
   and the attributes extracted from it (brand key, product type, model, colour, capacity …,
   chosen values only, normalised; ``fits``: the brands and models it is compatible with).
2. **Blocking**: candidate pairs share a rare token of the title (a jieba word, a model code,
   the brand: a token in more than ``max_block`` listings is too common to block on), or are
   among each other's ``neighbours`` nearest titles by encoder embedding when an encoder is given.
3. **Scoring**: a trained :class:`~skugraph.fusion.matching.CrossEncoderMatcher`, or without one
   :class:`AttributeMatcher`: attribute agreement and title similarity, zero when a key
   attribute or the model words disagree.
4. **Clustering**: connected components of the pairs scored at or above ``threshold``, then
   every bridge (a pair whose removal splits its component) scored below ``strong`` whose two
   ends both have other links is cut, so one weak link cannot chain two products into one.

The product id of a cluster is its smallest listing id, so rerunning gives the same ids.
:func:`fuse_facts` rewrites the facts onto those products, makes brands that are one brand
one node, merges the same fact read from several listings (provenance joined, confidence by
noisy-or), votes the attribute values again across the listings, and adds one ``offer_of``
fact per listing with the evidence.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import jieba
import numpy as np
from rapidfuzz import fuzz

from skugraph.facts.build import LISTING_EXTRACTOR, merge_facts
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.brands import mine_aliases
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.matching import Offer, mean_pool
from skugraph.records import ASPECT, BRAND, LISTING, PRODUCT, Entity, Fact, Listing, Provenance
from skugraph.tagging.evaluate import Score
from skugraph.tagging.lexicon import fold

jieba.setLogLevel(60)

#: attributes two offers of one product cannot disagree on
KEY_ATTRIBUTES = ("brand", "product_type", "model", "capacity", "colour", "size", "volume", "weight", "power", "fits")
_WORD = re.compile(r"[\w\-+.]+")


@dataclass(frozen=True, slots=True)
class ScoredPair:
    left: str  # listing ids
    right: str
    score: float


@dataclass
class Resolution:
    """Listing → product, with the pair that put each listing in its product."""

    product_of: dict[str, str]
    evidence: dict[str, str]  # listing id → why it is in its product
    confidence: dict[str, float]  # listing id → score of the pair that put it there (1 for the product's own listing)
    pairs: list[ScoredPair] = field(default_factory=list)  # every candidate pair scored
    cut: list[ScoredPair] = field(default_factory=list)  # weak bridges cut when clustering

    @property
    def products(self) -> int:
        return len(set(self.product_of.values()))


def offers_from(listings: Sequence[Listing], facts: Iterable[Fact], ontology: Ontology | None = None) -> list[Offer]:
    """One offer per listing: its title, then its chosen brand and attribute values (canonical),
    and ``fits``: the brands and models it is compatible with."""
    ontology = ontology or load_ontology()
    attributes: dict[str, dict[str, str]] = defaultdict(dict)
    fits: dict[str, set[str]] = defaultdict(set)
    for fact in facts:
        if fact.subject.label != PRODUCT or fact.properties.get("chosen") is False:
            continue
        if fact.predicate == "has_brand":
            name = "brand"
        elif fact.predicate == "compatible_with" and (fact.object.label == BRAND or fact.object.kind == "model"):
            fits[fact.subject.key].add(fact.object.key)
            continue
        elif ontology.is_kind(fact.predicate):
            name = fact.predicate
        else:
            continue
        value = fact.object.key.split(":", 1)[-1] if fact.object.label != BRAND else fact.object.key
        attributes[fact.subject.key].setdefault(name, value)
    for listing, fitting in fits.items():
        attributes[listing]["fits"] = " ".join(sorted(fitting))
    return [Offer(listing.id, (("title", listing.title), *sorted(attributes.get(listing.id, {}).items()))) for listing in listings]


def _tokens(offer: Offer) -> set[str]:
    title = fold(offer.title)
    words = {w for w in jieba.lcut(title) if _WORD.fullmatch(w) and (len(w) > 1 or not w.isascii())}
    words |= set(offer.codes())
    if offer.get("brand"):
        words.add("brand=" + offer.get("brand"))
    return {w for w in words if not w.isdigit()}


def block(offers: Sequence[Offer], max_block: int = 50, embeddings: np.ndarray | None = None,
          neighbours: int = 5) -> set[tuple[int, int]]:
    """Candidate pairs (i < j): sharing a token found in at most ``max_block`` offers, or
    among each other's nearest neighbours by cosine of ``embeddings``."""
    postings: dict[str, list[int]] = defaultdict(list)
    for i, offer in enumerate(offers):
        for token in _tokens(offer):
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

    from skugraph.tagging.train import cpu_autocast, load_encoder

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


class AttributeMatcher:
    """The matcher when no trained one is given. 0 when the offers disagree on a key attribute
    both have (a product type or a ``fits`` set may contain the other's: 手机 / 智能手机), or
    when their titles' model words (Latin words and numbers, less the brand and measures
    such as 256gb or 6.1) differ; otherwise the share of key attributes the two agree on, out
    of three (capped at 1), times 0.6, plus 0.4 × title similarity (rapidfuzz token-set ratio)."""

    def scores(self, pairs: Sequence[tuple[Offer, Offer]]) -> np.ndarray:
        return np.array([self._score(a, b) for a, b in pairs])

    @staticmethod
    def _score(left: Offer, right: Offer) -> float:
        agree = 0
        for name in KEY_ATTRIBUTES:
            a, b = left.get(name), right.get(name)
            if not (a and b):
                continue
            if name == "product_type" and (a in b or b in a) or name == "fits" and (set(a.split()) <= set(b.split()) or set(b.split()) <= set(a.split())):
                agree += 1
            elif a != b:
                return 0.0
            else:
                agree += 1
        if _model_words(left) != _model_words(right):
            return 0.0
        return 0.6 * min(1.0, agree / 3) + 0.4 * fuzz.token_set_ratio(fold(left.title), fold(right.title)) / 100.0


_MODEL_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?(?:[a-z]+)?")
_NOT_MODEL = re.compile(r"\d+(\.\d+)?(g|gb|t|tb|mb|w|kw|v|mah|ml|l|mm|cm|m|kg|hz|p|k|寸|英寸)?|\d+\.\d+|[a-z]|usb|pc|gan")


def _model_words(offer: Offer) -> frozenset[str]:
    """Latin words and numbers of the title that can name a model: not a brand (its own or one it
    fits, also when glued to the next word), not a measure."""
    title = re.sub(r"\d+\+\d+[a-z]*", " ", fold(offer.title))  # 12+256g: memory, an attribute
    brands = [offer.get("brand"), *(b for b in offer.get("fits").split() if ":" not in b)]
    words = set()
    for word in _MODEL_WORD.findall(title):
        for brand in filter(None, brands):  # OPPOFind X7: the brand glued to the model
            word = word.removeprefix(brand)
        if word and not _NOT_MODEL.fullmatch(word):
            words.add(word)
    return frozenset(words)


def _bridges(nodes: list[int], edges: dict[int, dict[int, float]]) -> set[tuple[int, int]]:
    """Bridges of the graph induced on ``nodes`` (Tarjan, iterative), as (min, max) pairs."""
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    found: set[tuple[int, int]] = set()
    for root in nodes:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, -1, iter(edges[root]))]
        while stack:
            node, parent, children = stack[-1]
            advanced = False
            for child in children:
                if child == parent:
                    continue
                if child in order:
                    low[node] = min(low[node], order[child])
                else:
                    order[child] = low[child] = len(order)
                    stack.append((child, node, iter(edges[child])))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                if parent >= 0:
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        found.add((min(node, parent), max(node, parent)))
    return found


def cluster(count: int, scored: Iterable[tuple[int, int, float]], threshold: float = 0.5,
            strong: float = 0.8) -> tuple[list[int], list[tuple[int, int, float]]]:
    """Cluster label per item (the smallest member index), and the weak bridges that were cut."""
    edges: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, score in scored:
        if score >= threshold:
            edges[a][b] = edges[b][a] = score
    nodes = sorted(edges)
    # a weak bridge between two groups (both ends have other links) chains two products: cut it
    weak = {(a, b) for a, b in _bridges(nodes, edges) if edges[a][b] < strong and len(edges[a]) > 1 and len(edges[b]) > 1}
    cut = [(a, b, edges[a][b]) for a, b in sorted(weak)]
    for a, b, _ in cut:
        del edges[a][b], edges[b][a]
    label = list(range(count))
    done: set[int] = set()
    for start in nodes:  # components by depth-first search; label = smallest member
        if start in done:
            continue
        seen, stack = {start}, [start]
        while stack:
            node = stack.pop()
            for other in edges[node]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        smallest = min(seen)
        for node in seen:
            label[node] = smallest
        done |= seen
    return label, cut


def resolve_products(listings: Sequence[Listing], facts: Sequence[Fact], matcher=None, *, threshold: float | None = None,
                     strong: float = 0.8, max_block: int = 50, embed: Callable[[list[str]], np.ndarray] | None = None,
                     ontology: Ontology | None = None) -> Resolution:
    """Which listings are one product. ``matcher``: an object with ``scores(pairs)`` (a trained
    cross-encoder, whose own threshold is used unless ``threshold`` is given) or None for
    :class:`AttributeMatcher` (threshold 0.75); ``embed`` adds nearest-neighbour blocking."""
    offers = offers_from(listings, facts, ontology)
    if matcher is None:
        matcher, threshold = AttributeMatcher(), 0.75 if threshold is None else threshold
    elif threshold is None:
        threshold = float(getattr(matcher, "threshold", 0.5))
    embeddings = embed([o.title for o in offers]) if embed else None
    candidates = sorted(block(offers, max_block, embeddings))
    scores = matcher.scores([(offers[a], offers[b]) for a, b in candidates]) if candidates else np.zeros(0)
    scored = [(a, b, float(s)) for (a, b), s in zip(candidates, scores, strict=True)]
    labels, cut = cluster(len(offers), scored, threshold, strong)
    ids = [listing.id for listing in listings]
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    product_of, evidence, confidence = {}, {}, {}
    best_link: dict[int, tuple[float, int]] = {}
    for a, b, score in scored:
        if labels[a] == labels[b] and score >= threshold:
            for x, y in ((a, b), (b, a)):
                if score > best_link.get(x, (-1.0, -1))[0]:
                    best_link[x] = (score, y)
    for label, group in members.items():
        product = min(ids[i] for i in group)
        for i in group:
            product_of[ids[i]] = product
            if len(group) == 1:
                evidence[ids[i]], confidence[ids[i]] = "the only listing of this product", 1.0
            elif ids[i] == product:
                evidence[ids[i]], confidence[ids[i]] = f"the first of {len(group)} listings of this product", 1.0
            else:
                score, other = best_link[i]
                evidence[ids[i]] = f"matches {ids[other]} (score {score:.2f}{_agreement(offers[i], offers[other])})"
                confidence[ids[i]] = round(score, 4)
    return Resolution(product_of, evidence, confidence,
                      [ScoredPair(ids[a], ids[b], round(s, 4)) for a, b, s in scored],
                      [ScoredPair(ids[a], ids[b], round(s, 4)) for a, b, s in cut])


def _agreement(left: Offer, right: Offer) -> str:
    same = [f"{name} {left.get(name)}" for name in KEY_ATTRIBUTES if left.get(name) and left.get(name) == right.get(name)]
    return f"; same {', '.join(same)}" if same else ""


def unify_brands(listings: Sequence[Listing], facts: Sequence[Fact]) -> list[Fact]:
    """Brand nodes that are one brand made one: aliases are mined (:func:`~skugraph.fusion.brands.mine_aliases`)
    from how the titles write the brand mentions the facts were read from; each cluster takes the
    key its facts use most, the canonical name, and every name as an alias."""
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
    for canonical, members in groups.items():
        key = Counter(b.key for b in members).most_common(1)[0][0]
        names = tuple(dict.fromkeys(n for b in members for n in (b.name, *b.aliases) if n != canonical))
        for brand in members:
            unified[brand.key] = Entity(BRAND, key, canonical, aliases=names)
    return [replace(f, object=unified[f.object.key]) if f.object.label == BRAND else f for f in facts]


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


def pairwise_scores(product_of: dict[str, str], gold: dict[str, str]) -> Score:
    """Precision, recall and F1 over listing pairs put in one product, against gold product
    names (listings missing from either side are left out)."""
    ids = [i for i in product_of if i in gold]

    def same_pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
        members: dict[str, list[str]] = defaultdict(list)
        for listing in ids:
            members[groups[listing]].append(listing)
        return {(a, b) for group in members.values() for k, a in enumerate(sorted(group)) for b in sorted(group)[k + 1 :]}

    predicted, true = same_pairs(product_of), same_pairs(gold)
    return Score.from_counts(len(predicted & true), len(predicted), len(true))


def group_sizes(resolution: Resolution) -> Counter:
    """How many products have 1, 2, 3 … listings."""
    return Counter(Counter(resolution.product_of.values()).values())
