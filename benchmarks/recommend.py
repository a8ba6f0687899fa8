"""Complementary recommendations on a real graph: hide compatible-with edges, then for each hidden
(accessory, compatible_with, target) rank every product as an accessory of the target; Hits@10
and MRR of the hidden accessory, against a popularity baseline (the products with the most
compatible-with edges first), in the same run.

    python benchmarks/recommend.py --data ../shared/data [--seed 0] [--test PATH]

The graph is the facts of the JD titles (gold mentions through the ontology and the fact
builder, as in benchmarks/completion.py), or of ``--test PATH``. Ranking is filtered: products
still known to fit the target do not count against the hidden one. Writes
benchmarks/results/recommend.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from completion import graph_of
from record import save_record

from skugraph.apps.recommend import FITS, Recommender
from skugraph.fusion.completion import split


def ranks(recommender: Recommender, hidden, kept_fits: dict[str, set[str]], popularity: np.ndarray) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"popularity": [], "skugraph": []}
    for accessory, _, target in hidden:
        scores = {"popularity": popularity, "skugraph": recommender.accessory_scores({target: 1.0})}
        known = [recommender.row[p] for p in kept_fits.get(target, ()) if p != accessory]
        row = recommender.row[accessory]
        for name, score in scores.items():
            score = score.copy()
            score[known] = -np.inf
            out[name].append(1 + int((score > score[row]).sum()))
    return out


def metrics(values: list[int]) -> dict:
    array = np.array(values, dtype=float)
    return {"mrr": round(float((1 / array).mean()), 4), "hits_at_10": round(float((array <= 10).mean()), 4), "count": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, help="build the graph from this labelled title file instead")
    parser.add_argument("--share", type=float, default=0.1, help="share of the compatible-with edges hidden")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "recommend.json")
    args = parser.parse_args()
    began = time.perf_counter()
    root = args.data / "ner/jd-gaiic2022"
    triples = graph_of([args.test] if args.test else [root / "train.bio", root / "dev.bio"])
    kept, hidden = split(triples, ("compatible_with",), args.share, args.seed)
    facts: dict[str, dict] = defaultdict(dict)
    for head, relation, tail in kept:
        facts[head][(relation, tail)] = 1.0
    hidden = [t for t in hidden if t[0] in facts]
    recommender = Recommender(facts)
    kept_fits: dict[str, set[str]] = defaultdict(set)
    for head, relation, tail in kept:
        if relation in FITS:
            kept_fits[tail].add(head)
    degree = Counter(head for head, relation, _ in kept if relation in FITS)
    popularity = np.array([degree[p] for p in recommender.products], dtype=float)
    print(f"{len(recommender.products)} products, {len(triples)} facts, {len(hidden)} hidden compatible-with edges")
    systems = {name: metrics(values) for name, values in ranks(recommender, hidden, kept_fits, popularity).items()}
    base = systems["popularity"]["hits_at_10"]
    print(f"\n{'system':<12}{'MRR':>8}{'Hits@10':>9}")
    for name, scores in systems.items():
        print(f"{name:<12}{scores['mrr']:>8.4f}{scores['hits_at_10']:>9.4f}")
    print(f"skugraph Hits@10 = {systems['skugraph']['hits_at_10'] / base if base else float('inf'):.2f}x popularity")
    save_record(args.out, {"command": " ".join(["python", *sys.argv]), "products": len(recommender.products),
                           "hidden": len(hidden), "seed": args.seed, "systems": systems,
                           "wall_seconds": round(time.perf_counter() - began, 1)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
