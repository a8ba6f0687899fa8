"""``skugraph bench stream`` and ``scale``: extraction of many generated listings, streaming,
with the peak memory of all its processes; and on a local Ray instance beside the local engine."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

from skugraph.bench.families import family_catalogue
from skugraph.bench.workload import PeakMemory, synthetic_catalogue, timed


def bench_stream(count: int = 1_000_000, workers: int = 2, model: Path | None = None, buffer_pool_mb: int | None = None,
                 complete: bool = True, progress=None) -> dict:
    """Generate ``count`` listings (products in families, so that resolution has work at any
    size: :mod:`skugraph.bench.families`), ingest them, extract facts with the rules in ``workers``
    processes (streaming) or with the tagger at ``model`` (a network in one process on all the
    cores, a CRF alone in ``workers`` processes: how each runs fastest), fuse them in
    ``workers`` processes (resolve products, settle conflicts, and with ``complete`` propose
    missing values) and load them into a new graph (with LadybugDB's page cache capped at
    ``buffer_pool_mb``, if given); per stage its time and the peak resident memory of all
    processes together."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest
    from skugraph.extract import ExtractorConfig

    config = ExtractorConfig(kind="tagger", model=model) if model is not None else ExtractorConfig()
    config.check()
    extract_workers = workers
    if model is not None:  # imported only then: it brings torch, whose 400 MB every later stage's peak would count
        from skugraph.tagging.crf_tagger import is_crf_tagger

        extract_workers = workers if is_crf_tagger(model) else 1

    say = progress or (lambda text: None)
    stages = {}
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-stream-") as scratch:
        work = Path(scratch)
        def extract() -> tuple[int, int]:
            report = pipeline.extract(work / "listings.jsonl", work / "facts.jsonl", config=config,
                                      workers=extract_workers)
            return report.listings, report.facts

        def fuse() -> tuple[int, int]:
            report = pipeline.fuse(work / "listings.jsonl", work / "facts.jsonl", work / "fused.jsonl", workers=workers,
                                   complete=complete)
            return report.listings, report.facts_out

        def load() -> tuple[int, int]:
            _, stats = pipeline.load(work / "graph.lbug", work / "listings.jsonl", work / "fused.jsonl", buffer_pool_mb=buffer_pool_mb)
            return stats["nodes"]["Listing"], sum(stats["edges"].values())

        for name, step in (
            ("generate", lambda: (family_catalogue(work / "catalogue.jsonl", count), None)),
            ("ingest", lambda: (ingest([work / "catalogue.jsonl"], work / "listings.jsonl", work / "rejects.jsonl").ingested, None)),
            ("extract", extract),
            ("fuse", fuse),
            ("load", load),
        ):
            with PeakMemory() as memory:
                (done, facts), seconds = timed(step)
            stages[name] = {"listings": done, "seconds": round(seconds, 1), "listings_per_s": round(done / seconds),
                            "peak_rss_mb": round(memory.peak_mb)} | ({"facts": facts} if facts is not None else {})
            say(f"{name}: {done} listings in {seconds:.0f} s, peak RSS {memory.peak_mb:.0f} MB")
    return {"listings": count, "workers": workers, "extract_workers": extract_workers, "extractor": config.kind,
            "model": str(model) if model else None, "buffer_pool_mb": buffer_pool_mb, "complete": complete, "stages": stages,
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
