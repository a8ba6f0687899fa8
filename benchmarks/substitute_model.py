"""The substitute model (:mod:`skugraph.apps.substitute_model`) on substitutes judged by hand:
learned from some judged files, scored on others it never saw.

    python benchmarks/substitute_model.py --train A.jsonl [B.jsonl …] --test C.jsonl [--precision 0.9]
        [--model-out DIR] [--out benchmarks/results/substitute-model.json]

The judged files are those of ``benchmarks/inventory.py --substitutes-out`` with ``"ok"`` added
to each substitute (kept outside the repo: their titles are the data set's). A pair of the test
files judged in a training file too is left out of the score, so that the figures are on pairs
the model never saw. Printed and written: the model's out-of-fold figures on its training pairs
(what chose the threshold), and on the test pairs the ROC AUC, the share of pairs kept at the
threshold and their precision, beside the precision of all the test pairs (what the
recommender's top 3 alone reach), and the precision of the pairs kept at each tenth of the pairs (`kept_10` … `kept_100`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from record import save_record

from skugraph.apps.substitute_model import (
    PRECISION,
    SubstituteDataError,
    learn_substitutes,
    one_call_each,
    precision_curve,
    read_judged,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, nargs="+", required=True, help="judged substitutes files to learn from")
    parser.add_argument("--test", type=Path, nargs="+", required=True, help="judged substitutes files to score on")
    parser.add_argument("--precision", type=float, default=PRECISION, help="the precision the threshold is chosen for")
    parser.add_argument("--model-out", type=Path, help="also save the model here")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "substitute-model.json")
    args = parser.parse_args()
    try:
        train, test = read_judged(args.train), one_call_each(read_judged(args.test))
        model = learn_substitutes(train, args.precision)
    except (SubstituteDataError, ValueError, OSError) as error:
        sys.exit(str(error))
    seen = {(p.product, p.substitute) for p in train}
    unseen = [p for p in test if (p.product, p.substitute) not in seen]
    if len({p.ok for p in unseen}) < 2:
        sys.exit(f"the test files have {len(unseen)} judged pairs the training files do not, "
                 f"{'all called alike' if unseen else 'none'}: nothing to score")
    if args.model_out:
        model.save(args.model_out)
    labels = np.array([p.ok for p in unseen], dtype=int)
    probabilities = np.array([model.probabilities(p.title, [p.substitute_title])[0] for p in unseen])
    kept = probabilities >= model.threshold
    from sklearn.metrics import roc_auc_score

    curve = precision_curve(probabilities, labels)
    tenths = {}
    for tenth in range(1, 11):
        point = next((p for p in curve if p[1] >= tenth / 10 - 1e-9), curve[-1])
        tenths[f"kept_{tenth * 10}"] = {"threshold": round(point[0], 4), "kept": round(point[1], 4), "precision": round(point[2], 4)}
    scored = {"pairs": len(unseen), "left_out_as_seen_in_training": len(test) - len(unseen), "right": int(labels.sum()),
              "precision_of_all": round(float(labels.mean()), 4), "auc": round(float(roc_auc_score(labels, probabilities)), 4),
              "at_threshold": {"kept": int(kept.sum()), "share_kept": round(float(kept.mean()), 4),
                               "precision": round(float(labels[kept].mean()), 4) if kept.any() else None},
              "by_share_kept": tenths}
    record = {"command": " ".join(["python", *sys.argv]), "train": [str(p) for p in args.train], "test": [str(p) for p in args.test],
              "model": model.record, "test_scores": scored}
    print(json.dumps(record, ensure_ascii=False, indent=1))
    save_record(args.out, record)


if __name__ == "__main__":
    main()
