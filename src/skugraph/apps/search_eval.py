"""How good search is: queries a shopper could type, synthesised from gold facts with the
products relevant to each, and the mean nDCG@10 and recall@50 of an index's rankings."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from skugraph.apps.query_parser import QueryParser
from skugraph.apps.search import SearchIndex
from skugraph.records import PRODUCT, Fact, Listing

#: predicates a synthesised query may ask for beside the product type
QUERY_PREDICATES = ("has_brand", "compatible_with", "colour", "material", "capacity", "size", "style", "use",
                    "audience", "feature", "pattern", "place_of_use", "form", "specification", "model", "series")


@dataclass(frozen=True)
class Query:
    text: str
    wants: frozenset[tuple[str, str]]  # (predicate, entity key) a relevant product has, all of them
    relevant: frozenset[str]


def gold_facts(listings: Sequence[Listing], facts: Iterable[Fact]) -> dict[str, list[tuple[str, str, str]]]:
    """Listing id → (predicate, entity key, surface text) of each fact read in its title."""
    titles = {listing.id: listing.title for listing in listings}
    out: dict[str, list[tuple[str, str, str]]] = {listing.id: [] for listing in listings}
    for fact in facts:
        if fact.subject.label == PRODUCT and fact.provenance and fact.subject.key in titles:
            place = fact.provenance[0]
            out[fact.subject.key].append((fact.predicate, fact.object.key, titles[fact.subject.key][place.start : place.end]))
    return out


def synthesise_queries(gold: Mapping[str, Sequence[tuple[str, str, str]]], count: int = 300, seed: int = 0,
                       predicates: Sequence[str] = QUERY_PREDICATES, min_relevant: int = 2) -> list[Query]:
    """Queries a shopper could type, made from gold facts: a product's type plus one or two of its
    other values, each written as the titles most often write it (a compatible one as ``适用X``).
    Relevant: every product whose gold facts include all the query asks for; only queries with
    at least ``min_relevant`` relevant products are kept (a query one title answers tests
    string lookup, not search), ``count`` of them drawn at random."""
    import random
    from itertools import combinations

    held = {doc: {(p, k) for p, k, _ in facts} for doc, facts in gold.items()}
    surfaces: dict[str, Counter[str]] = defaultdict(Counter)
    for facts in gold.values():
        for _, key, surface in facts:
            if surface.strip():
                surfaces[key][surface.strip()] += 1
    having: dict[tuple[str, str], set[str]] = defaultdict(set)
    for doc, have in held.items():
        for fact in have:
            having[fact].add(doc)
    candidates: set[frozenset[tuple[str, str]]] = set()
    for have in held.values():
        heads = sorted(f for f in have if f[0] == "product_type")[:1]
        others = sorted(f for f in have if f[0] in predicates and f[1] in surfaces)
        for size in (1, 2):
            candidates.update(frozenset((*heads, *extra)) for extra in combinations(others, size) if heads)
    queries = []
    for wants in sorted(candidates, key=sorted):
        relevant = frozenset.intersection(*(frozenset(having[f]) for f in wants))
        if len(relevant) >= min_relevant:
            words_ = [("适用" if p == "compatible_with" else "") + surfaces[k].most_common(1)[0][0]
                      for p, k in sorted(wants, key=lambda f: (f[0] == "product_type", f))]
            queries.append(Query(" ".join(words_), wants, relevant))
    random.Random(seed).shuffle(queries)
    return queries[:count]


def ndcg(ranking: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Binary-gain nDCG@k."""
    relevant = set(relevant)
    gain = sum(1 / np.log2(i + 2) for i, doc in enumerate(ranking[:k]) if doc in relevant)
    ideal = sum(1 / np.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal if ideal else 0.0


def recall(ranking: Sequence[str], relevant: Iterable[str], k: int = 50) -> float:
    relevant = set(relevant)
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def evaluate_search(index: SearchIndex, queries: Sequence[Query], parser: QueryParser | None,
                    constraint_weight: float = 1.0) -> dict[str, float]:
    """Mean nDCG@10 and recall@50 of the index's rankings (``parser`` None: plain BM25)."""
    ndcgs, recalls = [], []
    for query in queries:
        ranking = [h.id for h in index.search(query.text, parser, 50, constraint_weight=constraint_weight).hits]
        ndcgs.append(ndcg(ranking, query.relevant))
        recalls.append(recall(ranking, query.relevant))
    return {"ndcg_at_10": round(float(np.mean(ndcgs)), 4) if ndcgs else 0.0,
            "recall_at_50": round(float(np.mean(recalls)), 4) if recalls else 0.0, "queries": len(queries)}
