"""Rare-type back-off: merge the tail types the data cannot tell from a commoner type, and tag
the surface forms the training data gives a tail type reliably where the model found nothing.

Measured with the sklearn-crfsuite CRF of ``benchmarks/ner.py`` on JD GAIIC (bands by training
span count: tail < 30, head >= 300; :func:`skugraph.tagging.evaluate.score_by_band` with the
merges). Merges from 3-fold cross-validation on the training texts: 32 → 14 (style), 34 → 16
and 52 → 16 (the colour of a part read as colour), 43 → 7 (place of use), 48 → 12 (material).
JD dev: tail-band F1 0.0 → 66.7 (P 100, R 50 over its 10 gold spans), head 70.2 → 70.2 (P
70.7 → 70.8), torso 39.3 → 39.3. Each held-out fold, merges from the other two: tail 5.6 →
52.2, 0.0 → 62.1, 5.4 → 46.8; head +0.0 to +0.1. The lexicon forms (at least 2 training
spans, that type at 50% or more of their occurrences) changed no dev or held-out figure; so
did abstaining on tail predictions under a marginal threshold (the CRF predicts almost no
tail type), and a back-off to every torso form lowered dev torso F1 by 0.2 to 0.5.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

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
                   min_precision: float = 0.5) -> dict[str, tuple[str, float]]:
    """Folded surface form → (type, precision), for the forms of ``labels`` labelled that type at
    least ``min_count`` times and at ``min_precision`` (or more) of their occurrences in the
    training texts."""
    folded = [fold(item.text, keep_offsets=True) for item in train]
    labelled: Counter[tuple[str, str]] = Counter()
    for item, text in zip(train, folded, strict=True):
        labelled.update((text[s.start : s.end], s.label) for s in item.spans if s.label in labels)
    forms: dict[str, tuple[str, float]] = {}
    for (form, label), count in labelled.most_common():
        if count < min_count or form in forms or not form.strip():
            continue
        seen = sum(len(_occurrences(text, form)) for text in folded)
        if seen and count / seen >= min_precision:  # 0 where the form never stands alone as a word
            forms[form] = (label, round(count / seen, 3))
    return forms


class TypeBackoff:
    """Type merges and a tail-type lexicon, applied to a model's spans (see the module)."""

    def __init__(self, merges: dict[str, str] | None = None, forms: dict[str, tuple[str, float]] | None = None):
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

    def merge(self, spans: Iterable[Any]) -> list[Any]:
        """``spans`` (any dataclass with ``label``: :class:`Span`, the tagger's scored spans) with
        each merged type replaced by the type it merges into; gold spans too, to score in the
        merged types."""
        return [dataclasses.replace(s, label=self.merges[s.label]) if s.label in self.merges else s for s in spans]

    def apply(self, text: str, spans: Iterable[Any],
              new_span: Callable[[int, int, str, float], Any] = lambda start, end, label, _: Span(start, end, label)
              ) -> list[Any]:
        """The model's ``spans`` (merged types renamed) and, where none of them or an earlier
        form overlaps, ``new_span(start, end, type, form precision)`` for each known form in
        ``text``; sorted by start."""
        kept = self.merge(spans)
        taken = [False] * len(text)
        for span in kept:
            taken[span.start : span.end] = [True] * (span.end - span.start)
        folded = fold(text, keep_offsets=True)
        for form, (label, precision) in self.forms.items():
            for start in _occurrences(folded, form):
                end = start + len(form)
                if not any(taken[start:end]):
                    kept.append(new_span(start, end, label, precision))
                    taken[start:end] = [True] * len(form)
        return sorted(kept, key=lambda span: (span.start, span.end))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FILE_NAME
        data = {"version": FORMAT_VERSION, "merges": self.merges, "forms": {f: list(v) for f, v in self.forms.items()}}
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
        merges, forms = data.get("merges"), data.get("forms")
        if not isinstance(merges, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                                   for k, v in merges.items()):
            raise ValueError(f"{path}: field 'merges' must map type labels to type labels")
        if not isinstance(forms, dict) or not all(
                isinstance(k, str) and k and isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and v[0]
                and isinstance(v[1], int | float) for k, v in forms.items()):
            raise ValueError(f"{path}: field 'forms' must map surface forms to [type label, precision]")
        return cls(merges, {form: (label, float(precision)) for form, (label, precision) in forms.items()})
