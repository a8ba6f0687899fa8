"""Recommendations from the graph, each with a short reason.

- **similar**: products sharing the most (and the rarest) attribute values — cosine of TF-IDF
  rows over (predicate, value) pairs — plus, after :meth:`Recommender.learn_embeddings`, the
  cosine of their KG embeddings (a PyKEEN model trained on the same facts).
- **complementary**: accessories for a product — products whose ``compatible_with`` /
  ``accessory_of`` facts name what it is (its model, series, brand, type); a product that fits
  it only by what similar accessories fit is scored lower and says so.
- **substitutes** (for an out-of-stock product): the same product type (or a synonym of it) with
  the same key attribute values (capacity, size, power …) and a title alike (character bigrams:
  a type read from a word the title only mentions, 手机 in 手机臂包, is outvoted by the rest of
  it), the closest first, measures compared in their unit family (another paper size, or more
  than twice the area, is none; so too sides two titles write with no unit, 60*90 for 100*150),
  never another kind of it (the shipped ``kinds.txt``: a 家用 vacuum for an 工业 one, 全自动 for
  半自动) and packs after single items; for an accessory, only products that
  fit the same device model, the one its title's variant names where it lists several (an
  accessory that names no model it fits but one brand, or nothing where a quarter of its type
  name a model, gets none; one that fits several brands or says 通用 gets others that fit no
  device of their own).

A reason names only telling values: not generic words (``fits 手机``, ``通用``) nor values most
products hold; free gifts (``送指环``) never reach the recommender (see
:func:`skugraph.apps.documents.gift_only`).

:meth:`Recommender.accessory_scores` scores every product as an accessory of given entities;
the recommendation benchmark hides ``compatible_with`` edges and ranks with it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np
from scipy import sparse

from skugraph.processes import collector_paused

#: predicates that say what a product fits
FITS = ("compatible_with", "accessory_of")
#: what a product is, and how much an accessory fitting each of those counts
IDENTITY = {"model": 3.0, "series": 2.0, "has_brand": 1.0, "product_type": 1.0}
#: attributes a substitute should share
KEY_ATTRIBUTES = ("capacity", "size", "volume", "power", "weight", "model", "series", "material")
#: measured attributes on which a substitute that states another value ranks after those that do not (a 65W
#: charger for a 100W one), compared within a unit family; a specification is one where it reads as a measure
#: (0.5mm, A4), and a quantity (12支) says whether an offer is one item or several
MEASURES = ("capacity", "size", "volume", "power", "weight", "specification", "quantity")
#: a substitute whose measure is more than this many times larger or smaller than every one of the product's
#: in the same unit family is none (a 1 m cable for a 30 m one, a 10 L vacuum for a 60 L one) …
MEASURE_RATIO = 2.0
#: … but for a paper size, any other one (an A5 notebook for an A4 one, a B5 for an A5), for an area (700x300mm) the
#: ratio itself, twice the area (counted ad hoc: of the judged pairs of seeds 11 to 25 whose titles' areas were over 2
#: and at most 4 times apart, 1 of 7 was right; 1.5 to 2 times, 5 of 6), and for a volume its cube: twice as long a
#: side …
FAMILY_RATIO = {"paper": 1.0, "area": MEASURE_RATIO, "bulk": MEASURE_RATIO**3}
#: … and for an accessory (a bag or case for a screen sold by the inch), one more than 5% off (a 15.6" bag for a
#: 17.3" laptop; 15" for 15.6" is near), where a 6.5" phone may stand in for a 6.1" one; so too for two lengths of an
#: accessory within :data:`FITTING_LENGTH` (a 40 mm band for a 44 mm watch), not a cable's (1 m for 1.5 m)
ACCESSORY_RATIO = {"inch": 1.05, "length": 1.05}
#: millimetres from which and under which an accessory's length is the size of what it fits (a watch's case, a lens's
#: thread), not a film's thickness (0.26 mm, 0.33 mm) nor a cable's length
FITTING_LENGTH = (5.0, 100.0)
#: forms that make an offer a set or bundle (套装, 三件套 …; the rules' :data:`skugraph.tagging.rules._SET_FORM`, and
#: the JD data's 套装一, 组合, 礼包): with a count of more than one item, an offer of several, which ranks after single
#: items as a substitute for one
SET_FORM = re.compile(r"套装|套餐|组合|礼包|件套")
#: classifiers that count what one item holds (100张 of paper, 50片 test strips, a set's 36色), not items: compared
#: as measures (a stapler for 120 sheets is no stand-in for one for 20, nor 12 colours for 36)
CONTENTS = ("count:张", "count:片", "count:粒", "count:色")
#: counts compared as measures besides :data:`CONTENTS`: a set's pieces (5件套: a set of 14 is no stand-in for one of
#: 5), though a set is still an offer of several
COMPARED_COUNTS = (*CONTENTS, "count:件套")
#: other counts of items (50个装, 10支) are compared only this far apart: a pack of 5 is no stand-in for one of 50,
#: a pack of 30 may stand in for one of 50
PACK_RATIO = 4.0
#: words that say nothing about which product this is: every phone case fits 手机
GENERIC = frozenset({"手机", "通用", "万能", "安卓", "全网通", "其他", "其它", "多功能", "赠品", "礼品", "配件", "新款",
                     "正品", "官方", "男女", "男女通用"})
#: a value held by more than this share of the products is no reason (product types aside)
COMMON_SHARE = 0.3
#: kinds of key that name a device an accessory fits exactly
DEVICE_KINDS = ("model", "series")
#: a substitute's title must be at least this alike to the product's (cosine of their character-bigram TF-IDF rows)
TITLE_FLOOR = 0.15
#: a type at least this share of whose products (of at least ``FITTED_TYPE_MIN``) name a model they fit is a type of
#: accessory: a product of it that names none, and does not say it fits any (通用), gets no substitutes (the device it
#: fits is not known)
FITTED_TYPE_SHARE = 0.25
FITTED_TYPE_MIN = 5
#: the words a title ends with where a variant on offer is named (``… 手机壳 熬不完的夜 oppo A3``)
VARIANT_WORDS = 3
#: characters a variant run together with the title may have after its model, naming a colour (``…华为mate20rs保时捷宝石蓝``)
VARIANT_TAIL = 8
#: a character that names a colour (土豪金, 宝石蓝, 黑色)
_COLOUR = re.compile(r"[色黑白红蓝绿黄紫粉灰金银棕青橙咖褐透]")
#: a screen's size, 2 to 19 inches (5.5寸, 6.1英寸: not the 7 of a57 5.2寸)
_INCHES = r"(?:1\d|[2-9])(?:\.\d{1,2})?(?:英寸|寸)"
#: a screen's size in the words after a model, bracketed or not (（5.5寸）): said of the model, no other one
_SCREEN_SIZE = re.compile(rf"[（(【]?(?<![0-9.]){_INCHES}[）)】]?")
#: two model numbers and a suffix they share (7/8plus, 6/6s plus is not one: 6s has a letter)
_SHARED_SUFFIX = re.compile(r"(?<![0-9.])(\d{1,2})/(\d{1,2})(plus|pro|max)(?![0-9a-z])")
#: a bracketed note in a title (``【小米8se】``, ``[p30]``)
_BRACKETED = re.compile(r"[【\[]([^】\]]*)[】\]]")
_SPACES = re.compile(r"\s\s+")
#: a model's name in letters and digits, both (7x, mate20, z2-g, s10e+), and a run of them in a title, whole (a
#: hyphen between a colour and a model parts them: 魅力红-mate20x5g)
_MODEL_CODE = re.compile(r"(?=[^a-z]*[a-z])(?=\D*\d)[0-9a-z]+(?:-[0-9a-z]+)*\+*")
_CODE_RUN = re.compile(r"(?<![0-9a-z.+])(?<![0-9a-z]-)[0-9a-z]+(?:-[0-9a-z]+)*\+*(?![0-9a-z.+])(?!-[0-9a-z])")
#: a run that reads as a measure, a count, a paper size or a processor, not a model: 5a, 3m, 2.4a, 128gb, 1080p, x2
#: (×2), a4, b5, i7 (so the 红米6a and the vivo x7 are not read from a variant either)
_NOT_A_MODEL = re.compile(r"\d+(?:\.\d+)?(?:m|a|w|v|g|gb|t|tb|mb|mm|cm|k|kg|mah|hz|ml|l)|\d{3,4}p|x\d|[ab]\d|i[3579]")
_LABELS = {"has_brand": "brand", "product_type": "type", "in_category": "category", "compatible_with": "fits", "accessory_of": "accessory of"}


@dataclass
class Recommendation:
    id: str
    title: str
    score: float
    reason: str

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "score": self.score, "reason": self.reason}


def _far(theirs: Collection[float], ours: Collection[float], family: str, accessory: bool) -> bool:
    """Whether every one of a substitute's measures of a unit family is more than the family's
    ratio from every one of ours: :data:`ACCESSORY_RATIO` for an ``accessory`` (two lengths only
    within :data:`FITTING_LENGTH`), :data:`PACK_RATIO` for a count of items not in
    :data:`COMPARED_COUNTS`, :data:`FAMILY_RATIO`, else :data:`MEASURE_RATIO`."""
    packs = family.startswith("count:") and family not in COMPARED_COUNTS
    wide = PACK_RATIO if packs else FAMILY_RATIO.get(family, MEASURE_RATIO)
    low, high = FITTING_LENGTH

    def ratio(m: float, n: float) -> float:
        fitting = accessory and (family != "length" or (low <= m < high and low <= n < high))
        return (fitting and ACCESSORY_RATIO.get(family)) or wide

    return all(max(m, n) / min(m, n) > ratio(m, n) * (1 + 1e-9) for m in theirs for n in ours)


#: a measure as a title writes it: a number (or its sides) and a unit, a Chinese count (两个装, 单支), a paper size
_MEASURE_WORD = re.compile(r"(?:\d+(?:\.\d+)?(?:\s*[x*×]\s*\d+(?:\.\d+)?){0,2}|[一两二三四五六七八九十]{1,3}|单)\s*(?:[a-z\"]{1,3}|[\u4e00-\u9fff]{1,3})"
                           r"|(?<![a-z0-9])[ab]\d{1,2}(?![0-9])")


def _measures_named(text: str) -> frozenset[str]:
    """The measures ``text`` names, as :meth:`Recommender.stated_measures` names them (canonical,
    lower case, no spaces): ``15.6寸`` is 15.6英寸, ``单支`` 1支, ``800*300mm`` 300x800mm."""
    return frozenset(name for match in _MEASURE_WORD.finditer(text) for name in _measure_word(match.group()))


@lru_cache(maxsize=65_536)
def _measure_word(word: str) -> frozenset[str]:
    """The measures one word of :data:`_MEASURE_WORD` names, trimmed from its end until one reads
    (``12支笔``: 12支)."""
    from skugraph.facts.values import normalize_value

    for end in range(len(word), 0, -1):
        if read := {value.canonical.lower().replace(" ", "") for kind in MEASURES if (value := normalize_value(kind, word[:end])).family}:
            return frozenset(read)
    return frozenset()


@lru_cache(maxsize=65_536)
def _measure(kind: str, text: str) -> tuple[str, float]:
    """A measure's unit family (``count:支`` for a count of items) and the middle of its range
    ("" where it has no positive number)."""
    from skugraph.facts.values import normalize_value

    value = normalize_value(kind, text)
    if value.low is None or not value.family:
        return "", 0.0
    middle = (value.low + (value.high if value.high is not None else value.low)) / 2
    return (value.family, middle) if middle > 0 else ("", 0.0)


def _names(text: str, model: str, at_end: bool = False) -> bool:
    """Whether ``text`` names ``model`` (lower case, no spaces): not followed by a letter, digit,
    + or edition (``p20`` is not ``p20pro``, ``荣耀8`` not ``荣耀8青春版``) but for its screen's size
    (``xsmax6.5寸``), nor, for a model that starts with a digit, after one (``9`` is not the 9 of
    ``19年``); ``at_end``: as its last characters (``9`` ends ``小米9``)."""
    return re.search(_named(model, at_end), text) is not None


def _named(model: str, at_end: bool = False) -> str:
    """The pattern :func:`_names` looks for."""
    return rf"{r'(?<![0-9.])' if model[0].isdigit() else ''}{re.escape(model)}{'$' if at_end else _MODEL_ENDS}"


def _named_last(text: str, models: Collection[str], listed: re.Pattern) -> set[str] | None:
    """The variant ``text`` ends with, of ``models`` (those it names): the model it names last
    where nothing follows, or at most :data:`VARIANT_TAIL` characters that name a colour and
    no letter or digit, a screen's size aside (``…手机套保华为P30土豪金``: the p30;
    ``…7plus/8plus（5.5寸）紫色``), with the list it ends, if any: those
    named before it apart only by what ``listed`` matches whole (:func:`_list_gap_pattern`:
    ``…苹果x/xs通用-宝石蓝``, ``红米note5红米note5a红米note6``, ``OPPOA59/A59M/A59S白色``). None where
    more follows the last (``…p30和p30pro通用手机壳``, ``…oppoA37M手机套a37t保护壳钢化玻璃…``: no variant)."""
    spans = _spans(text, models)
    end = max(found[-1][1] for found in spans.values() if found)
    tail = _SCREEN_SIZE.sub("", text[end:])
    if len(tail) > VARIANT_TAIL or re.search(r"[0-9a-z]", tail) or (tail and not _COLOUR.search(tail)):
        return None
    chosen = {model for model, found in spans.items() if found and found[-1][1] == end}
    start = min(spans[model][-1][0] for model in chosen)
    while joined := {(model, s) for model, found in spans.items() if model not in chosen for s, e in found
                     if (e <= start and listed.fullmatch(text[e:start])) or start <= s < e <= end}:  # a5 of a5-a905 too
        chosen |= {model for model, _ in joined}
        start = min(start, *(s for _, s in joined))
    return chosen


def _spans(text: str, models: Collection[str]) -> dict[str, list[tuple[int, int]]]:
    """Where ``text`` names each of ``models`` (:func:`_names`), a model of letters alone only
    outside the name of another of them (``xsmax`` names no ``x``, though its max ends with one;
    ``i6`` names the 6)."""
    spans = {model: [m.span() for m in re.finditer(_named(model), text)] for model in models}
    found = [span for model_spans in spans.values() for span in model_spans]
    return {model: [(s, e) for s, e in model_spans if re.search(r"\d", model)
                    or not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2 in found)]
            for model, model_spans in spans.items()}


def _standing_alone(text: str, models: Collection[str]) -> set[str]:
    """Those of ``models`` that ``text`` names, as :func:`_spans` reads them."""
    return {model for model, found in _spans(text, models).items() if found}


def _list_gap_pattern(makers: Collection[str]) -> re.Pattern:
    """What may stand between two models of a list: separators, model codes and ``makers`` (brands and series)."""
    names = "|".join(map(re.escape, sorted(makers, key=len, reverse=True)))
    return re.compile(rf"(?:[/|、,，+\-和及与或]|[0-9a-z]+{'|' + names if names else ''})*")


#: editions that are models of their own (荣耀8青春版, x21屏幕指纹版: not the 荣耀8, x21)
_EDITIONS = "青春版|屏幕指纹版"

#: what may follow a model's name in a title: no letter, digit, + or edition, unless the digits are a screen's size
#: (2 to 19 inches: not the 7 of a57 5.2寸, nor the 018 of ipad2018)
_MODEL_ENDS = rf"(?!(?!{_INCHES})[0-9a-z+]|{_EDITIONS})"


@lru_cache(maxsize=65_536)
def _sold_words(title: str) -> tuple[str, ...]:
    """The title's words, lower case, its free gifts left out
    (:func:`skugraph.apps.documents.without_gifts`): what is on sale; two numbers sharing a
    suffix written out for both (``iphone7/8plus``: ``iphone7plus/8plus``)."""
    from skugraph.apps.documents import without_gifts

    return tuple(_SHARED_SUFFIX.sub(r"\1\3/\2\3", without_gifts(title.lower())).split())



@cache
def _kind_words() -> tuple[dict[str, frozenset[tuple[int, int]]], int, re.Pattern]:
    """:func:`skugraph.tagging.lexicon.kind_words` and a pattern that finds them, the longest first."""
    from skugraph.tagging.lexicon import kind_words

    words, groups = kind_words()
    return words, groups, re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)))


@lru_cache(maxsize=65_536)
def _kinds(title: str) -> tuple[frozenset[int], ...]:
    """For each group of the shipped ``kinds.txt``, the kinds ``title`` names (their places in
    the group): read the longest word first (工业风扇 is 工业, 工业风 and 男女款 are none), free gifts aside."""
    from skugraph.corpus.normalize import fold

    words, groups, pattern = _kind_words()
    named: list[set[int]] = [set() for _ in range(groups)]
    for match in pattern.finditer(_MICRO_SD.sub("microsd", fold(" ".join(_sold_words(title))))):
        for group, kind in words[match.group()]:
            named[group].add(kind)
    return tuple(frozenset(kinds) for kinds in named)


#: Micro SD written in two words is one kind (a TF card), not the SD card its second word names
_MICRO_SD = re.compile(r"micro[\s-]*sd")


#: two sides written with no unit (``30X80``, ``60*90``: a mat's, a board's), not followed by a third side, a unit
#: (米白 is a colour) or a word in letters (``12x12ml``), nor run into letters, a hyphen or another number (``a330*42``,
#: ``ks-15x60rd``)
_BARE_SIDES = re.compile(r"(?<![0-9.a-z*x×-])(\d{2,4})\s*[x*×]\s*(\d{2,4})(?![0-9.])(?![a-z]{2})"
                         r"(?!\s*(?:[x*×]|mm|cm|m(?![a-z])|厘米|毫米|米(?![白黄])|英寸|寸|\"))")
#: screen resolutions, in pixels (a projector's ``1024*768``): no sides. Not the smaller ones (800*600), which are
#: as likely a board's millimetres
_RESOLUTIONS = frozenset(frozenset(pair) for pair in (
    (1024, 768), (1280, 720), (1280, 800), (1366, 768), (1440, 900), (1600, 900), (1920, 1080), (1920, 1200),
    (2560, 1440), (2560, 1600), (3840, 2160), (4096, 2160)))
#: two or three sides written with a unit (``700x300x3mm``)
_SIDES_WITH_UNIT = re.compile(r"\d\s*[x*×]\s*\d+(?:\.\d+)?(?:\s*[x*×]\s*\d+(?:\.\d+)?)?\s*(?:mm|cm|m(?![a-z])|厘米|毫米|米(?![白黄]))")


@lru_cache(maxsize=65_536)
def _bare_areas(title: str) -> frozenset[float]:
    """The areas of the sides the title writes with no unit (``… 60*90双白+支架``: 5,400), where it
    writes no sides with a unit (which the facts measure): the unit is unknown, but two titles of one
    type write it alike, so two such areas compare as areas do (:data:`FAMILY_RATIO`). Judged pairs
    of seeds 11 to 25 whose titles both wrote them over twice apart were all wrong (4 of 4; ad hoc). A screen
    resolution (:data:`_RESOLUTIONS`) is no sides."""
    words = " ".join(_sold_words(title))
    if _SIDES_WITH_UNIT.search(words):
        return frozenset()
    return frozenset(float(a) * float(b) for a, b in _BARE_SIDES.findall(words) if frozenset((int(a), int(b))) not in _RESOLUTIONS)


def _other_kind(ours: Sequence[frozenset[int]], theirs: Sequence[frozenset[int]]) -> bool:
    """Whether, in some group, both name kinds and none the same (a 全自动 coffee machine for a 半自动 one)."""
    return any(mine and others and not mine & others for mine, others in zip(ours, theirs, strict=True))


#: what a model's name may go on with to name another model of its line (x20plus, p30pro, a5s, 荣耀8青春版, a year:
#: 三星a52016, y7pro2019; not the x20, p30, a5, 荣耀8, y7pro), a year being no date (2019年, 2019新款, 2015-06) nor the
#: start of a screen's size (r720 15.6寸 run together)
_MODEL_SUFFIX = rf"(?:plus|pro|max|lite|mini|se|ultra|{_EDITIONS}|[a-z+]|20[12]\d(?![.\d]|年|新款|-\d))"


def _extended(text: str, model: str) -> set[str]:
    """The models ``text`` names by ``model`` and a suffix (``x20plus`` for ``x20``); a model
    of digits alone only where no digit or letter comes before it (not the 9 of ``mate9pro``)."""
    before = r"(?<![0-9a-z])" if model[0].isdigit() else ""
    return {model + m.group(1) for m in re.finditer(rf"{before}{re.escape(model)}({_MODEL_SUFFIX})(?![0-9a-z+])", text)}


def title_vectors(titles: Sequence[str]) -> sparse.csr_matrix:
    """Unit rows of the titles' character-bigram TF-IDF, as scikit-learn's
    ``TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True)`` makes them (lower
    case, a run of white space one space, smoothed IDF; a NUL character counts as a space),
    counted in numpy over all the titles at once: about three times as fast (0.24 s against
    0.84 s for 20,000 JD titles)."""
    folded = [_SPACES.sub(" ", title.replace("\0", " ").lower()) for title in titles]
    lengths = np.fromiter((len(text) for text in folded), dtype=np.int64, count=len(folded))
    codes = np.frombuffer("\0".join(folded).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)  # \0 between titles
    rows = np.repeat(np.arange(len(folded)), lengths + 1)[:-2]  # the title of each bigram's first character
    within = (codes[:-1] != 0) & (codes[1:] != 0)
    grams, rows = ((codes[:-1] << 21) | codes[1:])[within], rows[within]
    _, columns = np.unique(grams, return_inverse=True)
    counts = sparse.csr_matrix((np.ones(len(grams)), (rows, columns)), shape=(len(folded), int(columns.max(initial=-1)) + 1))
    counts.data = 1 + np.log(counts.data)  # duplicates were summed: the sublinear term frequency
    idf = np.log((1 + len(folded)) / (1 + np.bincount(counts.indices, minlength=counts.shape[1]))) + 1
    weighted = sparse.csr_matrix(counts @ sparse.diags(idf))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1 / np.maximum(norms, 1e-12)) @ weighted)


class Recommender:
    """Recommendations over products' facts: ``facts[product][(predicate, entity key)] = weight``,
    ``names[entity key]`` its display name, ``titles[product]``."""

    def __init__(self, facts: Mapping[str, Mapping[tuple[str, str], float]], names: Mapping[str, str] | None = None,
                 titles: Mapping[str, str] | None = None, inferred_weight: float = 0.25,
                 near_types: Mapping[str, set[str]] | None = None, owned: bool = False, title_floor: float = TITLE_FLOOR):
        """``owned``: the facts' dicts are the recommender's to keep as they are (no copy);
        ``title_floor``: how alike a substitute's title must be (see :meth:`substitutes`)."""
        self.title_floor = title_floor
        self._sold: dict[str, set[str]] = {}  # product → sold_models
        self._after: dict[frozenset[str], str] = {}  # makers → _after_maker
        self._stated: dict[str, dict[str, dict[str, float]]] = {}  # product → stated_measures
        self.near_types = {k: set(v) for k, v in (near_types or {}).items()}  # type key → its synonyms' keys
        self.products = sorted(facts)
        self.row = {p: i for i, p in enumerate(self.products)}
        self.facts = {p: facts[p] if owned else dict(facts[p]) for p in self.products}
        self.names = dict(names or {})
        self.titles = dict(titles or {})
        self.inferred_weight = inferred_weight
        self.features = {f: j for j, f in enumerate(sorted({f for fs in self.facts.values() for f in fs}))}
        rows, cols = [], []
        for p, fs in self.facts.items():
            for f in fs:
                rows.append(self.row[p])
                cols.append(self.features[f])
        shape = (len(self.products), len(self.features))
        self.held = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        self.by_feature = self.held.tocsc()  # the same, by column: which products hold a feature
        frequency = np.asarray(self.held.sum(axis=0)).ravel()
        self.idf = np.log((1 + len(self.products)) / (1 + frequency)) + 1
        self.telling = np.array([self._telling(f, n) for f, n in zip(self.features, frequency, strict=True)], dtype=bool)
        self.idf = np.where(self.telling, self.idf, 0.0)  # a generic value makes two products no more alike
        weighted = sparse.csr_matrix(self.held @ sparse.diags(self.idf))
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        self.matrix = sparse.csr_matrix(sparse.diags(1 / np.maximum(norms, 1e-12)) @ weighted)
        self.frequency = frequency
        self.embeddings: np.ndarray | None = None  # unit rows of product KG embeddings, see learn_embeddings
        self.embedding_weight = 0.0

    def _telling(self, feature: tuple[str, str], held_by: float) -> bool:
        """Whether a (predicate, key) can tell products apart: a product type always; another
        value unless its name is a generic word or more than ``COMMON_SHARE`` of products hold it."""
        predicate, key = feature
        if predicate == "product_type":
            return True
        return not self._generic(key) and held_by <= max(COMMON_SHARE * len(self.products), 2)

    def _generic(self, key: str) -> bool:
        """Whether the value's name is a generic word (手机, 通用 …)."""
        return self.name(key).lower().replace(" ", "") in GENERIC

    @classmethod
    def from_documents(cls, documents: Sequence, near_types: Mapping[str, set[str]] | None = None,
                       owned: bool = False) -> Recommender:
        """From search documents (:class:`skugraph.apps.documents.Document`); ``owned``: made for
        it alone (their facts are kept without a copy)."""
        names = {k: v for d in documents for k, v in d.names.items()}
        return cls({d.id: d.facts for d in documents}, names, {d.id: d.title for d in documents}, near_types=near_types, owned=owned)

    @classmethod
    def from_index(cls, index) -> Recommender:
        """From a :class:`skugraph.apps.search.SearchIndex`: its documents, and its synonym groups
        for product types (a 手机套 may stand in for a 手机壳)."""
        types = {k for d in index.documents for p, k in d.facts if p == "product_type"}
        return cls.from_documents(index.documents, {k: index.near_keys(k) & types for k in types})

    @classmethod
    @collector_paused()
    def from_store(cls, store) -> Recommender:
        """From the graph's products, as :meth:`from_index` has them, without building a search
        index (its text index is most of its cost)."""
        from skugraph.apps.documents import documents_from_store
        from skugraph.apps.search import synonym_keys
        from skugraph.corpus.normalize import fold
        from skugraph.tagging.augment import read_synonyms

        documents, _ = documents_from_store(store, with_text=False)
        types = {k for d in documents for p, k in d.facts if p == "product_type"}
        synonyms = {fold(w): group for group in read_synonyms() for w in group}
        return cls.from_documents(documents, {k: synonym_keys(k, synonyms) & types for k in types}, owned=True)

    def _is_telling(self, feature: tuple[str, str]) -> bool:
        return feature in self.features and bool(self.telling[self.features[feature]])

    def fits_of(self, product: str) -> tuple[set[str], set[str]]:
        """(devices, brands) the product fits, generic words aside: models or series, and other
        keys (brands). Both empty: not an accessory of anything in particular."""
        keys = {k for p, k in self.facts[product] if p in FITS and not self._generic(k)}
        devices = {k for k in keys if k.partition(":")[0] in DEVICE_KINDS}
        brands = {k for k in keys - devices if ":" not in k}
        return devices, brands

    @cached_property
    def title_vectors(self) -> sparse.csr_matrix:
        """The products' titles as :func:`title_vectors` rows (made when first asked for)."""
        return title_vectors([self.titles.get(p, "") for p in self.products])

    @cached_property
    def fitted_types(self) -> frozenset[str]:
        """The types of accessory: those at least :data:`FITTED_TYPE_SHARE` of whose products
        (of at least :data:`FITTED_TYPE_MIN`) name a model or series they fit."""
        products, fitted = defaultdict(int), defaultdict(int)
        for facts in self.facts.values():
            fits = any(p in FITS and key.partition(":")[0] in DEVICE_KINDS for p, key in facts)
            for p, key in facts:
                if p == "product_type":
                    products[key] += 1
                    fitted[key] += fits
        return frozenset(t for t, n in products.items() if n >= FITTED_TYPE_MIN and fitted[t] >= FITTED_TYPE_SHARE * n)

    @cached_property
    def fitting_one(self) -> np.ndarray:
        """Which products fit a device of their own: name a model or series they fit, or one
        brand without saying 通用 (a boolean per product)."""
        def fits_one(product: str) -> bool:
            devices, brands = self.fits_of(product)
            return bool(devices) or (len(brands) == 1 and not self.universal(product))

        return np.array([fits_one(p) for p in self.products], dtype=bool)

    def universal(self, product: str) -> bool:
        """Whether the product says it fits any device: a generic word (通用, 手机 …) or two brands
        or more."""
        keys = {k for p, k in self.facts[product] if p in FITS}
        return any(self._generic(k) for k in keys) or len(self.fits_of(product)[1]) > 1

    @cached_property
    def _brand_keys(self) -> frozenset[str]:
        """The keys of the brands products are made by or fit."""
        return frozenset(k for fs in self.facts.values() for p, k in fs if (p in FITS or p == "has_brand") and ":" not in k)

    @cached_property
    def _brand_names(self) -> frozenset[str]:
        """The brands' keys and names, lower case (a device's name starts with its brand:
        ``华为 p10 plus``, ``oppo a3``)."""
        return frozenset(form.lower() for k in self._brand_keys for form in (k, self.name(k)))

    @cached_property
    def _list_gap(self) -> re.Pattern:
        """:func:`_list_gap_pattern` of the brands and series devices are named with (华为, 红米), lower case, no spaces."""
        series = {self.name(key).lower() for fs in self.facts.values() for _, key in fs if key.startswith("series:")}
        return _list_gap_pattern({name.replace(" ", "") for name in self._brand_names | series if name})

    def _maker(self, key: str) -> str:
        """The brand a device's name opens with (``华为`` of ``华为 p10 plus``), lower case; "" where none."""
        words = self.name(key).lower().split()
        return words[0] if len(words) > 1 and words[0] in self._brand_names else ""

    @cached_property
    def _lines(self) -> dict[str, frozenset[str]]:
        """Brand (as :meth:`_maker` reads it) → the names of its models and series any product fits."""
        lines = defaultdict(set)
        for key in self._device_keys:
            if maker := self._maker(key):
                lines[maker].add(self._model(key))
        return {maker: frozenset(models) for maker, models in lines.items()}

    def _listed(self, product: str, makers: Collection[str], models: Collection[str]) -> set[str]:
        """The other models of ``makers`` (:attr:`_lines`) the product's title lists, each with a
        letter (``nova2``, ``xsmax``: not a bare 6, nor what reads as a measure, :data:`_NOT_A_MODEL`), no part
        of one of ``models`` (not nova3 for a nova3i case), after no letter or digit but a maker's or
        line's name (``…亲启nova2``, ``iphonexsmax``; not the 20pro of ``mate20pro``). Only the models
        the title holds as written are looked for: a line has a hundred models, a title a few."""
        title = "".join(_sold_words(self.titles.get(product, "")))
        found = {m for maker in makers for m in self._listable.get(maker, ()) if m in title and not any(m in model for model in models)}
        return {m for m in found if re.search(rf"(?:(?<![0-9a-z]){self._after_maker(frozenset(makers))}){_named(m)}", title)}

    @cached_property
    def _listable(self) -> dict[str, tuple[str, ...]]:
        """:attr:`_lines`, but the models a title can list (:meth:`_listed`)."""
        return {maker: tuple(m for m in models if re.search("[a-z]", m) and not _NOT_A_MODEL.fullmatch(m))
                for maker, models in self._lines.items()}

    def _after_maker(self, makers: frozenset[str]) -> str:
        """Lookbehinds (``|(?<=iphone)|(?<=huawei)``) for the names in letters of ``makers`` and of
        :data:`~skugraph.tagging.rules.DEVICE_LINES`, after which a listed model may run on (kept per set of makers)."""
        from skugraph.tagging.rules import DEVICE_LINES

        if makers not in self._after:
            before = {*DEVICE_LINES, *(form for maker in makers for form in self._maker_forms.get(maker, ()))}
            self._after[makers] = "".join(rf"|(?<={re.escape(word)})" for word in sorted(before) if re.fullmatch("[a-z]+", word))
        return self._after[makers]

    @cached_property
    def _maker_forms(self) -> dict[str, frozenset[str]]:
        """Brand (as :meth:`_maker` reads it) → its key and name, lower case (华为: huawei too)."""
        forms = defaultdict(set)
        for key in self._brand_keys:
            names = {key.lower(), self.name(key).lower()}
            for name in names:
                forms[name] |= names
        return {maker: frozenset(names) for maker, names in forms.items()}

    @cached_property
    def _device_keys(self) -> frozenset[str]:
        """The keys of the models and series any product fits."""
        return frozenset(key for fs in self.facts.values() for p, key in fs if p in FITS and key.partition(":")[0] in DEVICE_KINDS)

    @cached_property
    def _devices(self) -> frozenset[str]:
        """The names (as :meth:`sold_models` has them) of the models and series any product fits."""
        return frozenset(self._model(key) for key in self._device_keys)

    def sold_models(self, product: str) -> set[str]:
        """The device models the product is sold for, by name (lower case, without its brand and
        spaces: ``华为 p10 plus`` is ``p10plus``): of the models and series it fits, and of its own
        that some product fits (a case's ``model`` P20pro, not a code of its own like SC-699), and
        of the other models of their brands its title lists (:meth:`_listed`: the extractor may
        read only the first), those the variant its title ends with names (``… 手机壳A7炫光A3 … oppo A3`` is sold for
        the A3), or another model of their line that some product fits (``… x20plus-热情红``: an
        X20 Plus case, though it fits the X20 too); the variant is the last of the title's last
        :data:`VARIANT_WORDS` words (never its first) that names one, with those after it
        (``华为P30 pro【蓝】`` names the p30pro), or that names other models products fit, each a
        whole run of letters and digits (:attr:`_model_codes`; ``华为mate20…臂带 荣耀畅玩7/7A/7X
        橙色``: 7x, as 7A reads as a current): the variant is for another device than the extractor
        read. Where they name none at all, every model it fits."""
        if product not in self._sold:
            facts = self.facts[product]
            keys = {key for p, key in facts if p in FITS and key.partition(":")[0] in DEVICE_KINDS}
            fitted = {self._model(key) for key in keys}
            models = fitted | {m for p, key in facts if p in DEVICE_KINDS and (m := self._model(key)) in self._devices}
            models |= self._listed(product, {self._maker(key) for key in keys} - {""}, models)
            self._sold[product] = self._variant_names(product, models, others=self._model_codes if fitted else ()) or fitted
        return self._sold[product]

    @cached_property
    def _model_codes(self) -> frozenset[str]:
        """Those of :attr:`_devices` written in letters and digits (7x, mate20, z2-g), less what reads
        as a measure, a count, a paper size or a processor (:data:`_NOT_A_MODEL`: 5a, 3m, x2, a4, i7):
        names a variant can hardly mean otherwise."""
        return frozenset(d for d in self._devices if _MODEL_CODE.fullmatch(d) and not _NOT_A_MODEL.fullmatch(d))

    def _variant_names(self, product: str, names: Collection[str], measures: bool = False,
                       others: Collection[str] = ()) -> set[str]:
        """Those of ``names`` (lower case, no spaces) that the variant the product's title ends
        with names: the last of its last :data:`VARIANT_WORDS` words (never its first) that
        names any, with the words after it, free gifts aside (``… x20plus-热情红 送钢化膜``; an
        extra may name the variant: ``雅致黑+键盘华为M6``). Models are named within the words run
        together (``华为p30 pro``), a model of letters alone not inside another's name (the x ending
        xsmax), with the other models of their line the words name (:func:`_extended`: ``x20plus``
        where some product fits it, ``nova5ipro`` and ``x21屏幕指纹版`` known or not), or where they
        name none, the runs of letters and digits that are ``others`` and no part of one of
        ``names``, a count after a hyphen aside (``mate9-2片装``; a variant ``nova3`` for a nova3i
        case is the nova3i; ``mate20x5g`` for a mate20 case is another model); ``measures`` as
        :func:`_measures_named` reads them. Where that names several models and a bracket in it
        names some (``…小米8se皮套朦黄【小米8se】古典奢``), those: a title written without spaces marks
        the variant so, as does a title of one word with the model its last bracket follows, a
        colour between or not (``…6X高清note5小米9【超清】水凝前膜``, ``…荣耀V20土豪金【升级版``), and
        the measures in that bracket (``…10.8英寸创意8M6【8.4寸专用】``). A variant run together with
        the word before it (the last word naming several models, or the title as one where its last
        words name none) is the model named last where nothing or a colour follows, with a list it
        ends (:func:`_named_last`: ``…手机套保华为P30土豪金`` is a P30 case, not a P30 Pro one)."""
        words = _sold_words(self.titles.get(product, ""))
        for start in range(len(words) - 1, max(len(words) - VARIANT_WORDS, 1) - 1, -1):
            if measures:
                named = set(_measures_named(" ".join(words[start:])) & set(names))
            else:
                variant = "".join(words[start:])
                named = _standing_alone(variant, {name for name in names if name and _names(variant, name)}
                                        | self._extensions(variant, names))
                if len(named) > 1 and (notes := _BRACKETED.findall(variant)):
                    named = {name for name in named if any(_names(note, name) for note in notes)} or named
                if len(named) > 1 and start == len(words) - 1:  # one word run together: the models it names last
                    named = _named_last(variant, named, self._list_gap) or named
                named = named or {run for found in _CODE_RUN.findall(" ".join(words[start:]))  # 荣耀畅玩7x 2条装: 7x, not 7x2
                                  if (run := found if found in others else re.sub(r"-\d{1,2}$", "", found)) in others  # mate9-2片装
                                  and not any(run in name for name in names)}
            if named:
                return named
        if len(words) == 1 and (bracket := words[0].rfind("【")) > 0:  # one word: 小米9【超清】水凝膜, …荣耀v20土豪金【升级版
            if measures:  # …10.8英寸创意8m6高能版【8.4寸专用】大红色: 8.4
                return set(_measures_named(words[0][bracket:])) & set(names)
            head = words[0][:bracket]
            named = _standing_alone(head, {name for name in names if name} | self._extensions(head, names))
            named = (_named_last(head, named, self._list_gap) or set()) if named else set()
            return {name for name in named if not any(other.endswith(name) for other in named - {name})}  # note5, not 5
        joined = "".join(words)
        if not measures and (named := _standing_alone(joined, {name for name in names if name} | self._extensions(joined, names))):
            return _named_last(joined, named, self._list_gap) or set()  # the whole title run together: …p30pP30Pro 复古咖
        return set()

    def _extensions(self, text: str, names: Collection[str]) -> set[str]:
        """The other models of the lines of ``names`` that ``text`` names (:func:`_extended`), known
        to some product or longer by more than a letter (``nova5ipro``, ``x212020``)."""
        return {other for name in names if name for other in _extended(text, name)
                if other not in names and (other in self._devices or len(other) > len(name) + 1)}

    def stated_measures(self, product: str) -> dict[str, dict[str, float]]:
        """The product's measures by unit family (:data:`MEASURES`): name (lower case, no
        spaces) → the middle of its range; where the title lists several of a family and its
        variant names some (``… 15.6英寸 … 17.3英寸掠夺者PH517``), those (as
        :meth:`sold_models` reads models)."""
        if product not in self._stated:
            stated: dict[str, dict[str, float]] = defaultdict(dict)
            for feature in self.facts[product]:
                if (measure := self._measured.get(feature)) is not None:
                    stated[measure[0]][measure[1]] = measure[2]
            listed = {name for values in stated.values() if len(values) > 1 for name in values}  # what a variant may narrow
            named = self._variant_names(product, listed, measures=True) if listed else set()
            self._stated[product] = {family: {n: m for n, m in values.items() if n in named} if named & values.keys() else values
                                     for family, values in stated.items()}
        return self._stated[product]

    def offers_several(self, product: str) -> bool:
        """Whether the product is a set, bundle or pack (a form in :data:`SET_FORM`, a count of
        more than one item, not of what one item holds: :data:`CONTENTS`), not one item."""
        if not self._sets_or_counts[self.row[product]]:
            return False
        return (any(p == "form" and SET_FORM.search(self.name(key)) for p, key in self.facts[product])
                or any(m > 1 for family, values in self.stated_measures(product).items()
                       if family.startswith("count:") and family not in CONTENTS for m in values.values()))

    @cached_property
    def _measured(self) -> dict[tuple[str, str], tuple[str, str, float]]:
        """Each measure feature (:data:`MEASURES`): its unit family, name (lower case, no spaces)
        and the middle of its range."""
        measured = {}
        for feature in self.features:
            if feature[0] in MEASURES and (measure := _measure(feature[0], self.name(feature[1])))[0]:
                measured[feature] = (measure[0], self.name(feature[1]).lower().replace(" ", ""), measure[1])
        return measured

    @cached_property
    def _families(self) -> dict[str, list[tuple[str, str]]]:
        """Each unit family's measure features."""
        families: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for feature, (family, _, _) in self._measured.items():
            families[family].append(feature)
        return families

    @cached_property
    def _sets_or_counts(self) -> np.ndarray:
        """Which products hold a set's form or a count of items at all (a boolean per product)."""
        counts = (f for family, features in self._families.items() if family.startswith("count:") for f in features)
        return self.holding([*counts, *(f for f in self.features if f[0] == "form" and SET_FORM.search(self.name(f[1])))])

    def _model(self, key: str) -> str:
        words = self.name(key).lower().split()
        return "".join(words[1:] if len(words) > 1 and words[0] in self._brand_names else words)

    def __contains__(self, product: str) -> bool:
        return product in self.row

    def name(self, key: str) -> str:
        return self.names.get(key) or key.split(":")[-1]

    def holding(self, features: Iterable[tuple[str, str]]) -> np.ndarray:
        """Which products hold any of the (predicate, key) features (a boolean per product)."""
        columns = [self.features[f] for f in features if f in self.features]
        if not columns:
            return np.zeros(len(self.products), dtype=bool)
        return np.asarray(self.by_feature[:, columns].sum(axis=1)).ravel() > 0

    def _count_held(self, features: Iterable[tuple[str, str]]) -> np.ndarray:
        """How many of the features each product holds."""
        columns = [self.features[f] for f in features if f in self.features]
        return np.asarray(self.by_feature[:, columns].sum(axis=1)).ravel() if columns else np.zeros(len(self.products))

    def _result(self, scores: np.ndarray, exclude: set[str], k: int, reason) -> list[Recommendation]:
        positive = np.flatnonzero(scores > 0)
        order = []
        for i in positive[np.argsort(-scores[positive], kind="stable")]:
            if len(order) == k:
                break
            if self.products[i] not in exclude:
                order.append(i)
        return [Recommendation(self.products[i], self.titles.get(self.products[i], ""), round(float(scores[i]), 4),
                               reason(self.products[i])) for i in order]

    def learn_embeddings(self, model: str = "TransE", epochs: int = 100, dim: int = 32, weight: float = 0.5,
                         seed: int = 0) -> None:
        """Train a PyKEEN ``model`` on the products' facts; :meth:`similar` then adds ``weight`` ×
        the cosine of two products' entity embeddings to their shared-value similarity."""
        import torch

        from skugraph.fusion.completion import train_model

        triples = [(p, predicate, key) for p, fs in self.facts.items() for predicate, key in fs]
        trained, factory = train_model(triples, model, epochs, dim, seed)
        with torch.inference_mode():
            vectors = trained.entity_representations[0](torch.tensor([factory.entity_to_id[p] for p in self.products]))
        vectors = torch.view_as_real(vectors).flatten(1) if vectors.is_complex() else vectors
        array = vectors.float().numpy()
        self.embeddings = array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
        self.embedding_weight = weight

    def similar(self, product: str, k: int = 10) -> list[Recommendation]:
        """The products most like ``product`` by shared values (and KG embeddings, when learnt);
        reason: the rarest values shared."""
        row = self.row[product]
        scores = (self.matrix @ self.matrix[row].T).toarray().ravel()
        if self.embeddings is not None:
            scores = scores + self.embedding_weight * np.clip(self.embeddings @ self.embeddings[row], 0.0, None)
        mine = self.facts[product]

        def reason(other: str) -> str:
            shared = [f for f in set(mine) & set(self.facts[other]) if self._is_telling(f)]
            shared = sorted(shared, key=lambda f: (-self.idf[self.features[f]], f))[:3]
            if not shared:
                return "close in the KG embedding"
            return "same " + ", ".join(f"{_LABELS.get(p, p)} {self.name(k_)}" for p, k_ in shared)

        return self._result(scores, {product}, k, reason)

    def fitting(self, targets: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(direct, inferred) scores of every product as fitting the entity keys ``targets``
        (key → weight): direct from its own ``compatible_with`` / ``accessory_of`` facts;
        inferred from the products most like it (item neighbours) and from how often
        products with each of its values fit the target (associations)."""
        direct = np.zeros(len(self.products))
        inferred = np.zeros(len(self.products))
        feature_count = np.maximum(np.asarray(self.held.sum(axis=1)).ravel(), 1)
        for key, weight in targets.items():
            columns = [self.features[(p, key)] for p in FITS if (p, key) in self.features]
            if not columns:
                continue
            fits = np.asarray(self.by_feature[:, columns].max(axis=1).todense()).ravel()
            direct += weight * fits
            neighbours = self.matrix @ (self.matrix.T @ fits)  # summed similarity to the products that fit it
            neighbours = neighbours / max(fits.sum(), 1.0)
            share = np.asarray(self.held.T @ fits).ravel() / np.maximum(self.frequency, 1)  # P(fits key | value)
            association = (self.held @ share) / feature_count
            inferred += weight * (neighbours + association)
        return direct, inferred

    def accessory_scores(self, targets: Mapping[str, float]) -> np.ndarray:
        """Every product's score as an accessory of ``targets``: what it fits by its own facts,
        plus what it fits by inference scaled to at most ``inferred_weight`` × the best direct score."""
        direct, inferred = self.fitting(targets)
        return direct + self.inferred_weight * inferred / max(inferred.max(), 1e-12) * (direct.max() or 1.0)

    def complementary(self, product: str, k: int = 10) -> list[Recommendation]:
        """Accessories for ``product``: what fits its model, series, brand and type. Products of
        its own type are left out (a phone is no accessory of a phone)."""
        mine = self.facts[product]
        targets = {key: IDENTITY[p] for p, key in mine if p in IDENTITY}
        scores = self.accessory_scores(targets)
        own_types = {key for p, key in mine if p == "product_type"}
        scores[self.holding(("product_type", t) for t in own_types)] = 0.0  # not recommended

        def reason(other: str) -> str:
            fits = [key for key in targets if any((p, key) in self.facts[other] for p in FITS)]
            telling = [self.name(key) for key in fits if any(self._is_telling((p, key)) for p in FITS)]
            if telling:
                return "fits " + " ".join(dict.fromkeys(telling))
            if fits:
                return "fits any " + " ".join(dict.fromkeys(self.name(key) for key in fits))
            return "fits what this product's accessories fit"

        return self._result(scores, {product}, k, reason)

    def substitutes(self, product: str, k: int = 10, among: np.ndarray | None = None) -> list[Recommendation]:
        """Products of the same type (or a synonym) with a title at least :attr:`title_floor`
        alike (:data:`TITLE_FLOOR` unless told; 0 leaves titles out), for when it is out of stock;
        ranked by the key values they share and how alike their facts and titles are, each unit
        family in which they state other measures (as :meth:`stated_measures` reads them) dividing
        the score, as does being a pack or set (:meth:`offers_several`) for a single item (for a
        pack, its counts of items are measures too); one whose measures are all far from the
        product's in a family (:func:`_far`: 5 bags for 50) is none, as is
        one whose title names kinds of a group, none of them the product's (:func:`_other_kind`:
        家用 for 工业), or whose title's sides with no unit are far from the product's
        (:func:`_bare_areas`). For an accessory, only those that fit
        the same device model, sold for the same (see :meth:`sold_models`); none for one that
        names one brand it fits and no model, or nothing where its type is one of
        :attr:`fitted_types`; one that fits any device (:meth:`universal`) or none gets others
        that fit no device of their own (:attr:`fitting_one`). ``among``: a mask over
        :attr:`products` of those that may stand in (say, the ones in stock). A service (a type of
        :data:`~skugraph.tagging.lexicon.SERVICE_WORD`: 换件服务) gets none: a repair of one
        fault stands in for no other."""
        from skugraph.tagging.lexicon import SERVICE_WORD

        mine = self.facts[product]
        types = {key for p, key in mine if p == "product_type"}
        if any(SERVICE_WORD.search(self.name(t)) for t in types):
            return []
        types |= {near for t in types for near in self.near_types.get(t, ())}
        devices, brands = self.fits_of(product)
        if not types or (not devices and not self.universal(product) and (brands or types & self.fitted_types)):
            return []
        keys = {(p, key) for p, key in mine if p in KEY_ATTRIBUTES}
        candidates = self.holding(("product_type", t) for t in types)
        candidates[self.row[product]] = False
        if among is not None:
            candidates &= among
        candidates &= self.holding((p, key) for p in FITS for key in devices) if devices else ~self.fitting_one
        fits = {(p, key) for p, key in mine if p in FITS and key in devices}
        alike = np.ones(len(self.products))  # titles left out (a floor of 0, or a product whose title has no bigram)
        compared = self.title_floor > 0 and self.title_vectors[self.row[product]].nnz > 0
        if compared:
            rows = np.flatnonzero(candidates)
            alike[:] = 0.0
            alike[rows] = (self.title_vectors[rows] @ self.title_vectors[self.row[product]].T).toarray().ravel()
            candidates &= alike >= self.title_floor - 1e-9  # a cosine of two equal titles may come out a hair under 1
        sold = self.sold_models(product) if devices else set()
        kinds = _kinds(self.titles.get(product, ""))
        bare = _bare_areas(self.titles.get(product, ""))
        stated = self.stated_measures(product)
        several = self.offers_several(product)
        differs = np.zeros(len(self.products))  # unit families in which a substitute states only other measures, and packs
        listing: dict[str, np.ndarray] = {}  # family → the products holding several of its values (their variant may narrow them)
        accessory = bool(devices or brands) or self.universal(product)
        # other counts of items: packs, below; for a pack, compared as measures too, at PACK_RATIO (5 for 50 is none)
        measured = {family: ours for family, ours in stated.items()
                    if not family.startswith("count:") or family in COMPARED_COUNTS or several}
        for family, ours in measured.items():  # those holding one value of the family, all at once
            features = self._families[family]
            held = self._count_held(features)
            one, listing[family] = held == 1, held > 1
            differs += candidates & one & ~self.holding([f for f in features if self._measured[f][1] in ours])
            # far from every one of ours (a 1 m cable for a 30 m one, an A5 notebook for an A4 one): none
            near = self.holding([f for f in features if not _far((self._measured[f][2],), ours.values(), family, accessory)])
            candidates &= ~(one & ~near)
        for i in np.flatnonzero(candidates):
            other = self.products[i]
            another_device = devices and not self.sold_models(other) & sold
            if another_device or (any(kinds) and _other_kind(kinds, _kinds(self.titles.get(other, "")))):
                candidates[i] = False
                continue
            if bare and (theirs_bare := _bare_areas(self.titles.get(other, ""))) and _far(theirs_bare, bare, "area", accessory):
                candidates[i] = False  # a 60*90 board for a 100*150 one
                continue
            differs[i] += not several and self.offers_several(other)  # a pack or set for one item
            for family, ours in measured.items():
                if listing[family][i] and not (theirs := self.stated_measures(other).get(family, {})).keys() & ours.keys():
                    differs[i] += 1
                    candidates[i] &= not _far(theirs.values(), ours.values(), family, accessory)
        similarity = (self.matrix @ self.matrix[self.row[product]].T).toarray().ravel()
        scores = np.where(candidates, (1.0 + self._count_held(keys | fits) + similarity) * alike / (1.0 + differs), 0.0)

        def reason(other: str) -> str:
            theirs = self.facts[other]
            kind = next(self.name(t) for t in sorted(types) if ("product_type", t) in theirs)
            same = [f"{_LABELS.get(p, p)} {self.name(key)}" for p, key in sorted(keys) if (p, key) in theirs]
            fitting = sorted({self.name(key) for p, key in fits if (p, key) in theirs})
            measures = self.stated_measures(other)
            differing = {name for family, ours in measured.items() if family in measures and not measures[family].keys() & ours.keys()
                         for name in measures[family]}
            other_values = [f"other {_LABELS.get(p, p)} {self.name(key)}" for p, key in sorted(theirs)
                            if p in MEASURES and self.name(key).lower().replace(" ", "") in differing]
            pack = ["a pack or set"] if not several and self.offers_several(other) else []
            titles = [f"titles {alike[self.row[other]]:.0%} alike"] if compared else []
            return ", ".join([f"same type {kind}", *(["fits " + " / ".join(fitting)] if fitting else []), *same, *other_values, *pack,
                              *titles])

        return self._result(scores, {product}, k, reason)

    def recommend(self, product: str, k: int = 5) -> dict[str, list[dict]]:
        """All three lists for a product, as plain dicts."""
        if product not in self.row:
            raise KeyError(product)
        return {"similar": [r.to_dict() for r in self.similar(product, k)],
                "complementary": [r.to_dict() for r in self.complementary(product, k)],
                "substitutes": [r.to_dict() for r in self.substitutes(product, k)]}
