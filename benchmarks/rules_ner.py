"""Score the rule extractor (the baseline) on labelled title NER: strict entity F1 per type.

    python benchmarks/rules_ner.py --data ../shared/data [--test PATH --scheme ding|jd]

By default it scores the dev splits of the Ding (brand/product) and JD (attribute) sets,
mapping their tags onto the rule labels; only the mapped types count. Writes
benchmarks/results/rules_ner.json with the command that made it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from skugraph.corpus.ner import LabelledText, read_conll
from skugraph.tagging.evaluate import score_spans
from skugraph.tagging.rules import RuleExtractor
from record import save_record

#: data-set tag → rule label; tags not listed are left out of the score.
TAG_MAPS = {
    "ding": {"HP": "brand", "HC": "product_type"},
    "jd": {
        "1": "brand",
        "4": "product_type",
        "12": "material",
        "16": "colour",
        "36": "capacity",
        "54": "size",
        "37": "compatible_brand",
        "38": "compatible_model",
        "40": "compatible_product",
    },
}
DEV_FILES = {"ding": "ner/ecommerce-ding2019/dev.bieos", "jd": "ner/jd-gaiic2022/dev.bio"}


def score(texts: list[LabelledText], tag_map: dict[str, str], rules: RuleExtractor) -> dict:
    labels = set(tag_map.values())
    rules.spans(texts[0].text)  # untimed: the first title loads jieba's dictionary (about a second)
    start = time.perf_counter()
    predictions = [rules.spans(t.text) for t in texts]
    seconds = time.perf_counter() - start
    gold = [[(s.start, s.end, tag_map[s.label]) for s in t.spans if s.label in tag_map] for t in texts]
    guessed = [[(s, e, label) for s, e, label, _ in spans] for spans in predictions]
    report = score_spans(gold, guessed, labels).to_dict(digits=3)
    return {"texts": len(texts), **report, "titles_per_second": round(len(texts) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--test", type=Path, help="score this BIO/BIEOS file instead of the dev splits")
    parser.add_argument("--scheme", choices=sorted(TAG_MAPS), help="tag set of --test")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rules_ner.json")
    args = parser.parse_args()
    if args.test and not args.scheme:
        parser.error("--test needs --scheme")
    jobs = {args.scheme: args.test} if args.test else {name: args.data / path for name, path in DEV_FILES.items()}
    extractors = {"rules": RuleExtractor()}
    ding_lexicon = args.data / "ner/ecommerce-ding2019/lexicon"
    if ding_lexicon.is_dir():  # the gazetteers shipped with the Ding data, as the CRF baseline used
        extractors["rules+ding-lexicon"] = RuleExtractor.with_lexicon_files(
            sorted(ding_lexicon.glob("brand*.dic")), sorted(ding_lexicon.glob("product*.dic"))
        )
    results: dict[str, dict] = {}
    for name, path in jobs.items():
        if not path.is_file():
            sys.exit(f"{path}: not found (pass --data or --test)")
        texts = list(read_conll(path))
        for variant, rules in extractors.items():
            if variant == "rules+ding-lexicon" and name != "ding":
                continue
            rules = rules.learn_brands(t.text for t in texts)  # as `skugraph extract` does
            r = results.setdefault(name, {"file": str(path)})[variant] = score(texts, TAG_MAPS[name], rules)
            print(f"{name} [{variant}]: {path}  {r['texts']} titles  strict micro F1 {100 * r['micro']['f1']:.1f}"
                  f"  macro F1 {100 * r['macro']['f1']:.1f}  ({r['titles_per_second']} titles/s)")
            for label, s in r["per_type"].items():
                print(f"   {label:20s} P {100 * s['precision']:5.1f}  R {100 * s['recall']:5.1f}"
                      f"  F1 {100 * s['f1']:5.1f}  (gold {s['support']})")
    print("reference (held-out test, DEVELOPERS.md): CRF 72.6 (Ding), 70.6 (JD, all 50 types)")
    save_record(args.out, {"command": " ".join(["python", *sys.argv]), "results": results})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
