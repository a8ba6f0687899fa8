"""The substitute model: judged substitutes read with clear errors, a model learned from them that
tells apart what the judges accepted, a threshold chosen for a precision, saved and loaded."""

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from skugraph.apps.substitute_model import (
    JudgedPair,
    SubstituteDataError,
    SubstituteModel,
    choose_threshold,
    learn_substitutes,
    one_call_each,
    precision_curve,
    read_judged,
    surely_at_least,
)
from skugraph.cli import app

FILLERS = ["家用", "小型", "多功能", "不锈钢", "大容量", "全自动", "静音", "新款", "正品", "白色", "黑色", "迷你"]


def _judged_lines(stock_outs: int, seed: int = 0) -> list[dict]:
    """Juicers out of stock; each offered two commercial juicers (accepted) and two portable
    juice cups (refused), their other words drawn at random."""
    rng = random.Random(seed)

    def words() -> str:
        return "".join(rng.sample(FILLERS, 3))

    lines = []
    for n in range(stock_outs):
        substitutes = [{"id": f"s{n}-{i}", "title": f"商用榨汁机{words()}渣汁分离", "ok": True} for i in range(2)]
        substitutes += [{"id": f"s{n}-{i}", "title": f"便携式榨汁杯{words()}充电", "ok": False} for i in range(2, 4)]
        lines.append({"product": f"p{n}", "title": f"商用榨汁机{words()}渣汁分离", "accessory": False, "substitutes": substitutes})
    return lines


def _write(path, lines) -> None:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines),
                    encoding="utf-8")


def test_judged_files_are_read_and_a_bad_line_is_named_by_file_line_and_field(tmp_path):
    good = _judged_lines(2)
    good[1]["substitutes"][0].pop("ok")  # not judged yet: left out
    _write(tmp_path / "judged.jsonl", [good[0], "", good[1]])
    pairs = read_judged([tmp_path / "judged.jsonl"])
    assert len(pairs) == 7 and pairs[0].product == "p0" and pairs[0].ok and not pairs[-1].ok
    bad = json.loads(json.dumps(good[0]))
    bad["substitutes"][1]["ok"] = "yes"
    _write(tmp_path / "bad.jsonl", [good[0], bad])
    with pytest.raises(SubstituteDataError, match=r"bad\.jsonl:2: field substitutes\[1\]\.ok: 'yes' is not true or false"):
        read_judged([tmp_path / "bad.jsonl"])
    _write(tmp_path / "broken.jsonl", [good[0], "{not json"])
    with pytest.raises(SubstituteDataError, match=r"broken\.jsonl:2: broken JSON"):
        read_judged([tmp_path / "broken.jsonl"])
    _write(tmp_path / "untitled.jsonl", [{"product": "p9", "substitutes": []}])
    with pytest.raises(SubstituteDataError, match=r"untitled\.jsonl:1: field title"):
        read_judged([tmp_path / "untitled.jsonl"])


def test_the_model_learns_what_the_judges_accept_and_its_threshold_reaches_the_precision(tmp_path):
    model = learn_substitutes(read_judged_lines(tmp_path, _judged_lines(12)), precision=0.9)
    title = "商用榨汁机静音大容量渣汁分离"
    accepted, refused = model.probabilities(title, ["商用榨汁机黑色新款渣汁分离", "便携式榨汁杯黑色新款充电"])
    assert accepted >= model.threshold > refused
    held = model.record["out_of_fold"]
    assert held["precision"] >= 0.9 and held["kept"] >= 0.4 and model.record["pairs"] == 48


def read_judged_lines(tmp_path, lines):
    _write(tmp_path / "judged.jsonl", lines)
    return read_judged([tmp_path / "judged.jsonl"])


