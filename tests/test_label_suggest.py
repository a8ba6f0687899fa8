"""``skugraph label suggest``: uncertainty picks the titles the model is unsure of, diversity
leaves out near-copies that uncertainty alone would take, random is seeded; the command writes
Label Studio tasks with pre-annotations (and doccano JSONL) from listings or a titles file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.corpus.ner import LabelledText, read_doccano, write_doccano
from skugraph.labelling.suggest import labelled_texts, rank, read_titles, select, suggest, text_marginals, token_entropy, uncertainties
from skugraph.tagging.crf_member import CrfFeatures, CrfMember
from skugraph.tagging.encoding import tag_set
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

BRANDS = ["华为", "小米", "联想", "得力", "美的", "晨光"]
PRODUCTS = ["手机壳", "充电宝", "笔记本", "签字笔", "收纳盒", "保温杯"]
COLOURS = ["黑色", "白色", "红色", "蓝色", "粉色", "灰色"]

FAMILIAR = ["华为 手机壳 黑色", "小米 充电宝 白色", "得力 签字笔 红色", "晨光 保温杯 灰色", "联想 笔记本 蓝色"]
NOVEL = ["苏泊尔 电饭煲 棕色", "奥克斯 收纳盒 白色", "飞利浦 电动牙刷 紫色"]  # words the model never saw
COPIES = ["索尼 降噪耳机 银色 二代", "索尼 降噪耳机 银色 三代", "索尼 降噪耳机 银色 四代"]  # one product three times


def titles(count: int) -> list[LabelledText]:
    """``brand product colour`` titles, every word labelled."""
    out = []
    for n in range(count):
        words = [(BRANDS[n % 6], "brand"), (PRODUCTS[(n // 6) % 6], "product_type"), (COLOURS[(n // 2) % 6], "colour")]
        out.append(LabelledText.from_words(" ".join(w for w, _ in words), words))
    return out


@pytest.fixture(scope="module")
def crf() -> CrfMember:
    return CrfMember.train(titles(60), tag_set(["brand", "product_type", "colour"], "bio"), "bio", CrfFeatures())


def test_token_entropy_is_zero_when_certain_and_one_when_every_tag_is_equally_likely():
    assert token_entropy(np.eye(3)[[0, 1, 2, 0]]) == pytest.approx(0.0, abs=1e-9)
    assert token_entropy(np.full((4, 3), 1 / 3)) == pytest.approx(1.0)
    assert token_entropy(np.array([[1.0, 0, 0], [1 / 3, 1 / 3, 1 / 3]])) == pytest.approx(0.5)  # a mean over tokens
    assert token_entropy(np.zeros((0, 3))) == 0.0


def test_uncertainty_picks_the_titles_with_words_the_model_never_saw(crf):
    pool = FAMILIAR + NOVEL
    marginals = text_marginals(crf, pool)
    chosen = select(marginals, 3, "uncertainty", pool)
    # chunked or not, the same (to rounding: the marginals come from batched passes padded per batch)
    assert uncertainties(crf, pool, chunk=2).tolist() == pytest.approx([token_entropy(m) for m in marginals], rel=1e-9)
    assert {pool[s.index] for s in chosen} == set(NOVEL)
    assert [s.uncertainty for s in chosen] == sorted((s.uncertainty for s in chosen), reverse=True)
    assert min(s.uncertainty for s in chosen) > 3 * max(token_entropy(m) for m in marginals[: len(FAMILIAR)])


def test_diversity_leaves_out_the_near_copies_uncertainty_alone_takes(crf):
    pool = FAMILIAR + NOVEL + COPIES
    assert {pool[s.index] for s in suggest(crf, pool, 3, "uncertainty")} == set(COPIES)  # the most uncertain: one product
    diverse = [pool[s.index] for s in suggest(crf, pool, 3, "diversity")]
    assert diverse[0] in COPIES and sum(title in COPIES for title in diverse) == 1
    assert set(diverse[1:]) <= set(NOVEL)  # then the other unfamiliar titles, not the familiar ones


def test_random_is_seeded_and_an_exact_repeat_is_never_chosen_twice(crf):
    pool = FAMILIAR + NOVEL + COPIES + FAMILIAR  # every familiar title twice
    first, again = suggest(crf, pool, 6, "random", seed=3), suggest(crf, pool, 6, "random", seed=3)
    assert first == again and len({pool[s.index] for s in first}) == 6
    assert [s.uncertainty for s in first] == [round(token_entropy(m), 4) for m in text_marginals(crf, [pool[s.index] for s in first])]
    assert [s.index for s in suggest(crf, pool, 6, "random", seed=4)] != [s.index for s in first]
    everything = select(text_marginals(crf, pool), len(pool), "uncertainty", pool)
    assert len(everything) == len(set(pool)) == len(pool) - len(FAMILIAR)
    with pytest.raises(ValueError, match="unknown strategy 'loudest'"):
        rank(None, 2, "loudest", pool)
    with pytest.raises(ValueError, match="the diversity strategy needs each text's uncertainty"):
        rank(None, 2, "diversity", pool)


def test_titles_come_from_listings_or_a_text_file_and_bad_records_are_named(tmp_path):
    (tmp_path / "titles.txt").write_text("华为 手机壳\n\n小米 充电宝\n", encoding="utf-8")
    assert read_titles(tmp_path / "titles.txt") == [("titles:1", "华为 手机壳"), ("titles:3", "小米 充电宝")]
    (tmp_path / "listings.jsonl").write_text('{"id": "a", "title": "华为 手机壳"}\n{"id": "b"}\n', encoding="utf-8")
    rejects = []
    assert read_titles(tmp_path / "listings.jsonl", rejects.append) == [("a", "华为 手机壳")]
    assert [(r.where, r.field) for r in rejects] == [("line 2", "title")]


# -- the command, over a tiny trained tagger ---------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny network (two epochs) with its CRF member, trained and scored on the generated titles."""
    directory = tmp_path_factory.mktemp("suggest")
    write_doccano(titles(60), directory / "train.jsonl")
    config = TrainTaggerConfig(train=directory / "train.jsonl", dev=directory / "train.jsonl", out=directory / "model",
                               base_model="scratch:tiny", epochs=2, batch_size=8, window=16, stride=8)
    train_tagger(config)
    return directory / "model"


