"""``skugraph label check``: out-of-fold CRF probabilities and cleanlab's ranking find a swapped
label among clean ones, and the command writes it first as a Label Studio review task."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.corpus.ner import LabelledText, Span, write_conll
from skugraph.labelling.check import CURRENT, MODEL, check_labels, review_tasks

BRANDS = ["华为", "小米", "联想", "得力", "美的", "晨光"]
PRODUCTS = ["手机壳", "充电宝", "笔记本", "签字笔", "收纳盒", "保温杯"]
COLOURS = ["黑色", "白色", "红色", "蓝色", "粉色", "灰色"]
SWAPPED = 7  # its colour is labelled a brand


def titles(count: int) -> list[LabelledText]:
    """``brand product colour`` titles, every word labelled; title ``SWAPPED`` calls its colour a brand."""
    out = []
    for n in range(count):
        words = [(BRANDS[n % 6], "brand"), (PRODUCTS[(n // 6) % 6], "product_type"), (COLOURS[(n // 2) % 6], "colour")]
        item = LabelledText.from_words(" ".join(w for w, _ in words), words, id=f"t-{n}")
        if n == SWAPPED:
            brand, product, colour = item.spans
            item = LabelledText(item.text, (brand, product, Span(colour.start, colour.end, "brand")), item.id)
        out.append(item)
    return out


def test_the_swapped_label_ranks_first_with_the_models_alternative():
    issues = check_labels(titles(60), folds=3)
    assert len(issues) == 60 and [i.score for i in issues] == sorted(i.score for i in issues)
    worst = issues[0]
    assert worst.index == SWAPPED and worst.flagged >= 1 and worst.score < 0.05
    assert sum(1 for i in issues if i.flagged) <= 3  # few clean titles flagged
    [suspect] = worst.suspects
    assert (worst.item.text[suspect.start : suspect.end], suspect.current, suspect.model) == (COLOURS[3], "brand", "colour")
    assert worst.current_scores[2] < 0.1 < 0.9 < min(worst.current_scores[:2])  # the held-out model doubts only the swapped span

    [task] = review_tasks(issues[:1])
    current, model = task["predictions"]
    assert (current["model_version"], model["model_version"]) == (CURRENT, MODEL)
    assert [r["value"]["labels"][0] for r in current["result"]] == ["brand", "product_type", "brand"]
    assert [r["value"]["labels"][0] for r in model["result"]] == ["brand", "product_type", "colour"]
    assert task["data"]["listing"] == f"t-{SWAPPED}" and task["data"]["label_quality"] == round(worst.score, 6)
    assert task["data"]["suspects"] == [{"start": suspect.start, "end": suspect.end, "text": COLOURS[3], "current": "brand", "model": "colour"}]


def test_folds_must_fit_the_data():
    with pytest.raises(ValueError, match="between 2 and the number of titles"):
        check_labels(titles(3), folds=5)


def test_check_command_writes_review_tasks_worst_first(tmp_path):
    write_conll(titles(60), tmp_path / "train.bio")
    runner = CliRunner()
    result = runner.invoke(app, ["label", "check", "--data", str(tmp_path / "train.bio"), "--folds", "3", "--out", str(tmp_path / "review.json")])
    assert result.exit_code == 0, result.output
    assert "in 1 of 60 titles; the worst 3 →" in result.output and f"{COLOURS[3]} brand→colour" in result.output
    tasks = json.loads((tmp_path / "review.json").read_text(encoding="utf-8"))
    assert len(tasks) == 3 and tasks[0]["data"]["text"] == titles(60)[SWAPPED].text and tasks[0]["data"]["flagged_characters"] >= 1
    assert [t["data"]["label_quality"] for t in tasks] == sorted(t["data"]["label_quality"] for t in tasks)
    top = runner.invoke(app, ["label", "check", "--data", str(tmp_path / "train.bio"), "--folds", "3", "--top", "0.1",
                              "--out", str(tmp_path / "top.json")])
    assert top.exit_code == 0 and len(json.loads((tmp_path / "top.json").read_text(encoding="utf-8"))) == 6
    missing = runner.invoke(app, ["label", "check", "--data", str(tmp_path / "none.bio")])
    assert missing.exit_code == 1 and "none.bio: no such file" in missing.output and "Traceback" not in missing.output
