"""Unicode normalisation (NFKC: full-width → half-width and more) with an offset map, and
:func:`fold`, the one matching form of a string that lexicons, rules, fusion, search,
the tagger's features and the PII scrubber compare.

Extractors work on the normalised text; :meth:`NormalizedText.to_original`
maps their spans back to the original string, which is what provenance records.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text and, for each of its characters, the original index it came from."""

    original: str
    text: str
    origin: tuple[int, ...]  # len(text) + 1 entries; the last is len(original)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span [start, end) of the normalised text to a span of the original."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span ({start}, {end}) outside text of length {len(self.text)}")
        if start == end:
            return self.origin[start], self.origin[start]
        return self.origin[start], self._original_end(end - 1)

    def _original_end(self, index: int) -> int:
        """End (exclusive) in the original of the cluster that normalised character ``index`` came from."""
        first = self.origin[index]
        following = index + 1
        while following < len(self.text) and self.origin[following] == first:
            following += 1
        return self.origin[following]


def normalize(text: str, *, lowercase: bool = False) -> NormalizedText:
    """NFKC-normalise ``text`` (full-width letters, digits and punctuation become ASCII,
    the ideographic space a plain space, ``㎏`` becomes ``kg``), optionally lower-cased,
    keeping a map from every output character back to the original. Each base character is
    normalised with the combining marks that follow it."""
    if text.isascii():  # NFKC leaves ASCII as it is
        return NormalizedText(original=text, text=text.lower() if lowercase else text, origin=tuple(range(len(text) + 1)))
    parts: list[str] = []
    origin: list[int] = []
    combining, start, end = unicodedata.combining, 0, len(text)
    while start < end:
        stop = start + 1
        while stop < end and combining(text[stop]):
            stop += 1
        piece = _nfkc(text[start:stop], lowercase)
        parts.append(piece)
        origin.extend([start] * len(piece))
        start = stop
    origin.append(len(text))
    return NormalizedText(original=text, text="".join(parts), origin=tuple(origin))


@lru_cache(maxsize=1 << 16)
def _nfkc(cluster: str, lowercase: bool) -> str:
    """A base character and its combining marks, NFKC-normalised (lower-cased)."""
    piece = unicodedata.normalize("NFKC", cluster)
    return piece.lower() if lowercase else piece


#: full-width ASCII (！ … ～) and the ideographic space, each to its half-width character
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _fold_char(char: str, lowercase: bool) -> str:
    """One character's NFKC form (lower-cased) where that is one character, else the character itself."""
    folded = unicodedata.normalize("NFKC", char)
    if lowercase:
        folded = folded.lower()
    if len(folded) == 1:
        return folded
    return char.lower() if lowercase else char


def fold(text: str, *, keep_offsets: bool = False, width_only: bool = False, lowercase: bool = True) -> str:
    """The matching form of ``text``.

    By default: NFKC (as :func:`normalize`: ``ＵＧＲＥＥＮ`` is ``ugreen``, ``㎏`` is ``kg``), lower case,
    every run of white space one space, none at the ends — the form gazetteers and search compare.

    ``keep_offsets=True`` folds character by character and keeps white space, so an offset into the
    result is the offset into ``text`` (the tagger's per-character features): a character whose NFKC
    form is one character becomes it, any other (``㎏``) stays as it is, lower-cased.

    ``width_only=True`` folds nothing but full-width ASCII and the ideographic space, one character for
    one (implies ``keep_offsets``): the PII patterns see ``１３８`` as ``138`` while every other
    character, ``①`` and ``㎏`` included, stays as written.

    ``lowercase=False`` keeps the case.
    """
    if width_only:
        folded = text.translate(_FULL_WIDTH)
        return folded.lower() if lowercase else folded
    if keep_offsets:
        return "".join(_fold_char(char, lowercase) for char in text)
    return " ".join(normalize(text, lowercase=lowercase).text.split())
