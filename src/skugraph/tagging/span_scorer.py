"""A span's confidence from how sure each member of the ensemble is of it.

The ensemble decodes the members' averaged per-character probabilities, and a span's
probability in that averaged chain hides whether the members agree: a span both the network
and the CRF are fairly sure of, and one the CRF is certain of while the network is not, can
get the same average. The span scorer reads, beside the chain probability (as a logit), each
member's probability of the span's tags on its characters, as their geometric mean and their
minimum (:data:`SPAN_FEATURES`; a member with no score on a character, such as a space for
the network, is left out there), and maps them to the probability that the span is right with
a logistic regression fitted on dev (:func:`fit_span_scorer`, after the chain's temperature).
The features are gathered from probabilities the ensemble already has, so scoring costs no
second pass over the texts.

Cross-fitted over 5 folds of the dev texts, the scorer lifts the share of right spans kept at
precision 0.90 from 69% to 73% on Ding and from 60% to 67% on JD, and the span ECE from 0.057
to 0.024 (Ding) and from 0.055 to 0.011 (JD); as graph facts, after the fact calibration
(:mod:`skugraph.facts.calibration`, ``benchmarks/facts.py``, which refits the scorer per fold),
from 49% to 50% (Ding) and from 65% to 67% (JD). A tagger with a span scorer keeps it in its
metadata (the ``span_scorer`` entry of the ``ensemble`` section, or of an opinion model's
``networks``); :func:`fit_span_scorer` keeps it only where its cross-fitted Brier score on dev
beats the chain probability's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skugraph.tagging.evaluate import expected_calibration_error, logit

SPAN_FEATURES = ("chain", "network_mean", "crf_mean", "network_min", "crf_min")  # each as a logit
_EPS = 1e-4


def span_features(chain: float, members: Sequence[np.ndarray], start: int, end: int, path: Sequence[int]) -> list[float]:
    """The scorer's inputs for the span ``start..end`` (its tags ``path[start:end]``) decoded
    with probability ``chain``: per member ([chars, tags] probabilities, NaN rows where it has
    none), the geometric mean and the minimum of its probabilities of those tags."""
    tags = np.asarray(path[start:end])
    means, minima = [], []
    for member in members:
        values = member[np.arange(start, end), tags]
        values = values[~np.isnan(values)]
        values = np.clip(values, _EPS, 1.0) if len(values) else np.array([chain])
        means.append(logit(float(np.exp(np.log(values).mean()))))
        minima.append(logit(float(values.min())))
    return [logit(chain), *means, *minima]


@dataclass(frozen=True)
class SpanScorer:
    """``probability = sigmoid(intercept + weights · features)`` over :data:`SPAN_FEATURES`."""

    weights: tuple[float, ...]
    intercept: float

    def probabilities(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        score = np.asarray(rows, dtype=np.float64) @ np.asarray(self.weights) + self.intercept
        return 1.0 / (1.0 + np.exp(-score))

    def to_dict(self) -> dict:
        return {"features": list(SPAN_FEATURES), "weights": [round(w, 6) for w in self.weights],
                "intercept": round(self.intercept, 6)}

    @classmethod
    def fit(cls, rows: Sequence[Sequence[float]], right: Sequence[bool]) -> SpanScorer:
        """A logistic regression of whether each span is right on its features (the share right,
        whatever the features, when all the spans are right or all wrong)."""
        from sklearn.linear_model import LogisticRegression

        if len(set(np.asarray(right, dtype=bool).tolist())) < 2:
            return cls((0.0,) * len(SPAN_FEATURES), logit(float(np.mean(right)) if len(right) else 0.5))
        model = LogisticRegression(max_iter=1000).fit(np.asarray(rows, dtype=np.float64), np.asarray(right, dtype=bool))
        return cls(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))

    @classmethod
    def from_entry(cls, entry: dict | None) -> SpanScorer | None:
        """The scorer a metadata entry (as :func:`fit_span_scorer`'s caller records it) keeps, if any."""
        scorer = (entry or {}).get("scorer")
        return cls.from_dict(scorer) if scorer else None

    @classmethod
    def from_dict(cls, data: dict) -> SpanScorer:
        if list(data.get("features", [])) != list(SPAN_FEATURES):
            raise ValueError(f"span scorer features {data.get('features')} are not {list(SPAN_FEATURES)}")
        return cls(tuple(float(w) for w in data["weights"]), float(data["intercept"]))


def _recall_at(probabilities: np.ndarray, right: np.ndarray, target: float = 0.90) -> float:
    """The share of the right spans kept by the lowest threshold whose kept spans are ``target`` precise."""
    order = np.argsort(-probabilities, kind="stable")
    hits = np.cumsum(right[order])
    precise = np.nonzero(hits / np.arange(1, len(order) + 1) >= target)[0]
    return float(hits[precise.max()] / right.sum()) if len(precise) and right.sum() else 0.0


def fit_span_scorer(rows: Sequence[Sequence[float]], right: Sequence[bool], texts: Sequence[int],
                    folds: int = 5, seed: int = 0) -> tuple[SpanScorer | None, dict]:
    """Fit the scorer on dev spans (their :func:`span_features`, whether each is right, the text
    each is from) and compare it, cross-fitted over ``folds`` groups of texts, with the chain
    probability alone; returns the scorer fitted on all the spans (None when it does not lower
    the Brier score) and the comparison."""
    from sklearn.model_selection import GroupKFold

    x, y, groups = np.asarray(rows, dtype=np.float64), np.asarray(right, dtype=bool), np.asarray(texts)
    if len(np.unique(y)) < 2 or len(np.unique(groups)) < folds:
        return None, {"spans": len(y), "kept": False, "reason": "too few dev spans or only one outcome"}
    out_of_fold = np.zeros(len(y))
    order = np.random.default_rng(seed).permutation(len(np.unique(groups)))
    shuffled = order[np.unique(groups, return_inverse=True)[1]]
    for train, test in GroupKFold(folds).split(x, y, shuffled):
        out_of_fold[test] = SpanScorer.fit(x[train], y[train]).probabilities(x[test])
    chain = 1.0 / (1.0 + np.exp(-x[:, 0]))
    brier = {"chain": float(((chain - y) ** 2).mean()), "scorer": float(((out_of_fold - y) ** 2).mean())}
    record = {"spans": len(y), "right": int(y.sum()), "folds": folds,
              "brier": {k: round(v, 4) for k, v in brier.items()},
              "ece": {"chain": round(expected_calibration_error(chain, y), 4), "scorer": round(expected_calibration_error(out_of_fold, y), 4)},
              "recall_at_precision_0.90": {"chain": round(_recall_at(chain, y), 4), "scorer": round(_recall_at(out_of_fold, y), 4)},
              "kept": brier["scorer"] < brier["chain"]}
    return (SpanScorer.fit(x, y) if record["kept"] else None), record
