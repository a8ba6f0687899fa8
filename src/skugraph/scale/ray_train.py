"""Training on Ray Train: ``skugraph train tagger`` and ``skugraph pretrain`` as a TorchTrainer
of ``workers`` processes (gloo on CPU). Each worker runs the same training function as one
process does (:func:`skugraph.tagging.train.train_tagger`, :func:`skugraph.lm.pretrain.pretrain`);
they split every step's batches and average gradients, and rank 0 writes the model directory,
which loads like any other.

``address``: ``local`` (or None) starts Ray on this machine with one CPU per worker; ``auto`` or
``ray://…`` joins a cluster, whose workers must see the same paths (a shared file system).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from skugraph.scale.ray_jobs import ray_session

TASKS = ("tagger", "pretrain")


def train_on_ray(task: str, config: Any, workers: int = 2, address: str | None = None) -> dict:
    """Run ``task`` (tagger | pretrain) with ``config`` on ``workers`` Ray Train workers; returns
    the model's ``skugraph.json``."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    config = _absolute(config)  # the workers run elsewhere
    if Path(config.base_model).exists():
        config = dataclasses.replace(config, base_model=str(Path(config.base_model).resolve()))
    with ray_session(workers, address), tempfile.TemporaryDirectory(prefix="skugraph-ray-train-") as storage:
        trainer = TorchTrainer(
            _train_loop,
            train_loop_config={"task": task, "config": config},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1}),
            torch_config=TorchConfig(backend="gloo"),
            run_config=RunConfig(name=f"skugraph-{task}", storage_path=storage),
        )
        result = trainer.fit()
        if result.error:
            raise result.error
    return json.loads((config.out / "skugraph.json").read_text("utf-8"))


def _train_loop(loop_config: dict) -> None:
    """One Ray Train worker: the ordinary training function (it reads its rank from the environment)."""
    import ray.train

    task, config = loop_config["task"], loop_config["config"]
    if task == "tagger":
        from skugraph.tagging.train import train_tagger

        result = train_tagger(config)
        metrics = {"epochs": result.epochs, "best_epoch": result.best_epoch}
    else:
        from skugraph.lm.pretrain import pretrain

        result = pretrain(config)
        metrics = {"steps": result.steps, "tokens": result.tokens}
    ray.train.report(metrics)


def _absolute(value: Any) -> Any:
    """``value`` with every Path in it (dataclass fields, lists, dicts) made absolute."""
    if isinstance(value, Path):
        return value.resolve()
    if isinstance(value, list):
        return [_absolute(item) for item in value]
    if isinstance(value, dict):
        return {key: _absolute(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _absolute(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init})
    return value
