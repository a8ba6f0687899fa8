"""Fine-tuning the tagger: entity and attribute spans from labelled titles.

    skugraph train tagger --train train.bieos --dev dev.bieos --base-model models/zh-small --out models/tagger

AdamW (no decay on biases and norms), linear warm-up then decay, dropout, gradient
clipping, a higher learning rate for the new layers (CRF ×10), early stopping on dev
F1, optional layer freezing or LoRA / AdaLoRA adapters (merged into the saved encoder),
gazetteer features, augmentation, and temperature calibration of the confidences on dev.
bf16 autocast on CPUs that support it. Texts longer than a window are trained as
overlapping windows, never truncated. Data-parallel on several processes (``torchrun`` or
Ray Train, gloo): each takes its share of every step's batches, gradients are averaged, rank 0
scores dev and saves.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertModel, get_linear_schedule_with_warmup

from skugraph import __version__
from skugraph.corpus.ner import LabelledText, detect_format, read_labelled
from skugraph.lm.corpus import file_sha256
from skugraph.lm.distributed import Node
from skugraph.lm.model import build_config, load_weights, resolve_base, tune_for_cpu
from skugraph.lm.pretrain import _precision, _quiet_transformers, _versions
from skugraph.lm.tokenizer import train_tokenizer
from skugraph.tagging.augment import AugmentConfig, Augmenter, read_synonyms
from skugraph.tagging.encoding import Encoded, LexiconFeatures, TextEncoder, ngram_vocabulary, tag_set, token_tags
from skugraph.tagging.lexicon import read_words
from skugraph.tagging.model import TaggerConfig, TaggerModel
from skugraph.tagging.tagger import Tagger, autocast, fit_temperature, window_batch
from skugraph.tagging.windows import windows


@dataclass
class TrainTaggerConfig:
    train: Path
    out: Path
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
    weight_decay: float = 0.01
    warmup: float = 0.1
    dropout: float = 0.1
    max_grad_norm: float = 1.0
    patience: int = 5  # epochs without a better dev F1 before stopping
    freeze_layers: int = 0  # keep the embeddings and the lower N layers fixed
    lora: int = 0  # LoRA rank (0: train the encoder's own weights)
    lora_method: str = "lora"  # lora | adalora
    crf: bool = True
    ngrams: bool = False  # character-bigram embeddings (vocabulary: bigrams seen twice in training)
    ngram_dropout: float = 0.2  # share of bigram ids hidden in each training batch (they memorise fast)
    lexicons: dict[str, list[Path]] = field(default_factory=dict)  # gazetteer name → word files
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synonyms: Path | None = None  # synonym groups (default: the packaged list)
    window: int = 128
    stride: int = 64
    time_budget_minutes: float | None = None
    precision: str = "auto"  # auto | bf16 | fp32
    calibrate: bool = True
    seed: int = 42


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


def load_encoder(base_model: str, texts: Sequence[str] = (), window: int = 128, random_init: bool = False, seed: int = 42):
    """(encoder, tokenizer) for a base model: a directory, a hub id, ``minilm``, or ``scratch:``
    (a fresh encoder, with a tokenizer trained on ``texts``); ``random_init`` keeps the
    architecture and tokenizer and draws new weights."""
    _quiet_transformers()
    if base_model.startswith("scratch:"):
        tokenizer = train_tokenizer(texts, vocab_size=8000, min_frequency=1)
        bert_config = build_config(base_model.split(":", 1)[1], tokenizer.vocab_size, window, tokenizer.pad_token_id)
        return BertModel(bert_config, add_pooling_layer=False), tokenizer
    source = resolve_base(base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model_config = AutoConfig.from_pretrained(source)
    except OSError as error:  # no such directory, or a hub id with no network
        raise ValueError(f"cannot load base model {base_model!r}: {str(error).splitlines()[0]}") from None
    extra = {"add_pooling_layer": False} if model_config.model_type == "bert" else {}
    if random_init:
        torch.manual_seed(seed)
        return AutoModel.from_config(model_config, **extra), tokenizer
    return load_weights(AutoModel, source, config=model_config, **extra), tokenizer


@dataclass
class FineTuneConfig:
    """What fine-tuning an encoder with a new head needs; each task's config adds its own."""

    out: Path
    base_model: str  # an encoder directory, "minilm", or scratch:tiny|small
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1
    dropout: float = 0.1
    max_length: int = 160
    time_budget_minutes: float | None = None
    seed: int = 42


