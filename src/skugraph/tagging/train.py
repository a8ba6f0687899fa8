"""Fine-tuning the tagger: entity and attribute spans from labelled titles.

    skugraph train tagger --train train.bieos --dev dev.bieos --base-model models/zh-small --out models/tagger

The shared fine-tuning loop (:func:`skugraph.lm.finetune.fine_tune`: AdamW, warm-up and
decay, clipping, bf16, early stopping on dev F1, the time budget, data-parallel on several
processes under ``torchrun`` or Ray Train) with what is the tagger's own: a higher learning
rate for the new layers (CRF ×10, no decay), windows of similar length batched together
(texts longer than a window are trained as overlapping windows, never truncated), fresh
augmented copies each epoch, bigram dropout, optional layer freezing or LoRA / AdaLoRA adapters
(merged into the saved encoder), gazetteer features, and temperature calibration of the
confidences on dev. Rank 0 scores dev and saves. With dev data it also trains a character CRF
(:mod:`skugraph.tagging.ensemble`) and keeps the two as an ensemble when that scores better on dev.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from skugraph import __version__
from skugraph.corpus.ner import LabelledText, detect_format, read_labelled
from skugraph.lm.corpus import file_sha256
from skugraph.lm.distributed import Node
from skugraph.lm.finetune import DevScore, FineTuneConfig, fine_tune, load_encoder, precision, seed_everything, versions
from skugraph.lm.model import tune_for_cpu
from skugraph.tagging.augment import AugmentConfig, Augmenter, read_synonyms
from skugraph.tagging.encoding import Encoded, TextEncoder, ngram_vocabulary, tag_set, token_tags
from skugraph.tagging.ensemble import ENSEMBLE, NETWORKS, EnsembleTagger, fit_networks, train_ensemble
from skugraph.tagging.lexicon import read_words
from skugraph.tagging.model import METADATA, TaggerConfig, TaggerModel
from skugraph.tagging.tagger import Tagger, fit_temperature, window_batch
from skugraph.tagging.windows import windows


@dataclass(kw_only=True)
class TrainTaggerConfig(FineTuneConfig):
    train: Path
    dev: Path | None = None
    format: str | None = None  # bio | bieos | jsonl | label-studio (default: from the file name)
    base_model: str = "scratch:small"  # a model directory, a hub id, "minilm", or scratch:tiny|small|base
    random_init: bool = False  # the base model's architecture and tokenizer, fresh weights
    scheme: str | None = None  # bio | bieos (default: the data's own, bio for JSON)
    units: str = "auto"  # char | subword | auto (char when sub-words would cut spans)
    epochs: int = 30
    batch_size: int = 32  # windows per process and step
    learning_rate: float | None = None  # encoder; default 1e-4 from loaded weights, 5e-4 fresh
    head_learning_rate: float = 2e-3  # lexicon and classifier layers; the CRF gets 10×
    patience: int = 5  # epochs without a better dev F1 before stopping
    freeze_layers: int = 0  # keep the embeddings and the lower N layers fixed
    lora: int = 0  # LoRA rank (0: train the encoder's own weights)
    lora_method: str = "lora"  # lora | adalora
    crf: bool = True
    ngrams: bool = False  # character-bigram embeddings (vocabulary: bigrams seen twice in training)
    ngram_dropout: float = 0.2  # share of bigram ids hidden in each training batch (they memorise fast)
    lexicons: dict[str, list[Path]] = field(default_factory=dict)  # gazetteer name → word files
    word_features: bool = True  # jieba's word boundaries (plus the lexicons' words) as B/M/E/S features (JD subset: dev F1 +0.05 at equal steps)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synonyms: Path | None = None  # synonym groups (default: the packaged list)
    window: int = 128
    stride: int = 64
    calibrate: bool = True
    crf_member: bool = True  # with dev data: also train the character CRF; keep their ensemble if dev says it is better
    crf_window: int = 2  # the CRF member's characters either side (reviews: 3)


@dataclass
class TrainResult:
    out: Path
    epochs: int
    best_epoch: int
    dev: dict | None  # the dev report of the saved model
    seconds: float
    metadata: dict


@dataclass
class _Window:
    encoded: Encoded
    start: int
    end: int
    tags: list[int]


def _read(path: Path, format: str | None, errors: list[str]) -> list[LabelledText]:
    """Labelled texts; a bad one is skipped and its location kept in ``errors``."""
    return read_labelled(path, format, on_error=lambda error: errors.append(str(error)))


def _scheme_of(path: Path, format: str | None) -> str:
    """The data's own tagging scheme: BIEOS files stay BIEOS, everything else is BIO."""
    return "bieos" if detect_format(path, format) == "bieos" else "bio"


