"""Frequency bands from training span counts, and scores within each band (figures by hand)."""

import pytest

from skugraph.corpus.ner import LabelledText, Span
from skugraph.tagging.evaluate import confusable_types, frequency_bands, score_by_band


def texts_with(counts: dict[str, int]) -> list[LabelledText]:
    return [LabelledText("ab", (Span(0, 2, label),)) for label, n in counts.items() for _ in range(n)]


def test_bands_from_training_counts():
    train = texts_with({"A": 5, "B": 4, "C": 2, "D": 1})
    assert frequency_bands(train, tail_below=2, head_from=5) == {"A": "head", "B": "torso", "C": "torso", "D": "tail"}
    default = frequency_bands(texts_with({"H": 300, "T": 299, "R": 29, "S": 30}))
    assert default == {"H": "head", "R": "tail", "S": "torso", "T": "torso"}
    with pytest.raises(ValueError, match="tail_below"):
        frequency_bands(train, tail_below=10, head_from=5)


def test_scores_by_band_by_hand():
    bands = {"H1": "head", "H2": "head", "T": "tail"}
    gold = [[(0, 2, "H1"), (3, 5, "H2"), (6, 7, "T")], [(0, 1, "H1"), (2, 4, "X")]]
    predicted = [[(0, 2, "H1"), (3, 5, "H1"), (6, 7, "T")], [(0, 1, "H1"), (2, 4, "T")]]
    scores = score_by_band(gold, predicted, bands)
    head = scores["head"]
    # H1: gold 2, predicted 3, right 2 -> P 2/3, R 1, F1 0.8; H2: gold 1, predicted 0 -> F1 0
    assert head.micro.precision == pytest.approx(2 / 3) and head.micro.recall == pytest.approx(2 / 3)
    assert head.micro.f1 == pytest.approx(2 / 3) and head.macro.f1 == pytest.approx(0.4)
    # tail: T (gold 1, predicted 2, right 1) and X, unseen in training (gold 1, predicted 0)
    tail = scores["tail"]
    assert set(tail.per_type) == {"T", "X"}
    assert tail.micro.precision == pytest.approx(0.5) and tail.micro.recall == pytest.approx(0.5)
    assert tail.macro.f1 == pytest.approx((2 / 3 + 0) / 2)
    assert scores["torso"].micro.support == 0 and scores["torso"].micro.f1 == 0.0


def test_merged_types_score_where_the_ontology_merges_them():
    bands = {"C": "head", "T": "tail"}
    gold = [[(0, 2, "T"), (3, 5, "C")], [(0, 2, "T"), (3, 4, "C")]]
    predicted = [[(0, 2, "C"), (3, 5, "C")], [(0, 1, "C"), (3, 4, "T")]]
    plain = score_by_band(gold, predicted, bands)
    assert plain["tail"].micro.f1 == 0.0 and plain["head"].micro.precision == pytest.approx(1 / 3)
    merged = score_by_band(gold, predicted, bands, merges={"T": "C"})
    # tail: T found once (as C) of 2 gold, no wrong prediction counts for it -> P 1, R 1/2, F1 2/3
    tail, head = merged["tail"], merged["head"]
    assert tail.micro.precision == 1.0 and tail.micro.recall == 0.5 and tail.micro.f1 == pytest.approx(2 / 3)
    # head: C found twice (one predicted as T) of 2; wrong: (0, 1, C) and nothing else -> P 2/3, R 1
    assert head.micro.precision == pytest.approx(2 / 3) and head.micro.recall == 1.0


def test_tail_types_predicted_as_another_type_are_confusable():
    bands = {"B": "head", "P": "head", "C": "head", "R": "tail", "T": "tail"}
    gold = [[(2, 4, "T")], [(2, 4, "T")], [(0, 3, "R")], [(0, 3, "R")]]
    predicted = [[(2, 4, "C")], [(2, 4, "C")], [(0, 3, "R")], [(0, 2, "B")]]
    assert confusable_types(gold, predicted, bands) == {"T": "C"}  # R is found as itself or missed: kept
    assert confusable_types(gold, predicted, bands, min_spans=3) == {}
