"""The CRF member of the tagger ensemble: a linear-chain CRF over characters with hand-made
features (sklearn-crfsuite), trained beside the neural tagger and averaged with it
(:mod:`skugraph.tagging.ensemble`).

Each character is described by itself and its neighbours (1-3-grams of folded characters,
two either side; ``window`` widens that),
its kind (CJK, Latin letter, digit, space, punctuation), which gazetteer words Begin,
continue in the Middle, End or Singly cover it, and where jieba's dictionary (with the
gazetteer words added) cuts the text into words. The model is one crfsuite file in the
tagger's model directory (:data:`CRF_FILE`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sklearn_crfsuite
from scipy import sparse

from skugraph.corpus.ner import LabelledText
from skugraph.corpus.normalize import fold
from skugraph.tagging.decode import forward_backward_many, padded_batches
from skugraph.tagging.encoding import LexiconFeatures, is_cjk, token_tags
from skugraph.tagging.words import WordSegmenter

CRF_FILE = "crf.crfsuite"
UNSEEN = -1e4  # the score of a tag the CRF never saw in training (as a blocked move: below decode.NEVER)


def _kind(char: str) -> str:
    if char.isdigit():
        return "D"
    if is_cjk(char):
        return "C"
    if char.isalpha():
        return "L"
    return "S" if char.isspace() else "P"


class CrfFeatures:
    """Per-character crfsuite feature dicts from character n-grams, character kinds,
    gazetteer bits and jieba word-boundary tags (``words``: off for texts jieba cannot cut);
    ``window``: the characters either side seen as unigrams and bigrams (reviews: 3)."""

    def __init__(self, lexicon_words: dict[str, list[str]] | None = None, words: bool = True, window: int = 2):
        if window < 1:
            raise ValueError(f"the CRF's character window must be at least 1, not {window}")
        lexicon_words = lexicon_words or {}
        self.window = window
        self.lexicons = LexiconFeatures(lexicon_words) if lexicon_words else None
        self.segmenter = WordSegmenter(w for group in lexicon_words.values() for w in group) if words else None

    def __call__(self, text: str) -> list[dict[str, float | str]]:
        chars = fold(text, keep_offsets=True)
        w = self.window
        padded = ["<s>"] * w + list(chars) + ["</s>"] * w
        bits = self.lexicons.char_bits(text) if self.lexicons else None
        word_tags = self.segmenter.tags(text) if self.segmenter else None
        features = []
        for i in range(len(chars)):
            c = i + w
            f: dict[str, float | str] = {"bias": 1.0, "kind": _kind(chars[i])}
            for d in range(-w, w + 1):
                f[f"c{d}"] = padded[c + d]
            for d in range(-w, w):
                f[f"b{d}"] = padded[c + d] + padded[c + d + 1]
            f["t-1"] = "".join(padded[c - 1 : c + 2])
            if bits is not None:
                for j, on in enumerate(bits[i]):
                    if on:
                        f[f"lex{j}"] = 1.0
            if word_tags is not None:
                f["w"] = word_tags[i]
                f["w-1"] = word_tags[i - 1] + word_tags[i] if i else "^" + word_tags[i]
                f["wc"] = word_tags[i] + chars[i]
            features.append(f)
        return features


class CrfMember:
    """A character CRF: trained on labelled texts, it gives each character's tag probabilities
    (crfsuite's marginals) in the order of ``tags``, the ensemble's tag set."""

    def __init__(self, model: sklearn_crfsuite.CRF, tags: Sequence[str], features: CrfFeatures):
        self.model = model
        self.tags = list(tags)
        self.features = features
        self._parameters_read: tuple | None = None  # the model's weights as arrays (_parameters), read on first use

    @classmethod
    def train(cls, data: Sequence[LabelledText], tags: Sequence[str], scheme: str, features: CrfFeatures,
              c1: float = 0.05, c2: float = 0.05, iterations: int = 100) -> CrfMember:
        """L-BFGS with elastic-net regularisation (``c1`` L1, ``c2`` L2) on the characters' ``scheme`` tags."""
        model = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=iterations, all_possible_transitions=True)
        data = [t for t in data if t.text]
        model.fit([features(t.text) for t in data],
                  [token_tags([(i, i + 1) for i in range(len(t.text))], t.spans, scheme) for t in data])
        return cls(model, tags, features)

    def save(self, directory: Path) -> Path:
        """Write the model as :data:`CRF_FILE` in ``directory``; returns the file."""
        path = Path(directory) / CRF_FILE
        shutil.copyfile(self.model.modelfile.name, path)
        return path

    @classmethod
    def load(cls, directory: Path, tags: Sequence[str], features: CrfFeatures) -> CrfMember:
        """The model :meth:`save` wrote in ``directory`` (copied to a temporary file the model owns,
        so the directory may change or go while it runs)."""
        path = Path(directory) / CRF_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: its metadata names a CRF member but {CRF_FILE} is missing")
        model = sklearn_crfsuite.CRF()
        model.modelfile.refresh()
        shutil.copyfile(path, model.modelfile.name)
        return cls(model, tags, features)

    def marginals(self, texts: Sequence[str], chunk: int = 64) -> list[np.ndarray]:
        """Each text's tag probabilities per character [chars, tags]; every row sums to 1.

        crfsuite's own marginals cost a call per character and label, so they are computed here
        from the model's weights (:meth:`emission_scores`, :meth:`transition_scores`): one
        batched forward-backward (crfsuite's chain has no start or end scores) gives the same
        probabilities."""
        transition = self.transition_scores()
        zero = np.zeros(len(self.tags))
        out = [np.zeros((len(text), len(self.tags))) for text in texts]
        order = sorted((i for i, text in enumerate(texts) if text), key=lambda i: len(texts[i]))
        for first in range(0, len(order), chunk):  # ``chunk`` texts of similar length at a time
            members = order[first : first + chunk]
            scores = self.emission_scores([texts[i] for i in members])
            for rows, lengths, emissions in padded_batches(scores, len(self.tags), chunk):
                alpha, beta, log_z = forward_backward_many(emissions, zero, transition, zero, lengths)
                log_probabilities = alpha + beta - log_z[:, None, None]  # past a row's length: padding, never exponentiated
                for row, local in enumerate(rows):
                    out[members[local]] = np.exp(log_probabilities[row, : lengths[row]])
        return out

    def emission_scores(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's label scores per character [chars, tags] in the order of ``tags``: the sums
        of its features' state weights (a tag the model never saw scores ``UNSEEN``)."""
        weights, attributes, _, columns = self._parameters()
        scores = self._emissions(texts, weights, attributes)
        out, position = [], 0
        for text in texts:
            rows = np.full((len(text), len(self.tags)), UNSEEN)
            rows[:, columns] = scores[position : position + len(text)]
            out.append(rows)
            position += len(text)
        return out

    def transition_scores(self) -> np.ndarray:
        """The transition weights [tags, tags] (from → to) in the order of ``tags`` (``UNSEEN``
        to or from a tag the model never saw)."""
        _, _, transition, columns = self._parameters()
        out = np.full((len(self.tags), len(self.tags)), UNSEEN)
        out[np.ix_(columns, columns)] = transition
        return out

    def _emissions(self, texts: Sequence[str], weights: sparse.csr_matrix, attributes: dict[str, int]) -> np.ndarray:
        """[characters of all the texts, labels]: sums of the state weights of each character's
        features (a string feature ``key: value`` is crfsuite's attribute ``key:value`` at 1.0)."""
        rows, cols, values = [], [], []
        position = 0
        for text in texts:
            for features in self.features(text):
                for key, value in features.items():
                    column = attributes.get(f"{key}:{value}" if isinstance(value, str) else key)
                    if column is not None:
                        rows.append(position)
                        cols.append(column)
                        values.append(1.0 if isinstance(value, str) else float(value))
                position += 1
        present = sparse.csr_matrix((values, (rows, cols)), shape=(position, weights.shape[0]))
        return (present @ weights).toarray()

    def _parameters(self) -> tuple[sparse.csr_matrix, dict[str, int], np.ndarray, list[int]]:
        """(state weights [attributes, labels], attribute → row, transition weights [labels,
        labels], each label's column in ``tags``), read once from the model."""
        if self._parameters_read is None:
            info = self.model.tagger_.info()
            labels = {label: i for i, label in enumerate(self.model.classes_)}
            attributes: dict[str, int] = {}
            rows, cols, values = [], [], []
            for (attribute, label), weight in info.state_features.items():
                rows.append(attributes.setdefault(attribute, len(attributes)))
                cols.append(labels[label])
                values.append(weight)
            weights = sparse.csr_matrix((values, (rows, cols)), shape=(len(attributes), len(labels)))
            transition = np.zeros((len(labels), len(labels)))
            for (before, after), weight in info.transitions.items():
                transition[labels[before], labels[after]] = weight
            self._parameters_read = (weights, attributes, transition, [self.tags.index(label) for label in self.model.classes_])
        return self._parameters_read
