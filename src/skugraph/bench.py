"""Speed benchmarks (``skugraph bench …``), each printing its figures beside a baseline run
in the same call:

- ``extract``: titles per second and peak memory of every way to run one tagger on the same
  titles: Hugging Face ``pipeline("token-classification")`` (the same encoder and classifier
  as a ``BertForTokenClassification``, without our gazetteer and bigram features and CRF),
  and our ``torch``, ``torch-bf16``, ``onnx`` and ``onnx-int8`` runtimes. Each runs in a
  process of its own (so its peak RSS is its own): it loads the model, warms up on a few
  titles, then tags every title; model loading is not timed.
- ``load``: facts per second of our loader against LadybugDB's own ``COPY`` of the same rows,
  and the cost of an incremental update of 1% of the listings against the full load.
- ``stream``: extraction of a million generated listings, with the peak memory of all its
  processes.
- ``demo``: the wall time of ``skugraph demo`` in a fresh work directory.
- ``scale``: extraction on a local Ray instance with 1 and 2 workers, beside the local engine.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from skugraph.tagging.runtime import INT8_FILE, ONNX_FILE, RUNTIMES, export_onnx

SYSTEMS = ("hf-pipeline", *RUNTIMES)
WARM_UP = 64


def titles_for(count: int, titles: Path | None = None) -> list[str]:
    """``count`` titles: lines of ``titles`` (cycled), or the sample catalogue's titles cycled."""
    if titles is not None:
        lines = [line.strip() for line in titles.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{titles}: no titles")
    else:
        from skugraph.sample.generate import generate

        lines = [record["title"] for record in generate()]
    return [lines[i % len(lines)] for i in range(count)]


def _hf_model(model_dir: Path, out: Path) -> Path:
    """The tagger's encoder and the encoder-facing part of its classifier as a Hugging Face
    token-classification model directory."""
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from skugraph.lm.model import load_weights
    from skugraph.tagging.model import TaggerModel

    tagger, *_ = TaggerModel.load(model_dir)
    tags = tagger.config.tags
    hf = load_weights(BertForTokenClassification, model_dir, num_labels=len(tags), id2label=dict(enumerate(tags)),
                      label2id={t: i for i, t in enumerate(tags)})
    hidden = hf.config.hidden_size
    with torch.no_grad():
        hf.classifier.weight.copy_(tagger.classifier.weight[:, :hidden])
        hf.classifier.bias.copy_(tagger.classifier.bias)
    hf.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.model_max_length = tagger.config.window  # longer titles are windowed, as ours are
    tokenizer.save_pretrained(out)
    return out


def run_worker(system: str, model_dir: Path, titles: list[str], batch_size: int = 64, dev: Path | None = None) -> dict:
    """Tag ``titles`` with one system in this process; titles/s and this process's peak RSS, and
    with ``dev`` (labelled titles) its strict entity micro F1 there (after the timing)."""
    if system == "hf-pipeline":
        from transformers import pipeline

        with tempfile.TemporaryDirectory(prefix="skugraph-hf-") as scratch:
            directory = _hf_model(model_dir, Path(scratch))
            overlap = json.loads((model_dir / "skugraph.json").read_text("utf-8"))["tagger"]["stride"]
            tag = pipeline("token-classification", model=str(directory), aggregation_strategy="simple", device=-1, stride=overlap)
            tag(titles[:WARM_UP], batch_size=batch_size)
            began = time.perf_counter()
            tag(titles, batch_size=batch_size)
            seconds = time.perf_counter() - began
    else:
        from skugraph.tagging.tagger import Tagger

        tagger = Tagger.load(model_dir, system)
        tagger.predict(titles[:WARM_UP], batch_size)
        began = time.perf_counter()
        scores = tagger.scores(titles, batch_size)
        network = time.perf_counter() - began
        tagger.decode_many(scores)
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    ours: dict = {}  # our runtimes: network and decoding time apart, and the F1 on ``dev``
    if system != "hf-pipeline":
        ours = {"network_seconds": round(network, 2), "decode_seconds": round(seconds - network, 2)}
        if dev is not None:
            from skugraph.corpus.ner import read_labelled

            ours["dev_f1"] = round(tagger.evaluate(read_labelled(dev)).micro.f1, 4)
    return {"system": system, "titles": len(titles), "seconds": round(seconds, 2), "titles_per_s": round(len(titles) / seconds),
            **ours, "peak_rss_mb": round(peak)}


def matmul_rate(dtype: str = "bfloat16", size: int = 2048, seconds: float = 2.0) -> float:
    """GFLOP/s of a square ``size`` matmul in ``dtype`` on torch's threads (the machine's peak
    for dense math, the yardstick of the physical limit)."""
    import torch

    a = torch.randn(size, size).to(getattr(torch, dtype))
    b = torch.randn(size, size).to(getattr(torch, dtype))
    a @ b
    runs, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - began) / 1e9


