"""Review understanding on real data: sentiment, opinion tuples, aspect polarity, each beside
a baseline in the same run.

    python benchmarks/reviews.py --data ../shared/data [--tasks sentiment,opinions,aspects]
                                 [--test-sentiment PATH] [--test-opinions REVIEWS.csv,LABELS.csv]

- sentiment: ``online-shopping-9cats`` (review-level, positive/negative); dev = every fifth
  review. Baseline: the majority label. Ours: the linear character n-gram classifier
  (``skugraph.facts.classify``). Target: accuracy >= 0.93.
- opinions: ``opinion-zhijiang2019`` (aspect, opinion, category, polarity); dev = every fifth
  review. Baseline: aspect and opinion spans by longest match against the terms seen in
  training, then the same pairing and classifiers. Ours: the opinion extractor (the span
  tagger as ``skugraph train tagger`` makes it, from the pretrained encoder with its CRF
  member and their ensemble where dev prefers it; pairing of the spans over the minimum
  scores dev prefers; classifiers; tuples over the minimum score dev prefers). Score: exact-tuple
  F1 (issue 21 target: >= 0.75), and where it is lost: span F1 per label, the tuple F1 from
  the gold spans and from the gold pairs, and each dev gold tuple by the step that loses it.
- aspects: ``aspect-sentiment-peng2018`` (phone, camera, notebook, car); aspect polarity
  given the gold aspect; dev = every fifth sentence. Baseline: the majority polarity.
  Ours: the linear classifier over the sentence with the aspect marked. Accuracy and
  macro-F1 per domain.

Writes benchmarks/results/reviews.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from skugraph.facts.classify import LinearTextClassifier
from skugraph.facts.opinions import Decoding, OpinionExtractor, OpinionText, read_opinion_csv, span_labels, train_opinion_extractor, tuple_scores
from skugraph.facts.sentiment import read_sentiment_file, train_sentiment
from skugraph.lm.finetune import at_epoch_ends
from skugraph.tagging.evaluate import Score

sys.path.insert(0, str(Path(__file__).parent))
from ner import pretrained_model  # noqa: E402  (the cached pretrained encoder)
from record import save_record  # noqa: E402  (benchmarks/record.py)

DOMAINS = ("phone", "camera", "notebook", "car")


def accuracy_and_macro_f1(gold: list[str], predicted: list[str]) -> dict:
    labels = sorted(set(gold))
    f1s = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(Score.from_counts(tp, tp + fp, tp + fn).f1)
    right = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return {"accuracy": round(right / len(gold), 4), "macro_f1": round(sum(f1s) / len(f1s), 4), "texts": len(gold)}


# -- sentiment ------------------------------------------------------------------------------

def sentiment(args) -> dict:
    rows = read_sentiment_file(args.data / "reviews/online-shopping-9cats/train.csv")
    train = [r for i, r in enumerate(rows) if i % 5 != 4]
    sets = {"dev": [r for i, r in enumerate(rows) if i % 5 == 4]}
    if args.test_sentiment:
        sets["test"] = read_sentiment_file(args.test_sentiment)
    majority = Counter(label for _, label in train).most_common(1)[0][0]
    began = time.perf_counter()
    model = train_sentiment(train)
    seconds = time.perf_counter() - began
    result = {"train": len(train), "train_seconds": round(seconds, 1), "systems": {"majority": {}, "linear": {}}}
    for name, data in sets.items():
        gold = [label for _, label in data]
        result["systems"]["majority"][name] = accuracy_and_macro_f1(gold, [majority] * len(gold))
        began = time.perf_counter()
        predicted = [label for label, _ in model.predict([t for t, _ in data])]
        result["systems"]["linear"][name] = {**accuracy_and_macro_f1(gold, predicted),
                                             "texts_per_second": round(len(data) / (time.perf_counter() - began))}
    for system, scores in result["systems"].items():
        print(f"  sentiment {system:<10} dev accuracy {scores['dev']['accuracy']:.4f}  macro-F1 {scores['dev']['macro_f1']:.4f}"
              + (f"  test accuracy {scores['test']['accuracy']:.4f}" if "test" in scores else ""), flush=True)
    return result


# -- opinion tuples -------------------------------------------------------------------------

class LexiconSpans:
    """Baseline span finder: the longest aspect or opinion term seen in training at each position."""

    def __init__(self, train: list[OpinionText]):
        self.terms: dict[str, str] = {}
        for review in train:
            for o in review.opinions:
                aspect, opinion = o.terms(review.text)
                if opinion != "_":
                    self.terms[opinion] = "OP"
                if aspect != "_":
                    self.terms.setdefault(aspect, "ASP")
        self.longest = max(map(len, self.terms))

    def find(self, text: str) -> list[tuple[int, int, str]]:
        spans, i = [], 0
        while i < len(text):
            for length in range(min(self.longest, len(text) - i), 0, -1):
                label = self.terms.get(text[i : i + length])
                if label and (length > 1 or label == "OP"):
                    spans.append((i, i + length, label))
                    i += length
                    break
            else:
                i += 1
        return spans


def where_lost(extractor: OpinionExtractor, reviews: list[OpinionText], spans: list[list[tuple]], found: list[list]) -> dict:
    """Where the tuple F1 goes: span P/R/F1 per label; the tuple F1 from the gold spans (pairing
    and classifiers only) and from the gold pairs (classifiers only); and each gold tuple by the
    first step that loses it (a span not found, not paired or under a minimum score, wrong
    category, polarity, or both)."""
    texts = [r.text for r in reviews]
    gold_spans = [[(s.start, s.end, s.label, 1.0) for s in span_labels(r).spans] for r in reviews]
    gold_pairs = [[(o.aspect, o.opinion, 1.0) for o in r.opinions] for r in reviews]
    result: dict = {"spans": {}, "from_gold_spans": tuple_scores(reviews, extractor.read_spans(texts, gold_spans, Decoding())),
                    "from_gold_pairs": tuple_scores(reviews, extractor.classify(texts, gold_pairs))}
    for label in ("ASP", "OP"):
        truth = [{s[:2] for s in row if s[2] == label} for row in gold_spans]
        guess = [{s[:2] for s in row if s[2] == label} for row in spans]
        counts = [sum(len(t & g) for t, g in zip(truth, guess)), sum(map(len, guess)), sum(map(len, truth))]
        result["spans"][label] = Score.from_counts(*counts).to_dict()
    lost = Counter()
    for review, row, opinions in zip(reviews, spans, found, strict=True):
        tagged = {s[:3] for s in row}
        paired = {(o.aspect, o.opinion): o for o in opinions}
        for o in review.opinions:
            if (o.aspect and (*o.aspect, "ASP") not in tagged) or (o.opinion and (*o.opinion, "OP") not in tagged):
                lost["span"] += 1
            elif (o.aspect, o.opinion) not in paired:
                lost["pairing"] += 1
            else:
                got = paired[(o.aspect, o.opinion)]
                wrong = [name for name, a, b in (("category", got.category, o.category), ("polarity", got.polarity, o.polarity)) if a != b]
                lost["+".join(wrong) or "right"] += 1
    result["gold_tuples"] = dict(lost.most_common())
    return result


def opinions(args, scratch: Path) -> dict:
    root = args.data / "reviews/opinion-zhijiang2019"
    data = read_opinion_csv(root / "reviews.csv", root / "labels.csv")
    train = [r for i, r in enumerate(data) if i % 5 != 4]
    sets = {"dev": [r for i, r in enumerate(data) if i % 5 == 4]}
    if args.test_opinions:
        reviews_csv, labels_csv = args.test_opinions.split(",")
        sets["test"] = read_opinion_csv(reviews_csv, labels_csv)
    base = str(pretrained_model(args.data, args.pretrain_minutes))
    began = time.perf_counter()
    extractor = train_opinion_extractor(train, sets["dev"], scratch / "opinions", base_model=base, epochs=args.epochs, patience=4,
                                        networks=args.networks,
                                        progress=at_epoch_ends(lambda r: print(f"    epoch {r['epoch']:>2}  loss {r['loss']:.4f}  dev span F1 {r.get('dev_f1', 0):.4f}", flush=True)))
    seconds = time.perf_counter() - began
    lexicon = LexiconSpans(train)
    result = {"train": len(train), "train_seconds": round(seconds, 1), "tagger_dev": extractor.record.get("tagger_dev"),
              "tagger_ensemble": extractor.record.get("tagger_ensemble"), "decoding": extractor.record.get("decoding"),
              "dev_f1_by_decoding": extractor.record.get("dev_f1_by_decoding"), "networks": extractor.record.get("networks"),
              "systems": {"lexicon": {}, "extractor": {}}}
    for name, reviews in sets.items():
        texts = [r.text for r in reviews]
        spans = extractor.spans(texts)
        found = extractor.read_spans(texts, spans)
        result["systems"]["extractor"][name] = tuple_scores(reviews, found)
        if name == "dev":
            result["where_lost"] = where_lost(extractor, reviews, spans, found)
        lexicon_spans = [[(start, end, label, 1.0) for start, end, label in lexicon.find(t)] for t in texts]
        result["systems"]["lexicon"][name] = tuple_scores(reviews, extractor.read_spans(texts, lexicon_spans, Decoding()))
    for system, scores in result["systems"].items():
        s = scores["dev"]
        print(f"  opinions {system:<10} dev exact-tuple P {s['precision']:.4f}  R {s['recall']:.4f}  F1 {s['f1']:.4f}", flush=True)
    if result["networks"]:
        n = result["networks"]
        print(f"  opinions extractor: {1 + len(n['taggers'])} networks with the CRF member: dev span F1 {n['dev_span_f1']['all']:.4f}"
              f" (one network {n['dev_span_f1']['one']:.4f}), tuple F1 {n['dev_tuple_f1']['all']:.4f} (one {n['dev_tuple_f1']['one']:.4f});"
              f" {'kept' if n['use'] else 'not kept'}", flush=True)
    plain = result["dev_f1_by_decoding"]["0.0/0.0/0.0"]
    print(f"  opinions extractor: minimum span and tuple scores chosen on dev {result['decoding']} (all kept: dev F1 {plain:.4f})", flush=True)
    lost = result["where_lost"]
    print(f"  opinions extractor: span F1 aspect {lost['spans']['ASP']['f1']:.4f} opinion {lost['spans']['OP']['f1']:.4f};"
          f" tuple F1 from gold spans {lost['from_gold_spans']['f1']:.4f}, from gold pairs {lost['from_gold_pairs']['f1']:.4f};"
          f" dev gold tuples {lost['gold_tuples']}", flush=True)
    return result


# -- aspect polarity ------------------------------------------------------------------------

def read_atepc(path: Path) -> list[tuple[str, int, int, str]]:
    """(sentence, aspect start, aspect end, polarity) from a ``char tag polarity`` file."""
    items, chars, tags, polarities = [], [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            text, i = "".join(chars), 0
            while i < len(tags):
                if tags[i] == "B-ASP":
                    j = i + 1
                    while j < len(tags) and tags[j] == "I-ASP":
                        j += 1
                    if polarities[i] in ("Positive", "Negative", "Neutral"):
                        items.append((text, i, j, polarities[i]))
                    i = j
                else:
                    i += 1
            chars, tags, polarities = [], [], []
            continue
        char, tag, polarity = (" ", *line.split()) if line.startswith(" ") else line.split(" ")
        chars.append(char)
        tags.append(tag)
        polarities.append(polarity)
    return items


def marked(text: str, start: int, end: int) -> str:
    return f"{text[:start]}[{text[start:end]}]{text[end:]}"


def aspects(args) -> dict:
    result = {}
    for domain in DOMAINS:
        items = read_atepc(args.data / f"reviews/aspect-sentiment-peng2018/{domain}.train.atepc")
        sentences = sorted({text for text, *_ in items})
        held = {s for i, s in enumerate(sentences) if i % 5 == 4}
        train = [x for x in items if x[0] not in held]
        dev = [x for x in items if x[0] in held]
        model = LinearTextClassifier.fit([marked(*x[:3]) for x in train], [x[3] for x in train], c=8.0, min_df=1)
        gold = [x[3] for x in dev]
        majority = Counter(x[3] for x in train).most_common(1)[0][0]
        result[domain] = {
            "train": len(train), "dev": len(dev),
            "majority": accuracy_and_macro_f1(gold, [majority] * len(gold)),
            "linear": accuracy_and_macro_f1(gold, [label for label, _ in model.predict([marked(*x[:3]) for x in dev])]),
        }
        r = result[domain]
        print(f"  aspects {domain:<9} dev accuracy {r['linear']['accuracy']:.4f} (majority {r['majority']['accuracy']:.4f})"
              f"  macro-F1 {r['linear']['macro_f1']:.4f} (majority {r['majority']['macro_f1']:.4f})", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--tasks", default="sentiment,opinions,aspects")
    parser.add_argument("--test-sentiment", type=Path, help="a cat,label,review CSV to score too")
    parser.add_argument("--test-opinions", help="REVIEWS.csv,LABELS.csv in the ZhejiangLab format to score too")
    parser.add_argument("--pretrain-minutes", type=float, default=30.0, help="which cached pretrained encoder to start from")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--networks", type=int, default=3, help="networks in the opinion span ensemble (dev keeps them if better)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reviews.json")
    args = parser.parse_args()
    began = time.perf_counter()
    record: dict = {"command": " ".join(["python", *sys.argv])}
    tasks = args.tasks.split(",")
    with tempfile.TemporaryDirectory(prefix="skugraph-reviews-") as scratch:
        if "sentiment" in tasks:
            print("[sentiment]", flush=True)
            record["sentiment"] = sentiment(args)
        if "opinions" in tasks:
            print("[opinions]", flush=True)
            record["opinions"] = opinions(args, Path(scratch))
        if "aspects" in tasks:
            print("[aspects]", flush=True)
            record["aspects"] = aspects(args)
    record["wall_seconds"] = round(time.perf_counter() - began, 1)
    save_record(args.out, record)
    print(f"wrote {args.out} ({record['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
