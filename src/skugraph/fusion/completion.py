"""Knowledge-graph completion: rank the values a product is missing, evaluate the ranking,
and propose the likeliest as facts marked ``inferred``.

Scorers: ``popularity`` (how many products have the value), ``neighbours`` (the values of
the most similar products, item-based, TF-IDF cosine over (relation, value) pairs, plus how
often products sharing each of its pairs have the value; for what a product that fits some
model fits besides, products are alike also by the pieces of the names of what they fit, and a
sibling of a model it fits, numbered next to it or with another suffix, scores more:
:class:`FitNeighbours`), ``gnn`` (a graph neural network, :mod:`skugraph.fusion.gnn`),
``neighbours+gnn`` (the two by reciprocal rank) and any PyKEEN embedding model (RotatE,
TransE, ComplEx, RGCN …).

Evaluation hides a share of the attribute edges, trains on the rest, and ranks each hidden
value among the values of its kind (filtered: other known values of that product and kind
do not count against it): MRR and Hits@1/10 for each scorer in the same run.

:func:`propose` calibrates a scorer on hidden edges whose product states no other value of
the relation, as the products it proposes for state none (isotonic regression from the top
candidate's score to how often it is right, apart for products known by 1, 2, 3 and 4 or
more shared facts; on three hidden shares at least, or fewer where they hold 10,000 queries),
then proposes, for each product missing a relation (an attribute that applies to its
category), its top value when the calibrated probability, times the share of like products
that state the relation at all (the neighbour scorer's ``coverage``, whichever scorer ranks),
reaches ``min_probability``: a fact with that probability as confidence, ``inferred: true``, and the
scorer as its extractor. None where the product's types rarely state the relation
(:data:`APPLIES_SHARE`: no colour for software) or its title rules the value out
(:func:`skugraph.fusion.identity.rules_out`: 1TB for a title that says 500G).
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.identity import rules_out
from skugraph.processes import Workers
from skugraph.records import ASPECT, COMPLETION, LISTING, PRODUCT, REVIEW, Entity, Fact, Provenance

Triple = tuple[str, str, str]  # (head ref, relation, tail ref)
COMPLETED = ("colour", "material", "capacity", "size", "compatible_with")  # relations evaluated by default


def triples_of(facts: Sequence[Fact]) -> list[Triple]:
    """(subject, predicate, object) references of the facts, once each."""
    return sorted({(f.subject.ref, f.predicate, f.object.ref) for f in facts})


@dataclass
class CompletionReport:
    hidden: int
    systems: dict[str, dict]  # system → mrr, hits_at_1, hits_at_10, count, train_seconds
    per_relation: dict[str, dict[str, dict]]  # relation → system → metrics
    #: system → metrics on the hidden edges whose product states no other value of the relation: the questions
    #: :func:`propose` asks
    stating_no_other: dict[str, dict]


def split(triples: Sequence[Triple], relations: Sequence[str], share: float = 0.1, seed: int = 0) -> tuple[list[Triple], list[Triple]]:
    """(kept, hidden): ``share`` of the triples of ``relations`` hidden, never a head's or tail's
    only triple (the model must know both ends). Every other triple between a hidden triple's
    two ends, either way, is left out of ``kept`` too: an accessory's ``accessory_of`` a phone
    type is made from its ``compatible_with`` that type, and would give the answer away."""
    rng = random.Random(seed)
    candidates = [t for t in triples if t[1] in relations]
    rng.shuffle(candidates)
    degree = Counter(e for t in triples for e in (t[0], t[2]))
    links = Counter(_ends(t) for t in triples)  # the triples between two ends, left out together
    hidden: set[Triple] = set()
    ends: set[tuple[str, str]] = set()
    for triple in candidates:
        if len(hidden) >= share * len(candidates):
            break
        pair = _ends(triple)
        if pair in ends:  # the triples between its ends are left out already
            hidden.add(triple)
            continue
        cost = {entity: links[pair] * (2 if pair[0] == pair[1] else 1) for entity in pair}  # a loop counts twice
        if all(degree[entity] > lost for entity, lost in cost.items()):
            hidden.add(triple)
            ends.add(pair)
            for entity, lost in cost.items():
                degree[entity] -= lost
    return [triple for triple in triples if _ends(triple) not in ends], sorted(hidden)


def _ends(triple: Triple) -> tuple[str, str]:
    """A triple's head and tail, in order: the same for every triple between them, either way."""
    return (triple[0], triple[2]) if triple[0] <= triple[2] else (triple[2], triple[0])


def train_model(triples: Sequence[Triple], model: str = "RotatE", epochs: int = 200, dim: int = 64, seed: int = 0,
                batch_size: int = 256):
    """A PyKEEN model trained on ``triples``; returns (model, triples factory). A message-passing
    model (RGCN) encodes the whole graph each batch: give it batches of thousands."""
    import torch
    from pykeen.models import model_resolver
    from pykeen.training import SLCWATrainingLoop
    from pykeen.triples import TriplesFactory

    torch.manual_seed(seed)
    factory = TriplesFactory.from_labeled_triples(np.array(triples, dtype=str), create_inverse_triples=False)
    trained = model_resolver.make(model, triples_factory=factory, embedding_dim=dim, random_seed=seed)
    loop = SLCWATrainingLoop(model=trained, triples_factory=factory, optimizer=torch.optim.Adam(trained.parameters(), lr=0.01))
    loop.train(triples_factory=factory, num_epochs=epochs, batch_size=batch_size, use_tqdm=False)
    return trained.eval(), factory


def tail_scores(model, factory, head: str, relation: str, candidates: Sequence[str]) -> np.ndarray:
    """The model's scores of (head, relation, candidate) for each candidate (higher is likelier)."""
    import torch

    h = factory.entity_to_id[head]
    r = factory.relation_to_id[relation]
    ids = torch.tensor([factory.entity_to_id[c] for c in candidates])
    batch = torch.stack([torch.full_like(ids, h), torch.full_like(ids, r), ids], dim=1)
    with torch.inference_mode():
        return model.score_hrt(batch).squeeze(-1).numpy()


