"""Are two offers one product? :func:`identity` errs on the side of keeping listings apart.

It reads each title (:func:`read_title`: model codes, model numbers, measures, colours, the
variant part), vetoes a pair that conflicts (different brands, types, fitted devices, model
codes, model numbers such as 成就3671 / 灵越3470, measures in one unit, colours, a replaced piece
of title), and merges only on agreeing model codes, brand and type, or on near-identical titles (a
brand one title names and the other does not is no conflict by itself: a shop may leave its brand
out). Each :class:`Verdict` says why.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz

from skugraph.corpus.normalize import fold
from skugraph.facts.values import chinese_number, normalize_value
from skugraph.fusion.offers import Offer
from skugraph.tagging.lexicon import NOT_A_COLOUR_SET

#: extracted attributes two offers of one product cannot disagree on (brand, type and fits are checked apart)
KEY_ATTRIBUTES = ("model", "capacity", "colour", "size", "volume", "weight", "power")
#: key attributes that are measures: a conflict names the measures of the kind the titles changed
MEASURED = ("capacity", "size", "volume", "weight", "power")
#: words a shop adds to a title that say nothing about the item
FILLER = ("官方标配", "标配", "官方", "正品", "新款", "新品", "上市", "包邮", "热卖", "现货", "特价", "促销", "限时",
          "京东好店", "好货精选", "爆款", "推荐", "旗舰店", "速发", "正品保证", "品质保证", "行货", "京东配送")
_UNIT = (r"mah|kwh|kw|gb|tb|mb|ml|mm|cm|km|kg|hz|w|v|a|g|t|l|m|p|k|英寸|寸|厘米|毫米|毫升|毫安时|毫安|米|克|千克|升|匹|瓦|伏|支|个|张|"
         r"本|卷|片|套|包|盒|只|层|格|联|色|号|代|页|位|管|孔|芯|路|斗|抽|人|天|年|月")
_CODE_RUN = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_MEMORY = re.compile(r"\d+\+\d+[a-z]*")  # 12+256g: memory, a capacity
#: a capacity written on into the word after it (16gusb3.0, 16gu盘, 64gtf卡, 256gssd, 6gram), but for a free gift (送16gu盘)
_GLUED_MEASURE = re.compile(r"(?<![a-z0-9.])(?<!送)(?<!赠)(\d+(?:\.\d+)?(?:gb|tb|mb|g|t))"
                            r"(?=usb|u盘|tf|micro|sd|ssd|otg|type|ram|rom|sata|hdd|nvme|pcie|ddr)")
_NUMBER = re.compile(rf"(?<![\d.a-z])(\d+(?:\.\d+)?)(?:\s*({_UNIT}))?(?![a-z])")
_SERIES = re.compile(r"[\u4e00-\u9fff]{1,2}$")
#: a year a shop writes as the season of a listing (2024新款, 2024款, 新款2024), with its 款 or 年: a year
#: (unit 年, as 2024年 reads), no model number, and filler where one title says it (two that differ conflict)
_SEASON = re.compile(r"(?<!\d)(?:19|20)\d\d(?:\s*年?\s*款(?!\d)|\s*年?(?=\s*(?:新款|新品|春夏|秋冬|[春夏秋冬])))"
                     r"|(?:(?<=新款)|(?<=新品))\s*(?:19|20)\d\d(?!\d)")
_SERIES_CODE = re.compile(rf"[\u4e00-\u9fff]{{2}}(\d{{1,3}})(?![\d.a-z:~/+*-]|\s*(?:{_UNIT}))")  # not 1-2人, 4:3
_COLOUR_WORD = re.compile(r"(?:[深浅亮暗淡嫩纯哑]|玫瑰|香槟|土豪|宝石|天空|海军|象牙|中国)?[红橙黄绿青蓝紫黑白灰粉棕褐金银咖啡]色")
_COLOUR_CHAR = re.compile(r"[红橙黄绿青蓝紫黑白灰粉棕褐金银]")
#: 800x300mm, 120*150, 1.8*2米: the sides, and a unit of length if one follows (not the 包 of a following 包邮)
_DIMENSION = re.compile(r"\d+(?:\.\d+)?(?:\s*[x*×]\s*\d+(?:\.\d+)?)+(?:\s*(?:mm|cm|km|m|in)(?![a-z])|英寸|寸|厘米|毫米|公分|米)?")
_MEASURE_CODE = re.compile(rf"\d[\d.x*]*(?:{_UNIT})?")  # 256gb, 5g, 1080p, 800x300mm: measures, not model codes
_NOT_KEPT = re.compile(r"[^\w.+]|_")
_SHORT_CODE = re.compile(r"[c-z]\d")  # X7, V8 (not A4 or B5, paper sizes)
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_LONG_TITLE = 45  # characters of a compact title (a keyword-stuffed marketplace title)
_SUFFIX_SPACE = re.compile(r"(?<=\d)\s+(?=(?:pro|max|plus|ultra|mini|lite|gt|se)(?![a-z]))|(?<=pro)\s+(?=max(?![a-z]))")
_WORD_NUMBER = re.compile(r"(?<![a-z0-9])([a-z]{2,})\s+(\d[\da-z]*)(?![\d+.a-z])")  # Mate 60 → mate60, not pc 100w


@dataclass(frozen=True, slots=True)
class TitleReading:
    """What a title says that decides identity: its text (folded), its compact form (no spaces or
    punctuation) and where its variant part starts in it (what follows the last long run of
    keywords, as on JD: ``…办公桌面收纳盒 灰色/四联加厚 升级款``; else the last
    quarter of a long title; else nothing), both again with the measures cut out,
    its model codes (Latin and digits less measures, and a series word with its number: 灵越14),
    its model numbers (bare numbers of three
    or more digits, with the series word before them: 成就3671), its measures by unit and as
    written in order (``stated``: (unit, value) pairs), its colours. A run of letters and digits
    that is part of a model code (286G2 of MT 286G2) is no measure."""

    text: str
    compact: str
    variant_from: int
    compact_less_measures: str
    variant_less_measures_from: int
    codes: frozenset[str]
    model_numbers: dict[str, str]
    measures: dict[str, frozenset[str]]
    stated: tuple[tuple[str, str], ...]
    colours: frozenset[str]


@lru_cache(maxsize=65536)
def read_title(title: str) -> TitleReading:
    """The identity-relevant reading of a title (cached: every candidate pair reads both)."""
    text = _GLUED_MEASURE.sub(r"\1_", fold(title))  # 16gusb3.0 → 16g_usb3.0 (as long a run of non-spaces as before)
    codes: set[str] = set()
    joined = _SUFFIX_SPACE.sub("", text)  # 15 Pro Max → 15promax
    joined = _WORD_NUMBER.sub(lambda m: m.group(0) if re.search("[a-z]", m.group(2)) and _MEASURE_CODE.fullmatch(m.group(2)) else m.group(1) + m.group(2), joined)
    for run in _CODE_RUN.findall(joined):
        for part in run.split("/"):
            code = part.replace("-", "").replace(".", "")
            if (len(code) >= 3 and re.search(r"\d", code) and re.search(r"[a-z]", code) and not _MEASURE_CODE.fullmatch(code)
                    or _SHORT_CODE.fullmatch(code)):
                codes.add(code)
    for series in _SERIES_CODE.finditer(text):  # 灵越14, 小米8: a series word and its number (not 小米13 of 小米13 Ultra)
        if not any(code.startswith(series.group(1)) for code in codes):
            codes.add(series.group(0))
    # a code blanked with no space, that a number and a unit it parts do not read as one (7000 air14寸: not 7000寸)
    bare = _CODE_RUN.sub(lambda m: "_" * len(m.group(0)) if _part_of_code(m.group(0), codes) else m.group(0), text)
    stated: list[tuple[int, str, str]] = []  # (where, unit, value)
    numbers: dict[str, str] = {}
    stated += [(m.start(), "memory", m.group(0)) for m in _MEMORY.finditer(bare)]
    stated += [(m.start(), "dimensions", re.sub(r"\s*[x*×]\s*", "x", m.group(0)).replace(" ", "")) for m in _DIMENSION.finditer(bare)]
    for match in _NUMBER.finditer(_blank_dimensions(bare)):
        value, unit = match.group(1), match.group(2) or _year(bare, match)
        if unit:
            stated.append((match.start(), unit, value))
        elif len(value) >= 3 and "." not in value:
            series = _SERIES.search(bare[: match.start()])
            numbers[value] = (series.group(0) if series else "") + value
    compact = _NOT_KEPT.sub("", text)
    runs = list(re.finditer(r"\S{12,}", text))
    split = runs[-1].end() if runs else len(text)
    if not text[split:].strip() or len(text[split:]) * 2 >= len(text):  # no variant part after the last long keyword run
        split = len(text)
        if len(compact) >= _LONG_TITLE:  # a long title without one: its last quarter holds the variant
            kept = len(compact) - len(compact) // 4
            split = next(i for i in range(len(text) + 1) if len(_NOT_KEPT.sub("", text[:i])) >= kept)
    measures: dict[str, set[str]] = defaultdict(set)
    for _, unit, value in sorted(stated):
        measures[unit].add(value)
    head, variant = _NOT_KEPT.sub("", _cut_measures(text[:split], bare[:split])), _NOT_KEPT.sub("", _cut_measures(text[split:], bare[split:]))
    return TitleReading(text, compact, len(_NOT_KEPT.sub("", text[:split])), head + variant, len(head), frozenset(codes),
                        numbers, {unit: frozenset(values) for unit, values in measures.items()},
                        tuple((unit, value) for _, unit, value in sorted(stated)), frozenset(_COLOUR_WORD.findall(text)))


def _year(text: str, number: re.Match) -> str | None:
    """年 where a bare number is a season's year (2024 of 2024新款 or 新款2024), else None."""
    if number.group(2):
        return None
    return "年" if any(m.start() <= number.start(1) and number.end(1) <= m.end() for m in _SEASON.finditer(text)) else None


