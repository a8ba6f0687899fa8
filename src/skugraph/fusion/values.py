"""Value normalisation, table-driven (``values.yaml``): ``256G``, ``256GB`` and ``256 gb`` are one
value; ``0.5L`` and ``500ml`` too; ``15.6英寸``, ``15.6寸`` and ``15.6"``; Chinese numerals
(两千毫安 → 2000mAh); ranges (10-20W); combined memory (12+256G → 12GB+256GB); colours to
a canonical palette with their own names kept (曜石黑 → black); case and width folded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from skugraph.tagging.lexicon import fold

TABLES = Path(__file__).with_name("values.yaml")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_CN_NUMBER = r"[零〇一二两三四五六七八九十百千万点]+"
_NUMBER = rf"(?:\d+(?:\.\d+)?|\.\d+|{_CN_NUMBER})"


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
    words = sorted(spellings, key=len, reverse=True)
    unit_pattern = re.compile("|".join(re.escape(w) for w in words))
    palette = [(fold(word), colour) for colour, names in data["palette"].items() for word in names]
    return _Tables(spellings, display, base, data.get("kinds", {}), palette, unit_pattern)


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
    measured = _measure(kind, surface, text)
    return measured if measured is not None else NormalValue(kind, surface, text)


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
    """A number with a unit, a range of two (10-20W, 3~5kg) or a sum (12+256G)."""
    units = _tables().unit_pattern.pattern
    return re.compile(rf"^(?P<a>{_NUMBER})\s*(?P<ua>{units})?\s*(?:(?P<op>[-~～至到+])\s*(?P<b>{_NUMBER})\s*(?P<ub>{units})?)?$")


def _measure(kind: str, surface: str, text: str) -> NormalValue | None:
    match = _measure_pattern().match(text.replace("英吋", "英寸"))
    if not match or not (match["ua"] or match["ub"]):
        return None
    a, b = _number(match["a"]), _number(match["b"]) if match["b"] else None
    if a is None or (match["b"] and b is None):
        return None
    families = _tables().kinds.get(kind)
    unit_b = match["ub"] or match["ua"]
    unit_a = match["ua"] or unit_b
    choice = _unit(unit_a, families)
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


def _unit(spelling: str, families: list[str] | None) -> tuple[str, str, float] | None:
    """(family, unit, factor) of a unit spelling, among ``families`` when given (``m`` is MB
    for a capacity and metres for a size)."""
    for family, unit, factor in _tables().spellings.get(fold(spelling), []):
        if families is None or family in families:
            return family, unit, factor
    return None
