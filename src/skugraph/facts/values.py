"""Value normalisation, table-driven (``values.yaml``): ``256G``, ``256GB`` and ``256 gb`` are one
value; ``0.5L`` and ``500ml`` too; ``15.6英寸``, ``15.6寸`` and ``15.6"``; Chinese numerals
(两千毫安 → 2000mAh); ranges (10-20W); combined memory (12+256G → 12GB+256GB); colours to
a canonical palette with their own names kept (曜石黑 → black); case and width folded. Paper
sizes (``a4``, ``B5``) are sizes of their own family, keyed by the ISO area, and the sides of a
thing (``700x300mm``, ``30*70cm``: ``300x700mm``) measure its area (or volume); a count of items
(``12支``, ``36支装``, ``两个装``) is a quantity whose family is its classifier's (``count:支``:
two boxes and 24 pens are not compared).

Unit families never cross: a spelling of several families (``m`` is a megabyte or a metre,
``g`` a gigabyte or a gram) is read only in the family the value's kind allows (a capacity's
``128m`` is 128MB, a size's ``2m`` two metres); where the kind allows both, only as the
tables' ``written_as`` says (``1m`` is a metre), and otherwise kept as written (``128M``,
``32G``, ``300g``). :func:`crosses_family` checks a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from skugraph.corpus.normalize import fold

TABLES = Path(__file__).with_name("values.yaml")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_CN_NUMBER = r"[零〇一二两三四五六七八九十百千万点]+"
_NUMBER = rf"(?:\d+(?:\.\d+)?|\.\d+|{_CN_NUMBER})"
_SHOWN_UNIT = re.compile(r"(?<=\d)[^\d.+\-]+")  # the unit after each number of a canonical value
_PAPER = re.compile(r"^([ab])(10|[0-9])$")
#: the area of the A0 and B0 sheets, in mm² (each next size halves it)
_PAPER_AREA = {"a": 1_000_000.0, "b": 1_414_214.0}
#: kinds a paper size (A4) or the sides of a thing (700x300mm) are read in: a size, or a specification as the
#: JD data labels it
_SIZE_KINDS = ("size", "specification")
_SIDES = re.compile(r"^(\d+(?:\.\d+)?)(?:[x*×](\d+(?:\.\d+)?))(?:[x*×](\d+(?:\.\d+)?))?(mm|cm|m|毫米|厘米|米)$")
#: the classifiers a count of items is written with (12支, 2本, 50张, 3件套)
CLASSIFIERS = "支|个|只|本|张|片|卷|条|枚|粒|瓶|袋|盒|包|罐|箱|把|册|件套|色"
_COUNT = re.compile(rf"^(?P<n>\d{{1,5}}|{_CN_NUMBER}|单)\s*(?P<unit>{CLASSIFIERS})装?$")
#: kinds a count is read in: a quantity, or a specification as the JD data labels it
_COUNT_KINDS = ("quantity", "specification")


@dataclass(frozen=True, slots=True)
class NormalValue:
    """A value as the graph keys it: ``canonical`` (``256GB``, ``black`` …), the original
    ``surface``, and for measures the magnitude in the family's base unit (``low``..``high``
    for a range; equal for a single number)."""

    kind: str
    surface: str
    canonical: str
    family: str = ""  # unit family (storage, volume …) or "colour"
    low: float | None = None
    high: float | None = None
    unit: str = ""  # the family's base unit


@dataclass(frozen=True)
class _Tables:
    spellings: dict[str, list[tuple[str, str, float]]]  # folded spelling → [(family, unit, factor)]
    display: dict[str, list[tuple[float, str, float]]]  # family → [(threshold in base units, unit, factor)]
    shown_as: dict[str, str]  # display unit, as written → its family
    written_as: dict[str, str]  # ambiguous spelling, exactly as written → the family it is read in
    base: dict[str, str]
    kinds: dict[str, list[str]]
    palette: list[tuple[str, str]]  # (word, palette colour)
    unit_pattern: re.Pattern


@cache
def _tables() -> _Tables:
    data = yaml.safe_load(TABLES.read_text(encoding="utf-8"))
    spellings: dict[str, list[tuple[str, str, float]]] = {}
    display, base = {}, {}
    for family, spec in data["units"].items():
        base[family] = spec["base"]
        for unit, words in spec["spellings"].items():
            for word in words:
                spellings.setdefault(fold(str(word)), []).append((family, unit, float(spec["factors"][unit])))
        display[family] = [(float(threshold), unit, float(spec["factors"][unit])) for threshold, unit in spec["display"]]
    shown_as = {unit: family for family, steps in display.items() for _, unit, _ in steps}
    words = sorted(spellings, key=len, reverse=True)
    unit_pattern = re.compile("|".join(re.escape(w) for w in words))
    palette = [(fold(word), colour) for colour, names in data["palette"].items() for word in names]
    return _Tables(spellings, display, shown_as, data.get("written_as", {}), base, data.get("kinds", {}), palette,
                   unit_pattern)


def chinese_number(text: str) -> float | None:
    """二十五 → 25, 两千 → 2000, 一万二 → 12000 (a bare trailing digit takes the next lower unit),
    三点五 → 3.5; None when ``text`` is not a Chinese numeral."""
    if not text or any(c not in _CN_DIGITS and c not in _CN_UNITS and c != "点" for c in text):
        return None
    whole, _, fraction = text.partition("点")
    total = section = digit = 0
    last_unit = 1
    for char in whole:
        if char in _CN_DIGITS:
            digit = _CN_DIGITS[char]
        elif char == "万":
            total += (section + digit or 1) * 10_000
            section = digit = 0
            last_unit = 10_000
        else:
            unit = _CN_UNITS[char]
            section += (digit or 1) * unit
            digit = 0
            last_unit = unit
    if digit and last_unit >= 100 and whole[-2:-1] in ("百", "千", "万"):
        digit *= last_unit // 10  # 一万二 = 12000, 三百五 = 350
    value = total + section + digit
    if fraction:
        if any(c not in _CN_DIGITS for c in fraction):
            return None
        value += float("0." + "".join(str(_CN_DIGITS[c]) for c in fraction))
    return float(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return chinese_number(text)


def _format(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".") if number != int(number) else str(int(number))


def _display(family: str, base_value: float) -> str:
    """The value in the largest unit whose threshold it reaches (each family's last threshold is 0)."""
    _, unit, factor = next(step for step in _tables().display[family] if base_value >= step[0])
    return f"{_format(base_value / factor)}{unit}"


def normalize_value(kind: str, surface: str) -> NormalValue:
    """The canonical form of an attribute value of ``kind`` as written (``surface``)."""
    text = fold(surface)
    if kind == "colour":
        return NormalValue(kind, surface, palette_colour(text) or text, "colour")
    measured = _measure(kind, surface)
    if measured is not None:
        return measured
    if kind in _SIZE_KINDS and (size := _paper(kind, surface, text) or _sides(kind, surface, text)) is not None:
        return size
    if kind in _COUNT_KINDS and (count := _count(kind, surface, text)) is not None:
        return count
    if _parse(surface) is not None:  # 5G, 128M where the kind does not say which unit: kept, case too
        return NormalValue(kind, surface, fold(surface, lowercase=False))
    return NormalValue(kind, surface, text)


def _paper(kind: str, surface: str, text: str) -> NormalValue | None:
    """A paper size (``a4`` → A4, 62,500 mm²: A0 is a square metre, each next size half of it)."""
    match = _PAPER.match(text.replace(" ", ""))
    if match is None:
        return None
    series, number = match.groups()
    area = _PAPER_AREA[series] / 2 ** int(number)
    return NormalValue(kind, surface, f"{series.upper()}{number}", "paper", area, area, "mm²")


def _sides(kind: str, surface: str, text: str) -> NormalValue | None:
    """The sides of a thing with their unit (``700x300mm``, ``30*70cm``, ``1.2*0.6米``), shortest
    first in millimetres (``300x700mm``, one value however written): its area in mm² (family
    ``area``), or with three sides its volume in mm³ (``bulk``)."""
    match = _SIDES.match(text.replace(" ", ""))
    if match is None:
        return None
    factor = next(factor for family, _, factor in _tables().spellings[match[4]] if family == "length")
    sides = [float(side) * factor for side in match.groups()[:3] if side is not None]
    size = sides[0] * sides[1] * (sides[2] if len(sides) == 3 else 1.0)
    if not size:
        return None
    canonical = "x".join(_format(side) for side in sorted(sides)) + "mm"
    return NormalValue(kind, surface, canonical, "bulk" if len(sides) == 3 else "area", size, size, "mm³" if len(sides) == 3 else "mm²")


def _count(kind: str, surface: str, text: str) -> NormalValue | None:
    """A count of items (``36支装`` → 36支, ``两个装`` → 2个, ``单支`` → 1支), in the family of its classifier."""
    match = _COUNT.match(text.replace(" ", ""))
    if match is None:
        return None
    number = 1.0 if match["n"] == "单" else _number(match["n"])
    if not number:
        return None
    unit = match["unit"]
    return NormalValue(kind, surface, f"{_format(number)}{unit}", f"count:{unit}", number, number, unit)


def family_of(kind: str, surface: str) -> str | None:
    """The unit family (``storage``, ``length`` …) a value of ``kind`` written ``surface`` is
    read in; None when it is no measure, or its unit is one the kind leaves ambiguous."""
    match = _parse(surface)
    if match is None:
        return None
    choice = _unit(match["ua"] or match["ub"], _tables().kinds.get(kind))
    return choice[0] if choice else None


def crosses_family(kind: str, surface: str, canonical: str) -> bool:
    """Whether the canonical form of a ``kind`` value written ``surface`` shows a unit of
    another family than the one the written unit is read in (``1m`` of a cable shown as
    ``1MB``), or shows a unit at all where the written one is ambiguous and was not kept."""
    shown = _shown_family(canonical)
    if shown is None:
        return False
    written = family_of(kind, surface)
    if written is None:
        return fold(canonical).replace(" ", "") != fold(surface).replace(" ", "")
    return shown != written


def _shown_family(canonical: str) -> str | None:
    """The family of the display units a canonical value shows (``1.5m``, ``12GB+256GB``), or
    None when it shows none, or units of two families."""
    families = {_tables().shown_as.get(unit) for unit in _SHOWN_UNIT.findall(canonical)}
    return families.pop() if len(families) == 1 else None


def palette_colour(name: str) -> str | None:
    """The palette colour a colour name says (曜石黑 → black, 玫瑰金 → gold, 墨绿 → green): the
    palette word that ends last in the name; None when it names none."""
    text = fold(name).removesuffix("色")
    best = None
    for word, colour in _tables().palette:
        at = text.rfind(word)
        if at >= 0:
            candidate = (at + len(word), len(word), colour)
            best = candidate if best is None or candidate[:2] > best[:2] else best
    return best[2] if best else None


@cache
def _measure_pattern() -> re.Pattern:
    """A number with a unit, a range of two (10-20W, 3~5kg) or a sum (12+256G), any case."""
    units = _tables().unit_pattern.pattern
    return re.compile(rf"^(?P<a>{_NUMBER})\s*(?P<ua>{units})?\s*(?:(?P<op>[-~～至到+])\s*(?P<b>{_NUMBER})\s*(?P<ub>{units})?)?$",
                      re.IGNORECASE)


def _parse(surface: str) -> re.Match | None:
    """A measure written in ``surface`` (width folded, case kept), or None."""
    match = _measure_pattern().match(fold(surface, lowercase=False).replace("英吋", "英寸"))
    return match if match and (match["ua"] or match["ub"]) else None


def _measure(kind: str, surface: str) -> NormalValue | None:
    match = _parse(surface)
    if match is None:
        return None
    a, b = _number(match["a"]), _number(match["b"]) if match["b"] else None
    if a is None or (match["b"] and b is None):
        return None
    unit_b = match["ub"] or match["ua"]
    unit_a = match["ua"] or unit_b
    choice = _unit(unit_a, _tables().kinds.get(kind))
    if choice is None:
        return None
    family, _, factor_a = choice
    second = _unit(unit_b, [family])
    if second is None:
        return None
    factor_b = second[2]
    base_unit = _tables().base[family]
    if match["op"] == "+":  # 12+256G: two amounts (memory + storage), not a range
        canonical = f"{_display(family, a * factor_a)}+{_display(family, b * factor_b)}"
        return NormalValue(kind, surface, canonical, family, b * factor_b, b * factor_b, base_unit)
    low, high = a * factor_a, (b * factor_b if b is not None else a * factor_a)
    canonical = _display(family, low) if low == high else f"{_display(family, low)}-{_display(family, high)}"
    return NormalValue(kind, surface, canonical, family, low, high, base_unit)


def _unit(written: str, families: list[str] | None) -> tuple[str, str, float] | None:
    """(family, unit, factor) of a unit as written, among ``families`` when given: ``m`` is
    MB in a capacity and metres in a size. A spelling of several of those families is read
    only where ``written_as`` names its family (``m`` → metres); otherwise (``M``, ``G``,
    ``g``) it is no unit here: None."""
    spellings = _tables().spellings.get(fold(written), [])
    readings = [entry for entry in spellings if families is None or entry[0] in families]
    if len({family for family, _, _ in readings}) > 1:
        readings = [entry for entry in readings if entry[0] == _tables().written_as.get(written)]
    return readings[0] if len(readings) == 1 else None
