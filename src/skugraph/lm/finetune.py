"""Fine-tuning an encoder with a task head: the one training loop every trainer uses (the tagger,
relations, the matcher, the review opinions' tagger), and what goes with it: the settings, the
optimizer rule, the precision choice and loading a base encoder.

The loop (:func:`fine_tune`): AdamW, linear warm-up then linear decay, gradient clipping, bf16
autocast where the CPU runs it natively, early stopping on a dev score with the best epoch's
weights restored, one time budget (counted from the start of training, checked after every step,
every process stops together) and data-parallel training over :class:`~skugraph.lm.distributed.Node`
(``DistributedDataParallel``, shared with pretraining). What differs between trainers comes in as
functions: an epoch's batches, a batch's loss, the dev score, and a hook after each step.
"""

from __future__ import annotations

import contextlib
import platform
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from skugraph.lm.distributed import Node
from skugraph.lm.model import build_config, load_weights, resolve_base
from skugraph.lm.tokenizer import train_tokenizer

Batch = TypeVar("Batch")
#: parameter-name prefix → (learning rate, weight decay); the first prefix a name starts with wins, "" matches all
Rates = Mapping[str, tuple[float, float]]
#: seconds between progress records within an epoch
PROGRESS_EVERY = 10.0


# -- precision and the environment -------------------------------------------------------------

def bf16_supported() -> bool:
    """True where the CPU runs bf16 matrix maths natively (AVX-512 BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def precision(choice: str) -> str:
    """``bf16`` or ``fp32`` for a setting of ``auto`` (bf16 where the CPU supports it), ``bf16`` or ``fp32``."""
    if choice == "auto":
        return "bf16" if bf16_supported() else "fp32"
    if choice not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {choice!r}")
    return choice


def autocast(enabled: bool):
    """bf16 autocast on the CPU when ``enabled``, else nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else nullcontext()


def cpu_autocast():
    """bf16 autocast where the CPU runs bf16 matmuls natively (AMX/AVX-512), fp32 elsewhere."""
    return autocast(bf16_supported())


def quiet_transformers() -> None:
    """No download bars or warnings from transformers."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def versions() -> dict[str, str]:
    """The library versions and CPU a model was trained with, for its metadata."""
    import tokenizers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "cpu": platform.machine(),
        "bf16_supported": str(bf16_supported()),
    }


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_encoder(base_model: str, texts: Sequence[str] = (), window: int = 128, random_init: bool = False, seed: int = 42):
    """(encoder, tokenizer) for a base model: a directory, a hub id, ``minilm``, or ``scratch:``
    (a fresh encoder, with a tokenizer trained on ``texts``); ``random_init`` keeps the
    architecture and tokenizer and draws new weights."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, BertModel

    quiet_transformers()
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


# -- settings and the optimizer ----------------------------------------------------------------

@dataclass(kw_only=True)
class FineTuneConfig:
    """What fine-tuning an encoder with a new head needs; each task's config adds its own."""

    out: Path
    base_model: str  # an encoder directory, "minilm", or scratch:tiny|small
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float | None = 1e-4  # the encoder's
    head_learning_rate: float = 1e-3  # the new layers'
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps spent warming up
    dropout: float = 0.1
    max_grad_norm: float = 1.0
    patience: int | None = None  # epochs without a better dev score before stopping (None: run them all)
    time_budget_minutes: float | None = None  # from the start of training; checked after every step
    precision: str = "auto"  # auto | bf16 | fp32
    seed: int = 42


def no_decay(name: str, parameter: torch.nn.Parameter) -> bool:
    """The one weight-decay rule: no decay on biases, norms and any other parameter of fewer than two dimensions."""
    return parameter.ndim < 2 or "norm" in name.lower()


