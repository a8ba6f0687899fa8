"""Rare-type back-off: merges found from held-out confusion, and a tail lexicon that adds the
spans the model missed and never touches its own."""

import pytest

from skugraph.corpus.ner import LabelledText, Span
from skugraph.tagging.backoff import TypeBackoff, confusable_types, reliable_forms
from skugraph.tagging.tagger import ScoredSpan


def titled(text: str, *spans: tuple[str, str]) -> LabelledText:
    return LabelledText(text, tuple(Span(text.index(form), text.index(form) + len(form), label)
                                    for form, label in spans))


@pytest.fixture
def train() -> list[LabelledText]:
    head = [titled("联想笔记本黑色", ("联想", "B"), ("笔记本", "P"), ("黑色", "C"))] * 5
    rare = [titled("联想笔记本英特尔处理器", ("联想", "B"), ("笔记本", "P"), ("英特尔", "R")),
            titled("英特尔酷睿笔记本", ("英特尔", "R"), ("笔记本", "P")),
            titled("墨水黑色", ("黑色", "T")), titled("墨水黑色", ("黑色", "T"))]
    return head + rare


def test_merges_a_tail_type_predicted_as_another(train):
    bands = {"B": "head", "P": "head", "C": "head", "R": "tail", "T": "tail"}
    gold = [[Span(2, 4, "T")], [Span(2, 4, "T")], [Span(0, 3, "R")], [Span(0, 3, "R")]]
    predicted = [[Span(2, 4, "C")], [Span(2, 4, "C")], [Span(0, 3, "R")], [Span(0, 2, "B")]]
    assert confusable_types(gold, predicted, bands) == {"T": "C"}  # R is found as itself or missed: kept
    assert confusable_types(gold, predicted, bands, min_spans=3) == {}


def test_keeps_reliable_tail_forms_only(train):
    # 英特尔: labelled R at each of its 2 occurrences; 黑色 is labelled T twice but occurs 7 times
    assert reliable_forms(train, {"R", "T"}) == {"英特尔": ("R", 1.0)}
    held_out = [[Span(2, 4, "T")], [Span(2, 4, "T")]]
    backoff = TypeBackoff.from_texts(train, held_out, [[Span(2, 4, "C")]] * 2, tail_below=3, head_from=5)
    assert backoff.merges == {"T": "C"} and backoff.forms == {"英特尔": ("R", 1.0)}


def test_adds_a_missed_tail_span_and_never_overrides():
    backoff = TypeBackoff({"T": "C"}, {"英特尔": ("R", 0.8)})
    text = "戴尔英特尔电脑 ＩＮＴＥＬ英特尔黑色"
    missed = backoff.apply(text, [Span(0, 2, "B"), Span(16, 18, "T")])
    assert missed == [Span(0, 2, "B"), Span(2, 5, "R"), Span(13, 16, "R"), Span(16, 18, "C")]
    predicted = [Span(0, 2, "B"), Span(3, 5, "X"), Span(14, 16, "Y")]  # overlap every 英特尔: left as predicted
    assert backoff.apply(text, predicted) == predicted
    scored = backoff.apply("英特尔黑色", [ScoredSpan(3, 5, "T", 0.9)], ScoredSpan)
    assert scored == [ScoredSpan(0, 3, "R", 0.8), ScoredSpan(3, 5, "C", 0.9)]  # the form's training precision


def test_ascii_forms_match_whole_words_and_round_trip(tmp_path):
    backoff = TypeBackoff({"T": "C"}, {"intel": ("R", 1.0)})
    assert backoff.apply("Intel i5", []) == [Span(0, 5, "R")]
    assert backoff.apply("intels", []) == [] and backoff.apply("苹果INTEL版", []) == [Span(2, 7, "R")]
    backoff.save(tmp_path)
    loaded = TypeBackoff.load(tmp_path)
    assert loaded.forms == {"intel": ("R", 1.0)} and loaded.merges == {"T": "C"}
    assert TypeBackoff.load(tmp_path / "missing") is None
    (tmp_path / "backoff.json").write_text('{"version": 1, "merges": {}, "forms": {"intel": "R"}}', encoding="utf-8")
    with pytest.raises(ValueError, match="backoff.json: field 'forms'"):
        TypeBackoff.load(tmp_path)
