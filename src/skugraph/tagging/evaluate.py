"""Entity-level scores: strict span matching (same start, end and type), micro and macro
precision / recall / F1 and per-type scores — the numbers seqeval gives in strict mode."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

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
    per_type = {t: Score.from_counts(true_positive[t], predicted_count[t], gold_count[t]) for t in types}
    micro = Score.from_counts(sum(true_positive.values()), sum(predicted_count.values()), sum(gold_count.values()))
    scored = [per_type[t] for t in types if gold_count[t]]  # as seqeval: macro over types with gold support
    macro = Score(
        precision=sum(s.precision for s in scored) / len(scored) if scored else 0.0,
        recall=sum(s.recall for s in scored) / len(scored) if scored else 0.0,
        f1=sum(s.f1 for s in scored) / len(scored) if scored else 0.0,
        support=micro.support,
    )
    return Report(micro, macro, per_type)
