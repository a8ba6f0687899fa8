"""Constrained decoding: the most probable tag sequence that is a valid BIO or BIEOS
sequence (no I- without its B-, no entity left open in BIEOS), by Viterbi search over
per-token log-probabilities."""

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


def viterbi(log_probs: np.ndarray, start: np.ndarray, transition: np.ndarray, end: np.ndarray) -> list[int]:
    """Best tag indices under the masks; ``log_probs`` is [T, C] (log-softmax outputs)."""
    steps, size = log_probs.shape
    if steps == 0:
        return []
    blocked = -1e9
    transition_score = np.where(transition, 0.0, blocked)
    score = log_probs[0] + np.where(start, 0.0, blocked)
    back = np.zeros((steps, size), dtype=np.int64)
    for t in range(1, steps):
        candidates = score[:, None] + transition_score  # [from, to]
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[t]
    score = score + np.where(end, 0.0, blocked)
    best = [int(score.argmax())]
    for t in range(steps - 1, 0, -1):
        best.append(int(back[t, best[-1]]))
    return best[::-1]


def decode(log_probs: np.ndarray, tags: list[str]) -> list[str]:
    """The best valid tag sequence for one text."""
    return [tags[i] for i in viterbi(log_probs, *allowed_transitions(tags))]