def flops_per_title(model_dir: Path, texts: list[str]) -> float:
    """Multiply-add FLOPs of the tagger's network on one title of the mean length of ``texts``
    (the [CLS] and [SEP] included): the encoder's projections, attention and feed-forward
    layers, and the classifier."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    meta = json.loads((Path(model_dir) / "skugraph.json").read_text("utf-8"))["tagger"]
    tokens = sum(len(text) for text in texts) / len(texts) + 2  # character units
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 2 * tokens * (4 * hidden * hidden + 2 * hidden * inner) + 2 * 2 * tokens * tokens * hidden
    width = hidden + (meta["lexicon_dim"] if meta["lexicons"] else 0) + (meta["ngram_dim"] if meta["ngrams"] else 0)
    return layers * per_layer + 2 * tokens * width * len(meta["tags"])


def bench_extract(model_dir: Path, count: int = 2000, titles: Path | None = None, systems: tuple[str, ...] = SYSTEMS,
                  progress=None, dev: Path | None = None) -> dict:
    """Every system on the same ``count`` titles, each in its own process; exports the ONNX
    files first when the model directory lacks them. ``dev``: labelled titles on which each of
    our runtimes is also scored (the F1 an int8 model loses)."""
    model_dir = Path(model_dir)
    if any(s.startswith("onnx") for s in systems) and not ((model_dir / ONNX_FILE).is_file() and (model_dir / INT8_FILE).is_file()):
        export_onnx(model_dir)
    texts = titles_for(count, titles)
    results = []
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-") as scratch:
        source = Path(scratch) / "titles.json"
        source.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        for system in systems:
            done = subprocess.run([sys.executable, "-m", "skugraph.bench", system, str(model_dir), str(source), str(dev or "")],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{system} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            if progress:
                progress(results[-1])
    base = next((r["titles_per_s"] for r in results if r["system"] == "hf-pipeline"), None)
    for result in results:
        result["x_hf_pipeline"] = round(result["titles_per_s"] / base, 2) if base else None
    flops, rate = flops_per_title(model_dir, texts), matmul_rate()
    return {"model": str(model_dir), "titles": count, "source": str(titles) if titles else "sample catalogue titles, cycled",
            "dev": str(dev) if dev else None, "cpu": platform.processor() or platform.machine(),
            "physical_limit": {"mflops_per_title": round(flops / 1e6, 1), "bf16_matmul_gflops": round(rate),
                               "titles_per_s": round(rate * 1e9 / flops)},
            "results": results}


def synthetic_catalogue(path: Path, count: int, changed: float = 0.0) -> int:
    """Write ``count`` listings: the sample catalogue's, cycled under new ids; with ``changed``,
    only every (1 / changed)-th of them, with a new price and a later ``updated_at`` (an update
    of that share of the catalogue). Returns the listings written."""
    from skugraph.sample.generate import generate

    records, step, written = generate(), round(1 / changed) if changed else 1, 0
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(0, count, step):
            record = dict(records[i % len(records)], id=f"bench-{i}")
            if changed:
                record["price"] = round(float(record.get("price") or 100) * 1.1, 2)
                record["updated_at"] = later
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


class PeakMemory:
    """The peak, over a run, of the resident memory of this process and all its descendants
    together (sampled from /proc every ``every`` seconds in a thread)."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak_mb, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.sample())

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_mb = max(self.peak_mb, self.sample())

    @staticmethod
    def sample() -> float:
        """Resident MB of this process and its descendants now."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                        parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry))
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm", encoding="utf-8") as handle:
                    total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                continue
        return total / 2**20


def _timed(step, *args, **kwargs):
    began = time.perf_counter()
    result = step(*args, **kwargs)
    return result, time.perf_counter() - began


def bench_load(count: int = 20_000, changed: float = 0.01, progress=None) -> dict:
    """Our loader against LadybugDB's ``COPY`` on the facts the rule extractor reads from
    ``count`` generated listings, and an update of ``changed`` of the listings against it.

    - ours: ``skugraph load`` into an empty graph (read the JSONL, build the rows, stage them
      as Parquet in batches, bulk-copy the first batch of each table, upsert the rest);
    - COPY: the same rows staged as one Parquet file per table, then only LadybugDB's
      ``COPY`` statements timed, into another empty graph;
    - update: the changed listings ingested and extracted again, then loaded into the full
      graph (upserts); its load time against the full load's."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest, load_listings
    from skugraph.facts.io import read_facts
    from skugraph.graph.store import LoadReport, graph_rows, open_store

    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-load-") as scratch:
        work = Path(scratch)
        synthetic_catalogue(work / "catalogue.jsonl", count)
        ingest([work / "catalogue.jsonl"], work / "listings.jsonl", work / "rejects.jsonl")
        extracted = pipeline.extract(work / "listings.jsonl", work / "facts.jsonl")
        say(f"{count} listings, {extracted.facts} facts")
        (report, stats), ours = _timed(pipeline.load, work / "ours.lbug", work / "listings.jsonl", work / "facts.jsonl")
        say(f"ours: {ours:.1f} s")
        with open_store(work / "copy.lbug") as store:
            rows = graph_rows(load_listings(work / "listings.jsonl"), read_facts(work / "facts.jsonl"),
                              ontology=store.ontology)
            (work / "stage").mkdir()
            staged = store.stage(rows, work / "stage")
            began = time.perf_counter()
            for table, file, ends in staged:
                store.copy(table, file, ends)
            copy = time.perf_counter() - began
            copied = store.stats()
        say(f"COPY: {copy:.1f} s")
        updated = synthetic_catalogue(work / "changed.jsonl", count, changed)
        ingest([work / "changed.jsonl"], work / "changed-listings.jsonl", work / "changed-rejects.jsonl")
        delta = pipeline.extract(work / "changed-listings.jsonl", work / "changed-facts.jsonl")
        (changes, _), update = _timed(pipeline.load, work / "ours.lbug", work / "changed-listings.jsonl", work / "changed-facts.jsonl")
        say(f"update of {updated} listings: {update:.1f} s")
    facts = extracted.facts

    def parts(load: LoadReport, total: float) -> dict[str, float]:  # the rest: opening, and the checkpoint at close
        return {name: round(value, 2) for name, value in load.seconds.items()} | {"open_close": round(total - sum(load.seconds.values()), 2)}

    return {
        "listings": count, "facts": facts, "graph": stats, "same_graph_as_copy": stats == copied,
        "ours": {"seconds": round(ours, 2), "facts_per_s": round(facts / ours), "parts": parts(report, ours)},
        "ladybug_copy": {"seconds": round(copy, 2), "facts_per_s": round(facts / copy)},
        "ours_vs_copy": round(copy / ours, 2),
        "our_store_statements_vs_copy": round(copy / report.seconds["store"], 2),
        "update": {"listings": updated, "share": changed, "facts": delta.facts, "seconds": round(update, 2),
                   "parts": parts(changes, update), "share_of_full_load": round(update / ours, 3)},
        "cpu": platform.processor() or platform.machine(),
    }


