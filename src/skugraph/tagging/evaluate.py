"""Entity-level scores: strict span matching (same start, end and type), micro and macro
precision / recall / F1 and per-type scores — the numbers seqeval gives in strict mode — and
the same scores by frequency band (head / torso / tail types by training span count)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from skugraph.corpus.ner import LabelledText

Span = tuple[int, int, str]  # (start, end, label)


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    f1: float
    support: int  # gold entities

    @classmethod
    def from_counts(cls, true_positive: int, predicted: int, gold: int) -> Score:
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, gold)

    def to_dict(self, digits: int = 4) -> dict:
        return {k: round(v, digits) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class Report:
    micro: Score
    macro: Score
    per_type: dict[str, Score]

    def to_dict(self, digits: int = 4) -> dict:
        return {
            "micro": self.micro.to_dict(digits),
            "macro": self.macro.to_dict(digits),
            "per_type": {label: s.to_dict(digits) for label, s in sorted(self.per_type.items())},
        }


def score_spans(gold: Iterable[Iterable[Span]], predicted: Iterable[Iterable[Span]], labels: set[str] | None = None) -> Report:
    """Score predicted spans against gold spans, text by text. ``labels`` limits the types
    counted (default: every type seen in gold or predictions)."""
    true_positive: Counter[str] = Counter()
    predicted_count: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        gold_set = {s for s in gold_spans if labels is None or s[2] in labels}
        predicted_set = {s for s in predicted_spans if labels is None or s[2] in labels}
        for span in gold_set & predicted_set:
            true_positive[span[2]] += 1
        for span in predicted_set:
            predicted_count[span[2]] += 1
        for span in gold_set:
            gold_count[span[2]] += 1
    types = sorted(labels if labels is not None else set(gold_count) | set(predicted_count))
    return _report(true_positive, predicted_count, gold_count, types)


def _report(true_positive: Counter[str], predicted_count: Counter[str], gold_count: Counter[str],
            types: list[str]) -> Report:
    per_type = {t: Score.from_counts(true_positive[t], predicted_count[t], gold_count[t]) for t in types}
    micro = Score.from_counts(sum(true_positive[t] for t in types), sum(predicted_count[t] for t in types),
                              sum(gold_count[t] for t in types))
    scored = [per_type[t] for t in types if gold_count[t]]  # as seqeval: macro over types with gold support
    macro = Score(
        precision=sum(s.precision for s in scored) / len(scored) if scored else 0.0,
        recall=sum(s.recall for s in scored) / len(scored) if scored else 0.0,
        f1=sum(s.f1 for s in scored) / len(scored) if scored else 0.0,
        support=micro.support,
    )
    return Report(micro, macro, per_type)


BANDS = ("head", "torso", "tail")


def frequency_bands(train: Iterable[LabelledText], tail_below: int = 30,
                    head_from: int = 300) -> dict[str, str]:
    """Each type's frequency band from its span count in the training texts: ``tail`` under
    ``tail_below`` spans, ``head`` from ``head_from`` on, ``torso`` between."""
    if not 0 < tail_below <= head_from:
        raise ValueError(f"band cut points must satisfy 0 < tail_below ({tail_below}) <= head_from ({head_from})")
    counts = Counter(span.label for text in train for span in text.spans)
    return {label: "tail" if n < tail_below else "head" if n >= head_from else "torso"
            for label, n in sorted(counts.items())}


def score_by_band(gold: Iterable[Iterable[Span]], predicted: Iterable[Iterable[Span]], bands: dict[str, str],
                  merges: dict[str, str] | None = None) -> dict[str, Report]:
    """Strict scores within each frequency band (micro over the band's types, and their macro).

    A found gold span and a missed one count for the gold type, a wrong prediction for its own
    type; a type absent from ``bands`` (never seen in training) counts as ``tail``. ``merges``
    (type → the type it is merged into, as the ontology reads them) makes a prediction right
    when its merged type is the gold span's merged type: a tail span found as the type it was
    merged into is a tail success. Without merges each band's figures are :func:`score_spans`
    over the band's types."""
    merges = merges or {}
    true_positive: Counter[str] = Counter()
    predicted_count: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        gold_types = {(s[0], s[1], merges.get(s[2], s[2])): s[2] for s in gold_spans}
        predicted_types = {(s[0], s[1], merges.get(s[2], s[2])): s[2] for s in predicted_spans}
        for key, label in gold_types.items():
            gold_count[label] += 1
            if key in predicted_types:
                true_positive[label] += 1
                predicted_count[label] += 1
        for key, label in predicted_types.items():
            if key not in gold_types:
                predicted_count[label] += 1
    members: dict[str, list[str]] = {band: [] for band in BANDS}
    for label in sorted(set(gold_count) | set(predicted_count) | set(bands)):
        members[bands.get(label, "tail")].append(label)
    return {band: _report(true_positive, predicted_count, gold_count, labels) for band, labels in members.items()}


def confusable_types(gold: Iterable[Iterable[Span]], predicted: Iterable[Iterable[Span]], bands: dict[str, str],
                     min_share: float = 0.5, min_spans: int = 2) -> dict[str, str]:
    """Tail types the tagger cannot tell from another type: tail type → the non-tail type
    predicted on exactly the same characters for at least ``min_share`` of its gold spans (and
    ``min_spans`` of them). Give it held-out predictions (cross-validation on the training
    texts), never the predictions scored afterwards."""
    confused: dict[str, Counter[str]] = {}
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        found = {(start, end): label for start, end, label in predicted_spans}
        for start, end, label in gold_spans:
            if bands.get(label, "tail") == "tail":
                confused.setdefault(label, Counter())[found.get((start, end), "")] += 1
    merges = {}
    for label, counts in sorted(confused.items()):
        candidates = [(n, other) for other, n in counts.items() if other and bands.get(other, "tail") != "tail"]
        if candidates:
            n, other = max(candidates)
            if n >= min_spans and n / sum(counts.values()) >= min_share:
                merges[label] = other
    return merges


def logit(p: float, eps: float = 1e-4) -> float:
    """``log(p / (1 - p))``, with ``p`` first kept within ``[eps, 1 - eps]``."""
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE over ``bins`` equal-width confidence bins: the mean gap between confidence and the
    share right, weighted by the items in each bin."""
    conf = np.asarray(confidences, dtype=np.float64)
    if not len(conf):
        return 0.0
    hits = np.asarray(correct, dtype=np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    gaps = [abs(hits[which == b].mean() - conf[which == b].mean()) * (which == b).sum() for b in np.unique(which)]
    return float(sum(gaps) / len(conf))