def fine_tune_optimizer(model: torch.nn.Module, rates: Rates) -> torch.optim.AdamW:
    """AdamW over ``model``'s trained parameters, each at the learning rate and weight decay of
    the first ``rates`` prefix its name starts with (no decay where :func:`no_decay` says so);
    one parameter group per (rate, decay), in the order their first parameter comes."""
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        lr, decay = next(rate for prefix, rate in rates.items() if name.startswith(prefix))
        groups.setdefault((lr, 0.0 if no_decay(name, parameter) else decay), []).append(parameter)
    return torch.optim.AdamW([{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()])


# -- the loop ----------------------------------------------------------------------------------

@dataclass
class DevScore:
    """A dev set's score: ``f1`` picks the best epoch; ``fields`` join the epoch's record;
    ``detail`` is kept for the best epoch."""

    f1: float
    fields: dict[str, Any] = field(default_factory=dict)
    detail: Any = None


@dataclass
class FineTuned:
    epochs: int  # epochs run
    best_epoch: int  # whose weights the model holds (the last without a dev set)
    history: list[dict]  # one record per epoch: epoch, step, loss, seconds (and dev_f1, the dev score's fields)
    best: DevScore | None  # on rank 0; None without a dev set


def fine_tune(
    model: torch.nn.Module,
    rates: Rates,
    batches: Callable[[int], Sequence[Batch]],
    loss: Callable[[Callable[..., Any], Batch], torch.Tensor],
    config: FineTuneConfig,
    *,
    steps_per_epoch: int,
    dev: Callable[[], DevScore] | None = None,
    after_step: Callable[[int], None] | None = None,
    node: Node | None = None,
    started: float | None = None,
    progress: Callable[[dict], None] | None = None,
) -> FineTuned:
    """Train ``model`` for ``config.epochs`` epochs of ``batches(epoch)`` (this process takes its
    share), minimising ``loss(forward, batch)``, where ``forward`` calls the model (through the
    data-parallel wrapper on several processes) under bf16 autocast when the precision is bf16;
    the loss itself is computed outside autocast. ``dev`` (scored on rank 0 after each epoch)
    picks the epoch whose weights are kept; ``config.patience`` epochs without a better one stop
    training. ``after_step(step)`` runs after
    each optimizer step. The time budget counts from ``started`` (a ``time.perf_counter()``
    reading; default now). ``progress`` (rank 0) gets {step, total_steps, loss, seconds,
    eta_seconds} every ten seconds and, with epoch (and dev_f1), at each epoch's end."""
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter() if started is None else started
    with contextlib.nullcontext(node) if node else Node() as node:
        total_steps = steps_per_epoch * config.epochs
        optimizer = fine_tune_optimizer(model, rates)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup * total_steps), total_steps)
        bf16 = precision(config.precision) == "bf16"
        trained = [p for p in model.parameters() if p.requires_grad]
        wrapped = node.wrap(model)

        def forward(*args: Any, **kwargs: Any) -> Any:
            with autocast(bf16):
                return wrapped(*args, **kwargs)

        budget = config.time_budget_minutes * 60 if config.time_budget_minutes else None
        clock = _Clock(started, total_steps, budget)

        best_f1, best_epoch, best_state, best, stale = -1.0, 0, None, None, 0
        history: list[dict] = []
        step = epoch = 0
        out_of_time = False
        for epoch in range(1, config.epochs + 1):
            model.train()
            losses = []
            for batch in node.share(batches(epoch)):
                value = loss(forward, batch)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                torch.nn.utils.clip_grad_norm_(trained, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                if after_step:
                    after_step(step)
                step += 1
                losses.append(value.item())
                if node.any(clock.out_of_time()):
                    out_of_time = True
                    break
                if progress and node.main and clock.report_due():
                    progress(clock.record(step, float(np.mean(losses))))
            mean_loss = node.mean(float(np.mean(losses)) if losses else float("nan"))
            record = {"epoch": epoch, "step": step, "loss": round(mean_loss, 4), "seconds": round(clock.seconds(), 1)}
            if dev:
                model.eval()
                score = dev() if node.main else None
                f1 = node.from_main(score.f1 if score else -1.0)
                record["dev_f1"] = round(f1, 4)
                record.update(score.fields if score else {})
                if f1 > best_f1:
                    best_f1, best_epoch, best, stale = f1, epoch, score, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
            history.append(record)
            if progress and node.main:
                progress(record | clock.record(step, mean_loss, keys=("total_steps", "eta_seconds")))
            if out_of_time or (dev and config.patience is not None and stale >= config.patience):
                break

    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epoch
    model.eval()
    return FineTuned(epoch, best_epoch, history, best)


class _Clock:
    """Training time: the budget, when progress is due, and the time left."""

    def __init__(self, started: float, total_steps: int, budget: float | None):
        self.started = started
        self.loop_started = self.last_report = time.perf_counter()
        self.total_steps = total_steps
        self.budget = budget

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def out_of_time(self) -> bool:
        return self.budget is not None and self.seconds() > self.budget

    def report_due(self) -> bool:
        now = time.perf_counter()
        if now - self.last_report < PROGRESS_EVERY:
            return False
        self.last_report = now
        return True

    def record(self, step: int, loss: float, keys: Sequence[str] | None = None) -> dict:
        """A progress record after ``step`` steps: the time left assumes the steps to come take as
        long as those done, and stops at the budget."""
        per_step = (time.perf_counter() - self.loop_started) / max(step, 1)
        eta = max(0, self.total_steps - step) * per_step
        if self.budget is not None:
            eta = max(0.0, min(eta, self.budget - self.seconds()))
        record = {"step": step, "total_steps": self.total_steps, "loss": round(loss, 4), "seconds": round(self.seconds(), 1),
                  "eta_seconds": round(eta)}
        return {key: record[key] for key in keys} if keys else record


def at_epoch_ends(callback: Callable[[dict], None]) -> Callable[[dict], None]:
    """A ``progress`` callback that is told only of the epoch-end records (those with an ``epoch``)."""
    return lambda record: callback(record) if "epoch" in record else None
