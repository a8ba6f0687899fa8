"""Self-training: unlabelled texts read as the pretraining corpus is, the surest share of a
tagger's labels kept, and a tiny end-to-end run whose recorded dev scores and decision agree
with the model directory it leaves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skugraph.corpus.ner import LabelledText, Span, read_labelled, write_doccano
from skugraph.tagging.model import METADATA
from skugraph.tagging.self_training import (SELF_TRAINING, SelfTrainingConfig, describe, pseudo_label, read_unlabelled,
                                            self_train)
from skugraph.tagging.tagger import ScoredSpan, load_tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

GOLD = [
    ("华为手机壳透明防摔", [(0, 2, "brand"), (2, 5, "product")]),
    ("小米智能手机黑色", [(0, 2, "brand"), (2, 6, "product")]),
    ("海尔冰箱银色家用", [(0, 2, "brand"), (2, 4, "product")]),
    ("美的电饭煲家用", [(0, 2, "brand"), (2, 5, "product")]),
    ("华为冰箱白色", [(0, 2, "brand"), (2, 4, "product")]),
    ("小米电饭煲黑色", [(0, 2, "brand"), (2, 5, "product")]),
]
DEV = [("海尔手机壳黑色", [(0, 2, "brand"), (2, 5, "product")]), ("美的智能手机白色", [(0, 2, "brand"), (2, 6, "product")])]
UNLABELLED = ["海尔电饭煲白色", "美的冰箱银色", "华为智能手机透明", "小米手机壳家用", "美的手机壳防摔", "海尔智能手机", "华为手机壳透明防摔"]


def labelled(rows) -> list[LabelledText]:
    return [LabelledText(text, tuple(Span(*s) for s in spans)) for text, spans in rows]


def test_unlabelled_texts_are_read_like_the_pretraining_corpus(tmp_path):
    lines = tmp_path / "titles.txt"
    lines.write_text("华为手机\n\n小米手机\n华为手机\n美的冰箱\n", encoding="utf-8")
    assert read_unlabelled(lines, exclude=["美的冰箱"]) == ["华为手机", "小米手机"]  # no blank, repeated or gold text
    listings = tmp_path / "listings.jsonl"
    listings.write_text(json.dumps({"id": "1", "title": "海尔冰箱", "description": "节能。静音！"}, ensure_ascii=False) + "\n"
                        + json.dumps({"text": "美的电饭煲"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_unlabelled(listings) == ["海尔冰箱", "节能。", "静音！", "美的电饭煲"]
    table = tmp_path / "reviews.csv"
    table.write_text("id,title\n1,小米手机\n2,海尔冰箱\n3,美的冰箱\n", encoding="utf-8")
    sample = read_unlabelled(table, limit=2, seed=1)
    assert len(sample) == 2 and set(sample) < {"小米手机", "海尔冰箱", "美的冰箱"} and sample == read_unlabelled(table, limit=2, seed=1)
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        read_unlabelled(tmp_path / "nothing.txt")


class _Fixed:
    """A stand-in tagger: each text's token probabilities are given, its spans are one brand at 0-2."""

    def __init__(self, certainty: dict[str, list[float]]):
        self.certainty = certainty

    def scores(self, texts):
        return list(texts)

    def decode_many(self, texts):
        return [[ScoredSpan(0, 2, "brand", 0.9)] if text else [] for text in texts]

    def marginals(self, text):
        return np.array([[p, 1 - p] for p in self.certainty[text]]).reshape(-1, 2)


def test_pseudo_labels_keep_the_texts_whose_least_certain_token_is_surest():
    tagger = _Fixed({"aaaa": [0.99, 0.6], "bbbb": [0.8, 0.8], "cccc": [0.95, 0.9], "dddd": [0.7, 0.99], "": []})
    kept, lowest = pseudo_label(tagger, ["aaaa", "bbbb", "cccc", "dddd", ""], 0.5)
    assert [item.text for item in kept] == ["cccc", "bbbb"] and lowest == pytest.approx(0.8)  # half of the four with tokens
    assert kept[0].spans == (Span(0, 2, "brand"),)
    assert [item.text for item in pseudo_label(tagger, ["aaaa", "dddd"], 0.1)[0]] == ["dddd"]  # at least one
    with pytest.raises(ValueError, match="share"):
        pseudo_label(tagger, ["aaaa"], 0.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict, list[int]]:
    """Self-training of a tiny tagger: (its directory, the returned metadata, texts per training)."""
    directory = tmp_path_factory.mktemp("self-training")
    write_doccano(labelled(GOLD), directory / "train.jsonl")
    write_doccano(labelled(DEV), directory / "dev.jsonl")
    (directory / "titles.txt").write_text("\n".join(UNLABELLED) + "\n", encoding="utf-8")
    config = TrainTaggerConfig(train=directory / "train.jsonl", dev=directory / "dev.jsonl", out=directory / "model",
                               base_model="scratch:tiny", epochs=25, batch_size=4, patience=25, learning_rate=1e-3,
                               head_learning_rate=1e-2, window=16, stride=8)
    sizes = []

    def train(settings: TrainTaggerConfig) -> dict:
        sizes.append(len(read_labelled(settings.train, settings.format)))
        return train_tagger(settings).metadata

    meta = self_train(config, SelfTrainingConfig(directory / "titles.txt", share=0.5), train)
    return directory / "model", meta, sizes


def test_self_training_records_both_dev_scores_and_keeps_the_better_model(trained):
    directory, meta, sizes = trained
    section = meta[SELF_TRAINING]
    stored = json.loads((directory / METADATA).read_text("utf-8"))
    assert stored[SELF_TRAINING] == section
    # six distinct unlabelled texts (one is a gold title), half of them kept and trained on beside the gold ones
    assert section["unlabelled"]["texts"] == 6 and section["unlabelled"]["kept"] == 3
    assert sizes == [len(GOLD), len(GOLD) + 3]
    gold, self_trained = section["dev_f1"]["gold"], section["dev_f1"]["self_trained"]
    assert section["kept"] == ("self-trained" if self_trained > gold else "gold")
    # the directory holds the model the decision names, scoring what was recorded for it
    dev = labelled(DEV)
    assert load_tagger(directory).evaluate(dev).micro.f1 == pytest.approx(max(gold, self_trained), abs=1e-4)
    assert stored["train"]["path"] == str(directory.parent / "train.jsonl")
    assert stored["dev"]["path"] == str(directory.parent / "dev.jsonl")
    assert not [p for p in directory.parent.iterdir() if "self-training" in p.name]  # the scratch directory is gone


def test_the_printed_line_says_which_model_was_kept():
    section = {"unlabelled": {"texts": 5000, "kept": 2500}, "dev_f1": {"gold": 0.7211, "self_trained": 0.7105}, "kept": "gold"}
    assert describe(section) == ("self-training on 2500 of 5000 unlabelled texts: dev F1 gold only 0.7211, with them 0.7105:"
                                 " it did not beat the gold-only model, which is kept")
    better = {**section, "dev_f1": {"gold": 0.7, "self_trained": 0.71}, "kept": "self-trained"}
    assert describe(better).endswith("with them 0.7100: the self-trained model is kept")


def test_self_training_needs_dev_data(tmp_path):
    config = TrainTaggerConfig(train=tmp_path / "train.jsonl", out=tmp_path / "model")
    with pytest.raises(ValueError, match="--dev"):
        self_train(config, SelfTrainingConfig(tmp_path / "titles.txt"))
