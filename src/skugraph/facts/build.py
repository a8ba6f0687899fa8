"""Turn a listing and its mentions into facts, and merge facts that say the same thing.

The ontology says what each mention label means (a brand, a product word, a compatible
brand/model/product, a component, or an attribute kind). Of a listing's product words one
is its head product (``product_type``); the others become ``related_product`` facts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence

from skugraph.corpus.normalize import fold, normalize
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.facts.values import normalize_value
from skugraph.records import BRAND, CATEGORY, PRODUCT, REVIEW, VALUE, Entity, Fact, Listing, Mention, Provenance
from skugraph.tagging.lexicon import (
    BRAND_PAIR,
    COMPAT_TRIGGER,
    GLUED_DEVICE,
    NAMED_LINES,
    SERVICE_WORD,
    SHOP_WORDS,
    BrandGazetteer,
    Lexicon,
    default_gazetteer,
    default_lexicons,
    is_shop_or_generic,
)

LISTING_EXTRACTOR = "listing@1"  # facts read straight from structured listing fields
#: a compatibility trigger right before a brand, a mark or bracket at most between (``适用于：华为``,
#: ``适配【小米``), searched up to the brand's start in the folded text
_FITS_BEFORE = re.compile(rf"(?:{COMPAT_TRIGGER.pattern})[:,、(\[【]?\s*$")
#: between the brands of one list or the two names of one brand (``宝锋/万华``, ``惠普(HP)``, ``惠普HP``)
_BRAND_LINK = re.compile(r"[\s/、,，()（）]*")


def value_entity(kind: str, surface: str) -> Entity:
    """A Value node keyed by kind and normalised value: ``256G``, ``256 gb`` and ``256GB`` are one
    node, so are ``0.5L`` and ``500ml``; a colour keeps its own name (曜石黑), its palette colour
    goes on the node (see :mod:`skugraph.facts.values`)."""
    value = normalize_value(kind, surface)
    name = fold(surface) if kind == "colour" else value.canonical
    return Entity(VALUE, f"{kind}:{name.replace(' ', '')}", name, kind=kind)


def product_entity(listing: Listing) -> Entity:
    return Entity(PRODUCT, listing.id, listing.title)


def _provenance(mention: Mention) -> Provenance:
    name, _, version = mention.extractor.partition("@")
    return Provenance(mention.listing_id, mention.field, mention.start, mention.end, name, version)


#: what may stand between a product word and the one it modifies, within one word of a title: a
#: few Chinese characters, or a model with a few around it (小米平板4保护套, 华为手机畅享9手机壳); not a
#: space, a year (蓝牙键盘2017保护套), a size (手提包10.5保护套) nor a code with a leading 0 (中性笔01水笔芯)
_MODIFIED = re.compile(r"[\u4e00-\u9fff]{0,4}|[\u4e00-\u9fff]{0,3}(?!(?:19|20)\d\d|0)[a-z0-9]{1,8}(?![.\d])[\u4e00-\u9fff]{0,2}",
                       re.IGNORECASE)
#: device words that, another product word following within one word, name what it is used with (``手机远程监控器``,
#: ``手机耳机``, ``手机无线照片打印机``), as a device word before an accessory does
_USE_WORDS = frozenset({"手机"})
#: before a product word, what makes it an extra the offer comes with, not what it is: ``+三脚架``,
#: ``带无线话筒``, ``含鼠标``, ``送钢化膜`` (a few Chinese characters or spaces between); not the + of a
#: model (三星S10+手机壳), nor the 带 of a word (胶带, 表带, 腕带)
_EXTRA_BEFORE = re.compile(r"(?:(?<![0-9A-Za-z])[+＋]|(?<![胶表腕绑色皮磁丝鞋背纽])带|含|送|赠)[\u4e00-\u9fff\s]{0,4}$")
#: a shop's words in a mention: no product word holds them (an extractor cut 旗舰店 or 旗舰店奥德 from 官方旗舰店 奥德…)
_SHOP_WORD = re.compile("|".join(SHOP_WORDS))


def head_product(mentions: Sequence[Mention], meanings: Sequence[str], text_of: Callable[[str], str] | None = None,
                 accessories: Container[str] = ()) -> int | None:
    """Index of the listing's head product word among ``mentions``, or None.

    Titles repeat the head in several words (手机壳 … 边框壳 … 保护套; 便利贴 … 荧光贴 … 记事贴)
    that share their last character, the head of a Chinese compound; other product words
    are parts, gifts or uses. So: the product words of the first field that has any,
    grouped by last character; the largest group wins (the earlier one on a tie), and its
    first word is the head. With ``text_of`` (a field's text), a product word that is no accessory and
    that one of the ``accessories`` follows within one word (``笔记本外壳保护贴膜``, ``手机数据线``,
    ``小米平板4保护套``: what :data:`_MODIFIED` allows between them) modifies it, as the last noun of a
    Chinese compound is its head, and is no candidate, as is a use word (:data:`_USE_WORDS`) that any
    product word follows so (``手机远程监控器``); nor is an extra the offer comes with (``+三脚架``,
    ``带无线话筒``, ``送钢化膜``), unless every product word is one; an extra modifies nothing
    (``华为手机nova5送手机壳`` sells the phone). A service word (:data:`SERVICE_WORD`) that is no extra is
    the head wherever it stands, whatever follows it: ``宏碁笔记本键盘失灵换件服务`` and
    ``小米手机上门换屏mix2s屏幕总成`` sell a repair, not a laptop or a screen."""
    candidates = [i for i, meaning in enumerate(meanings) if meaning == "product"]
    if not candidates:
        return None
    field = mentions[candidates[0]].field
    candidates = [i for i in candidates if mentions[i].field == field]
    text = text_of(field) if text_of is not None else ""
    extras = {i for i in candidates if text and _EXTRA_BEFORE.search(text, max(0, mentions[i].start - 6), mentions[i].start)}
    if services := [i for i in candidates if i not in extras and SERVICE_WORD.search(fold(mentions[i].text))]:
        return services[0]  # before any word modifies it: 上门换屏mix2s屏幕总成 sells the repair
    if text:
        candidates = [i for i in candidates if mentions[i].text in accessories or not any(
            (mentions[j].text in accessories or fold(mentions[i].text) in _USE_WORDS) and j not in extras
            and mentions[j].start >= mentions[i].end
            and _MODIFIED.fullmatch(text, mentions[i].end, mentions[j].start) for j in candidates)]
        candidates = [i for i in candidates if i not in extras] or candidates
    groups: dict[str, list[int]] = defaultdict(list)
    for i in candidates:
        groups[fold(mentions[i].text)[-1:]].append(i)
    return max(groups.values(), key=lambda members: (len(members), -members[0]))[0]


def fitted_brands(listing: Listing, mentions: Sequence[Mention], meanings: Sequence[str]) -> list[str]:
    """The meanings with each brand the title marks as what the product fits read as a compatible
    brand, whatever the extractor said: a brand right after a compatibility trigger
    (``手机壳 适用于华为P40``, ``适用 夏普MX31CT粉盒``) and a brand written on with one it fits
    (``适用于宝锋/万华``, ``适用于惠普（HP）``), and any later mention of a brand so marked. A trigger
    with a word between it and the brand (``适用人群``, ``电源适配器 HP``) marks nothing, and the
    text's first brand stays its maker (``得力（deli）钻头 适用得力3876装订机``)."""
    meanings = list(meanings)
    folded: dict[str, str] = {}
    order = [i for i in sorted(range(len(mentions)), key=lambda i: (mentions[i].field, mentions[i].start))
             if meanings[i] in ("brand", "compatible_brand")]
    firsts = {mentions[i].field: i for i in reversed(order)}  # each field's first brand
    marked: set[tuple[str, str]] = set()  # (field, name) of the brands marked as fitted
    for previous, i in zip([None, *order], order):
        mention = mentions[i]
        text = folded.setdefault(mention.field, fold(listing.field_text(mention.field), keep_offsets=True))
        linked = (previous is not None and mentions[previous].field == mention.field and meanings[previous] == "compatible_brand"
                  and _BRAND_LINK.fullmatch(text, mentions[previous].end, mention.start) is not None
                  # not from an extractor's compatible brand opening a text with no trigger (富士instax: Fuji's own)
                  and (previous != firsts[mention.field] or COMPAT_TRIGGER.search(text, 0, mentions[previous].start) is not None))
        if linked or _FITS_BEFORE.search(text, 0, mention.start):
            meanings[i] = "compatible_brand"
            marked.add((mention.field, fold(mention.text)))
    for i in order:  # the fitted brand named again (奥普LQ730K), but not the maker opening the text (得力（deli）… 适用得力3876)
        if meanings[i] == "brand" and i != firsts[mentions[i].field] and (mentions[i].field, fold(mentions[i].text)) in marked:
            meanings[i] = "compatible_brand"
    return meanings


class FactBuilder:
    """Maps mentions to facts as the ontology says: brands to ``has_brand``, the head
    product word to ``product_type`` and the other product words to ``related_product``,
    compatibility mentions to ``compatible_with`` (and ``accessory_of`` when the head is
    an accessory), components to ``component_of``, attribute kinds to Value facts. Whatever the
    extractor said, a brand the text marks as fitted is compatible (:func:`fitted_brands`), and
    a compatible brand naming the maker again right before a head that is no accessory is the
    maker (:meth:`_maker_again`)."""

    def __init__(self, gazetteer: BrandGazetteer | None = None, accessory_types: Lexicon | None = None,
                 ontology: Ontology | None = None, relations=None):
        self.gazetteer = gazetteer or default_gazetteer()
        self.accessory_types = accessory_types or default_lexicons()["accessory"]
        self.ontology = ontology or load_ontology()
        self.relations = relations  # a RelationClassifier: what each mention is to the head product

    def brand_entity(self, surface: str) -> Entity:
        brand = self.gazetteer.resolve(surface)
        return Entity(BRAND, brand.key, brand.name, aliases=brand.aliases)

    def _maker_named(self, model: str) -> str | None:
        """A model written together with its maker's Latin name under the maker's name, as a
        model after its brand is (``iphone6s`` and ``iPhone XR`` are ``苹果 6s`` and ``苹果 xr``, as
        ``苹果6s`` and ``苹果XR`` are); an iPad's or a MacBook's keeps its line (``苹果 ipad6``:
        :data:`~skugraph.tagging.lexicon.NAMED_LINES`); None for a model written otherwise."""
        text = fold(model).strip()
        glued = GLUED_DEVICE.match(text.replace(" ", ""))
        if glued is None or glued.group() not in self.gazetteer.by_surface or not text.startswith(glued.group()):
            return None
        line = glued.group() if glued.group() in NAMED_LINES else ""
        return f"{self.brand_entity(glued.group()).name} {line}{text[glued.end():].lstrip()}"

    def _brand_of(self, listing: Listing, mention: Mention) -> Entity:
        """The brand a mention names; one half of ``诺芝（NOZI）`` is read with its other half,
        so both scripts land on one brand with both names."""
        norm = normalize(listing.field_text(mention.field))
        for match in BRAND_PAIR.finditer(norm.text):
            start, end = norm.to_original(*match.span())
            if start <= mention.start and mention.end <= end and not self.gazetteer.known_apart(n for n in match.groups() if n):
                return self.brand_entity(match.group())
        return self.brand_entity(mention.text)

    def build(self, listing: Listing, mentions: Iterable[Mention]) -> list[Fact]:
        product = product_entity(listing)
        mentions = list(mentions)
        meanings = [self._meaning(m) for m in mentions]
        head = head_product(mentions, meanings, listing.field_text, self.accessory_types)
        if self.relations is not None and head is not None:
            meanings = self._read_relations(listing, mentions, meanings, head)
        meanings = fitted_brands(listing, mentions, meanings)
        if head is not None and mentions[head].text not in self.accessory_types:
            meanings = self._maker_again(mentions, meanings, head)
        facts = [*self._structured(listing, product)]
        head_word = fold(mentions[head].text) if head is not None else None
        for i, (mention, meaning) in enumerate(zip(mentions, meanings, strict=True)):
            if meaning == "ignore":
                continue
            before = (mentions[i - 1], meanings[i - 1]) if i else None
            # the head word said again (镇尺 … 镇尺) is more evidence of the type, not a related product
            is_head = i == head or (meaning == "product" and fold(mention.text) == head_word)
            fact = self._from_mention(listing, product, mention, meaning, before, is_head)
            if fact is not None:
                facts.append(fact)
        if head is not None and mentions[head].text in self.accessory_types:
            facts += self._accessory_of(product, mentions[head], [m for m, r in zip(mentions, meanings, strict=True) if r == "compatible_product"])
        return merge_facts(facts)

    def _maker_again(self, mentions: list[Mention], meanings: list[str], head: int) -> list[str]:
        """The meanings with a compatible brand read as the maker where it names the maker again
        right before the head product word (``海尔（Haier）… 海尔消毒柜``, ``小米（MI）… 小米净水器``):
        a product that is no accessory fits nothing of its own maker's. ``head`` is no accessory."""
        head_word = fold(mentions[head].text)
        makers = {self.gazetteer.resolve(m.text).key for m, meaning in zip(mentions, meanings, strict=True) if meaning == "brand"}
        starts = {(m.field, m.start) for m, meaning in zip(mentions, meanings, strict=True)
                  if meaning == "product" and fold(m.text) == head_word}
        meanings = list(meanings)
        for i, (mention, meaning) in enumerate(zip(mentions, meanings, strict=True)):
            if meaning == "compatible_brand" and (mention.field, mention.end) in starts \
                    and self.gazetteer.resolve(mention.text).key in makers:
                meanings[i] = "brand"
        return meanings

    def _read_relations(self, listing: Listing, mentions: list[Mention], meanings: list[str], head: int) -> list[str]:
        """The meanings with the relation classifier's reading of each mention to the head
        product: a brand that the head only fits becomes a compatible brand (and back), and a
        mention the classifier relates to nothing is ignored."""
        from skugraph.facts.relations import RelationExample

        top = mentions[head]
        title = listing.field_text(top.field)
        asked, examples = [], []
        for i, (mention, meaning) in enumerate(zip(mentions, meanings, strict=True)):
            if meaning == "product":
                continue
            if mention.field == top.field:
                example = RelationExample(title, (top.start, top.end), (mention.start, mention.end), other_type=meaning)
            else:  # a description mention read with the title: "title ｜ description"
                shift = len(title) + 3
                example = RelationExample(f"{title} ｜ {listing.field_text(mention.field)}", (top.start, top.end),
                                          (mention.start + shift, mention.end + shift), other_type=meaning)
            asked.append(i)
            examples.append(example)
        meanings = list(meanings)
        for i, (relation, _) in zip(asked, self.relations.predict(examples) if examples else [], strict=True):
            if relation == "none":
                meanings[i] = "ignore"
            elif relation == "fits" and meanings[i] == "brand":
                meanings[i] = "compatible_brand"
            elif relation == "brand_of" and meanings[i] == "compatible_brand":
                meanings[i] = "brand"
            # any other disagreement on the kind of a mention: the tagger's kind stands
        return meanings

    def _structured(self, listing: Listing, product: Entity) -> list[Fact]:
        facts = []
        if listing.category:
            path = " > ".join(part.strip() for part in listing.category.split(">"))
            category = Entity(CATEGORY, fold(path), path)
            where = Provenance(listing.id, "category", 0, len(listing.category), *LISTING_EXTRACTOR.split("@"))
            facts.append(Fact(product, "in_category", category, 1.0, (where,)))
        for i, review in enumerate(listing.reviews):
            where = Provenance(listing.id, f"reviews[{i}]", 0, len(review.text), *LISTING_EXTRACTOR.split("@"))
            facts.append(Fact(product, "has_review", Entity(REVIEW, review.id, review.text), 1.0, (where,)))
        return facts

    def _from_mention(
        self, listing: Listing, product: Entity, mention: Mention, meaning: str,
        before: tuple[Mention, str] | None, is_head: bool,
    ) -> Fact | None:
        where = (_provenance(mention),)
        score = mention.score
        if meaning == "brand":
            return Fact(product, "has_brand", self._brand_of(listing, mention), score, where)
        if meaning == "product":
            predicate = "product_type" if is_head else "related_product"
            return Fact(product, predicate, value_entity("product_type", mention.text), score, where)
        if meaning == "compatible_brand":
            return Fact(product, "compatible_with", self.brand_entity(mention.text), score, where)
        if meaning == "compatible_product":
            return Fact(product, "compatible_with", value_entity("product_type", mention.text), score, where)
        if meaning == "compatible_model":
            model = self._maker_named(mention.text)  # iphone6s: 苹果 6s, with or without 苹果 before it
            if model is None:
                model = mention.text
                if before and before[1] == "compatible_brand" and before[0].field == mention.field:
                    line = fold(before[0].text).strip()  # 苹果 15 pro, not just 15 pro; ipad air2: 苹果 ipad air2
                    model = f"{self.brand_entity(before[0].text).name} {line + ' ' if line in NAMED_LINES else ''}{model}"
            return Fact(product, "compatible_with", value_entity("model", model), score, where)
        if meaning == "component":
            return Fact(value_entity("component", mention.text), "component_of", product, score, where)
        if not self.ontology.applies(meaning, listing.category):
            score *= self.ontology.off_category_factor
        return Fact(product, meaning, value_entity(meaning, mention.text), round(score, 6), where)

    def _meaning(self, mention: Mention) -> str:
        """What the ontology says a mention's label means, unless the extractor read a shop's or a
        generic word as a brand or a product word (官方 of 官方旗舰店, 【京东 of 【京东配送】, 旗舰店):
        then it is ignored. A brand the gazetteer knows is always one, and a word that only may
        not be a brand (a colour's ending: 万年红, a code: H3C) stays one."""
        meaning = self.ontology.meaning(mention.label)
        text = fold(mention.text)
        if meaning in ("brand", "compatible_brand") and text not in self.gazetteer.by_surface and is_shop_or_generic(text) \
                and not (meaning == "compatible_brand" and "安卓" in text):  # what a product fits may be Android (适用安卓)
            return "ignore"
        if meaning == "product" and _SHOP_WORD.search(text):
            return "ignore"
        return meaning

    def _accessory_of(self, product: Entity, head: Mention, targets: list[Mention]) -> list[Fact]:
        """A head product that is an accessory (手机壳, charger …) fitting a product type makes ``accessory_of``."""
        return [
            Fact(product, "accessory_of", value_entity("product_type", target.text), min(head.score, target.score),
                 (_provenance(head), _provenance(target)))
            for target in targets
        ]


def merge_facts(facts: Iterable[Fact]) -> list[Fact]:
    """One fact per (subject, predicate, object): provenance joined, confidence combined by
    noisy-or (independent pieces of evidence), in first-seen order. A fact stated again gathers
    its evidence in a list and a set and is built once at the end, so a fact m listings state
    costs O(m), not a copy of its provenance per listing."""
    merged: dict[tuple[str, str, str], Fact] = {}
    joined: dict[tuple[str, str, str], tuple[list[Provenance], set[Provenance], list[float], dict[str, None]]] = {}
    for fact in facts:
        seen = merged.get(fact.key)
        if seen is None:
            merged[fact.key] = fact
            continue
        if fact.key not in joined:
            joined[fact.key] = (list(seen.provenance), set(seen.provenance), [seen.confidence], dict.fromkeys(seen.object.aliases))
        provenance, held, confidence, aliases = joined[fact.key]
        new_evidence = [p for p in fact.provenance if p not in held]
        if not new_evidence:
            continue
        held.update(new_evidence)
        provenance += new_evidence
        confidence[0] = round(1 - (1 - confidence[0]) * (1 - fact.confidence), 6)
        aliases.update(dict.fromkeys(fact.object.aliases))
    for key, (provenance, _, confidence, aliases) in joined.items():
        seen = merged[key]
        obj = seen.object if tuple(aliases) == seen.object.aliases else _with_aliases(seen.object, tuple(aliases))
        merged[key] = Fact(seen.subject, seen.predicate, obj, confidence[0], tuple(provenance), seen.properties)
    return list(merged.values())


def _with_aliases(entity: Entity, aliases: tuple[str, ...]) -> Entity:
    return Entity(entity.label, entity.key, entity.name, entity.kind, aliases)
