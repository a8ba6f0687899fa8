"""Brand aliases: which brand names are one brand (美的 / Midea / MIDEA, 华为 / HUAWEI), read from
how titles write them and clustered.

Evidence, per pair of brand mentions next to each other in a title:

- ``A（B）`` or ``A(B)`` — one name with the other in brackets: strong (0.9);
- ``A/B`` — strong (0.9);
- ``AB`` or ``A B`` in two scripts (adidas阿迪达斯): weak (0.5); in one script (联通 电信) it is two
  brands, not evidence;
- anything else (``A）B``, words between): none.

Evidence adds up as independent pieces (``1 - Π(1 - w)``); a pair is an alias when it reaches
``threshold`` (0.5: one bracket, slash or two-script neighbour; 0.75 asks two neighbours, for
precision over recall). Names are compared
folded (case, width), and two Latin names that differ only in punctuation (TP-LINK, TPLINK)
are one name. Clusters are the connected components of the alias pairs, except that a pair
which would join two clusters that each have their own Latin name is refused (华为 / HUAWEI
and 荣耀 / honor stay two brands) unless those names are spellings of one another (Xnesen /
xenese) or the title joined two Latin names itself (new balance/nb).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from skugraph.tagging.lexicon import fold

STRONG, WEAK = 0.9, 0.5
_LATIN = re.compile(r"[a-z]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def name_key(name: str) -> str:
    """The form two spellings of one name share: folded, Latin punctuation and spaces dropped."""
    folded = fold(name)
    return re.sub(r"[\s\-_.&'’]+", "", folded) if not _CJK.search(folded) else folded.replace(" ", "")


def _script(name: str) -> str:
    return "cjk" if _CJK.search(name) else "latin" if _LATIN.search(name) else "other"


def pattern_weight(first: str, gap: str, second: str) -> float:
    """How much one occurrence of ``first`` + ``gap`` + ``second`` in a title says they are one brand."""
    gap = fold(gap).strip()
    if gap in ("(", "（"):
        return STRONG
    if gap == "/":
        return STRONG
    if gap == "" and _script(first) != _script(second):
        return WEAK
    return 0.0


@dataclass
class BrandAliases:
    """Clusters of brand names; ``canonical(name)`` is the cluster's most frequent CJK name (else
    its most frequent name)."""

    clusters: list[set[str]] = field(default_factory=list)  # name keys
    names: dict[str, str] = field(default_factory=dict)  # name key → most frequent surface
    frequency: dict[str, int] = field(default_factory=dict)  # name key → times written
    _cluster_of: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self._cluster_of = {key: i for i, members in enumerate(self.clusters) for key in members}

    def same(self, a: str, b: str) -> bool:
        ka, kb = name_key(a), name_key(b)
        return ka == kb or (ka in self._cluster_of and self._cluster_of.get(ka) == self._cluster_of.get(kb))

    def canonical(self, name: str) -> str:
        key = name_key(name)
        if key not in self._cluster_of:
            return name
        members = self.clusters[self._cluster_of[key]]
        cjk = [k for k in members if _script(k) == "cjk"]
        return self.names[max(sorted(cjk or members), key=lambda k: self.frequency.get(k, 0))]


def _latin_names_agree(first: set[str], second: set[str], a: str, b: str, score: float) -> bool:
    """Whether two clusters with Latin names of their own may still be one brand: the names are
    spellings of one another (Xnesen / xenese, Nikon / NIikon), or the title wrote the two Latin
    names as one brand outright (new balance/nb)."""
    if _script(a) == _script(b) == "latin" and score >= STRONG:
        return True
    return max(fuzz.ratio(x, y) for x in first for y in second) >= 70


def mine_aliases(titles: Iterable[tuple[str, list[tuple[int, int]]]], threshold: float = 0.5) -> BrandAliases:
    """Alias clusters from titles with their brand spans ``(start, end)``."""
    evidence: dict[tuple[str, str], float] = defaultdict(float)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for text, spans in titles:
        spans = sorted(spans)
        for start, end in spans:
            counts[name_key(text[start:end])][text[start:end]] += 1
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            a, b = name_key(text[s1:e1]), name_key(text[s2:e2])
            weight = pattern_weight(text[s1:e1], text[e1:s2], text[s2:e2])
            if a != b and weight:
                pair = tuple(sorted((a, b)))
                evidence[pair] = 1 - (1 - evidence[pair]) * (1 - weight)
    names = {key: max(surfaces, key=surfaces.get) for key, surfaces in counts.items()}
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.get(key, key) != key:
            key = parent[key]
        return key

    latin: dict[str, set[str]] = defaultdict(set)  # cluster root → its Latin names
    for key in names:
        if _script(key) == "latin":
            latin[key].add(key)
    for (a, b), score in sorted(evidence.items(), key=lambda item: -item[1]):
        if score < threshold:
            continue
        ra, rb = root(a), root(b)
        if ra == rb or (latin[ra] and latin[rb] and not _latin_names_agree(latin[ra], latin[rb], a, b, score)):
            continue  # already one, or two brands each with its own Latin name
        parent[rb] = ra
        latin[ra] |= latin.pop(rb, set())
    groups: dict[str, set[str]] = defaultdict(set)
    for key in names:
        groups[root(key)].add(key)
    clusters = [members for members in groups.values() if len(members) > 1]
    return BrandAliases(clusters, names, {key: sum(surfaces.values()) for key, surfaces in counts.items()})
