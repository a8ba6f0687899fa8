"""Result files: the figures a benchmark or a ``skugraph bench`` command made, as one readable
JSON file (under ``benchmarks/results/`` in this repository)."""

from __future__ import annotations

import json
from pathlib import Path


def save_record(path: Path, record: dict) -> None:
    """Write ``record`` (which names the command that made it) as readable JSON, making the
    folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

