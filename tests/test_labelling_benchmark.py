"""benchmarks/labelling.py end to end on a tiny JD-shaped data set written here (the shared data is not needed)."""

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from skugraph.corpus.ner import LabelledText, Span, write_conll

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "labelling.py"
BRANDS, COLOURS, MATERIALS = ["华为", "小米", "联想", "得力"], ["黑色", "白色", "红色"], ["硅胶", "塑料"]
PRODUCTS, SPECS = ["手机壳", "支架", "笔袋"], ["2个装", "100张", "A4"]


def _titles(brands: list[str]) -> list[LabelledText]:
    """Titles brand + colour + material + product + specification, JD's types 1, 16, 12, 4 and 18."""
    out = []
    for brand, colour, material, product, spec in itertools.product(brands, COLOURS, MATERIALS, PRODUCTS, SPECS):
        text, spans = "", []
        for word, label in ((brand, "1"), (colour, "16"), (material, "12"), (product, "4"), (spec, "18")):
            spans.append(Span(len(text), len(text) + len(word), label))
            text += word
        out.append(LabelledText(text, tuple(spans)))
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelling")
    corpus = root / "data" / "ner" / "jd-gaiic2022"
    corpus.mkdir(parents=True)
    train, dev = _titles(BRANDS[:3])[::3], _titles(BRANDS[3:])[::4]  # 54 and 14 titles; dev's brand is never seen
    write_conll(train, corpus / "train.bio")
    write_conll(dev, corpus / "dev.bio")
    write_conll(dev[:5], root / "other.bio")
    command = [sys.executable, str(BENCHMARK), "--dataset", "jd-gaiic", "--data", str(root / "data"), "--test", str(root / "other.bio"),
               "--start", "10", "--batch", "20", "--iterations", "20", "--folds", "2", "--error-rate", "0.1", "--error-seeds", "0,1",
               "--out", str(root / "out" / "labelling")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return {part: json.loads((root / "out" / f"labelling-{part}.json").read_text(encoding="utf-8")) for part in ("curves", "errors", "weak")}


def test_curves_add_a_batch_a_round_until_every_title_is_labelled(run):
    curves = run["curves"]
    assert (curves["train_texts"], curves["dev_texts"], curves["test_file"].endswith("other.bio")) == (54, 14, True)
    for strategy in ("uncertainty", "diversity", "random"):
        result = curves["strategies"][strategy]
        assert [r["titles"] for r in result["rounds"]] == [10, 30, 50, 54] and result["complete"]
        assert result["rounds"][-1]["scores"] == curves["full"]["scores"]  # the last round is the full-set model
        assert set(result["rounds"][1]["scores"]) == {"dev", "test"}
        share = result["share_needed"]
        assert share == pytest.approx(result["titles_needed"] / 54, abs=1e-4) and 10 / 54 <= share <= 1.0
    assert curves["full"]["scores"]["dev"]["micro"]["f1"] > 0.75  # every word of dev seen in train but the brand (1 span in 5)
    assert (Path(curves["command"].split("--out ")[1]).parent / curves["plots"][0]).is_file()


def test_errors_are_injected_ranked_and_restored_once_per_damage_seed(run):
    summary = run["errors"]
    assert summary["error_seeds"] == [0, 1] and [run["error_seed"] for run in summary["runs"]] == [0, 1]
    spans = 54 * 5
    for errors in summary["runs"]:
        assert errors["injected"] == pytest.approx(0.1 * spans, abs=2) and sum(errors["injected_by_kind"].values()) == errors["injected"]
        for top in ("top5", "top10"):
            at = errors[top]
            assert 0 <= at["precision"] <= 1 and 0 <= at["recall"] <= 1 and at["n"] > 0
        assert errors["top10"]["recall"] >= errors["top5"]["recall"]
        clean, noisy = errors["clean"]["dev"]["micro"]["f1"], errors["noisy"]["dev"]["micro"]["f1"]
        assert errors["f1_lost"] == pytest.approx(clean - noisy, abs=1e-4)
    first, second = summary["runs"]
    assert first["detection"] != second["detection"] or first["noisy"] != second["noisy"]  # two draws, not one twice
    assert summary["top10"]["recall"] == pytest.approx((first["top10"]["recall"] + second["top10"]["recall"]) / 2, abs=1e-4)
    assert summary["f1_lost"] == pytest.approx((first["f1_lost"] + second["f1_lost"]) / 2, abs=1e-4)


def test_weak_labels_are_scored_against_gold_per_type(run):
    weak = run["weak"]
    gold = weak["gold"]["scores"]["dev"]["per_type"]
    assert set(gold) == {"12", "16", "18"}
    majority = weak["weak"]["hand-written/majority"]
    # the colour and material words here are in the benchmark's hand-written lists, the specifications match its patterns
    assert majority["weak_against_train_gold"]["micro"]["f1"] > 0.9
    for label, ratio in majority["f1_ratio_to_gold"].items():
        assert ratio == pytest.approx(majority["scores"]["dev"]["per_type"][label]["f1"] / gold[label]["f1"], abs=1e-3)
    assert weak["weak"]["hand-written/dawid-skene"]["f1_ratio_to_gold"]["18"] > 0.5  # the patterns' type survives the label model


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("labelling_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("title", "materials"), [
    ("华为硅胶手机壳", ["硅胶"]),  # a material before a product word
    ("硅胶套华为手机壳", []),  # the first half of the product word 硅胶套
    ("钢化玻璃膜 铁皮柜 不锈钢碗", []),
    ("黑色硅胶笔袋 硅胶套装", ["硅胶", "硅胶"]),  # 笔袋 and 套装 are words of their own
    ("304不锈钢保温杯 木质笔筒 全铜水龙头 金属款", ["304不锈钢", "木质", "全铜", "金属款"]),  # JD keeps grades and marks
    ("PC-195中性笔 磁铁 pc透明手机壳", ["pc"]),  # a model code, a bare one-character material
])
def test_the_material_patterns_follow_jd_boundaries(title, materials):
    function = _benchmark_module().hand_written_functions()[1]
    assert [title[s.start : s.end] for s in function.apply([title])[0]] == materials
