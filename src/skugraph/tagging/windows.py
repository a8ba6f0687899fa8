"""Long texts: cut the token sequence into overlapping windows, tag each, then give every
token the scores of the window in which it sits most centrally (the tagger then decodes the
whole text at once and maps spans to character offsets). Nothing is truncated."""

from __future__ import annotations

import numpy as np


def windows(length: int, size: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of at most ``size`` tokens, each starting ``stride`` after the
    last, the last one reaching the end; one window when the text fits."""
    if size <= 0 or not 0 < stride <= size:
        raise ValueError(f"need 0 < stride <= size, got size {size}, stride {stride}")
    if length <= size:
        return [(0, length)]
    starts = list(range(0, length - size, stride)) + [length - size]
    return [(s, s + size) for s in starts]


def merge_window_scores(ranges: list[tuple[int, int]], scores: list[np.ndarray], length: int) -> np.ndarray:
    """Per-token scores [length, C] from per-window scores; each token keeps the window where
    its distance to the nearer window edge is largest (the most context on both sides)."""
    merged = np.zeros((length, scores[0].shape[1]), dtype=scores[0].dtype)
    best = np.full(length, -1)
    for (start, end), window_scores in zip(ranges, scores, strict=True):
        if window_scores.shape[0] != end - start:
            raise ValueError(f"window {start}-{end} has {window_scores.shape[0]} rows of scores")
        positions = np.arange(start, end)
        centrality = np.minimum(positions - start, end - 1 - positions)
        better = centrality > best[start:end]
        merged[positions[better]] = window_scores[better]
        best[start:end] = np.where(better, centrality, best[start:end])
    return merged
