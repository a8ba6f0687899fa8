"""``skugraph bench api`` and ``demo``: schemathesis against ``skugraph serve``, and the wall
time of ``skugraph demo`` in a fresh work directory."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skugraph.bench.workload import PeakMemory


def bench_api(db: Path | None = None, max_examples: int = 100, seed: int = 1, progress=None, writable: bool = False) -> dict:
    """Schemathesis against ``skugraph serve`` over a graph (default: the sample catalogue built
    with the rules), every check on: generated valid and invalid requests to every operation of
    the OpenAPI schema. ``writable``: served with ``--writable`` over a copy of the graph, so the
    write endpoints are generated against too. Returns its run report with the server errors (5xx) counted."""
    import shutil
    import socket
    import urllib.request

    say = progress or (lambda text: None)
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if schemathesis is None:
        raise ValueError("schemathesis is not installed (pip install 'skugraph[dev]')")
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-api-") as scratch:
        work = Path(scratch)
        if db is None:
            from skugraph.pipeline import BuildConfig, build

            say("building the sample graph…")
            db = build(BuildConfig(workdir=work / "graph", extractor="rules", fresh=True)).config.graph
        elif writable:  # the generated writes change the graph: a copy of it, with its write-ahead log
            copy = work / "copy" / Path(db).name
            copy.parent.mkdir()
            for part in Path(db).parent.glob(f"{Path(db).name}*"):
                if part.is_file():
                    shutil.copy2(part, copy.parent / part.name)
            db = copy
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/openapi.json"
        server = subprocess.Popen([sys.executable, "-m", "skugraph", "serve", "--db", str(db), "--port", str(port),
                                   *(["--writable"] if writable else [])],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(url, timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None:
                        raise ValueError(f"skugraph serve stopped: {server.stderr.read()[-500:]}") from None
                    time.sleep(0.5)
            say(f"schemathesis against {url}…")
            # a schema-valid body may still be over the server's size limit: 413, documented, accepts it as an answer
            (work / "schemathesis.toml").write_text('[checks.positive_data_acceptance]\nexpected-statuses = '
                                                    '["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]\n', encoding="utf-8")
            command = [schemathesis, "run", url, "--checks", "all", "--max-examples", str(max_examples), "--seed", str(seed),
                       "--report-json-path", str(work / "run.json")]
            done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work)  # its cache stays out of the repo
        finally:
            server.terminate()  # it answers the writes still queued first (large generated batches take a while)
            try:
                server.wait(timeout=180)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if not (work / "run.json").is_file():
            raise ValueError(f"schemathesis wrote no report: {done.stdout[-1000:]}{done.stderr[-1000:]}")
        run = json.loads((work / "run.json").read_text("utf-8"))
    server_errors = sum(f["count"] for f in run["failures"] if f["code"] == "ST101")
    return {"server_errors": server_errors, "writable": writable, "operations": run["operations"]["tested"], "test_cases": run["test_cases"],
            "failures": run["failures"], "warnings": {k: v for k, v in run["warnings"].items() if v},
            "schemathesis": {"version": run["schemathesis_version"], "command": " ".join(["schemathesis", *command[1:-2]]),
                             "seed": seed, "exit_code": run["exit_code"], "seconds": round(run["running_time"], 1)}}


def bench_demo(workdir: Path | None = None) -> dict:
    """Wall time and peak memory of ``skugraph demo`` (pretraining, fine-tuning, extraction,
    fusion, loading) in a fresh work directory, as `make demo` runs it after installing."""
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-demo-") as scratch:
        target = workdir or Path(scratch) / "demo"
        with PeakMemory() as memory:
            began = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "skugraph", "demo", "--workdir", str(target), "--retrain"],
                                  capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"skugraph demo failed: {done.stderr.strip()[-500:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(memory.peak_mb), "cpu": platform.processor() or platform.machine()}
