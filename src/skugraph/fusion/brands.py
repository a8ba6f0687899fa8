"""Brand aliases: which brand names are one brand (美的 / Midea / MIDEA, 华为 / HUAWEI), read from
how titles write them and clustered, erring on the side of keeping brands apart.

A merge needs positive evidence, from two mentions next to each other in a title:

- ``中文（LATIN）`` or ``LATIN（中文）``, the bracket holding just the other name: strong (0.9);
- ``中文/LATIN`` or ``LATIN/中文``, not part of a longer slash list nor after 适用/兼容/for: strong (0.9);
- ``LATIN中文`` or ``LATIN 中文`` (two scripts side by side): weak — 0.6 when the title opens
  with the pair as its maker (both in the brand role), 0.4 otherwise; two such titles add up;
  none in a title that sells something for another product (适用, 兼容, for, 专用, an accessory
  word such as 手机壳 or 电脑包), where the second name is what the product fits.

Evidence adds up as independent pieces (``1 - Π(1 - w)``); a pair is an alias when it reaches
``threshold`` (0.5). One script side by side (联通 电信), slash lists (苹果/小米/华为), anything
after a compatibility word (适用于 / 兼容 / for / 专用) and names that are models, colours,
shops or generic words (B5, 几何黑, 安卓, 手机, 原装, …旗舰店) are no evidence.

A merge is refused when any name of one cluster **clashes** with any name of the other (the
whole clusters are checked, so one wrong pair cannot chain two brand families together):

- the shipped gazetteer resolves the two names to different brands (小米 / 苹果);
- a title writes them as two makers, or one as the maker and the other as the brand the
  product fits (``壳当家 适用于三星``, ``苹果/小米 数据线``, ``邦克仕/benks 华为P30钢化膜``);
- both clusters have a Latin name (or both a Chinese name) and none of those agree: not the
  same gazetteer brand, not spellings of one another (Xnesen / xenese, new balance / nb).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from skugraph.corpus.normalize import fold
from skugraph.tagging.lexicon import BrandGazetteer, default_gazetteer, default_lexicons, is_brand_name, name_key, script_of

STRONG, OPENING, WEAK = 0.9, 0.6, 0.4
BRAND_ROLE, COMPATIBLE_ROLE = "brand", "compatible"
_COMPATIBLE_BEFORE = re.compile(r"(?:适用于?|适配于?|兼容|专用于|用于|(?<![a-z])for)\s*[:：]?\s*$")
_COMPATIBLE_AFTER = re.compile(r"\s*专用")
_COMPATIBLE_ANYWHERE = re.compile(r"适用|适配|适合|兼容|专用|配件|(?<![a-z])for(?![a-z])")
_LIST_GAP = re.compile(r"[\s、/,，和及与(（]*")
#: what a title may open with before its maker: bracketed notes, an origin
_OPENING = re.compile(r"\s*(?:[【\[][^】\]]*[】\]]\s*)*(?:日本|德国|美国|韩国|英国|法国|意大利|瑞士|丹麦)?\s*")


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    key: str
    surface: str
    role: str


def _mentions(text: str, spans: Sequence[tuple]) -> list[_Mention]:
    """The title's brand mentions in order, names only, each with its role: a mention after a
    compatibility word (through a list of brands) or before 专用 fits the product, whatever
    the extractor said."""
    found: list[_Mention] = []
    for span in sorted(spans):
        start, end = span[0], span[1]
        surface = text[start:end]
        if found and start < found[-1].end or not is_brand_name(surface):
            continue
        before = text[max(found[-1].end if found else 0, start - 12) : start].lower()
        fits = (_COMPATIBLE_BEFORE.search(before) or _COMPATIBLE_AFTER.match(text, end)
                or found and found[-1].role == COMPATIBLE_ROLE and _LIST_GAP.fullmatch(text[found[-1].end : start]))
        role = BRAND_ROLE if not fits and (len(span) < 3 or span[2] == BRAND_ROLE) else COMPATIBLE_ROLE
        found.append(_Mention(start, end, name_key(surface), surface.strip(), role))
    return found


def _link(text: str, mentions: list[_Mention], i: int) -> float:
    """Evidence that mentions ``i`` and ``i + 1`` are one brand, from how the title writes them."""
    first, second = mentions[i], mentions[i + 1]
    if first.key == second.key or script_of(first.key) == script_of(second.key):
        return 0.0
    gap = fold(text[first.end : second.start]).strip()  # NFKC: （ is (
    if gap == "(":
        return STRONG if fold(text[second.end : second.end + 2]).lstrip().startswith(")") else 0.0
    if gap == "/":
        in_list = (i > 0 and fold(text[mentions[i - 1].end : first.start]).strip() == "/"
                   or text[second.end : second.end + 1] == "/")
        return STRONG if not in_list and first.role == second.role == BRAND_ROLE else 0.0
    if gap == "" and not _accessory_context(text):
        opening = i == 0 and _OPENING.fullmatch(text[: first.start]) and first.role == second.role == BRAND_ROLE
        return OPENING if opening else WEAK
    return 0.0


def _accessory_context(text: str) -> bool:
    """Whether a title sells something for another product (适用于, 兼容, 配件, an accessory word): there
    the brand beside the maker's name is what the product fits (GYSFONE 神舟 电脑包)."""
    folded = fold(text)
    return bool(_COMPATIBLE_ANYWHERE.search(folded) or default_lexicons()["accessory"].find(folded))


