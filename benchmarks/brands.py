"""Brand aliases on real titles: which brand names the miner puts in one cluster, scored on
hand-labelled pairs of names that co-occur in real JD titles, judged as clusters too.

    python benchmarks/brands.py --titles ../shared/data/corpus/jd-titles.txt [--pairs FILE] [--test PATH]
    python benchmarks/brands.py --data ../shared/data        # the older set, on gold NER brand spans

``--titles``: one title a line. The rule extractor (with the brands titles teach it, as
``skugraph extract`` does) reads each title's brands and their roles (maker, or a brand the
product fits); :func:`~skugraph.fusion.brands.mine_aliases` clusters the names.
``--pairs`` (default ``benchmarks/data/brand-pairs-jd.jsonl``, see benchmarks/data/README.md):
``{"a", "b", "label": "same"|"different", "kind", "pattern", "line"}``, ``line`` a 0-based
line of ``--titles`` where both names occur. Scores: precision and recall of "same cluster"
over the pairs, per kind, and the clusters that join brands the shipped gazetteer knows as
distinct (:func:`~skugraph.fusion.brands.clashing_clusters`). Targets (issue 19): precision
≥ 0.98 at recall ≥ 0.8, no clashing cluster.

``--data``: the older set, ``benchmarks/data/brand-aliases-checked.jsonl`` (205 pairs from the
JD GAIIC and Ding NER titles, ``{"a", "b", "alias"}``), mined from those titles' gold brand
spans (no roles). ``--test PATH`` scores one more file in either format with the JD clusters
(the NER ones without ``--titles``). Baseline: rapidfuzz ratio of the folded names ≥ 80.
Writes benchmarks/results/brands-jd.json (``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from rapidfuzz import fuzz

from skugraph.corpus.ner import read_labelled
from skugraph.fusion.brands import BrandAliases, clashing_clusters, mine_aliases
from skugraph.tagging.lexicon import name_key
from skugraph.tagging.evaluate import Score
from skugraph.tagging.rules import RuleExtractor
from record import read_jsonl, save_record

HERE = Path(__file__).parent
PAIRS = HERE / "data" / "brand-pairs-jd.jsonl"
CHECKED = HERE / "data" / "brand-aliases-checked.jsonl"
NER_SOURCES = [("ner/jd-gaiic2022/train.bio", "1"), ("ner/jd-gaiic2022/dev.bio", "1"),
               ("ner/ecommerce-ding2019/train.bieos", "HP"), ("ner/ecommerce-ding2019/dev.bieos", "HP")]


def read_pairs(path: Path, titles: list[str] | None = None) -> list[dict]:
    """Labelled pairs as ``{"a", "b", "same", "kind"}``; a row without names or label, or whose
    reference line lacks a name, stops with the file, line and field."""
    pairs = []
    for number, row in read_jsonl(path):
        for name in ("a", "b"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                sys.exit(f"{path}:{number}: field {name!r} must be a brand name")
        if "label" in row and row["label"] in ("same", "different"):
            same = row["label"] == "same"
        elif isinstance(row.get("alias"), bool):
            same = row["alias"]
        else:
            sys.exit(f"{path}:{number}: field 'label' must be \"same\" or \"different\"")
        if titles is not None and "line" in row:
            at = row["line"]
            if not isinstance(at, int) or not 0 <= at < len(titles):
                sys.exit(f"{path}:{number}: field 'line' must be a line of the titles file (0..{len(titles) - 1})")
            if row["a"] not in titles[at] or row["b"] not in titles[at]:
                sys.exit(f"{path}:{number}: field 'line': title {at} lacks {row['a']!r} or {row['b']!r}")
        pairs.append({"a": row["a"], "b": row["b"], "same": same, "kind": row.get("kind", "")})
    return pairs


def scores(pairs: list[dict], same: Callable[[str, str], bool], errors: bool = True) -> dict:
    """Precision, recall, F1 of "same cluster" over the pairs; per kind the share judged right;
    with ``errors``, the pairs merged wrongly and those missed."""
    said = [bool(same(p["a"], p["b"])) for p in pairs]
    tp = sum(s and p["same"] for s, p in zip(said, pairs))
    score = Score.from_counts(tp, sum(said), sum(p["same"] for p in pairs)).to_dict()
    kinds: dict[str, list[bool]] = defaultdict(list)
    for s, p in zip(said, pairs):
        kinds[p["kind"] or "-"].append(s == p["same"])
    result = {"precision": score["precision"], "recall": score["recall"], "f1": score["f1"], "pairs": len(pairs),
              "right_by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(kinds.items())}}
    if errors:
        result["false_merges"] = [f"{p['a']} / {p['b']}" for s, p in zip(said, pairs) if s and not p["same"]]
        result["missed"] = [f"{p['a']} / {p['b']}" for s, p in zip(said, pairs) if p["same"] and not s]
    return result


def jd_aliases(path: Path) -> tuple[list[str], BrandAliases, float]:
    """The titles of ``path``, the aliases mined from their rule-extracted brands, and the
    seconds mining took."""
    titles = path.read_text(encoding="utf-8").splitlines()
    extractor = RuleExtractor().learn_brands(titles)
    mentions = []
    for text in titles:
        spans = [(s, e, "brand" if label == "brand" else "compatible") for s, e, label, _ in extractor.spans(text)
                 if label in ("brand", "compatible_brand")]
        mentions.append((text, spans))
    began = time.perf_counter()
    aliases = mine_aliases(mentions)
    return titles, aliases, time.perf_counter() - began


def ner_aliases(data: Path) -> BrandAliases:
    """Aliases mined from the gold brand spans of the JD and Ding NER titles."""
    titles = []
    for relative, label in NER_SOURCES:
        for text in read_labelled(data / relative):
            titles.append((text.text, [(s.start, s.end) for s in text.spans if s.label == label]))
    return mine_aliases(titles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=Path, help="JD titles, one a line (../shared/data/corpus/jd-titles.txt)")
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--data", type=Path, help="the shared data folder: also score the older NER-span set")
    parser.add_argument("--test", type=Path)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "brands-jd.json")
    args = parser.parse_args()
    if not args.titles and not args.data:
        parser.error("give --titles (JD titles) and/or --data (the shared data folder)")
    for given in filter(None, (args.titles, args.data, args.test, args.pairs if args.titles else None)):
        if not given.exists():
            sys.exit(f"{given}: no such file or folder")
    began = time.perf_counter()
    baseline = lambda a, b: fuzz.ratio(name_key(a), name_key(b)) >= 80  # noqa: E731
    results: dict[str, dict] = {}
    record: dict = {"command": " ".join(["python", *sys.argv])}
    aliases = None
    if args.titles:
        titles, aliases, mining = jd_aliases(args.titles)
        sets = {"jd": read_pairs(args.pairs, titles)}
        clashing = clashing_clusters(aliases)
        record["jd"] = {"titles": len(titles), "clusters": len(aliases.clusters),
                        "largest_cluster": max(map(len, aliases.clusters), default=0),
                        "clashing_clusters": clashing, "mining_seconds": round(mining, 2)}
        print(f"{len(titles)} titles → {len(aliases.clusters)} alias clusters (largest "
              f"{record['jd']['largest_cluster']} names), {len(clashing)} joining brands the gazetteer keeps apart")
        results.setdefault("mined", {})["jd"] = scores(sets["jd"], aliases.same)
        results.setdefault("string similarity", {})["jd"] = scores(sets["jd"], baseline, errors=False)
    if args.data:
        checked = read_pairs(CHECKED)
        ner = ner_aliases(args.data)
        results.setdefault("mined", {})["checked (NER spans)"] = scores(checked, ner.same)
        results.setdefault("string similarity", {})["checked (NER spans)"] = scores(checked, baseline, errors=False)
        aliases = aliases or ner
    if args.test:
        results["mined"]["test"] = scores(read_pairs(args.test), aliases.same)
        results["string similarity"]["test"] = scores(read_pairs(args.test), baseline, errors=False)
    print(f"{'system':<20}{'set':<22}{'P':>8}{'R':>8}{'F1':>8}  pairs")
    for name, by_set in results.items():
        for set_name, s in by_set.items():
            figures = "".join(f"{100 * s[m]:>8.1f}" for m in ("precision", "recall", "f1"))
            print(f"{name:<20}{set_name:<22}{figures}  {s['pairs']}")
    for set_name, s in results["mined"].items():
        print(f"mined, {set_name}: right by kind {s['right_by_kind']}")
        print(f"  false merges {s['false_merges']}\n  missed {s['missed']}")
    record.update(results=results, wall_seconds=round(time.perf_counter() - began, 1))
    save_record(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
