"""Data-parallel training on several processes: rank, world size, the model wrapped in
``DistributedDataParallel`` (gradients averaged in the backward pass) and the few collective calls
the training loops need, over torch.distributed's gloo backend (CPU). No-ops on one process.

The process group comes from ``torchrun`` or Ray Train (both set ``RANK`` and ``WORLD_SIZE``);
one that is not there yet is started here, and closed by whoever started it (``with Node() as node``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


class Node:
    """This process's place in a data-parallel job."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.owns_group = self.world > 1 and not dist.is_initialized()
        if self.owns_group:
            dist.init_process_group("gloo")

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def threads(self) -> int:
        """Threads for this process: ``OMP_NUM_THREADS`` where the launcher set it (Ray gives a
        worker its CPUs' worth), else its share of the machine's cores."""
        if os.environ.get("OMP_NUM_THREADS", "").isdigit():
            return max(1, int(os.environ["OMP_NUM_THREADS"]))
        return max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", self.world)))

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` to train through: on several processes a ``DistributedDataParallel`` of it,
        which starts every process from rank 0's weights and averages the gradients of each
        backward pass; on one, the module itself."""
        if self.world == 1:
            return module
        return torch.nn.parallel.DistributedDataParallel(module)

    def share(self, batches: Sequence[T]) -> Sequence[T]:
        """This process's batches of a step sequence: every process takes the same number of
        steps, each its own batches (the last ``len % world`` are left out)."""
        if self.world == 1:
            return batches
        return batches[: len(batches) // self.world * self.world][self.rank :: self.world]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one."""
        if self.world == 1:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world

    def from_main(self, value: float) -> float:
        """Rank 0's value, on every process."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
