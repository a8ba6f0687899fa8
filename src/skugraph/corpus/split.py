"""Held-out data: which labelled rows train a model and which score it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Row = TypeVar("Row")


def hold_out(rows: Sequence[Row], every: int) -> tuple[list[Row], list[Row]]:
    """(training rows, dev rows): every ``every``-th row is dev (the 5th, 10th … for 5); 0 keeps
    all for training."""
    dev = {i for i in range(len(rows)) if every and i % every == every - 1}
    return [r for i, r in enumerate(rows) if i not in dev], [r for i, r in enumerate(rows) if i in dev]
