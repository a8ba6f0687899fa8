"""Text → model inputs for tagging: token ids with exact character offsets (one token per
character, or the tokenizer's own sub-words), BIO/BIEOS token tags from character spans,
SoftLexicon-style gazetteer features (does a lexicon word Begin, continue in the Middle,
End, or Singly cover this character, per lexicon) and, after them, the same four bits for
the word jieba's dictionary (plus the lexicons' words) cuts around the character."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from skugraph.corpus.ner import Span
from skugraph.corpus.normalize import fold
from skugraph.tagging.words import WORD_TAGS, WordSegmenter

UNITS = ("char", "subword")
LEXICON_PARTS = 4  # B, M, E, S


def is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FA1F


class LexiconFeatures:
    """Per-character B/M/E/S match bits for named word lists (gazetteers)."""

    def __init__(self, groups: dict[str, Iterable[str]]):
        self.names = list(groups)
        self.words = [{fold(w.strip(), keep_offsets=True) for w in words if w.strip()} for words in groups.values()]
        self.longest = max((len(w) for words in self.words for w in words), default=0)

    @property
    def size(self) -> int:
        return LEXICON_PARTS * len(self.names)

    def char_bits(self, text: str) -> np.ndarray:
        """[len(text), 4 × groups] of 0/1."""
        folded = fold(text, keep_offsets=True)
        bits = np.zeros((len(text), self.size), dtype=np.float32)
        for start in range(len(folded)):
            for length in range(1, min(self.longest, len(folded) - start) + 1):
                piece = folded[start : start + length]
                for group, words in enumerate(self.words):
                    if piece in words:
                        base = LEXICON_PARTS * group
                        if length == 1:
                            bits[start, base + 3] = 1
                        else:
                            bits[start, base] = 1
                            bits[start + 1 : start + length - 1, base + 1] = 1
                            bits[start + length - 1, base + 2] = 1
        return bits


def word_bits(segmenter: WordSegmenter, text: str) -> np.ndarray:
    """[len(text), 4] one-hot B/M/E/S of the word each character sits in (folded text, so
    full-width and upper-case characters cut like their plain forms)."""
    tags = segmenter.tags(fold(text, keep_offsets=True))
    bits = np.zeros((len(text), len(WORD_TAGS)), dtype=np.float32)
    bits[np.arange(len(text)), [WORD_TAGS.index(t) for t in tags]] = 1
    return bits


def char_bigrams(text: str, offsets: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
    """(bigram ending at, bigram starting at) each token's first and last character, folded."""
    folded = fold(text, keep_offsets=True)
    size = len(folded)
    out = []
    for start, end in offsets:
        left = (folded[start - 1] if start > 0 else "^") + folded[start]
        right = folded[end - 1] + (folded[end] if end < size else "$")
        out.append((left, right))
    return out


def ngram_vocabulary(texts: Iterable[str], min_count: int = 2) -> list[str]:
    """Character bigrams seen at least ``min_count`` times (with ``^``/``$`` at the edges), most frequent first."""
    from collections import Counter

    counts: Counter[str] = Counter()
    for text in texts:
        folded = "^" + fold(text, keep_offsets=True) + "$"
        counts.update(folded[i : i + 2] for i in range(len(folded) - 1))
    return [gram for gram, count in counts.most_common() if count >= min_count and not gram.isspace()]


@dataclass(frozen=True, slots=True)
class Encoded:
    ids: list[int]
    offsets: list[tuple[int, int]]  # [start, end) of each token in the original text
    features: np.ndarray | None  # [tokens, lexicon size (+ 4 word bits)]
    ngrams: np.ndarray | None = None  # [tokens, 2] bigram ids (0: unknown)