def _part_of_code(run: str, codes: set[str]) -> bool:
    """Whether a run of letters and digits holds a model code (FY-K52), or is a piece of one
    (286G2 of mt286g2, joined from MT 286G2; not a measure such as 8G)."""
    run = run.replace("-", "").replace(".", "")
    if any(code in run for code in codes):
        return True
    code_like = re.search(r"\d", run) and re.search(r"[a-z]", run) and not _MEASURE_CODE.fullmatch(run)
    return bool(code_like) and any(run in code for code in codes)


def _blank_dimensions(text: str) -> str:
    """The text with its memory sizes (12+256g) and dimensions (800x300mm) blanked, at the same length."""
    for pattern in (_MEMORY, _DIMENSION):
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


def _cut_measures(text: str, bare: str) -> str:
    """The text less its measures (12+256g, 800x300mm, 16g, 14英寸), found in ``bare`` (the text
    with its model codes blanked, at the same length)."""
    blanked = _blank_dimensions(bare)
    kept = [" " if seen != left else char for char, seen, left in zip(text, bare, blanked, strict=True)]
    for match in _NUMBER.finditer(blanked):
        if match.group(2) or _year(bare, match):
            kept[match.start() : match.end()] = " " * (match.end() - match.start())
    return "".join(kept)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether two offers are one product, how sure (0 when not), and why: what agrees when
    they are, the conflict (``veto``: never one product, whatever a matcher says) or the lack of
    evidence when they are not."""

    same: bool
    score: float
    reason: str
    veto: bool = False


def _apart(reason: str) -> Verdict:
    return Verdict(False, 0.0, reason, veto=True)


def _types_agree(a: str, b: str) -> bool:
    return a in b or b in a  # 手机 / 智能手机


def _filler_around(compact: str, start: int, end: int) -> str | None:
    """The filler words of a title that cover a differing stretch of it ("" for an empty
    stretch; 现货正 of 现货正品: 现货正品; a season's year, 2024 of 2024新款, is one), or None where
    some of it is no filler."""
    if start == end:
        return ""
    found = sorted([*((at, at + len(word), word) for word in FILLER for at in _occurrences(compact, word, start, end)),
                    *((m.start(), m.end(), m.group(0)) for m in _SEASON.finditer(compact) if m.start() < end and m.end() > start)])
    covered, words = start, []
    for first, last, word in found:
        if first > covered:
            return None
        if last > covered:
            covered, words = last, [*words, word]
        if covered >= end:
            return "".join(words)
    return None


def _occurrences(text: str, word: str, start: int, end: int) -> Iterator[int]:
    """Where ``word`` occurs in ``text`` overlapping [start, end)."""
    at = text.find(word, max(0, start - len(word) + 1), end + len(word) - 1)
    while at != -1 and at < end:
        yield at
        at = text.find(word, at + 1, end + len(word) - 1)


def _strip_filler(text: str) -> str:
    for word in FILLER:
        text = text.replace(word, "")
    return text


def _own_codes(offer: Offer, reading: TitleReading) -> frozenset[str]:
    """The title's model codes less the brand glued to them (xiaomi14 → 14, not a code; oppo
    reno11 → reno11), its own brand's or a brand it fits."""
    brands = [b for b in (offer.get("brand"), *offer.get("fits").split()) if b and ":" not in b]
    own = set()
    for code in reading.codes:
        for brand in brands:
            code = code.removeprefix(brand)
        if len(code) >= 3 and re.search(r"\d", code) and re.search(r"[a-z\u4e00-\u9fff]", code) or _SHORT_CODE.fullmatch(code):
            own.add(code)
    return frozenset(own)


