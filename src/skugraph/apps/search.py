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

import copy
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from skugraph.apps.documents import Document, documents_from_facts, documents_from_store
from skugraph.apps.prices import band_labels, band_of, price_bands
from skugraph.apps.query_parser import Constraint, QueryParser
from skugraph.apps.recommend import FITS
from skugraph.apps.text_index import TextIndex
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


def synonym_keys(key: str, synonyms: Mapping[str, Sequence[str]]) -> set[str]:
    """The keys of the other words of a key's synonym group (``synonyms``: folded word → its
    group), of the same kind: ``product_type:手机套`` for ``product_type:手机壳``."""
    kind, _, name = key.partition(":")
    return {f"{kind}:{fold(w).replace(' ', '')}" for w in synonyms.get(fold(name), ())} - {key}


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
        """As JSON would have it (each field by name; what ``asdict`` gives, a tenth of its cost:
        it copies every facet row deeply, which a served search paid on each request)."""
        return {"query": self.query, "constraints": [vars(c).copy() for c in self.constraints], "total": self.total,
                "hits": [vars(hit).copy() for hit in self.hits],
                "facets": {name: [dict(row) for row in rows] for name, rows in self.facets.items()},
                "filters": {name: list(keys) for name, keys in self.filters.items()}, "hints": list(self.hints)}


