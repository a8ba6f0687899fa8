"""Our strict entity scores agree with seqeval's strict mode."""

import random

import pytest

from skugraph.corpus.ner import Span, spans_to_tags, tags_to_spans
from skugraph.tagging.evaluate import score_spans


def random_spans(rng: random.Random, length: int) -> list[Span]:
    spans, position = [], 0
    while position < length:
        position += rng.randint(0, 3)
        size = rng.randint(1, 4)
        if position + size <= length and rng.random() < 0.6:
            spans.append(Span(position, position + size, rng.choice("ABC")))
        position += size
    return spans


def test_matches_seqeval_strict_mode():
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.scheme import IOB2

    rng = random.Random(3)
    gold_tags, predicted_tags, gold, predicted = [], [], [], []
    for _ in range(300):
        length = rng.randint(1, 30)
        g = random_spans(rng, length)
        p = [s for s in g if rng.random() < 0.7] + [s for s in random_spans(rng, length) if rng.random() < 0.3]
        p = sorted({(s.start, s.end): s for s in p}.values(), key=lambda s: s.start)
        p = [s for i, s in enumerate(p) if i == 0 or s.start >= p[i - 1].end]  # no overlaps in tags
        gold_tags.append(spans_to_tags(length, g))
        predicted_tags.append(spans_to_tags(length, p))
        gold.append([(s.start, s.end, s.label) for s in tags_to_spans(gold_tags[-1])])
        predicted.append([(s.start, s.end, s.label) for s in tags_to_spans(predicted_tags[-1])])
    ours = score_spans(gold, predicted)
    kwargs = {"mode": "strict", "scheme": IOB2}
    assert ours.micro.f1 == pytest.approx(seqeval.f1_score(gold_tags, predicted_tags, **kwargs))
    assert ours.micro.precision == pytest.approx(seqeval.precision_score(gold_tags, predicted_tags, **kwargs))
    assert ours.micro.recall == pytest.approx(seqeval.recall_score(gold_tags, predicted_tags, **kwargs))
    assert ours.macro.f1 == pytest.approx(seqeval.f1_score(gold_tags, predicted_tags, average="macro", **kwargs))
    report = seqeval.classification_report(gold_tags, predicted_tags, output_dict=True, **kwargs)
    for label, score in ours.per_type.items():
        assert score.f1 == pytest.approx(report[label]["f1-score"])
        assert score.support == report[label]["support"]


def test_edge_cases():
    report = score_spans([[(0, 2, "A")], []], [[(0, 2, "A"), (3, 4, "B")], []])
    assert report.micro.precision == 0.5 and report.micro.recall == 1.0
    assert report.per_type["B"].support == 0 and report.macro.f1 == 1.0  # macro over types with gold
    empty = score_spans([[]], [[]])
    assert empty.micro.f1 == 0.0 and empty.per_type == {}
    limited = score_spans([[(0, 1, "A"), (1, 2, "Z")]], [[(0, 1, "A")]], labels={"A"})
    assert limited.micro.f1 == 1.0 and set(limited.per_type) == {"A"}
