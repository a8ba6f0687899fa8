"""Gazetteers shipped with skugraph (brands with CN/EN aliases, colours, materials,
product types) and a longest-match finder over them."""

from __future__ import annotations

import glob

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import jieba

from skugraph.corpus.normalize import fold

jieba.setLogLevel(60)  # no dictionary-loading chatter on stderr

_LATIN = re.compile(r"[0-9A-Za-z]")
_WORD = re.compile(r"[0-9a-z]")
_LATIN_LETTER = re.compile(r"[a-z]")
_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
#: a Latin letter followed by a digit: a model code (B5, R7s, P20, NOVA2S), not a brand name (1MORE, 3M are)
_MODEL = re.compile(r"[a-z][\s\-]?\d")
#: what names a shop, not a brand or a product: a mention ending in one of these (or in 店) is a shop's word
SHOP_WORDS = ("旗舰店", "专营店", "专卖店", "官方店", "自营")
_SHOP = re.compile(rf"(?:{'|'.join(SHOP_WORDS)}|店)$")
_COLOUR_END = re.compile(r"[黑白红绿蓝黄紫粉灰橙棕金银]$")
_CJK_NAME = r"[\u4e00-\u9fff·]{1,8}"
_LATIN_NAME = r"[A-Za-z][A-Za-z0-9&'.\- ]{0,24}[A-Za-z0-9.]|[A-Za-z]"
#: ``诺芝（NOZI）``, ``NOZI(诺芝)``, ``Apple/苹果``, ``苹果/Apple`` — a brand written in two scripts.
BRAND_PAIR = re.compile(
    rf"(?P<a>{_CJK_NAME})\s*[(（]\s*(?P<b>{_LATIN_NAME})\s*[)）]"
    rf"|(?P<c>{_LATIN_NAME})\s*[(（]\s*(?P<d>{_CJK_NAME})\s*[)）]"
    rf"|(?P<e>{_CJK_NAME})\s*/\s*(?P<f>{_LATIN_NAME})(?![A-Za-z0-9])"
    rf"|(?P<g>{_LATIN_NAME})\s*/\s*(?P<h>{_CJK_NAME})"
)
#: what a title says before the device it fits: ``适用于``, ``适配``, ``兼容``, ``适用机型：``, ``for``
#: (over lower-cased text); the brand after it is what the product fits, not its maker. Not before an
#: operating system: a desktop that ``兼容win7`` runs it and fits nothing
COMPAT_TRIGGER = re.compile(
    r"(?:(?:适用|适配|兼容)机型\s*[:：]?|适用于|适用|适配于|适配|兼容|专用于|用于|(?<![a-z])for(?![a-z]))"
    r"(?!\s*(?:win(?:dows)?\s*(?:\d|xp|vista)|windows|xp(?![a-z])|vista|linux|(?:操作)?系统))\s*"
)

#: a phone or tablet maker's Latin name written together with its model (``vivox27``, ``oppoa83``,
#: ``iphone8plus``, ``ipadair2``, ``mi9se``, ``iphonexr``; not ``mix2``, ``mini4``), over lower-cased
#: text: the name is the brand though the word goes on
GLUED_DEVICE = re.compile(
    r"(?<![0-9a-z])(?:(?:iphone|ipad|macbook|vivo|oppo|redmi|huawei|honor|samsung|oneplus)(?=[a-z]{0,4}\d)"
    r"|mi(?=\d)|iphone(?=(?:x[rs]?(?:max)?|se)(?![a-z])))"
)

#: what 色 after a count goes on with where it counts no colours of a set: colours to choose from (5色可选), a
#: ribbon's (3色带), a light's temperature (色温), a screen (单色屏)
NOT_A_COLOUR_SET = "可选|任选|随机|可挑|备注|留言|选择|带|温|屏"
#: a product word that sells a service for a device, not the device (``换件服务``, ``上门换屏``, ``延保服务卡``,
#: ``延长保修``)
SERVICE_WORD = re.compile(r"服务卡?$|^上门(?:维修|换)|保修$")
#: lines of a maker's devices whose name stays in a model's name: an iPad 6 is no iPhone 6
#: (``ipad6`` is ``苹果 ipad6``, where ``iphone6`` is ``苹果 6``)
NAMED_LINES = frozenset({"ipad", "macbook"})


