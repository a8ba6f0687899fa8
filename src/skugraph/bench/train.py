"""``skugraph bench train``: pretraining throughput on Ray Train beside one local process."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

from skugraph.bench.workload import synthetic_catalogue


def bench_train(steps: int = 40, workers: tuple[int, ...] = (1, 2), base_model: str = "scratch:small", progress=None) -> dict:
    """Masked-LM pretraining throughput (tokens/s of training steps, without the set-up) for
    ``steps`` steps of 64 sequences per process on generated listings: one local process on
    all the cores (the baseline), then Ray Train with each number of ``workers`` (one CPU each)."""
    from skugraph.lm.pretrain import PretrainConfig, pretrain
    from skugraph.scale.ray_train import train_on_ray

    say = progress or (lambda text: None)
    runs = []
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-train-") as scratch:
        work = Path(scratch)
        synthetic_catalogue(work / "catalogue.jsonl", 20_000)

        def config(name: str) -> PretrainConfig:
            return PretrainConfig(corpus=[work / "catalogue.jsonl"], out=work / name, base_model=base_model, steps=steps,
                                  batch_size=64, cache_dir=work / "cache", checkpoint_minutes=1e9)

        for engine, size in (("local", 1), *(("ray", n) for n in workers)):
            began = time.perf_counter()
            meta = pretrain(config(f"{engine}-{size}")).metadata if engine == "local" else train_on_ray("pretrain", config(f"{engine}-{size}"), size)
            runs.append({"engine": engine, "workers": size, "wall_seconds": round(time.perf_counter() - began, 1),
                         "train_seconds": meta["train_seconds"], "tokens": meta["tokens_seen"],
                         "tokens_per_s": meta["tokens_per_second"], "tokens_per_s_per_worker": round(meta["tokens_per_second"] / size),
                         "threads_per_process": meta["threads_per_process"], "precision": meta["precision"],
                         "final_loss": meta["final_train_loss"]})
            say(f"{engine} × {size}: {meta['tokens_per_second']:,} tokens/s")
    return {"steps": steps, "base_model": base_model, "sequences_per_process_step": 64, "runs": runs,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
