"""The extraction stage on Ray: Ray Data reads the ingested listings, an actor pool that holds
the extractor (rules, a tagger on ONNX Runtime or torch, review models) reads each batch, and
the results come back in input order, so the files written equal the local engine's.

``address``: ``local`` (or None) starts a Ray instance on this machine with ``workers`` CPUs for
the actors and one for reading the file;
``auto`` or ``ray://…`` joins an existing cluster.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


class _ExtractActor:
    """Holds one reader (unpickled once per actor; a tagger reloads from its directory)."""

    def __init__(self, reader: Any):
        import torch

        torch.set_num_threads(1)
        self.reader = reader

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        from skugraph.corpus.listings import listing_from_dict

        read = self.reader([listing_from_dict(json.loads(line)) for line in batch["text"]])
        return {"listings": [read.listings], "mention_count": [read.mention_count], "mentions": [read.mentions],
                "facts": [read.facts], "by_predicate": [json.dumps(read.by_predicate)]}


def read_on_ray(reader: Any, listings: Path, workers: int = 2, address: str | None = None, batch_size: int = 256) -> Iterator[Any]:
    """``reader`` (the local engine's batch reader) over the listings file on Ray, in order:
    the same results the local engine's batches give."""
    import ray

    from skugraph.pipeline import _ReadBatch

    started = not ray.is_initialized()
    if started:
        local = address in (None, "local")
        ray.init(address=None if local else address, num_cpus=workers + 1 if local else None, include_dashboard=False,  # + the reader
                 log_to_driver=False, logging_level="ERROR")
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        dataset = ray.data.read_text(str(Path(listings).resolve()))
        results = dataset.map_batches(_ExtractActor, fn_constructor_args=(reader,), batch_size=batch_size, batch_format="numpy",
                                      compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        for row in results.iter_rows():
            yield _ReadBatch(int(row["listings"]), int(row["mention_count"]), row["mentions"], row["facts"],
                             Counter(json.loads(row["by_predicate"])))
    finally:
        if started:
            ray.shutdown()