def test_suggest_writes_tasks_with_pre_annotations_and_leaves_out_labelled_titles(trained, tmp_path):
    pool = FAMILIAR + NOVEL + COPIES
    rows = [{"id": f"l-{n}", "title": title} for n, title in enumerate(pool)] + [{"id": "l-bad"}]
    (tmp_path / "listings.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    write_doccano([LabelledText(NOVEL[0])], tmp_path / "labelled.jsonl")
    result = runner.invoke(app, ["label", "suggest", "--model", str(trained), "--listings", str(tmp_path / "listings.jsonl"),
                                 "--k", "3", "--strategy", "diversity", "--out", str(tmp_path / "tasks.json"),
                                 "--doccano", str(tmp_path / "tasks.jsonl"), "--exclude", str(tmp_path / "labelled.jsonl")])
    assert result.exit_code == 0, result.output
    assert "3 of 10 titles suggested by diversity (1 already labelled left out)" in result.output
    assert "line 12: field 'title'" in result.output  # the bad record, named
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == 3 and NOVEL[0] not in {t["data"]["text"] for t in tasks}
    assert sum(t["data"]["text"] in NOVEL for t in tasks) == 2 and sum(t["data"]["text"] in COPIES for t in tasks) == 1
    first = tasks[0]
    assert pool[int(first["data"]["listing"][2:])] == first["data"]["text"] and first["data"]["strategy"] == "diversity"
    assert first["data"]["uncertainty"] == max(t["data"]["uncertainty"] for t in tasks) > 0
    [predicted] = first["predictions"]
    assert predicted["model_version"].startswith("model@") and predicted["result"]  # the model's spans as pre-annotations
    assert all(r["value"]["text"] == first["data"]["text"][r["value"]["start"] : r["value"]["end"]] for r in predicted["result"])
    doccano = list(read_doccano(tmp_path / "tasks.jsonl"))
    assert [d.text for d in doccano] == [t["data"]["text"] for t in tasks]


def test_suggest_takes_a_titles_file_and_fails_in_one_line(trained, tmp_path):
    (tmp_path / "titles.txt").write_text("\n".join(FAMILIAR + NOVEL) + "\n", encoding="utf-8")
    args = ["label", "suggest", "--model", str(trained), "--listings", str(tmp_path / "titles.txt"), "--k", "2",
            "--strategy", "random", "--seed", "1", "--out", str(tmp_path / "a.json")]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, [*args[:-1], str(tmp_path / "b.json")]).exit_code == 0
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == (tmp_path / "b.json").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))[0]["data"]["listing"].startswith("titles:")
    missing = runner.invoke(app, ["label", "suggest", "--model", str(trained), "--listings", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "none.jsonl: no such file" in missing.output and "Traceback" not in missing.output
    wrong = runner.invoke(app, [*args[:8], "--strategy", "loudest"])
    assert wrong.exit_code == 1 and "unknown strategy 'loudest'" in wrong.output


def test_an_exclude_file_that_is_no_labelled_data_is_an_error_and_a_bad_record_is_reported(tmp_path):
    titles = tmp_path / "done.txt"  # a plain list of titles, read as BIO by its name: nothing in it reads
    titles.write_text("华为手机壳 透明\n小米充电器\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"done\.txt: no labelled title read as bio"):
        labelled_texts(titles)
    mixed = tmp_path / "done.jsonl"
    mixed.write_text('{"text": "小米充电器", "label": []}\n{"title": "no text field"}\n', encoding="utf-8")
    rejected = []
    assert labelled_texts(mixed, on_reject=rejected.append) == {"小米充电器"}
    assert len(rejected) == 1 and "line 2" in str(rejected[0])
