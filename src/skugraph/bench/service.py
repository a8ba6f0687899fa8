"""``skugraph bench api`` and ``demo``: schemathesis against ``skugraph serve``, and the wall
time of ``skugraph demo`` in a fresh work directory."""

from __future__ import annotations

import json
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from skugraph.bench.workload import PeakMemory


def copy_graph(db: Path, directory: Path) -> Path:
    """A copy of the graph ``db`` and its write-ahead log (not its keys or write log) in
    ``directory``, for a bench that writes."""
    directory.mkdir(parents=True, exist_ok=True)
    for part in (db, db.with_name(db.name + ".wal")):
        if part.is_file():
            shutil.copy2(part, directory / part.name)
    return directory / db.name


class Server:
    """``skugraph serve`` with ``options`` on a free localhost port, its output in a log file."""

    def __init__(self, db: Path, log: Path, *options: str):
        self.db, self.log, self.options, self.process = db, log, options, None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 600) -> None:
        """Start it and wait until it answers (raises naming its log's last lines if it ends)."""
        with self.log.open("a", encoding="utf-8") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "skugraph", "serve", "--db", str(self.db), "--port", str(self.port),
                                             *self.options], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/openapi.json", timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"skugraph serve ended ({self.process.returncode}): "
                                       f"{self.log.read_text(encoding='utf-8')[-800:]}") from None
                time.sleep(0.5)
        raise RuntimeError(f"skugraph serve did not answer in {wait:.0f} s")

    def stop(self, sig: int = signal.SIGTERM, wait: float = 120) -> int:
        """Send ``sig`` and wait for the end (killed after ``wait`` seconds); returns the exit status."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def get(self, path: str, key: str, **params: Any) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(f"{self.url}{path}{query}", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def post(self, path: str, key: str, body: str, idempotency: str) -> tuple[int, dict, bool]:
        """Status, answer and whether it was a replay."""
        request = urllib.request.Request(f"{self.url}{path}", data=body.encode("utf-8"), method="POST",
                                         headers={"Authorization": f"Bearer {key}", "content-type": "application/json",
                                                  "Idempotency-Key": idempotency})
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return answer.status, json.loads(answer.read()), answer.headers.get("Idempotent-Replayed") == "true"
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), False


def bench_api(db: Path | None = None, max_examples: int = 100, seed: int = 1, progress=None, writable: bool = False) -> dict:
    """Schemathesis against ``skugraph serve`` over a graph (default: the sample catalogue built
    with the rules), every check on: generated valid and invalid requests to every operation of
    the OpenAPI schema. ``writable``: served with ``--writable`` over a copy of the graph, so the
    write endpoints are generated against too. Returns its run report with the server errors (5xx) counted."""
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
        elif writable:  # the generated writes change the graph: a copy of it
            db = copy_graph(Path(db), work / "copy")
        server = Server(Path(db), work / "serve.log", *(["--writable"] if writable else []))
        server.start(wait=60)
        url = f"{server.url}/openapi.json"
        try:
            say(f"schemathesis against {url}…")
            # any body may be over the server's size limit: 413, documented, is an answer to valid data and a refusal of
            # invalid data (a batch of more listings than allowed is refused for its size once its listings are long enough)
            (work / "schemathesis.toml").write_text(
                '[checks.positive_data_acceptance]\nexpected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]\n'
                '[checks.negative_data_rejection]\nexpected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", '
                '"422", "428", "429", "5xx"]\n', encoding="utf-8")
            command = [schemathesis, "run", url, "--checks", "all", "--max-examples", str(max_examples), "--seed", str(seed),
                       "--report-json-path", str(work / "run.json")]
            done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work)  # its cache stays out of the repo
        finally:
            server.stop(wait=180)  # it answers the writes still queued first (large generated batches take a while)
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
