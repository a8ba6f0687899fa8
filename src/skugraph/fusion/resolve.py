"""Product entity resolution: which listings offer the same product, and one Product node for each.

1. **Offers**: each listing becomes an :class:`~skugraph.fusion.matching.Offer` of its title
   and the attributes extracted from it (brand key, product type, model, colour, capacity …,
   chosen values only, normalised; ``fits``: the brands and models it is compatible with).
2. **Blocking**: candidate pairs share a rare token of the title (a jieba word, a model code,
   the brand: a token in more than ``max_block`` listings is too common to block on), or are
   among each other's ``neighbours`` nearest titles by encoder embedding when an encoder is given.
3. **Scoring**: :func:`identity` errs on the side of keeping listings apart. It vetoes a pair
   that conflicts (different brands, one branded and one not, types, fitted devices, model
   codes, model numbers such as 成就3671 / 灵越3470, measures in one unit, colours, a replaced
   piece of title), and merges only on agreeing model codes, brand and type, or on
   near-identical titles. Without a trained matcher its score is the score
   (:class:`AttributeMatcher`); a trained :class:`~skugraph.fusion.matching.CrossEncoderMatcher`
   scores the rest, and a vetoed pair scores 0 whatever it says.
4. **Clustering**: connected components of the pairs scored at or above ``threshold``, then
   every bridge (a pair whose removal splits its component) scored below ``strong`` whose two
   ends both have other links is cut, so one weak link cannot chain two products into one; a
   component holding two conflicting listings is rebuilt from its strongest matches down
   without joining them. Each listing's evidence names its match and why (model code, type,
   brand, score), or the most alike listing it was kept apart from and the conflict.

The product id of a cluster is its smallest listing id, so rerunning gives the same ids.
:func:`fuse_facts` rewrites the facts onto those products, makes brands that are one brand
one node, merges the same fact read from several listings (provenance joined, confidence by
noisy-or), votes the attribute values again across the listings, and adds one ``offer_of``
fact per listing with the evidence.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import jieba
import numpy as np
from rapidfuzz import fuzz

from skugraph.facts.build import LISTING_EXTRACTOR, merge_facts
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.brands import mine_aliases
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.matching import Offer, mean_pool
from skugraph.records import ASPECT, BRAND, LISTING, PRODUCT, Entity, Fact, Listing, Provenance
from skugraph.tagging.evaluate import Score
from skugraph.tagging.lexicon import fold

jieba.setLogLevel(60)

#: extracted attributes two offers of one product cannot disagree on (brand, type and fits are checked apart)
KEY_ATTRIBUTES = ("model", "capacity", "colour", "size", "volume", "weight", "power")
_WORD = re.compile(r"[\w\-+.]+")


@dataclass(frozen=True, slots=True)
class ScoredPair:
    left: str  # listing ids
    right: str
    score: float


@dataclass
class Resolution:
    """Listing → product, with the pair that put each listing in its product."""

    product_of: dict[str, str]
    evidence: dict[str, str]  # listing id → why it is in its product
    confidence: dict[str, float]  # listing id → score of the pair that put it there (1 for the product's own listing)
    pairs: list[ScoredPair] = field(default_factory=list)  # every candidate pair scored
    cut: list[ScoredPair] = field(default_factory=list)  # weak bridges cut when clustering

    @property
    def products(self) -> int:
        return len(set(self.product_of.values()))


def offers_from(listings: Sequence[Listing], facts: Iterable[Fact], ontology: Ontology | None = None) -> list[Offer]:
    """One offer per listing: its title, then its chosen brand and attribute values (canonical),
    and ``fits``: the brands and models it is compatible with."""
    ontology = ontology or load_ontology()
    attributes: dict[str, dict[str, str]] = defaultdict(dict)
    fits: dict[str, set[str]] = defaultdict(set)
    for fact in facts:
        if fact.subject.label != PRODUCT or fact.properties.get("chosen") is False:
            continue
        if fact.predicate == "has_brand":
            name = "brand"
        elif fact.predicate == "compatible_with" and (fact.object.label == BRAND or fact.object.kind == "model"):
            fits[fact.subject.key].add(fact.object.key)
            continue
        elif ontology.is_kind(fact.predicate):
            name = fact.predicate
        else:
            continue
        value = fact.object.key.split(":", 1)[-1] if fact.object.label != BRAND else fact.object.key
        attributes[fact.subject.key].setdefault(name, value)
    for listing, fitting in fits.items():
        attributes[listing]["fits"] = " ".join(sorted(fitting))
    return [Offer(listing.id, (("title", listing.title), *sorted(attributes.get(listing.id, {}).items()))) for listing in listings]


def _tokens(offer: Offer) -> set[str]:
    title = fold(offer.title)
    words = {w for w in jieba.lcut(title) if _WORD.fullmatch(w) and (len(w) > 1 or not w.isascii())}
    words |= set(offer.codes())
    if offer.get("brand"):
        words.add("brand=" + offer.get("brand"))
    return {w for w in words if not w.isdigit()}


def block(offers: Sequence[Offer], max_block: int = 50, embeddings: np.ndarray | None = None,
          neighbours: int = 5) -> set[tuple[int, int]]:
    """Candidate pairs (i < j): sharing a token found in at most ``max_block`` offers, or
    among each other's nearest neighbours by cosine of ``embeddings``."""
    postings: dict[str, list[int]] = defaultdict(list)
    for i, offer in enumerate(offers):
        for token in _tokens(offer):
            postings[token].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in postings.values():
        if 1 < len(members) <= max_block:
            pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    if embeddings is not None and len(offers) > 1:
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
        for start in range(0, len(unit), 1024):
            similarity = unit[start : start + 1024] @ unit.T
            for row, i in enumerate(range(start, min(start + 1024, len(unit)))):
                similarity[row, i] = -np.inf
                nearest = np.argpartition(-similarity[row], neighbours)[:neighbours] if neighbours < len(unit) else range(len(unit))
                pairs.update((min(i, int(j)), max(i, int(j))) for j in nearest if j != i)
    return pairs