@dataclass
class _TitleReading:
    """What one title says about its brand names: evidence per pair, and pairs it keeps apart."""

    evidence: dict[tuple[str, str], float]
    apart: set[tuple[str, str]]


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def read_title(text: str, spans: Sequence[tuple]) -> _TitleReading:
    """Alias evidence and clashes in one title. Names joined by bracket, slash or an opening
    pair are one group. Names of two groups clash when their roles differ, when they are
    written in one script (苹果/小米, 联通 电信; unless one spells the other), or when both are
    brands the product fits, listed one after the other (适用华为/OPPO). Two-script names of one
    role elsewhere (Schneider施耐德, 施耐德钢笔Schneider, 努比亚 红魔3/nubia X) are left undecided."""
    mentions = _mentions(text, spans)
    evidence: dict[tuple[str, str], float] = {}
    group = {m.key: m.key for m in mentions}

    def root(key: str) -> str:
        while group[key] != key:
            key = group[key]
        return key

    listed: set[tuple[str, str]] = set()  # next to each other in a list: 华为/OPPO, vivo、华为
    for i in range(len(mentions) - 1):
        a, b = mentions[i].key, mentions[i + 1].key
        gap = text[mentions[i].end : mentions[i + 1].start]
        if gap.strip() and _LIST_GAP.fullmatch(gap) and "(" not in gap and "（" not in gap:
            listed.add(_pair(a, b))
        weight = _link(text, mentions, i)
        if weight:
            evidence[_pair(a, b)] = max(evidence.get(_pair(a, b), 0.0), weight)
        if weight > WEAK:
            group[root(b)] = root(a)
    roles: dict[str, set[str]] = defaultdict(set)
    for m in mentions:
        roles[root(m.key)].add(m.role)
    apart = set()
    keys = sorted({m.key for m in mentions})
    for k, a in enumerate(keys):
        for b in keys[k + 1 :]:
            ra, rb = root(a), root(b)
            if ra == rb:
                continue
            one_script = script_of(a) == script_of(b) and not _spellings_agree(a, b)
            fitted_list = roles[ra] == roles[rb] == {COMPATIBLE_ROLE} and (a, b) in listed
            if roles[ra] != roles[rb] or one_script or fitted_list:
                apart.add((a, b))
    return _TitleReading(evidence, apart)


@dataclass
class BrandAliases:
    """Clusters of brand names; ``canonical(name)`` is the cluster's most frequent CJK name (else
    its most frequent name); ``reasons`` says why each merged pair was merged."""

    clusters: list[set[str]] = field(default_factory=list)  # name keys
    names: dict[str, str] = field(default_factory=dict)  # name key → most frequent surface
    frequency: dict[str, int] = field(default_factory=dict)  # name key → times written
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # merged pair of name keys → why
    _cluster_of: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self._cluster_of = {key: i for i, members in enumerate(self.clusters) for key in members}

    def same(self, a: str, b: str) -> bool:
        ka, kb = name_key(a), name_key(b)
        return ka == kb or (ka in self._cluster_of and self._cluster_of.get(ka) == self._cluster_of.get(kb))

    def why(self, name: str) -> list[str]:
        """Why the names of ``name``'s cluster are one brand: the reason of each merged pair in it."""
        cluster = self._cluster_of.get(name_key(name))
        return [reason for (a, _), reason in self.reasons.items() if cluster is not None and self._cluster_of.get(a) == cluster]

    def canonical(self, name: str) -> str:
        key = name_key(name)
        if key not in self._cluster_of:
            return name
        members = self.clusters[self._cluster_of[key]]
        cjk = [k for k in members if script_of(k) == "cjk"]
        return self.names[max(sorted(cjk or members), key=lambda k: self.frequency.get(k, 0))]

    def named_clusters(self) -> list[list[str]]:
        """Each cluster as its names as written (most frequent surface of each)."""
        return [sorted(self.names.get(k, k) for k in members) for members in self.clusters]


def _gazetteer_key(name: str, gazetteer: BrandGazetteer) -> str | None:
    brand = gazetteer.by_surface.get(fold(name))
    return brand.key if brand else None


