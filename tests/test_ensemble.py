"""The tagger ensemble: the character CRF member, the averaged per-character probabilities,
and the model directory `train tagger` writes (kept as an ensemble only when dev says it is
better), saved, reloaded, pickled, exported to ONNX and extracting the same spans."""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TITLES

from skugraph.corpus.ner import LabelledText, write_doccano
from skugraph.records import Listing
from skugraph.tagging.crf_member import CRF_FILE, CrfFeatures, CrfMember
from skugraph.tagging.encoding import tag_set
from skugraph.tagging.ensemble import EnsembleTagger, average_marginals, char_marginals
from skugraph.tagging.tagger import Tagger, TaggerExtractor, load_tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

DATA = [LabelledText.from_words(t, e) for t, e in TINY_TITLES]
GOLD = [[(s.start, s.end, s.label) for s in item.spans] for item in DATA]


def _config(directory: Path, epochs: int) -> TrainTaggerConfig:
    """A tiny tagger's settings, trained and scored on the same titles (with a CRF member)."""
    write_doccano(DATA, directory / "train.jsonl")
    (directory / "brands.txt").write_text("华为\n小米\n海尔\n", encoding="utf-8")
    return TrainTaggerConfig(
        train=directory / "train.jsonl", dev=directory / "train.jsonl", out=directory / "model", base_model="scratch:tiny",
        epochs=epochs, batch_size=4, patience=epochs, learning_rate=1e-3, head_learning_rate=1e-2, window=16, stride=8,
        lexicons={"brand": [directory / "brands.txt"]},
    )