def _conflict(left: Offer, right: Offer, ours: TitleReading, theirs: TitleReading) -> str | None:
    """The explicit conflict between two offers, or None: brands (both named, different), types,
    fitted devices (one listing models the other does not is none, as two spellings of one model
    can be; fitting a brand the other does not is: a case for 苹果x edited to 华为x), model codes,
    model numbers, measures in one unit, colours."""
    brand, other_brand = left.get("brand"), right.get("brand")
    if brand and other_brand and brand != other_brand:
        return f"brands differ: {brand} vs {other_brand}"
    kind, other_kind = left.get("product_type"), right.get("product_type")
    if kind and other_kind and not _types_agree(kind, other_kind):
        return f"types differ: {kind} vs {other_kind}"
    fits, other_fits = set(left.get("fits").split()), set(right.get("fits").split())
    fitted_brands = {device for device in fits if ":" not in device}, {device for device in other_fits if ":" not in device}
    if not (fits <= other_fits or other_fits <= fits) or bool(fits) != bool(other_fits) or fitted_brands[0] != fitted_brands[1]:
        return f"fit different devices: {' '.join(sorted(fits)) or 'none'} vs {' '.join(sorted(other_fits)) or 'none'}"
    codes, other_codes = _own_codes(left, ours), _own_codes(right, theirs)
    for name in KEY_ATTRIBUTES:
        if name == "model" and codes and codes == other_codes:
            continue  # the titles' own codes agree (s1503a, however the extractor cut S1503-A)
        if left.get(name) and right.get(name) and left.get(name) != right.get(name):
            return f"{name} differs: {_stated_change(name, ours, theirs) or f'{left.get(name)} vs {right.get(name)}'}"
    if codes and other_codes and codes != other_codes:
        return f"model codes differ: {' '.join(sorted(codes))} vs {' '.join(sorted(other_codes))}"
    if ours.model_numbers.keys() != theirs.model_numbers.keys() and ours.model_numbers and theirs.model_numbers:
        return (f"model numbers differ: {' '.join(sorted(ours.model_numbers.values()))} vs "
                f"{' '.join(sorted(theirs.model_numbers.values()))}")
    for unit in sorted(ours.measures.keys() & theirs.measures.keys()):
        if ours.measures[unit] != theirs.measures[unit]:
            return f"{unit} differs: {_change([v for u, v in ours.stated if u == unit], [v for u, v in theirs.stated if u == unit])}"
    if ours.colours and theirs.colours and ours.colours != theirs.colours:
        return f"colours differ: {' '.join(sorted(ours.colours))} vs {' '.join(sorted(theirs.colours))}"
    return None


