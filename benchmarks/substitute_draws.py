"""The labelling loop of the substitute model (:mod:`skugraph.apps.substitute_model`) as a shop
runs it, draw after draw of stock-outs: each draw's judged substitutes scored by the model learned
from the judged files before it, at the threshold whose pairs merely reach the precision out of
fold and at the one whose pairs surely do (the lower end of a Wilson interval at
:data:`~skugraph.apps.substitute_model.CONFIDENCE`, what ``skugraph train substitutes`` chooses).

    python benchmarks/substitute_draws.py --base A.jsonl [B.jsonl …] --draw D1.jsonl --draw D2.jsonl[,EXTRA.jsonl] …
        [--precision 0.9] [--test PATH] [--out benchmarks/results/substitute-draws.json]

A draw is the judged file of the recommender's own top 3 (``benchmarks/inventory.py
--substitutes-out`` without a model, every substitute judged: kept outside the repo, as their
titles are the data set's), and any other file judged of it after a change (a rerun's new pairs);
they join the training files once the draw is scored. ``--test PATH`` scores another judged file
with the model learned from every file given. Printed and written, per draw and over all: the
pairs each threshold keeps, how many are right, and the stock-outs they serve.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from record import save_record

from skugraph.apps.substitute_model import (
    CONFIDENCE,
    PRECISION,
    SubstituteDataError,
    learn_substitutes,
    one_call_each,
    read_judged,
)

#: rule → the confidence the threshold is chosen at (0: the out-of-fold precision itself)
RULES = {"merely": 0.0, "surely": CONFIDENCE}


def score(train: list[Path], test: Path, precision: float) -> dict:
    """The pairs of ``test`` that models learned from ``train`` keep, by rule."""
    pairs, judged = read_judged(train), one_call_each(read_judged([test]))
    seen = {(p.product, p.substitute) for p in pairs}
    labels = np.array([p.ok for p in judged], dtype=int)
    out = {"test": str(test), "stock_outs": sum(1 for line in test.open(encoding="utf-8") if line.strip()), "pairs": len(judged),
           "seen_in_training": sum((p.product, p.substitute) in seen for p in judged), "right_of_all": int(labels.sum())}
    for rule, confidence in RULES.items():
        model = learn_substitutes(pairs, precision, confidence=confidence)
        kept = np.array([model.probabilities(p.title, [p.substitute_title])[0] >= model.threshold for p in judged], dtype=bool)
        out[rule] = {"threshold": round(model.threshold, 4), "kept": int(kept.sum()), "right": int(labels[kept].sum()),
                     "stock_outs_served": len({p.product for p, k in zip(judged, kept, strict=True) if k}),
                     "out_of_fold": model.record["out_of_fold"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, nargs="+", required=True, help="judged files learned from before the first draw")
    parser.add_argument("--draw", action="append", required=True, help="a draw's judged file, then any others judged of it (commas)")
    parser.add_argument("--precision", type=float, default=PRECISION)
    parser.add_argument("--test", type=Path, help="also score this judged file with the model learned from every file given")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "substitute-draws.json")
    args = parser.parse_args()
    train, draws = list(args.base), []
    try:
        for spec in args.draw:
            test, *extra = [Path(part) for part in spec.split(",")]
            draws.append(score(train, test, args.precision))
            train += [test, *extra]
        tested = score(train, args.test, args.precision) if args.test else None
    except (SubstituteDataError, ValueError, OSError) as error:
        sys.exit(str(error))
    total = {}
    for rule in RULES:
        kept, right = sum(d[rule]["kept"] for d in draws), sum(d[rule]["right"] for d in draws)
        total[rule] = {"kept": kept, "right": right, "precision": round(right / kept, 4) if kept else None,
                       "stock_outs_served": sum(d[rule]["stock_outs_served"] for d in draws),
                       "draw_precisions": [round(d[rule]["right"] / d[rule]["kept"], 4) if d[rule]["kept"] else None for d in draws]}
    print(f"{'draw':<44}" + "".join(f"{rule + ' kept/right/served':>30}" for rule in RULES))
    for d in draws:
        print(f"{Path(d['test']).name:<44}" + "".join(f"{d[r]['kept']:>14}{d[r]['right']:>8}{d[r]['stock_outs_served']:>8}" for r in RULES))
    for rule, t in total.items():
        print(f"{rule}: {t['right']} of {t['kept']} right ({t['precision']:.1%}) for {t['stock_outs_served']} of "
              f"{sum(d['stock_outs'] for d in draws)} stock-outs; a draw {min(p for p in t['draw_precisions'] if p is not None):.1%} "
              f"to {max(p for p in t['draw_precisions'] if p is not None):.1%}")
    save_record(args.out, {"command": " ".join(["python", *sys.argv]), "precision_target": args.precision, "draws": draws,
                           "all_draws": total, "test": tested})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
