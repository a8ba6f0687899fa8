import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import ingest
from skugraph.sample.generate import CATALOGUE

pytest.importorskip("ray", reason="the scale extra (Ray) is not installed: pip install skugraph[scale]")


def test_extract_on_a_local_ray_cluster_with_two_workers_writes_what_the_local_engine_writes(tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app

    ingest([CATALOGUE], tmp_path / "listings.jsonl", tmp_path / "rejects.jsonl")
    local = pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "local.jsonl", tmp_path / "local-mentions.jsonl", batch_size=32)
    done = CliRunner().invoke(app, ["extract", str(tmp_path / "listings.jsonl"), "--out", str(tmp_path / "ray.jsonl"), "--mentions",
                                    str(tmp_path / "ray-mentions.jsonl"), "--engine", "ray", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert f"extracted {local.facts} facts ({local.mentions} mentions) from {local.listings} listings" in done.stdout
    assert local.facts > 2000
    assert (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "ray.jsonl").read_bytes()
    assert (tmp_path / "local-mentions.jsonl").read_bytes() == (tmp_path / "ray-mentions.jsonl").read_bytes()
    with pytest.raises(ValueError, match="engine must be local or ray"):
        pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "x.jsonl", engine="spark")


def test_bench_scale_runs_the_local_engine_and_ray_on_the_same_listings():
    from skugraph.bench import bench_scale

    report = bench_scale(300, workers=(2,))
    assert [(r["engine"], r["workers"]) for r in report["runs"]] == [("local", 1), ("ray", 2)]
    assert report["same_facts_everywhere"] and all(r["listings_per_s"] > 0 and r["facts"] > 1000 for r in report["runs"])
    assert abs(report["runs"][1]["steady_per_worker"] - report["runs"][1]["steady_listings_per_s"] / 2) <= 1