def _change(ours: Sequence[str], theirs: Sequence[str]) -> str:
    """What changed between two sequences of values (difflib): ``32GB vs 64GB``, or ``only one
    says 64GB`` when one side only adds."""
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    mine: dict[str, None] = {}  # ordered sets
    yours: dict[str, None] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            mine |= dict.fromkeys(ours[i1:i2])
            yours |= dict.fromkeys(theirs[j1:j2])
    return f"{' '.join(mine)} vs {' '.join(yours)}" if mine and yours else f"only one says {' '.join(mine or yours)}"


def _stated_change(kind: str, ours: TitleReading, theirs: TitleReading) -> str | None:
    """What changed between the measures of ``kind`` two titles state (``capacity``: 32G → 64G,
    as canonical values: 32GB vs 64GB), or None when they state the same ones (the extracted
    values differ in which one was chosen, or come from another field)."""
    if kind not in MEASURED:
        return None
    mine, yours = _measures_of(kind, ours.stated), _measures_of(kind, theirs.stated)
    return _change(mine, yours) if mine != yours else None


#: a count of colours (24色, 十二色): a set of several, which no one colour describes; not those one may choose
#: from (6色可选) nor a ribbon's (3色带): :data:`~skugraph.tagging.lexicon.NOT_A_COLOUR_SET`
_COLOUR_COUNT = re.compile(rf"(?<![\d.])(\d+|[两二三四五六七八九十]{{1,3}})\s*色(?!{NOT_A_COLOUR_SET})")
#: words that hold a colour character and name no colour: 蓝牙, 金属, 白板, 红米, 青春版 …
_NOT_COLOUR = re.compile(r"蓝牙|蓝光|金属|合金|白金|黄金|黄铜|青铜|白板|黑板|白边|黑边|红米|青春|红外|紫外|紫砂|黑科技|网红|红包|金牌"
                         r"|金士顿|银行|金融|白条|黑点|青花")


