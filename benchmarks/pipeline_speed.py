"""Throughput of ingest → extract → load on a catalogue of N listings (the sample catalogue
repeated under new ids), and of reloading the same facts (the upsert path) beside the
first load (the bulk COPY path).

    python benchmarks/pipeline_speed.py [--listings 20000] [--test PATH]

``--test`` measures your own listing file instead. Writes benchmarks/results/pipeline_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from skugraph import pipeline
from skugraph.corpus.ingest import ingest
from skugraph.sample.generate import generate
from record import save_record


def synthetic(path: Path, count: int) -> None:
    records = generate()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            record = dict(records[i % len(records)], id=f"bench-{i}")
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def timed(step, *args):
    start = time.perf_counter()
    result = step(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=20_000)
    parser.add_argument("--test", type=Path, help="a listing file of your own to measure instead")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pipeline_speed.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        source = args.test or work / "catalogue.jsonl"
        if not args.test:
            synthetic(source, args.listings)
        report, ingest_s = timed(ingest, [source], work / "listings.jsonl", work / "rejects.jsonl")
        extracted, extract_s = timed(pipeline.extract, work / "listings.jsonl", work / "facts.jsonl")
        (first, _), first_s = timed(pipeline.load, work / "graph.lbug", work / "listings.jsonl", work / "facts.jsonl")
        (again, stats), again_s = timed(pipeline.load, work / "graph.lbug", work / "listings.jsonl", work / "facts.jsonl")
    n, facts = report.ingested, extracted.facts
    figures = {
        "listings": n,
        "facts": facts,
        "ingest_listings_per_s": round(n / ingest_s),
        "extract_listings_per_s": round(n / extract_s),
        "first_load_facts_per_s (COPY)": round(facts / first_s),
        "reload_facts_per_s (upsert, baseline)": round(facts / again_s),
        "graph": stats,
    }
    for name, value in figures.items():
        if name != "graph":
            print(f"{name:40s} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "figures": figures,
    }
    save_record(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
