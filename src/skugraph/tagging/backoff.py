"""Rare-type back-off: merge the tail types the data cannot tell from a commoner type, and tag
the surface forms the training data gives a tail type reliably where the model found nothing.

Measured on JD GAIIC dev (sklearn-crfsuite CRF of ``benchmarks/ner.py``, bands by training
span count: tail < 30, head >= 300; merges from 3-fold cross-validation on the training
texts: 34 → 16 and 52 → 16, the colour of a part read as colour): tail-band F1 0.0 → 57.1
(P 100, R 40 over 10 gold spans, as :func:`skugraph.tagging.evaluate.score_by_band` with the
merges), head F1 70.2 → 70.2, torso 39.3 → 39.3. The lexicon forms (at least 2 training
spans, labelled their type at 50% or more of their occurrences) change no dev figure and 0.3
points of cross-validated tail F1; abstaining on low-confidence tail predictions changes
nothing either (the CRF predicts almost no tail type).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from skugraph.corpus.ner import LabelledText, Span
from skugraph.corpus.normalize import fold
from skugraph.tagging.evaluate import frequency_bands

FILE_NAME = "backoff.json"
FORMAT_VERSION = 1


def confusable_types(gold: Iterable[Iterable[Span]], predicted: Iterable[Iterable[Span]], bands: dict[str, str],
                     min_share: float = 0.5, min_spans: int = 2) -> dict[str, str]:
    """Tail types the tagger cannot tell from another type: tail type → the non-tail type
    predicted on exactly the same characters for at least ``min_share`` of its gold spans (and
    ``min_spans`` of them). Give it held-out predictions (cross-validation on the training
    texts), never the predictions scored afterwards."""
    confused: dict[str, Counter[str]] = {}
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        found = {(s.start, s.end): s.label for s in predicted_spans}
        for span in gold_spans:
            if bands.get(span.label, "tail") == "tail":
                confused.setdefault(span.label, Counter())[found.get((span.start, span.end), "")] += 1
    merges = {}
    for label, counts in sorted(confused.items()):
        candidates = [(n, other) for other, n in counts.items() if other and bands.get(other, "tail") != "tail"]
        if candidates:
            n, other = max(candidates)
            if n >= min_spans and n / sum(counts.values()) >= min_share:
                merges[label] = other
    return merges


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _occurrences(text: str, form: str) -> list[int]:
    """Starts of ``form`` in ``text`` (both folded); an ASCII word form only where no ASCII
    letter or digit runs on at either side."""
    starts, start = [], text.find(form)
    while start >= 0:
        end = start + len(form)
        runs_on = (_is_word_char(form[0]) and start > 0 and _is_word_char(text[start - 1])) or \
            (_is_word_char(form[-1]) and end < len(text) and _is_word_char(text[end]))
        if not runs_on:
            starts.append(start)
        start = text.find(form, start + 1)
    return starts


def reliable_forms(train: Sequence[LabelledText], labels: set[str], min_count: int = 2,
                   min_precision: float = 0.5) -> dict[str, str]:
    """Folded surface form → type, for the forms of ``labels`` labelled that type at least
    ``min_count`` times and at ``min_precision`` of their occurrences in the training texts."""
    folded = [fold(item.text, keep_offsets=True) for item in train]
    labelled: Counter[tuple[str, str]] = Counter()
    for item, text in zip(train, folded, strict=True):
        labelled.update((text[s.start : s.end], s.label) for s in item.spans if s.label in labels)
    forms: dict[str, str] = {}
    for (form, label), count in labelled.most_common():
        if count < min_count or form in forms or not form.strip():
            continue
        seen = sum(len(_occurrences(text, form)) for text in folded)
        if seen and count / seen >= min_precision:  # 0 where the form never stands alone as a word
            forms[form] = label
    return forms


class TypeBackoff:
    """Type merges and a tail-type lexicon, applied to a model's spans (see the module)."""

    def __init__(self, merges: dict[str, str] | None = None, forms: dict[str, str] | None = None):
        self.merges = dict(sorted((merges or {}).items()))
        self.forms = dict(sorted((forms or {}).items(), key=lambda item: (-len(item[0]), item[0])))

    @classmethod
    def from_texts(cls, train: Sequence[LabelledText], held_out_gold: Iterable[Iterable[Span]],
                   held_out_predicted: Iterable[Iterable[Span]], tail_below: int = 30, head_from: int = 300,
                   min_share: float = 0.5) -> TypeBackoff:
        """Merges from held-out predictions on the training texts (:func:`confusable_types`), and
        the reliable forms of the tail types that stay (:func:`reliable_forms`)."""
        bands = frequency_bands(train, tail_below, head_from)
        merges = confusable_types(held_out_gold, held_out_predicted, bands, min_share)
        tail = {label for label, band in bands.items() if band == "tail" and label not in merges}
        return cls(merges, reliable_forms(train, tail))

    def merge(self, spans: Iterable[Span]) -> list[Span]:
        """``spans`` with each merged type replaced by the type it merges into (gold spans too,
        to score in the merged types)."""
        return [Span(s.start, s.end, self.merges.get(s.label, s.label)) for s in spans]

    def apply(self, text: str, spans: Iterable[Span]) -> list[Span]:
        """The model's ``spans`` (merged types renamed) and, where none of them or an earlier
        form overlaps, a span for each known form in ``text``; sorted by start."""
        kept = self.merge(spans)
        taken = [False] * len(text)
        for span in kept:
            taken[span.start : span.end] = [True] * (span.end - span.start)
        folded = fold(text, keep_offsets=True)
        for form, label in self.forms.items():
            for start in _occurrences(folded, form):
                end = start + len(form)
                if not any(taken[start:end]):
                    kept.append(Span(start, end, label))
                    taken[start:end] = [True] * len(form)
        return sorted(kept, key=lambda span: (span.start, span.end))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FILE_NAME
        data = {"version": FORMAT_VERSION, "merges": self.merges, "forms": self.forms}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TypeBackoff | None:
        """The back-off saved in a model directory, or ``None`` where it has none."""
        path = Path(directory) / FILE_NAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: field 'version' must be {FORMAT_VERSION}")
        for field in ("merges", "forms"):
            value = data.get(field)
            if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                                      for k, v in value.items()):
                raise ValueError(f"{path}: field '{field}' must map non-empty strings to type labels")
        return cls(data["merges"], data["forms"])