def test_a_saved_model_loads_with_the_same_probabilities_and_threshold(tmp_path):
    model = learn_substitutes(read_judged_lines(tmp_path, _judged_lines(6)))
    loaded = SubstituteModel.load(model.save(tmp_path / "model"))
    others = ["商用榨汁机家用", "便携式榨汁杯迷你", "电水壶"]
    assert np.allclose(loaded.probabilities("商用榨汁机白色", others), model.probabilities("商用榨汁机白色", others), atol=1e-6)
    assert loaded.threshold == model.threshold and loaded.record == model.record
    with pytest.raises(SubstituteDataError, match="not a substitute model directory"):
        SubstituteModel.load(tmp_path)
    with pytest.raises(SubstituteDataError, match="no such directory"):
        SubstituteModel.load(tmp_path / "nowhere")
    vocabulary = tmp_path / "model" / "vocabulary.json"
    vocabulary.write_text(json.dumps(json.loads(vocabulary.read_text(encoding="utf-8"))[:-5]), encoding="utf-8")
    with pytest.raises(SubstituteDataError, match=r"model: not a substitute model \(vocabulary.json and weights.safetensors disagree\)"):
        SubstituteModel.load(tmp_path / "model")
    (tmp_path / "model" / "substitutes.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(SubstituteDataError, match="model: not a substitute model"):
        SubstituteModel.load(tmp_path / "model")


def test_a_model_is_not_written_over_another_models_files(tmp_path):
    model = learn_substitutes(read_judged_lines(tmp_path, _judged_lines(4)))
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "sentiment" / "vocabulary.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="holds another model's files"):
        model.save(tmp_path / "sentiment")
    model.save(tmp_path / "model")
    model.save(tmp_path / "model")  # its own directory: written again


def test_learning_needs_both_calls_and_two_stock_outs(tmp_path):
    lines = _judged_lines(3)
    for line in lines:
        for substitute in line["substitutes"]:
            substitute["ok"] = True
    with pytest.raises(ValueError, match="all right"):
        learn_substitutes(read_judged_lines(tmp_path, lines))
    with pytest.raises(ValueError, match="two stock-outs"):
        learn_substitutes(read_judged_lines(tmp_path, _judged_lines(1)))
    unjudged = _judged_lines(3)
    for line in unjudged:
        for substitute in line["substitutes"]:
            substitute.pop("ok")
    with pytest.raises(ValueError, match='no substitute is judged: add "ok"'):
        learn_substitutes(read_judged_lines(tmp_path, unjudged))


def test_the_threshold_is_the_lowest_surely_reaching_the_precision_or_else_the_most_precise():
    probabilities = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    curve = precision_curve(probabilities, np.array([1, 1, 0, 1, 0]))
    assert curve == [(0.9, 0.2, 1.0), (0.8, 0.4, 1.0), (0.7, 0.6, pytest.approx(2 / 3)), (0.6, 0.8, 0.75), (0.5, 1.0, 0.6)]
    assert choose_threshold(curve, 0.75, 5, confidence=0) == (0.6, 0.8, 0.75)  # merely reaching it
    assert choose_threshold(curve, 1.0, 5, confidence=0) == (0.8, 0.4, 1.0)
    # none reaches 0.9: the best precision (1 of 2), keeping the more pairs of the two cuts reaching it
    assert choose_threshold(precision_curve(probabilities, np.array([0, 1, 0, 1, 0])), 0.9, 5) == (0.6, 0.8, 0.5)
    # of 100 pairs, 40 right, then 15 of 20, then 40 wrong: 55 of the first 61 merely reach 0.9 (surely 0.82 at 90%);
    # 46 of the first 47 surely do (47 of 49 would not: 0.884)
    ranked = np.array([1] * 40 + [1, 1, 1, 0] * 5 + [0] * 40)
    curve = precision_curve(np.linspace(1, 0.01, 100), ranked)
    assert choose_threshold(curve, 0.9, 100, confidence=0) == (0.4, 0.61, pytest.approx(55 / 61))
    assert choose_threshold(curve, 0.9, 100) == (0.54, 0.47, pytest.approx(46 / 47))
    assert surely_at_least(55, 61) == pytest.approx(0.821, abs=1e-3) and surely_at_least(47, 49) < 0.9 <= surely_at_least(46, 47)


def test_the_train_command_writes_a_model_and_names_a_bad_file(tmp_path):
    _write(tmp_path / "judged.jsonl", _judged_lines(8))
    done = CliRunner().invoke(app, ["train", "substitutes", str(tmp_path / "judged.jsonl"), "--out", str(tmp_path / "model")])
    assert done.exit_code == 0, done.output
    assert "32 judged pairs" in done.output and (tmp_path / "model" / "substitutes.json").is_file()
    assert "32 judged pairs are few" in done.output  # a warning: the figures are rough
    # 16 right pairs at the top are too few to be sure of 0.9 (some 25 are needed): it says so, and keeps what is surest
    record = json.loads((tmp_path / "model" / "substitutes.json").read_text(encoding="utf-8"))["record"]
    assert "no threshold surely reaches precision 0.9" in " ".join(done.output.split())
    assert not record["reached"] and record["confidence"] == 0.9 and record["out_of_fold"]["surely_at_least"] < 0.9
    merely = CliRunner().invoke(app, ["train", "substitutes", str(tmp_path / "judged.jsonl"), "--out", str(tmp_path / "merely"),
                                      "--confidence", "0"])
    assert merely.exit_code == 0 and "surely reaches" not in merely.output, merely.output
    _write(tmp_path / "bad.jsonl", ['{"product": "p", "title": "t", "substitutes": [{"id": "s", "title": "u", "ok": 1}]}'])
    failed = CliRunner().invoke(app, ["train", "substitutes", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "m2")])
    assert failed.exit_code == 1 and "bad.jsonl:1: field substitutes[0].ok: 1 is not true or false" in failed.output
    assert "Traceback" not in failed.output


def test_a_pair_judged_more_than_once_counts_once_by_the_majority():
    def call(substitute: str, ok: bool) -> JudgedPair:
        return JudgedPair("p", "商用榨汁机", substitute, "榨汁杯", ok)

    calls = [call("a", True), call("b", True), call("a", False), call("a", True), call("b", False), call("c", False)]
    assert one_call_each(calls) == [call("a", True), call("c", False)]  # b split evenly: left out