def fine_tune_optimizer(encoder: torch.nn.Module, head: torch.nn.Module, learning_rate: float, head_learning_rate: float,
                        weight_decay: float) -> torch.optim.AdamW:
    """AdamW for an encoder and a new head: weight decay on the encoder's weights only (not
    biases or norms), the head at its own learning rate."""
    no_decay = [p for n, p in encoder.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in encoder.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    return torch.optim.AdamW([
        {"params": decay, "lr": learning_rate, "weight_decay": weight_decay},
        {"params": no_decay, "lr": learning_rate, "weight_decay": 0.0},
        {"params": head.parameters(), "lr": head_learning_rate, "weight_decay": 0.0},
    ])


def cpu_autocast():
    """bf16 autocast where the CPU runs bf16 matmuls natively (AMX/AVX-512), fp32 elsewhere."""
    from skugraph.lm.pretrain import bf16_supported

    return autocast(bf16_supported())


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


def _batches(items: list[_Window], batch_size: int, rng: random.Random) -> list[list[_Window]]:
    """Batches of similar length (little padding), in random order."""
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


def _optimizer(model: TaggerModel, config: TrainTaggerConfig, encoder_lr: float) -> torch.optim.Optimizer:
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if name.startswith("crf."):
            lr = config.head_learning_rate * 10
        elif name.startswith("encoder."):
            lr = encoder_lr
        else:
            lr = config.head_learning_rate
        decay = 0.0 if parameter.ndim < 2 or "norm" in name.lower() or name.startswith("crf.") else config.weight_decay
        groups.setdefault((lr, decay), []).append(parameter)
    return torch.optim.AdamW([{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()])


def _state_copy(model: TaggerModel) -> dict[str, torch.Tensor]:
    """A copy of every weight (the best epoch's model is restored from it)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_tagger(config: TrainTaggerConfig, progress: Callable[[dict], None] | None = None) -> TrainResult:
    """Fine-tune as configured; ``progress`` gets each epoch's record (on rank 0)."""
    node = Node()
    try:
        return _train_tagger(config, node, progress)
    finally:
        node.close()


def _train_tagger(config: TrainTaggerConfig, node: Node, progress: Callable[[dict], None] | None) -> TrainResult:
    began = time.perf_counter()
    if node.world > 1:
        torch.set_num_threads(node.threads())
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
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
    lexicons = LexiconFeatures(lexicon_words) if lexicon_words else None
    ngrams = ngram_vocabulary([item.text for item in train_data]) if config.ngrams else []
    encoder = TextEncoder(tokenizer, units, lexicons, ngrams)
    tagger_config = TaggerConfig(
        tags=tags, scheme=scheme, units=units, lexicons=list(lexicon_words), ngrams=len(ngrams), crf=config.crf,
        dropout=config.dropout, window=config.window, stride=config.stride,
    )
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
    total_steps = per_epoch * config.epochs
    _apply_adapters(model, config, total_steps)
    node.same_weights(model)
    fresh = config.base_model.startswith("scratch:") or config.random_init
    encoder_lr = config.learning_rate or (5e-4 if fresh else 1e-4)
    optimizer = _optimizer(model, config, encoder_lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup * total_steps), total_steps)
    precision = _precision(config.precision)
    tagger = Tagger(model, tokenizer, lexicon_words, ngrams)
    rng = random.Random(config.seed)

    best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
    history: list[dict] = []
    step = 0
    epoch = 0
    budget = config.time_budget_minutes * 60 if config.time_budget_minutes else None
    out_of_time = False
    for epoch in range(1, config.epochs + 1):
        model.train()
        items = list(train_windows)
        if augmenter:
            for _ in range(config.augment.copies):
                copies = [augmenter.augment(item, rng) for item in train_data]
                items.extend(_windows(encoder, copies, tag_index, scheme, size, config.stride))
        losses = []
        batches = _batches(items, config.batch_size, rng)
        if node.world > 1:  # every process the same number of steps, each its own batches
            batches = batches[: len(batches) // node.world * node.world][node.rank :: node.world]
        for batch in batches:
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
            with autocast(precision == "bf16"):
                emissions = model(**inputs)[:, 1 : 1 + longest]
            loss = model.loss(emissions.float(), gold, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trained = [p for p in model.parameters() if p.requires_grad]
            node.average_gradients(trained)
            torch.nn.utils.clip_grad_norm_(trained, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if config.lora and config.lora_method == "adalora":
                model.encoder.base_model.update_and_allocate(step)
            step += 1
            losses.append(loss.item())
            if node.any(bool(budget) and time.perf_counter() - began > budget):
                out_of_time = True
                break
        loss_mean = node.mean(float(np.mean(losses)) if losses else float("nan"))
        record = {"epoch": epoch, "step": step, "loss": round(loss_mean, 4), "seconds": round(time.perf_counter() - began, 1)}
        if dev_data:
            f1 = -1.0
            if node.main:
                tagger.refresh_transitions()
                f1 = tagger.evaluate(dev_data).micro.f1
            f1 = node.from_main(f1)
            record["dev_f1"] = round(f1, 4)
            if f1 > best_f1:
                best_f1, best_epoch, best_state, stale = f1, epoch, _state_copy(model), 0
            else:
                stale += 1
        history.append(record)
        if progress and node.main:
            progress(record)
        if out_of_time or (dev_data and stale >= config.patience):
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epoch
    if config.lora:
        model.encoder = model.encoder.merge_and_unload()
    model.eval()
    if not node.main:  # rank 0 scores and saves the model every process holds
        node.barrier()
        return TrainResult(config.out, epoch, best_epoch, None, time.perf_counter() - began, {})
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
    seconds = time.perf_counter() - began
    settings = asdict(config)
    settings = json.loads(json.dumps(settings, default=str))
    record = {
        "skugraph_version": __version__,
        "base_model": config.base_model,
        "random_init": config.random_init,
        "train": {"path": str(config.train), "sha256": file_sha256(config.train), "texts": len(train_data), "windows": len(train_windows)},
        "dev": {"path": str(config.dev), "texts": len(dev_data)} if config.dev else None,
        "skipped_records": errors[:50],
        "epochs_run": epoch,
        "best_epoch": best_epoch,
        "history": history,
        "dev_report": dev_report,
        "calibration": calibration,
        "train_seconds": round(seconds, 1),
        "precision": precision,
        "processes": node.world,
        "settings": settings,
        "versions": _versions(),
    }
    model.save(config.out, tokenizer, lexicon_words, ngrams, record)
    node.barrier()
    return TrainResult(config.out, epoch, best_epoch, dev_report, seconds, {"kind": "tagger", **record})
