"""What the benchmarks run on: generated catalogues and titles, the peak memory of a process
tree, and timing."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self


def titles_for(count: int, titles: Path | None = None) -> list[str]:
    """``count`` titles: lines of ``titles`` (cycled), or the sample catalogue's titles cycled."""
    if titles is not None:
        lines = [line.strip() for line in titles.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{titles}: no titles")
    else:
        from skugraph.sample.generate import generate

        lines = [record["title"] for record in generate()]
    return [lines[i % len(lines)] for i in range(count)]


def synthetic_catalogue(path: Path, count: int, changed: float = 0.0) -> int:
    """Write ``count`` listings: the sample catalogue's, cycled under new ids; with ``changed``,
    only every (1 / changed)-th of them, with a new price and a later ``updated_at`` (an update
    of that share of the catalogue). Returns the listings written."""
    from skugraph.sample.generate import generate

    records, step, written = generate(), round(1 / changed) if changed else 1, 0
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(0, count, step):
            record = dict(records[i % len(records)], id=f"bench-{i}")
            if changed:
                record["price"] = round(float(record.get("price") or 100) * 1.1, 2)
                record["updated_at"] = later
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


class PeakMemory:
    """The peak, over a run, of the resident memory of this process and all its descendants
    together (sampled from /proc every ``every`` seconds in a thread)."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak_mb, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.sample())

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_mb = max(self.peak_mb, self.sample())

    @staticmethod
    def sample() -> float:
        """Resident MB of this process and its descendants now."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                        parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry))
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm", encoding="utf-8") as handle:
                    total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                continue
        return total / 2**20


def timed(step: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``step(*args, **kwargs)`` and the seconds it took."""
    began = time.perf_counter()
    result = step(*args, **kwargs)
    return result, time.perf_counter() - began
