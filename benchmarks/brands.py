"""Brand aliases on real titles: mined from how the JD and Ding titles write their brands, scored
on hand-checked pairs, beside a string-similarity baseline in the same run.

    python benchmarks/brands.py --data ../shared/data [--test PATH] [--threshold 0.5]

``benchmarks/data/brand-aliases-checked.jsonl``: 205 pairs of brand names from those titles,
each judged by hand (158 aliases: Midea / 美的, TP-LINK / 普联; 47 not: 中国联通 / 电信, 三叶草 /
阿迪达斯 (a line of the brand), similac / 雅培 (a brand of the company)); 120 were pairs the
miner joined at threshold 0.75, 100 pairs written next to each other or in one title that
it did not join (15 we could not judge were dropped). ``--test PATH`` scores another file of
``{"a", "b", "alias"}`` rows. Baseline: rapidfuzz ratio of the folded names ≥ 80.
Targets (issue 6): precision and recall ≥ 0.95. Writes benchmarks/results/brands.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rapidfuzz import fuzz

from skugraph.corpus.ner import read_labelled
from skugraph.fusion.brands import mine_aliases, name_key
from skugraph.tagging.evaluate import Score
from record import save_record

CHECKED = Path(__file__).parent / "data" / "brand-aliases-checked.jsonl"
SOURCES = [("ner/jd-gaiic2022/train.bio", "1"), ("ner/jd-gaiic2022/dev.bio", "1"),
           ("ner/ecommerce-ding2019/train.bieos", "HP"), ("ner/ecommerce-ding2019/dev.bieos", "HP")]


def scores(pairs: list[dict], same) -> dict:
    tp = sum(bool(same(p["a"], p["b"])) and p["alias"] for p in pairs)
    fp = sum(bool(same(p["a"], p["b"])) and not p["alias"] for p in pairs)
    fn = sum(not same(p["a"], p["b"]) and p["alias"] for p in pairs)
    score = Score.from_counts(tp, tp + fp, tp + fn).to_dict()
    return {"precision": score["precision"], "recall": score["recall"], "f1": score["f1"], "pairs": len(pairs),
            "false_positives": [(p["a"], p["b"]) for p in pairs if same(p["a"], p["b"]) and not p["alias"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "brands.json")
    args = parser.parse_args()
    began = time.perf_counter()
    titles = []
    for relative, label in SOURCES:
        for text in read_labelled(args.data / relative):
            titles.append((text.text, [(s.start, s.end) for s in text.spans if s.label == label]))
    sets = {"checked": [json.loads(line) for line in CHECKED.read_text(encoding="utf-8").splitlines() if line.strip()]}
    if args.test:
        sets["test"] = [json.loads(line) for line in args.test.read_text(encoding="utf-8").splitlines() if line.strip()]
    systems = {"string similarity": lambda a, b: fuzz.ratio(name_key(a), name_key(b)) >= 80}
    for threshold in sorted({args.threshold, 0.75}):
        aliases = mine_aliases(titles, threshold)
        systems[f"mined (threshold {threshold})"] = aliases.same
    results = {name: {set_name: scores(pairs, same) for set_name, pairs in sets.items()} for name, same in systems.items()}
    print(f"{len(titles)} titles; {len(sets['checked'])} hand-checked pairs")
    print(f"{'system':<28}{'P':>8}{'R':>8}{'F1':>8}")
    for name, result in results.items():
        s = result["checked"]
        print(f"{name:<28}{100 * s['precision']:>8.1f}{100 * s['recall']:>8.1f}{100 * s['f1']:>8.1f}")
    record = {"command": " ".join(["python", *sys.argv]), "titles": len(titles), "results": results,
              "wall_seconds": round(time.perf_counter() - began, 1)}
    save_record(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
