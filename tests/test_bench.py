import json
import subprocess
import sys
import time

import pytest

from skugraph.bench.load import bench_load
from skugraph.bench.stream import bench_stream
from skugraph.bench.tables import scale_summary
from skugraph.bench.workload import PeakMemory, synthetic_catalogue
from skugraph.results import save_record


def test_peak_memory_counts_child_processes():
    base = PeakMemory.sample()
    hold = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(3)"
    with PeakMemory(every=0.05) as memory:
        child = subprocess.Popen([sys.executable, "-c", hold])
        time.sleep(2)
        child.wait()
    assert memory.peak_mb > base + 250


def test_synthetic_update_changes_one_listing_in_a_hundred(tmp_path):
    assert synthetic_catalogue(tmp_path / "all.jsonl", 1000) == 1000
    assert synthetic_catalogue(tmp_path / "changed.jsonl", 1000, 0.01) == 10
    first, changed = (tmp_path / "all.jsonl").read_text().splitlines()[0], (tmp_path / "changed.jsonl").read_text().splitlines()[0]
    assert '"id": "bench-0"' in first and '"id": "bench-0"' in changed and first != changed


def test_bench_load_puts_our_loader_beside_ladybug_copy():
    report = bench_load(400, changed=0.05)
    assert report["repeats"] == 2 and report["ours_from_jsonl"]["same_graph"]
    assert report["same_graph_as_copy"] and report["graph"]["nodes"]["Product"] == 400
    assert report["ours"]["facts_per_s"] > 0 and report["ladybug_copy"]["facts_per_s"] > 0
    assert abs(report["ours_vs_copy"] - report["ladybug_copy"]["seconds"] / report["ours"]["seconds"]) < 0.05
    assert report["update"]["listings"] == 20 and 0 < report["update"]["facts"] < report["facts"]
    parts = report["ours"]["parts"]
    assert set(parts) == {"rows", "stage", "store", "open_close"} and all(value >= 0 for value in parts.values())
    assert abs(sum(parts.values()) - report["ours"]["seconds"]) < 0.05
    assert all(run["peak_rss_mb"] > 50 for run in (report["ours"], report["ladybug_copy"], report["update"]))


def test_bench_load_with_a_capped_cache_copies_the_baseline_in_pieces_to_the_same_graph(monkeypatch):
    from skugraph.graph import ladybug_store

    monkeypatch.setattr(ladybug_store, "COPY_SHARE_OF_POOL", 1e-4)  # 64 MB: pieces of about 6.7 KB of rows
    pieces = []
    given = ladybug_store.pieces_for_pool

    def counted(file, buffer_pool_mb):
        for piece in given(file, buffer_pool_mb):
            pieces.append(piece.name)
            yield piece

    monkeypatch.setattr(ladybug_store, "pieces_for_pool", counted)
    report = bench_load(300, changed=0.05, buffer_pool_mb=64, repeats=1)
    assert report["buffer_pool_mb"] == 64 and report["same_graph_as_copy"]
    assert sum(name.startswith("piece-") and "HAS_VALUE" in name for name in pieces) > 3


def test_bench_stream_reports_every_stage():
    report = bench_stream(300, workers=2)
    stages = report["stages"]
    assert list(stages) == ["generate", "ingest", "extract", "fuse", "load"]
    assert [stages[name]["listings"] for name in stages] == [300] * 5 and stages["extract"]["facts"] > 1000
    assert 0 < stages["load"]["facts"] <= stages["fuse"]["facts"]  # edges: the fused facts, each once
    assert report["peak_rss_mb"] == max(stage["peak_rss_mb"] for stage in stages.values()) > 50
    assert report["complete"] and report["extract_workers"] == 2


def test_bench_stream_fuses_without_completion_when_asked(monkeypatch):
    from skugraph.bench.tables import stream_summary
    from skugraph.fusion import stream
    from skugraph.fusion.completion import propose_from

    asked = []
    monkeypatch.setattr(stream, "propose_from", lambda *args, **kwargs: asked.append(1) or propose_from(*args, **kwargs))
    completed = bench_stream(200, workers=1)
    assert asked == [1]
    bare = bench_stream(200, workers=1, complete=False)
    assert asked == [1] and not bare["complete"] and bare["stages"]["load"]["listings"] == 200  # completion did not run
    assert bare["stages"]["extract"]["facts"] == completed["stages"]["extract"]["facts"]
    assert "without KG completion" in stream_summary(bare)[0].title and "rules in 1 process" in stream_summary(bare)[0].title


@pytest.mark.slow
def test_bench_api_runs_schemathesis_against_a_served_graph(demo_graph):
    pytest.importorskip("schemathesis", reason="schemathesis (the dev extra) is not installed")
    from skugraph.bench.service import bench_api

    report = bench_api(demo_graph, max_examples=3)
    assert report["operations"] == 10 and report["test_cases"]["generated"] > 20
    assert report["server_errors"] == 0 and report["schemathesis"]["exit_code"] == 0
    before = demo_graph.stat().st_mtime_ns
    writes = bench_api(demo_graph, max_examples=3, writable=True)  # POST/DELETE /listings and GET /changes as well
    assert writes["operations"] == 13 and writes["server_errors"] == 0, writes["failures"]
    assert writes["schemathesis"]["exit_code"] == 0, writes["failures"]
    assert demo_graph.stat().st_mtime_ns == before  # it wrote to a copy


def test_save_record_writes_readable_json_in_a_new_folder(tmp_path):
    path = tmp_path / "results" / "x.json"
    save_record(path, {"command": "skugraph bench x", "名": 1.5})
    assert path.read_text(encoding="utf-8") == '{\n  "command": "skugraph bench x",\n  "名": 1.5\n}\n'


def test_bench_load_command_prints_the_table_and_saves_the_figures(tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app

    out = tmp_path / "load.json"
    result = CliRunner().invoke(app, ["bench", "load", "--listings", "200", "--changed", "0.05", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["command"].startswith("skugraph ") and saved["listings"] == 200
    assert f"200 listings, {saved['facts']} facts" in result.stdout and "LadybugDB COPY (baseline)" in result.stdout
    assert f"update of {saved['update']['listings']} listings (5%)" in result.stdout and f"wrote {out}" in result.stdout


def test_tables_show_every_run_of_a_report():
    from rich.console import Console

    report = {"listings": 1000, "same_facts_everywhere": True,
              "runs": [{"engine": "local", "workers": 1, "output": "jsonl", "seconds": 2.0, "listings_per_s": 500},
                       {"engine": "ray", "workers": 2, "output": "parquet", "seconds": 1.5, "listings_per_s": 667}]}
    console = Console(width=200, record=True)
    for item in scale_summary(report):
        console.print(item)
    text = console.export_text()
    assert "1,000 listings, rules; same facts everywhere: True" in text
    assert "local" in text and "667" in text and "–" in text  # a run without a steady rate shows a dash
