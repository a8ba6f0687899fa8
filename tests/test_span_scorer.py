"""The span scorer: a span's confidence from the chain probability and each ensemble member's
probabilities of the span's tags, fitted on dev and applied when the ensemble decodes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skugraph.tagging.ensemble import CharScores, decode_marginals
from skugraph.tagging.span_scorer import SPAN_FEATURES, SpanScorer, fit_span_scorer, span_features

TAGS = ["O", "B-x", "I-x"]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_features_are_each_members_geometric_mean_and_minimum_over_the_spans_tags():
    network = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [np.nan] * 3, [0.1, 0.1, 0.8]])
    crf = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, 0.2], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    path = [0, 1, 2, 2]  # the span is characters 1..3: B-x I-x I-x
    row = span_features(0.6, [network, crf], 1, 4, path)
    # the network has no score for character 2 (a space): only 0.5 and 0.8 count
    expected = [_logit(0.6), _logit(math.sqrt(0.5 * 0.8)), _logit(0.8 ** (1 / 3)), _logit(0.5), _logit(0.8)]
    assert row == pytest.approx(expected)
    assert len(row) == len(SPAN_FEATURES)


def test_decoding_applies_the_scorer_only_where_the_members_probabilities_are_known():
    marginals = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05]])
    plain = decode_marginals([CharScores(marginals)], TAGS)[0]
    assert [s.key for s in plain] == [(0, 2, "x")]
    identity = SpanScorer((1.0, 0.0, 0.0, 0.0, 0.0), 0.0)  # sigmoid(logit(chain)) = chain
    with_members = [CharScores(marginals, (marginals, marginals))]
    assert decode_marginals(with_members, TAGS, scorer=identity)[0][0].score == pytest.approx(plain[0].score, abs=1e-6)
    constant = SpanScorer((0.0,) * 5, 2.0)
    assert decode_marginals(with_members, TAGS, scorer=constant)[0][0].score == pytest.approx(1 / (1 + math.exp(-2)))
    assert decode_marginals([CharScores(marginals)], TAGS, scorer=constant)[0][0].score == plain[0].score


def test_a_scorer_fitted_on_dev_is_kept_when_a_member_separates_right_from_wrong_spans():
    rng = np.random.default_rng(0)
    right = rng.random(600) < 0.7
    chain = rng.normal(1.0, 1.0, 600)  # the average says nothing about which span is right
    crf = np.where(right, 2.0, -1.0) + rng.normal(0, 0.7, 600)  # the CRF does
    rows = np.column_stack([chain, chain, crf, chain, crf]).tolist()
    scorer, record = fit_span_scorer(rows, right.tolist(), list(range(600)))
    assert record["kept"] is True and scorer is not None
    assert record["brier"]["scorer"] < record["brier"]["chain"]
    assert record["recall_at_precision_0.90"]["scorer"] > record["recall_at_precision_0.90"]["chain"]
    again = SpanScorer.from_dict(scorer.to_dict())
    assert again.weights == pytest.approx(scorer.weights, abs=1e-6) and again.intercept == pytest.approx(scorer.intercept, abs=1e-6)


def test_too_few_or_one_sided_dev_spans_fit_no_scorer():
    scorer, record = fit_span_scorer([[0.0] * 5] * 20, [True] * 20, list(range(20)))
    assert scorer is None and record["kept"] is False
    constant = SpanScorer.fit([[0.0] * 5] * 4, [True] * 4)  # all right: the share right, whatever the features
    assert constant.weights == (0.0,) * 5 and constant.probabilities([[3.0] * 5])[0] > 0.99


def test_a_saved_scorer_must_name_the_features_it_reads():
    with pytest.raises(ValueError, match="features"):
        SpanScorer.from_dict({"features": ["chain"], "weights": [1.0], "intercept": 0.0})
