import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import ingest, load_listings
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
    assert list(pipeline.read_facts(tmp_path / "ray.parquet")) == list(pipeline.read_facts(tmp_path / "local.parquet"))
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
    assert list(pipeline.read_facts(tmp_path / "ray.parquet")) == list(pipeline.read_facts(tmp_path / "local.parquet"))


def test_bench_scale_runs_the_local_engine_and_ray_on_the_same_listings(ray_cluster):
    from skugraph.bench import bench_scale

    report = bench_scale(300, workers=(2,))
    assert [(r["engine"], r["workers"]) for r in report["runs"]] == [("local", 1), ("ray", 2)]
    assert report["same_facts_everywhere"] and all(r["listings_per_s"] > 0 and r["facts"] > 1000 for r in report["runs"])
    assert abs(report["runs"][1]["steady_per_worker"] - report["runs"][1]["steady_listings_per_s"] / 2) <= 1
