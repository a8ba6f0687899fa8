"""Masked-LM pretraining (whole-word masking, optional next-sentence task), from scratch or
continued from a checkpoint, on one process or several (``torchrun`` or Ray Train, DDP over gloo).

    skugraph pretrain --corpus titles.txt reviews.csv --out models/zh-small --time-budget 30

The output directory is a Hugging Face model directory (``save_pretrained`` + tokenizer)
plus ``skugraph.json`` (corpus and hashes, steps, tokens, time, losses, precision,
versions); ``checkpoint/`` beside it lets ``--resume`` continue with the same step count.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from skugraph import __version__
from skugraph.lm.corpus import file_sha256, read_documents
from skugraph.lm.data import (
    EncodedSentences,
    MaskingConfig,
    Sequences,
    encode_documents,
    mask_batch,
    next_sentence_pairs,
    pack,
)
from skugraph.lm.distributed import Node
from skugraph.lm.finetune import autocast, fine_tune_optimizer, precision, quiet_transformers, versions
from skugraph.lm.model import PretrainingObjective, build_config, load_for_pretraining, tune_for_cpu
from skugraph.lm.tokenizer import train_tokenizer

METADATA = "skugraph.json"
CHECKPOINT = "checkpoint"
STATE_TENSORS = "state.safetensors"  # in the checkpoint: optimizer moments and the RNG state
STATE_JSON = "state.json"  # step, tokens, curves, the optimizer's settings


def default_cache() -> Path:
    """Where encoded corpora and cached models live: $SKUGRAPH_CACHE or ~/.cache/skugraph."""
    return Path(os.environ.get("SKUGRAPH_CACHE", Path.home() / ".cache" / "skugraph"))


@dataclass
class PretrainConfig:
    corpus: list[Path]
    out: Path
    base_model: str = "scratch:small"  # scratch:tiny|small|base, a local directory, or a hub id
    time_budget_minutes: float | None = None
    steps: int | None = None  # neither: one pass over the corpus
    mlm_probability: float = 0.15
    whole_word_mask: bool = True
    nsp: bool = False
    resume: bool = False
    max_length: int = 128
    batch_size: int = 64  # sequences per process and step
    learning_rate: float | None = None  # default 5e-4 from scratch, 1e-4 continued
    warmup: float = 0.06  # share of the run spent warming up
    weight_decay: float = 0.01
    dropout: float | None = 0.0  # during pretraining only (None: the model's own); 0 trains ~1.4x faster
    vocab_size: int = 12_000
    min_frequency: int = 2
    tokenizer: Path | None = None  # from scratch: use this tokenizer instead of training one
    column: str | None = None  # CSV text column
    heldout_every: int = 100  # every 100th document is held out (1%)
    checkpoint_minutes: float = 5.0
    checkpoint_every_steps: int | None = None  # also save every N steps
    log_every: int = 20
    precision: str = "auto"  # auto | bf16 | fp32
    seed: int = 42
    cache_dir: Path = field(default_factory=default_cache)

    @property
    def from_scratch(self) -> bool:
        return self.base_model.startswith("scratch:")


@dataclass
class PretrainResult:
    out: Path
    steps: int
    tokens: int
    seconds: float
    final_loss: float
    heldout_loss: float
    metadata: dict[str, Any] = field(default_factory=dict)
    model: Any = None  # the trained model, in memory
    tokenizer: Any = None


def _schedule(progress: float, warmup: float) -> float:
    """Learning-rate multiplier: linear warm-up, then linear decay to zero."""
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    return max(0.0, (1.0 - progress) / (1.0 - warmup))


def _encoded_corpus(
    config: PretrainConfig, documents: Callable[[], list[list[str]]], tokenizer, hashes: dict[str, str], node: Node
) -> EncodedSentences:
    """Encode once and cache by corpus hash, tokenizer and masking mode; rank 0 writes the cache."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    key = hashlib.sha256(
        json.dumps([sorted(hashes.items()), config.column, config.whole_word_mask], ensure_ascii=False).encode()
        + hashlib.sha256(vocab.encode()).digest()
    ).hexdigest()[:24]
    path = config.cache_dir / "corpus" / f"{key}.npz"
    if node.main and not path.exists():
        encoded = encode_documents(documents(), tokenizer.backend_tokenizer.to_str(), config.whole_word_mask)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.npz")
        np.savez(partial, **asdict(encoded))
        partial.replace(path)
    node.barrier()
    with np.load(path) as data:
        return EncodedSentences(**{name: data[name] for name in data.files})


