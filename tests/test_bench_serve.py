"""``skugraph bench serve`` for real: locust against a writable server on the sample graph for a
few seconds a mix, then a SIGKILL under writes and the acknowledged writes looked for."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from skugraph.pipeline import BuildConfig, build

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ROOT / ".venv-locust" / "bin" / "locust").is_file(),
                                 reason="locust is not installed in .venv-locust (make locust-venv)")]


def test_bench_serve_counts_requests_and_finds_every_acknowledged_write(tmp_path):
    graph = build(BuildConfig(workdir=tmp_path / "graph", extractor="rules", fresh=True, complete=False)).config.graph
    before = graph.stat().st_mtime_ns
    out = tmp_path / "serve.json"
    done = subprocess.run([sys.executable, "-m", "skugraph", "bench", "serve", "--db", str(graph), "--seconds", "3",
                           "--users", "2", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["command"].startswith("skugraph bench serve --db") and report["graph_built_with"] is None
    assert graph.stat().st_mtime_ns == before  # the bench wrote into a copy
    assert report["products"] > 100
    assert 0 < report["python_loop_seconds"]["before"] < 10 and 0 < report["python_loop_seconds"]["after"] < 10
    assert "machine speed: a fixed Python loop took" in done.stdout
    reads, writes, both = (report["mixes"][name] for name in ("reads", "writes", "both"))
    for name in ("GET /search", "GET /products/{id}", "GET /recommend/{id}"):
        assert reads["requests"][name]["requests"] > 0 and reads["requests"][name]["errors"] == 0
        assert both["requests"][name]["requests"] > 0
    assert reads["reads"]["requests"] == reads["requests"]["Aggregated"]["requests"] and reads["reads"]["p99_ms"] > 0
    assert writes["requests"]["POST /listings"]["requests"] > 0 and "reads" not in writes
    assert both["requests"]["POST /listings"]["requests"] > 0
    assert both["reads"]["requests"] == both["requests"]["Aggregated"]["requests"] - both["requests"]["POST /listings"]["requests"]
    assert all(mix["requests"]["Aggregated"]["errors"] == 0 for mix in report["mixes"].values()), report["mixes"]
    assert report["write_listings_per_s"]["writes"] > 0
    kill = report["sigkill"]
    assert kill["exit_status"] == -signal.SIGKILL
    if not kill["restarted"]:
        pytest.xfail(kill["restart_error"])  # LadybugDB 0.22's checkpoint gap (docs/guides/search-api.md)
    assert kill["acknowledged_writes"] > 0
    assert kill["in_changes"] == kill["in_graph"] == kill["retries_replayed"] == kill["acknowledged_writes"]
    assert kill["lost"] == 0 and kill["duplicates"] == 0
