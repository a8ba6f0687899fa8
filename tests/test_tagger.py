"""The neural tagger: CRF maths against brute force, encoding, augmentation, and a tiny
model that overfits a few titles, saves, reloads and extracts the same spans."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from skugraph.corpus.ner import LabelledText, Span, read_labelled, write_doccano
from skugraph.records import Listing, to_json_line
from skugraph.tagging.augment import AugmentConfig, Augmenter, read_synonyms
from skugraph.tagging.crf import CRF
from skugraph.tagging.decode import allowed_transitions, best_path, forward_backward, segment_probability
from skugraph.tagging.encoding import LexiconFeatures, TextEncoder, tag_set, token_tags
from skugraph.tagging.model import TaggerModel
from skugraph.tagging.tagger import Tagger, TaggerExtractor, expected_calibration_error
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

TAGS = tag_set(["HP", "HC"], "bieos")

TITLES = [
    ("华为 Mate 60 蓝色 5G手机", [("华为", "brand"), ("Mate 60", "model"), ("蓝色", "colour"), ("手机", "product")]),
    ("小米 Redmi K70 黑色 智能手机", [("小米", "brand"), ("Redmi K70", "model"), ("黑色", "colour"), ("智能手机", "product")]),
    ("绿联 手机壳 适用于华为Mate60 透明", [("绿联", "brand"), ("手机壳", "product"), ("华为", "brand"), ("透明", "colour")]),
    ("美的 电热水器 60升 白色", [("美的", "brand"), ("电热水器", "product"), ("白色", "colour")]),
    ("Anker 20W Charger for Samsung phone, Black", [("Anker", "brand"), ("Charger", "product"), ("Samsung", "brand"), ("Black", "colour")]),
    ("海尔 冰箱 银色 家用", [("海尔", "brand"), ("冰箱", "product"), ("银色", "colour")]),
]
#: longer than the 16-token window the fixture model uses: tagged in overlapping windows
LONG_TITLE = "美的 电热水器 60升 白色 家用 一级能效 速热 大容量 安装简单 海尔 冰箱 银色 家用"


def training_set() -> list[LabelledText]:
    long_entities = [("美的", "brand"), ("电热水器", "product"), ("白色", "colour"), ("海尔", "brand"), ("冰箱", "product"), ("银色", "colour")]
    return [LabelledText.from_words(t, e) for t, e in TITLES] + [LabelledText.from_words(LONG_TITLE, long_entities)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[LabelledText]]:
    directory = tmp_path_factory.mktemp("tagger")
    data = training_set()
    write_doccano(data, directory / "train.jsonl")
    (directory / "brands.txt").write_text("华为\n小米\n海尔\n", encoding="utf-8")
    config = TrainTaggerConfig(
        train=directory / "train.jsonl", dev=directory / "train.jsonl", out=directory / "model", base_model="scratch:tiny",
        epochs=60, batch_size=4, patience=60, learning_rate=1e-3, head_learning_rate=1e-2, window=16, stride=8,
        ngrams=True, lexicons={"brand": [directory / "brands.txt"]},
    )
    result = train_tagger(config)
    assert result.dev["micro"]["f1"] == 1.0
    return directory / "model", data


# -- the CRF against brute force ------------------------------------------------------------

def _valid_paths(steps: int) -> list[tuple[int, ...]]:
    start, transition, end = allowed_transitions(TAGS)
    return [
        p for p in itertools.product(range(len(TAGS)), repeat=steps)
        if start[p[0]] and end[p[-1]] and all(transition[a, b] for a, b in zip(p, p[1:]))
    ]


def test_crf_likelihood_and_span_probability_match_enumeration():
    torch.manual_seed(0)
    crf = CRF(TAGS)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()
    steps = 4
    emissions = torch.randn(1, steps, len(TAGS))
    start, transition, end = crf.scores_numpy()
    e = emissions[0].double().numpy()
    paths = _valid_paths(steps)

    def score(path):
        return start[path[0]] + sum(e[t, k] for t, k in enumerate(path)) + sum(transition[a, b] for a, b in zip(path, path[1:])) + end[path[-1]]

    scores = np.array([score(p) for p in paths])
    log_z = np.log(np.exp(scores - scores.max()).sum()) + scores.max()
    gold = paths[7]
    nll = crf.nll(emissions, torch.tensor([gold]), torch.ones(1, steps, dtype=torch.bool)).item()
    assert nll == pytest.approx(log_z - score(gold), abs=1e-3)
    # Viterbi finds the best valid path; forward-backward gives the same partition
    assert tuple(best_path(e, start, transition, end)) == paths[int(scores.argmax())]
    alpha, beta, fb_log_z = forward_backward(e, start, transition, end)
    assert fb_log_z == pytest.approx(log_z, abs=1e-6)
    # the probability of a segment's tags = the mass of all paths that carry them there
    probabilities = np.exp(scores - log_z)
    best = paths[int(scores.argmax())]
    expected = sum(p for path, p in zip(paths, probabilities) if path[1:3] == best[1:3])
    assert segment_probability(list(best), 1, 2, e, transition, alpha, beta, log_z) == pytest.approx(expected, abs=1e-6)


def test_crf_loss_is_the_same_for_padded_rows():
    torch.manual_seed(1)
    crf = CRF(TAGS)
    emissions = torch.randn(1, 3, len(TAGS))
    gold = torch.tensor([[TAGS.index("B-HP"), TAGS.index("E-HP"), 0]])
    alone = crf.nll(emissions, gold, torch.ones(1, 3, dtype=torch.bool))
    padded = torch.cat([emissions, torch.randn(1, 2, len(TAGS))], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    assert crf.nll(padded, torch.cat([gold, torch.zeros(1, 2, dtype=torch.long)], 1), mask).item() == pytest.approx(alone.item(), abs=1e-5)


# -- encoding --------------------------------------------------------------------------------

def test_char_units_keep_exact_offsets_and_lexicon_bits(trained):
    _, tokenizer, *_ = TaggerModel.load(trained[0])
    lexicons = LexiconFeatures({"brand": ["华为", "Anker"], "product": ["手机", "手机壳"]})
    encoder = TextEncoder(tokenizer, "char", lexicons)
    text = "Anker 手机壳，华为"
    encoded = encoder.encode(text)
    assert [text[s:e] for s, e in encoded.offsets] == ["A", "n", "k", "e", "r", "手", "机", "壳", "，", "华", "为"]
    bits = encoded.features
    brand_b, brand_e, product_b, product_m, product_e = 0, 2, 4, 5, 6
    assert bits[0, brand_b] and bits[4, brand_e] and bits[9, brand_b] and bits[10, brand_e]
    assert bits[5, product_b] and bits[6, product_e] and bits[6, product_m] and bits[7, product_e]  # 手机 and 手机壳 overlap
    assert token_tags(encoded.offsets, [Span(6, 9, "product")], "bieos")[5:8] == ["B-product", "I-product", "E-product"]


# -- augmentation -----------------------------------------------------------------------------

def test_augmentation_keeps_spans_on_their_surfaces():
    data = training_set()
    augmenter = Augmenter.from_data(
        AugmentConfig(substitute=0.5, synonyms=0.5, mention_dropout=0.2), data, {"brand": ["索尼", "罗技"]}, read_synonyms()
    )
    rng = random.Random(3)
    pools = augmenter.pools
    changed = dropped = 0
    for _ in range(20):
        for item in data:
            copy = augmenter.augment(item, rng)
            for surface, label in copy.span_texts():
                assert surface in pools[label]
            changed += copy.text != item.text
            dropped += len(copy.spans) < len(item.spans)
    assert changed > 50 and dropped > 10
    assert "索尼" in pools["brand"]


# -- the trained tiny tagger -------------------------------------------------------------------

def test_tiny_tagger_overfits_saves_reloads_and_extracts_exact_spans(trained):
    directory, data = trained
    tagger = Tagger.load(directory)
    assert (directory / "config.json").is_file() and (directory / "tagger.safetensors").is_file()
    meta = json.loads((directory / "skugraph.json").read_text())
    assert meta["tagger"]["tags"][0] == "O" and "B-brand" in meta["tagger"]["tags"]
    assert meta["tagger"]["lexicons"] == ["brand"] and meta["tagger"]["ngrams"] > 10
    assert (directory / "lexicons" / "brand.txt").read_text().split() == ["华为", "小米", "海尔"]
    predicted = tagger.predict([item.text for item in data])
    for item, spans in zip(data, predicted):
        assert {(s.start, s.end, s.label) for s in spans} == {(s.start, s.end, s.label) for s in item.spans}, item.text
        for span in spans:
            assert 0.0 < span.score <= 1.0
    long = tagger.encoder.encode(LONG_TITLE)
    assert len(long.ids) > tagger.config.window - 2  # really windowed
    assert tagger.evaluate(data).micro.f1 == 1.0
    # a reload gives the same emissions, and the mentions point at the listing's own characters
    again = Tagger.load(directory)
    a, b = tagger.scores([LONG_TITLE])[0].emissions, again.scores([LONG_TITLE])[0].emissions
    assert np.allclose(a, b, atol=1e-4)
    listing = Listing(id="x1", title=LONG_TITLE)
    mentions = TaggerExtractor(again).extract(listing)
    assert [(m.text, m.label) for m in mentions] == [(s, label) for s, label in data[-1].span_texts()]
    assert all(LONG_TITLE[m.start : m.end] == m.text and m.field == "title" for m in mentions)


def test_onnx_export_and_runtimes_agree(trained, tmp_path):
    import shutil

    from skugraph.tagging.runtime import INT8_FILE, ONNX_FILE, export_onnx

    directory, data = trained
    copy = tmp_path / "model"
    shutil.copytree(directory, copy)
    with pytest.raises(FileNotFoundError, match="export-onnx"):
        Tagger.load(copy, "onnx")
    assert export_onnx(copy) == [copy / ONNX_FILE, copy / INT8_FILE]
    texts = [item.text for item in data] + [LONG_TITLE]  # windows of several widths in one batch
    reference = Tagger.load(copy, "torch")
    onnx = Tagger.load(copy, "onnx")
    for a, b in zip(reference.scores(texts), onnx.scores(texts), strict=True):
        assert np.allclose(a.emissions, b.emissions, atol=1e-3)
    expected = [[s.key for s in spans] for spans in reference.predict(texts)]
    assert [[s.key for s in spans] for spans in onnx.predict(texts)] == expected
    assert Tagger.load(copy, "onnx-int8").evaluate(data).micro.f1 >= 0.9
    with pytest.raises(ValueError, match="unknown runtime"):
        Tagger.load(copy, "tensorrt")


def test_export_onnx_and_evaluate_with_a_runtime_from_the_cli(trained, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from skugraph.cli import app

    directory, data = trained
    copy = tmp_path / "model"
    shutil.copytree(directory, copy)
    runner = CliRunner()
    exported = runner.invoke(app, ["export-onnx", str(copy)])
    assert exported.exit_code == 0 and "tagger.int8.onnx" in exported.stdout
    write_doccano(data, tmp_path / "dev.jsonl")
    scored = runner.invoke(app, ["evaluate", "--model", str(copy), "--data", str(tmp_path / "dev.jsonl"), "--runtime", "onnx-int8", "--json"])
    assert scored.exit_code == 0 and json.loads(scored.stdout)["micro"]["f1"] >= 0.9
    missing = runner.invoke(app, ["evaluate", "--model", str(directory), "--data", str(tmp_path / "dev.jsonl"), "--runtime", "onnx"])
    assert missing.exit_code == 1 and "run `skugraph export-onnx" in missing.stderr


@pytest.mark.slow
def test_lora_and_frozen_layers(tmp_path):
    data = training_set()[:3]
    write_doccano(data, tmp_path / "train.jsonl")
    base = dict(train=tmp_path / "train.jsonl", base_model="scratch:tiny", epochs=2, batch_size=4, window=32)
    lora = train_tagger(TrainTaggerConfig(out=tmp_path / "lora", lora=4, **base))
    model, *_ = TaggerModel.load(lora.out)  # saved with the adapters merged: a plain encoder
    assert not any("lora" in name for name, _ in model.named_parameters())
    adalora = train_tagger(TrainTaggerConfig(out=tmp_path / "adalora", lora=4, lora_method="adalora", **base))
    model, *_ = TaggerModel.load(adalora.out)
    assert not any("lora" in name for name, _ in model.named_parameters())

    torch.manual_seed(0)
    frozen = train_tagger(TrainTaggerConfig(out=tmp_path / "frozen", freeze_layers=1, epochs=1, train=tmp_path / "train.jsonl",
                                            base_model=str(lora.out), batch_size=4, window=32))
    before, *_ = TaggerModel.load(lora.out)
    after, *_ = TaggerModel.load(frozen.out)
    b, a = before.encoder.state_dict(), after.encoder.state_dict()
    assert all(torch.equal(b[k], a[k]) for k in b if k.startswith(("embeddings.", "encoder.layer.0.")))
    assert not all(torch.equal(b[k], a[k]) for k in b if k.startswith("encoder.layer.1."))


def test_expected_calibration_error():
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.95, 0.95], [False, False]) == pytest.approx(0.95)


def test_bad_training_file_names_its_line(tmp_path):
    good = training_set()[:2]
    write_doccano(good, tmp_path / "train.jsonl")
    with (tmp_path / "train.jsonl").open("a") as handle:
        handle.write('{"text": "abc", "label": [[0, 9, "brand"]]}\n{"text": oops\n')
    skipped = []
    texts = read_labelled(tmp_path / "train.jsonl", on_error=lambda e: skipped.append(str(e)))
    assert len(texts) == 2 and len(skipped) == 2
    assert all("train.jsonl:line" in message for message in skipped)
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_labelled(Path(__file__))


def test_sample_catalogue_labels_are_exact():
    from skugraph.sample.generate import generate_labelled

    records, labels = generate_labelled()
    assert len(labels) == len(records)
    for record, label in zip(records, labels):
        assert label["text"] == record["title"]
        kinds = {kind for _, _, kind in label["label"]}
        assert "brand" in kinds, record["title"]
        previous_end = 0
        for start, end, kind in label["label"]:  # in order, inside the title, never overlapping
            assert previous_end <= start < end <= len(label["text"])
            previous_end = end


def test_bench_extract_runs_every_system_on_the_same_titles(trained, tmp_path):
    import shutil

    from skugraph.bench.extract import bench_extract

    directory, _ = trained
    copy = tmp_path / "model"
    shutil.copytree(directory, copy)
    dev_file = tmp_path / "dev.jsonl"
    write_doccano(trained[1], dev_file)
    report = bench_extract(copy, 40, systems=("hf-pipeline", "torch", "onnx-int8"), dev=dev_file)
    assert [r["system"] for r in report["results"]] == ["hf-pipeline", "torch", "onnx-int8"]
    assert all(r["titles"] == 40 and r["titles_per_s"] > 0 and r["peak_rss_mb"] > 50 for r in report["results"])
    assert report["results"][0]["x_hf_pipeline"] == 1.0 and (copy / "tagger.int8.onnx").is_file()
    limit = report["physical_limit"]
    assert limit["mflops_per_title"] > 0 and limit["titles_per_s"] > 0 and 0 < limit["bf16_gflops_at_model_shapes"]
    assert all(r["share_of_limit"] >= 0 for r in report["results"])
    assert "dev_f1" not in report["results"][0] and report["results"][1]["dev_f1"] == 1.0 and report["results"][2]["dev_f1"] >= 0.9


def test_bench_stream_extracts_with_a_tagger_when_given_one(trained):
    from skugraph.bench.stream import bench_stream

    tagged, rules = bench_stream(120, workers=2, model=trained[0]), bench_stream(120, workers=1)
    assert (tagged["extractor"], tagged["model"], rules["extractor"]) == ("tagger", str(trained[0]), "rules")
    assert tagged["extract_workers"] == 1  # a network runs in one process
    assert list(tagged["stages"]) == ["generate", "ingest", "extract", "fuse", "load"]
    assert tagged["stages"]["load"]["listings"] == 120 and tagged["stages"]["extract"]["facts"] > 120
    assert tagged["stages"]["extract"]["facts"] != rules["stages"]["extract"]["facts"]  # the tiny tagger reads other spans


def test_bench_serves_graph_is_built_with_the_tagger_it_serves(trained, tmp_path):
    """bench serve --tagger builds its graph with that tagger (as a shop's would be), in a cache of
    its own beside the rules' graph."""
    from skugraph.bench.serve_load import _model_digest, build_graph
    from skugraph.facts.io import read_facts

    graph = build_graph(30, tmp_path / "tagged", lambda _: None, trained[0])
    runs = {p.extractor for fact in read_facts(tmp_path / "tagged" / "facts.jsonl") for p in fact.provenance}
    assert graph.exists() and "tagger" in runs and "rules" not in runs, runs
    assert _model_digest(trained[0]) == _model_digest(trained[0]) != _model_digest(trained[0].parent)


def test_a_loaded_tagger_travels_to_worker_processes_as_its_directory(trained, tmp_path):
    import pickle

    from skugraph import pipeline
    from skugraph.extract import ExtractorConfig

    directory, data = trained
    tagger = Tagger.load(directory, "torch")
    assert len(pickle.dumps(tagger)) < 1000  # the directory and runtime, not the weights
    again = pickle.loads(pickle.dumps(tagger))
    texts = [item.text for item in data]
    assert [[s.key for s in spans] for spans in again.predict(texts)] == [[s.key for s in spans] for spans in tagger.predict(texts)]
    listings = tmp_path / "listings.jsonl"
    listings.write_text("".join(to_json_line(Listing(id=f"t{i}", title=text)) + "\n" for i, text in enumerate(texts * 3)), encoding="utf-8")
    config = ExtractorConfig("tagger", directory, runtime="torch")
    one = pipeline.extract(listings, tmp_path / "one.jsonl", tmp_path / "one-m.jsonl", config=config, batch_size=4)
    two = pipeline.extract(listings, tmp_path / "two.jsonl", tmp_path / "two-m.jsonl", config=config, batch_size=4, workers=2)
    assert one.mentions > 20 and one.mentions == two.mentions
    assert (tmp_path / "one-m.jsonl").read_bytes() == (tmp_path / "two-m.jsonl").read_bytes()


def test_the_tagger_reads_any_text_and_its_spans_stay_inside_it(trained):
    """Fuzzed text (any Unicode, empty, whitespace, control characters, long): no crash, every
    span inside its text, scores probabilities."""
    hypothesis = pytest.importorskip("hypothesis", reason="hypothesis (the dev extra) is not installed")
    from hypothesis import strategies as st

    tagger = Tagger.load(trained[0])

    @hypothesis.settings(max_examples=60, deadline=None, database=None)
    @hypothesis.given(texts=st.lists(st.text(st.characters(codec="utf-8"), max_size=120), min_size=1, max_size=8))
    def reads(texts):
        for text, spans in zip(texts, tagger.predict(texts), strict=True):
            assert all(0 <= s.start < s.end <= len(text) and 0.0 <= s.score <= 1.0 + 1e-6 for s in spans)

    reads()