class TextEncoder:
    """Turns text into token ids, offsets and lexicon features, the same way for training and
    for inference. ``char`` units give every non-space character its own token (word-piece
    continuations ``##x`` inside runs of Latin letters and digits), so any character span
    can be tagged; ``subword`` units use the tokenizer as it is (English). With a ``words``
    segmenter, each token's features end with its word's B/M/E/S bits."""

    def __init__(self, tokenizer, units: str = "char", lexicons: LexiconFeatures | None = None, ngrams: Sequence[str] = (),
                 words: WordSegmenter | None = None):
        if units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
        self.tokenizer = tokenizer
        self.units = units
        self.lexicons = lexicons if lexicons is not None and lexicons.names else None
        self.words = words
        self._vocab = tokenizer.get_vocab()
        self._normalizer = getattr(tokenizer, "backend_tokenizer", None) and tokenizer.backend_tokenizer.normalizer
        self._ids: dict[tuple[str, bool], int] = {}
        self.ngram_index = {gram: i for i, gram in enumerate(ngrams, 1)}

    @classmethod
    def for_model(cls, tokenizer, config, lexicon_words: dict[str, list[str]], ngrams: Sequence[str] = ()) -> TextEncoder:
        """The encoder a tagger config (:class:`skugraph.tagging.model.TaggerConfig`) asks for:
        its units, its lexicons' bits, and with ``word_features`` the word bits of jieba's
        dictionary plus every lexicon word."""
        lexicons = LexiconFeatures({name: lexicon_words.get(name, []) for name in config.lexicons}) if config.lexicons else None
        words = WordSegmenter(w for name in config.lexicons for w in lexicon_words.get(name, [])) if config.word_features else None
        return cls(tokenizer, config.units, lexicons, ngrams, words)

    @property
    def feature_size(self) -> int:
        """Width of each token's features (0: none)."""
        return (self.lexicons.size if self.lexicons else 0) + (len(WORD_TAGS) if self.words else 0)

    def _char_id(self, char: str, continues: bool) -> int:
        key = (char, continues)
        if key not in self._ids:
            norm = self._normalizer.normalize_str(char) if self._normalizer else char.lower()
            candidates = [f"##{norm}", norm] if continues else [norm, f"##{norm}"]
            self._ids[key] = next((self._vocab[c] for c in candidates if norm and c in self._vocab), self.tokenizer.unk_token_id)
        return self._ids[key]

    def encode(self, text: str) -> Encoded:
        if self.units == "char":
            ids, offsets = [], []
            previous = ""
            for position, char in enumerate(text):
                if char.isspace():
                    previous = ""
                    continue
                continues = bool(previous) and char.isalnum() and previous.isalnum() and not is_cjk(char) and not is_cjk(previous)
                ids.append(self._char_id(char, continues))
                offsets.append((position, position + 1))
                previous = char
        else:
            encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            pairs = [(i, o) for i, o in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True) if o[1] > o[0]]
            ids = [i for i, _ in pairs]
            offsets = [tuple(o) for _, o in pairs]
        features = None
        if self.feature_size:
            parts = ([self.lexicons.char_bits(text)] if self.lexicons else []) + ([word_bits(self.words, text)] if self.words else [])
            bits = np.concatenate(parts, axis=1)
            features = np.stack([bits[s:e].max(axis=0) for s, e in offsets]) if offsets else np.zeros((0, self.feature_size), np.float32)
        ngram_ids = None
        if self.ngram_index:
            index = self.ngram_index
            ngram_ids = np.array([[index.get(a, 0), index.get(b, 0)] for a, b in char_bigrams(text, offsets)], dtype=np.int64).reshape(-1, 2)
        return Encoded(ids, offsets, features, ngram_ids)

    def misaligned(self, text: str, spans: Iterable[Span]) -> int:
        """How many span edges fall inside a token (such a span cannot be tagged exactly)."""
        offsets = self.encode(text).offsets
        starts = {s for s, _ in offsets}
        ends = {e for _, e in offsets}
        return sum((span.start not in starts) + (span.end not in ends) for span in spans)


def token_tags(offsets: Sequence[tuple[int, int]], spans: Iterable[Span], scheme: str) -> list[str]:
    """Tags of tokens from character spans; a token belongs to a span it overlaps."""
    tags = ["O"] * len(offsets)
    for span in spans:
        inside = [j for j, (s, e) in enumerate(offsets) if s < span.end and e > span.start]
        if not inside:
            continue
        if scheme == "bieos" and len(inside) == 1:
            tags[inside[0]] = f"S-{span.label}"
            continue
        for position, j in enumerate(inside):
            prefix = "B" if position == 0 else ("E" if scheme == "bieos" and position == len(inside) - 1 else "I")
            tags[j] = f"{prefix}-{span.label}"
    return tags


def tag_set(labels: Iterable[str], scheme: str) -> list[str]:
    """All tags of a scheme for entity types, ``O`` first, in a fixed order."""
    prefixes = ("B", "I", "E", "S") if scheme == "bieos" else ("B", "I")
    return ["O"] + [f"{p}-{label}" for label in sorted(set(labels)) for p in prefixes]
