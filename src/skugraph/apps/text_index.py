"""BM25 over numbered document slots that takes updates.

The scores are bm25s's default (Lucene's variant, ``k1`` 1.5, ``b`` 0.75; a test checks them
against bm25s), but the index is kept as postings (term → slots and term counts) and scored at
query time, so a write that changes a few documents rebuilds only their terms' postings.
bm25s precomputes every (term, document) score from the corpus-wide IDF and mean length and has
no way to add or remove a document: on a graph of 20,000 products each write would re-index
the whole catalogue (seconds of CPU a write). :meth:`TextIndex.updated` returns a new index and
leaves the old one as it was, so a reader holding it never sees half an update.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

K1, B = 1.5, 0.75
_NONE = (np.zeros(0, dtype=np.int64), np.zeros(0))


class TextIndex:
    """BM25 postings over slots ``0 … size-1``; an empty slot (``None``) is no document."""

    def __init__(self, texts: Sequence[Sequence[str] | None] = ()):
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term → (slots, term counts)
        self._counts: list[Counter[str] | None] = []  # slot → its terms' counts
        self.lengths = np.zeros(0)  # slot → its number of terms
        self.documents = 0
        if texts:
            self._update(dict(enumerate(texts)))

    def updated(self, texts: Mapping[int, Sequence[str] | None]) -> TextIndex:
        """A new index with each slot of ``texts`` holding those terms (``None``: emptied)."""
        new = TextIndex.__new__(TextIndex)
        new._postings, new._counts, new.lengths, new.documents = self._postings, self._counts, self.lengths, self.documents
        new._update(texts)
        return new

    def _update(self, texts: Mapping[int, Sequence[str] | None]) -> None:
        size = max(len(self._counts), max(texts, default=-1) + 1)
        counts = self._counts + [None] * (size - len(self._counts))
        lengths = np.zeros(size)
        lengths[: len(self.lengths)] = self.lengths
        added: dict[str, list[tuple[int, int]]] = defaultdict(list)
        touched: set[str] = set()
        for slot, terms in texts.items():
            if counts[slot] is not None:
                touched.update(counts[slot])
                self.documents -= 1
            counts[slot] = None if terms is None else Counter(terms)
            lengths[slot] = len(terms or ())
            if terms is not None:
                self.documents += 1
                for term, n in counts[slot].items():
                    added[term].append((slot, n))
        changed = np.fromiter(texts, dtype=np.int64, count=len(texts))
        postings = dict(self._postings)
        for term in touched | added.keys():
            slots, tfs = postings.get(term, _NONE)
            keep = ~np.isin(slots, changed)
            more = np.array(added.get(term, ()), dtype=np.int64).reshape(-1, 2)
            slots, tfs = np.concatenate([slots[keep], more[:, 0]]), np.concatenate([tfs[keep], more[:, 1]])
            if len(slots):
                postings[term] = (slots, tfs)
            else:
                postings.pop(term, None)
        self._postings, self._counts, self.lengths = postings, counts, lengths

    def __len__(self) -> int:
        return len(self._counts)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Each slot's BM25 score for the query terms (a repeated term counts again, as in bm25s)."""
        scores = np.zeros(len(self._counts))
        if not self.documents:
            return scores
        mean = self.lengths.sum() / self.documents
        for term in terms:
            slots, tfs = self._postings.get(term, _NONE)
            if not len(slots):
                continue
            idf = np.log(1 + (self.documents - len(slots) + 0.5) / (len(slots) + 0.5))
            scores[slots] += idf * tfs / (tfs + K1 * (1 - B + B * self.lengths[slots] / mean))
        return scores