def _spellings_agree(a: str, b: str) -> bool:
    """Two names of one script that spell one brand: close strings (Xnesen / xenese, 宏碁 / 宏基,
    德国凯伦诗 / 凯伦诗) or initials (nb / new balance)."""
    ka, kb = name_key(a), name_key(b)
    if ka in kb or kb in ka:
        return True
    if script_of(ka) == "cjk":
        return fuzz.ratio(ka, kb) >= 50 and bool(set(ka) & set(kb))
    initials = {"".join(word[0] for word in fold(name).split()) for name in (a, b)}
    return fuzz.ratio(ka, kb) >= 70 or ka in initials or kb in initials


def mine_aliases(titles: Iterable[tuple[str, Sequence[tuple]]], threshold: float = 0.5,
                 gazetteer: BrandGazetteer | None = None) -> BrandAliases:
    """Alias clusters from titles with their brand spans ``(start, end)`` or ``(start, end, role)``
    (role ``brand``, or ``compatible`` for a brand the product fits)."""
    gazetteer = gazetteer or default_gazetteer()
    evidence: dict[tuple[str, str], float] = defaultdict(float)
    apart: set[tuple[str, str]] = set()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for text, spans in titles:
        for start, end, *_ in spans:
            if is_brand_name(text[start:end]):
                counts[name_key(text[start:end])][text[start:end].strip()] += 1
        reading = read_title(text, spans)
        for pair, weight in reading.evidence.items():
            evidence[pair] = 1 - (1 - evidence[pair]) * (1 - weight)
        apart |= reading.apart
    names = {key: max(surfaces, key=surfaces.get) for key, surfaces in counts.items()}
    known = {key: {k for s in surfaces if (k := _gazetteer_key(s, gazetteer))} for key, surfaces in counts.items()}
    gazetteer_names: dict[str, set[str]] = defaultdict(set)  # brand key → its names' keys
    for surface, brand in gazetteer.by_surface.items():
        gazetteer_names[brand.key].add(name_key(surface))

    def brands_of(key: str) -> set[str]:
        return known[key] if key in known else {k for k in [_gazetteer_key(key, gazetteer)] if k}

    def clash(a: str, b: str) -> bool:
        if known[a] & known[b]:
            return False
        return _pair(a, b) in apart or bool(known[a] and known[b])

    first_name: dict[str, str] = {}
    for key in sorted(names):  # names the gazetteer gives one brand are one, seen together or not
        for brand in sorted(known[key]):
            if brand in first_name:
                evidence[_pair(first_name[brand], key)] = 1.0
            first_name.setdefault(brand, key)

    def family(cluster: set[str], script: str) -> set[str]:
        """The cluster's names of one script, with every name the gazetteer gives its brands."""
        named = cluster | {n for key in cluster for brand in known[key] for n in gazetteer_names[brand]}
        return {k for k in named if script_of(k) == script}

    def spelled_alike(a: str, b: str) -> bool:
        return _spellings_agree(names.get(a, a), names.get(b, b))

    def families_agree(first: set[str], second: set[str]) -> bool:
        for script in ("latin", "cjk"):
            mine, theirs = family(first, script), family(second, script)
            if mine and theirs and not any(brands_of(x) & brands_of(y) or spelled_alike(x, y)
                                           for x in mine for y in theirs):
                return False
        return True

    members: dict[str, set[str]] = {key: {key} for key in names}
    cluster_of = {key: key for key in names}
    reasons: dict[tuple[str, str], str] = {}
    for (a, b), score in sorted(evidence.items(), key=lambda item: (-item[1], item[0])):
        if score < threshold or a not in cluster_of or b not in cluster_of:
            continue
        ca, cb = cluster_of[a], cluster_of[b]
        if ca == cb:
            continue
        first, second = members[ca], members[cb]
        if any(clash(x, y) for x in first for y in second) or not families_agree(first, second):
            continue
        if len(first) < len(second):
            ca, cb, first, second = cb, ca, second, first
        first |= second
        for key in members.pop(cb):
            cluster_of[key] = ca
        reasons[(a, b)] = f"{names[a]} / {names[b]}: written as one brand (evidence {score:.2f})"
    clusters = [group for group in members.values() if len(group) > 1]
    return BrandAliases(clusters, names, {key: sum(s.values()) for key, s in counts.items()}, reasons)


def clashing_clusters(aliases: BrandAliases, gazetteer: BrandGazetteer | None = None) -> list[dict]:
    """Clusters that join brands the gazetteer knows as distinct: ``{"names", "brands"}`` each
    (an empty list is the target)."""
    gazetteer = gazetteer or default_gazetteer()
    found = []
    for members in aliases.clusters:
        brands = sorted({k for key in members if (k := _gazetteer_key(aliases.names.get(key, key), gazetteer))})
        if len(brands) > 1:
            found.append({"names": sorted(aliases.names.get(k, k) for k in members), "brands": brands})
    return found
