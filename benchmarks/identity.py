"""Product identity on real titles: merge precision and recall of entity resolution on
hand-labelled listing pairs.

    python benchmarks/identity.py --titles ../shared/data/corpus/jd-titles.txt \
        --pairs benchmarks/data/product-pairs-jd.jsonl [--test PATH …] [--out benchmarks/results/identity.json]

A pair file holds one JSON object a line: ``left`` and ``right`` (0-based line numbers into
``--titles``), ``label`` (``same`` or ``different``), ``kind`` and ``reason``. The listings
the pairs name (id ``jd-<line>``) go through the real path: ``skugraph ingest``, ``skugraph
extract`` (rules), then :func:`~skugraph.fusion.resolve.resolve_products` over all of them
together, as ``skugraph fuse`` does. A pair counts as merged when both listings end in one
product. Precision and recall are over the ``same`` pairs; errors are listed by kind with
each listing's evidence. Each ``--test`` file is scored the same way. ``--gnn`` also trains the
graph neural network (:mod:`skugraph.fusion.gnn`) on the listings' facts and measures its node
embeddings' cosine as a signal that two listings are one product, beside the titles' similarity. Target (issue 19):
precision ≥ 0.97 at recall ≥ 0.6.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from record import read_jsonl, save_record

from skugraph.corpus.ingest import load_listings
from skugraph.facts.io import read_facts
from skugraph.fusion.identity import conflicting_model_merges
from skugraph.fusion.resolve import resolve_products
from skugraph.tagging.evaluate import Score

LABELS = ("same", "different")


def read_pair_file(path: Path, lines: int) -> list[dict]:
    """The labelled pairs of ``path``; a bad line stops with its file, line and field."""
    pairs = []
    for number, pair in read_jsonl(path):
        for field in ("left", "right"):
            if not isinstance(pair.get(field), int) or not 0 <= pair[field] < lines:
                sys.exit(f"{path}:{number}: field {field!r} must be a line number below {lines}")
        if pair.get("label") not in LABELS:
            sys.exit(f"{path}:{number}: field 'label' must be one of {', '.join(LABELS)}")
        pairs.append(pair)
    return pairs


def resolve_lines(titles: list[str], wanted: set[int], workdir: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Ingest, extract and resolve the listings of ``wanted`` lines: listing → product, listing →
    evidence, listing → title as ingested."""
    raw = workdir / "raw.jsonl"
    raw.write_text("".join(json.dumps({"id": f"jd-{i}", "title": titles[i]}, ensure_ascii=False) + "\n" for i in sorted(wanted)),
                   encoding="utf-8")
    cli = [sys.executable, "-m", "skugraph"]
    for step in (["ingest", str(raw), "--out", str(workdir / "listings.jsonl"), "--rejects", str(workdir / "rejects.jsonl")],
                 ["extract", str(workdir / "listings.jsonl"), "--out", str(workdir / "facts.jsonl")]):
        done = subprocess.run([*cli, *step], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"skugraph {step[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
    listings = list(load_listings(workdir / "listings.jsonl"))
    facts = list(read_facts(workdir / "facts.jsonl"))
    resolution = resolve_products(listings, facts)
    return resolution.product_of, resolution.evidence, {listing.id: listing.title for listing in listings}, facts


def gnn_signal(sets: dict[str, list[dict]], facts: list, titles: dict[str, str]) -> dict:
    """Whether the GNN's node embeddings tell same from different listings: over each pair set,
    ROC AUC and the best threshold's F1 of the titles' similarity (the matcher's baseline
    signal), of the embeddings' cosine, and of their mean; by the pair file's name without its suffix."""
    from rapidfuzz import fuzz
    from sklearn.metrics import roc_auc_score

    from skugraph.fusion.completion import triples_of
    from skugraph.fusion.gnn import train_gnn
    from skugraph.fusion.matching import best_threshold

    began = time.perf_counter()
    model = train_gnn(triples_of(facts))
    out = {"seconds": round(time.perf_counter() - began, 1), "sets": {}}
    for name, pairs in sets.items():
        gold = [int(p["label"] == "same") for p in pairs]
        title = [fuzz.token_set_ratio(titles[f"jd-{p['left']}"].lower(), titles[f"jd-{p['right']}"].lower()) / 100 for p in pairs]
        cosine = [model.similarity(f"Product:jd-{p['left']}", f"Product:jd-{p['right']}") for p in pairs]
        signals = {"title": title, "gnn": cosine, "mean": [(a + b) / 2 for a, b in zip(title, cosine, strict=True)]}
        out["sets"][Path(name).stem] = {signal: {"auc": round(float(roc_auc_score(gold, values)), 4),
                                      "best_f1": round(best_threshold(gold, values)[1].f1, 4)} for signal, values in signals.items()}
    return out


def score(pairs: list[dict], product_of: dict[str, str], evidence: dict[str, str]) -> dict:
    """Merge precision and recall over the pairs, with the errors by kind."""
    merged = [product_of[f"jd-{p['left']}"] == product_of[f"jd-{p['right']}"] for p in pairs]
    gold = [p["label"] == "same" for p in pairs]
    figures = Score.from_counts(sum(m and g for m, g in zip(merged, gold, strict=True)), sum(merged), sum(gold))
    errors = [{"left": p["left"], "right": p["right"], "label": p["label"], "kind": p["kind"],
               "evidence": [evidence[f"jd-{p['left']}"], evidence[f"jd-{p['right']}"]]}
              for p, m, g in zip(pairs, merged, gold, strict=True) if m != g]
    return {"pairs": len(pairs), "same": sum(gold), "merged": sum(merged), "precision": round(figures.precision, 4),
            "recall": round(figures.recall, 4), "f1": round(figures.f1, 4),
            "pairs_by_kind": dict(Counter(p["kind"] for p in pairs)),
            "false_merges": [e for e in errors if e["label"] == "different"],
            "missed": [e for e in errors if e["label"] == "same"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=Path, required=True, help="Titles, one a line (jd-titles.txt).")
    parser.add_argument("--pairs", type=Path, default=Path(__file__).parent / "data" / "product-pairs-jd.jsonl")
    parser.add_argument("--test", type=Path, action="append", default=[], help="Another pair file, scored the same way.")
    parser.add_argument("--gnn", action="store_true", help="also measure the GNN's embeddings as a same-product signal")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "identity.json")
    args = parser.parse_args()
    if not args.titles.is_file():
        sys.exit(f"{args.titles}: no such file")
    titles = args.titles.read_text(encoding="utf-8").splitlines()
    sets = {str(path): read_pair_file(path, len(titles)) for path in [args.pairs, *args.test]}
    wanted = {p[side] for pairs in sets.values() for p in pairs for side in ("left", "right")}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        product_of, evidence, ingested, facts = resolve_lines(titles, wanted, Path(scratch))
    results = {name: score(pairs, product_of, evidence) for name, pairs in sets.items()}
    record = {"command": "python benchmarks/identity.py " + " ".join(sys.argv[1:]), "listings": len(wanted),
              "seconds": round(time.perf_counter() - began, 1), "target": {"precision": 0.97, "recall": 0.6},
              "merges_with_conflicting_models": len(conflicting_model_merges(ingested, product_of)), "sets": results}
    if args.gnn:
        record["gnn_signal"] = gnn_signal(sets, facts, ingested)
        for name, signals in record["gnn_signal"]["sets"].items():
            print(f"{name}: same or different, ROC AUC / best F1: " + ", ".join(
                f"{signal} {v['auc']:.3f} / {v['best_f1']:.3f}" for signal, v in signals.items()))
    for name, result in results.items():
        print(f"{name}: {result['pairs']} pairs ({result['same']} same) precision {result['precision']:.3f} "
              f"recall {result['recall']:.3f} f1 {result['f1']:.3f}; {len(result['false_merges'])} false merges, "
              f"{len(result['missed'])} missed")
    print(f"merges with conflicting model codes among {len(wanted)} listings: {record['merges_with_conflicting_models']}")
    save_record(args.out, record)
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
