"""Word-boundary features of the neural tagger: jieba's B/M/E/S word bits (plus the lexicons'
words) after the lexicon bits, used by a trained tiny model, kept through save, reload and
the ONNX export; a directory saved before they existed still loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from skugraph.corpus.ner import LabelledText, Span, write_doccano
from skugraph.lm.finetune import load_encoder
from skugraph.tagging.encoding import TextEncoder, tag_set
from skugraph.tagging.model import METADATA, TaggerConfig, TaggerModel
from skugraph.tagging.tagger import Tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger
from skugraph.tagging.words import WordSegmenter

TITLES = [
    ("华为手机壳透明防摔保护套", [(0, 2, "brand"), (2, 5, "product")]),
    ("小米智能手机黑色大屏幕", [(0, 2, "brand"), (2, 6, "product")]),
    ("酷睿宝电热水器家用速热", [(0, 3, "brand"), (3, 7, "product")]),
    ("海尔冰箱银色双开门家用", [(0, 2, "brand"), (2, 4, "product")]),
    ("美的电饭煲家用智能预约", [(0, 2, "brand"), (2, 5, "product")]),
]


def titles() -> list[LabelledText]:
    return [LabelledText(text, tuple(Span(*s) for s in spans)) for text, spans in TITLES]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny tagger with a brand lexicon (holding a word jieba does not know) and word features."""
    directory = tmp_path_factory.mktemp("words")
    write_doccano(titles(), directory / "train.jsonl")
    (directory / "brands.txt").write_text("华为\n酷睿宝\n", encoding="utf-8")
    config = TrainTaggerConfig(
        train=directory / "train.jsonl", dev=directory / "train.jsonl", out=directory / "model", base_model="scratch:tiny",
        epochs=40, batch_size=4, patience=40, learning_rate=1e-3, head_learning_rate=1e-2, window=16, stride=8,
        lexicons={"brand": [directory / "brands.txt"]}, word_features=True,
    )
    train_tagger(config)
    return directory / "model"


def test_word_bits_follow_jieba_and_the_user_lexicon():
    _, tokenizer = load_encoder("scratch:tiny", [t for t, _ in TITLES], 16)
    text = "酷睿宝 电热水器"
    plain = TextEncoder(tokenizer, "char", words=WordSegmenter()).encode(text).features
    with_lexicon = TextEncoder(tokenizer, "char", words=WordSegmenter(["酷睿宝"])).encode(text).features
    assert plain.shape == with_lexicon.shape == (7, 4)  # one row a non-space character, one-hot B/M/E/S
    assert (plain.sum(axis=1) == 1).all()
    assert [int(i) for i in with_lexicon[:3].argmax(axis=1)] == [0, 1, 2]  # the user's word: B M E
    assert not np.array_equal(plain[:3], with_lexicon[:3])  # jieba alone cuts it otherwise
    assert np.array_equal(plain[3:], with_lexicon[3:])
    assert WordSegmenter(["酷睿宝"]).tags("电热水器") == ["B", "M", "M", "E"]
    # the config decides: the lexicon bits first, then the four word bits (the lexicon's words join jieba's)
    config = TaggerConfig(tags=tag_set(["brand"], "bio"), lexicons=["brand"], word_features=True)
    encoder = TextEncoder.for_model(tokenizer, config, {"brand": ["酷睿宝"]})
    features = encoder.encode(text).features
    assert encoder.feature_size == config.feature_size == features.shape[1] == 8
    assert np.array_equal(features[:, 4:], with_lexicon) and features[0, 0] == 1  # brand begins at 0
    assert TextEncoder.for_model(tokenizer, TaggerConfig(tags=config.tags), {}).encode(text).features is None


def test_a_tagger_with_word_features_saves_reloads_and_exports(trained, tmp_path):
    from skugraph.tagging.runtime import export_onnx

    meta = json.loads((trained / METADATA).read_text("utf-8"))
    assert meta["tagger"]["word_features"] is True and meta["dev_report"]["micro"]["f1"] == 1.0
    tagger = Tagger.load(trained, "torch")
    assert tagger.encoder.words is not None and "酷睿宝" in tagger.encoder.words.words
    assert tagger.model.lexicon_in.in_features == 8
    assert np.abs(tagger.model.lexicon_in.weight[:, 4:].detach().numpy()).sum() > 0  # training used the word bits
    texts = [t for t, _ in TITLES]
    # the word bits change the emissions: zeroing them gives others
    encoded = tagger.encoder.encode(texts[0])
    blind = type(encoded)(encoded.ids, encoded.offsets, np.concatenate([encoded.features[:, :4], np.zeros_like(encoded.features[:, 4:])], axis=1))
    from skugraph.tagging.tagger import window_batch

    inputs = [window_batch([e], [(0, len(e.ids))], tagger.tokenizer) for e in (encoded, blind)]
    with_words, without = (tagger.model(**i).detach().numpy() for i in inputs)
    assert not np.allclose(with_words, without, atol=1e-4)
    # the ONNX export takes the same inputs and gives the same spans
    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    export_onnx(copy, quantize=False)
    onnx = Tagger.load(copy, "onnx")
    for a, b in zip(tagger.scores(texts), onnx.scores(texts), strict=True):
        assert np.allclose(a.emissions, b.emissions, atol=1e-3)
    assert [[s.key for s in spans] for spans in onnx.predict(texts)] == [[s.key for s in spans] for spans in tagger.predict(texts)]


def test_a_directory_saved_before_word_features_loads_without_them(tmp_path):
    encoder, tokenizer = load_encoder("scratch:tiny", [t for t, _ in TITLES], 16)
    model = TaggerModel(encoder, TaggerConfig(tags=tag_set(["brand", "product"], "bio"), lexicons=["brand"], window=16, stride=8))
    model.save(tmp_path, tokenizer, {"brand": ["华为"]}, [], {})
    meta = json.loads((tmp_path / METADATA).read_text("utf-8"))
    del meta["tagger"]["word_features"]  # as written before the field existed
    (tmp_path / METADATA).write_text(json.dumps(meta), encoding="utf-8")
    tagger = Tagger.load(tmp_path, "torch")
    assert tagger.config.word_features is False and tagger.encoder.words is None
    assert tagger.encoder.encode("华为手机").features.shape == (4, 4)
