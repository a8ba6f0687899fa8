"""``skugraph label check``: out-of-fold CRF probabilities and cleanlab's ranking find a swapped
label among clean ones, and the command writes it first as a Label Studio review task."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.corpus.ner import LabelledText, Span, write_conll
from skugraph.labelling.check import (CURRENT, MODEL, NO_ALTERNATIVE, InjectedError, LabelIssue, Suspect, check_labels,
                                      detection_scores, inject_errors, ranked_suspects, review_tasks, suspects)
from skugraph.tagging.tagger import ScoredSpan

BRANDS = ["华为", "小米", "联想", "得力", "美的", "晨光"]
PRODUCTS = ["手机壳", "充电宝", "笔记本", "签字笔", "收纳盒", "保温杯"]
COLOURS = ["黑色", "白色", "红色", "蓝色", "粉色", "灰色"]
SWAPPED = 7  # its colour is labelled a brand
DELETED = 20  # its colour is not labelled


def titles(count: int, delete: bool = False) -> list[LabelledText]:
    """``brand product colour`` titles, every word labelled; title ``SWAPPED`` calls its colour a
    brand, and with ``delete`` title ``DELETED`` lacks its colour span."""
    out = []
    for n in range(count):
        words = [(BRANDS[n % 6], "brand"), (PRODUCTS[(n // 6) % 6], "product_type"), (COLOURS[(n // 2) % 6], "colour")]
        item = LabelledText.from_words(" ".join(w for w, _ in words), words, id=f"t-{n}")
        if n == SWAPPED:
            brand, product, colour = item.spans
            item = LabelledText(item.text, (brand, product, Span(colour.start, colour.end, "brand")), item.id)
        if n == DELETED and delete:
            item = LabelledText(item.text, item.spans[:2], item.id)
        out.append(item)
    return out


def test_the_swapped_label_ranks_first_with_the_models_alternative():
    issues = check_labels(titles(60), folds=3)
    assert len(issues) == 60 and [i.score for i in issues] == sorted(i.score for i in issues)
    worst = issues[0]
    assert worst.index == SWAPPED and worst.flagged >= 1 and worst.score < 0.05
    assert sum(1 for i in issues if i.flagged) <= 3  # few clean titles flagged
    assert len(worst.suspects) == 3 and issues[1].score > 0.5  # a place per word; no clean place is doubted
    suspect = min(worst.suspects, key=lambda s: s.score)
    assert suspect.score == worst.score
    assert (worst.item.text[suspect.start : suspect.end], suspect.current, suspect.model) == (COLOURS[3], "brand", "colour")
    assert worst.current_scores[2] < 0.1 < 0.9 < min(worst.current_scores[:2])  # the held-out model doubts only the swapped span

    [task] = review_tasks(issues[:1])
    current, model = task["predictions"]
    assert (current["model_version"], model["model_version"]) == (CURRENT, MODEL)
    assert [r["value"]["labels"][0] for r in current["result"]] == ["brand", "product_type", "brand"]
    assert [r["value"]["labels"][0] for r in model["result"]] == ["brand", "product_type", "colour"]
    assert task["data"]["listing"] == f"t-{SWAPPED}" and task["data"]["suspicion"] == pytest.approx(worst.score, rel=1e-3)  # significant digits, not 6 decimals
    assert task["data"]["label_quality"] == round(worst.label_quality, 6) < 0.05
    assert task["data"]["suspects"] == [{"start": suspect.start, "end": suspect.end, "text": COLOURS[3], "current": "brand", "model": "colour",
                                      "score": float(f"{suspect.score:.4g}")}]


def test_a_missing_span_is_a_suspect_where_the_model_sees_it():
    issues = check_labels(titles(60, delete=True), folds=3)
    (first, one), (second, other) = ranked_suspects(issues)[:2]
    assert {first.index, second.index} == {SWAPPED, DELETED}
    [(issue, missing)] = [(i, s) for i, s in [(first, one), (second, other)] if i.index == DELETED]
    assert (issue.item.text[missing.start : missing.end], missing.current, missing.model) == (COLOURS[4], "O", "colour")
    assert missing.score < 0.1


def test_a_doubt_without_an_alternative_is_less_suspect_than_a_disagreement():
    item = LabelledText("ab cd", (Span(0, 2, "brand"), Span(3, 5, "colour")))
    quality = np.array([0.04, 0.5, 0.9, 0.1, 0.9])  # median 0.5
    same_type = np.array([0.25, 1.0, 1.0, 1.0, 1.0])
    disputed, doubted = suspects(item, [ScoredSpan(0, 2, "colour", 0.9)], quality, same_type)
    assert (disputed.model, doubted.model) == ("colour", "O")
    assert disputed.score == pytest.approx(0.04 * 0.5 / 0.5)  # worst quality x sqrt(worst type quality) / median
    assert doubted.score == pytest.approx((0.1 / 0.5) ** NO_ALTERNATIVE) and 0.1 / 0.5 < doubted.score < 1


def test_folds_must_fit_the_data():
    with pytest.raises(ValueError, match="between 2 and the number of titles"):
        check_labels(titles(3), folds=5)


def test_check_command_writes_review_tasks_worst_first(tmp_path):
    write_conll(titles(60), tmp_path / "train.bio")
    runner = CliRunner()
    result = runner.invoke(app, ["label", "check", "--data", str(tmp_path / "train.bio"), "--folds", "3", "--out", str(tmp_path / "review.json")])
    assert result.exit_code == 0, result.output
    assert "in 1 of 60 titles; the 3 titles with the worst suspects →" in result.output
    assert f"{COLOURS[3]}: brand → colour(颜色)" in result.output  # the label's meaning in the ontology beside it
    tasks = json.loads((tmp_path / "review.json").read_text(encoding="utf-8"))
    assert len(tasks) == 3 and tasks[0]["data"]["text"] == titles(60)[SWAPPED].text and tasks[0]["data"]["flagged_characters"] >= 1
    assert [t["data"]["suspicion"] for t in tasks] == sorted(t["data"]["suspicion"] for t in tasks)
    top = runner.invoke(app, ["label", "check", "--data", str(tmp_path / "train.bio"), "--folds", "3", "--top", "0.1",
                              "--out", str(tmp_path / "top.json")])
    assert top.exit_code == 0 and len(json.loads((tmp_path / "top.json").read_text(encoding="utf-8"))) == 6
    missing = runner.invoke(app, ["label", "check", "--data", str(tmp_path / "none.bio")])
    assert missing.exit_code == 1 and "none.bio: no such file" in missing.output and "Traceback" not in missing.output


def test_inject_errors_corrupts_the_asked_share_in_equal_kinds():
    data = titles(60)  # 180 spans
    noisy, injected = inject_errors(data, 0.1, seed=3)
    assert len(injected) == 18 and Counter(e.kind for e in injected) == {"swap": 6, "shift": 6, "delete": 6}
    assert inject_errors(data, 0.1, seed=3) == (noisy, injected)  # the seed decides
    assert sum(len(t.spans) for t in noisy) == 180 - 6
    for error in injected:
        text, spans = noisy[error.index].text, noisy[error.index].spans
        assert error.original in data[error.index].spans
        if error.kind == "delete":
            assert error.corrupted is None and error.original not in spans
            continue
        assert error.corrupted in spans and error.original not in spans
        if error.kind == "swap":
            assert (error.corrupted.start, error.corrupted.end) == (error.original.start, error.original.end)
            assert error.corrupted.label in {"brand", "product_type", "colour"} - {error.original.label}
        else:
            moved = (abs(error.corrupted.start - error.original.start), abs(error.corrupted.end - error.original.end))
            assert sorted(moved) in ([0, 1], [0, 2]) and error.corrupted.label == error.original.label
            assert 0 <= error.corrupted.start < error.corrupted.end <= len(text)
        ordered = sorted(spans, key=lambda s: s.start)
        assert all(a.end <= b.start for a, b in zip(ordered, ordered[1:]))  # still no overlap
    untouched = set(range(60)) - {e.index for e in injected}
    assert all(noisy[i] == data[i] for i in untouched)


def test_detection_scores_count_suspects_that_overlap_an_error():
    def issue(index: int, *suspects: Suspect) -> LabelIssue:
        item = LabelledText("abcdefghij", (Span(0, 2, "x"), Span(3, 5, "y"), Span(6, 8, "x"), Span(8, 10, "y")), f"t{index}")
        return LabelIssue(index, item, 0.5, 0.5, 0, suspects, (), ())

    injected = [InjectedError(0, "swap", Span(0, 2, "y"), Span(0, 2, "x")),
                InjectedError(1, "shift", Span(3, 5, "y"), Span(3, 6, "y")),
                InjectedError(2, "delete", Span(6, 8, "x"), None),
                InjectedError(3, "delete", Span(0, 2, "x"), None)]
    issues = [issue(0, Suspect(0, 2, "x", "y", 0.01), Suspect(8, 10, "y", "y", 0.5)),  # hit, miss
              issue(1, Suspect(5, 6, "y", "O", 0.02)),  # hits the shifted end (the corrupted span only)
              issue(2, Suspect(3, 5, "y", "y", 0.03), Suspect(6, 8, "O", "x", 0.04)),  # miss, hit
              issue(3, Suspect(2, 3, "O", "x", 0.9)),  # beside the deleted span, and last
              issue(4)]
    # 20 labelled spans: the top 5% is 1 suspect, the top 10% 2, the top 25% 5
    scores = detection_scores(issues, injected, fractions=(0.05, 0.1, 0.25))
    assert (scores["labelled_spans"], scores["injected"], scores["suspects"]) == (20, 4, 6)
    assert scores["at"]["0.05"] | {"recall_by_kind": None} == {"n": 1, "precision": 1.0, "recall": 0.25, "recall_by_kind": None}
    assert (scores["at"]["0.1"]["precision"], scores["at"]["0.1"]["recall"]) == (1.0, 0.5)
    assert scores["at"]["0.25"] == {"n": 5, "precision": 0.6, "recall": 0.75,
                                    "recall_by_kind": {"swap": 1.0, "shift": 1.0, "delete": 0.5}}