def bench_stream(count: int = 1_000_000, workers: int = 2, progress=None) -> dict:
    """Generate ``count`` listings, ingest them and extract facts with the rules in ``workers``
    processes, streaming; the peak resident memory of all processes together, per stage."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest

    say = progress or (lambda text: None)
    stages = {}
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-stream-") as scratch:
        work = Path(scratch)
        def extract() -> tuple[int, int]:
            report = pipeline.extract(work / "listings.jsonl", work / "facts.jsonl", workers=workers)
            return report.listings, report.facts

        for name, step in (
            ("generate", lambda: (synthetic_catalogue(work / "catalogue.jsonl", count), None)),
            ("ingest", lambda: (ingest([work / "catalogue.jsonl"], work / "listings.jsonl", work / "rejects.jsonl").ingested, None)),
            ("extract", extract),
        ):
            with PeakMemory() as memory:
                (done, facts), seconds = _timed(step)
            stages[name] = {"listings": done, "seconds": round(seconds, 1), "listings_per_s": round(done / seconds),
                            "peak_rss_mb": round(memory.peak_mb)} | ({"facts": facts} if facts is not None else {})
            say(f"{name}: {done} listings in {seconds:.0f} s, peak RSS {memory.peak_mb:.0f} MB")
    return {"listings": count, "workers": workers, "stages": stages,
            "peak_rss_mb": max(stage["peak_rss_mb"] for stage in stages.values()),
            "cpu": platform.processor() or platform.machine()}


def bench_scale(count: int = 20_000, workers: tuple[int, ...] = (1, 2), progress=None) -> dict:
    """Extraction (rules) of ``count`` generated listings by the local engine in one process
    (the baseline) and on a local Ray instance with each number of ``workers``: listings/s
    overall, and in the steady state (from the first batch back to the last, without Ray's
    start-up), per worker too. These write JSONL (the results come back to this process); a
    last run with the most workers writes Parquet parts from Ray's write tasks (overall rate
    only: no batch comes back to time)."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest
    from skugraph.facts.io import read_facts

    say = progress or (lambda text: None)
    runs = []
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-scale-") as scratch:
        work = Path(scratch)
        synthetic_catalogue(work / "catalogue.jsonl", count)
        ingest([work / "catalogue.jsonl"], work / "listings.jsonl", work / "rejects.jsonl")
        plan = [("local", 1, "jsonl"), *(("ray", n, "jsonl") for n in workers), ("ray", max(workers), "parquet")]
        for engine, size, output in plan:
            first: list[float] = []
            done: list[int] = []

            def seen(n: int) -> None:
                done.append(n)
                if len(done) == 1:
                    first.append(time.perf_counter())

            began = time.perf_counter()
            report = pipeline.extract(work / "listings.jsonl", work / f"facts-{engine}-{size}.{output}", progress=seen, engine=engine,
                                      workers=size)
            ended = time.perf_counter()
            run = {"engine": engine, "workers": size, "output": output, "seconds": round(ended - began, 1),
                   "listings_per_s": round(report.listings / (ended - began)), "facts": report.facts}
            if output == "jsonl":
                steady = (report.listings - done[0]) / (ended - first[0]) if len(done) > 1 else report.listings / (ended - began)
                run |= {"start_seconds": round(first[0] - began, 1), "steady_listings_per_s": round(steady),
                        "steady_per_worker": round(steady / size)}
            runs.append(run)
            say(f"{engine} × {size} → {output}: {run['listings_per_s']} listings/s"
                + (f", steady {run['steady_listings_per_s']}" if "steady_listings_per_s" in run else ""))
        facts = [list(read_facts(work / f"facts-{r['engine']}-{r['workers']}.{r['output']}")) for r in runs]
        same = all(found == facts[0] for found in facts)
    return {"listings": count, "extractor": "rules", "same_facts_everywhere": same, "runs": runs,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}


