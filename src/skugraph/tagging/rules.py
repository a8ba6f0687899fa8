"""The rule extractor: brand gazetteer, two-script brand patterns, unit patterns and
lexicons. It is the baseline the neural taggers are measured against, and a source
of weak labels.

Rules run on the NFKC-normalised, lower-cased text; every span is mapped back to
the original text before it becomes a :class:`~skugraph.records.Mention`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from skugraph.corpus.normalize import normalize
from skugraph.records import Listing, Mention
from skugraph.tagging.lexicon import (
    BRAND_PAIR,
    Brand,
    BrandGazetteer,
    Lexicon,
    default_gazetteer,
    default_lexicons,
    fold,
    read_words,
)

_NUM = r"(?<![0-9.])\d+(?:\.\d+)?"
_END = r"(?![a-z])"
#: (label, pattern over lower-cased text, score); earlier patterns win ties on the same span.
UNIT_PATTERNS: list[tuple[str, re.Pattern[str], float]] = [
    (label, re.compile(pattern), score)
    for label, pattern, score in [
        ("capacity", rf"{_NUM}\s*(?:gb|tb|mb|mah){_END}", 0.9),
        ("capacity", rf"(?<![0-9.])(?:8|16|32|64|128|256|512|1024)\s*g{_END}", 0.85),
        ("capacity", r"(?<![0-9.])(?:1|2|4|8|16)\s*t(?![a-z恤])", 0.8),
        ("size", rf"{_NUM}(?:\s*[x*×]\s*{_NUM}){{1,2}}\s*(?:cm|mm|m|厘米|毫米){_END}", 0.9),
        ("size", rf"{_NUM}\s*(?:英寸|寸|inch(?:es)?{_END}|in{_END}|\"|cm{_END}|mm{_END}|厘米|毫米)", 0.9),
        ("volume", rf"{_NUM}\s*(?:ml|l|毫升|升(?!级)){_END}", 0.9),
        ("weight", rf"{_NUM}\s*(?:kg|千克|公斤|克|斤){_END}", 0.85),
        ("weight", rf"(?<![0-9.])(?![2-5]\s*g)\d+(?:\.\d+)?\s*g{_END}", 0.8),  # not 5G networks
        ("power", rf"{_NUM}\s*(?:kw|w|千瓦|瓦){_END}", 0.85),
        ("model", r"(?<![0-9a-z])[a-z]{1,4}-?\d{2,5}[a-z]{0,3}(?![0-9a-z])", 0.5),
    ]
]
_COMPAT_TRIGGER = re.compile(
    r"(?:(?:适用|适配|兼容)机型\s*[:：]?|适用于|适用|适配于|适配|兼容|专用于|(?<![a-z])for(?![a-z]))\s*"
)
_MODEL_AFTER_BRAND = re.compile(r"\s*((?:[a-z]{0,8}\s?\d+[a-z0-9]*)(?:\s*(?:pro|max|plus|mini|ultra|lite|se|\+))*)")
_LIST_SEPARATOR = re.compile(r"\s*(?:、|/|,|，|和|及|与)\s*")
_SPECIFIC = re.compile(r"\s*专用")
_TOKEN_START = re.compile(r"(?:^|(?<=[\s\]】|/,，]))")


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    label: str
    score: float


class RuleExtractor:
    """Lexicon and pattern rules that emit scored mentions from listing text."""

    name = "rules"
    version = "1"

    def __init__(self, gazetteer: BrandGazetteer | None = None, lexicons: dict[str, Lexicon] | None = None):
        self.gazetteer = gazetteer or default_gazetteer()
        self.lexicons = lexicons or default_lexicons()

    @classmethod
    def with_lexicon_files(
        cls, brands: Iterable[str | Path] = (), product_types: Iterable[str | Path] = ()
    ) -> RuleExtractor:
        """The shipped lexicons plus your own word lists (one word a line)."""
        lexicons = dict(default_lexicons())
        extra_types = read_words(product_types)
        if extra_types:
            lexicons["product_type"] = Lexicon([*lexicons["product_type"].phrases(), *extra_types])
        return cls(default_gazetteer().with_words(read_words(brands)), lexicons)

    def learn_brands(self, titles: Iterable[str]) -> RuleExtractor:
        """A copy that also knows every brand a title opens with in two scripts: once one
        listing writes ``诺芝（NOZI）``, listings that write ``诺芝`` alone are read too."""
        learned: dict[str, Brand] = {}
        for title in titles:
            text = normalize(title).text
            match = BRAND_PAIR.match(text, len(text) - len(text.lstrip()))
            if not match:
                continue
            parts = [part.strip() for part in match.groups() if part]
            if any(fold(part) in self.gazetteer.by_surface or self._is_attribute_word(part) for part in parts):
                continue
            brand = self.gazetteer.resolve(match.group())
            learned.setdefault(brand.key, brand)
        if not learned:
            return self
        return RuleExtractor(self.gazetteer.with_brands(learned.values()), self.lexicons)

    def spans(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, label, score) over the original ``text``, non-overlapping, in order."""
        norm = normalize(text, lowercase=True)
        low = norm.text
        compat = self._compatibility(low)
        others = self._brands(low) + self._lexicon_spans(low) + self._units(low)
        chosen = list(compat)
        for cand in sorted(others, key=lambda c: (-(c.end - c.start), -c.score)):
            if all(cand.end <= c.start or cand.start >= c.end for c in chosen):
                chosen.append(cand)
        result = []
        for cand in sorted(chosen, key=lambda c: c.start):
            start, end = norm.to_original(cand.start, cand.end)
            result.append((start, end, cand.label, cand.score))
        return result

    def extract(self, listing: Listing, fields: tuple[str, ...] = ("title", "description")) -> list[Mention]:
        """Mentions in the named fields of one listing."""
        extractor = f"{self.name}@{self.version}"
        mentions = []
        for field in fields:
            text = listing.field_text(field)
            for start, end, label, score in self.spans(text):
                mentions.append(Mention(listing.id, field, start, end, text[start:end], label, score, extractor))
        return mentions

    def _brands(self, low: str) -> list[_Candidate]:
        found = []
        for match in BRAND_PAIR.finditer(low):
            parts = [part.strip() for part in match.groups() if part]
            if not _TOKEN_START.match(low, match.start()) or any(self._is_attribute_word(p) for p in parts):
                continue
            known = any(part in self.gazetteer.by_surface for part in parts)
            for group, part in match.groupdict().items():  # one mention per script, as annotators mark them
                if part:
                    found.append(_Candidate(*match.span(group), "brand", 0.95 if known else 0.8))
        for start, end in self.gazetteer.lexicon.find(low):
            found.append(_Candidate(start, end, "brand", 0.9))
        return found

    def _is_attribute_word(self, word: str) -> bool:
        return any(word in self.lexicons[label] for label in ("colour", "material", "product_type"))

    def _lexicon_spans(self, low: str) -> list[_Candidate]:
        scores = {"colour": 0.85, "material": 0.8, "product_type": 0.7}
        return [
            _Candidate(start, end, label, score)
            for label, score in scores.items()
            for start, end in self.lexicons[label].find(low)
        ]

    def _units(self, low: str) -> list[_Candidate]:
        return [
            _Candidate(m.start(), m.end(), label, score)
            for label, pattern, score in UNIT_PATTERNS
            for m in pattern.finditer(low)
        ]

    def _match_at(self, lexicon: Lexicon, low: str, position: int) -> tuple[int, int] | None:
        window = low[position : position + 32]
        spans = lexicon.find(window)
        if spans and spans[0][0] == 0:
            return position, position + spans[0][1]
        return None

    def _compatibility(self, low: str) -> list[_Candidate]:
        """``适用于华为P60手机``, ``for iPhone 15 Pro``, ``小米专用``: what the product fits."""
        found: list[_Candidate] = []
        for trigger in _COMPAT_TRIGGER.finditer(low):
            position = trigger.end()
            while brand := self._match_at(self.gazetteer.lexicon, low, position):  # 适配联想、华为等
                found.append(_Candidate(*brand, "compatible_brand", 0.85))
                position = brand[1]
                model = self._model_at(low, position)
                if model:
                    found.append(_Candidate(model.start(1), model.end(1), "compatible_model", 0.75))
                    position = model.end(1)
                separator = _LIST_SEPARATOR.match(low, position)
                if not separator or not self._match_at(self.gazetteer.lexicon, low, separator.end()):
                    break
                position = separator.end()
            position += len(low[position:]) - len(low[position:].lstrip())
            if low.startswith("等", position):
                position += 1
            product = self._match_at(self.lexicons["product_type"], low, position)
            if product:
                found.append(_Candidate(*product, "compatible_product", 0.8))
        brands = self.gazetteer.lexicon.find(low)
        for start, end in brands:
            if any(c.start <= start < c.end for c in found):
                continue
            if _SPECIFIC.match(low, end):
                found.append(_Candidate(start, end, "compatible_brand", 0.8))
            else:
                maker_before = any(s < start for s, _ in brands) or BRAND_PAIR.match(low) is not None
                found += self._brand_before_accessory(low, start, end, maker_before)
        return found

    @staticmethod
    def _model_at(low: str, position: int) -> re.Match[str] | None:
        """A model name right after a brand (``P20``, ``15 pro max``), but not a quantity like ``65w``."""
        model = _MODEL_AFTER_BRAND.match(low, position)
        if not model or not model.group(1):
            return None
        text = model.group(1)
        if any(label != "model" and pattern.fullmatch(text) for label, pattern, _ in UNIT_PATTERNS):
            return None
        return model

    def _brand_before_accessory(self, low: str, start: int, end: int, maker_before: bool) -> list[_Candidate]:
        """``华为P20手机壳``, ``vivo z3i保护套``: a brand, a model or product, then an accessory
        word — the brand is what the accessory fits, not who made it. With neither model nor
        product between (``倍思充电器``) the brand is the maker, unless a maker came before."""
        found = [_Candidate(start, end, "compatible_brand", 0.75)]
        position = end
        model = self._model_at(low, position)
        if model:
            found.append(_Candidate(model.start(1), model.end(1), "compatible_model", 0.7))
            position = model.end(1)
        product = self._match_at(self.lexicons["product_type"], low, position)
        if product and not self._match_at(self.lexicons["accessory"], low, position):
            found.append(_Candidate(*product, "compatible_product", 0.7))
            position = product[1]
        if not self._match_at(self.lexicons["accessory"], low, position) or (len(found) == 1 and not maker_before):
            return []
        return found