class SearchIndex:
    """BM25 over product texts plus an inverted index of their facts; see the module doc.

    Products sit in numbered slots; :meth:`updated` gives a new index with some products
    replaced, added or removed that shares what they leave alone (a write does work in
    proportion to the products it touches, and readers of the old index are not disturbed)."""

    def __init__(self, documents: Sequence[Document], aliases: Mapping[str, set[str]] | None = None,
                 synonyms: Sequence[Sequence[str]] | None = None):
        from skugraph.tagging.augment import read_synonyms

        self.synonyms = {fold(w): group for group in (read_synonyms() if synonyms is None else synonyms) for w in group}
        self.slots: list[Document | None] = []
        self.slot_of: dict[str, int] = {}
        self.text = TextIndex()
        self.by_key: dict[str, frozenset[int]] = {}
        self.vocabulary: dict[str, Counter[tuple[str, str]]] = {}  # folded name → (predicate, key) held
        self.palette: dict[str, frozenset[str]] = {}  # palette colour → the colour keys it covers
        self._held: dict[str, _Held] = {}  # key → its slots and their fact weights, made when a query first asks
        self._columns: list[tuple[str, str, str]] = []  # facet column → (facet, key, name)
        self._column_of: dict[tuple[str, str], int] = {}
        self._facet_slots, self._facet_columns = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self._price_slots, self._prices = np.zeros(0, dtype=np.int64), np.zeros(0)
        self._put(documents, (), aliases or {})

    def updated(self, documents: Sequence[Document], removed: Iterable[str] = (),
                aliases: Mapping[str, set[str]] | None = None) -> SearchIndex:
        """A new index in which ``documents`` replace the products of their ids (or are added)
        and the ``removed`` products are gone; ``aliases``: the brand names now, if changed."""
        new = copy.copy(self)
        new._put(documents, removed, self.aliases if aliases is None else aliases)
        return new

    def _put(self, documents: Sequence[Document], removed: Iterable[str], aliases: Mapping[str, set[str]]) -> None:
        """Place the documents in their slots (a new product in a new one), empty the removed
        ones', and bring every derived structure up to date; each container changed is a new one."""
        slots, slot_of = list(self.slots), dict(self.slot_of)
        old: dict[int, Document] = {}
        texts: dict[int, list[str] | None] = {}
        for pid in removed:
            if (i := slot_of.pop(pid, None)) is not None:
                old[i], slots[i], texts[i] = slots[i], None, None
        for doc in documents:
            i = slot_of.get(doc.id)
            if i is None:
                i = slot_of[doc.id] = len(slots)
                slots.append(None)
            if slots[i] is not None:
                old[i] = slots[i]
            if slots[i] is None or slots[i].text != doc.text:
                texts[i] = words(doc.text)
            slots[i] = doc
        changed = set(old) | {slot_of[d.id] for d in documents}
        self.slots, self.slot_of, self.text = slots, slot_of, self.text.updated(texts) if texts else self.text
        self._set_aliases(aliases)
        now: dict[str, set[int]] = defaultdict(set)  # key → the changed slots holding it now
        for i in changed:
            for _, key in slots[i].facts if slots[i] is not None else ():
                now[key].add(i)
        keys = {k for i in old for _, k in old[i].facts} | now.keys()
        by_key = dict(self.by_key)
        for key in keys:
            holders = by_key.get(key, frozenset()).difference(changed) | now.get(key, set())
            if holders:
                by_key[key] = frozenset(holders)
            else:
                by_key.pop(key, None)
        self.by_key = by_key
        self._held = {k: v for k, v in self._held.items() if k not in keys}
        vocabulary, copied = dict(self.vocabulary), set()
        for sign, docs in ((-1, old.values()), (1, (slots[i] for i in changed if slots[i] is not None))):
            for doc in docs:
                for predicate, key in doc.facts:
                    name = doc.names.get(key)
                    if name and predicate != "in_category":
                        form = fold(name)
                        if form not in copied:
                            vocabulary[form] = Counter(vocabulary.get(form, ()))
                            copied.add(form)
                        vocabulary[form][(predicate, key)] += sign
        for form in copied:
            vocabulary[form] = +vocabulary[form]  # what no product holds any more goes
            if not vocabulary[form]:
                del vocabulary[form]
        self.vocabulary = vocabulary
        palette = dict(self.palette)
        for key in keys:
            if key.startswith("colour:") and key in by_key:
                colour = normalize_value("colour", key[7:]).canonical
                palette[colour] = palette.get(colour, frozenset()) | {key}
        self.palette = palette
        self._put_facets(changed)

    def _put_facets(self, changed: set[int]) -> None:
        """Facet and price rows of the changed slots: the old ones dropped, the new ones appended."""
        gone = np.fromiter(changed, dtype=np.int64, count=len(changed))
        keep = ~np.isin(self._facet_slots, gone)
        columns, column_of = list(self._columns), dict(self._column_of)
        rows: list[tuple[int, int]] = []
        prices: list[tuple[int, float]] = []
        for i in sorted(changed):
            doc = self.slots[i]
            if doc is None:
                continue
            for facet, predicate in FACETS.items():
                for key in sorted({k for p, k in doc.facts if p == predicate}):
                    if (facet, key) not in column_of:
                        column_of[(facet, key)] = len(columns)
                        columns.append((facet, key, doc.names.get(key, key)))
                    rows.append((i, column_of[(facet, key)]))
            prices.extend((i, p) for p in doc.prices)
        added = np.array(rows, dtype=np.int64).reshape(-1, 2)
        self._columns, self._column_of = columns, column_of
        self._facet_slots = np.concatenate([self._facet_slots[keep], added[:, 0]])
        self._facet_columns = np.concatenate([self._facet_columns[keep], added[:, 1]])
        keep = ~np.isin(self._price_slots, gone)
        self._price_slots = np.concatenate([self._price_slots[keep], np.array([i for i, _ in prices], dtype=np.int64)])
        self._prices = np.concatenate([self._prices[keep], np.array([p for _, p in prices], dtype=float)])
        self.bands = price_bands(self._prices)

    def _set_aliases(self, aliases: Mapping[str, set[str]]) -> None:
        self.aliases = dict(aliases)  # folded brand name or alias → the brand keys written so
        self.brand_forms: dict[str, set[str]] = defaultdict(set)  # brand key → its folded names and aliases
        for form, keys in self.aliases.items():
            for key in keys:
                self.brand_forms[key].add(form)

    @property
    def documents(self) -> list[Document]:
        """The products, in slot order."""
        return [doc for doc in self.slots if doc is not None]

    def same_brand(self, key: str) -> set[str]:
        """The other keys of a brand: brands of the graph sharing a name or alias with it
        (``尼凡`` and ``尼凡（Nifan）`` before fusion unified them)."""
        return {k for form in self.brand_forms.get(key, ()) for k in self.aliases[form] if k != key and k in self.by_key}

    def near_keys(self, key: str) -> set[str]:
        """Keys of the graph that name nearly the same value: the other words of its synonym
        group (same kind), and for a colour the colours of the same palette colour."""
        kind, _, name = key.partition(":")
        near = synonym_keys(key, self.synonyms)
        if kind == "colour":
            near |= self.palette.get(normalize_value("colour", name).canonical, set())
        return {k for k in near if k != key and k in self.by_key}

    def __len__(self) -> int:
        return len(self.slot_of)

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
        """BM25 score of every slot for the query text."""
        return self.text.scores(words(query))

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
        of_type = self._holding(wanted[0], "product_type")
        for n, c in enumerate(out):
            if c.predicate in BRAND_READINGS:
                support = {p: np.isin(self._holding(c.key, p), of_type, assume_unique=True).sum() for p in BRAND_READINGS}
                best = max(BRAND_READINGS, key=lambda p: support[p])
                if support[best] > support[c.predicate]:
                    out[n] = Constraint(best, c.key, c.name, c.surface)
        return out

    def constraint_scores(self, constraints: Sequence[Constraint]) -> np.ndarray:
        """The share of the constraints each slot meets, each met one weighted by the fact's
        confidence (another predicate on the same entity counts ``OTHER_PREDICATE``; a near
        value, :meth:`near_keys`, counts ``NEAR``)."""
        scores = np.zeros(len(self.slots))
        total = sum(TYPE_WEIGHT if c.predicate == "product_type" else 1.0 for c in constraints)
        for c in constraints:
            best = np.zeros(len(self.slots))
            same = [(c.key, 1.0), *((k, 1.0) for k in self.same_brand(c.key))]
            for key, factor in [*same, *((k, NEAR) for k in self.near_keys(c.key))]:
                held = self._held_of(key)
                weight = held.by_predicate.get(c.predicate)
                weight = OTHER_PREDICATE * held.most if weight is None else np.where(np.isnan(weight), OTHER_PREDICATE * held.most, weight)
                np.maximum.at(best, held.slots, factor * weight)
            scores += (TYPE_WEIGHT if c.predicate == "product_type" else 1.0) * best
        return scores / max(total, 1.0)

    def _holding(self, key: str, predicate: str) -> np.ndarray:
        """The slots holding ``key`` under ``predicate``."""
        held = self._held_of(key)
        weights = held.by_predicate.get(predicate)
        return held.slots[~np.isnan(weights)] if weights is not None else held.slots[:0]

    def _held_of(self, key: str) -> _Held:
        """The slots holding ``key`` and the weight of each predicate they hold it under (cached)."""
        if (held := self._held.get(key)) is None:
            slots = np.array(sorted(self.by_key.get(key, ())), dtype=np.int64)
            weights: dict[str, np.ndarray] = {}
            for n, i in enumerate(slots):
                for p, w in self.slots[i].weights_by_key.get(key, ()):
                    weights.setdefault(p, np.full(len(slots), np.nan))[n] = w
            most = np.nanmax(np.vstack(list(weights.values())), axis=0) if weights else np.zeros(0)
            held = self._held[key] = _Held(slots, weights, most)
        return held

    def search(self, query: str, parser: QueryParser | None = None, limit: int = 10,
               filters: Mapping[str, str | None] | None = None, constraint_weight: float = 1.0,
               facets: bool = True) -> SearchResult:
        """The ``limit`` best products for ``query``; ``parser`` None gives plain BM25.
        ``filters``: facet → a key, name or alias (``{"brand": "华为", "price": "100–200"}``);
        :class:`FilterError` when one names nothing the graph holds. ``facets`` False: the
        hits alone (no facets, no hints)."""
        wanted = self.resolve_filters(filters or {})
        constraints = self.resolve(self.link(query, parser.parse(query))) if parser else []
        text = self.text_scores(query)
        best = text.max() if len(text) else 0.0
        scaled = text / best if best > 0 else text
        scores = scaled + constraint_weight * self.constraint_scores(constraints)
        found = np.flatnonzero(scores > 0)
        matched = [i for i in found if self._passes(self.slots[i], wanted)] if wanted else found.tolist()
        top = self._top(np.asarray(matched, dtype=np.int64), scores, limit)
        hits = [self._hit(i, scores[i], scaled[i], constraints) for i in top]
        return SearchResult(query, constraints, len(matched), hits, self.facets(matched) if facets else {},
                            {facet: sorted(keys) for facet, keys in wanted.items()},
                            self._hints(found, wanted, filters or {}) if facets else [])

    def _top(self, matched: np.ndarray, scores: np.ndarray, limit: int) -> list[int]:
        """The ``limit`` best of the matched slots, the higher score first, then the smaller id."""
        if len(matched) > limit > 0:  # only those scoring at least the limit-th best can be in it
            matched = matched[scores[matched] >= np.partition(scores[matched], len(matched) - limit)[len(matched) - limit]]
        return sorted(matched.tolist(), key=lambda i: (-scores[i], self.slots[i].id))[:limit]

    def _hints(self, found: Sequence[int], wanted: Mapping[str, set[str]], asked: Mapping[str, str | None]) -> list[str]:
        """A brand filter counts the products' own brand; when more of the products found fit
        that brand (华为 手机壳: cases for 华为 phones), say so."""
        if "brand" not in wanted or "fits" in wanted:
            return []
        other = {**wanted, "fits": wanted["brand"]}
        other.pop("brand")
        fitting = sum(self._passes(self.slots[i], other) for i in found)
        own = sum(self._passes(self.slots[i], wanted) for i in found)
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
        held = {k for k in held if any((predicate, k) in self.slots[i].facts for i in self.by_key.get(k, ()))}
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
                    known = Counter(self.slots[i].names.get(k, k) for k in self.by_key for i in self.by_key[k]
                                    if (FACETS[facet], k) in self.slots[i].facts)
                    examples = ", ".join(name for name, _ in known.most_common(8)) or "none"
                    raise FilterError(f"no {facet} {wanted!r} in the graph (most common: {examples})")
                out[facet] = keys
            else:
                raise FilterError(f"unknown facet {facet!r}; facets are {', '.join([*FACETS, 'price'])}")
        return out

    def _hit(self, i: int, score: float, text: float, constraints: Sequence[Constraint]) -> Hit:
        doc = self.slots[i]
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
        """For each facet, how many of the matched products have each value (the 20 most
        frequent; ties by key)."""
        chosen = np.zeros(len(self.slots), dtype=bool)
        chosen[np.asarray(matched, dtype=np.int64)] = True
        counts = np.bincount(self._facet_columns[chosen[self._facet_slots]], minlength=len(self._columns))
        out: dict[str, list[dict]] = {facet: [] for facet in FACETS}
        for column in sorted(np.flatnonzero(counts).tolist(), key=lambda c: (-counts[c], self._columns[c][1])):
            facet, key, name = self._columns[column]
            if len(out[facet]) < 20:
                out[facet].append({"key": key, "name": name, "count": int(counts[column])})
        labels = band_labels(self.bands)
        pick = chosen[self._price_slots]
        held = np.zeros((len(self.slots), len(labels) or 1), dtype=bool)  # slot × band: a product counts once a band
        held[self._price_slots[pick], np.searchsorted(self.bands, self._prices[pick], side="right")] = True
        per_band = held.sum(axis=0)
        out["price"] = [{"key": b, "name": b, "count": int(n)} for b, n in zip(labels, per_band, strict=False) if n]
        return out


@dataclass(frozen=True)
class _Held:
    """The slots holding a key: by predicate, the fact's weight in each (NaN: not under that
    predicate), and the most any predicate gives."""

    slots: np.ndarray
    by_predicate: dict[str, np.ndarray]
    most: np.ndarray