def encoder_embeddings(model: str, batch_size: int = 64, max_length: int = 64) -> Callable[[list[str]], np.ndarray]:
    """A function from texts to mean-pooled embeddings of an encoder (a model directory, ``minilm``
    …), for nearest-neighbour blocking."""
    import torch

    from skugraph.tagging.train import cpu_autocast, load_encoder

    encoder, tokenizer = load_encoder(model)
    encoder.eval()

    def embed(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode(), cpu_autocast():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start : start + batch_size], truncation=True, max_length=max_length, padding=True,
                                  return_tensors="pt")
                out.append(mean_pool(encoder(**batch).last_hidden_state.float(), batch["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, encoder.config.hidden_size))

    return embed


def blocking_recall(pairs: set[tuple[int, int]], groups: Sequence[str]) -> float:
    """Share of the true pairs (same gold group) that blocking kept."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        by_group[group].append(i)
    true = {(a, b) for members in by_group.values() for k, a in enumerate(members) for b in members[k + 1 :]}
    return len(true & pairs) / len(true) if true else 1.0


#: words a shop adds to a title that say nothing about the item
FILLER = ("官方标配", "标配", "官方", "正品", "新款", "新品", "上市", "包邮", "热卖", "现货", "特价", "促销", "限时",
          "京东好店", "好货精选", "爆款", "推荐", "旗舰店")
_UNIT = (r"mah|kwh|kw|gb|tb|mb|ml|mm|cm|km|kg|hz|w|v|a|g|t|l|m|p|k|英寸|寸|厘米|毫米|毫升|米|克|千克|升|匹|瓦|伏|支|个|张|"
         r"本|卷|片|套|包|盒|只|层|格|联|色|号|代|页|位|管|孔|芯|路|斗|抽|人|天|年|月")
_CODE_RUN = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_MEMORY = re.compile(r"\d+\+\d+[a-z]*")  # 12+256g: memory, a capacity
_NUMBER = re.compile(rf"(?<![\d.a-z])(\d+(?:\.\d+)?)(?:\s*({_UNIT}))?(?![a-z])")
_SERIES = re.compile(r"[\u4e00-\u9fff]{1,2}$")
_SERIES_CODE = re.compile(rf"[\u4e00-\u9fff]{{2}}(\d{{1,3}})(?![\d.a-z:~/+*-]|\s*(?:{_UNIT}))")  # not 1-2人, 4:3
_COLOUR_WORD = re.compile(r"(?:[深浅亮暗淡嫩纯哑]|玫瑰|香槟|土豪|宝石|天空|海军|象牙|中国)?[红橙黄绿青蓝紫黑白灰粉棕褐金银咖啡]色")
_COLOUR_CHAR = re.compile(r"[红橙黄绿青蓝紫黑白灰粉棕褐金银]")
_DIMENSION = re.compile(rf"\d+(?:\.\d+)?(?:\s*[x*×]\s*\d+(?:\.\d+)?)+\s*(?:{_UNIT})?")  # 800x300mm, 120*150
_MEASURE_CODE = re.compile(rf"\d[\d.x*]*(?:{_UNIT})?")  # 256gb, 5g, 1080p, 800x300mm: measures, not model codes
_NOT_KEPT = re.compile(r"[^\w.+]|_")
_SHORT_CODE = re.compile(r"[c-z]\d")  # X7, V8 (not A4 or B5, paper sizes)
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_LONG_TITLE = 45  # characters of a compact title (a keyword-stuffed marketplace title)
_SUFFIX_SPACE = re.compile(r"(?<=\d)\s+(?=(?:pro|max|plus|ultra|mini|lite|gt|se)(?![a-z]))|(?<=pro)\s+(?=max(?![a-z]))")
_WORD_NUMBER = re.compile(r"(?<![a-z0-9])([a-z]{2,})\s+(\d[\da-z]*)(?![\d+.a-z])")  # Mate 60 → mate60, not pc 100w


@dataclass(frozen=True, slots=True)
class TitleReading:
    """What a title says that decides identity: its compact form (folded, no spaces or
    punctuation) and where its variant part starts in it (what follows the last long run of
    keywords, as on JD: ``…办公桌面收纳盒 灰色/四联加厚 升级款``; else the last
    quarter of a long title; else nothing), both again with the measures cut out,
    its model codes (Latin and digits less measures, and a series word with its number: 灵越14),
    its model numbers (bare numbers of three
    or more digits, with the series word before them: 成就3671), its measures by unit, its
    colours."""

    compact: str
    variant_from: int
    compact_less_measures: str
    variant_less_measures_from: int
    codes: frozenset[str]
    model_numbers: dict[str, str]
    measures: dict[str, frozenset[str]]
    colours: frozenset[str]


@lru_cache(maxsize=65536)
def read_title(title: str) -> TitleReading:
    """The identity-relevant reading of a title (cached: every candidate pair reads both)."""
    text = fold(title)
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
    bare = _CODE_RUN.sub(lambda m: " " if any(c in m.group(0).replace("-", "").replace(".", "") for c in codes) else m.group(0), text)
    measures: dict[str, set[str]] = defaultdict(set)
    numbers: dict[str, str] = {}
    for memory in _MEMORY.findall(bare):
        measures["memory"].add(memory)
    for dimension in _DIMENSION.findall(bare):
        measures["dimensions"].add(re.sub(r"\s*[x*×]\s*", "x", dimension).replace(" ", ""))
    for match in _NUMBER.finditer(_DIMENSION.sub(" ", _MEMORY.sub(" ", bare))):
        value, unit = match.group(1), match.group(2)
        if unit:
            measures[unit].add(value)
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
    head, variant = _NOT_KEPT.sub("", _cut_measures(text[:split])), _NOT_KEPT.sub("", _cut_measures(text[split:]))
    return TitleReading(compact, len(_NOT_KEPT.sub("", text[:split])), head + variant, len(head), frozenset(codes),
                        numbers, {unit: frozenset(values) for unit, values in measures.items()},
                        frozenset(_COLOUR_WORD.findall(text)))


def _cut_measures(text: str) -> str:
    """The text less its measures: 12+256g, 800x300mm, 16g, 14英寸."""
    return _NUMBER.sub(lambda m: " " if m.group(2) else m.group(0), _DIMENSION.sub(" ", _MEMORY.sub(" ", text)))


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
    """The explicit conflict between two offers, or None: brands, branded against unbranded,
    types, fitted devices, model codes, model numbers, measures in one unit, colours."""
    brand, other_brand = left.get("brand"), right.get("brand")
    if brand and other_brand and brand != other_brand:
        return f"brands differ: {brand} vs {other_brand}"
    if bool(brand) != bool(other_brand):
        return f"one is branded ({brand or other_brand}), the other not"
    kind, other_kind = left.get("product_type"), right.get("product_type")
    if kind and other_kind and not _types_agree(kind, other_kind):
        return f"types differ: {kind} vs {other_kind}"
    fits, other_fits = set(left.get("fits").split()), set(right.get("fits").split())
    if not (fits <= other_fits or other_fits <= fits) or bool(fits) != bool(other_fits):
        return f"fit different devices: {' '.join(sorted(fits)) or 'none'} vs {' '.join(sorted(other_fits)) or 'none'}"
    codes, other_codes = _own_codes(left, ours), _own_codes(right, theirs)
    for name in KEY_ATTRIBUTES:
        if name == "model" and codes and codes == other_codes:
            continue  # the titles' own codes agree (s1503a, however the extractor cut S1503-A)
        if left.get(name) and right.get(name) and left.get(name) != right.get(name):
            return f"{name} differs: {left.get(name)} vs {right.get(name)}"
    if codes and other_codes and codes != other_codes:
        return f"model codes differ: {' '.join(sorted(codes))} vs {' '.join(sorted(other_codes))}"
    if ours.model_numbers.keys() != theirs.model_numbers.keys() and ours.model_numbers and theirs.model_numbers:
        return (f"model numbers differ: {' '.join(sorted(ours.model_numbers.values()))} vs "
                f"{' '.join(sorted(theirs.model_numbers.values()))}")
    for unit in sorted(ours.measures.keys() & theirs.measures.keys()):
        if ours.measures[unit] != theirs.measures[unit]:
            return f"{unit} differs: {' '.join(sorted(ours.measures[unit]))} vs {' '.join(sorted(theirs.measures[unit]))}"
    if ours.colours and theirs.colours and ours.colours != theirs.colours:
        return f"colours differ: {' '.join(sorted(ours.colours))} vs {' '.join(sorted(theirs.colours))}"
    return None


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
        mine_head, mine_variant = _pieces(ours, i1, i2, theirs)
        yours_head, yours_variant = _pieces(theirs, j1, j2, ours)
        mine, yours = "".join(mine_head + mine_variant), "".join(yours_head + yours_variant)
        if brand and brand in (fold(mine), fold(yours), _latin_run(ours.compact, i1, i2), _latin_run(theirs.compact, j1, j2)):
            harmless.append(f"{mine}/{yours}")
            continue
        if mine and yours:
            what = "colour" if _COLOUR_CHAR.search(mine + yours) else "variant"
            return f"{what} differs: {mine} vs {yours}", harmless
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
    product when (a) both have model codes, the same ones, the same brand (not a brand they
    fit), a type (both, agreeing, or one and two more key attributes agreeing), and their titles
    differ in nothing but filler, moved words and words one side adds (no replaced piece); or (b) their titles are
    near-identical: at least 0.85 alike, differing only in filler, moved words and keywords one
    side adds outside its variant part (no number, code or colour only one has). Score:
    0.8 + 0.2 × similarity for (a), 0.75 + 0.25 × similarity for (b), 0 when not one product."""
    ours, theirs = read_title(left.title), read_title(right.title)
    conflict = _conflict(left, right, ours, theirs)
    if conflict:
        return _apart(conflict)
    similarity = fuzz.ratio(ours.compact, theirs.compact) / 100.0
    brand, kind = left.get("brand"), left.get("product_type") or right.get("product_type")
    codes = _own_codes(left, ours)
    attributes = sum(bool(left.get(name)) and left.get(name) == right.get(name) for name in KEY_ATTRIBUTES)
    typed = bool(left.get("product_type") and right.get("product_type")) or bool(kind) and attributes >= 2
    by_code = bool(codes and codes == _own_codes(right, theirs) and brand and typed and brand not in left.get("fits").split())
    if not by_code and similarity < 0.85:
        return Verdict(False, 0.0, f"no agreeing model code, brand and type, and titles only {similarity:.2f} alike")
    difference, harmless = _title_difference(ours, theirs, by_code, brand)
    if difference:
        return _apart(difference)
    agree = ", ".join(filter(None, (f"type {kind}" if kind else "", f"brand {brand}" if brand else "")))
    if by_code:
        return Verdict(True, round(0.8 + 0.2 * similarity, 4),
                       f"same model code {' '.join(sorted(codes))}, {agree}; title similarity {similarity:.2f}")
    differs = f", differing only in {' '.join(harmless)}" if harmless else ""
    return Verdict(True, round(0.75 + 0.25 * similarity, 4),
                   f"near-identical titles (similarity {similarity:.2f}{differs}){'; ' + agree if agree else ''}")


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
            found.append((listing, product, f"model numbers {' '.join(sorted(ours.model_numbers.values()))} vs "
                                            f"{' '.join(sorted(theirs.model_numbers.values()))}"))
    return found


def _bridges(nodes: list[int], edges: dict[int, dict[int, float]]) -> set[tuple[int, int]]:
    """Bridges of the graph induced on ``nodes`` (Tarjan, iterative), as (min, max) pairs."""
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    found: set[tuple[int, int]] = set()
    for root in nodes:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, -1, iter(edges[root]))]
        while stack:
            node, parent, children = stack[-1]
            advanced = False
            for child in children:
                if child == parent:
                    continue
                if child in order:
                    low[node] = min(low[node], order[child])
                else:
                    order[child] = low[child] = len(order)
                    stack.append((child, node, iter(edges[child])))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                if parent >= 0:
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        found.add((min(node, parent), max(node, parent)))
    return found


def cluster(count: int, scored: Iterable[tuple[int, int, float]], threshold: float = 0.5,
            strong: float = 0.8) -> tuple[list[int], list[tuple[int, int, float]]]:
    """Cluster label per item (the smallest member index), and the weak bridges that were cut."""
    edges: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, score in scored:
        if score >= threshold:
            edges[a][b] = edges[b][a] = score
    nodes = sorted(edges)
    # a weak bridge between two groups (both ends have other links) chains two products: cut it
    weak = {(a, b) for a, b in _bridges(nodes, edges) if edges[a][b] < strong and len(edges[a]) > 1 and len(edges[b]) > 1}
    cut = [(a, b, edges[a][b]) for a, b in sorted(weak)]
    for a, b, _ in cut:
        del edges[a][b], edges[b][a]
    label = list(range(count))
    done: set[int] = set()
    for start in nodes:  # components by depth-first search; label = smallest member
        if start in done:
            continue
        seen, stack = {start}, [start]
        while stack:
            node = stack.pop()
            for other in edges[node]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        smallest = min(seen)
        for node in seen:
            label[node] = smallest
        done |= seen
    return label, cut


def resolve_products(listings: Sequence[Listing], facts: Sequence[Fact], matcher=None, *, threshold: float | None = None,
                     strong: float = 0.8, max_block: int = 50, embed: Callable[[list[str]], np.ndarray] | None = None,
                     ontology: Ontology | None = None) -> Resolution:
    """Which listings are one product. ``matcher``: an object with ``scores(pairs)`` (a trained
    cross-encoder, whose own threshold is used unless ``threshold`` is given) or None for
    :class:`AttributeMatcher` (threshold 0.75); ``embed`` adds nearest-neighbour blocking.
    Whatever the matcher, a pair :func:`identity` finds in conflict scores 0, and no product
    keeps two listings in conflict (a chain of matches is split where it would). Each listing's
    evidence says which listing it matched and why, or, for a listing alone, the most alike
    listing it was kept apart from and the conflict."""
    offers = offers_from(listings, facts, ontology)
    if matcher is None:
        matcher, threshold = AttributeMatcher(), 0.75 if threshold is None else threshold
    elif threshold is None:
        threshold = float(getattr(matcher, "threshold", 0.5))
    embeddings = embed([o.title for o in offers]) if embed else None
    candidates = sorted(block(offers, max_block, embeddings))
    verdicts = {(a, b): identity(offers[a], offers[b]) for a, b in candidates}
    if isinstance(matcher, AttributeMatcher):
        scores = [verdicts[pair].score for pair in candidates]
    else:
        scores = matcher.scores([(offers[a], offers[b]) for a, b in candidates]) if candidates else np.zeros(0)
    scored = [(a, b, 0.0 if verdicts[(a, b)].veto else float(s)) for (a, b), s in zip(candidates, scores, strict=True)]
    labels, cut = cluster(len(offers), scored, threshold, strong)
    labels = _split_conflicts(labels, offers, scored, threshold, verdicts)
    ids = [listing.id for listing in listings]
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    product_of, evidence, confidence = {}, {}, {}
    best_link: dict[int, tuple[float, int]] = {}
    closest_apart: dict[int, tuple[float, int]] = {}
    for a, b, score in scored:
        together = labels[a] == labels[b] and score >= threshold
        for x, y in ((a, b), (b, a)):
            if together and score > best_link.get(x, (-1.0, -1))[0]:
                best_link[x] = (score, y)
            elif not together and verdicts[(a, b)].veto:
                alike = fuzz.ratio(read_title(offers[x].title).compact, read_title(offers[y].title).compact) / 100.0
                if alike >= 0.8 and alike > closest_apart.get(x, (0.0, -1))[0]:
                    closest_apart[x] = (alike, y)
    for group in members.values():
        product = min(ids[i] for i in group)
        for i in group:
            product_of[ids[i]] = product
            if len(group) == 1:
                evidence[ids[i]], confidence[ids[i]] = "the only listing of this product", 1.0
                if i in closest_apart:
                    alike, other = closest_apart[i]
                    pair = (min(i, other), max(i, other))
                    evidence[ids[i]] += f"; kept apart from {ids[other]} (titles {alike:.2f} alike): {verdicts[pair].reason}"
            elif ids[i] == product:
                evidence[ids[i]], confidence[ids[i]] = f"the first of {len(group)} listings of this product", 1.0
            else:
                score, other = best_link[i]
                verdict = verdicts[(min(i, other), max(i, other))]
                evidence[ids[i]] = f"matches {ids[other]} (score {score:.2f}{'; ' + verdict.reason if verdict.same else ''})"
                confidence[ids[i]] = round(score, 4)
    return Resolution(product_of, evidence, confidence,
                      [ScoredPair(ids[a], ids[b], round(s, 4)) for a, b, s in scored],
                      [ScoredPair(ids[a], ids[b], round(s, 4)) for a, b, s in cut])


def _split_conflicts(labels: list[int], offers: Sequence[Offer], scored: Sequence[tuple[int, int, float]], threshold: float,
                     verdicts: dict[tuple[int, int], Verdict]) -> list[int]:
    """Clusters rebuilt where two of their members conflict: the cluster's matches joined from
    the strongest down, skipping a match that would put a conflicting pair in one product."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    labels = list(labels)
    for group in (g for g in groups.values() if len(g) > 1):

        def conflict(a: int, b: int) -> bool:
            pair = (min(a, b), max(a, b))
            if pair not in verdicts:
                verdicts[pair] = identity(offers[pair[0]], offers[pair[1]])
            return verdicts[pair].veto

        if not any(conflict(a, b) for k, a in enumerate(group) for b in group[k + 1 :]):
            continue
        component = {i: {i} for i in group}
        inside = set(group)
        for a, b, _ in sorted((e for e in scored if e[0] in inside and e[1] in inside and e[2] >= threshold), key=lambda e: -e[2]):
            left, right = component[a], component[b]
            if left is right or any(conflict(x, y) for x in left for y in right):
                continue
            left |= right
            for i in right:
                component[i] = left
        for members in {id(c): c for c in component.values()}.values():
            for i in members:
                labels[i] = min(members)
    return labels


def unify_brands(listings: Sequence[Listing], facts: Sequence[Fact]) -> list[Fact]:
    """Brand nodes that are one brand made one: aliases are mined (:func:`~skugraph.fusion.brands.mine_aliases`)
    from how the titles write the brand mentions the facts were read from; each cluster takes the
    key its facts use most, the canonical name, and every name as an alias. A ``has_brand`` fact
    whose brand has several names says why in its ``evidence``."""
    titles = {listing.id: listing.title for listing in listings}
    spans: dict[str, set[tuple[int, int, str]]] = defaultdict(set)
    brands = [f.object for f in facts if f.object.label == BRAND]
    for fact in facts:
        role = "compatible" if fact.predicate == "compatible_with" else "brand"  # a brand it fits is not its maker
        for place in fact.provenance if fact.object.label == BRAND else ():
            if place.field == "title":
                spans[place.listing_id].add((place.start, place.end, role))
    aliases = mine_aliases((titles[i], sorted(found)) for i, found in spans.items() if i in titles)
    groups: dict[str, list[Entity]] = defaultdict(list)
    for brand in brands:
        groups[aliases.canonical(brand.name)].append(brand)
    unified: dict[str, Entity] = {}
    why: dict[str, str] = {}
    for canonical, members in groups.items():
        key = Counter(b.key for b in members).most_common(1)[0][0]
        names = tuple(dict.fromkeys(n for b in members for n in (b.name, *b.aliases) if n != canonical))
        for brand in members:
            unified[brand.key] = Entity(BRAND, key, canonical, aliases=names)
        if names:
            why[key] = "; ".join(aliases.why(canonical)) or f"{' / '.join((canonical, *names))}: one brand in the brand list"

    def onto_unified(fact: Fact) -> Fact:
        if fact.object.label != BRAND:
            return fact
        brand = unified[fact.object.key]
        if fact.predicate == "has_brand" and brand.key in why:
            return replace(fact, object=brand, properties={**fact.properties, "evidence": why[brand.key]})
        return replace(fact, object=brand)

    return [onto_unified(fact) for fact in facts]


def fuse_facts(listings: Sequence[Listing], facts: Iterable[Fact], resolution: Resolution,
               ontology: Ontology | None = None) -> list[Fact]:
    """The facts moved onto resolved products, brands that are one brand made one node,
    duplicates merged, attribute values voted again across the product's listings, plus an
    ``offer_of`` fact per listing."""
    ontology = ontology or load_ontology()
    product_of = resolution.product_of
    titles = {listing.id: listing.title for listing in listings}

    def moved(entity: Entity) -> Entity:
        if entity.label == PRODUCT and entity.key in product_of:
            product = product_of[entity.key]
            return replace(entity, key=product, name=titles.get(product, entity.name))
        if entity.label == ASPECT and "|" in entity.key:
            listing, _, aspect = entity.key.partition("|")
            if listing in product_of:
                return replace(entity, key=f"{product_of[listing]}|{aspect}")
        return entity

    rewritten = [replace(f, subject=moved(f.subject), object=moved(f.object),
                         properties={k: v for k, v in f.properties.items() if k not in ("chosen", "support")})
                 for f in facts]
    fused = resolve_conflicts(merge_facts(unify_brands(listings, rewritten)), ontology)
    version = LISTING_EXTRACTOR.partition("@")[2]
    for listing in listings:
        product = product_of.get(listing.id, listing.id)
        where = Provenance(listing.id, "title", 0, len(listing.title), "resolve", version)
        fused.append(Fact(Entity(LISTING, listing.id, listing.title), "offer_of", Entity(PRODUCT, product, titles.get(product, "")),
                          resolution.confidence.get(listing.id, 1.0), (where,),
                          {"evidence": resolution.evidence.get(listing.id, "the only listing of this product")}))
    return fused


def pairwise_scores(product_of: dict[str, str], gold: dict[str, str]) -> Score:
    """Precision, recall and F1 over listing pairs put in one product, against gold product
    names (listings missing from either side are left out)."""
    ids = [i for i in product_of if i in gold]

    def same_pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
        members: dict[str, list[str]] = defaultdict(list)
        for listing in ids:
            members[groups[listing]].append(listing)
        return {(a, b) for group in members.values() for k, a in enumerate(sorted(group)) for b in sorted(group)[k + 1 :]}

    predicted, true = same_pairs(product_of), same_pairs(gold)
    return Score.from_counts(len(predicted & true), len(predicted), len(true))


def group_sizes(resolution: Resolution) -> Counter:
    """How many products have 1, 2, 3 … listings."""
    return Counter(Counter(resolution.product_of.values()).values())
