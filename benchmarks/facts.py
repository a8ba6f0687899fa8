"""Score the facts an extractor puts in the graph, not its spans: per predicate and micro, per
listing and after fusion, and how far their confidences can be read as precision.

    python benchmarks/facts.py --data ../shared/data [--dataset jd-gaiic --dataset ding2019]
                               [--tagger DIR] [--test PATH] [--out FILE]

The gold spans of each labelled title become facts through the same reader as the predicted
mentions (fact builder, ontology, value normalisation, per-listing vote;
:mod:`skugraph.fact_scores`), so a value written ``64G`` in one and read ``64GB`` in the other
is one fact, and a span that misses by a character but yields the same value still counts.
"After fusion" judges the facts each listing's fused product holds (products resolved, facts
merged, values voted again, completion's values added, as ``skugraph fuse`` does by default;
again without completion) against the listing's own gold facts
(:func:`skugraph.fact_scores.score_fused`).

Calibration (:mod:`skugraph.facts.calibration`) is measured cross-fitted: the listings are dealt
into five parts, each part's facts are scored by a calibration (method, map and threshold)
fitted on the other four, and the figures pool the parts, so none is fitted on the facts it
scores. A tagger's calibration reads the lexical prior of the file it was trained on (named in
its ``skugraph.json``), as ``skugraph train tagger`` and ``evaluate --facts --calibrate`` fit it
for users. Printed per system: ECE (10 equal-width bins) of the raw and the calibrated
confidences, the threshold each part's curve picked (the lowest with precision ≥ 0.90),
and the precision and the share of the unthresholded right facts kept at it (targets: precision
≥ 0.90 keeping ≥ 60%, ECE ≤ 0.03). A reliability diagram and a precision–coverage curve (PNG)
are written beside ``--out``. Scores the dev splits by default; ``--test PATH`` scores any
other labelled file instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from skugraph.corpus.ner import read_labelled
from skugraph.extract import ExtractorConfig, build_reader
from skugraph.fact_scores import read_with_gold, score_fused, score_reads, tagger_training_texts, training_prior
from skugraph.facts.calibration import HeldOut, cross_fit, precision_coverage
from record import save_record

PARTS = 5  # cross-fitting: each fifth of the listings is scored by a calibration fitted on the rest
DEV_FILES = {"jd-gaiic": "ner/jd-gaiic2022/dev.bio", "ding2019": "ner/ecommerce-ding2019/dev.bieos"}


def print_report(label: str, report: dict, seconds: float | None = None) -> None:
    micro = report["micro"]
    print(f"{label}: facts micro P {100 * micro['precision']:.1f}  R {100 * micro['recall']:.1f}  F1 {100 * micro['f1']:.1f}"
          + (f"  ({seconds} s)" if seconds is not None else ""))


def plot(held: dict[str, HeldOut], out: Path) -> list[Path]:
    """A reliability diagram (raw and calibrated, 10 equal-width bins) and a precision–coverage
    curve of each system's held-out facts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reliability, coverage = out.with_name(f"{out.stem}-reliability.png"), out.with_name(f"{out.stem}-precision-coverage.png")
    figure, axes = plt.subplots(1, len(held), figsize=(4 * len(held), 4), squeeze=False)
    for axis, (name, scores) in zip(axes[0], held.items(), strict=True):
        for confidences, style, label in ((scores.raw, "--o", "raw"), (scores.calibrated, "-o", "calibrated")):
            which = np.minimum((confidences * 10).astype(int), 9)
            bins = [b for b in range(10) if (which == b).any()]
            axis.plot([confidences[which == b].mean() for b in bins], [scores.right[which == b].mean() for b in bins], style, label=label)
        axis.plot([0, 1], [0, 1], ":", color="grey")
        axis.set(title=f"{name} ({len(scores.right)} facts, cross-fitted)", xlabel="confidence (bin mean)", ylabel="share right", xlim=(0, 1), ylim=(0, 1))
        axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(reliability, dpi=100)
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for name, scores in held.items():
        curve = precision_coverage(scores.calibrated, scores.right)
        axis.plot([p.recall_kept for p in curve], [p.precision for p in curve], label=name)
    axis.axhline(0.9, color="grey", linestyle=":")
    axis.axvline(0.6, color="grey", linestyle=":")
    axis.set(xlabel="share of the right facts kept", ylabel="precision", xlim=(0, 1), ylim=(0, 1),
             title="held-out facts over calibrated-confidence thresholds")
    axis.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    figure.savefig(coverage, dpi=100)
    return [reliability, coverage]


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
    held: dict[str, HeldOut] = {}
    for name, path in jobs.items():
        if not path.is_file():
            sys.exit(f"{path}: not found (pass --data or --test)")
        texts = read_labelled(path)
        for system, config in systems.items():
            start = time.perf_counter()
            reader = build_reader(config, titles=[t.text for t in texts])
            reader.calibration = None  # raw confidences: calibration is measured below, cross-fitted
            reads = read_with_gold(texts, reader, parts=PARTS)  # a span scorer cross-fitted like the calibration
            report = score_reads(reads).to_dict(digits=3)
            seconds = round(time.perf_counter() - start, 1)
            fused = score_fused(reads, reader.builder.ontology).to_dict(digits=3)
            resolved = score_fused(reads, reader.builder.ontology, complete=False).to_dict(digits=3)
            train = tagger_training_texts(config.model) if config.model else None  # the lexical prior, as users get it
            lexicon = training_prior(train, reader) if train else None
            held[f"{name} {system}"] = scores = cross_fit(*reads.outcomes(), parts=PARTS, lexicon=lexicon)
            calibration = scores.summary() | {"lexical_prior_texts": len(lexicon) if lexicon is not None else None}
            results.setdefault(name, {"file": str(path), "texts": len(texts)})[system] = {
                **report, "seconds": seconds, "after_fusion": fused, "after_fusion_without_completion": resolved,
                "calibration": calibration}
            print_report(f"{name} [{system}] {len(texts)} titles, per listing", report, seconds)
            print_report(f"{name} [{system}] after fusion", fused)
            print_report(f"{name} [{system}] after fusion without completion", resolved)
            for predicate, s in sorted(report["per_type"].items(), key=lambda item: -item[1]["support"]):
                after = fused["per_type"][predicate]
                print(f"   {predicate:20s} P {100 * s['precision']:5.1f}  R {100 * s['recall']:5.1f}  F1 {100 * s['f1']:5.1f}"
                      f"  after fusion P {100 * after['precision']:5.1f}  R {100 * after['recall']:5.1f}  (gold {s['support']})")
            c = calibration
            at = (f"precision {c['precision_kept']:.3f} keeping {c['recall_kept']:.1%} of the right facts"
                  if c["precision_kept"] is not None else "no threshold reaches precision 0.90")
            print(f"   calibration ({PARTS}-fold cross-fitted, {c['facts']} facts): ECE raw {c['ece_raw']:.3f} → calibrated "
                  f"{c['ece_calibrated']:.3f}; thresholds {c['thresholds']}: {at}")
    plots = plot(held, args.out)
    save_record(args.out, {"command": " ".join(["python", *sys.argv]), "results": results, "plots": [p.name for p in plots]})
    print(f"wrote {args.out}, {', '.join(str(p) for p in plots)}")


if __name__ == "__main__":
    main()
