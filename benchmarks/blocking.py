"""Blocking for product matching on the Magellan pair sets: how many true matches the candidate
pairs keep (recall) and how few pairs they are, for token blocking, embedding nearest
neighbours, and both.

    python benchmarks/blocking.py --dataset abt-buy [--dataset …] --data ../shared/data [--encoder minilm]
        [--neighbours 10] [--max-block 50] [--test PATH]

The offers are every distinct record of a dataset's train and valid files (or of ``--test``
files); the true pairs are its pairs labelled 1. Only pairs across the two sources count
(left × right). Writes benchmarks/results/blocking.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from record import save_record

from skugraph.fusion.matching import Offer, read_pairs
from skugraph.fusion.blocking import block, encoder_embeddings


def offers_and_matches(paths: list[Path]) -> tuple[list[Offer], list[str], set[tuple[int, int]]]:
    index: dict[tuple[str, str], int] = {}
    offers, sides, matches = [], [], set()
    for path in paths:
        for pair in read_pairs(path, lambda message: print(f"skipped: {message}", file=sys.stderr)):
            ends = []
            for side, offer in (("left", pair.left), ("right", pair.right)):
                key = (side, offer.serialise())
                if key not in index:
                    index[key] = len(offers)
                    offers.append(Offer(str(len(offers)), offer.fields))
                    sides.append(side)
                ends.append(index[key])
            if pair.label:
                matches.add((min(ends), max(ends)))
    return offers, sides, matches


def measure(pairs: set[tuple[int, int]], sides: list[str], matches: set[tuple[int, int]]) -> dict:
    across = {(a, b) for a, b in pairs if sides[a] != sides[b]}
    return {"candidates": len(across), "recall": round(len(across & matches) / len(matches), 4) if matches else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", default=[])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, action="append", default=[])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--neighbours", type=int, default=10)
    parser.add_argument("--max-block", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "blocking.json")
    args = parser.parse_args()
    embed = encoder_embeddings(args.encoder)
    sets = {name: [args.data / "matching" / name / "train.txt", args.data / "matching" / name / "valid.txt"] for name in args.dataset}
    sets |= {str(path): [path] for path in args.test}
    results = {}
    for name, paths in sets.items():
        began = time.perf_counter()
        offers, sides, matches = offers_and_matches(paths)
        tokens = block(offers, args.max_block)
        vectors = embed([o.title for o in offers])
        neighbours = block(offers, max_block=0, embeddings=vectors, neighbours=args.neighbours)
        left = sum(side == "left" for side in sides)
        row = {"offers": len(offers), "true_matches": len(matches), "all_pairs": left * (len(offers) - left),
               "tokens": measure(tokens, sides, matches), "neighbours": measure(neighbours, sides, matches),
               "both": measure(tokens | neighbours, sides, matches), "seconds": round(time.perf_counter() - began, 1)}
        results[name] = row
        print(f"{name}: {row['offers']} offers, {row['true_matches']} true matches, {row['all_pairs']:,} cross pairs")
        for method in ("tokens", "neighbours", "both"):
            print(f"  {method:<11} recall {row[method]['recall']:.3f}  candidates {row[method]['candidates']:,}")
    save_record(args.out, {"command": "python benchmarks/blocking.py " + " ".join(sys.argv[1:]), "encoder": args.encoder,
                           "neighbours": args.neighbours, "max_block": args.max_block, "results": results})


if __name__ == "__main__":
    main()
