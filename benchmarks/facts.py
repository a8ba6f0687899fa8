"""Score the facts an extractor puts in the graph, not its spans: per predicate and micro.

    python benchmarks/facts.py --data ../shared/data [--dataset jd-gaiic --dataset ding2019]
                               [--tagger DIR] [--test PATH] [--out FILE]

The gold spans of each labelled title become facts through the same reader as the predicted
mentions (fact builder, ontology, value normalisation, per-listing vote;
:mod:`skugraph.fact_scores`), so a value written ``64G`` in one and read ``64GB`` in the other
is one fact, and a span that misses by a character but yields the same value still counts.
Scores the dev splits by default; ``--test PATH`` scores any other labelled file instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from skugraph.corpus.ner import read_labelled
from skugraph.extract import ExtractorConfig, build_reader
from skugraph.fact_scores import score_facts
from record import save_record

DEV_FILES = {"jd-gaiic": "ner/jd-gaiic2022/dev.bio", "ding2019": "ner/ecommerce-ding2019/dev.bieos"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--dataset", action="append", choices=sorted(DEV_FILES), help="dev splits to score (default: both)")
    parser.add_argument("--test", type=Path, help="score this labelled file (BIO, BIEOS, JSONL) instead of the dev splits")
    parser.add_argument("--tagger", type=Path, help="also score this tagger directory (`skugraph train tagger`)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "facts.json")
    args = parser.parse_args()
    jobs = {"test": args.test} if args.test else {name: args.data / DEV_FILES[name] for name in args.dataset or sorted(DEV_FILES)}
    systems = {"rules": ExtractorConfig()}
    if args.tagger:
        systems["tagger"] = ExtractorConfig(kind="tagger", model=args.tagger)
    results: dict[str, dict] = {}
    for name, path in jobs.items():
        if not path.is_file():
            sys.exit(f"{path}: not found (pass --data or --test)")
        texts = read_labelled(path)
        for system, config in systems.items():
            start = time.perf_counter()
            report = score_facts(texts, build_reader(config, titles=[t.text for t in texts])).to_dict(digits=3)
            seconds = round(time.perf_counter() - start, 1)
            results.setdefault(name, {"file": str(path), "texts": len(texts)})[system] = {**report, "seconds": seconds}
            micro = report["micro"]
            print(f"{name} [{system}]: {len(texts)} titles  facts micro P {100 * micro['precision']:.1f}"
                  f"  R {100 * micro['recall']:.1f}  F1 {100 * micro['f1']:.1f}  ({seconds} s)")
            for predicate, s in sorted(report["per_type"].items(), key=lambda item: -item[1]["support"]):
                print(f"   {predicate:20s} P {100 * s['precision']:5.1f}  R {100 * s['recall']:5.1f}"
                      f"  F1 {100 * s['f1']:5.1f}  (gold {s['support']})")
    save_record(args.out, {"command": " ".join(["python", *sys.argv]), "results": results})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