def bench_train(steps: int = 40, workers: tuple[int, ...] = (1, 2), base_model: str = "scratch:small", progress=None) -> dict:
    """Masked-LM pretraining throughput (tokens/s of training steps, without the set-up) for
    ``steps`` steps of 64 sequences per process on generated listings: one local process on
    all the cores (the baseline), then Ray Train with each number of ``workers`` (one CPU each)."""
    from skugraph.lm.pretrain import PretrainConfig, pretrain
    from skugraph.scale.ray_train import train_on_ray

    say = progress or (lambda text: None)
    runs = []
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-train-") as scratch:
        work = Path(scratch)
        synthetic_catalogue(work / "catalogue.jsonl", 20_000)

        def config(name: str) -> PretrainConfig:
            return PretrainConfig(corpus=[work / "catalogue.jsonl"], out=work / name, base_model=base_model, steps=steps,
                                  batch_size=64, cache_dir=work / "cache", checkpoint_minutes=1e9)

        for engine, size in (("local", 1), *(("ray", n) for n in workers)):
            began = time.perf_counter()
            meta = pretrain(config(f"{engine}-{size}")).metadata if engine == "local" else train_on_ray("pretrain", config(f"{engine}-{size}"), size)
            runs.append({"engine": engine, "workers": size, "wall_seconds": round(time.perf_counter() - began, 1),
                         "train_seconds": meta["train_seconds"], "tokens": meta["tokens_seen"],
                         "tokens_per_s": meta["tokens_per_second"], "tokens_per_s_per_worker": round(meta["tokens_per_second"] / size),
                         "threads_per_process": meta["threads_per_process"], "precision": meta["precision"],
                         "final_loss": meta["final_train_loss"]})
            say(f"{engine} × {size}: {meta['tokens_per_second']:,} tokens/s")
    return {"steps": steps, "base_model": base_model, "sequences_per_process_step": 64, "runs": runs,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}


def bench_api(db: Path | None = None, max_examples: int = 100, seed: int = 1, progress=None) -> dict:
    """Schemathesis against ``skugraph serve`` over a graph (default: the sample catalogue built
    with the rules), every check on: generated valid and invalid requests to every operation of
    the OpenAPI schema. Returns its run report with the server errors (5xx) counted."""
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
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/openapi.json"
        server = subprocess.Popen([sys.executable, "-m", "skugraph", "serve", "--db", str(db), "--port", str(port)],
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
            command = [schemathesis, "run", url, "--checks", "all", "--max-examples", str(max_examples), "--seed", str(seed),
                       "--report-json-path", str(work / "run.json")]
            done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work)  # its cache stays out of the repo
        finally:
            server.terminate()
            server.wait(timeout=30)
        if not (work / "run.json").is_file():
            raise ValueError(f"schemathesis wrote no report: {done.stdout[-1000:]}{done.stderr[-1000:]}")
        run = json.loads((work / "run.json").read_text("utf-8"))
    server_errors = sum(f["count"] for f in run["failures"] if f["code"] == "ST101")
    return {"server_errors": server_errors, "operations": run["operations"]["tested"], "test_cases": run["test_cases"],
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


if __name__ == "__main__":  # one worker: python -m skugraph.bench SYSTEM MODEL_DIR TITLES_JSON [DEV]
    chosen, directory, path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    labelled = Path(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
    print(json.dumps(run_worker(chosen, directory, json.loads(path.read_text(encoding="utf-8")), dev=labelled)))
