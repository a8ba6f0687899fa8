"""Pairwise product matching: are two offers the same product?

An offer is a list of (attribute, value) fields: title, brand, model, colour … For the
benchmarks they come from Ditto-format pair files (``COL name VAL … COL price VAL …``); in
the graph they come from a listing and the facts extracted from it, so the extracted
attributes are extra input. Model codes (``lds4821ww``, ``RTX4060``) are pulled out of the
text and put first, where truncation cannot cut them, and the codes the two offers share (or
``none``) lead the pair.

Two matchers, each scored by F1 of the positive class:

- :class:`StringMatcher`: rapidfuzz token-set similarity of the titles with a threshold fit on
  the training pairs: the baseline.
- :class:`CrossEncoderMatcher`: an encoder reads both serialised offers at once
  (``[CLS] left [SEP] right [SEP]``), mean-pools, and a linear head gives the match
  probability. Fine-tuned from our pretrained encoder (or the MiniLM weights for English) with
  AdamW, warm-up, linear decay and bf16 autocast; the epoch and the threshold with the best
  validation F1 are kept. A model directory holds the encoder in Hugging Face format, the
  head as safetensors and ``skugraph_matcher.json``.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rapidfuzz import fuzz
from safetensors.torch import load_file, save_file

from skugraph import __version__
from skugraph.fusion.offers import Offer
from skugraph.tagging.evaluate import Score
from skugraph.lm.finetune import DevScore, FineTuneConfig, cpu_autocast, fine_tune, load_encoder, seed_everything

METADATA = "skugraph_matcher.json"
_FIELD = re.compile(r"COL\s+(\S+)\s+VAL\s?(.*?)(?=\s*COL\s+\S+\s+VAL|\s*$)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class LabelledPair:
    left: Offer
    right: Offer
    label: int  # 1 = same product


class PairFileError(ValueError):
    """A pair file line that cannot be read, naming the file and the line."""


def parse_offer(text: str, offer_id: str = "") -> Offer:
    """An offer from Ditto's ``COL attr VAL value …`` serialisation."""
    return Offer(offer_id, tuple((m.group(1), m.group(2).strip()) for m in _FIELD.finditer(text.strip())))


def read_pairs(path: str | Path, on_error: Callable[[str], None] | None = None) -> list[LabelledPair]:
    """Labelled pairs of a Ditto-format file (``left <TAB> right <TAB> label``). A bad line is
    reported (file, line, reason) through ``on_error`` and skipped, or raises without one."""
    path = Path(path)
    pairs = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            problem = None
            if len(parts) != 3:
                problem = f"expected 3 tab-separated fields (left, right, label), found {len(parts)}"
            elif parts[2].strip() not in ("0", "1"):
                problem = f"label must be 0 or 1, found {parts[2].strip()!r}"
            if problem is None:
                left, right = parse_offer(parts[0], f"{number}L"), parse_offer(parts[1], f"{number}R")
                if not left.fields or not right.fields:
                    problem = "a record has no 'COL attr VAL value' field"
                else:
                    pairs.append(LabelledPair(left, right, int(parts[2])))
                    continue
            message = f"{path}:{number}: {problem}"
            if on_error is None:
                raise PairFileError(message)
            on_error(message)
    return pairs


def pair_score(gold: Sequence[int], predicted: Sequence[bool]) -> Score:
    """Precision, recall and F1 of the match class."""
    tp = sum(bool(g) and bool(p) for g, p in zip(gold, predicted, strict=True))
    return Score.from_counts(tp, sum(map(bool, predicted)), sum(map(bool, gold)))


def best_threshold(gold: Sequence[int], scores: Sequence[float]) -> tuple[float, Score]:
    """The threshold on ``scores`` with the highest F1 on ``gold``, and that score."""
    order = np.argsort(-np.asarray(scores, dtype=float))
    gold_sorted = np.asarray(gold)[order]
    values = np.asarray(scores, dtype=float)[order]
    positives = int(gold_sorted.sum())
    tp = np.cumsum(gold_sorted)
    predicted = np.arange(1, len(values) + 1)
    f1 = 2 * tp / (predicted + positives) if positives else np.zeros(len(values))
    # a threshold must fall between distinct scores: only the last of equal scores counts
    last = np.r_[values[1:] != values[:-1], True]
    f1 = np.where(last, f1, -1)
    if not len(f1):
        return 0.5, Score.from_counts(0, 0, positives)
    i = int(f1.argmax())
    threshold = float((values[i] + values[i + 1]) / 2) if i + 1 < len(values) else float(values[i]) - 1e-9
    return threshold, pair_score(gold, [s > threshold for s in scores])