def _sequences(config: PretrainConfig, encoded: EncodedSentences, tokenizer) -> tuple[Sequences, Sequences]:
    """(training rows, held-out rows). Training sentences are shuffled before packing."""
    special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    heldout_mask = encoded.documents % config.heldout_every == config.heldout_every - 1
    train = np.flatnonzero(~heldout_mask)
    heldout = np.flatnonzero(heldout_mask)
    shuffled = np.random.default_rng(config.seed).permutation(train)
    rows = pack(encoded, shuffled, config.max_length, *special)
    if config.nsp:
        pairs = next_sentence_pairs(encoded, train, config.max_length, *special, seed=config.seed)
        rows = _concat(rows, pairs)
    return rows, pack(encoded, heldout, config.max_length, *special)


def _concat(a: Sequences, b: Sequences) -> Sequences:
    return Sequences(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in ("ids", "word_starts", "token_types", "lengths", "nsp")))


def length_grouped_order(lengths: np.ndarray, per_step: int, rng: np.random.Generator, group: int = 50) -> np.ndarray:
    """A shuffled order in which each step's rows have similar lengths (less padding): shuffle,
    sort within mega-batches of ``group`` steps, then shuffle the steps."""
    order = rng.permutation(len(lengths))
    mega = per_step * group
    for start in range(0, len(order), mega):
        chunk = order[start : start + mega]
        order[start : start + mega] = chunk[np.argsort(-lengths[chunk], kind="stable")]
    steps = len(order) // per_step
    if steps == 0:
        return order
    blocks = order[: steps * per_step].reshape(steps, per_step)[rng.permutation(steps)]
    return np.concatenate([blocks.reshape(-1), order[steps * per_step :]])


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(value) for name, value in batch.items()}


@torch.no_grad()
def heldout_loss(
    objective: torch.nn.Module,
    rows: Sequences,
    masking: MaskingConfig,
    precision: str,
    batch_size: int = 64,
    max_rows: int = 4000,
    whole_word: bool = True,
) -> float:
    """Masked-LM loss on held-out rows, masked with a fixed seed so runs compare;
    ``whole_word=False`` masks single tokens (the classic, easier MLM loss)."""
    if len(rows) == 0:
        return float("nan")
    if not whole_word:
        rows = Sequences(rows.ids, np.ones_like(rows.word_starts), rows.token_types, rows.lengths, rows.nsp)
    objective.eval()
    rng = np.random.default_rng(1234)
    total, count = 0.0, 0
    for start in range(0, min(len(rows), max_rows), batch_size):
        batch = mask_batch(rows.subset(np.arange(start, min(start + batch_size, len(rows), max_rows))), masking, rng)
        masked = int((batch["labels"] != -100).sum())
        with autocast(precision == "bf16"):
            _, mlm = objective(**_tensors(batch))
        total += float(mlm) * masked
        count += masked
    objective.train()
    return total / max(count, 1)


def _save_checkpoint(directory: Path, model, tokenizer, optimizer, state: dict[str, Any]) -> None:
    """The model, its tokenizer and the training state: tensors (optimizer moments, the RNG) in
    ``state.safetensors``, the rest in ``state.json``; no pickle, so resuming runs no code from
    the files. Written beside and renamed into place, so a kill leaves the last whole one."""
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    saved = optimizer.state_dict()
    tensors = {f"optimizer.{index}.{name}": value.contiguous() for index, values in saved["state"].items()
               for name, value in values.items()}
    save_file({**tensors, "torch_rng": torch.get_rng_state()}, str(partial / STATE_TENSORS))
    (partial / STATE_JSON).write_text(json.dumps({**state, "param_groups": saved["param_groups"]}) + "\n", encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)


def _load_checkpoint_state(directory: Path, optimizer) -> dict[str, Any]:
    """Restore the optimizer and the RNG from a checkpoint; returns the training state."""
    tensors = load_file(str(directory / STATE_TENSORS))
    state = json.loads((directory / STATE_JSON).read_text("utf-8"))
    moments: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            moments.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": moments, "param_groups": state.pop("param_groups")})
    torch.set_rng_state(tensors["torch_rng"])
    return state


def pretrain(config: PretrainConfig, progress: Callable[[dict[str, float]], None] | None = None) -> PretrainResult:
    """Run pretraining as configured; ``progress`` gets {step, loss, tokens_per_second, …} every log interval."""
    with Node() as node:
        return _pretrain(config, node, progress)