class PopularityScorer:
    """Ranks the values of a relation by how many products have them."""

    def __init__(self, triples: Sequence[Triple]):
        self.count: dict[str, Counter] = defaultdict(Counter)
        for _, r, t in triples:
            self.count[r][t] += 1

    def scores(self, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> np.ndarray:
        return np.array([self.count[relation][c] for c in candidates], dtype=float)


#: a name this alike to one of the product's values (0–1) counts as similar, below it as nothing
SIMILAR = 0.5


def value_tokens(ref: str) -> set[str]:
    """The pieces of the name of a value (its reference after the last ``:``, folded as the fact
    builder folds names: half-width, lower case) that another value may share: each run of Latin
    letters and digits whole and split into letters and digits (``p20pro``: p20pro, p, 20, pro),
    each two Chinese characters in a row (``荣耀畅玩``: 荣耀, 耀畅, 畅玩; a lone one alone)."""
    tokens: set[str] = set()
    for run in _RUN.findall(ref.rsplit(":", 1)[-1].lower()):
        if run.isascii():
            tokens.add(run)
            tokens.update(_LATIN_PIECE.findall(run))
        else:
            tokens.update(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
    return tokens


_RUN = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]+")
#: the pieces of the names of relation r's values are features of relation TOKEN + r
TOKEN = "pieces of "
_LATIN_PIECE = re.compile(r"[a-z]+|\d+")


class NeighbourScorer:
    """Item-based neighbours and feature associations. A product's likely values for a relation
    are (1) the values held by the products most like it, two products being alike by the
    (relation, value) pairs they share, each weighted by its inverse frequency (cosine of TF-IDF
    rows), plus (2) ``association`` × how often products with each of its (relation, value)
    pairs have the value, averaged with the same weights, plus (3) ``similarity`` × how alike
    its name is to the product's other values of the relation (the best
    :func:`rapidfuzz.fuzz.ratio`, from :data:`SIMILAR` up: ``iphone11`` beside ``iphone11pro``).
    Popularity is a small prior. The pieces of the names of the values of ``tokens_of`` relations
    (:func:`value_tokens`) are pairs too: a case for the ``华为p20`` is like one for the ``p20pro``.
    ``neighbours_of`` asks some relations of more neighbours than ``neighbours``.

    Products whose rows agree on every feature another product can hold too (one held by more
    than one product) are equally alike to every other product: they form one class, and the
    neighbours are searched among the classes, so a catalogue's many copies of one product cost
    one posting, not one each."""

    long_posting = 1024  # classes: a feature held by more is read only where the rarer ones found a class

    def __init__(self, triples: Sequence[Triple], neighbours: int = 50, prior: float = 0.0, association: float = 0.0,
                 similarity: float = 0.0, tokens_of: Iterable[str] = (), neighbours_of: Mapping[str, int] | None = None):
        from scipy import sparse

        self.neighbours, self.prior, self.association, self.similarity = neighbours, prior, association, similarity
        self.neighbours_of = dict(neighbours_of or {})
        if not all(isinstance(n, int) and n > 0 for n in [neighbours, *self.neighbours_of.values()]):
            raise ValueError(f"neighbours must be positive whole numbers: {neighbours}, {self.neighbours_of}")
        tokens_of = frozenset(tokens_of)
        self.heads = {h: i for i, h in enumerate(sorted({h for h, _, _ in triples}))}
        pieces = {(h, TOKEN + r, token) for h, r, t in triples if r in tokens_of for token in value_tokens(t)}
        features = {f: i for i, f in enumerate(sorted({(r, t) for _, r, t in triples} | {(r, t) for _, r, t in pieces}))}
        rows, cols = zip(*{(self.heads[h], features[(r, t)]) for h, r, t in [*triples, *pieces]}, strict=True) if triples else ((), ())
        self.frequency = np.bincount(np.array(cols, dtype=int), minlength=len(features))
        idf = np.log((1 + len(self.heads)) / (1 + self.frequency)) + 1
        matrix = sparse.csr_matrix((idf[list(cols)], (rows, cols)), shape=(len(self.heads), len(features)))
        norms = np.sqrt(matrix.multiply(matrix).sum(axis=1)).A.ravel()
        self.matrix = sparse.csr_matrix(sparse.diags(1 / np.maximum(norms, 1e-12)) @ matrix)
        by_feature = self.matrix.T.tocsr()
        # a feature only one product holds: that product (it is nobody's shared feature)
        self.holder = np.full(len(features), -1)
        alone = np.flatnonzero(self.frequency == 1)
        self.holder[alone] = by_feature.indices[by_feature.indptr[alone]]
        self._classes()
        self._last: tuple[int, dict[int, tuple[np.ndarray, np.ndarray, float]]] | None = None  # a product's answers by count
        self._candidates: dict[str, tuple[tuple[str, ...], np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._wanted = np.zeros(len(features), dtype=bool)  # the columns asked about, marked while they are read
        self.features = features
        self._names = [value.rsplit(":", 1)[-1].lower() for _, value in features]  # by column
        self._candidate_names: tuple[tuple, list[str]] = ((), [])
        by_relation: dict[str, list[int]] = defaultdict(list)
        for (relation, _), column in features.items():
            by_relation[relation].append(column)
        #: each relation's value columns, in order
        self._relation_columns = {relation: np.array(columns, dtype=np.int64) for relation, columns in by_relation.items()}
        self._relation_masks: dict[str, np.ndarray] = {}
        self.popularity = PopularityScorer(triples)
        if association:
            self._held = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=matrix.shape)
            self._cooccurrence: dict[str, tuple[np.ndarray, object]] = {}

    def _classes(self) -> None:
        """Each product's class (the products with its shared features at its weights), each
        class's members in order, and the classes holding each feature, with their weights."""
        from scipy import sparse

        matrix, shared = self.matrix, self.frequency[self.matrix.indices] > 1
        keys: dict[tuple[bytes, bytes], int] = {}
        self.class_of = np.empty(matrix.shape[0], dtype=np.int64)
        for row in range(matrix.shape[0]):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            mine = shared[start:end]
            key = (matrix.indices[start:end][mine].tobytes(), matrix.data[start:end][mine].tobytes())
            self.class_of[row] = keys.setdefault(key, len(keys))
        self.members = np.argsort(self.class_of, kind="stable")  # by class, each class's members in order
        self.class_size = np.bincount(self.class_of, minlength=len(keys))
        self.first_member = np.concatenate([[0], np.cumsum(self.class_size)])
        first = self.members[self.first_member[:-1]]
        starts, ends = matrix.indptr[first], matrix.indptr[first + 1]
        entries = _spans(starts, ends)
        lengths = ends - starts
        entry_class = np.repeat(np.arange(len(first)), lengths)
        kept = shared[entries]
        classes = sparse.csr_matrix((matrix.data[entries[kept]], (entry_class[kept], matrix.indices[entries[kept]])),
                                    shape=(len(first), matrix.shape[1]))
        self.class_rows = classes
        self.by_feature = classes.T.tocsr()  # feature → the classes holding it, with their weights
        self.by_feature.sort_indices()  # a posting's classes in order, to be looked up
        held = np.diff(self.by_feature.indptr) > 0
        self.strongest = np.zeros(matrix.shape[1])  # each feature's highest weight in a class
        self.strongest[held] = np.maximum.reduceat(self.by_feature.data, self.by_feature.indptr[:-1][held]) if held.any() else 0.0

    def _nearest(self, row: int, count: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The classes of the ``count`` products most like product ``row`` (ties at the
        cutoff all kept; the product itself left out of its own class), their cosine similarity,
        and the similarities' sum over the neighbour products in their order. Only the classes
        sharing a feature with it are read, and of a feature's posting longer than
        ``long_posting`` (a common value) only the classes the shorter ones found, as long as
        the most any other class can get from the long ones stays under the cutoff those give
        (exact pruning, as in a search engine's MaxScore); else a longer limit is tried, up to
        every posting. The last product's answers are kept, by count, as a caller asks for one
        product's relations in turn; a smaller count's is read from a larger's (:meth:`_narrowed`)."""
        if self._last is None or self._last[0] != row:
            self._last = (row, {})
        answers = self._last[1]
        if count not in answers:
            wider = [known for known in answers if known > count]
            answers[count] = self._narrowed(row, answers[min(wider)], count) if wider else self._search(row, count)
        return answers[count]

    def _search(self, row: int, count: int) -> tuple[np.ndarray, np.ndarray, float]:
        """:meth:`_nearest`, searched."""
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        features, weights = self.matrix.indices[start:end], self.matrix.data[start:end]
        shared = self.frequency[features] > 1
        features, weights = features[shared], weights[shared]
        own, pointer = self.class_of[row], self.by_feature.indptr
        lengths = pointer[features + 1] - pointer[features]
        limit = self.long_posting
        while True:
            scanned = lengths <= limit
            if scanned.all() or not scanned.any():
                classes, similarity, counts = self._alike(features, weights, np.ones(len(features), dtype=bool), own)
                cutoff = self._cutoff(similarity, counts, count)
                break
            classes, similarity, counts = self._alike(features, weights, scanned, own)
            cutoff, bound = self._cutoff(similarity, counts, count), 0.0
            for f, w in zip(features[~scanned], weights[~scanned], strict=True):
                bound += w * self.strongest[f]  # the most a class the scanned postings miss can have
            if cutoff is not None and cutoff > bound * (1 + 1e-9):
                break
            limit *= 16
        return self._within(row, classes, similarity, counts, cutoff)

    def _narrowed(self, row: int, wider: tuple[np.ndarray, np.ndarray, float], count: int) -> tuple[np.ndarray, np.ndarray, float]:
        """:meth:`_nearest` for ``count`` from its answer for a larger count, whose classes hold
        every class as near as the ``count``-th product: the same answer, searched once."""
        classes, similarity, _ = wider
        counts = self.class_size[classes] - (classes == self.class_of[row])
        return self._within(row, classes, similarity, counts, self._cutoff(similarity, counts, count))

    def _within(self, row: int, classes: np.ndarray, similarity: np.ndarray, counts: np.ndarray,
                cutoff: float | None) -> tuple[np.ndarray, np.ndarray, float]:
        """The classes (of ``counts`` products other than ``row``) at least as alike as ``cutoff``
        (all where None), their similarity, and the similarities' sum over their products in order."""
        if cutoff is not None:
            kept = similarity >= cutoff
            classes, similarity, counts = classes[kept], similarity[kept], counts[kept]
        if len(similarity) and (similarity == similarity[0]).all():
            total = float(np.full(int(counts.sum()), similarity[0]).sum())
        else:
            products = self._members(classes, row)
            total = float(similarity[np.searchsorted(classes, self.class_of[products])].sum())
        return classes, similarity, total

    def _alike(self, features: np.ndarray, weights: np.ndarray, scanned: np.ndarray,
               own: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The classes in the postings of the ``scanned`` features (a product's shared features
        and their weights), their similarity to the product over all its features (summed in
        their order, as a product of its row would) and how many of their products are not the
        product itself (of class ``own``)."""
        pointer, indices, data = self.by_feature.indptr, self.by_feature.indices, self.by_feature.data
        found = _distinct(_rows(indices, pointer[features[scanned]], pointer[features[scanned] + 1]),
                          len(self.class_size)) if scanned.any() else None
        holders, shares = [], []
        for f, w, whole in zip(features, weights, scanned, strict=True):
            posting, values = indices[pointer[f]:pointer[f + 1]], data[pointer[f]:pointer[f + 1]]
            if not whole:  # a long posting: only the classes found, looked up
                at = np.minimum(np.searchsorted(posting, found), len(posting) - 1)
                hit = posting[at] == found
                posting, values = found[hit], values[at[hit]]
            holders.append(posting)
            shares.append(w * values)
        if holders:
            held, count = np.concatenate(holders), len(self.class_size)
            if len(held) * DENSE_SHARE >= count:  # many: summed at every class (no sort), those held kept
                similarity = np.bincount(held, weights=np.concatenate(shares), minlength=count)
                classes = _distinct(held, count)
                similarity = similarity[classes]
            else:
                classes, position = np.unique(held, return_inverse=True)
                similarity = np.bincount(position, weights=np.concatenate(shares), minlength=len(classes))
        else:
            classes, similarity = np.zeros(0, dtype=np.int64), np.zeros(0)
        counts = self.class_size[classes] - (classes == own)
        return classes[counts > 0], similarity[counts > 0], counts[counts > 0]

    def _cutoff(self, similarity: np.ndarray, counts: np.ndarray, count: int) -> float | None:
        """The ``count``-th highest similarity of the products of classes with these
        similarities and product counts, or None when there are no more products than that."""
        if counts.sum() <= count:
            return None
        if (counts == 1).all():
            return np.partition(similarity, -count)[-count]
        if len(similarity) > count:  # every class has a product: the cutoff is no lower than the classes' k-th
            kept = similarity >= np.partition(similarity, -count)[-count]
            similarity, counts = similarity[kept], counts[kept]
        order = np.argsort(-similarity, kind="stable")
        return similarity[order][np.searchsorted(np.cumsum(counts[order]), count)]

    def _members(self, classes: np.ndarray, row: int) -> np.ndarray:
        """The products of ``classes`` but ``row``, in order."""
        starts, ends = self.first_member[classes], self.first_member[classes + 1]
        products = _rows(self.members, starts, ends)
        return np.sort(products[products != row])

    def _neighbour_sums(self, row: int, classes: np.ndarray, similarity: np.ndarray, wanted: np.ndarray,
                        count: int) -> np.ndarray:
        """For each wanted column, the summed similarity of the neighbours holding it, added in
        the neighbours' order. Where the neighbours are many (copies tied at the cutoff), only
        those holding a wanted column are read."""
        if self.class_size[classes].sum() > 4 * count:
            rows = self.class_rows
            starts, ends = rows.indptr[classes], rows.indptr[classes + 1]
            columns = _rows(rows.indices, starts, ends)
            self._wanted[wanted] = True
            holding = classes[np.unique(np.repeat(np.arange(len(classes)), ends - starts)[self._wanted[columns]])]
            self._wanted[wanted] = False
            products = self._members(holding, row)
            alone = self.holder[wanted]
            alone = alone[alone >= 0]
            if len(alone):  # a wanted value only one product holds: that product, if it is a neighbour
                alone = alone[(alone != row) & np.isin(self.class_of[alone], classes)]
                products = np.union1d(products, alone)
        else:
            products = self._members(classes, row)
        if not len(products):
            return np.zeros(len(wanted))
        starts, ends = self.matrix.indptr[products], self.matrix.indptr[products + 1]
        held = _rows(self.matrix.indices, starts, ends)
        shares = np.repeat(similarity[np.searchsorted(classes, self.class_of[products])], ends - starts)
        return _at_columns(held, shares, wanted)

    def coverage(self, head: str, relation: str) -> float:
        """The share of the product's ``neighbours`` (weighted by their similarity; never more for
        a relation of ``neighbours_of``) that hold some value of ``relation``: how often products
        like it state one at all."""
        if head not in self.heads:
            return 0.0
        row = self.heads[head]
        classes, similarity, total = self._nearest(row, self.neighbours)
        if not len(classes) or total <= 0:
            return 0.0
        columns = self._relation_columns.get(relation, np.zeros(0, dtype=np.int64))
        rows = self.class_rows
        starts, ends = rows.indptr[classes], rows.indptr[classes + 1]
        held = _rows(rows.indices, starts, ends)
        owner = np.repeat(np.arange(len(classes)), ends - starts)
        holding = np.zeros(len(classes), dtype=bool)
        holding[owner[self._of_relation(relation)[held]]] = True  # a class's shared features: every member holds them
        counts = self.class_size[classes] - (classes == self.class_of[row])
        share = float((similarity * counts)[holding].sum())
        alone = self.holder[columns]  # a value only one product holds is no class's: that product, if a neighbour
        alone = np.unique(alone[(alone >= 0) & (alone != row)])
        at = np.searchsorted(classes, self.class_of[alone])
        found = (at < len(classes)) & (classes[np.minimum(at, len(classes) - 1)] == self.class_of[alone])
        at = at[found]
        share += float(similarity[at][~holding[at]].sum())
        return min(share / total, 1.0)

    def _of_relation(self, relation: str) -> np.ndarray:
        """For each column, whether it is a value of ``relation`` (kept per relation)."""
        if relation not in self._relation_masks:
            mask = np.zeros(len(self.features), dtype=bool)
            mask[self._relation_columns.get(relation, np.zeros(0, dtype=np.int64))] = True
            self._relation_masks[relation] = mask
        return self._relation_masks[relation]

    def _association(self, row: int, relation: str, wanted: np.ndarray) -> np.ndarray:
        """For each wanted column (one of ``relation``'s values), how often the products with
        each of the product's features have it, averaged with its weights: the product's row
        times the co-occurrence matrix, whose columns are built for one relation at a time."""
        from scipy import sparse

        if relation not in self._cooccurrence:
            columns = self._relation_columns.get(relation, np.zeros(0, dtype=np.int64))
            counts = self._held.T.tocsr() @ self._held[:, columns]
            # P(value pair | feature pair): of the products with the row's pair, the share with the column's
            cooccurrence = sparse.csr_matrix(sparse.diags(1 / np.maximum(self.frequency, 1)) @ counts)
            self._cooccurrence[relation] = (columns, cooccurrence)
        columns, cooccurrence = self._cooccurrence[relation]
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        features, weights = self.matrix.indices[start:end], self.matrix.data[start:end]
        pointer = cooccurrence.indptr
        starts, ends = pointer[features], pointer[features + 1]
        found = _rows(cooccurrence.indices, starts, ends)
        shares = np.repeat(weights, ends - starts) * _rows(cooccurrence.data, starts, ends)
        sums = np.bincount(found, weights=shares, minlength=len(columns))  # added in the row's order, as a product would
        return sums[np.searchsorted(columns, wanted)]

    def _weight(self, row: int) -> float:
        """The sum of product ``row``'s weights, added in column order (as scipy sums a row)."""
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        return self.matrix.data[start:end][np.argsort(self.matrix.indices[start:end])].sum()

    def _asked(self, relation: str, candidates: Sequence[str], left_out: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The popularity prior of the candidates (shares of the counts of those ranked: not
        ``left_out``), the positions of those the scorer knows and their columns; kept per
        relation for the candidates last asked (a caller asks every product about the same
        values)."""
        key, cached = tuple(candidates), self._candidates.get(relation)
        prior = self.prior or 1e-6
        if cached is None or cached[0] != key:
            counts = self.popularity.scores("", relation, candidates)
            columns = [self.features.get((relation, c)) for c in candidates]
            known = [i for i, col in enumerate(columns) if col is not None]
            total = float(counts.sum())
            cached = self._candidates[relation] = (key, counts, total, counts / (total + 1) * prior,
                                                   np.array(known, dtype=np.int64),
                                                   np.array([columns[i] for i in known], dtype=np.int64))
        _, counts, total, every, known, wanted = cached
        if not left_out:
            return every, known, wanted
        return counts / (total - float(counts[list(left_out)].sum()) + 1) * prior, known, wanted

    def _similar(self, row: int, relation: str, candidates: Sequence[str]) -> np.ndarray:
        """How alike each candidate's name is to the nearest of the product's values of the
        relation (0–1, nothing under :data:`SIMILAR`)."""
        from rapidfuzz import fuzz, process

        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        columns = self._relation_columns.get(relation, np.zeros(0, dtype=np.int64))
        held = self.matrix.indices[start:end]
        mine = [self._names[c] for c in held[np.isin(held, columns)]]
        if not mine:
            return np.zeros(len(candidates))
        if self._candidate_names[0] != (relation, key := tuple(candidates)):
            self._candidate_names = ((relation, key), [c.rsplit(":", 1)[-1].lower() for c in candidates])
        alike = process.cdist(mine, self._candidate_names[1], scorer=fuzz.ratio, workers=1).max(axis=0) / 100
        return np.where(alike >= SIMILAR, alike, 0.0)

    def scores(self, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> np.ndarray:
        tie_break, known, wanted = self._asked(relation, candidates, left_out)
        if head not in self.heads:
            return tie_break.copy()
        row, count = self.heads[head], self.neighbours_of.get(relation, self.neighbours)
        classes, similarity, total = self._nearest(row, count)
        out = np.zeros(len(candidates))
        if len(known):
            out[known] = self._neighbour_sums(row, classes, similarity, wanted, count) / max(total, 1e-12)
            if self.association:
                out[known] += self.association * self._association(row, relation, wanted) / max(self._weight(row), 1e-12)
        if self.similarity:
            out += self.similarity * self._similar(row, relation, candidates)
        return out + tie_break


class FitNeighbours:
    """The ``neighbours`` scorer: :class:`NeighbourScorer` (50 neighbours, 200 for colours:
    :data:`WIDE_NEIGHBOURS`; prior 0.2, association 2), but for what a product already known to
    fit something (``compatible_with``) fits besides: neighbours among the products that fit
    something, alike also by the pieces of the names of what they fit, the associations at weight 1, a model named like one it fits
    scoring 0.1 × the likeness (:data:`FIT_SIMILARITY`), and a sibling of a model it fits (of its
    maker and series, numbered one up or down, or the same number with another suffix:
    :func:`siblings`) 0.1 more (:data:`FIT_SIBLING`). Every other question, and what a product
    known to fit nothing fits, goes to the plain neighbours, whose answers the pieces would
    change (settings chosen on seed 1 of benchmarks/completion.py's split; colours' 200 on
    seeds 0 to 4)."""

    def __init__(self, triples: Sequence[Triple], relation: str = "compatible_with"):
        self.relation = relation
        self.plain = NeighbourScorer(triples, neighbours=50, prior=0.2, association=2.0, neighbours_of=WIDE_NEIGHBOURS)
        fitted: dict[str, list[str]] = defaultdict(list)
        for h, r, t in triples:
            if r == relation:
                fitted[h].append(t)
        self.fitted = dict(fitted)  # product → what it fits
        self.fits = NeighbourScorer([t for t in triples if t[0] in self.fitted], neighbours=50, prior=0.2,
                                    association=FIT_ASSOCIATION, similarity=FIT_SIMILARITY, tokens_of=(relation,))
        self._numbered: tuple[tuple[str, ...], list, dict] = ((), [], {})  # the candidates last asked: read, by number

    def scores(self, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> np.ndarray:
        if relation != self.relation or head not in self.fitted:
            return self.plain.scores(head, relation, candidates, left_out)
        if self._numbered[0] != (key := tuple(candidates)):
            read = [numbered_model(c) for c in candidates]
            self._numbered = (key, read, _by_number(read))
        _, read, by_number = self._numbered
        return self.fits.scores(head, relation, candidates, left_out) + FIT_SIBLING * siblings(
            [numbered_model(v) for v in self.fitted[head]], read, by_number)

    def coverage(self, head: str, relation: str) -> float:
        return self.plain.coverage(head, relation)


#: relations :class:`FitNeighbours` asks of more neighbours than 50: 50 like products tell colours no better than
#: popularity, 200 better (chosen on seeds 0 to 4 of benchmarks/completion.py's split: +9, +9, +10, +6 and +5 hidden
#: colours in the top 10; in the top 1, one fewer over the five; 150 to 2,000 alike)
WIDE_NEIGHBOURS = MappingProxyType({"colour": 200})
#: :class:`FitNeighbours`' weights of the associations, of a name's likeness and of a sibling model, for what a
#: product fits
FIT_ASSOCIATION, FIT_SIMILARITY, FIT_SIBLING = 1.0, 0.1, 0.1
#: a model's name: the Chinese it opens with (its maker: 华为, 苹果), series letters, number, suffix (华为p20pro: 华为, p,
#: 20, pro)
_NUMBERED = re.compile(r"([\u4e00-\u9fff]*)([^\d]*?)(\d+)(\D*)")
Numbered = tuple[str, str, int, str]


def numbered_model(ref: str) -> Numbered | None:
    """The maker, series, number and suffix of a model's value named with a number
    (``Value:model:华为p20 pro``: 华为, p, 20, pro; ``Value:model:6s``: '', '', 6, s), or None: a
    value of another kind (a brand, a product type), or a name with no number or two (``x20-l10``)."""
    kind, _, name = ref.rpartition(":")
    if kind.rpartition(":")[2] != "model":
        return None
    match = _NUMBERED.fullmatch(name.lower().replace(" ", ""))
    return (match[1], match[2], int(match[3]), match[4]) if match else None


def siblings(fitted: Sequence[Numbered | None], candidates: Sequence[Numbered | None],
             by_number: Mapping[int, Sequence[int]] | None = None) -> np.ndarray:
    """1 for each candidate (:func:`numbered_model`) a sibling of a model in ``fitted``, else 0:
    of the same maker where both name one (or one the other ends with: 华为荣耀, 荣耀), of the
    same series (or, both of two letters or more, one the other ends with: ``oppor`` and
    ``or``), numbered one up or down with the same suffix (荣耀8x, 荣耀9x) or the same number with
    another suffix (6s, 6splus). ``by_number``: the candidates' positions by their number
    (:func:`_by_number`), where the caller keeps them."""
    if by_number is None:
        by_number = _by_number(candidates)
    out = np.zeros(len(candidates))
    for maker, series, number, suffix in {m for m in fitted if m is not None}:
        for n in (number - 1, number, number + 1):
            for i in by_number.get(n, ()):
                their_maker, theirs, _, their_suffix = candidates[i]
                same_series = theirs == series or (min(len(theirs), len(series)) >= 2
                                                   and (theirs.endswith(series) or series.endswith(theirs)))
                same_maker = not maker or not their_maker or maker.endswith(their_maker) or their_maker.endswith(maker)
                if same_maker and same_series and (their_suffix == suffix) != (n == number):
                    out[i] = 1.0
    return out


def _by_number(models: Sequence[Numbered | None]) -> dict[int, list[int]]:
    """The positions of the models read (:func:`numbered_model`) by their number."""
    by_number: dict[int, list[int]] = defaultdict(list)
    for i, model in enumerate(models):
        if model is not None:
            by_number[model[2]].append(i)
    return by_number


#: a product's postings hold at least one entry per this many classes: its similarities are summed
#: at every class (an array of them all) rather than at the classes found, sorted
DENSE_SHARE = 16


def _spans(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The positions from each start to its end (exclusive), one span after another: the entries
    of some rows of a sparse matrix, given their pointers, without a slice per row."""
    lengths = ends - starts
    reach = np.cumsum(lengths)
    if not len(reach) or not reach[-1]:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - reach + lengths, lengths) + np.arange(reach[-1])


#: rows gathered a slice at a time up to this many (faster than :func:`_spans` for a few)
FEW_ROWS = 8


def _rows(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``values`` from each start to its end, one span after another (:func:`_spans`)."""
    if len(starts) <= FEW_ROWS:
        return np.concatenate([values[a:b] for a, b in zip(starts, ends, strict=True)]) if len(starts) else values[:0]
    return values[_spans(starts, ends)]


def _distinct(ids: np.ndarray, count: int) -> np.ndarray:
    """The distinct ``ids`` (each below ``count``), in order: marked in an array of ``count``
    where they are many, sorted where they are few."""
    if len(ids) * DENSE_SHARE < count:
        return np.unique(ids)
    marked = np.zeros(count, dtype=bool)
    marked[ids] = True
    return np.flatnonzero(marked)


def _at_columns(columns: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each of the ``wanted`` columns (distinct), the sum of the ``values`` stored at it
    (sparse entries given as their columns and values, summed in the order given)."""
    order = np.argsort(wanted)
    position = np.minimum(np.searchsorted(wanted[order], columns), len(wanted) - 1)
    hit = wanted[order][position] == columns
    sums = np.zeros(len(wanted))
    sums[order] = np.bincount(position[hit], weights=values[hit], minlength=len(wanted))
    return sums


class _NeighbourCoverage:
    """:meth:`NeighbourScorer.coverage` for a scorer that cannot tell how likely a product is to
    have a value of a relation at all (the share of like products that state one)."""

    def __init__(self, triples: Sequence[Triple]):
        self.neighbours = make_scorer("neighbours", triples)

    def coverage(self, head: str, relation: str) -> float:
        return self.neighbours.coverage(head, relation)


class EmbeddingScorer(_NeighbourCoverage):
    """A trained PyKEEN model's scores (see :func:`train_model`)."""

    def __init__(self, triples: Sequence[Triple], model: str = "RotatE", epochs: int = 200, dim: int = 64, seed: int = 0,
                 batch_size: int = 256):
        super().__init__(triples)
        self.model, self.factory = train_model(triples, model, epochs, dim, seed, batch_size)

    def scores(self, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> np.ndarray:
        known = [c in self.factory.entity_to_id for c in candidates]
        if head not in self.factory.entity_to_id or relation not in self.factory.relation_to_id or not any(known):
            return np.full(len(candidates), -np.inf)
        out = np.full(len(candidates), -np.inf)
        index = [i for i, k in enumerate(known) if k]
        out[index] = tail_scores(self.model, self.factory, head, relation, [candidates[i] for i in index])
        return out


class GNNScorer(_NeighbourCoverage):
    """A graph neural network's scores (:func:`skugraph.fusion.gnn.train_gnn`, its
    :class:`~skugraph.fusion.gnn.GNNConfig` defaults)."""

    def __init__(self, triples: Sequence[Triple], seed: int = 0):
        try:
            from skugraph.fusion.gnn import GNNConfig, train_gnn
        except ImportError as error:
            raise ValueError(f"the gnn scorers need torch_geometric ({error}): pip install -e '.[kg]'") from None
        super().__init__(triples)
        self.model = train_gnn(triples, GNNConfig(seed=seed))

    def scores(self, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> np.ndarray:
        return self.model.scores(head, relation, candidates)


class BlendScorer:
    """Reciprocal-rank fusion of scorers: a candidate's score is the sum over the scorers of
    ``weight / (RANK_OFFSET + its rank)``, its rank among the candidates (tied candidates share
    the best of their ranks, so a scorer that cannot tell them apart favours none)."""

    def __init__(self, scorers: Sequence[tuple[object, float]]):
        self.scorers = scorers

    def scores(self, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> np.ndarray:
        total = np.zeros(len(candidates))
        for scorer, weight in self.scorers:
            scores = _ranked_scores(scorer, head, relation, candidates, left_out)
            ordered = np.sort(-scores)
            total += weight / (RANK_OFFSET + 1 + np.searchsorted(ordered, -scores, side="left"))  # ties: the best rank
        return total

    def coverage(self, head: str, relation: str) -> float:
        first = self.scorers[0][0]
        return first.coverage(head, relation) if hasattr(first, "coverage") else 1.0


#: reciprocal-rank fusion's offset: how little the very first ranks count above the next ones
RANK_OFFSET = 10
#: the GNN's weight beside the neighbours' (1) in ``neighbours+gnn`` (the best of 0.25, 0.5, 1 and 2 on
#: seed 1 of benchmarks/completion.py's split)
GNN_WEIGHT = 0.5


def _blend(neighbours, gnn) -> BlendScorer:
    """``neighbours+gnn``: the two by reciprocal rank, the GNN at :data:`GNN_WEIGHT`."""
    return BlendScorer([(neighbours, 1.0), (gnn, GNN_WEIGHT)])


def make_scorer(name: str, triples: Sequence[Triple], epochs: int = 200, dim: int = 64, seed: int = 0, batch_size: int = 256):
    """``popularity``, ``neighbours``, ``gnn`` (a graph neural network, its own settings:
    ``epochs``, ``dim`` and ``batch_size`` are the PyKEEN models'), ``neighbours+gnn`` (the two
    blended), or a PyKEEN model name (RotatE, TransE, ComplEx, RGCN …)."""
    if name == "popularity":
        return PopularityScorer(triples)
    if name == "neighbours":
        return FitNeighbours(triples)
    if name == "gnn":
        return GNNScorer(triples, seed)
    if name == "neighbours+gnn":
        gnn = GNNScorer(triples, seed)
        return _blend(gnn.neighbours, gnn)
    check_scorer(name)
    return EmbeddingScorer(triples, name, epochs, dim, seed, batch_size)


#: the scorers :func:`make_scorer` builds itself; any other name is a PyKEEN model's
SCORERS = ("popularity", "neighbours", "gnn", "neighbours+gnn")


def check_scorer(name: str) -> None:
    """A ValueError naming every scorer there is where ``name`` is none of :data:`SCORERS` nor a
    PyKEEN model, or where it may be a PyKEEN model and the kg extra is not installed."""
    if name in SCORERS:
        return
    try:
        from pykeen.models import model_resolver
    except ImportError:
        raise ValueError(f"scorer {name!r} is none of {', '.join(SCORERS)}: a PyKEEN model needs the kg extra "
                         "(pip install -e '.[kg]')") from None
    try:
        model_resolver.lookup(name)
    except (KeyError, ValueError):
        models = ", ".join(sorted(cls.__name__ for cls in model_resolver))
        raise ValueError(f"unknown scorer {name!r}: {', '.join(SCORERS)}, or a PyKEEN model ({models})") from None


def _values(triples: Iterable[Triple], relations: Sequence[str]) -> dict[str, list[str]]:
    """Relation → its tails (sorted, once each), for ``relations``."""
    wanted = frozenset(relations)
    values: dict[str, list[str]] = defaultdict(list)
    for r, t in sorted({(r, t) for _, r, t in triples if r in wanted}):
        values[r].append(t)
    return values


class _Ranked:
    """The values each relation's hidden tails are ranked among (filtered ranking: a head's
    other values of the relation do not count against it), as one list per relation and, per
    hidden triple, the positions in it to leave out: a ranking costs no list of its own."""

    def __init__(self, values: dict[str, list[str]], held: Iterable[Triple], hidden: Iterable[Triple]):
        self.values = values
        self.position = {relation: {value: i for i, value in enumerate(tails)} for relation, tails in values.items()}
        asked = {(head, relation) for head, relation, _ in hidden}
        self.held: dict[tuple[str, str], set[int]] = defaultdict(set)  # (head, relation) asked → positions of its values
        for head, relation, tail in held:
            if (head, relation) in asked and (i := self.position.get(relation, {}).get(tail)) is not None:
                self.held[(head, relation)].add(i)

    def left_out(self, head: str, relation: str, tail: str) -> tuple[int, ...]:
        """The positions of the values ``head`` holds for ``relation``, but ``tail``."""
        return tuple(sorted(i for i in self.held.get((head, relation), ()) if self.values[relation][i] != tail))

    def count(self, relation: str, left_out: Sequence[int]) -> int:
        return len(self.values.get(relation, ())) - len(left_out)


def evaluate(triples: Sequence[Triple], relations: Sequence[str] = COMPLETED, share: float = 0.1,
             systems: Sequence[str] = ("popularity", "neighbours", "RotatE"), epochs: int = 200, dim: int = 64,
             seed: int = 0, batch_size: int = 256) -> CompletionReport:
    """Hide ``share`` of the edges of ``relations``, train each system on the rest, rank each
    hidden tail among the values its relation has in training (filtered)."""
    kept, hidden = split(triples, relations, share, seed)
    scorers: dict[str, object] = {}
    seconds: dict[str, float] = {}
    for name in systems:  # a blend of scorers already trained uses them
        began = time.perf_counter()
        scorers[name] = (_blend(scorers["neighbours"], scorers["gnn"]) if name == "neighbours+gnn" and {"neighbours", "gnn"} <= scorers.keys()
                         else make_scorer(name, kept, epochs, dim, seed, batch_size))
        seconds[name] = round(time.perf_counter() - began, 1)
    ranked = _Ranked(_values(kept, relations), set(triples), hidden)
    ranks: dict[str, list[int]] = defaultdict(list)
    alone: dict[str, list[int]] = defaultdict(list)
    by_relation: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for h, r, t in hidden:
        left_out = ranked.left_out(h, r, t)
        for name, scorer in scorers.items():
            if (truth_at := ranked.position.get(r, {}).get(t)) is None:
                rank = ranked.count(r, left_out) + 1  # never seen in training: ranked last
            else:
                scores = _ranked_scores(scorer, h, r, ranked.values[r], left_out)
                rank = 1 + int((scores > scores[truth_at]).sum())
            ranks[name].append(rank)
            by_relation[r][name].append(rank)
            if not left_out:
                alone[name].append(rank)
    return CompletionReport(len(hidden), {name: _metrics(v) | {"train_seconds": seconds[name]} for name, v in ranks.items()},
                            {r: {name: _metrics(v) for name, v in d.items()} for r, d in sorted(by_relation.items())},
                            {name: _metrics(v) for name, v in alone.items()})


def _metrics(ranks: list[int]) -> dict:
    if not ranks:
        return {"mrr": 0.0, "hits_at_1": 0.0, "hits_at_10": 0.0, "count": 0}
    array = np.array(ranks, dtype=float)
    return {"mrr": round(float((1 / array).mean()), 4), "hits_at_1": round(float((array <= 1).mean()), 4),
            "hits_at_10": round(float((array <= 10).mean()), 4), "count": len(ranks)}


@dataclass
class Proposals:
    facts: list[Fact]
    calibration: dict  # hidden queries used, share right at the top, and the probability curve's points


def _ranked_scores(scorer, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int]) -> np.ndarray:
    """The scorer's scores of the candidates, those ``left_out`` at minus infinity (never above another)."""
    scores = scorer.scores(head, relation, candidates, left_out)
    if left_out:
        scores[list(left_out)] = -np.inf
    return scores


def _top(scorer, head: str, relation: str, candidates: Sequence[str], left_out: Sequence[int] = ()) -> tuple[str, float]:
    """The best candidate (the first of equals) but those ``left_out``, and its score."""
    scores = _ranked_scores(scorer, head, relation, candidates, left_out)
    if left_out:  # the first of the others, even where they all score minus infinity
        others = np.ones(len(candidates), dtype=bool)
        others[list(left_out)] = False
        best = int(np.flatnonzero(others)[np.argmax(scores[others])])
    else:
        best = int(np.argmax(scores))
    return candidates[best], float(scores[best])


def _proposal(scorer, head: str, relation: str, candidates: Sequence[str], curve: _Curve, bar: float) -> tuple[str, float | None]:
    """The top candidate (:func:`_top`) and its probability: the ``curve`` of its score (its
    calibrated chance) times how likely the head is to have a value of the relation at all (the
    scorer's ``coverage``; 1.0 for a scorer that cannot tell). None where the chance is under the
    ``bar``: a coverage is at most 1, so it is not asked."""
    top, score = _top(scorer, head, relation, candidates)
    chance = curve(score)
    if chance < bar:
        return top, None
    return top, (scorer.coverage(head, relation) if hasattr(scorer, "coverage") else 1.0) * chance


Query = tuple[str, str, Sequence[str], Sequence[int]]  # head, relation, candidate tails, those left out (positions)
#: queries worth sending to other processes (fewer are answered here)
SENT_QUERIES = 1000


def _tops(scorer, queries: list[Query], workers: Workers | None) -> list[tuple[str, float]]:
    """:func:`_top` of each query, by ``scorer`` (see :func:`_in_runs`)."""
    return _in_runs(_top, scorer, queries, workers)


def _in_runs(answer, scorer, queries: list[tuple], workers: Workers | None) -> list:
    """``answer(scorer, *query)`` for each query; with several ``workers``, the queries in as many
    runs of consecutive ones (a product's relations together), each but the first sent with the
    scorer, the first answered here meanwhile (one copy of the scorer fewer)."""
    count = workers.count if workers else 1
    if count == 1 or len(queries) < SENT_QUERIES:
        return [answer(scorer, *query) for query in queries]
    size = -(-len(queries) // count)
    runs = [queries[start : start + size] for start in range(0, len(queries), size)]
    others = [workers.later(_answers, (answer, scorer, run)) for run in runs[1:]]
    return _answers((answer, scorer, runs[0])) + [each for answered in others for each in answered()]


def _answers(run: tuple[object, object, list[tuple]]) -> list:
    answer, scorer, queries = run
    return [answer(scorer, *query) for query in queries]


class CompletionFacts:
    """What :func:`propose` learns from, gathered a fact at a time (fused facts stream through, in
    any order, each with its place in the fused output): the triples, the entities it can name
    (the last of each ref: not reviews or aspects, unless a completed relation's tail), each
    product's category. Listing facts (``offer_of``) and inferred ones are left out."""

    def __init__(self, relations: Sequence[str] = COMPLETED):
        self.relations, self._named = tuple(relations), frozenset(relations)
        self.triples: set[Triple] = set()
        self.entities: dict[str, tuple[int, Entity]] = {}
        self.category: dict[str, tuple[int, str]] = {}

    def add(self, fact: Fact, place: int) -> None:
        if fact.subject.label == LISTING or fact.properties.get("inferred"):
            return
        head, tail = sys.intern(fact.subject.ref), sys.intern(fact.object.ref)
        self.triples.add((head, sys.intern(fact.predicate), tail))
        for ref, entity, named in ((head, fact.subject, False), (tail, fact.object, fact.predicate in self._named)):
            if (named or entity.label not in (REVIEW, ASPECT)) and place >= self.entities.get(ref, (-1, None))[0]:
                self.entities[ref] = (place, entity)
        if fact.predicate == "in_category" and place >= self.category.get(head, (-1, ""))[0]:
            self.category[head] = (place, fact.object.name)

    def update(self, other: CompletionFacts) -> None:
        """What ``other`` gathered (from other facts of the same output) added to this."""
        self.triples.update((sys.intern(h), sys.intern(r), sys.intern(t)) for h, r, t in other.triples)
        for mine, theirs in ((self.entities, other.entities), (self.category, other.category)):
            for ref, (place, value) in theirs.items():
                if place >= mine.get(ref, (-1, None))[0]:
                    mine[sys.intern(ref)] = (place, value)


#: the facts known of a product, in the strata calibrated apart: a product known by one or two facts
#: (a brand, a size) has neighbours by those alone, and their values are a guess for it
_EVIDENCE_NAMES = {1: "1", 2: "2", 3: "3", 4: "4 or more"}
#: hidden edges a stratum needs for a curve of its own; one with fewer takes the curve of all
MIN_STRATUM = 30


def _evidence(facts_known: int) -> int:
    return max(1, min(facts_known, 4))


def _shared_facts(triples: Sequence[Triple]) -> Counter:
    """Each head's facts that another product states too (what makes it like other products)."""
    held = Counter((r, t) for _, r, t in triples)
    return Counter(h for h, r, t in triples if held[(r, t)] > 1)


@dataclass
class _Curve:
    """Score → the probability that the top value is right (isotonic), fitted on hidden edges;
    constant where they were all right or all wrong. Each block of the fit says (k + 1) / (n + 2)
    for its k right of n (the rule of succession), so five right of five is 0.86, not 1."""

    thresholds: tuple[np.ndarray, np.ndarray] | None
    constant: float
    report: dict

    def __call__(self, score: float) -> float:
        return float(np.interp(score, *self.thresholds)) if self.thresholds is not None else self.constant


def _curves(points: list[float], right: list[float], strata: list[int]) -> dict[int, _Curve]:
    """One calibration curve for each stratum of products by the facts known of them (those with
    fewer than :data:`MIN_STRATUM` hidden edges take the curve of all), from the hidden edges'
    top scores and whether the top was right."""
    from sklearn.isotonic import IsotonicRegression

    def fit(chosen: list[int], pooled: bool) -> _Curve:
        ys = np.array([right[i] for i in chosen])
        report = {"hidden": len(chosen), "top_right": round(float(ys.mean()), 4) if len(ys) else None} | ({"pooled": True} if pooled else {})
        if len(set(ys)) < 2:
            return _Curve(None, float(ys.sum() + 1) / (len(ys) + 2) if len(ys) else 0.0, report | {"curve": []})
        xs = np.array([points[i] for i in chosen])
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(xs, ys)
        fitted = model.predict(xs)
        smoothed = {block: (ys[fitted == block].sum() + 1) / ((fitted == block).sum() + 2) for block in np.unique(fitted)}
        # the blocks' values, each shrunk by its size, kept non-decreasing in the score
        ys_at = np.maximum.accumulate([smoothed.get(y, y) for y in model.y_thresholds_])
        return _Curve((model.X_thresholds_, ys_at), 0.0,
                      report | {"curve": [[round(float(x), 4), round(float(y), 4)] for x, y in zip(model.X_thresholds_, ys_at, strict=True)]})

    everything = fit(list(range(len(points))), True)
    curves = {}
    for stratum in _EVIDENCE_NAMES:
        chosen = [i for i, s in enumerate(strata) if s == stratum]
        curves[stratum] = fit(chosen, False) if len(chosen) >= MIN_STRATUM else _Curve(everything.thresholds, everything.constant,
                                                                                        everything.report | {"stratum_hidden": len(chosen)})
    return curves


#: hidden queries the calibration wants: a graph whose hidden share gives fewer hides other shares
#: too (other seeds), up to :data:`CALIBRATION_ROUNDS` in all, so a small catalogue's curve is not
#: drawn through a few dozen points
CALIBRATION_QUERIES = 300
CALIBRATION_ROUNDS = 8
#: hidden shares calibrated on at least (unless they hold :data:`CALIBRATION_ENOUGH` queries): on the graph of
#: the 20,000 JD titles one draw (about 1,500 queries) moves the top of a curve, and with it how many values are
#: proposed (see the fusion concepts page)
CALIBRATION_MIN_ROUNDS = 3
#: hidden queries after which no further share is drawn, even before :data:`CALIBRATION_MIN_ROUNDS`: about twice
#: what three draws hold on the JD titles' graph (4,567), as each draw builds the scorer again (one draw of
#: 300,000 generated listings holds 13,500). A rule of thumb: whether one such draw's curves are steady was
#: measured only on generated listings (each stratum's share right at the top 0.295 to 0.308 over three single
#: draws, 0.299 to 0.300 pooled), where no value passes the bar. These figures are ad hoc (scripts over the
#: calibration of one run each, not a benchmark)
CALIBRATION_ENOUGH = 10_000


#: a product type whose products state a relation in fewer than this share of cases (by the rule of
#: succession) gets no proposal of it: a colour for software, a capacity for a SIM-card plan;
#: products of no type count as one type
APPLIES_SHARE = 0.5


class _StatedShares:
    """For a product and relation, the highest share over its product types of their products
    that state the relation ((k + 1) / (n + 2)), worked out when asked."""

    def __init__(self, triples: Iterable[Triple], relations: Sequence[str]):
        self.types: dict[str, set[str]] = defaultdict(set)
        stating: dict[str, set[str]] = defaultdict(set)
        wanted = frozenset(relations)
        for head, relation, tail in triples:
            if head.startswith(PRODUCT + ":"):
                if relation == "product_type":
                    self.types[head].add(tail)
                stating[head] |= {relation} & wanted
        self.products = Counter(kind for product in stating for kind in self.types.get(product) or ("",))
        self.held = Counter((kind, relation) for product, stated in stating.items()
                            for kind in self.types.get(product) or ("",) for relation in stated)

    def __getitem__(self, asked: tuple[str, str]) -> float:
        product, relation = asked
        return max((self.held[(kind, relation)] + 1) / (self.products[kind] + 2) for kind in self.types.get(product) or ("",))


def propose(facts: Sequence[Fact], relations: Sequence[str] = COMPLETED, scorer: str = "neighbours",
            min_probability: float = 0.7, share: float = 0.1, seed: int = 0, epochs: int = 200, dim: int = 64,
            ontology: Ontology | None = None) -> Proposals:
    """Facts for the (product, relation) pairs the graph lacks, marked ``inferred``; see the module
    doc. Learns from the facts given, leaving out listing facts (``offer_of``) and inferred ones."""
    gathered = CompletionFacts(relations)
    for place, fact in enumerate(facts):
        gathered.add(fact, place)
    return propose_from(gathered, scorer, min_probability, share, seed, epochs, dim, ontology)


def propose_from(gathered: CompletionFacts, scorer: str = "neighbours", min_probability: float = 0.7, share: float = 0.1,
                 seed: int = 0, epochs: int = 200, dim: int = 64, ontology: Ontology | None = None,
                 workers: Workers | None = None) -> Proposals:
    """:func:`propose` on facts gathered as they streamed by (:class:`CompletionFacts`);
    ``workers``: processes that score the queries."""
    ontology = ontology or load_ontology()
    relations = gathered.relations
    entities = {ref: entity for ref, (_, entity) in gathered.entities.items()}
    triples = sorted(gathered.triples)
    all_values = _values(triples, relations)
    points: list[float] = []
    right: list[float] = []
    strata: list[int] = []
    # other hidden shares, at least CALIBRATION_MIN_ROUNDS (one small draw moves the curves' top blocks), until enough points
    # (or until CALIBRATION_ENOUGH, drawn in fewer)
    for done, round_seed in enumerate(range(seed, seed + CALIBRATION_ROUNDS), 1):
        kept, hidden = split(triples, relations, share, round_seed)
        ranked = _Ranked(_values(kept, relations), gathered.triples, hidden)
        trial = make_scorer(scorer, kept, epochs, dim, seed)
        # asked as proposals are: of a product that states no other value of the relation
        asked = [(h, r, t, left_out) for h, r, t in hidden if not (left_out := ranked.left_out(h, r, t)) and ranked.count(r, left_out)]
        tops = _tops(trial, [(h, r, ranked.values[r], left_out) for h, r, _, left_out in asked], workers)
        points += [score for _, score in tops]
        right += [float(top == t) for (_, _, t, _), (top, _) in zip(asked, tops, strict=True)]
        known = _shared_facts(kept)
        strata += [_evidence(known[h]) for h, _, _, _ in asked]
        del trial, kept, ranked
        if (len(points) >= CALIBRATION_QUERIES and done >= CALIBRATION_MIN_ROUNDS) or len(points) >= CALIBRATION_ENOUGH or not asked:
            break
    curves = _curves(points, right, strata)
    final = make_scorer(scorer, triples, epochs, dim, seed)
    products = sorted({head for head, _, _ in triples if head.startswith(PRODUCT + ":")})
    category = {ref: name for ref, (_, name) in gathered.category.items()}
    proposed: dict[str, list[Fact]] = {relation: [] for relation in relations}
    wanted = frozenset(relations)
    answered = {(h, r) for h, r, _ in triples if r in wanted}
    known = _shared_facts(triples)
    # one product's relations in turn: its neighbours are found once; capacity is no attribute of a folder
    queries = [(product, relation, all_values[relation], curves[_evidence(known[product])], min_probability)
               for product in products for relation in relations
               if (product, relation) not in answered and all_values[relation]
               and not (ontology.is_kind(relation) and not ontology.applies(relation, category.get(product, "")))]
    stated_shares = _StatedShares(triples, relations)
    for (product, relation, *_), (top, probability) in zip(queries, _in_runs(_proposal, final, queries, workers), strict=True):
        # calibrated on products that have the relation; this one may have none (a pen that states no colour)
        if (probability is not None and probability >= min_probability and stated_shares[(product, relation)] >= APPLIES_SHARE
                and not rules_out(entities[product].name, relation, entities[top].name)):
            where = Provenance(entities[product].key, "graph", 0, 0, COMPLETION, scorer)
            properties = {"inferred": True} | ({"chosen": False, "support": 0.0} if ontology.is_kind(relation) else {})
            proposed[relation].append(Fact(entities[product], relation, entities[top], round(probability, 4), (where,), properties))
    calibration = {"hidden": len(points), "top_right": round(float(np.mean(right)), 4) if right else None,
                   "by_facts_known": {_EVIDENCE_NAMES[stratum]: curve.report for stratum, curve in sorted(curves.items())}}
    return Proposals([fact for relation in relations for fact in proposed[relation]], calibration)
