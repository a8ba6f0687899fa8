"""Constrained decoding: the most probable tag sequence that is a valid BIO or BIEOS
sequence (no I- without its B-, no entity left open in BIEOS), by Viterbi search over
per-token scores, with or without a CRF's learned transitions; forward-backward gives
each decoded entity its probability."""

from __future__ import annotations

import numpy as np


def _parts(tag: str) -> tuple[str, str]:
    prefix, _, label = tag.partition("-")
    return prefix, label


def allowed_transitions(tags: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start [C], transition [C, C], end [C]) boolean masks of what may begin a sequence,
    follow a tag, and end a sequence, for BIO and BIEOS tags alike (``M`` = inside)."""
    size = len(tags)
    parts = [_parts(t) for t in tags]
    bieos = any(p in ("E", "S") for p, _ in parts)
    opens = {"B", "I", "M"} if bieos else set()  # tags after which the entity must go on (BIEOS)
    inside = ("I", "M", "E") if bieos else ("I",)
    start = np.array([p not in inside for p, _ in parts])
    end = np.array([not (bieos and p in ("B", "I", "M")) for p, _ in parts])
    transition = np.zeros((size, size), dtype=bool)
    for i, (prev_prefix, prev_label) in enumerate(parts):
        for j, (prefix, label) in enumerate(parts):
            continues = prefix in inside
            if prev_prefix in opens:  # BIEOS: an open entity must continue with its own type
                transition[i, j] = continues and label == prev_label
            elif continues:
                transition[i, j] = prev_prefix in ("B", "I", "M") and label == prev_label
            else:
                transition[i, j] = True
    return start, transition, end


BLOCKED = -1e9


def constraint_scores(tags: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The masks of :func:`allowed_transitions` as additive scores: 0 allowed, ``BLOCKED`` not."""
    return tuple(np.where(mask, 0.0, BLOCKED) for mask in allowed_transitions(tags))  # type: ignore[return-value]


def best_path(emissions: np.ndarray, start: np.ndarray, transition: np.ndarray, end: np.ndarray) -> list[int]:
    """Viterbi: the tag indices maximising emission + transition scores (all additive, [T, C],
    [C], [C, C] from→to, [C])."""
    return [int(i) for i in best_paths(emissions[None], start, transition, end)[0]]


def best_paths(emissions: np.ndarray, start: np.ndarray, transition: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Viterbi for a batch of texts of one length: emissions [B, T, C] → best paths [B, T]."""
    batch, steps, size = emissions.shape
    if steps == 0:
        return np.zeros((batch, 0), dtype=np.int64)
    score = emissions[:, 0] + start
    back = np.zeros((batch, steps, size), dtype=np.int64)
    for t in range(1, steps):
        candidates = score[:, :, None] + transition  # [B, from, to]
        back[:, t] = candidates.argmax(axis=1)
        score = np.take_along_axis(candidates, back[:, t][:, None, :], axis=1)[:, 0] + emissions[:, t]
    paths = np.zeros((batch, steps), dtype=np.int64)
    paths[:, -1] = (score + end).argmax(axis=1)
    rows = np.arange(batch)
    for t in range(steps - 1, 0, -1):
        paths[:, t - 1] = back[rows, t, paths[:, t]]
    return paths


def viterbi(log_probs: np.ndarray, start: np.ndarray, transition: np.ndarray, end: np.ndarray) -> list[int]:
    """Best tag indices under the boolean masks; ``log_probs`` is [T, C] (log-softmax outputs)."""
    return best_path(log_probs, *(np.where(mask, 0.0, BLOCKED) for mask in (start, transition, end)))


def forward_backward(
    emissions: np.ndarray, start: np.ndarray, transition: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Log forward and backward scores [T, C] of a linear-chain CRF and its log partition (see
    :func:`forward_backward_many`)."""
    alpha, beta, log_partition = forward_backward_many(emissions[None], start, transition, end)
    return alpha[0], beta[0], float(log_partition[0])


def forward_backward_many(
    emissions: np.ndarray, start: np.ndarray, transition: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward-backward for a batch of texts of one length: emissions [B, T, C] → (log alpha
    [B, T, C], log beta [B, T, C], log partition [B]).

    Computed in probability space with each step rescaled to sum to one (a matrix-vector
    product per step instead of a log-sum-exp over [C, C]), the scales kept in log space;
    a blocked tag's score is ``-inf``."""
    batch, steps, size = emissions.shape
    shift = float(transition.max())
    moves = np.exp(transition - shift)
    top = emissions.max(axis=2, keepdims=True)  # [B, T, 1]
    weights = np.exp(emissions - top)
    alpha = np.zeros((batch, steps, size))
    beta = np.zeros((batch, steps, size))
    alpha_scale = np.zeros((batch, steps))
    beta_scale = np.zeros((batch, steps))
    row = np.exp(start - start.max()) * weights[:, 0]
    offset = start.max() + top[:, 0, 0]
    for t in range(steps):
        if t:
            row = (alpha[:, t - 1] @ moves) * weights[:, t]
            offset = alpha_scale[:, t - 1] + shift + top[:, t, 0]
        total = row.sum(axis=1)
        alpha[:, t] = row / total[:, None]
        alpha_scale[:, t] = offset + np.log(total)
    row = np.broadcast_to(np.exp(end - end.max()), (batch, size))
    offset = np.full(batch, float(end.max()))
    for t in range(steps - 1, -1, -1):
        if t < steps - 1:
            row = (weights[:, t + 1] * beta[:, t + 1]) @ moves.T
            offset = beta_scale[:, t + 1] + shift + top[:, t + 1, 0]
        total = row.sum(axis=1)
        beta[:, t] = row / total[:, None]
        beta_scale[:, t] = offset + np.log(total)
    with np.errstate(divide="ignore"):
        log_alpha = np.log(alpha) + alpha_scale[:, :, None]
        log_beta = np.log(beta) + beta_scale[:, :, None]
        log_partition = alpha_scale[:, -1] + np.log((alpha[:, -1] * np.exp(end - end.max())).sum(axis=1)) + end.max()
    return log_alpha, log_beta, log_partition


def segment_probability(
    path: list[int], first: int, last: int, emissions: np.ndarray, transition: np.ndarray,
    alpha: np.ndarray, beta: np.ndarray, log_partition: float,
) -> float:
    """The probability that tokens ``first..last`` carry exactly ``path``'s tags there (the
    model's confidence in one entity), from forward-backward scores."""
    score = alpha[first, path[first]] + beta[last, path[last]] - log_partition
    for t in range(first + 1, last + 1):
        score += transition[path[t - 1], path[t]] + emissions[t, path[t]]
    return float(np.exp(min(score, 0.0)))


def decode(log_probs: np.ndarray, tags: list[str]) -> list[str]:
    """The best valid tag sequence for one text."""
    return [tags[i] for i in viterbi(log_probs, *allowed_transitions(tags))]
