"""Review-level sentiment: a linear character n-gram classifier trained on labelled reviews
(``cat,label,review`` CSV as in online-shopping-9cats, or JSONL ``{"text", "label"}``).
Labels are read as positive / negative / neutral whatever their spelling (1/0, pos/neg, 正面/负面)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from skugraph.facts.classify import LinearTextClassifier

_NAMES = {
    "positive": ("1", "pos", "positive", "正面", "好评"),
    "negative": ("0", "-1", "neg", "negative", "负面", "差评"),
    "neutral": ("2", "neu", "neutral", "中性", "中评"),
}
SENTIMENT_OF = {spelling: name for name, spellings in _NAMES.items() for spelling in spellings}


class SentimentDataError(ValueError):
    """A labelled review file that cannot be read, with its location."""


def read_sentiment_file(path: str | Path) -> list[tuple[str, str]]:
    """(review text, positive|negative|neutral) rows; a row with an unknown label is an error
    naming the file and line, a row with no text is left out (there is nothing to learn from it)."""
    path = Path(path)
    rows: list[tuple[str, str]] = []

    def add(where: str, text: object, label: object) -> None:
        sentiment = SENTIMENT_OF.get(str(label).strip().lower())
        if sentiment is None:
            raise SentimentDataError(f"{path}:{where}: field label: {label!r} is not a sentiment ({', '.join(SENTIMENT_OF)})")
        if isinstance(text, str) and text.strip():
            rows.append((text, sentiment))

    if path.suffix == ".jsonl":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as error:
                    raise SentimentDataError(f"{path}:{number}: broken JSON: {error.msg}") from None
                add(str(number), data.get("text"), data.get("label"))
        return rows
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        text_column = next((c for c in ("review", "text") if c in (reader.fieldnames or [])), None)
        if text_column is None or "label" not in (reader.fieldnames or []):
            raise SentimentDataError(f"{path}:1: needs a label column and a review or text column")
        for number, row in enumerate(reader, 2):
            add(str(number), row.get(text_column), row.get("label"))
    return rows


def train_sentiment(rows: list[tuple[str, str]], out: str | Path | None = None) -> LinearTextClassifier:
    """A sentiment classifier from (text, sentiment) rows, saved to ``out`` when given."""
    model = LinearTextClassifier.fit([t for t, _ in rows], [s for _, s in rows], c=16.0, min_df=2 if len(rows) > 1000 else 1)
    if out is not None:
        model.save(out)
    return model


def accuracy(model: LinearTextClassifier, rows: list[tuple[str, str]]) -> float:
    """Share of (text, sentiment) ``rows`` whose sentiment ``model`` predicts (0.0 for no rows)."""
    if not rows:
        return 0.0
    predicted = model.predict([text for text, _ in rows])
    return sum(label == gold for (label, _), (_, gold) in zip(predicted, rows, strict=True)) / len(rows)
