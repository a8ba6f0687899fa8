"""Where every benchmark writes its figures: one JSON file under benchmarks/results/
(``save_record``, the library's), and the reader of labelled JSONL pairs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from skugraph.results import save_record

__all__ = ["read_jsonl", "save_record"]


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSONL file; a file that cannot be read,
    or a line that is not a JSON object, stops the benchmark with the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"{path}: cannot read ({error})")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            sys.exit(f"{path}:{number}: not JSON ({error.msg})")
        if not isinstance(row, dict):
            sys.exit(f"{path}:{number}: not a JSON object")
        yield number, row