# -- baseline ------------------------------------------------------------------------------------

def title_similarity(left: Offer, right: Offer) -> float:
    """rapidfuzz token-set ratio of the two titles, 0–1, case-folded."""
    return fuzz.token_set_ratio(left.title.lower(), right.title.lower()) / 100.0


@dataclass
class StringMatcher:
    """Title similarity above a threshold fit on training pairs: the string baseline."""

    threshold: float = 0.8

    def fit(self, pairs: Sequence[LabelledPair]) -> StringMatcher:
        self.threshold, _ = best_threshold([p.label for p in pairs], self.scores(pairs))
        return self

    def scores(self, pairs: Sequence[LabelledPair]) -> list[float]:
        return [title_similarity(p.left, p.right) for p in pairs]

    def predict(self, pairs: Sequence[LabelledPair]) -> list[bool]:
        return [s > self.threshold for s in self.scores(pairs)]


# -- cross-encoder -----------------------------------------------------------------------------

@dataclass
class MatcherConfig:
    max_length: int = 128
    dropout: float = 0.1


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each text's token states, padding left out."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1)


class CrossEncoderModel(torch.nn.Module):
    def __init__(self, encoder, config: MatcherConfig):
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.dropout = torch.nn.Dropout(config.dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return self.head(self.dropout(mean_pool(states, attention_mask).float())).squeeze(-1)


class CrossEncoderMatcher:
    """A fine-tuned cross-encoder and its decision threshold."""

    def __init__(self, model: CrossEncoderModel, tokenizer, threshold: float = 0.5, record: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.threshold = threshold
        self.record = record or {}

    @classmethod
    def load(cls, path: str | Path) -> CrossEncoderMatcher:
        path = Path(path)
        if not (path / METADATA).is_file():
            raise FileNotFoundError(f"{path}: not a matcher directory (no {METADATA})")
        meta = json.loads((path / METADATA).read_text(encoding="utf-8"))
        encoder, tokenizer = load_encoder(str(path))
        model = CrossEncoderModel(encoder, MatcherConfig(meta["max_length"], meta["dropout"]))
        model.head.load_state_dict(load_file(str(path / "matcher.safetensors")))
        return cls(model, tokenizer, float(meta["threshold"]), meta)

    def save(self, out: str | Path, record: dict) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(out, safe_serialization=True)
        self.tokenizer.save_pretrained(out)
        save_file({k: v.contiguous() for k, v in self.model.head.state_dict().items()}, str(out / "matcher.safetensors"))
        meta = {**asdict(self.model.config), "threshold": self.threshold, "skugraph": __version__, **record}
        (out / METADATA).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        self.record = meta
        return out

    def scores(self, pairs: Sequence[tuple[Offer, Offer]], batch_size: int = 64) -> np.ndarray:
        """Match probability of each (left, right) pair."""
        out = []
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0].serialise()) + len(pairs[i][1].serialise()))
        with torch.inference_mode(), cpu_autocast():
            for start in range(0, len(order), batch_size):
                chunk = [pairs[i] for i in order[start : start + batch_size]]
                logits = self.model(**_encode(self.tokenizer, chunk, self.model.config.max_length))
                out.append(torch.sigmoid(logits.float()).numpy())
        flat = np.concatenate(out) if out else np.zeros(0)
        result = np.zeros(len(pairs))
        result[order] = flat
        return result

    def predict(self, pairs: Sequence[tuple[Offer, Offer]]) -> list[bool]:
        return [s > self.threshold for s in self.scores(pairs)]