#: a number with one decimal and no unit, as screens are measured in inches (9.7, 13.3, 15.6, 27.0):
#: not in a code, a list, a range or a dimension (G10.5, 13.3/14, 9-10.2, 11.5*22), nor a price or another measure
_BARE_SCREEN = re.compile(r"(?<![\d.*x×~/+-])(\d{1,2}\.\d)(?![\d.]|\s*[a-z%*x×~/+-]|\s*(?:元|米|厘米|毫米|公斤|斤|克|升|伏|瓦|度|寸|英寸|支|个|片))")


def _colours(text: str) -> set[str]:
    """The colour characters of ``text``, less those of words that name no colour (:data:`_NOT_COLOUR`)."""
    return set(_COLOUR_CHAR.findall(_NOT_COLOUR.sub("", text)))


def rules_out(title: str, kind: str, value: str) -> bool:
    """Whether ``title`` says its product's ``kind`` is not ``value``: measures of the kind (one of
    :data:`MEASURED`), none of them the value and the value not written (500G for 1TB; 8G1T does
    write 1T; 13.3/15.6英寸 writes 13.3; an inch size is not ruled out where its number is
    written at all, 14寸 or 适用14 for 14英寸), for an inch size with no measure of its kind,
    bare screen sizes, none of them it (13.3笔记本 for 15.6英寸); for a colour, colour characters
    in its variant part, none of them the value's (…黑蓝红… 墨蓝24支 for 黑色; for a colour with no
    colour character, 透明, a variant naming colours and not it), or, where the variant names
    none, a count of several colours (24色) or colour characters in the title, none of them the
    value's."""
    reading = read_title(title)
    if kind == "colour":
        mine = set(_COLOUR_CHAR.findall(fold(value)))
        variant, named = _colours(reading.compact[reading.variant_from :]), _colours(reading.text)
        if not mine:  # 透明, 香槟色: ruled out by a variant that names colours and not it
            return bool(variant) and fold(value).removesuffix("色") not in reading.text
        if mine & (variant or named):
            return False
        several = any((int(n) if n.isdigit() else chinese_number(n) or 0) > 1
                      for n in (match.group(1) for match in _COLOUR_COUNT.finditer(reading.text)))
        return bool(variant) or several or bool(named)
    normal = normalize_value(kind, value)
    canonical = normal.canonical
    stated = _measures_of(kind, reading.stated) if kind in MEASURED else ()
    if normal.family:  # a phone's 4000毫安 battery says nothing of its 128GB
        stated = tuple(c for c in stated if normalize_value(kind, c).family in ("", normal.family))
    if normal.family == "inch":  # screens: a number written anywhere may be the size (15.6机械革命 … 17.3英寸)
        if any(re.search(rf"(?<![\d.]){re.escape(number)}(?![\d.])", reading.text) for number in {f"{normal.low:g}", f"{normal.high:g}"}):
            return False
        if not stated:  # a screen's size written bare (13.3笔记本, 15.6防蓝光膜)
            screens = [float(number) for number in _BARE_SCREEN.findall(reading.text)]
            return bool(screens) and not any(normal.low <= screen <= normal.high for screen in screens)
    if not stated or canonical in stated:
        return False
    written = re.match(r"(\d+(?:\.\d+)?)\s*(\D)", fold(canonical))  # its number and the first letter of its unit
    # written before the unit itself, or in a list that ends with it (13.3/15.6英寸)
    return not (written and re.search(rf"(?<![\d.]){re.escape(written[1])}(?:\s*/\s*\d+(?:\.\d+)?)*\s*{re.escape(written[2])}",
                                      reading.text))


