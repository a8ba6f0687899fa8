"""Self-training on the user's own texts: the tagger trained on the gold data labels unlabelled
texts, the share it is surest of (its least certain token most certain) joins the gold texts,
and a second tagger trained on both replaces the first only when it scores better on dev.

    skugraph train tagger --train train.bio --dev dev.bio --unlabelled listings.jsonl --out models/tagger

The labeller is the gold model as :func:`~skugraph.tagging.tagger.load_tagger` loads it (the
CRF + neural ensemble where training kept one). Both dev F1s and the decision go into the
model directory's ``skugraph.json`` (section ``self_training``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from skugraph.corpus.ner import LabelledText, Span, detect_format, read_labelled, write_doccano
from skugraph.lm.corpus import file_sha256, read_documents
from skugraph.tagging.model import METADATA
from skugraph.tagging.tagger import load_tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

SELF_TRAINING = "self_training"  # the metadata section


@dataclass
class SelfTrainingConfig:
    unlabelled: Path  # a text a line (.txt), a CSV/TSV column (.csv/.tsv), or listings JSONL: read as `skugraph pretrain` reads
    column: str | None = None  # the CSV column (default: the first of review, Reviews, text, content, title)
    share: float = 0.5  # share of the pseudo-labelled texts kept, most certain first
    limit: int = 20_000  # at most this many unlabelled texts (a random sample of them when there are more)


def read_unlabelled(path: Path, column: str | None = None, limit: int | None = None, exclude: Sequence[str] = (),
                    seed: int = 42) -> list[str]:
    """The distinct sentences of an unlabelled corpus file that are not in ``exclude`` (the gold
    texts); a random sample of ``limit`` of them when there are more."""
    seen = set(exclude)
    texts = []
    for document in read_documents(path, column):
        for sentence in document:
            if sentence not in seen:
                seen.add(sentence)
                texts.append(sentence)
    if limit is not None and len(texts) > limit:
        texts = random.Random(seed).sample(texts, limit)
    return texts


def pseudo_label(tagger, texts: Sequence[str], share: float) -> tuple[list[LabelledText], float]:
    """The ``share`` of ``texts`` the tagger (a :class:`~skugraph.tagging.tagger.Tagger` or an
    ensemble) is surest of, labelled with its spans: a text's certainty is the tag probability
    of its least certain token. Returns (the kept texts, most certain first; the lowest certainty kept)."""
    if not 0 < share <= 1:
        raise ValueError(f"the unlabelled share must be in (0, 1], not {share}")
    scores = tagger.scores(texts)
    rated = []
    for number, (text, one, spans) in enumerate(zip(texts, scores, tagger.decode_many(scores), strict=True)):
        marginals = tagger.marginals(one)
        if len(marginals):
            labelled = LabelledText(text, tuple(Span(s.start, s.end, s.label) for s in spans), f"pseudo-{number}")
            rated.append((float(marginals.max(axis=1).min()), labelled))
    rated.sort(key=lambda pair: -pair[0])
    kept = rated[: max(1, int(len(rated) * share))] if rated else []
    return [text for _, text in kept], (kept[-1][0] if kept else 0.0)


def describe(section: dict) -> str:
    """One line on a ``self_training`` metadata section: both dev F1s and which model was kept."""
    unlabelled, f1 = section["unlabelled"], section["dev_f1"]
    verdict = ("the self-trained model is kept" if section["kept"] == "self-trained"
               else "it did not beat the gold-only model, which is kept")
    return (f"self-training on {unlabelled['kept']} of {unlabelled['texts']} unlabelled texts: dev F1 gold only"
            f" {f1['gold']:.4f}, with them {f1['self_trained']:.4f}: {verdict}")


def self_train(config: TrainTaggerConfig, options: SelfTrainingConfig,
               train: Callable[[TrainTaggerConfig], dict] | None = None) -> dict:
    """Train on the gold data into ``config.out``, pseudo-label ``options.unlabelled`` with that
    model, train again on gold + pseudo-labelled texts, and keep whichever model scores better
    on dev (ties keep the gold-only one). ``train`` runs one training and returns its metadata
    (default: :func:`~skugraph.tagging.train.train_tagger` in this process). Returns the kept
    model's metadata, with its ``self_training`` section."""
    if config.dev is None:
        raise ValueError("self-training needs dev data (--dev): dev decides whether the self-trained model is kept")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("self-training runs in one process (or on Ray with --engine ray), not under torchrun")
    train = train or (lambda c: train_tagger(c).metadata)
    began = time.perf_counter()
    gold_meta = train(config)
    gold_data = read_labelled(config.train, config.format, on_error=lambda _: None)
    dev_data = read_labelled(config.dev, config.format, on_error=lambda _: None)
    labeller = load_tagger(config.out)
    labels = set(labeller.config.entity_types)
    dev = [LabelledText(d.text, tuple(s for s in d.spans if s.label in labels), d.id) for d in dev_data]
    gold_f1 = labeller.evaluate(dev).micro.f1
    texts = read_unlabelled(options.unlabelled, options.column, options.limit, [item.text for item in gold_data], config.seed)
    if not texts:
        raise ValueError(f"{options.unlabelled}: no unlabelled texts (none that is not already a training text)")
    pseudo, lowest = pseudo_label(labeller, texts, options.share)
    scheme = config.scheme or ("bieos" if detect_format(config.train, config.format) == "bieos" else "bio")
    with tempfile.TemporaryDirectory(prefix=f".{config.out.name}.self-training-", dir=config.out.parent) as scratch:
        mixed, dev_copy = Path(scratch) / "train.jsonl", Path(scratch) / "dev.jsonl"
        write_doccano([*gold_data, *pseudo], mixed)
        write_doccano(dev_data, dev_copy)  # both in one format, whatever the gold files' are
        second = replace(config, train=mixed, dev=dev_copy, format="jsonl", scheme=scheme, out=Path(scratch) / "model")
        self_meta = train(second)
        self_f1 = load_tagger(second.out).evaluate(dev).micro.f1
        better = self_f1 > gold_f1
        if better:
            shutil.rmtree(config.out)
            shutil.move(str(second.out), str(config.out))
            self_meta["train"] = {**self_meta["train"], "path": str(config.train), "pseudo_labelled": len(pseudo)}
            self_meta["dev"] = {**self_meta["dev"], "path": str(config.dev)}
    section = {
        "unlabelled": {"path": str(options.unlabelled), "sha256": file_sha256(options.unlabelled), "texts": len(texts),
                       "kept": len(pseudo), "share": options.share, "lowest_certainty_kept": round(lowest, 4)},
        "dev_f1": {"gold": round(gold_f1, 4), "self_trained": round(self_f1, 4)},
        "kept": "self-trained" if better else "gold",
        "seconds": round(time.perf_counter() - began, 1),
    }
    meta = {**(self_meta if better else gold_meta), SELF_TRAINING: section}
    stored = json.loads((config.out / METADATA).read_text("utf-8"))
    stored.update({SELF_TRAINING: section, **({"train": meta["train"], "dev": meta["dev"]} if better else {})})
    (config.out / METADATA).write_text(json.dumps(stored, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta
