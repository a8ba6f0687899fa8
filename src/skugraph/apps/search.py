"""Product search over the knowledge graph.

A query is read twice. As text, it is ranked by BM25 (``bm25s``) over the titles and
descriptions of each product's listings, split into words by jieba. As structure, the
extractor (rules or a trained tagger) finds its brand, product type, colour, capacity …,
and the fact builder turns those mentions into the same keys the graph uses (``256G`` and
``256GB`` are one value, ``苹果`` and ``Apple`` one brand, aliases mined at fusion
included). Those become constraints: a product scores for each one its facts satisfy,
weighted by the fact's confidence (an inferred fact counts for half; a near value, a synonym
or a colour of the same palette colour, counts less than the value itself). The final score is
the BM25 score scaled to the best one of the query plus ``constraint_weight`` × the share
of the constraints met.

Facets (brand, what it fits, product type, colour, price band) count the products that
matched; a filter on any of them narrows the result, and takes a key, a name or an alias
(``huawei``, ``华为`` or ``HUAWEI``; ``手机壳`` or ``product_type:手机壳``).

The query parser lives in :mod:`skugraph.apps.query_parser`, the documents (free gifts left
out) in :mod:`skugraph.apps.documents`, price bands in :mod:`skugraph.apps.prices`, and the
evaluation in :mod:`skugraph.apps.search_eval`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from skugraph.apps.documents import Document, documents_from_facts, documents_from_store
from skugraph.apps.prices import band_labels, band_of, price_bands
from skugraph.apps.query_parser import Constraint, QueryParser
from skugraph.apps.recommend import FITS
from skugraph.corpus.normalize import fold
from skugraph.facts.values import normalize_value
from skugraph.graph.store import GraphStore
from skugraph.records import Fact, Listing

#: facet name → the predicate whose objects it counts
FACETS = {"brand": "has_brand", "fits": "compatible_with", "type": "product_type", "colour": "colour"}
#: how much a fact of another predicate on the same entity counts (华为 as brand in the query,
#: as a compatible brand in the product)
OTHER_PREDICATE = 0.5
#: how much a near value counts: a synonym (手机 / 智能手机) or a colour of the same palette colour (黑色 / 曜石黑)
NEAR = 0.5
#: how much the product type counts against any other constraint (黑色 手机 wants phones first)
TYPE_WEIGHT = 2.0
#: what a brand in a query may mean: the product's own brand, or one it fits
BRAND_READINGS = ("has_brand", "compatible_with")
_WORD = re.compile(r"\w", re.UNICODE)


class FilterError(ValueError):
    """A search filter names nothing the graph holds."""


def words(text: str) -> list[str]:
    """The BM25 terms of a text: jieba's search-mode words of the folded text (NFKC, lower
    case), punctuation and spaces dropped."""
    import jieba

    jieba.setLogLevel(60)
    return [w for w in jieba.lcut_for_search(fold(text)) if _WORD.search(w)]


@dataclass
class Hit:
    id: str
    title: str
    score: float
    text_score: float  # BM25 scaled to the query's best
    matched: list[str]  # constraints met, as ``predicate name``
    brand: str | None
    price: float | None


@dataclass
class SearchResult:
    query: str
    constraints: list[Constraint]
    total: int  # products that matched (before ``limit``)
    hits: list[Hit]
    facets: dict[str, list[dict]]  # facet → [{key, name, count}], most frequent first
    filters: dict[str, list[str]] = field(default_factory=dict)  # facet → the keys (or price band) its filter stood for
    hints: list[str] = field(default_factory=list)  # what another filter would find (a brand filter on accessories: fits)

    def to_dict(self) -> dict:
        return asdict(self)


class SearchIndex:
    """BM25 over product texts plus an inverted index of their facts; see the module doc."""

    def __init__(self, documents: Sequence[Document], aliases: Mapping[str, set[str]] | None = None,
                 synonyms: Sequence[Sequence[str]] | None = None):
        import bm25s

        from skugraph.tagging.augment import read_synonyms

        self.documents = list(documents)
        self.aliases = dict(aliases or {})  # folded brand name or alias → the brand keys written so
        self.brand_forms: dict[str, set[str]] = defaultdict(set)  # brand key → its folded names and aliases
        for form, keys in self.aliases.items():
            for key in keys:
                self.brand_forms[key].add(form)
        self.synonyms = {fold(w): group for group in (read_synonyms() if synonyms is None else synonyms) for w in group}
        self.bm25 = bm25s.BM25()
        corpus = [words(d.text) or ["∅"] for d in self.documents]
        self.bm25.index(corpus, show_progress=False)
        self.by_key: dict[str, set[int]] = defaultdict(set)
        for i, doc in enumerate(self.documents):
            for _, key in doc.facts:
                self.by_key[key].add(i)
        self.bands = price_bands([p for d in self.documents for p in d.prices])
        self.vocabulary: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)  # folded name → (predicate, key) held
        for doc in self.documents:
            for predicate, key in doc.facts:
                name = doc.names.get(key)
                if name and predicate != "in_category":
                    self.vocabulary[fold(name)][(predicate, key)] += 1
        self.palette: dict[str, set[str]] = defaultdict(set)  # palette colour → the colour keys it covers
        for key in self.by_key:
            if key.startswith("colour:"):
                self.palette[normalize_value("colour", key[7:]).canonical].add(key)

    def same_brand(self, key: str) -> set[str]:
        """The other keys of a brand: brands of the graph sharing a name or alias with it
        (``尼凡`` and ``尼凡（Nifan）`` before fusion unified them)."""
        return {k for form in self.brand_forms.get(key, ()) for k in self.aliases[form] if k != key and k in self.by_key}

    def near_keys(self, key: str) -> set[str]:
        """Keys of the graph that name nearly the same value: the other words of its synonym
        group (same kind), and for a colour the colours of the same palette colour."""
        kind, _, name = key.partition(":")
        near = {f"{kind}:{fold(w).replace(' ', '')}" for w in self.synonyms.get(fold(name), ())}
        if kind == "colour":
            near |= self.palette.get(normalize_value("colour", name).canonical, set())
        return {k for k in near if k != key and k in self.by_key}

    def __len__(self) -> int:
        return len(self.documents)

    @classmethod
    def from_facts(cls, listings: Iterable[Listing], facts: Iterable[Fact]) -> SearchIndex:
        """One document per product: the products the facts are about, each with the text of
        the listings that offer it (``offer_of`` facts; a listing of its own id before fusion)."""
        return cls(*documents_from_facts(listings, facts))

    @classmethod
    def from_store(cls, store: GraphStore) -> SearchIndex:
        """Every product in the graph, with its listings' text and prices and its facts."""
        return cls(*documents_from_store(store))

    def text_scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query text."""
        terms = words(query)
        if not terms or not self.documents:
            return np.zeros(len(self.documents))
        return np.asarray(self.bm25.get_scores(terms), dtype=float)

    def link(self, query: str, constraints: Sequence[Constraint]) -> list[Constraint]:
        """The constraints plus the query words the extractor left unread that name a value the
        graph holds (entity linking against the graph's own names: ``绝地求生`` is a pattern
        of some products), each under the predicate the graph holds it with most; ``适用X``
        asks for a product that fits X."""
        out = list(constraints)
        read = " ".join(fold(c.surface) for c in constraints)
        for word in fold(query).split():
            fits = word.startswith("适用") and len(word) > 2
            name = word[2:] if fits else word
            if name in read or name not in self.vocabulary:
                continue
            held = self.vocabulary[name]
            if fits:
                held = Counter({f: n for f, n in held.items() if f[0] in FITS}) or held
            (predicate, key), _ = max(held.items(), key=lambda item: (item[1], item[0]))
            out.append(Constraint(predicate, key, name, word))
        return out

    def resolve(self, constraints: Sequence[Constraint]) -> list[Constraint]:
        """Constraints as the graph knows them: a brand it holds under another key mapped to that
        key (aliases mined at fusion: ``苹果`` → the brand written ``Apple``), and a brand read as
        the product's own or as one it fits, whichever the graph says more often of products of
        the asked type (华为 手机壳: cases that fit 华为)."""
        out = []
        for c in constraints:
            if c.key not in self.by_key:
                for form in (c.name, c.surface):
                    keys = [k for k in self.aliases.get(fold(form), ()) if k in self.by_key]
                    if keys:
                        c = Constraint(c.predicate, max(keys, key=lambda k: (len(self.by_key[k]), k)), c.name, c.surface)
                        break
            out.append(c)
        wanted = [c.key for c in out if c.predicate == "product_type"]
        if not wanted:
            return out
        of_type = {i for i in self.by_key.get(wanted[0], ()) if ("product_type", wanted[0]) in self.documents[i].facts}
        for n, c in enumerate(out):
            if c.predicate in BRAND_READINGS:
                support = {p: sum((p, c.key) in self.documents[i].facts for i in of_type & self.by_key.get(c.key, set()))
                           for p in BRAND_READINGS}
                best = max(BRAND_READINGS, key=lambda p: support[p])
                if support[best] > support[c.predicate]:
                    out[n] = Constraint(best, c.key, c.name, c.surface)
        return out

    def constraint_scores(self, constraints: Sequence[Constraint]) -> np.ndarray:
        """The share of the constraints each document meets, each met one weighted by the fact's
        confidence (another predicate on the same entity counts ``OTHER_PREDICATE``; a near
        value, :meth:`near_keys`, counts ``NEAR``)."""
        scores = np.zeros(len(self.documents))
        total = sum(TYPE_WEIGHT if c.predicate == "product_type" else 1.0 for c in constraints)
        for c in constraints:
            best = np.zeros(len(self.documents))
            same = [(c.key, 1.0), *((k, 1.0) for k in self.same_brand(c.key))]
            for key, factor in [*same, *((k, NEAR) for k in self.near_keys(c.key))]:
                for i in self.by_key.get(key, ()):
                    held = {p: w for (p, k), w in self.documents[i].facts.items() if k == key}
                    weight = held[c.predicate] if c.predicate in held else OTHER_PREDICATE * max(held.values())
                    best[i] = max(best[i], factor * weight)
            scores += (TYPE_WEIGHT if c.predicate == "product_type" else 1.0) * best
        return scores / max(total, 1.0)

    def search(self, query: str, parser: QueryParser | None = None, limit: int = 10,
               filters: Mapping[str, str | None] | None = None, constraint_weight: float = 1.0) -> SearchResult:
        """The ``limit`` best products for ``query``; ``parser`` None gives plain BM25.
        ``filters``: facet → a key, name or alias (``{"brand": "华为", "price": "100–200"}``);
        :class:`FilterError` when one names nothing the graph holds."""
        wanted = self.resolve_filters(filters or {})
        constraints = self.resolve(self.link(query, parser.parse(query))) if parser else []
        text = self.text_scores(query)
        best = text.max() if len(text) else 0.0
        scaled = text / best if best > 0 else text
        scores = scaled + constraint_weight * self.constraint_scores(constraints)
        found = np.flatnonzero(scores > 0)
        matched = [i for i in found if self._passes(self.documents[i], wanted)]
        matched.sort(key=lambda i: (-scores[i], self.documents[i].id))
        hits = [self._hit(i, scores[i], scaled[i], constraints) for i in matched[:limit]]
        return SearchResult(query, constraints, len(matched), hits, self.facets(matched),
                            {facet: sorted(keys) for facet, keys in wanted.items()}, self._hints(found, wanted, filters or {}))

    def _hints(self, found: Sequence[int], wanted: Mapping[str, set[str]], asked: Mapping[str, str | None]) -> list[str]:
        """A brand filter counts the products' own brand; when more of the products found fit
        that brand (华为 手机壳: cases for 华为 phones), say so."""
        if "brand" not in wanted or "fits" in wanted:
            return []
        other = {**wanted, "fits": wanted["brand"]}
        other.pop("brand")
        fitting = sum(self._passes(self.documents[i], other) for i in found)
        own = sum(self._passes(self.documents[i], wanted) for i in found)
        return [f"{fitting} products fit {asked['brand']} (filter fits instead of brand)"] if fitting > own else []

    def filter_keys(self, facet: str, wanted: str) -> set[str]:
        """The keys a filter value stands for: the key itself, or the values of that facet whose
        name (or, for a brand, alias) folds to it (``华为``, ``HUAWEI``, ``huawei`` → ``huawei``;
        ``手机壳`` → ``product_type:手机壳``), with the other keys of the same brand."""
        predicate = FACETS[facet]
        form = fold(wanted).strip()
        held = {k for (p, k) in self.vocabulary.get(form, ()) if p == predicate}
        held |= {k for k in self.by_key if fold(k) == form or fold(k.partition(":")[2]) == form}
        if facet in ("brand", "fits"):
            held |= set(self.aliases.get(form, ()))
        held = {k for k in held if any((predicate, k) in self.documents[i].facts for i in self.by_key.get(k, ()))}
        return held | {other for k in held for other in self.same_brand(k)}

    def resolve_filters(self, filters: Mapping[str, str | None]) -> dict[str, set[str]]:
        """Facet → the keys (or price band) each filter stands for; :class:`FilterError` for an
        unknown facet or a value the graph does not hold under it."""
        out: dict[str, set[str]] = {}
        for facet, wanted in filters.items():
            if not wanted:
                continue
            if facet == "price":
                band = wanted.strip().replace("-", "–").replace(">=", "≥")
                if band not in band_labels(self.bands):
                    raise FilterError(f"no price band {wanted!r}; bands are {', '.join(band_labels(self.bands)) or 'none (no prices)'}")
                out[facet] = {band}
            elif facet in FACETS:
                keys = self.filter_keys(facet, wanted)
                if not keys:
                    known = Counter(self.documents[i].names.get(k, k) for k in self.by_key for i in self.by_key[k]
                                    if (FACETS[facet], k) in self.documents[i].facts)
                    examples = ", ".join(name for name, _ in known.most_common(8)) or "none"
                    raise FilterError(f"no {facet} {wanted!r} in the graph (most common: {examples})")
                out[facet] = keys
            else:
                raise FilterError(f"unknown facet {facet!r}; facets are {', '.join([*FACETS, 'price'])}")
        return out

    def _hit(self, i: int, score: float, text: float, constraints: Sequence[Constraint]) -> Hit:
        doc = self.documents[i]
        met = []  # each constraint met, under the predicate the product holds it (the asked one first)
        for c in constraints:
            keys = [c.key, *sorted(self.same_brand(c.key)), *sorted(self.near_keys(c.key))]
            held = [(p, k) for key in keys for p, k in sorted(doc.facts) if k == key]
            if held:
                p, k = next((f for f in held if f[0] == c.predicate), held[0])
                met.append(f"{p} {c.name}" if k == c.key or k in self.same_brand(c.key) else f"{p} {doc.names.get(k, k)} ≈ {c.name}")
        brand = next((doc.names[k] for (p, k) in doc.facts if p == "has_brand"), None)
        return Hit(doc.id, doc.title, round(float(score), 4), round(float(text), 4), met, brand,
                   min(doc.prices) if doc.prices else None)

    def _passes(self, doc: Document, wanted: Mapping[str, set[str]]) -> bool:
        """Whether the document meets every resolved filter (:meth:`resolve_filters`)."""
        for facet, keys in wanted.items():
            if facet == "price":
                if not any(band_of(p, self.bands) in keys for p in doc.prices):
                    return False
            elif not any((FACETS[facet], k) in doc.facts for k in keys):
                return False
        return True

    def facets(self, matched: Sequence[int]) -> dict[str, list[dict]]:
        """For each facet, how many of the matched products have each value."""
        out: dict[str, list[dict]] = {}
        names: dict[str, str] = {}
        for facet, predicate in FACETS.items():
            counts: Counter[str] = Counter()
            for i in matched:
                doc = self.documents[i]
                for key in {k for p, k in doc.facts if p == predicate}:
                    counts[key] += 1
                    names[key] = doc.names.get(key, key)
            out[facet] = [{"key": k, "name": names[k], "count": n} for k, n in counts.most_common(20)]
        bands = Counter(b for i in matched for b in {band_of(p, self.bands) for p in self.documents[i].prices})
        out["price"] = [{"key": b, "name": b, "count": bands[b]} for b in band_labels(self.bands) if bands[b]]
        return out
