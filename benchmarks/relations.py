"""Relation classifier on real titles: trained by distant supervision on the JD training
titles, scored on hand-checked pairs from the JD dev titles, beside the rules that made its
training labels.

    python benchmarks/relations.py --data ../shared/data [--test PATH] [--minutes 25]

The pairs (head product word, other mention) come from the gold mentions of the titles; the
distant label is what the ontology makes of the mention's type (brand → brand_of, compatible
brand/model/product → fits, component → part_of, attribute kinds → attribute_of), or none
when the mention sits after 送/赠/+ with another product. ``benchmarks/data/relations-jd-dev-
checked.jsonl`` holds 321 such pairs from the first 178 JD dev titles, each read and
corrected by hand (27 of the rule labels changed: 长虹同款 is no brand, 送钢化膜 is a
part, 联想 Tab M10 保护套 fits Lenovo …). It stores title numbers, spans and labels, not
the titles. ``--test PATH`` scores another file of that form (rows may carry "text"
instead of "title").

The classifier reads each pair with the gold type of the mention (as it reads the tagger's
in the pipeline); the rules use the same types, so both start from the same information.
Scores: precision, recall and F1 over the relations other than none (micro), per relation,
and accuracy. Writes benchmarks/results/relations.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from skugraph.corpus.ner import read_labelled
from skugraph.facts.ontology import load_ontology
from skugraph.lm.finetune import at_epoch_ends
from skugraph.facts.relations import RelationExample, TrainRelationsConfig, examples_from, relation_scores, train_relations

sys.path.insert(0, str(Path(__file__).parent))
from ner import pretrained_model  # noqa: E402
from record import save_record  # noqa: E402  (benchmarks/record.py)

CHECKED = Path(__file__).parent / "data" / "relations-jd-dev-checked.jsonl"


def read_checked(path: Path, titles: list) -> tuple[list[RelationExample], list[str]]:
    """Hand-checked pairs and the rule labels they started from; the mention's type is the
    gold one of its title (or the row's "type")."""
    ontology = load_ontology()
    examples, rules = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        text = row.get("text") or titles[row["title"]].text
        if "title_sha1" in row and hashlib.sha1(text.encode()).hexdigest()[:10] != row["title_sha1"]:
            sys.exit(f"{path}:{number}: title {row['title']} is not the title this pair was checked on (other data?)")
        kind = row.get("type") or next((ontology.meaning(s.label) for s in titles[row["title"]].spans
                                         if (s.start, s.end) == tuple(row["other"])), "")
        examples.append(RelationExample(text, tuple(row["head"]), tuple(row["other"]), row["label"], f"{path.name}:{number}", kind))
        rules.append(row.get("rule_label", "none"))
    return examples, rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, help="another file of checked pairs to score")
    parser.add_argument("--pretrain-minutes", type=float, default=30.0, help="which cached pretrained encoder to start from")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    parser.add_argument("--attribute-share", type=float, default=0.25, help="share of attribute_of training pairs kept")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "relations.json")
    args = parser.parse_args()
    began = time.perf_counter()
    root = args.data / "ner/jd-gaiic2022"
    train_titles, dev_titles = read_labelled(root / "train.bio"), read_labelled(root / "dev.bio")
    train = examples_from(train_titles)
    checked, rule_labels = read_checked(CHECKED, dev_titles)
    checked_titles = {e.text for e in checked}
    selection = [e for e in examples_from(dev_titles) if e.text not in checked_titles]
    random.Random(0).shuffle(selection)
    selection = selection[:1500]  # distant-labelled dev pairs from the other dev titles, for choosing the epoch
    print(f"{len(train)} distant training pairs, {len(selection)} selection pairs, {len(checked)} hand-checked pairs", flush=True)
    base = str(pretrained_model(args.data, args.pretrain_minutes))
    with tempfile.TemporaryDirectory(prefix="skugraph-relations-") as scratch:
        config = TrainRelationsConfig(out=Path(scratch) / "model", base_model=base, epochs=args.epochs,
                                      keep={"attribute_of": args.attribute_share}, time_budget_minutes=args.minutes)
        classifier = train_relations(train, selection, config, progress=at_epoch_ends(lambda r: print(
            f"    epoch {r['epoch']}  loss {r['loss']:.4f}  selection F1 {r['dev_f1']:.4f}  {r['seconds']} s", flush=True)))
        sets = {"checked": (checked, rule_labels)}
        if args.test:
            sets["test"] = read_checked(args.test, dev_titles)
        results = {}
        for name, (gold, rules) in sets.items():
            started = time.perf_counter()
            predicted = [label for label, _ in classifier.predict(gold)]
            results[name] = {"rules": relation_scores(gold, rules), "classifier": relation_scores(gold, predicted),
                             "pairs_per_second": round(len(gold) / (time.perf_counter() - started))}
        record = {"command": " ".join(["python", *sys.argv]), "train_pairs": classifier.record.get("train_examples"),
                  "train_seconds": classifier.record.get("train_seconds"), "history": classifier.record.get("history"),
                  "base_model": base, "results": results, "wall_seconds": round(time.perf_counter() - began, 1)}
    print(f"\n{'system':<12}{'P':>8}{'R':>8}{'F1':>8}{'acc':>8}   (hand-checked JD dev pairs, relations other than none)")
    for system in ("rules", "classifier"):
        s = results["checked"][system]
        print(f"{system:<12}{100 * s['micro']['precision']:>8.1f}{100 * s['micro']['recall']:>8.1f}{100 * s['micro']['f1']:>8.1f}"
              f"{100 * s['accuracy']:>8.1f}   " + "  ".join(f"{r} {100 * v['f1']:.0f}" for r, v in s["per_relation"].items()))
    save_record(args.out, record)
    print(f"wrote {args.out} ({record['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