def _pretrain(config: PretrainConfig, node: Node, progress: Callable[[dict[str, float]], None] | None) -> PretrainResult:
    quiet_transformers()
    threads = node.threads()
    torch.set_num_threads(threads)
    chosen_precision = precision(config.precision)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    checkpoint_dir = config.out / CHECKPOINT
    resuming = config.resume and (checkpoint_dir / STATE_JSON).exists()

    hashes = {str(path): file_sha256(path) for path in config.corpus}

    @cache
    def documents() -> list[list[str]]:
        """The corpus text, read only when a tokenizer is trained or the encoded cache misses."""
        texts = [doc for path in config.corpus for doc in read_documents(path, config.column)]
        if not texts:
            raise ValueError(f"no text in {', '.join(map(str, config.corpus))}")
        return texts

    if resuming:
        model, tokenizer = load_for_pretraining(checkpoint_dir)
    elif config.from_scratch:
        from transformers import AutoTokenizer, BertForPreTraining

        tokenizer_dir = config.tokenizer or config.out  # the tokenizer is saved with the model too
        if node.main and config.tokenizer is None:
            sentences = (s for doc in documents() for s in doc)
            train_tokenizer(sentences, config.vocab_size, config.min_frequency).save_pretrained(tokenizer_dir)
        node.barrier()
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        model_config = build_config(config.base_model.split(":", 1)[1], len(tokenizer), config.max_length, tokenizer.pad_token_id)
        model = BertForPreTraining(model_config)
    else:
        model, tokenizer = load_for_pretraining(config.base_model)

    tune_for_cpu(model, config.dropout)
    prepare_started = time.perf_counter()
    encoded = _encoded_corpus(config, documents, tokenizer, hashes, node)
    train_rows, heldout_rows = _sequences(config, encoded, tokenizer)
    documents.cache_clear()
    prepare_seconds = time.perf_counter() - prepare_started
    masking = MaskingConfig.for_tokenizer(tokenizer, config.mlm_probability)

    objective = PretrainingObjective(model)
    trained = node.wrap(objective)
    peak_lr = config.learning_rate or (5e-4 if config.from_scratch else 1e-4)
    optimizer = fine_tune_optimizer(model, {"": (peak_lr, config.weight_decay)})

    per_step = config.batch_size * node.world
    batches_per_epoch = max(1, len(train_rows) // per_step)
    steps_target = config.steps
    if steps_target is None and config.time_budget_minutes is None:
        steps_target = batches_per_epoch  # one pass
    budget = config.time_budget_minutes * 60 if config.time_budget_minutes else math.inf

    state: dict[str, Any] = {"step": 0, "tokens": 0, "train_seconds": 0.0, "curve": [], "heldout_curve": []}
    if resuming:
        state = _load_checkpoint_state(checkpoint_dir, optimizer)

    objective.train()
    last_checkpoint = time.perf_counter()
    window_loss, window_steps, window_tokens, window_started = 0.0, 0, 0, time.perf_counter()
    order: np.ndarray | None = None
    order_epoch = -1
    loss_value = float("nan")
    while True:
        progress_fraction = (
            state["step"] / steps_target if steps_target else state["train_seconds"] / budget
        )
        if node.any(progress_fraction >= 1.0 or state["train_seconds"] >= budget):
            break
        step_started = time.perf_counter()
        epoch, position = divmod(state["step"], batches_per_epoch)
        if epoch != order_epoch:
            order = length_grouped_order(train_rows.lengths, per_step, np.random.default_rng([config.seed, epoch]))
            order_epoch = epoch
        assert order is not None
        first = position * per_step + node.rank * config.batch_size
        rows = train_rows.subset(order[first : first + config.batch_size])
        batch = mask_batch(rows, masking, np.random.default_rng([config.seed, state["step"], node.rank]))
        for group in optimizer.param_groups:
            group["lr"] = peak_lr * _schedule(progress_fraction, config.warmup)
        with autocast(chosen_precision == "bf16"):
            loss, mlm = trained(**_tensors(batch))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        tokens = int(rows.lengths.sum()) * node.world
        state["step"] += 1
        state["tokens"] += tokens
        state["train_seconds"] += time.perf_counter() - step_started
        loss_value = float(mlm.detach())
        window_loss += loss_value
        window_steps += 1
        window_tokens += tokens
        if state["step"] % config.log_every == 0 or state["step"] == steps_target:
            seconds = time.perf_counter() - window_started
            point = {
                "step": state["step"],
                "tokens": state["tokens"],
                "seconds": round(state["train_seconds"], 2),
                "loss": round(node.mean(window_loss / window_steps), 4),
                "lr": optimizer.param_groups[0]["lr"],
                "tokens_per_second": round(window_tokens / max(seconds, 1e-9)),
            }
            state["curve"].append(point)
            if progress and node.main:
                progress(point | {"fraction": min(1.0, progress_fraction)})
            window_loss, window_steps, window_tokens, window_started = 0.0, 0, 0, time.perf_counter()
        due = time.perf_counter() - last_checkpoint > config.checkpoint_minutes * 60 or (
            config.checkpoint_every_steps and state["step"] % config.checkpoint_every_steps == 0
        )
        if node.main and due:
            state["heldout_curve"].append({"step": state["step"], "loss": round(heldout_loss(objective, heldout_rows, masking, chosen_precision), 4)})
            _save_checkpoint(checkpoint_dir, model, tokenizer, optimizer, state)
            last_checkpoint = time.perf_counter()

    final_heldout = heldout_loss(objective, heldout_rows, masking, chosen_precision) if node.main else float("nan")
    token_heldout = heldout_loss(objective, heldout_rows, masking, chosen_precision, whole_word=False) if node.main else float("nan")
    metadata: dict[str, Any] = {}
    if node.main:
        state["heldout_curve"].append({"step": state["step"], "loss": round(final_heldout, 4)})
        _save_checkpoint(checkpoint_dir, model, tokenizer, optimizer, state)
        model.save_pretrained(config.out)
        tokenizer.save_pretrained(config.out)
        final_loss = state["curve"][-1]["loss"] if state["curve"] else loss_value
        metadata = {
            "skugraph_version": __version__,
            "kind": "masked-lm",
            "base_model": config.base_model,
            "corpus": [{"path": path, "sha256": digest} for path, digest in hashes.items()],
            "documents": int(encoded.documents.max()) + 1 if len(encoded) else 0,
            "train_sequences": len(train_rows),
            "heldout_sequences": len(heldout_rows),
            "steps": state["step"],
            "tokens_seen": state["tokens"],
            "train_seconds": round(state["train_seconds"], 1),
            "prepare_seconds": round(prepare_seconds, 1),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "tokens_per_second": round(state["tokens"] / max(state["train_seconds"], 1e-9)),
            "final_train_loss": final_loss,
            "heldout_loss": round(final_heldout, 4),
            "heldout_perplexity": round(math.exp(min(final_heldout, 50)), 2),
            "heldout_token_loss": round(token_heldout, 4),  # single-token masking, comparable to plain MLM runs
            "precision": chosen_precision,
            "processes": node.world,
            "threads_per_process": threads,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items() if k not in ("corpus", "out", "cache_dir")},
            "loss_curve": state["curve"],
            "heldout_curve": state["heldout_curve"],
            "versions": versions(),
        }
        (config.out / METADATA).write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    node.barrier()
    return PretrainResult(
        config.out, state["step"], state["tokens"], state["train_seconds"], metadata.get("final_train_loss", loss_value),
        final_heldout, metadata, model, tokenizer,
    )


def evaluate_mlm(
    model_dir: str | Path,
    corpus: list[str | Path],
    max_length: int = 128,
    column: str | None = None,
    whole_word: bool = True,
    heldout_every: int | None = None,
) -> float:
    """Masked-LM loss of a saved model on text files (fixed masking seed). ``heldout_every=100``
    scores only the documents pretraining held out (every 100th, as :class:`PretrainConfig`)."""
    quiet_transformers()
    model, tokenizer = load_for_pretraining(model_dir)
    tune_for_cpu(model)
    documents = [doc for path in corpus for doc in read_documents(path, column)]
    if heldout_every:
        documents = documents[heldout_every - 1 :: heldout_every]
    encoded = encode_documents(documents, tokenizer.backend_tokenizer.to_str(), whole_word=True, workers=1)
    special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
    rows = pack(encoded, np.arange(len(encoded)), max_length, *special)
    masking = MaskingConfig.for_tokenizer(tokenizer)
    objective = PretrainingObjective(model)
    return heldout_loss(objective, rows, masking, precision("auto"), max_rows=len(rows), whole_word=whole_word)
