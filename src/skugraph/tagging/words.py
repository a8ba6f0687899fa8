"""Word boundaries as per-character features: where jieba's dictionary (plus any user lexicon)
cuts a text into words, each character tagged B (begins a word), M (inside), E (ends) or S
(a word of its own). A data set that ships no gazetteer still gets the word shapes of its
language: a span rarely starts inside a word.
"""

from __future__ import annotations

from collections.abc import Iterable

import jieba

jieba.setLogLevel(60)  # no dictionary-loading chatter on stderr

WORD_TAGS = ("B", "M", "E", "S")


class WordSegmenter:
    """jieba's dictionary (a tokenizer of its own, so user words never leak into the global
    one) with ``words`` added; cuts without the HMM, so the boundaries are the dictionary's."""

    def __init__(self, words: Iterable[str] = ()):
        self.words = sorted({w.strip() for w in words if w.strip()})
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        for word in self.words:
            self._tokenizer.add_word(word, freq=None)

    def __reduce__(self):
        """Pickles as its words (jieba's tokenizer holds a lock): rebuilt in the other process."""
        return WordSegmenter, (self.words,)

    def boundaries(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each word of ``text``; spaces are words of their own."""
        return [(start, end) for _, start, end in self._tokenizer.tokenize(text, HMM=False)]

    def tags(self, text: str) -> list[str]:
        """B/M/E/S for each character of ``text``."""
        tags = ["S"] * len(text)
        for start, end in self.boundaries(text):
            if end - start > 1:
                tags[start] = "B"
                tags[start + 1 : end - 1] = ["M"] * (end - start - 2)
                tags[end - 1] = "E"
        return tags
