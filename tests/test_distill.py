"""Distillation (skugraph.tagging.distill): a tiny teacher (2 layers, with its CRF member) distilled
into a 1-layer student that saves, loads as the teacher's kind of tagger and agrees with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TITLES

from skugraph.corpus.ner import LabelledText, write_doccano
from skugraph.tagging.crf_member import CRF_FILE
from skugraph.tagging.distill import DistillConfig, distill, student_network, teacher_targets, token_targets
from skugraph.tagging.ensemble import EnsembleTagger
from skugraph.tagging.tagger import Tagger, TaggerExtractor, load_tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

DATA = [LabelledText.from_words(t, e) for t, e in TINY_TITLES]
UNLABELLED = [item.text for item in DATA] + ["华为 手机壳 黑色", "小米 冰箱 白色 家用", "海尔 电热水器 银色", "美的 蓝色 智能手机"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A tiny teacher: a 2-layer network beside its CRF member, trained and scored on the titles."""
    directory = tmp_path_factory.mktemp("teacher")
    write_doccano(DATA, directory / "train.jsonl")
    (directory / "unlabelled.txt").write_text("\n".join(UNLABELLED) + "\n", encoding="utf-8")
    config = TrainTaggerConfig(train=directory / "train.jsonl", dev=directory / "train.jsonl", out=directory / "model",
                               base_model="scratch:tiny", epochs=3, batch_size=4, patience=3, learning_rate=1e-3,
                               head_learning_rate=1e-2, window=16, stride=8)
    train_tagger(config)
    return directory / "model"


def _config(teacher: Path, out: Path, **settings) -> DistillConfig:
    defaults = {"layers": 1, "batch_size": 4, "learning_rate": 2e-3, "head_learning_rate": 1e-2, "seed": 0}
    return DistillConfig(teacher=teacher, unlabelled=teacher.parent / "unlabelled.txt", out=out, **{**defaults, **settings})


def _disagreement(teacher, student: Tagger) -> float:
    """Mean KL divergence of the student's token probabilities from the teacher's ensemble targets."""
    wanted = teacher_targets(teacher, UNLABELLED, "ensemble")
    found = teacher_targets(student, UNLABELLED, "network")
    return float(np.mean([(p * (np.log(np.clip(p, 1e-9, 1)) - np.log(np.clip(q, 1e-9, 1)))).sum(1).mean()
                          for p, q in zip(wanted, found, strict=True)]))


def test_distil_save_load_round_trip(teacher, tmp_path):
    out = tmp_path / "student"
    distilled = distill(_config(teacher, out, dev=teacher.parent / "train.jsonl", epochs=2))
    meta = json.loads((out / "skugraph.json").read_text("utf-8"))
    section = meta["distillation"]
    assert section == distilled.record
    assert section["teacher"]["path"] == str(teacher.resolve()) and section["teacher"]["kind"] == "ensemble"
    assert section["teacher"]["layers"] == 2 and section["layers"] == 1
    assert json.loads((out / "config.json").read_text("utf-8"))["num_hidden_layers"] == 1
    assert section["unlabelled"]["texts"] == len(UNLABELLED) and section["dev_f1"] is not None
    assert (out / CRF_FILE).is_file() and meta["tagger"]["crf"] is False and "span_scorer" in meta["ensemble"]
    student = load_tagger(out, "torch")
    assert isinstance(student, EnsembleTagger) == meta["ensemble"]["use"]
    assert student.evaluate(DATA).micro.f1 == pytest.approx(section["dev_f1"])
    network = student.neural if isinstance(student, EnsembleTagger) else student
    assert len(network.model.encoder.encoder.layer) == 1
    found = student.predict(UNLABELLED)
    assert len(found) == len(UNLABELLED) and all(0 < s.score <= 1 for spans in found for s in spans)
    # its facts name another model than the teacher's, though it keeps the teacher's training record
    assert TaggerExtractor(student).version != TaggerExtractor(load_tagger(teacher, "torch")).version


def test_training_makes_the_student_agree_with_its_teacher(teacher, tmp_path):
    ensemble = load_tagger(teacher, "torch")
    assert isinstance(ensemble, EnsembleTagger)
    start = Tagger(student_network(ensemble.neural.model, 1), ensemble.neural.tokenizer, ensemble.neural.lexicon_words,
                   ensemble.neural.ngrams, bf16=False)
    before = _disagreement(ensemble, start)
    distilled = distill(_config(teacher, tmp_path / "student", keep_crf=False, gold_weight=0.0, epochs=15))
    assert type(distilled.student) is Tagger and not (tmp_path / "student" / CRF_FILE).exists()
    after = _disagreement(ensemble, load_tagger(tmp_path / "student", "torch"))
    assert after < 0.5 * before


