import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import ingest, load_listings
from skugraph.facts.io import read_facts
from skugraph.sample.generate import CATALOGUE
from skugraph.tables import read_rows

pytest.importorskip("ray", reason="the scale extra (Ray) is not installed: pip install skugraph[scale]")


@pytest.fixture(scope="module")
def ray_cluster():
    """One real local Ray instance for the module (3 CPUs: two workers and the reader or trainer)."""
    import ray

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def listings(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "listings.jsonl"
    ingest([CATALOGUE], path)
    return path


def test_extract_on_a_local_ray_cluster_with_two_workers_writes_what_the_local_engine_writes(ray_cluster, listings, tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app

    local = pipeline.extract(listings, tmp_path / "local.jsonl", tmp_path / "local-mentions.jsonl", batch_size=32)
    done = CliRunner().invoke(app, ["extract", str(listings), "--out", str(tmp_path / "ray.jsonl"), "--mentions",
                                    str(tmp_path / "ray-mentions.jsonl"), "--engine", "ray", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert f"extracted {local.facts} facts ({local.mentions} mentions) from {local.listings} listings" in done.stdout
    assert local.facts > 2000
    assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
    assert (tmp_path / "local-mentions.jsonl").read_bytes() == (tmp_path / "ray-mentions.jsonl").read_bytes()
    with pytest.raises(ValueError, match="engine must be local or ray"):
        pipeline.extract(listings, tmp_path / "x.jsonl", engine="spark")


def test_ray_workers_read_parquet_shards_and_write_parquet_parts_equal_to_the_local_engine(ray_cluster, listings, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    rows = [listing.to_dict() for listing in load_listings(listings)]
    for number, start in enumerate(range(0, len(rows), 100)):
        pq.write_table(pa.Table.from_pylist(rows[start : start + 100]), shards / f"listings-{number}.parquet")
    local = pipeline.extract(listings, tmp_path / "local.parquet", tmp_path / "local-mentions.parquet", batch_size=32)
    on_ray = pipeline.extract(shards, tmp_path / "ray.parquet", tmp_path / "ray-mentions.parquet", batch_size=32,
                              engine="ray", workers=2)
    assert (on_ray.listings, on_ray.mentions, on_ray.facts, on_ray.by_predicate, on_ray.rejects) == (
        local.listings, local.mentions, local.facts, local.by_predicate, [])
    assert list(read_facts(tmp_path / "ray.parquet")) == list(read_facts(tmp_path / "local.parquet"))
    assert [row for *_, row in read_rows(tmp_path / "ray-mentions.parquet")] == [row for *_, row in read_rows(tmp_path / "local-mentions.parquet")]


def test_ray_leaves_out_bad_listings_with_file_id_and_field_and_keeps_the_good_ones(ray_cluster, listings, tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app

    lines = listings.read_text("utf-8").splitlines()
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_text("\n".join(lines[:150]) + "\n", "utf-8")
    bad = [json.dumps({"id": "bad-1", "title": 5}), "[1, 2]", '{"id": "bad-3"']
    (shards / "b.jsonl").write_text("\n".join(lines[150:200] + bad + lines[200:]) + "\n", "utf-8")
    done = CliRunner().invoke(app, ["extract", str(shards), "--out", str(tmp_path / "ray.parquet"), "--engine", "ray", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert f"{shards / 'b.jsonl'}: listing 'bad-1', field title: expected text, got int" in done.stderr
    assert "a record is a JSON list" in done.stderr and "broken JSON" in done.stderr
    assert "3 listing(s) not valid" in done.stderr
    pipeline.extract(listings, tmp_path / "local.parquet")
    assert list(read_facts(tmp_path / "ray.parquet")) == list(read_facts(tmp_path / "local.parquet"))


def test_bench_scale_runs_the_local_engine_and_ray_on_the_same_listings(ray_cluster):
    from skugraph.bench.stream import bench_scale

    report = bench_scale(300, workers=(2,))
    assert [(r["engine"], r["workers"], r["output"]) for r in report["runs"]] == [("local", 1, "jsonl"), ("ray", 2, "jsonl"), ("ray", 2, "parquet")]
    assert report["same_facts_everywhere"] and all(r["listings_per_s"] > 0 and r["facts"] > 1000 for r in report["runs"])
    assert abs(report["runs"][1]["steady_per_worker"] - report["runs"][1]["steady_listings_per_s"] / 2) <= 1


def test_ray_train_fine_tunes_a_tagger_on_two_workers_as_one_process_would_with_their_batches_together(ray_cluster, tmp_path):
    """Two equal-length texts: two workers with a batch of one each average the same gradient one
    process gets from a batch of both, so the weights after training agree."""
    import torch
    from typer.testing import CliRunner

    from skugraph.cli import app
    from skugraph.corpus.ner import LabelledText, Span, write_doccano
    from skugraph.tagging.model import TaggerModel
    from skugraph.tagging.tagger import Tagger
    from skugraph.tagging.train import TrainTaggerConfig, train_tagger

    texts = [LabelledText("华为蓝色手机", (Span(0, 2, "brand"), Span(2, 4, "colour"))),
             LabelledText("小米黑色手表", (Span(0, 2, "brand"), Span(2, 4, "colour")))]
    write_doccano(texts, tmp_path / "train.jsonl")
    settings = dict(train=tmp_path / "train.jsonl", base_model="scratch:tiny", epochs=4, dropout=0.0, precision="fp32",
                    window=16, learning_rate=1e-3)
    train_tagger(TrainTaggerConfig(out=tmp_path / "local", batch_size=2, **settings))
    done = CliRunner().invoke(app, ["train", "tagger", "--train", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "ray"),
                                    "--base-model", "scratch:tiny", "--epochs", "4", "--dropout", "0", "--precision", "fp32",
                                    "--window", "16", "--learning-rate", "1e-3", "--batch-size", "1", "--engine", "ray", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert "trained 4 epochs" in done.stdout and "2 processes" in done.stdout
    local, *_ = TaggerModel.load(tmp_path / "local")
    on_ray, *_ = TaggerModel.load(tmp_path / "ray")
    for (name, a), b in zip(local.state_dict().items(), on_ray.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)
    assert len(Tagger.load(tmp_path / "ray").predict(["华为蓝色手机"])) == 1


def test_ray_train_pretrains_on_two_workers_and_the_model_loads(ray_cluster, tmp_path, monkeypatch):
    from transformers import AutoModelForMaskedLM
    from typer.testing import CliRunner

    from skugraph.cli import app

    monkeypatch.setenv("SKUGRAPH_CACHE", str(tmp_path / "cache"))
    done = CliRunner().invoke(app, ["pretrain", "--corpus", str(CATALOGUE), "--out", str(tmp_path / "encoder"), "--base-model",
                                    "scratch:tiny", "--steps", "4", "--batch-size", "4", "--vocab-size", "400", "--max-length", "48",
                                    "--precision", "fp32", "--engine", "ray", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert "pretrained 4 steps" in done.stdout
    meta = json.loads((tmp_path / "encoder" / "skugraph.json").read_text("utf-8"))
    assert meta["processes"] == 2 and meta["steps"] == 4 and meta["tokens_seen"] > 0
    assert AutoModelForMaskedLM.from_pretrained(tmp_path / "encoder").config.num_hidden_layers == 2
