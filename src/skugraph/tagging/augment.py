"""Training-data augmentation for the tagger, each behind its own switch:

- **entity substitution**: a mention is replaced by another surface of the same type, drawn
  from the training set and from gazetteers named after that type;
- **synonym replacement**: outside mentions, a word of a synonym group is swapped for another
  of its group (``lexicon/synonyms.txt`` or your own file, one group a line);
- **mention dropout**: a mention is deleted from the text, so the model learns from context
  instead of relying on one neighbour.

Spans are rebuilt exactly for every changed text.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from skugraph.corpus.ner import LabelledText, Span


@dataclass
class AugmentConfig:
    substitute: float = 0.0  # chance that a mention is replaced by another of its type
    synonyms: float = 0.0  # chance that a synonym outside mentions is swapped
    mention_dropout: float = 0.0  # chance that a mention is deleted
    copies: int = 1  # augmented copies of the training set added each epoch

    @property
    def enabled(self) -> bool:
        return self.copies > 0 and (self.substitute > 0 or self.synonyms > 0 or self.mention_dropout > 0)


def read_synonyms(path: str | Path | None = None) -> list[list[str]]:
    """Synonym groups, one a line (words separated by white space; ``#`` starts a comment)."""
    text = Path(path).read_text("utf-8") if path else files("skugraph.tagging").joinpath("lexicon/synonyms.txt").read_text("utf-8")
    groups = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [g for g in groups if len(g) > 1]


class Augmenter:
    def __init__(self, config: AugmentConfig, pools: dict[str, Sequence[str]], synonym_groups: Iterable[Sequence[str]] = ()):
        self.config = config
        self.pools = {label: sorted(set(words)) for label, words in pools.items() if words}
        self.synonyms: dict[str, list[str]] = {}
        for group in synonym_groups:
            for word in group:
                self.synonyms[word] = [w for w in group if w != word]
        self.longest = max((len(w) for w in self.synonyms), default=0)

    @classmethod
    def from_data(cls, config: AugmentConfig, data: Iterable[LabelledText], lexicons: dict[str, Sequence[str]] | None = None,
                  synonym_groups: Iterable[Sequence[str]] = ()) -> Augmenter:
        """Substitution pools from the mentions of ``data`` plus gazetteers whose name is an entity type."""
        pools: dict[str, set[str]] = {}
        for item in data:
            for surface, label in item.span_texts():
                pools.setdefault(label, set()).add(surface)
        for name, words in (lexicons or {}).items():
            if name in pools:
                pools[name].update(w for w in words if w.strip())
        return cls(config, {k: sorted(v) for k, v in pools.items()}, synonym_groups)

    def _gap(self, text: str, rng: random.Random) -> str:
        if not self.synonyms or self.config.synonyms <= 0:
            return text
        out, position = [], 0
        while position < len(text):
            for length in range(min(self.longest, len(text) - position), 0, -1):
                word = text[position : position + length]
                if word in self.synonyms:
                    out.append(rng.choice(self.synonyms[word]) if rng.random() < self.config.synonyms else word)
                    position += length
                    break
            else:
                out.append(text[position])
                position += 1
        return "".join(out)

    def augment(self, item: LabelledText, rng: random.Random) -> LabelledText:
        pieces: list[str] = []
        spans: list[Span] = []
        length, position = 0, 0
        for span in sorted(item.spans, key=lambda s: (s.start, s.end)):
            if span.start < position:  # overlapping mention: keep it out of the copy
                continue
            gap = self._gap(item.text[position : span.start], rng)
            pieces.append(gap)
            length += len(gap)
            surface = item.text[span.start : span.end]
            position = span.end
            if rng.random() < self.config.mention_dropout:
                continue
            pool = self.pools.get(span.label)
            if pool and rng.random() < self.config.substitute:
                surface = rng.choice(pool)
            pieces.append(surface)
            spans.append(Span(length, length + len(surface), span.label))
            length += len(surface)
        pieces.append(self._gap(item.text[position:], rng))
        return LabelledText("".join(pieces), tuple(spans), id=f"{item.id}+aug")