def test_a_crf_student_learns_the_teachers_tags_and_runs_alone(teacher, tmp_path):
    """The CRF student: trained on the teacher's tags of the unlabelled texts, saved as a
    directory of its own kind that load_tagger, pickling, the extractor and the CLI all take."""
    import pickle

    from typer.testing import CliRunner

    from skugraph.cli import app
    from skugraph.records import Listing
    from skugraph.tagging.crf_tagger import CrfTagger

    out = tmp_path / "crf"
    distilled = distill(_config(teacher, out, student="crf", dev=teacher.parent / "train.jsonl"))
    meta = json.loads((out / "skugraph.json").read_text("utf-8"))
    assert meta["kind"] == "crf-tagger" and meta["distillation"] == distilled.record
    assert distilled.record["student"] == "crf" and distilled.record["tagged_texts"] == len(UNLABELLED)
    assert not (out / "tagger.safetensors").exists() and (out / CRF_FILE).is_file()
    student = load_tagger(out)
    assert type(student) is CrfTagger and student.config.temperature == meta["calibration"]["temperature"]
    teacher_spans = [[s.key for s in spans] for spans in load_tagger(teacher, "torch").predict(UNLABELLED)]
    student_spans = [[s.key for s in spans] for spans in student.predict(UNLABELLED)]
    assert sum(map(len, teacher_spans)) >= len(UNLABELLED)
    assert student_spans == teacher_spans  # no gold texts given: it learned the teacher's tags of every text
    assert student.evaluate(DATA).micro.f1 == pytest.approx(distilled.record["dev_f1"])
    scores = student.scores(UNLABELLED)
    assert all(np.allclose(student.marginals(s).sum(1), 1.0) for s in scores)
    assert all(0 < s.score <= 1 for spans in student.decode_many(scores) for s in spans)
    again = pickle.loads(pickle.dumps(student))
    assert [[s.key for s in spans] for spans in again.predict(UNLABELLED)] == student_spans
    extractor = TaggerExtractor(student)
    assert extractor.version.endswith("-crf")
    mentions = extractor.extract(Listing("l1", UNLABELLED[0]))
    assert [(m.start, m.end, m.label) for m in mentions] == teacher_spans[0]
    with pytest.raises(ValueError, match="no smaller student"):
        distill(_config(out, tmp_path / "again", student="crf"))
    with pytest.raises(ValueError, match="no network to export"):
        distill(_config(teacher, tmp_path / "int8", student="crf", int8=True))
    from skugraph.bench.stream import bench_stream

    streamed = bench_stream(40, workers=2, model=out, complete=False)  # a CRF runs on one core: in worker processes
    assert streamed["extract_workers"] == 2 and streamed["stages"]["extract"]["facts"] > 40
    refused = CliRunner().invoke(app, ["export-onnx", str(out)])
    assert refused.exit_code != 0 and "no network to export" in refused.output and "Traceback" not in refused.output
    refused = CliRunner().invoke(app, ["bench", "extract", "--model", str(out), "--out", str(tmp_path / "bench.json")])
    assert refused.exit_code != 0 and "benchmarks/distill.py --kind crf" in refused.output and not (tmp_path / "bench.json").exists()
    assert distilled.record["trained_on"] == "teacher"  # no gold texts given
    spaced = [LabelledText(DATA[0].text + " ", DATA[0].spans), *DATA[1:]]  # the unlabelled file's line is stripped
    write_doccano(spaced, tmp_path / "train.jsonl")
    done = CliRunner().invoke(app, ["distill", "--teacher", str(teacher), "--unlabelled", str(teacher.parent / "unlabelled.txt"),
                                    "--out", str(tmp_path / "cli"), "--student", "crf", "--train", str(tmp_path / "train.jsonl"),
                                    "--dev", str(teacher.parent / "train.jsonl")])
    assert done.exit_code == 0, done.output
    assert "a CRF alone" in done.output and type(load_tagger(tmp_path / "cli")) is CrfTagger
    section = json.loads((tmp_path / "cli" / "skugraph.json").read_text("utf-8"))["distillation"]
    assert section["tagged_texts"] == len(UNLABELLED) - len(DATA) and section["gold"]["texts"] == len(DATA)  # gold tags where given
    by_training = section["dev_f1_by_training"]  # with gold and dev, a CRF of the gold alone competes on dev
    assert set(by_training) == {"gold+teacher", "gold"}
    assert section["dev_f1"] == by_training[section["trained_on"]] == max(by_training.values())


def test_label_serve_retrains_a_crf_student_as_a_crf_alone(teacher, tmp_path):
    from skugraph.labelling.backend import retrain_crf
    from skugraph.tagging.crf_tagger import CrfTagger

    student = distill(_config(teacher, tmp_path / "crf", student="crf")).student
    retrained = retrain_crf(student, DATA)
    assert type(retrained) is CrfTagger and retrained.config.temperature == student.config.temperature
    assert retrained.crf.features.window == student.crf.features.window
    found = [[s.key for s in spans] for spans in retrained.predict([d.text for d in DATA])]
    assert found == [[(s.start, s.end, s.label) for s in d.spans] for d in DATA]  # it learned the annotations


def test_a_tokens_target_is_the_product_of_its_characters_spread():
    tags = ["O", "B-x", "I-x", "E-x", "S-x"]
    chars = np.full((4, 5), 0.01)
    chars[0, 0] = chars[1, 1] = chars[2, 2] = chars[3, 3] = 0.96  # O, then B-x I-x E-x
    one_each = token_targets(chars, [(0, 1), (1, 2), (2, 3), (3, 4)], tags)
    assert np.allclose(one_each, chars)
    whole = token_targets(chars, [(0, 1), (1, 4)], tags)  # "xyz" as one token: B I E reads as S-x
    assert np.allclose(whole.sum(1), 1.0) and whole[1].argmax() == tags.index("S-x") and whole[1].max() > 0.95
    opening = token_targets(chars, [(1, 3)], tags)  # B I: the token opens a longer span, B-x
    assert opening[0].argmax() == tags.index("B-x")


def test_the_student_must_be_smaller_than_its_teacher(teacher, tmp_path):
    with pytest.raises(ValueError, match="1 to 1 layers"):
        distill(_config(teacher, tmp_path / "student", layers=2))


def test_the_command_says_what_is_wrong_without_a_traceback(teacher, tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app

    done = CliRunner().invoke(app, ["distill", "--teacher", str(teacher), "--unlabelled", str(teacher.parent / "unlabelled.txt"),
                                    "--out", str(tmp_path / "student"), "--layers", "3"])
    assert done.exit_code == 1 and "1 to 1 layers (the teacher has 2), not 3" in done.output
    assert "Traceback" not in done.output