class Lexicon:
    """Leftmost-longest matching of phrases, by hashing every candidate length at each
    position (fast for lexicons of any size); Latin phrases match only on word boundaries."""

    def __init__(self, phrases: Iterable[str]):
        self._folded = {fold(p) for p in phrases if p.strip()}
        lengths: dict[str, set[int]] = {}
        for phrase in self._folded:
            lengths.setdefault(phrase[0], set()).add(len(phrase))
        #: first character → phrase lengths starting with it, longest first
        self._lengths = {first: sorted(sizes, reverse=True) for first, sizes in lengths.items()}

    def __contains__(self, text: str) -> bool:
        return fold(text) in self._folded

    def __len__(self) -> int:
        return len(self._folded)

    def phrases(self) -> list[str]:
        return sorted(self._folded)

    def find(self, folded_text: str) -> list[tuple[int, int]]:
        """Spans of lexicon phrases in lower-cased, NFKC-normalised text."""
        spans = []
        position, size = 0, len(folded_text)
        while position < size:
            end = self._longest_at(folded_text, position)
            if end:
                spans.append((position, end))
                position = end
            else:
                position += 1
        return spans

    def _longest_at(self, text: str, position: int) -> int:
        lengths = self._lengths.get(text[position])
        if lengths is None:
            return 0
        before_is_word = position > 0 and _WORD.match(text[position - 1]) is not None
        for length in lengths:
            end = position + length
            if end > len(text):
                continue
            piece = text[position:end]
            if piece not in self._folded:
                continue
            if _LATIN.match(piece[0]) and before_is_word:
                continue
            if _LATIN.match(piece[-1]) and end < len(text) and _WORD.match(text[end]):
                continue
            return end
        return 0


@dataclass(frozen=True, slots=True)
class Brand:
    key: str
    name: str
    aliases: tuple[str, ...]


class BrandGazetteer:
    """Brands by every surface form; resolves a brand mention to one canonical brand."""

    def __init__(self, brands: Iterable[Brand]):
        self.by_surface: dict[str, Brand] = {}
        for brand in brands:
            for surface in (brand.name, *brand.aliases):
                self.by_surface.setdefault(fold(surface), brand)
        self.lexicon = Lexicon(self.by_surface)

    @classmethod
    def from_tsv(cls, path: str | Path | None = None) -> BrandGazetteer:
        """Read ``key<TAB>Chinese name<TAB>English name<TAB>alias,alias``; ``#`` lines are comments."""
        return cls(parse_brands(Path(path).read_text("utf-8"), str(path)) if path else parse_brands(_resource("brands.tsv"), "brands.tsv"))

    def with_brands(self, brands: Iterable[Brand]) -> BrandGazetteer:
        """This gazetteer plus more brands (a surface already known keeps its brand)."""
        known = {id(b): b for b in self.by_surface.values()}
        return BrandGazetteer([*known.values(), *brands])

    def with_words(self, words: Iterable[str]) -> BrandGazetteer:
        """This gazetteer plus plain brand names (each its own brand unless already known)."""
        return self.with_brands(Brand(fold(w), w.strip(), ()) for w in words if w.strip())

    def _holding(self, names: list[str]) -> Brand | None:
        """The known brand that has every one of ``names`` (folded) among its names, if any."""
        for name in names:
            brand = self.by_surface.get(name)
            if brand and {fold(s) for s in (brand.name, *brand.aliases)} >= set(names):
                return brand
        return None

    def known_apart(self, names: Iterable[str]) -> bool:
        """Whether the names include two brands this gazetteer knows as different (vivo / 华为), and
        no one brand has them all (先锋 / SINGFUN, when 先锋 also names Pioneer)."""
        folded = [fold(n) for n in names]
        known = {self.by_surface[n].key for n in folded if n in self.by_surface}
        return len(known) > 1 and self._holding(folded) is None

    def resolve(self, surface: str) -> Brand:
        """The brand a surface form names: known brands by any alias; an unknown two-script
        form like ``诺芝（NOZI）`` becomes a new brand keyed by its Latin name."""
        known = self.by_surface.get(fold(surface))
        if known:
            return known
        match = BRAND_PAIR.fullmatch(surface.strip())
        if match:
            names = [n.strip() for n in match.groups() if n]
            holding = self._holding([fold(n) for n in names])
            if holding:
                return holding
            for name in names:
                if fold(name) in self.by_surface:
                    return self.by_surface[fold(name)]
            chinese = next(n for n in names if not _LATIN.match(n[0]))
            latin = next(n for n in names if _LATIN.match(n[0]))
            return Brand(key=fold(latin), name=chinese, aliases=(latin,))
        return Brand(key=fold(surface), name=surface.strip(), aliases=())