def shared_codes(left: Offer, right: Offer) -> str:
    """What the two offers' model codes say, as text the cross-encoder reads first: the codes
    they share (``lds4821ww``; one may extend the other: ``kxtg9343`` / ``kxtg9343t``), ``none``
    when both have codes and none is shared, or nothing when one side has none."""
    ours, theirs = ({re.sub(r"[-_/.]", "", c) for c in o.codes()} for o in (left, right))
    if not ours or not theirs:
        return ""
    same = sorted(a for a in ours if any(a == b or (min(len(a), len(b)) >= 5 and (a.startswith(b) or b.startswith(a))) for b in theirs))
    return " ".join(same) if same else "none"


def _encode(tokenizer, pairs: Sequence[tuple[Offer, Offer]], max_length: int) -> dict[str, torch.Tensor]:
    firsts = []
    for left, right in pairs:
        shared = shared_codes(left, right)
        firsts.append((f"COL shared codes VAL {shared} " if shared else "") + left.serialise())
    return dict(tokenizer(firsts, [b.serialise() for _, b in pairs], truncation="longest_first",
                          max_length=max_length, padding=True, return_tensors="pt"))


@dataclass(kw_only=True)
class TrainMatcherConfig(FineTuneConfig):
    epochs: int = 10
    learning_rate: float = 5e-5
    warmup: float = 0.06
    max_length: int = 128


def train_matcher(train: Sequence[LabelledPair], valid: Sequence[LabelledPair], config: TrainMatcherConfig,
                  progress: Callable[[dict], None] | None = None) -> CrossEncoderMatcher:
    """Fine-tune a cross-encoder on ``train``; keep the epoch and threshold with the best F1 on
    ``valid``; save to ``config.out``. Each pair is shown in a random order of its two offers."""
    began = time.perf_counter()
    seed_everything(config.seed)
    rng = random.Random(config.seed)
    texts = sorted({o.serialise() for p in train for o in (p.left, p.right)})
    encoder, tokenizer = load_encoder(config.base_model, texts, config.max_length)
    model = CrossEncoderModel(encoder, MatcherConfig(config.max_length, config.dropout))
    matcher = CrossEncoderMatcher(model, tokenizer)
    gold = [p.label for p in valid]

    def epoch_batches(epoch: int) -> list[list[tuple[Offer, Offer, int]]]:
        """Shuffled pairs in batches, each pair's two offers in a random order."""
        order = list(train)
        rng.shuffle(order)
        return [[(p.left, p.right, p.label) if rng.random() < 0.5 else (p.right, p.left, p.label) for p in batch]
                for batch in (order[start : start + config.batch_size] for start in range(0, len(order), config.batch_size))]

    def batch_loss(forward: Callable[..., torch.Tensor], batch: list[tuple[Offer, Offer, int]]) -> torch.Tensor:
        logits = forward(**_encode(tokenizer, [(left, right) for left, right, _ in batch], config.max_length))
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), torch.tensor([float(label) for *_, label in batch]))

    def dev_score() -> DevScore:
        threshold, score = best_threshold(gold, matcher.scores([(p.left, p.right) for p in valid]))
        return DevScore(score.f1, {"threshold": round(threshold, 4)}, (threshold, score))

    rates = {"encoder.": (config.learning_rate, config.weight_decay), "": (config.head_learning_rate, 0.0)}
    run = fine_tune(model, rates, epoch_batches, batch_loss, config, steps_per_epoch=math.ceil(len(train) / config.batch_size),
                    dev=dev_score if valid else None, started=began, progress=progress)
    threshold, score = run.best.detail if run.best else (0.5, None)
    matcher.threshold = threshold
    matcher.save(config.out, {"base_model": config.base_model, "train_pairs": len(train), "epochs_run": run.epochs,
                              "history": run.history, "valid": score.to_dict() if score else None,
                              "train_seconds": round(time.perf_counter() - began, 1)})
    return matcher


def training_pairs(train: Path, valid: Path | None = None,
                   on_error: Callable[[str], None] | None = None) -> tuple[list[LabelledPair], list[LabelledPair]]:
    """Labelled pairs to train on, and (from ``valid``) to choose the epoch and threshold with;
    a bad line goes to ``on_error`` (see ``read_pairs``), a ``train`` file without a good pair
    is a ValueError."""
    pairs = read_pairs(train, on_error)
    held = read_pairs(valid, on_error) if valid else []
    if not pairs:
        raise ValueError(f"{train}: no labelled pairs")
    return pairs, held
