"""Where every benchmark writes its figures: one JSON file under benchmarks/results/."""

from __future__ import annotations

import json
from pathlib import Path


def save_record(path: Path, record: dict) -> None:
    """Write ``record`` (which names the command that made it) as readable JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