def read_words(paths: Iterable[str | Path]) -> list[str]:
    """Words from plain lexicon files: one a line; blank lines and ``#`` comments skipped, and what
    follows a tab (the product types' ``accessory`` mark) is no part of the word."""
    words = []
    for path in paths:
        for line in Path(path).read_text("utf-8").splitlines():
            if line.strip() and not line.startswith("#") and (word := line.partition("\t")[0].strip()):
                words.append(word)
    return words


def parse_product_types(text: str, source: str) -> list[tuple[str, bool]]:
    """(word, whether it is an accessory type) from lines ``word`` or ``word<TAB>accessory``
    (the shipped ``product_types.txt``'s format); blank lines and ``#`` comments skipped. Any
    other mark is a ValueError naming ``source`` and the line."""
    types = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        word, _, mark = line.partition("\t")
        if mark.strip() not in ("", "accessory") or not word.strip():
            raise ValueError(f"{source}, line {number}: expected a product word, or a word, a tab and 'accessory'; got {line!r}")
        types.append((word.strip(), mark.strip() == "accessory"))
    return types


def read_product_types(paths: Iterable[str | Path]) -> list[tuple[str, bool]]:
    """:func:`parse_product_types` of each file, in order."""
    return [kind for path in paths for kind in parse_product_types(Path(path).read_text("utf-8"), str(path))]


def _resource(name: str) -> str:
    return resources.files("skugraph.tagging").joinpath("lexicon", name).read_text("utf-8")


def parse_brands(text: str, source: str) -> list[Brand]:
    """Brands from ``key<TAB>name<TAB>other name<TAB>alias,alias`` rows (the shipped ``brands.tsv``'s
    format); ``#`` lines are comments. A row with no key or no name is a ``ValueError`` naming
    ``source`` and the line."""
    brands = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, first, second, more = ([part.strip() for part in line.split("\t")] + ["", "", ""])[:4]
        names = [n for n in (first, second) if n]
        if not key or not names:
            raise ValueError(f"{source}, line {number}: a brand row needs a key and a name, tab-separated")
        brands.append(Brand(key=key, name=names[0], aliases=tuple(names[1:] + [a for a in more.split(",") if a])))
    return brands


def _lines(name: str) -> list[str]:
    return [line for line in _resource(name).splitlines() if line.strip() and not line.startswith("#")]


@cache
def default_gazetteer() -> BrandGazetteer:
    return BrandGazetteer.from_tsv()


@cache
def default_lexicons() -> dict[str, Lexicon]:
    """Colour, material and product-type lexicons, plus the accessory product types."""
    types = parse_product_types(_resource("product_types.txt"), "product_types.txt")
    return {
        "colour": Lexicon(_lines("colours.txt")),
        "material": Lexicon(_lines("materials.txt")),
        "product_type": Lexicon(word for word, _ in types),
        "accessory": Lexicon(word for word, accessory in types if accessory),
    }


@cache
def word_brands() -> frozenset[str]:
    """The shipped ``word_brands.txt``: brand names that are also everyday words (``小熊``), a
    brand only where a title names them as one (see ``RuleExtractor._named_as_brand``)."""
    return frozenset(fold(word) for word in _lines("word_brands.txt"))


