"""Product entity resolution: which listings offer the same product, and one Product node for each.

1. **Offers**: each listing becomes an :class:`~skugraph.fusion.matching.Offer` of its title
   and the attributes extracted from it (brand key, product type, model, colour, capacity …,
   chosen values only, normalised; ``fits``: the brands and models it is compatible with).
2. **Blocking** (:mod:`skugraph.fusion.blocking`): candidate pairs share a rare token of the
   title (a jieba word, a model code, the brand: a token in more than ``max_block`` listings is
   too common to block on), or are among each other's ``neighbours`` nearest titles by encoder
   embedding when an encoder is given.
3. **Scoring** (:mod:`skugraph.fusion.identity`): :func:`~skugraph.fusion.identity.identity`
   errs on the side of keeping listings apart. It vetoes a pair that conflicts (different brands,
   types, fitted devices, model codes, model numbers such as 成就3671 / 灵越3470, measures in one
   unit, colours, a replaced piece of title), and merges only on agreeing model codes, brand and
   type, or on near-identical titles (a brand only one of them names is no conflict by itself).
   Without a trained
   matcher its score is the score (:class:`~skugraph.fusion.identity.AttributeMatcher`); a
   trained :class:`~skugraph.fusion.matching.CrossEncoderMatcher` scores the rest, and a vetoed
   pair scores 0 whatever it says.
4. **Clustering** (:mod:`skugraph.fusion.clustering`): connected components of the pairs scored
   at or above ``threshold``, then every bridge (a pair whose removal splits its component)
   scored below ``strong`` whose two ends both have other links is cut, so one weak link cannot
   chain two products into one; a component holding two conflicting listings is rebuilt from
   its strongest matches down without joining them. Each listing's evidence names its match and
   why (model code, type, brand, score), or the most alike listing it was kept apart from and
   the conflict.

The product id of a cluster is its smallest listing id, so rerunning gives the same ids.
:func:`~skugraph.fusion.fuse.fuse_facts` then rewrites the facts onto those products.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from rapidfuzz import fuzz

from skugraph.facts.ontology import Ontology
from skugraph.fusion.blocking import block, offers_from
from skugraph.fusion.clustering import cluster, split_conflicts
from skugraph.fusion.identity import AttributeMatcher, Judge, read_title
from skugraph.fusion.offers import Offer
from skugraph.processes import Workers
from skugraph.records import Fact, Listing
from skugraph.tagging.evaluate import Score


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
    pairs: list[ScoredPair] = field(default_factory=list)  # every candidate pair scored (where kept)
    cut: list[ScoredPair] = field(default_factory=list)  # weak bridges cut when clustering
    candidate_pairs: int = 0  # how many pairs were scored

    @property
    def products(self) -> int:
        return len(set(self.product_of.values()))


def resolve_products(listings: Sequence[Listing], facts: Sequence[Fact], matcher=None, *, threshold: float | None = None,
                     strong: float = 0.8, max_block: int = 50, embed: Callable[[list[str]], np.ndarray] | None = None,
                     ontology: Ontology | None = None, settled: Mapping[str, str] | None = None,
                     reach: Mapping[str, Collection[str]] | None = None) -> Resolution:
    """Which listings are one product. ``matcher``: an object with ``scores(pairs)`` (a trained
    cross-encoder, whose own threshold is used unless ``threshold`` is given) or None for
    :class:`~skugraph.fusion.identity.AttributeMatcher` (threshold 0.75); ``embed`` adds
    nearest-neighbour blocking. Whatever the matcher, a pair
    :func:`~skugraph.fusion.identity.identity` finds in conflict scores 0, and no product keeps
    two listings in conflict (a chain of matches is split where it would). Each listing's
    evidence says which listing it matched and why, or, for a listing alone, the most alike
    listing it was kept apart from and the conflict. ``settled``: listing → product of listings
    resolved before (a graph's stored ones): two of them are never judged again, those of one
    product held together (score 1), those of two not compared; only pairs with another
    listing are judged (a settled listing that the evidence tree reaches through its own
    product's listings says "resolved before": its evidence is not this resolution's). ``reach``:
    listing → the settled products it may be judged with (their listings); a listing it does not
    name, with every settled listing."""
    return resolve_offers(offers_from(listings, facts, ontology), matcher, threshold=threshold, strong=strong,
                          max_block=max_block, embed=embed, settled=settled, reach=reach)


def resolve_offers(offers: Sequence[Offer], matcher=None, *, threshold: float | None = None, strong: float = 0.8,
                   max_block: int = 50, embed: Callable[[list[str]], np.ndarray] | None = None,
                   settled: Mapping[str, str] | None = None, reach: Mapping[str, Collection[str]] | None = None,
                   workers: Workers | None = None, keep_pairs: bool = True) -> Resolution:
    """:func:`resolve_products` on the listings' offers (:func:`~skugraph.fusion.blocking.offers_from`).
    The candidate pairs are scored and clustered one connected component at a time (no pair
    joins two), so the verdicts of a catalogue's pairs are never all held at once; ``workers``
    tokenise the titles and judge the components in their processes. Without ``keep_pairs`` the
    resolution counts the scored pairs but does not list them (a catalogue has about two a listing)."""
    if matcher is None:
        matcher, threshold = AttributeMatcher(), 0.75 if threshold is None else threshold
    elif threshold is None:
        threshold = float(getattr(matcher, "threshold", 0.5))
    embeddings = embed([o.title for o in offers]) if embed else None
    candidates = np.array(list(block(offers, max_block, embeddings, workers=workers)), dtype=np.int64).reshape(-1, 2)
    candidates, held = _settled_pairs(offers, candidates, settled or {}, reach or {})
    order = np.lexsort((candidates[:, 1], candidates[:, 0]))
    candidates, held = candidates[order], held[order]
    trained = None
    if not isinstance(matcher, AttributeMatcher):
        trained = np.ones(len(candidates))
        if (~held).any():
            trained[~held] = matcher.scores([(offers[a], offers[b]) for a, b in candidates[~held].tolist()])
    labels = list(range(len(offers)))
    scored_all: list[tuple[int, int, float]] = []
    candidate_pairs = 0
    cut_all: list[tuple[int, int, float]] = []
    best_link: dict[int, tuple[float, int, str]] = {}  # listing → (score, listing it matched, the reason shown)
    closest_apart: dict[int, tuple[float, int, str]] = {}  # listing → (title similarity, listing, the conflict)

    def components() -> Iterator[_Component]:
        for nodes, rows in _components(len(offers), candidates):
            local = {node: i for i, node in enumerate(nodes)}
            yield _Component(nodes, [offers[node] for node in nodes], [(local[a], local[b]) for a, b in candidates[rows].tolist()],
                             held[rows].tolist(), None if trained is None else trained[rows].tolist())

    for found in (workers or Workers(1)).map(partial(_judge_component, threshold=threshold, strong=strong), components(), batch=64):
        nodes = found.nodes
        for i, label in enumerate(found.part):
            labels[nodes[i]] = nodes[label]
        candidate_pairs += len(found.scored)
        if keep_pairs:
            scored_all += [(nodes[a], nodes[b], score) for a, b, score in found.scored]
        cut_all += [(nodes[a], nodes[b], score) for a, b, score in found.cut]
        best_link |= {nodes[x]: (score, nodes[y], why) for x, (score, y, why) in found.best_link.items()}
        closest_apart |= {nodes[x]: (alike, nodes[y], why) for x, (alike, y, why) in found.closest_apart.items()}
    del candidates
    ids = [offer.id for offer in offers]
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    product_of, evidence, confidence = {}, {}, {}
    for group in members.values():
        product = min(ids[i] for i in group)
        for i in group:
            product_of[ids[i]] = product
            if len(group) == 1:
                evidence[ids[i]], confidence[ids[i]] = "the only listing of this product", 1.0
                if i in closest_apart:
                    alike, other, conflict = closest_apart[i]
                    evidence[ids[i]] += f"; kept apart from {ids[other]} (titles {alike:.2f} alike): {conflict}"
            elif ids[i] == product:
                evidence[ids[i]], confidence[ids[i]] = f"the first of {len(group)} listings of this product", 1.0
            elif i not in best_link:  # a settled listing, held with its product's others
                evidence[ids[i]], confidence[ids[i]] = "resolved before", 1.0
            else:
                score, other, why = best_link[i]
                evidence[ids[i]] = f"matches {ids[other]} (score {score:.2f}{why})"
                confidence[ids[i]] = round(score, 4)
    scored_all.sort()
    cut_all.sort()
    return Resolution(product_of, evidence, confidence,
                      [ScoredPair(ids[a], ids[b], round(s, 4)) for a, b, s in scored_all],
                      [ScoredPair(ids[a], ids[b], round(s, 4)) for a, b, s in cut_all], candidate_pairs)


@dataclass
class _Component:
    """A connected component of candidate pairs, as it travels to be judged: its listings'
    numbers and offers, its pairs (by place in ``offers``), which are held, and a trained
    matcher's scores where one is used."""

    nodes: list[int]
    offers: list[Offer]
    pairs: list[tuple[int, int]]
    held: list[bool]
    trained: list[float] | None


@dataclass
class _Judged:
    """A component's outcome, by place in it: each listing's cluster label, the pairs scored and
    cut, each listing's best match and the most alike listing it was kept apart from."""

    nodes: list[int]
    part: list[int]
    scored: list[tuple[int, int, float]]
    cut: list[tuple[int, int, float]]
    best_link: dict[int, tuple[float, int, str]]
    closest_apart: dict[int, tuple[float, int, str]]


def _judge_component(component: _Component, threshold: float, strong: float) -> _Judged:
    """One component's pairs scored (identity, or the trained scores less identity's vetoes),
    clustered and split where two members conflict."""
    judge, offers = Judge(component.offers), component.offers
    fixed = component.held
    scores = ([1.0 if f else judge(a, b).score for (a, b), f in zip(component.pairs, fixed, strict=True)]
              if component.trained is None else component.trained)
    scored = [(a, b, 1.0 if f else 0.0 if judge(a, b).veto else float(s))
              for (a, b), s, f in zip(component.pairs, scores, fixed, strict=True)]
    part, cut = cluster(len(offers), scored, threshold, strong)
    part = split_conflicts(part, scored, threshold, judge)
    best_link: dict[int, tuple[float, int, str]] = {}
    closest_apart: dict[int, tuple[float, int, str]] = {}
    links: dict[int, list[tuple[float, int, bool]]] = defaultdict(list)  # listing → (score, listing, settled pair) kept together
    for (a, b, score), f in zip(scored, fixed, strict=True):
        if part[a] == part[b] and score >= threshold:
            links[a].append((score, b, f))
            links[b].append((score, a, f))
        elif not f and (verdict := judge(a, b)).veto:
            for x, y in ((a, b), (b, a)):
                alike = fuzz.ratio(read_title(offers[x].title).compact, read_title(offers[y].title).compact) / 100.0
                if alike >= 0.8 and alike > closest_apart.get(x, (0.0, -1, ""))[0]:
                    closest_apart[x] = (alike, y, verdict.reason)
    for x, parent, score in _strongest_tree(part, links, [offer.id for offer in offers]):
        verdict = judge(min(x, parent), max(x, parent))  # a pair is scored smaller first: judged already
        best_link[x] = (score, parent, "; " + verdict.reason if verdict.same else "")
    return _Judged(component.nodes, part, scored, cut, best_link, closest_apart)


def _strongest_tree(part: Sequence[int], links: Mapping[int, list[tuple[float, int, bool]]],
                    ids: Sequence[str]) -> Iterator[tuple[int, int, float]]:
    """Each listing's link towards its product's first listing (smallest id): the product's
    strongest spanning tree over its kept pairs (Prim's from that listing), so evidence that names
    a listing leads, link by link, to the first one and never goes round (a product's listings
    are joined by its kept pairs, so the tree reaches them all). Listings reached by a settled
    pair get no link: their evidence is not this resolution's."""
    members: dict[int, list[int]] = defaultdict(list)
    for x, label in enumerate(part):
        members[label].append(x)
    for group in members.values():
        if len(group) < 2:
            continue
        root = min(group, key=lambda x: ids[x])
        reached, frontier = {root}, [(-score, y, root, f) for score, y, f in links.get(root, ())]
        heapq.heapify(frontier)
        while frontier:
            negative, x, parent, settled = heapq.heappop(frontier)
            if x in reached:
                continue
            reached.add(x)
            if not settled:
                yield x, parent, -negative
            for score, y, f in links.get(x, ()):
                if y not in reached:
                    heapq.heappush(frontier, (-score, y, x, f))


def _settled_pairs(offers: Sequence[Offer], candidates: np.ndarray, settled: Mapping[str, str],
                   reach: Mapping[str, Collection[str]]) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs less those of two settled listings and those of a listing and a
    settled one out of its ``reach``, plus a pair from each settled product's first listing to
    each of its others; and which rows are those held pairs."""
    if not settled:
        return candidates, np.zeros(len(candidates), dtype=bool)
    is_settled = np.array([offer.id in settled for offer in offers], dtype=bool)
    candidates = candidates[~(is_settled[candidates[:, 0]] & is_settled[candidates[:, 1]])]
    if reach:
        def reached(a: int, b: int) -> bool:
            mine, theirs = (a, b) if is_settled[b] else (b, a)
            own = reach.get(offers[mine].id)
            return not is_settled[theirs] or own is None or settled[offers[theirs].id] in own
        candidates = candidates[np.array([reached(a, b) for a, b in candidates.tolist()], dtype=bool).reshape(-1)]
    first: dict[str, int] = {}
    links = [(first.setdefault(settled[offer.id], i), i) for i, offer in enumerate(offers) if offer.id in settled]
    links = np.array([link for link in links if link[0] != link[1]], dtype=np.int64).reshape(-1, 2)
    return (np.concatenate([candidates, links]),
            np.concatenate([np.zeros(len(candidates), dtype=bool), np.ones(len(links), dtype=bool)]))


def _components(count: int, pairs: np.ndarray) -> Iterator[tuple[list[int], np.ndarray]]:
    """The connected components of ``count`` items joined by ``pairs`` (rows a < b), those with a
    pair: each as its items in order and the rows of its pairs, in order."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not len(pairs):
        return
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    of_pair = component[pairs[:, 0]]
    order = np.argsort(of_pair, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(of_pair[order])) + 1):
        yield np.unique(pairs[rows]).tolist(), rows


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