@lru_cache(maxsize=65536)
def _measures_of(kind: str, stated: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The canonical values of ``kind`` among a title's measures, in order (cached: a title meets many)."""
    found = []
    for unit, value in stated:
        if unit == "dimensions":  # 800x300mm: a size, as written
            found += [value] if kind == "size" else []
        elif (read := normalize_value(kind, value if unit == "memory" else value + unit)).family:
            found.append(read.canonical)
    return tuple(found)


def _residue(piece: str, other: str, reading: TitleReading) -> list[str]:
    """The words of a differing piece that ``other`` (the other title, or its variant part)
    lacks: less filler, less stretches of two or more characters found anywhere in ``other``
    (moved, repeated), less colours when the other title (``reading``) names none."""
    piece = _strip_filler(piece)
    if not reading.colours:
        piece = _COLOUR_WORD.sub("", piece)
    covered = [False] * len(piece)
    for start in range(len(piece)):
        for end in range(len(piece), start + 1, -1):  # the longest stretch from here the other has
            if piece[start:end] in other:
                covered[start:end] = [True] * (end - start)
                break
    return [run for run in re.split(r"\s+", "".join(" " if done else char for char, done in zip(piece, covered, strict=True))) if run]


def _pieces(reading: TitleReading, start: int, end: int, other: TitleReading) -> tuple[list[str], list[str]]:
    """What a differing stretch of one title holds that the other lacks, as (words before its
    variant part, words in it): the first against the whole other title, the second against the
    other's variant part, or its end as long as ours when it has none (a variant word must match
    a variant word)."""
    split = max(start, min(end, reading.variant_from))
    other_variant = other.compact[other.variant_from :] or other.compact[-max(1, len(reading.compact) - reading.variant_from) :]
    return (_residue(reading.compact[start:split], other.compact, other),
            _residue(reading.compact[split:end], other_variant, other))


def _without_measures(reading: TitleReading) -> TitleReading:
    """The reading compared on its title less measures."""
    return replace(reading, compact=reading.compact_less_measures, variant_from=reading.variant_less_measures_from)


def _latin_run(compact: str, start: int, end: int) -> str:
    """The run of Latin letters and digits a differing stretch belongs to, whole (UG → ugreen)."""
    while start > 0 and compact[start - 1] in _ALNUM:
        start -= 1
    while end < len(compact) and compact[end] in _ALNUM:
        end += 1
    return compact[start:end]


def _in_code(compact: str, start: int, end: int) -> bool:
    """Whether a differing stretch is part of a code of the title (the D of ABCD面, the A of A3),
    not a word such as K歌."""
    return bool(re.search(r"\d|[a-z]{2,}", _latin_run(compact, start, end)))


def _words(piece: str, text: str) -> list[str]:
    """A compact piece of title as the words the text writes it in (lyq二 of ``笔刷lyq 二套``:
    lyq, 二); the piece whole when the text does not write it in one stretch."""
    found = re.search(r"(?:[^\w.+]|_)*".join(map(re.escape, piece)), text)
    return [word for word in _NOT_KEPT.split(found.group(0)) if word] if found else [piece]


def _word_kind(word: str) -> str:
    return "number" if re.fullmatch(r"[\d.]+", word) else "latin" if re.fullmatch(r"[a-z\d.+]+", word) else "other"


def _replaced(mine: str, yours: str, ours: TitleReading, theirs: TitleReading) -> str:
    """The conflict of a piece of title replaced by another (both leave words). When one side is
    one word and the other several, of which one only is of its kind (a number, a Latin code,
    other), those two are the replacement and the rest is added: ``一 vs 二; only one says
    lyq`` (not ``一 vs lyq二``)."""
    what = "colour" if _COLOUR_CHAR.search(mine + yours) else "variant"
    mine_words, your_words = _words(mine, ours.text), _words(yours, theirs.text)
    one, several, flipped = (mine_words, your_words, False) if len(mine_words) == 1 else (your_words, mine_words, True)
    alike = [word for word in several if _word_kind(word) == _word_kind(one[0])]
    if len(one) != 1 or len(several) < 2 or len(alike) != 1:
        return f"{what} differs: {' '.join(mine_words)} vs {' '.join(your_words)}"
    pair = (alike[0], one[0]) if flipped else (one[0], alike[0])
    added = " ".join(word for word in several if word != alike[0])
    return f"{what} differs: {pair[0]} vs {pair[1]}; only one says {added}"


def _title_difference(ours: TitleReading, theirs: TitleReading, by_code: bool, brand: str) -> tuple[str | None, list[str]]:
    """Compare the compact titles piece by piece (difflib). A piece replaced by another (both
    leave words the other title lacks) is a conflict, and so is a word only one title has in its
    variant part. Any other piece one side adds is a conflict when it holds a number or a code
    or, unless ``by_code``, a colour; a Chinese keyword is harmless. When ``by_code``, measures
    are left out (compared already: a size one shop states and the other does not is none). A piece that is the brand (its key) on
    one side is the brand written in another script (华为 / HUAWEI). Returns the conflict or
    None, and the harmless words."""
    if by_code:  # the measures were compared already: one shop stating a size the other does not is no conflict
        ours, theirs = _without_measures(ours), _without_measures(theirs)
    matcher = difflib.SequenceMatcher(None, ours.compact, theirs.compact, autojunk=False)
    harmless = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        filler = (_filler_around(ours.compact, i1, i2), _filler_around(theirs.compact, j1, j2))
        if None not in filler:  # 新品 / 正品: 新 vs 正
            harmless.append("/".join(word for word in filler if word))
            continue
        mine_head, mine_variant = _pieces(ours, i1, i2, theirs)
        yours_head, yours_variant = _pieces(theirs, j1, j2, ours)
        mine, yours = "".join(mine_head + mine_variant), "".join(yours_head + yours_variant)
        if brand and brand in (fold(mine), fold(yours), _latin_run(ours.compact, i1, i2), _latin_run(theirs.compact, j1, j2)):
            harmless.append(f"{mine}/{yours}")
            continue
        if mine and yours:
            return _replaced(mine, yours, ours, theirs), harmless
        if mine_variant or yours_variant:
            return f"variant differs: only one says {mine or yours}", harmless
        piece = mine or yours
        reading, start, end = (ours, i1, i2) if mine else (theirs, j1, j2)
        if re.search(r"\d|[a-z]{2,}", piece) or re.search("[a-z]", piece) and _in_code(reading.compact, start, end):  # a lone letter is a word: K歌, T恤
            return f"only one says {piece}", harmless
        if not by_code and _COLOUR_CHAR.search(piece) and (ours.colours or theirs.colours):
            return f"colour differs: only one says {piece}", harmless
        harmless.append(piece or ours.compact[i1:i2] or theirs.compact[j1:j2])
    return None, harmless


def identity(left: Offer, right: Offer) -> Verdict:
    """Are two offers one product? Never when they conflict (:func:`_conflict`). Otherwise one
    product when (a) both have model codes, the same ones, the same brand, both naming it (not a
    brand they fit), a type (both, agreeing, or one and two more key attributes agreeing), and
    their titles differ in nothing but filler, moved words and words one side adds (no replaced piece); or (b) their titles are
    near-identical: at least 0.85 alike, differing only in filler, moved words and keywords one
    side adds outside its variant part (no number, code or colour only one has; a brand only one
    names is such a word). Score:
    0.8 + 0.2 × similarity for (a), 0.75 + 0.25 × similarity for (b), 0 when not one product."""
    ours, theirs = read_title(left.title), read_title(right.title)
    conflict = _conflict(left, right, ours, theirs)
    if conflict:
        return _apart(conflict)
    similarity = fuzz.ratio(ours.compact, theirs.compact) / 100.0
    brand, kind = left.get("brand"), left.get("product_type") or right.get("product_type")
    one_brand = brand if brand == right.get("brand") else ""  # the brand both name
    codes = _own_codes(left, ours)
    attributes = sum(bool(left.get(name)) and left.get(name) == right.get(name) for name in KEY_ATTRIBUTES)
    typed = bool(left.get("product_type") and right.get("product_type")) or bool(kind) and attributes >= 2
    by_code = bool(codes and codes == _own_codes(right, theirs) and one_brand and typed and one_brand not in left.get("fits").split())
    if not by_code and similarity < 0.85:
        return Verdict(False, 0.0, f"no agreeing model code, brand and type, and titles only {similarity:.2f} alike")
    named = brand or right.get("brand")
    difference, harmless = _title_difference(ours, theirs, by_code, named)
    if difference:
        return _apart(difference)
    agree = ", ".join(filter(None, (f"type {kind}" if kind else "", f"brand {one_brand}" if one_brand else "",
                                    f"brand {named} named by one only" if named and not one_brand else "")))
    if by_code:
        return Verdict(True, round(0.8 + 0.2 * similarity, 4),
                       f"same model code {' '.join(sorted(codes))}, {agree}; title similarity {similarity:.2f}")
    differs = f", differing only in {' '.join(harmless)}" if harmless else ""
    return Verdict(True, round(0.75 + 0.25 * similarity, 4),
                   f"near-identical titles (similarity {similarity:.2f}{differs}){'; ' + agree if agree else ''}")


class Judge:
    """``identity(offers[a], offers[b])`` by index, computed once for each pair of offer
    contents: offers with the same fields (copies of one listing) get the same verdicts, so a
    catalogue's copies cost no more comparisons than one of each."""

    def __init__(self, offers: Sequence[Offer]):
        self.offers = offers
        content: dict[tuple[tuple[str, str], ...], int] = {}
        self.kind = [content.setdefault(offer.fields, len(content)) for offer in offers]
        self._found: dict[tuple[int, int], Verdict] = {}

    def __call__(self, a: int, b: int) -> Verdict:
        key = (self.kind[a], self.kind[b])
        if key not in self._found:
            self._found[key] = identity(self.offers[a], self.offers[b])
        return self._found[key]

    def any_conflict(self, members: Sequence[int]) -> bool:
        """Whether two of ``members`` conflict (``self(a, b).veto`` for some a < b), asked once
        for each pair of their contents that some a < b has."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        copies: Counter[int] = Counter()
        for i in members:
            kind = self.kind[i]
            first[kind], last[kind] = min(first.get(kind, i), i), max(last.get(kind, i), i)
            copies[kind] += 1
        return any(self(first[x], last[y]).veto for x in first for y in first
                   if (copies[x] > 1 if x == y else first[x] < last[y]))


class AttributeMatcher:
    """The matcher when no trained one is given: :func:`identity`'s score (0 unless the two
    offers are one product)."""

    def scores(self, pairs: Sequence[tuple[Offer, Offer]]) -> np.ndarray:
        return np.array([identity(a, b).score for a, b in pairs])


def conflicting_model_merges(titles: Mapping[str, str], product_of: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Merges whose listings' titles carry conflicting model codes or model numbers: (listing,
    the product's own listing, the conflict) for every listing put in a product whose first
    listing names other codes (both name some) or other model numbers."""
    found = []
    for listing, product in sorted(product_of.items()):
        if listing == product or listing not in titles or product not in titles:
            continue
        ours, theirs = read_title(titles[listing]), read_title(titles[product])
        if ours.codes and theirs.codes and ours.codes != theirs.codes:
            found.append((listing, product, f"model codes {' '.join(sorted(ours.codes))} vs {' '.join(sorted(theirs.codes))}"))
        elif ours.model_numbers and theirs.model_numbers and ours.model_numbers.keys() != theirs.model_numbers.keys():
            found.append((listing, product, (f"model numbers {' '.join(sorted(ours.model_numbers.values()))} vs "
                                             f"{' '.join(sorted(theirs.model_numbers.values()))}")))
    return found