@cache
def kind_words() -> tuple[dict[str, frozenset[tuple[int, int]]], int]:
    """The shipped ``kinds.txt``: each word (folded) with the kinds it names, as (group, kind)
    places (none for a word of its ``not`` line: 工业风 names no kind though it holds 工业), and
    how many groups there are."""
    words: dict[str, set[tuple[int, int]]] = defaultdict(set)
    groups = 0
    for line in _lines("kinds.txt"):
        first, *rest = fold(line).split()
        if first == "not":
            for word in rest:
                words.setdefault(word, set())
            continue
        for kind, spellings in enumerate([first, *rest]):
            for word in spellings.split("/"):
                words[word].add((groups, kind))
        groups += 1
    return {word: frozenset(places) for word, places in words.items()}, groups


@cache
def word_cutter() -> jieba.Tokenizer:
    """jieba's word cutter (its own, the global one untouched) that also knows the shipped
    ``not_brands.txt``: words holding a brand name that name no brand (``王者荣耀``, ``布朗熊``)."""
    cutter = jieba.Tokenizer()
    for word in _lines("not_brands.txt"):
        cutter.add_word(word)
    return cutter


#: words titles put in brackets or beside a brand that are not brand names
GENERIC_WORDS = frozenset(
    "安卓 手机 原装 正品 官方 官方标配 通用 国产 进口 日本进口 德国进口 美国进口 定制 新款 升级款 套餐 标配 "
    "苹果安卓 安卓苹果 安卓通用 全网通 智能 无线 蓝牙 三合 二合 本子 电脑 笔记本 平板 "
    "京东 京东配送 适用 适配 兼容 专用 中性 彩色 多色".split()
)


def name_key(name: str) -> str:
    """The form two spellings of one name share: folded, Latin punctuation and spaces dropped."""
    folded = fold(name)
    return re.sub(r"[\s\-_.&'’]+", "", folded) if not _CJK_CHAR.search(folded) else folded.replace(" ", "")


def script_of(name: str) -> str:
    """"cjk" for a name with a Chinese character, else "latin" for one with a Latin letter, else "other"."""
    return "cjk" if _CJK_CHAR.search(name) else "latin" if _LATIN_LETTER.search(name) else "other"


#: opening and closing brackets: a mention holding one without the other was cut across the title's marks (【京东 of 【京东配送】)
_OPENING, _CLOSING = re.compile(r"[【\[(（「《<]"), re.compile(r"[】\])）」》>]")


def is_shop_or_generic(name: str) -> bool:
    """Whether a mention is a shop's or a generic word (官方, 京东, 适用, …旗舰店), one cut across
    a bracket (【京东), or shorter than two letters: what names no brand, known or not."""
    folded = fold(name)
    return (len(name_key(folded)) < 2 or folded in GENERIC_WORDS or bool(_SHOP.search(folded))
            or len(_OPENING.findall(folded)) != len(_CLOSING.findall(folded)))


def is_brand_name(name: str) -> bool:
    """Whether a mention can name a brand at all: not a model code, colour, material, product
    type, shop or generic word (:func:`is_shop_or_generic`)."""
    folded = fold(name)
    if is_shop_or_generic(folded):
        return False
    if script_of(folded) == "latin":
        return not _MODEL.search(folded)
    if script_of(folded) != "cjk":
        return False
    if folded in default_gazetteer().by_surface:
        return True
    lexicons = default_lexicons()
    attribute = any(folded in lexicons[kind] for kind in ("colour", "material", "product_type"))
    return not (_COLOUR_END.search(folded) or attribute)


def lexicon_files(specs: Iterable[str]) -> dict[str, list[Path]]:
    """Gazetteer files by name from ``NAME=FILE[,FILE…]`` specs (``--lexicon`` of ``skugraph
    train tagger``); a FILE with ``*``, ``?`` or ``[`` is a glob. A malformed spec, or a file
    or glob that names no file, is a ValueError or FileNotFoundError naming it."""
    lexicons: dict[str, list[Path]] = {}
    for spec in specs:
        name, sep, files = spec.partition("=")
        if not sep or not name or not files:
            raise ValueError(f"--lexicon wants NAME=FILE[,FILE…], got {spec!r}")
        for item in files.split(","):
            matches = sorted(map(Path, glob.glob(item))) if any(c in item for c in "*?[") else [Path(item)]
            if not matches or not all(m.is_file() for m in matches):
                raise FileNotFoundError(f"--lexicon {name}: no file {item}")
            lexicons.setdefault(name, []).extend(matches)
    return lexicons
