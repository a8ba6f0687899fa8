"""A linear text classifier over character n-grams (scikit-learn TF-IDF + logistic
regression): review sentiment, opinion category and polarity. Thousands of texts a
second on one core, strong on short Chinese reviews.

Saved without pickle: ``classifier.json`` (labels, settings, training record),
``vocabulary.json`` (the n-grams in column order) and ``weights.safetensors`` (idf,
coefficients, intercepts), so loading a model from a user's path runs no code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from skugraph import __version__

CONFIG = "classifier.json"


@dataclass
class LinearTextClassifier:
    labels: list[str]
    vectorizer: TfidfVectorizer
    coef: np.ndarray  # classes × features (one row for two classes)
    intercept: np.ndarray
    record: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, ngrams: tuple[int, int] = (1, 3), min_df: int = 2,
            c: float = 8.0, class_weight: str | None = None) -> LinearTextClassifier:
        """Train on ``texts`` with their ``labels`` (any strings; two or more classes)."""
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"a classifier needs at least two labels, the data has {classes}")
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=ngrams, min_df=min(min_df, len(texts)), sublinear_tf=True)
        features = vectorizer.fit_transform(texts)
        model = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight).fit(features, list(labels))
        record = {"texts": len(texts), "ngrams": list(ngrams), "min_df": min_df, "c": c, "class_weight": class_weight,
                  "features": features.shape[1], "skugraph": __version__}
        return cls([str(label) for label in model.classes_], vectorizer, model.coef_, model.intercept_, record)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """texts × labels, each row summing to one."""
        scores = self.vectorizer.transform(texts) @ self.coef.T + self.intercept
        if len(self.labels) == 2:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(label, probability) of the most likely label of each text."""
        probs = self.probabilities(texts)
        best = probs.argmax(axis=1)
        return [(self.labels[i], float(probs[row, i])) for row, i in enumerate(best)]

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.vectorizer.vocabulary_, key=self.vectorizer.vocabulary_.get)
        (out / "vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        weights = {"idf": self.vectorizer.idf_, "coef": self.coef, "intercept": self.intercept}
        # C order: scikit-learn may hand back Fortran-ordered arrays, which safetensors would scramble
        save_file({name: np.ascontiguousarray(value, dtype=np.float32) for name, value in weights.items()},
                  str(out / "weights.safetensors"))
        settings = {"kind": "linear-char-ngrams", "labels": self.labels, "ngram_range": list(self.vectorizer.ngram_range),
                    "record": self.record}
        (out / CONFIG).write_text(json.dumps(settings, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> LinearTextClassifier:
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise FileNotFoundError(f"{path}: not a classifier directory (no {CONFIG})")
        settings = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        vocabulary = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
        weights = load_file(str(path / "weights.safetensors"))
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=tuple(settings["ngram_range"]), sublinear_tf=True,
                                     vocabulary={gram: i for i, gram in enumerate(vocabulary)})
        vectorizer.idf_ = weights["idf"].astype(np.float64)
        return cls(settings["labels"], vectorizer, weights["coef"].astype(np.float64), weights["intercept"].astype(np.float64),
                   settings.get("record", {}))
