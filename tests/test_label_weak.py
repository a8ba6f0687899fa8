import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.corpus.ner import read_labelled
from skugraph.labelling.weak import (
    LabelModel,
    LexiconFunction,
    RegexFunction,
    labelling_functions,
    read_rules,
    weak_label,
)
from skugraph.tagging.lexicon import Lexicon

runner = CliRunner()
TITLES = ["黑色16G手机", "白色手机", "手机壳"]  # 7 + 4 + 3 = 14 characters


def test_coverage_overlap_and_conflict_on_a_hand_made_example(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("- kind: colour\n  pattern: '白'\n- kind: capacity\n  pattern: '色\\d+g'\n", encoding="utf-8")
    lexicon = LexiconFunction("colour", Lexicon(["黑色", "白色"]))  # 黑色, 白色: 4 characters in 2 titles
    regex = RegexFunction(read_rules(rules))  # 色16G (capacity, clashing with 黑色 on 色) and 白: 5 characters
    weak = weak_label(TITLES, [lexicon, regex], label_model="majority")
    by_name = {r.name: r for r in weak.reports}
    assert by_name["lexicon:colour"].titles == pytest.approx(2 / 3) and by_name["regex"].titles == pytest.approx(2 / 3)
    assert by_name["lexicon:colour"].tokens == pytest.approx(4 / 14) and by_name["regex"].tokens == pytest.approx(5 / 14)
    # the lexicon's 黑色白色: regex votes on 色 (capacity) and on 白 (colour): two overlaps, one conflict
    assert (by_name["lexicon:colour"].overlap, by_name["lexicon:colour"].conflict) == (pytest.approx(2 / 4), pytest.approx(1 / 4))
    assert (by_name["regex"].overlap, by_name["regex"].conflict) == (pytest.approx(2 / 5), pytest.approx(1 / 5))
    # majority: the 色 tie goes to the first label (capacity), so the lexicon agrees with 3 of its 4 characters
    assert (by_name["lexicon:colour"].accuracy, by_name["regex"].accuracy) == (pytest.approx(3 / 4), pytest.approx(1.0))
    assert [t.span_texts() for t in weak.texts] == [[("黑", "colour"), ("色16G", "capacity")], [("白色", "colour")], []]
    assert weak.labels == ("O", "capacity", "colour")


def test_two_spans_of_one_type_side_by_side_stay_two():
    [item] = weak_label(["黑色白色手机"], [LexiconFunction("colour", Lexicon(["黑色", "白色"]))]).texts
    assert item.span_texts() == [("黑色", "colour"), ("白色", "colour")]


@pytest.mark.parametrize("label_model", ["dawid-skene", "majority"])
def test_a_longer_match_stays_whole_beside_a_shorter_one_inside_it(label_model):
    # a user's list knows 冰蓝色; a second function (as the packaged colour list) only 蓝色, and votes O on 冰
    mine, packaged = LexiconFunction("colour", Lexicon(["冰蓝色", "蓝色", "黑色"])), LexiconFunction("colour", Lexicon(["蓝色", "黑色"]))
    titles = ["华为手机冰蓝色", "小米手机蓝色", "荣耀手机黑色", "OPPO冰蓝色手机壳"] * 5
    weak = weak_label(titles, [mine, packaged], label_model=label_model)
    assert [t.span_texts() for t in weak.texts[:4]] == [[("冰蓝色", "colour")], [("蓝色", "colour")], [("黑色", "colour")],
                                                        [("冰蓝色", "colour")]]


def test_votes_the_label_model_overrules_are_counted_and_majority_keeps_them():
    # PC only in one list: Dawid-Skene doubts what the other function does not confirm
    mine, other = LexiconFunction("material", Lexicon(["尼龙", "硅胶", "PC"])), LexiconFunction("material", Lexicon(["尼龙", "硅胶"]))
    titles = ["尼龙数据线"] * 10 + ["硅胶手机壳"] * 10 + ["PC手机壳"] * 3
    doubted, kept = (weak_label(titles, [mine, other], label_model=model) for model in ("dawid-skene", "majority"))
    assert (doubted.overruled, doubted.voted, doubted.texts[-1].spans) == (6, 46, ())
    assert (kept.overruled, kept.texts[-1].span_texts()) == (0, [("PC", "material")])


def test_a_type_only_one_function_votes_is_kept_by_the_label_model(tmp_path):
    # two colour lists agree; only the pattern knows capacity: the lists' O on 64G is no judgement of it
    rules = tmp_path / "rules.yaml"
    rules.write_text("- kind: capacity\n  pattern: '\\d+g'\n", encoding="utf-8")
    lists = [LexiconFunction("colour", Lexicon(words)) for words in (["黑色", "白色", "红色"], ["黑色", "白色", "红色", "蓝色"])]
    titles = ["华为手机黑色64G", "小米手机白色128G", "荣耀手机红色", "OPPO手机8G"] * 5
    weak = weak_label(titles, [*lists, RegexFunction(read_rules(rules))])
    assert [t.span_texts() for t in weak.texts[:4]] == [[("黑色", "colour"), ("64G", "capacity")],
                                                        [("白色", "colour"), ("128G", "capacity")], [("红色", "colour")],
                                                        [("8G", "capacity")]]
    assert {r.name: round(r.accuracy, 2) for r in weak.reports}["regex"] == 1.0


def test_overlapping_patterns_match_leftmost_longest(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("- kind: capacity\n  pattern: '\\d+g'\n- kind: product_type\n  pattern: '[a-z]?内存条'\n"
                     "- kind: capacity\n  pattern: '\\d+'\n", encoding="utf-8")
    [spans] = RegexFunction(read_rules(rules)).apply(["8G内存条 16G内存条"])
    # 8G starts first (the longer G内存条 after it overlaps it); at 16G's place the longer of 16G and 16
    assert [("8G内存条 16G内存条"[s.start:s.end], s.label) for s in spans] == [("8G", "capacity"), ("16G", "capacity")]


def test_the_label_model_sides_with_the_accurate_function_when_two_conflict():
    rng = np.random.default_rng(0)
    truth = rng.choice(3, size=6000, p=[0.9, 0.05, 0.05])  # O and two types, as in titles

    def function(accuracy: float) -> np.ndarray:  # right with this chance, else one of the other classes
        return np.where(rng.random(truth.size) < accuracy, truth, (truth + rng.integers(1, 3, truth.size)) % 3)

    votes = np.stack([function(0.9), function(0.6), function(0.75)], axis=1)
    model = LabelModel.fit(votes, 3)
    decided = model.posteriors(votes).argmax(1)
    conflict = votes[:, 0] != votes[:, 1]
    assert (decided[conflict] == votes[conflict, 0]).mean() > 0.75 > 0.2 > (decided[conflict] == votes[conflict, 1]).mean()
    estimated = np.einsum("c,jcc->j", model.prior, model.confusion)  # P(vote right), no gold used
    assert estimated == pytest.approx([0.9, 0.6, 0.75], abs=0.03)
    assert (decided == truth).mean() > 0.95


@pytest.mark.parametrize(("name", "text", "line"), [
    ("rules.yaml", "- kind: size\n  pattern: '\\d+寸'\n- kind: size\n  pattern: '(\\d+'\n", 4),
    ("rules.jsonl", '{"kind": "size", "pattern": "\\\\d+寸"}\n\n{"kind": "size", "pattern": "[0-9"}\n', 3),
])
def test_a_rules_file_with_a_bad_pattern_is_named_with_its_line(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{name}:line {line}: bad pattern"):
        read_rules(path)


def test_a_rules_file_without_a_kind_or_in_another_format_is_refused(tmp_path):
    (tmp_path / "rules.yaml").write_text("- pattern: 'x'\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"rules.yaml:line 1: a rule needs a kind and a pattern"):
        read_rules(tmp_path / "rules.yaml")
    (tmp_path / "rules.txt").write_text("size \\d+寸\n", encoding="utf-8")
    with pytest.raises(ValueError, match="YAML .* or JSON lines"):
        read_rules(tmp_path / "rules.txt")


def _files(directory):
    (directory / "colours.txt").write_text("黑色\n白色\n红色\n", encoding="utf-8")
    (directory / "rules.yaml").write_text("- kind: capacity\n  pattern: '\\d+g(?:b)?'\n", encoding="utf-8")
    titles = ["".join(parts) for parts in itertools.product(["华为", "小米", "联想"], ["手机", "平板"], ["黑色", "白色"], ["64G", "128GB"])]
    (directory / "titles.txt").write_text("\n".join(titles) + "\n", encoding="utf-8")


def test_the_cli_writes_weak_labels_as_training_data_and_prints_each_function(tmp_path):
    _files(tmp_path)
    result = runner.invoke(app, ["label", "weak", "--lexicon", f"colour={tmp_path / 'colours.txt'}", "--rules", str(tmp_path / "rules.yaml"),
                                 "--listings", str(tmp_path / "titles.txt"), "--out", str(tmp_path / "weak.jsonl")])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in ("lexicon:colour", "regex", "rules", "conflict", "24 of 24 titles"))
    data = read_labelled(tmp_path / "weak.jsonl")  # how `skugraph train tagger --train` reads it
    assert data[0].text == "华为手机黑色64G" and data[0].span_texts() == [("黑色", "colour"), ("64G", "capacity")]
    assert json.loads((tmp_path / "weak.jsonl").read_text(encoding="utf-8").splitlines()[0])["id"] == "titles:1"


def test_the_cli_says_what_is_missing(tmp_path):
    _files(tmp_path)
    result = runner.invoke(app, ["label", "weak", "--listings", str(tmp_path / "titles.txt"), "--out", str(tmp_path / "weak.jsonl")])
    assert result.exit_code == 1 and "give a lexicon (--lexicon KIND=FILE) or a rules file" in result.output
    result = runner.invoke(app, ["label", "weak", "--lexicon", f"colour={tmp_path / 'colours.txt'}", "--label-model", "snorkel",
                                 "--listings", str(tmp_path / "titles.txt"), "--out", str(tmp_path / "weak.jsonl")])
    assert result.exit_code == 1 and "unknown label model 'snorkel'" in result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny tagger trained by `skugraph train tagger` on weak labels alone (slow)."""
    directory = tmp_path_factory.mktemp("weak")
    _files(directory)
    weak = runner.invoke(app, ["label", "weak", "--lexicon", f"colour={directory / 'colours.txt'}", "--rules", str(directory / "rules.yaml"),
                               "--listings", str(directory / "titles.txt"), "--out", str(directory / "weak.jsonl")])
    assert weak.exit_code == 0, weak.output
    result = runner.invoke(app, ["train", "tagger", "--train", str(directory / "weak.jsonl"), "--dev", str(directory / "weak.jsonl"),
                                 "--out", str(directory / "model"), "--base-model", "scratch:tiny", "--epochs", "40", "--batch-size", "4",
                                 "--learning-rate", "1e-3", "--head-learning-rate", "1e-2", "--no-crf-member", "--no-word-features",
                                 "--no-fact-calibration", "--window", "16", "--stride", "8"])
    assert result.exit_code == 0, result.output
    return directory


def test_a_tagger_trained_on_weak_labels_votes_as_a_labelling_function(trained):
    [model] = [f for f in labelling_functions({}, trained / "rules.yaml", rule_extractor=False, model=trained / "model")
               if f.name.startswith("model:")]
    [spans] = model.apply(["联想平板白色128GB"])  # one of the training titles
    assert [("联想平板白色128GB"[s.start:s.end], s.label) for s in spans] == [("128GB", "capacity")]  # colour is not a rules kind