def _train(directory: Path, epochs: int) -> Path:
    """A tiny tagger trained and scored on the same titles (with a CRF member); returns its directory."""
    train_tagger(_config(directory, epochs))
    return directory / "model"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One epoch of the network (it finds next to nothing) beside a CRF that learns the titles:
    dev says the ensemble is better, so the directory is an ensemble."""
    return _train(tmp_path_factory.mktemp("ensemble"), epochs=1)


def _keys(found) -> list[list[tuple[int, int, str]]]:
    return [[s.key for s in spans] for spans in found]


def test_the_crf_members_marginals_are_probabilities_per_character():
    tags = tag_set(["brand", "colour", "product"], "bio")
    crf = CrfMember.train(DATA, tags, "bio", CrfFeatures({"brand": ["华为", "小米"]}))
    texts = [item.text for item in DATA] + ["", "vivo X100 蓝色"]
    marginals = crf.marginals(texts)
    assert [m.shape for m in marginals] == [(len(t), len(tags)) for t in texts]
    for m in marginals:
        assert np.allclose(m.sum(axis=1), 1.0) and (m >= 0).all()
    assert all(m[s.start, tags.index(f"B-{s.label}")] > 0.5 for m, item in zip(marginals, DATA) for s in item.spans)
    # computed from the model's weights in one batched pass: crfsuite's own marginals (weights dumped to 6 decimals)
    for text, m in zip(texts, marginals, strict=True):
        if text:
            own = crf.model.predict_marginals_single(crf.features(text))
            expected = np.array([[row.get(tag, 0.0) for tag in tags] for row in own])
            np.testing.assert_allclose(m, expected, atol=1e-5)


def test_features_mark_word_boundaries_and_gazetteer_words():
    features = CrfFeatures({"brand": ["华为"]})("华为手机壳")
    assert [f["w"] for f in features[:2]] == ["B", "E"] and features[0]["lex0"] == 1.0 and "lex0" not in features[2]
    assert "w" not in CrfFeatures({}, words=False)("华为")[0]


def test_averaging_skips_characters_a_member_does_not_score():
    nan = np.full(3, np.nan)
    neural = np.array([[0.2, 0.8, 0.0], nan, [1.0, 0.0, 0.0]])
    crf = np.array([[0.6, 0.4, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert np.allclose(average_marginals([neural, crf]), [[0.4, 0.6, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    assert np.allclose(average_marginals([np.full((1, 3), np.nan)]), [[1.0, 0.0, 0.0]])
    # weighted: the CRF at 0.75 -> 0.25 * network + 0.75 * CRF; where only one member scores, that one
    assert np.allclose(average_marginals([neural, crf], [0.25, 0.75]), [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.25, 0.75, 0.0]])
    assert np.allclose(average_marginals([neural, crf], [0.0, 1.0]), crf)


def test_train_tagger_keeps_the_ensemble_when_dev_says_it_is_better(trained):
    meta = json.loads((trained / "skugraph.json").read_text("utf-8"))
    section = meta["ensemble"]
    assert section["use"] is True and (trained / CRF_FILE).is_file()
    assert section["dev_f1"]["ensemble"] > section["dev_f1"]["neural"] and section["dev_f1"]["crf"] == 1.0
    tagger = load_tagger(trained, "torch")
    assert isinstance(tagger, EnsembleTagger)
    assert tagger.evaluate(DATA).micro.f1 == section["dev_f1"]["ensemble"] == 1.0
    assert section["dev_f1_by_crf_weight"][str(section["crf_weight"])] == max(section["dev_f1_by_crf_weight"].values())
    assert tagger.crf_weight == section["crf_weight"]
    assert section["span_scorer"]["dev"]["kept"] is False and tagger.span_scorer is None  # every dev span is right
    assert isinstance(Tagger.load(trained, "torch"), Tagger)  # the network alone, as before


@pytest.mark.slow
def test_train_tagger_keeps_the_network_when_the_ensemble_is_no_better(tmp_path):
    directory = _train(tmp_path, epochs=15)
    section = json.loads((directory / "skugraph.json").read_text("utf-8"))["ensemble"]
    assert section["dev_f1"]["neural"] == 1.0 and section["use"] is False
    assert type(load_tagger(directory, "torch")) is Tagger
    assert EnsembleTagger.load(directory, "torch").evaluate(DATA).micro.f1 == section["dev_f1"]["ensemble"]


def test_an_ensemble_directory_reloads_pickles_exports_and_extracts_the_same_spans(trained, tmp_path):
    from skugraph.tagging.runtime import export_onnx

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    texts = [item.text for item in DATA] + ["华为 蓝色 手机壳", ""]
    reference = load_tagger(copy, "torch")
    found = reference.predict(texts)
    assert _keys(found)[: len(GOLD)] == GOLD and found[-1] == []
    assert all(0.0 < s.score <= 1.0 for spans in found for s in spans)
    again = pickle.loads(pickle.dumps(reference))
    assert len(pickle.dumps(reference)) < 1000 and _keys(again.predict(texts)) == _keys(found)
    export_onnx(copy, quantize=False)
    onnx = load_tagger(copy, "onnx")
    assert isinstance(onnx, EnsembleTagger) and _keys(onnx.predict(texts)) == _keys(found)
    mentions = TaggerExtractor(onnx).extract_many([Listing(id="x", title=texts[0])])[0]
    assert [(m.start, m.end, m.label) for m in mentions] == GOLD[0]


def test_the_networks_token_probabilities_spread_over_characters(trained):
    """A token of several characters (sub-word units) gives B-x to its first character and I-x
    to the rest; characters without a token (spaces) have none."""
    from skugraph.tagging.encoding import Encoded
    from skugraph.tagging.tagger import TextScores

    tagger = Tagger.load(trained, "torch")
    tags = tagger.config.tags
    emissions = np.full((2, len(tags)), -5.0)
    emissions[0, tags.index("B-brand")] = emissions[1, tags.index("I-brand")] = 5.0
    scores = TextScores(Encoded([1, 2], [(0, 3), (4, 6)], None), emissions)
    token = tagger.marginals(scores, 1.0)
    per_char = char_marginals(tagger, scores, 6)
    assert np.isnan(per_char[3]).all() and np.allclose(np.delete(per_char, 3, axis=0).sum(axis=1), 1.0)
    assert per_char[0, tags.index("B-brand")] == pytest.approx(token[0, tags.index("B-brand")])
    assert per_char[1, tags.index("I-brand")] == per_char[2, tags.index("I-brand")] == pytest.approx(
        token[0, tags.index("B-brand")] + token[0, tags.index("I-brand")])
    assert np.allclose(per_char[4], token[1]) and np.allclose(per_char[5, tags.index("B-brand")], 0.0)


def test_worker_processes_load_the_ensemble_from_its_directory(trained, tmp_path):
    from skugraph import pipeline
    from skugraph.extract import ExtractorConfig
    from skugraph.records import to_json_line

    listings = tmp_path / "listings.jsonl"
    listings.write_text("".join(to_json_line(Listing(id=f"t{i}", title=item.text)) + "\n" for i, item in enumerate(DATA * 3)),
                        encoding="utf-8")
    config = ExtractorConfig("tagger", trained, runtime="torch")
    one = pipeline.extract(listings, tmp_path / "one.jsonl", tmp_path / "one-m.jsonl", config=config, batch_size=4)
    two = pipeline.extract(listings, tmp_path / "two.jsonl", tmp_path / "two-m.jsonl", config=config, batch_size=4, workers=2)
    assert one.mentions == two.mentions == 3 * sum(len(spans) for spans in GOLD)
    assert (tmp_path / "one-m.jsonl").read_bytes() == (tmp_path / "two-m.jsonl").read_bytes()


def test_a_span_scorer_in_the_metadata_scores_the_spans_after_reload_pickle_and_onnx(trained, tmp_path):
    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.fact_scores import read_with_gold
    from skugraph.tagging.runtime import export_onnx
    from skugraph.tagging.span_scorer import SpanScorer

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    meta = json.loads((copy / "skugraph.json").read_text("utf-8"))
    meta["ensemble"]["span_scorer"] = {"scorer": SpanScorer((0.0,) * 5, 1.0).to_dict()}
    (copy / "skugraph.json").write_text(json.dumps(meta), "utf-8")
    expected = 1 / (1 + np.exp(-1.0))
    texts = [item.text for item in DATA]
    export_onnx(copy, quantize=False)
    for tagger in (load_tagger(copy, "torch"), pickle.loads(pickle.dumps(load_tagger(copy, "torch"))), load_tagger(copy, "onnx")):
        found = tagger.predict(texts)
        assert _keys(found) == GOLD and all(s.score == pytest.approx(expected) for spans in found for s in spans)
    # cross-fitted reading: each half is scored by a scorer refitted on the other half's spans
    # (all right here, so a constant near 1), not by the saved one
    reader = build_reader(ExtractorConfig(kind="tagger", model=copy, runtime="torch"))
    reader.calibration = None
    read = read_with_gold(DATA, reader, parts=2)
    confidences = [fact.confidence for facts in read.facts for fact in facts if fact.predicate == "has_brand"]
    assert confidences and all(c > 0.99 for c in confidences)
    assert reader.extractor.tagger.span_scorer.intercept == 1.0  # the saved scorer is put back


def test_bench_extract_also_times_the_ensemble_the_directory_holds(trained, tmp_path):
    from skugraph.bench.extract import ENSEMBLE_SYSTEM, bench_extract

    dev_file = tmp_path / "dev.jsonl"
    write_doccano(DATA, dev_file)
    report = bench_extract(trained, 20, systems=("torch",), dev=dev_file)
    network, ensemble = report["results"]
    assert (network["system"], ensemble["system"]) == ("torch", ENSEMBLE_SYSTEM)
    assert ensemble["dev_f1"] == 1.0 > network["dev_f1"]  # the ensemble, as extract loads it, not the network alone
    assert ensemble["titles_per_s"] > 0 and ensemble["share_of_limit"] >= 0


def test_more_networks_are_trained_with_other_seeds_and_kept_only_when_dev_says_so(trained, tmp_path):
    from skugraph.tagging.train import train_networks

    config = replace(_config(tmp_path, epochs=1), out=tmp_path / "model")
    shutil.copytree(trained, config.out)
    seeds = []
    section = train_networks(config, 3, run=lambda settings: seeds.append(settings.seed) or train_tagger(settings).metadata)
    assert seeds == [43, 44] and section["seeds"] == seeds
    stored = json.loads((config.out / "skugraph.json").read_text("utf-8"))["ensemble"]["networks"]
    assert stored == section and section["dev_f1"]["one"] == load_tagger(trained, "torch").evaluate(DATA).micro.f1
    # the ensemble already finds every dev span, so three networks cannot score higher: not kept, their directories gone
    assert section["dev_f1"]["one"] == 1.0 and section["use"] is False and section["dirs"] == []
    assert not list(config.out.glob("network-*")) and type(load_tagger(config.out, "torch")) is EnsembleTagger
    assert train_networks(replace(config, dev=None), 3) is None  # nothing to fit on


def test_a_directory_with_networks_loads_their_ensemble_reloads_pickles_and_exports(trained, tmp_path):
    from skugraph.tagging.ensemble import NetworksTagger, network_dirs
    from skugraph.tagging.runtime import ONNX_FILE, export_onnx

    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    shutil.copytree(trained, copy / "network-2", ignore=shutil.ignore_patterns(CRF_FILE))
    meta = json.loads((copy / "skugraph.json").read_text("utf-8"))
    meta["ensemble"]["networks"] = {"use": True, "dirs": ["network-2"], "crf_weight": 0.75, "temperature": 1.5}
    (copy / "skugraph.json").write_text(json.dumps(meta), "utf-8")
    texts = [item.text for item in DATA]
    tagger = load_tagger(copy, "torch")
    assert isinstance(tagger, NetworksTagger) and len(tagger.networks) == 2
    assert (tagger.crf_weight, tagger.temperature) == (0.75, 1.5)
    one = EnsembleTagger.load(copy, "torch")
    one.crf_weight = 0.75  # a network beside a copy of itself: the same average as the one network's
    for mine, theirs in zip(tagger.scores(texts), one.scores(texts), strict=True):
        np.testing.assert_allclose(mine.marginals, theirs.marginals, atol=1e-6)
    again = pickle.loads(pickle.dumps(tagger))
    assert isinstance(again, NetworksTagger) and _keys(again.predict(texts)) == _keys(tagger.predict(texts)) == GOLD
    written = export_onnx(copy, quantize=False)
    assert written == [copy / ONNX_FILE, copy / "network-2" / ONNX_FILE]
    onnx = load_tagger(copy, "onnx")
    assert all(network.onnx is not None for network in onnx.networks) and _keys(onnx.predict(texts)) == GOLD
    # where dev did not keep the ensemble, its networks are not run either (loading, export and bench read one rule)
    meta["ensemble"]["use"] = False
    assert network_dirs(meta) == [] and network_dirs({**meta, "ensemble": {**meta["ensemble"], "use": True}}) == ["network-2"]
    (copy / "skugraph.json").write_text(json.dumps(meta), "utf-8")
    assert type(load_tagger(copy, "torch")) is Tagger and export_onnx(copy, quantize=False) == [copy / ONNX_FILE]
