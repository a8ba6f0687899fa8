"""Price bands: the catalogue's quantiles as band edges, their labels, and a price's band."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np


def price_bands(prices: Sequence[float] | np.ndarray, bands: int = 4) -> list[float]:
    """Edges between ``bands`` price bands: the catalogue's quantiles rounded to two significant
    digits (``[100, 500, 2000]`` makes ``<100``, ``100–500``, ``500–2000``, ``≥2000``)."""
    prices = np.asarray(prices, dtype=float)
    if not prices.size:
        return []
    edges = []
    for q in np.quantile(prices, [i / bands for i in range(1, bands)]):
        if q > 0:
            rounded = float(f"{q:.2g}")
            if not edges or rounded > edges[-1]:
                edges.append(rounded)
    return edges


def _money(value: float) -> str:
    return f"{value:g}"


def band_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return []
    middle = [f"{_money(a)}–{_money(b)}" for a, b in pairwise(edges)]
    return [f"<{_money(edges[0])}", *middle, f"≥{_money(edges[-1])}"]


def band_of(price: float, edges: Sequence[float]) -> str:
    labels = band_labels(edges)
    for edge, label in zip(edges, labels, strict=False):
        if price < edge:
            return label
    return labels[-1] if labels else ""
