"""Scale-out: the same jobs on Ray (local workers or an existing cluster)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ENGINES = ("local", "ray")


def train_model(task: str, config: Any, engine: str = "local", workers: int = 2, address: str = "local",
          progress: Callable[[dict], None] | None = None) -> dict:
    """Train ``task`` (tagger | pretrain) with ``config`` in this process (``engine="local"``;
    torchrun for several), or on ``workers`` Ray Train workers (``engine="ray"``, ``address``:
    local, auto or ray://HOST:PORT); ``progress`` gets the local loop's records. Returns the
    model's ``skugraph.json``."""
    if engine not in ENGINES:
        raise ValueError(f"--engine must be local or ray, not {engine!r}")
    if engine == "ray":
        try:
            from skugraph.scale.ray_train import train_on_ray
        except ModuleNotFoundError as error:
            raise ValueError(f"--engine ray needs Ray ({error}): pip install 'skugraph[scale]'") from None
        return train_on_ray(task, config, workers, address)
    if task == "tagger":
        from skugraph.tagging.train import train_tagger

        return train_tagger(config, progress=progress).metadata
    from skugraph.lm.pretrain import pretrain

    return pretrain(config, progress=progress).metadata