def _choose_units(config: TrainTaggerConfig, tokenizer, data: Sequence[LabelledText]) -> str:
    if config.units != "auto":
        return config.units
    subword = TextEncoder(tokenizer, "subword")
    edges = sum(2 * len(item.spans) for item in data)
    cut = sum(subword.misaligned(item.text, item.spans) for item in data)
    return "char" if edges and cut / edges > 0.005 else "subword"


def _windows(encoder: TextEncoder, data: Sequence[LabelledText], tag_index: dict[str, int], scheme: str, size: int, stride: int) -> list[_Window]:
    out = []
    for item in data:
        encoded = encoder.encode(item.text)
        if not encoded.ids:
            continue
        for start, end in windows(len(encoded.ids), size, min(stride, size)):
            tags = token_tags(encoded.offsets[start:end], item.spans, scheme)
            out.append(_Window(encoded, start, end, [tag_index[t] for t in tags]))
    return out


def length_batches(items: list, batch_size: int, rng: random.Random) -> list[list]:
    """Batches of windows (anything with ``start`` and ``end``) of similar length (little padding), in random order."""
    order = sorted(range(len(items)), key=lambda i: (items[i].end - items[i].start) + rng.random() * 4)
    batches = [[items[i] for i in order[k : k + batch_size]] for k in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _apply_adapters(model: TaggerModel, config: TrainTaggerConfig, total_steps: int) -> None:
    if config.lora:
        from peft import AdaLoraConfig, LoraConfig, get_peft_model

        targets = ["query", "key", "value", "dense"]
        if config.lora_method == "adalora":
            peft_config = AdaLoraConfig(
                init_r=max(config.lora * 3 // 2, config.lora + 1), target_r=config.lora, lora_alpha=2 * config.lora,
                target_modules=targets, total_step=total_steps, tinit=total_steps // 10, tfinal=total_steps // 5,
            )
        elif config.lora_method == "lora":
            peft_config = LoraConfig(r=config.lora, lora_alpha=2 * config.lora, lora_dropout=0.05, target_modules=targets)
        else:
            raise ValueError(f"lora method must be lora or adalora, not {config.lora_method!r}")
        model.encoder = get_peft_model(model.encoder, peft_config)
    elif config.freeze_layers:
        layers = model.encoder.encoder.layer
        if config.freeze_layers > len(layers):
            raise ValueError(f"cannot freeze {config.freeze_layers} layers of a {len(layers)}-layer encoder")
        for module in [model.encoder.embeddings, *layers[: config.freeze_layers]]:
            for parameter in module.parameters():
                parameter.requires_grad_(False)


def train_tagger(config: TrainTaggerConfig, progress: Callable[[dict], None] | None = None) -> TrainResult:
    """Fine-tune as configured; ``progress`` gets the loop's records (on rank 0): every ten
    seconds and at each epoch's end."""
    with Node() as node:
        return _train_tagger(config, node, progress)


def _train_tagger(config: TrainTaggerConfig, node: Node, progress: Callable[[dict], None] | None) -> TrainResult:
    began = time.perf_counter()
    if node.world > 1:
        torch.set_num_threads(node.threads())
    seed_everything(config.seed)
    errors: list[str] = []
    train_data = _read(config.train, config.format, errors)
    dev_data = _read(config.dev, config.format, errors) if config.dev else []
    if not train_data:
        raise ValueError(f"{config.train}: no labelled texts" + (f" ({errors[0]} …)" if errors else ""))
    scheme = config.scheme or _scheme_of(config.train, config.format)
    labels = {s.label for item in train_data for s in item.spans}
    if not labels:
        raise ValueError(f"{config.train}: no entity spans to learn from")
    tags = tag_set(labels, scheme)
    tag_index = {t: i for i, t in enumerate(tags)}
    dev_data = [LabelledText(d.text, tuple(s for s in d.spans if s.label in labels), d.id) for d in dev_data]

    encoder_model, tokenizer = load_encoder(config.base_model, [item.text for item in train_data], config.window,
                                            config.random_init, config.seed)
    units = _choose_units(config, tokenizer, train_data)
    lexicon_words = {name: read_words(paths) for name, paths in config.lexicons.items()}
    ngrams = ngram_vocabulary([item.text for item in train_data]) if config.ngrams else []
    tagger_config = TaggerConfig(
        tags=tags, scheme=scheme, units=units, lexicons=list(lexicon_words), ngrams=len(ngrams), crf=config.crf,
        dropout=config.dropout, window=config.window, stride=config.stride, word_features=config.word_features,
    )
    encoder = TextEncoder.for_model(tokenizer, tagger_config, lexicon_words, ngrams)
    tune_for_cpu(encoder_model, config.dropout)
    model = TaggerModel(encoder_model, tagger_config)
    size = config.window - 2
    train_windows = _windows(encoder, train_data, tag_index, scheme, size, config.stride)
    augmenter = None
    if config.augment.enabled:
        augmenter = Augmenter.from_data(config.augment, train_data, lexicon_words, read_synonyms(config.synonyms) if config.augment.synonyms else ())
    if math.ceil(len(train_windows) / config.batch_size) < node.world:
        raise ValueError(f"{len(train_windows)} training windows make fewer batches of {config.batch_size} than the "
                         f"{node.world} processes; lower the batch size")
    per_epoch = max(1, math.ceil(len(train_windows) * (1 + (config.augment.copies if augmenter else 0)) / config.batch_size) // node.world)
    _apply_adapters(model, config, per_epoch * config.epochs)
    fresh = config.base_model.startswith("scratch:") or config.random_init
    encoder_lr = config.learning_rate or (5e-4 if fresh else 1e-4)
    rates = {"crf.": (config.head_learning_rate * 10, 0.0), "encoder.": (encoder_lr, config.weight_decay),
             "": (config.head_learning_rate, config.weight_decay)}
    tagger = Tagger(model, tokenizer, lexicon_words, ngrams)
    rng = random.Random(config.seed)

    def epoch_batches(epoch: int) -> list[list[_Window]]:
        """The training windows (with fresh augmented copies) in batches of similar length."""
        items = list(train_windows)
        if augmenter:
            for _ in range(config.augment.copies):
                copies = [augmenter.augment(item, rng) for item in train_data]
                items.extend(_windows(encoder, copies, tag_index, scheme, size, config.stride))
        return length_batches(items, config.batch_size, rng)

    def batch_loss(forward: Callable[..., torch.Tensor], batch: list[_Window]) -> torch.Tensor:
        inputs = window_batch([w.encoded for w in batch], [(w.start, w.end) for w in batch], tokenizer)
        if "ngrams" in inputs and config.ngram_dropout > 0:
            hidden = torch.rand(inputs["ngrams"].shape) < config.ngram_dropout
            inputs["ngrams"] = inputs["ngrams"].masked_fill(hidden, 0)
        longest = max(w.end - w.start for w in batch)
        gold = torch.zeros((len(batch), longest), dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.bool)
        for row, w in enumerate(batch):
            gold[row, : len(w.tags)] = torch.tensor(w.tags)
            mask[row, : len(w.tags)] = True
        emissions = forward(**inputs)[:, 1 : 1 + longest]
        return model.loss(emissions.float(), gold, mask)

    def dev_score() -> DevScore:
        tagger.refresh_transitions()
        return DevScore(tagger.evaluate(dev_data).micro.f1)

    def reallocate(step: int) -> None:
        model.encoder.base_model.update_and_allocate(step)

    run = fine_tune(model, rates, epoch_batches, batch_loss, config, steps_per_epoch=per_epoch,
                    dev=dev_score if dev_data else None,
                    after_step=reallocate if config.lora and config.lora_method == "adalora" else None,
                    node=node, started=began, progress=progress)
    if config.lora:
        model.encoder = model.encoder.merge_and_unload()
    model.eval()
    if not node.main:  # rank 0 scores and saves the model every process holds
        node.barrier()
        return TrainResult(config.out, run.epochs, run.best_epoch, None, time.perf_counter() - began, {})
    tagger = Tagger(model, tokenizer, lexicon_words, ngrams)
    dev_report = None
    calibration = None
    if dev_data:
        scores = tagger.scores([d.text for d in dev_data])
        dev_report = tagger.evaluate(dev_data, scores).to_dict()
        if config.calibrate:
            temperature, ece_before, ece_after = fit_temperature(tagger, scores, dev_data)
            model.config.temperature = temperature
            calibration = {"temperature": temperature, "ece_uncalibrated": round(ece_before, 4), "ece_calibrated": round(ece_after, 4)}
    ensemble, ensemble_record = None, None
    if dev_data and config.crf_member:  # the character CRF beside the network; dev says whether their ensemble is the model
        ensemble, ensemble_record = train_ensemble(tagger, train_data, dev_data, scheme, calibrate=config.calibrate,
                                                    window=config.crf_window)
    seconds = time.perf_counter() - began
    settings = asdict(config)
    settings = json.loads(json.dumps(settings, default=str))
    record = {
        "skugraph_version": __version__,
        "base_model": config.base_model,
        "random_init": config.random_init,
        "train": {"path": str(Path(config.train).resolve()), "sha256": file_sha256(config.train), "texts": len(train_data), "windows": len(train_windows)},
        "dev": {"path": str(config.dev), "texts": len(dev_data)} if config.dev else None,
        "skipped_records": errors[:50],
        "epochs_run": run.epochs,
        "best_epoch": run.best_epoch,
        "history": run.history,
        "dev_report": dev_report,
        "calibration": calibration,
        **({ENSEMBLE: ensemble_record} if ensemble_record else {}),
        "train_seconds": round(seconds, 1),
        "precision": precision(config.precision),
        "processes": node.world,
        "settings": settings,
        "versions": versions(),
    }
    model.save(config.out, tokenizer, lexicon_words, ngrams, record)
    if ensemble:
        ensemble.crf.save(config.out)
    node.barrier()
    return TrainResult(config.out, run.epochs, run.best_epoch, dev_report, seconds, {"kind": "tagger", **record})


def train_networks(config: TrainTaggerConfig, networks: int, run: Callable[[TrainTaggerConfig], dict] | None = None) -> dict | None:
    """Beside the ensemble ``config.out`` holds (its network and CRF member, kept by dev), train
    ``networks - 1`` more networks, the same set-up with other seeds, into ``OUT/network-2`` …
    (``run``: how one training runs, by default here), fit their average with the CRF member on
    dev (:func:`~skugraph.tagging.ensemble.fit_networks`) and keep them when it scores the
    higher dev F1 (on Ding dev, three networks: 0.7599 → 0.7628 and the right facts kept at
    precision 0.90 from 50% to 56%). Records the decision in the ensemble section (``networks``)
    and returns it; None when there is nothing to add to (no dev data, no ensemble kept) and in
    the other processes under torchrun."""
    from skugraph.tagging.tagger import load_tagger

    run = run or (lambda settings: train_tagger(settings).metadata)
    ensemble = load_tagger(config.out)
    if networks < 2 or not config.dev or not isinstance(ensemble, EnsembleTagger):
        return None
    began = time.perf_counter()
    labels = set(ensemble.config.entity_types)
    dev = [LabelledText(d.text, tuple(s for s in d.spans if s.label in labels), d.id)
           for d in read_labelled(config.dev, config.format, on_error=lambda _: None)]
    names = [f"network-{n}" for n in range(2, networks + 1)]
    for n, name in enumerate(names, 1):
        run(replace(config, out=Path(config.out) / name, seed=config.seed + n, crf_member=False))
    if os.environ.get("RANK", "0") != "0":  # under torchrun every process trains, the first one fits and records
        return None
    _, record = fit_networks(ensemble, [Tagger.load(Path(config.out) / name) for name in names], dev, config.calibrate)
    use = record["dev_f1"]["all"] > record["dev_f1"]["one"]
    if not use:
        for name in names:
            shutil.rmtree(Path(config.out) / name)
    section = {"use": use, "dirs": names if use else [], "seeds": [config.seed + n for n in range(1, networks)], **record,
               "seconds": round(time.perf_counter() - began, 1)}
    stored = json.loads((Path(config.out) / METADATA).read_text("utf-8"))
    stored[ENSEMBLE][NETWORKS] = section
    (Path(config.out) / METADATA).write_text(json.dumps(stored, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return section
