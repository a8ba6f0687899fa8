"""The rule extractor: brand gazetteer, two-script brand patterns, unit patterns and
lexicons. It is the baseline the neural taggers are measured against, and a source
of weak labels.

Rules run on the NFKC-normalised, lower-cased text; every span is mapped back to
the original text before it becomes a :class:`~skugraph.records.Mention`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from skugraph.corpus.normalize import fold, normalize
from skugraph.records import Listing, Mention
from skugraph.tagging.lexicon import (
    BRAND_PAIR,
    COMPAT_TRIGGER,
    GENERIC_WORDS,
    GLUED_DEVICE,
    NOT_A_COLOUR_SET,
    Brand,
    BrandGazetteer,
    Lexicon,
    default_gazetteer,
    default_lexicons,
    is_brand_name,
    parse_brands,
    read_product_types,
    read_words,
    word_brands,
    word_cutter,
)

_DIGITS = r"\d{1,6}(?:\.\d+)?"
#: a classifier after a count (:data:`skugraph.facts.values.CLASSIFIERS`), but not where it starts another word
#: (支架, 个月, 包邮, 条纹, 单片机, 卷发, 卷笔刀); the colours of a set (24色), not otherwise
#: (:data:`~skugraph.tagging.lexicon.NOT_A_COLOUR_SET`: 5色可选)
_CLASSIFIER = (r"(?:支(?![持架撑付柱])|个(?![月人性头])|只(?![能要有是])|本|张|片(?!机)|卷(?![发笔])|条(?![纹码形])|枚|粒|瓶|袋"
               rf"|盒|包(?!邮)|罐|箱|把(?!手)|册|件套|色(?!{NOT_A_COLOUR_SET}))")
#: the count itself: a whole number (not 0.5 glued to 10支, not a 2.0 speaker), not a part the offer includes or
#: gives (``+2个话筒``, ``含8个刷头``, ``送10支``); a Chinese numeral only with 装 (两个装); 单 not ending a word
#: (账单本, 菜单本, 订单本 are books) nor before 色 (单色: one colour, a screen's or a print's, not a set of one)
_COUNT = (r"(?:(?<![0-9a-z.+＋含配送赠])\d{1,5}(?![.\d])|(?<![\u4e00-\u9fff])[一两二三四五六七八九十]{1,3}(?=\S{1,2}装)"
          r"|(?<![账菜订清货价名保传表报买购])单(?!色))")
_NUM = rf"(?<![0-9a-z.]){_DIGITS}"  # not inside a code (ih310mb2, ddr4…)
_END = r"(?![a-z0-9])"
#: (label, pattern over lower-cased text, score); earlier patterns win ties on the same span.
UNIT_PATTERNS: list[tuple[str, re.Pattern[str], float]] = [
    (label, re.compile(pattern), score)
    for label, pattern, score in [
        ("capacity", rf"{_NUM}\s*(?:(?:gb|tb|mb|mah){_END}|毫安时?)(?!\s*/\s*s)", 0.9),  # not 180mb/s, a speed
        ("capacity", rf"(?<![0-9a-z.])(?:8|16|32|64|128|256|512|1024)\s*g{_END}", 0.85),
        ("capacity", r"(?<![0-9a-z.])(?:1|2|4|8|16)\s*t(?![a-z0-9恤])", 0.8),
        ("size", rf"{_NUM}(?:\s*[x*×]\s*{_DIGITS}){{1,2}}\s*(?:cm|mm|m|厘米|毫米){_END}", 0.9),
        ("size", rf"{_NUM}\s*(?:英寸|寸|inch(?:es)?{_END}|in{_END}|\"|cm{_END}|mm{_END}|厘米|毫米)", 0.9),
        # a length in metres (a cable's 1.5m, a net's 20米; a specification, as the JD data labels it): not 米黄色 /
        # 米白色 (beige), 米饭, a speed (90m/s), a camera's pixels, a model's end (fx-53m); an upper-case M is
        # never metres (3M, 1200M, 512M: see _units)
        ("specification", rf"(?<!-){_NUM}\s*(?:m(?![a-z0-9/])(?!\s*像素)|米(?![黄白]色|饭))", 0.85),
        ("volume", rf"{_NUM}\s*(?:ml|l|毫升|升(?!级)){_END}", 0.9),
        ("weight", rf"{_NUM}\s*(?:kg|千克|公斤|克|斤){_END}", 0.85),
        # a bare g: not 5G networks, not 22000G (giga: an upper-case G is never grams, see _units)
        ("weight", rf"(?<![0-9a-z.])(?![2-5]\s*g)\d{{1,4}}(?:\.\d+)?\s*g{_END}", 0.8),
        ("power", rf"{_NUM}\s*(?:kw|w|千瓦|瓦){_END}", 0.85),
        # a count of items: 12支, 36支装, 两个装, 单支 (not 支架, 个月, 包邮, 条纹, 单片机)
        ("quantity", rf"{_COUNT}\s*{_CLASSIFIER}装?", 0.8),
        ("model", r"(?<![0-9a-z])[a-z]{1,4}-?\d{2,5}[a-z]{0,3}(?![0-9a-z])", 0.5),
    ]
]
#: a ratio written with 比 right before a measure's digits: ``4比3``120英寸, ``16比10``100寸
_RATIO_BEFORE_NUMBER = re.compile(r"(?<![\d.])(?:16\s*比\s*10|\d{1,2}\s*比\s*\d)(?=\d)")
_MODEL_AFTER_BRAND = re.compile(
    r"\s*((?:[a-z]{0,10}(?:\s|-[a-z]{0,4})?\d+[a-z0-9]*(?:-[a-z0-9]+)*)(?:\s*(?:pro|max|plus|mini|ultra|lite|se|\+))*(?:\s*青春版)?)"
)
#: between two brands of a list: ``联想、华为``, ``苹果/三星``, ``佳能 尼康``, ``MacBook苹果``
_LIST_SEPARATOR = re.compile(r"\s*(?:(?:、|/|,|，|和|及|与)\s*)?")
#: words that sell an accessory in real titles, beside the accessory lexicon's (``贴纸``, ``卡托``)
_ACCESSORY_WORD = re.compile(
    r"贴纸|贴膜|[水软]凝?膜|镜头膜|钢化|手机壳|保护壳|外壳|后壳|[皮硅胶保护内胆耳机]套|内胆包|电脑包|背夹|卡托|卡槽|镜片|表带|腕带"
    r"|臂包|臂套|臂带|支架|底座|手柄|数据线|充电线|转接头|转换器|适配器|充电器|遥控器|墨盒|硒鼓|粉盒|笔芯|替芯|滤芯|配件|键盘膜|防尘"
)
#: a set or bundle sold as one offer (a form, as the JD data labels 套装)
_SET_FORM = re.compile(r"套装|套餐(?![一二三四五六七八九十0-9a-z])|组合装|大礼包")  # not 套餐一, an option's label
#: paper sizes (A4, b5), read only in a title about paper goods and about no device (OPPO A5, 奥迪A4)
_PAPER_SIZE = re.compile(r"(?:(?<![0-9a-z])|(?<=[ab][0-9]))[ab](?:10|[0-9])(?:(?![0-9a-z])|(?=[ab][0-9]))")  # A5B5: two
_PAPER_GOODS = re.compile(r"纸|本|册|夹|文件|资料|打印|复印|画|信封|便签|账|单据|证书|台卡|展示|票|试卷|稿")
_DEVICE_WORDS = re.compile(r"手机|平板|电脑|ipad|保护壳|钢化膜|贴膜|屏幕|英寸|内存|固态|处理器|显卡|相机|镜头|汽车|车载|轿车")
_GIFT = re.compile(r"(?:送|赠)[^\s,，。;；】\])]*")
#: an extra the offer comes with: ``+三脚架经济套餐`` does not make a camera an accessory (not the + of a
#: model: 三星s10+手机壳)
_EXTRA = re.compile(r"(?<![0-9a-z])[+＋][^\s,，。;；】\])+＋]*")
#: a product line's Chinese name before its model (``畅享``9, ``小新``air 13)
_SERIES = re.compile(r"[\u4e00-\u9fff]{1,3}(?=[a-z]{0,8}\s?\d)")
_COLOUR_NAME = re.compile(r"[\u4e00-\u9fff]+[黑白红蓝绿黄紫灰粉银金棕橙青]色?")
_DECIMAL_TAIL = re.compile(r"\.\d")
_YEAR = re.compile(r"\s*(?:19|20)\d\d\s*(?:款|年|新)")
#: bracketed notes a title may open with (``【鼠年浮雕】``) before its first word
_LEADING_NOTES = re.compile(r"\s*(?:[【\[][^】\]]*[】\]]\s*)*")
_SPECIFIC = re.compile(r"\s*(?:专用|通用)")
#: brand aliases that name a line of the brand's devices: in an accessory's text, the device it fits
#: (``ipad保护套``, ``iPhone xr手机壳``), never its maker
DEVICE_LINES = frozenset({"iphone", "ipad", "macbook"})
#: an iPhone's model without digits, after its name (``iphone xr``, ``苹果xs max``, ``iphonese``)
_IPHONE_LETTERS = re.compile(r"\s*((?:x[rs]?(?:\s*max)?|se))(?![a-z])")
_IPHONE_BEFORE = re.compile(r"(?:iphone|苹果)$")
#: where a brand is made, right before its name (``日本樱花``, ``德国进口 斑马``)
_ORIGIN_BEFORE = re.compile(r"(?:日本|德国|韩国|美国|瑞士|法国|英国|意大利)(?:原装)?(?:进口)?\s*$|进口\s*$")
#: a brand the product is compared with (``堪比 美的``, ``长虹同款``): neither its maker nor what it fits
_COMPARED_BEFORE = re.compile(r"(?:堪比|媲美|比肩)\s*$")
_COMPARED_AFTER = re.compile(r"\s*同款")
_TOKEN_START = re.compile(r"(?:^|(?<=[\s\]】|/,，]))")
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: a colour named after a brand, one colour character ending the word: ``柯达黄``, ``苹果灰`` (not ``华为白色``)
_COLOUR_AFTER = re.compile(r"[黑白红蓝绿黄紫灰粉银金棕橙青](?![\u4e00-\u9fff])")


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    label: str
    score: float


@dataclass(frozen=True, slots=True)
class _BrandMention:
    """A brand named in the text: ``parts`` are its spans (two for ``诺芝（NOZI）``)."""

    start: int
    end: int
    key: str
    parts: tuple[tuple[int, int], ...]
    score: float
    pair: bool


class RuleExtractor:
    """Lexicon and pattern rules that emit scored mentions from listing text."""

    name = "rules"
    version = "2"

    def __init__(self, gazetteer: BrandGazetteer | None = None, lexicons: dict[str, Lexicon] | None = None):
        self.gazetteer = gazetteer or default_gazetteer()
        self.lexicons = lexicons or default_lexicons()

    @classmethod
    def with_lexicon_files(
        cls, brands: Iterable[str | Path] = (), product_types: Iterable[str | Path] = ()
    ) -> RuleExtractor:
        """The shipped lexicons plus your own word lists (one word a line; a product type may be
        marked ``word<TAB>accessory``, as in the shipped list). A brand file ending in ``.tsv``
        holds brands with their other names (:func:`read_brands`), such as the brands file an
        extraction writes beside its facts (:func:`write_brands`)."""
        lexicons = dict(default_lexicons())
        extra_types = read_product_types(product_types)
        if extra_types:
            lexicons["product_type"] = Lexicon([*lexicons["product_type"].phrases(), *(word for word, _ in extra_types)])
            lexicons["accessory"] = Lexicon([*lexicons["accessory"].phrases(), *(word for word, accessory in extra_types if accessory)])
        gazetteer = default_gazetteer()
        for path in brands:  # in the order given: a name already known keeps its brand
            is_tsv = Path(path).suffix == ".tsv"
            gazetteer = gazetteer.with_brands(read_brands(path)) if is_tsv else gazetteer.with_words(read_words([path]))
        return cls(gazetteer, lexicons)

    def learn_brands(self, titles: Iterable[str]) -> RuleExtractor:
        """A copy that also knows every brand a title opens with in two scripts: once one
        listing writes ``诺芝（NOZI）``, listings that write ``诺芝`` alone are read too.

        What is learned depends on the titles given: an extraction of some listings only (an
        update) learns less than the full run did, unless it is given the brands the full run
        knew (:func:`write_brands`, read back by :meth:`with_lexicon_files`); brands already
        known are not learned again, so the listings read the same."""
        learned: dict[str, Brand] = {}
        for title in titles:
            text = normalize(title).text
            match = BRAND_PAIR.match(text, len(text) - len(text.lstrip()))
            if not match:
                continue
            parts = [part.strip() for part in match.groups() if part]
            if any(fold(part) in self.gazetteer.by_surface for part in parts) or not self._one_brand(parts):
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
        others = (self._brand_roles(low, compat) + self._lexicon_spans(low) + self._units(low, normalize(text).text)
                  + self._offer_words(low))
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

    def extract_many(self, listings: Sequence[Listing]) -> list[list[Mention]]:
        """Mentions in the title and description of each listing."""
        return [self.extract(listing) for listing in listings]

    def _brands(self, low: str) -> list[_BrandMention]:
        """Every brand the text names, each once: a two-script pair (``诺芝（NOZI）``, one
        candidate per script, as annotators mark them) or a gazetteer name, in text order."""
        found: list[_BrandMention] = []
        for match in BRAND_PAIR.finditer(low):
            parts = [part.strip() for part in match.groups() if part]
            if not _TOKEN_START.match(low, match.start()) or not self._one_brand(parts):
                continue
            score = 0.95 if any(part in self.gazetteer.by_surface for part in parts) else 0.8
            spans = tuple(match.span(group) for group, part in match.groupdict().items() if part)
            found.append(_BrandMention(*match.span(), self.gazetteer.resolve(match.group()).key, spans, score, True))
        for start, end in self._brand_spans(low):
            if not any(m.start < end and start < m.end for m in found):
                key = self.gazetteer.resolve(low[start:end]).key
                found.append(_BrandMention(start, end, key, ((start, end),), 0.9, False))
        return sorted(found, key=lambda m: m.start)

    def _brand_roles(self, low: str, compat: list[_Candidate]) -> list[_Candidate]:
        """Each brand named outside the compatibility patterns, as the product's maker
        (``brand``) or as what it fits (``compatible_brand``, with the model after it):

        - a two-script pair (``尼凡（Nifan）``) names the maker;
        - so does the first brand, where it opens the title (after bracketed notes) or the
          text is no accessory's, unless it names a device (see :meth:`_device_mentions`) or
          the text says elsewhere that the product fits it;
        - a later mention of a maker is the maker again;
        - any other brand is what the product fits: real titles name the devices an accessory
          fits after the maker (``咔咔鱼 联想小新Air 键盘膜``);
        - a brand the product is compared with (``质量堪比 美的``, ``长虹同款``) is neither, nor is
          a name that is also an everyday word where it names a print (:meth:`_named_as_brand`:
          ``网红小熊``).

        So an accessory whose only brand is the one of the device it fits has no maker."""
        fitted_keys = {self.gazetteer.resolve(low[c.start : c.end]).key
                       for c in compat if c.label == "compatible_brand"}
        accessory = COMPAT_TRIGGER.search(low) is not None or self._sells_accessory(low)
        mentions = self._brands(low)
        devices = self._device_mentions(low, mentions, accessory)
        compared = {i for run in self._runs(low, mentions, apart=True)
                    if _COMPARED_BEFORE.search(low, 0, mentions[run[0]].start)
                    or _COMPARED_AFTER.match(low, mentions[run[-1]].end) for i in run}
        opening = _LEADING_NOTES.match(low).end()
        fitted: list[_Candidate] = []
        makers: list[_Candidate] = []
        maker_keys: set[str] = set()
        seen_first = False
        for i, mention in enumerate(mentions):
            if i in compared:
                continue
            parts = [(s, e) for s, e in mention.parts if not any(c.start < e and s < c.end for c in compat)]
            if len(parts) < len(mention.parts):  # 适用于华硕(ASUS): the pair's other half fits too
                fitted += [_Candidate(start, end, "compatible_brand", 0.75) for start, end in parts]
                continue
            if mention.key not in maker_keys and not self._named_as_brand(low, mention, opening):
                continue  # 网红小熊: a print
            first, seen_first = not seen_first, True
            opens = first and (mention.start <= opening or not accessory)
            maker = opens and i not in devices and mention.key not in fitted_keys
            if mention.pair or mention.key in maker_keys or maker:
                maker_keys.add(mention.key)
                makers += [_Candidate(start, end, "brand", mention.score) for start, end in parts]
                continue
            fitted += [_Candidate(start, end, "compatible_brand", 0.75) for start, end in parts]
            model = self._model_at(low, mention.end)
            if model and accessory:
                fitted.append(_Candidate(model.start(1), model.end(1), "compatible_model", 0.7))
        return fitted + makers

    def _named_as_brand(self, low: str, mention: _BrandMention, opening: int) -> bool:
        """Whether a brand mention is one, not a print: any but a name that is also an everyday
        word (:func:`~skugraph.tagging.lexicon.word_brands`), which is one where it opens the title,
        is written in two scripts, follows an origin (``日本樱花``) or comes before 牌, or where the
        title names the brand otherwise too (``樱花针管笔sakura``)."""
        surface = low[mention.start : mention.end]
        if mention.pair or surface not in word_brands() or mention.start <= opening:
            return True
        if _ORIGIN_BEFORE.search(low, 0, mention.start) or low.startswith("牌", mention.end):
            return True
        brand = self.gazetteer.by_surface.get(fold(surface))
        return brand is not None and any(fold(name) != surface and fold(name) in low for name in (brand.name, *brand.aliases))

    def _sells_accessory(self, low: str) -> bool:
        """Whether the text names an accessory other than as a gift (``送钢化膜``) or an extra (``+三脚架``)."""
        sold = _EXTRA.sub(" ", _GIFT.sub(" ", low))
        return bool(self.lexicons["accessory"].find(sold)) or _ACCESSORY_WORD.search(sold) is not None

    def _device_mentions(self, low: str, mentions: list[_BrandMention], accessory: bool) -> set[int]:
        """Indices of the brand mentions that name a device rather than a maker: a list of
        three brands and more (``佳能 尼康 索尼``, ``华为小米苹果``) or brands followed by
        ``通用``/``专用``; in an accessory's text also two brands written together or with a
        list mark (``华为荣耀``, ``苹果/三星``: a maker and what it fits are written apart,
        ``咔咔鱼 联想``), a brand followed by a model (``小米8``, ``小米平板4``) and a line of
        devices (:data:`DEVICE_LINES`: ``ipad保护套``); in any text a maker's name written together
        with a model past the title's opening (``…耳机 oppoa33``)."""
        opening = _LEADING_NOTES.match(low).end()
        # a maker's name written together with a model, past the title's opening: the device (…耳机 OPPOA33)
        devices = {i for i, mention in enumerate(mentions) if mention.start > opening and _glued(low, mention)}
        for run in self._runs(low, mentions, apart=True):
            if len({mentions[i].key for i in run}) >= 3 or _SPECIFIC.match(low, mentions[run[-1]].end):
                devices.update(run)
        if not accessory:
            return devices
        devices.update(i for i, mention in enumerate(mentions) if low[mention.start : mention.end] in DEVICE_LINES)
        for run in self._runs(low, mentions, apart=False):
            if len({mentions[i].key for i in run}) >= 2 or self._device_model_at(low, mentions[run[-1]].end):
                devices.update(run)
        return devices

    def _device_model_at(self, low: str, position: int) -> bool:
        """Whether a model follows: directly (``小米8``), after a product word (``小米平板4``), a
        series name (``华为畅享9``, ``联想小新air 13``) or a device word and a series name
        (``华硕笔记本电脑顽石a407``; not after an accessory word: in ``绿联充电器华为p30`` the
        maker's charger fits a Huawei)."""
        product = self._match_at(self.lexicons["product_type"], low, position)
        if product:
            position = product[1]
        after_accessory = product is not None and self._match_at(self.lexicons["accessory"], low, product[0]) is not None
        if not after_accessory and (series := _SERIES.match(low, position)):
            words = self.lexicons["product_type"].find(low[position : series.end() + 4])
            if not any(start < series.end() - position for start, _ in words):
                position = series.end()
        return self._model_at(low, position) is not None

    @staticmethod
    def _runs(low: str, mentions: list[_BrandMention], apart: bool) -> list[list[int]]:
        """Mention indices grouped into runs of neighbours with at most a list mark between
        them; unless ``apart``, two different brands with only a space between are two runs."""
        runs: list[list[int]] = []
        for i, mention in enumerate(mentions):
            if runs:
                left = mentions[runs[-1][-1]]
                gap = low[left.end : mention.start]
                spaced = gap.isspace() and left.key != mention.key
                if _LIST_SEPARATOR.match(low, left.end).end() == mention.start and (apart or not spaced):
                    runs[-1].append(i)
                    continue
            runs.append([i])
        return runs

    def _one_brand(self, parts: list[str]) -> bool:
        """Whether the two names of ``诺芝（NOZI）`` or ``X/Y`` can be one brand: each a known brand or
        a brand name at all (not 本子/A5, a model code, a colour, a product word), and not two
        brands the gazetteer knows apart (vivo/华为)."""
        if self.gazetteer.known_apart(parts):
            return False
        return all(fold(p) in self.gazetteer.by_surface or (is_brand_name(p) and not self._is_attribute_word(p)) for p in parts)

    def _is_attribute_word(self, word: str) -> bool:
        """A colour, material or product word (``黑色``, ``宝石蓝``, ``黑色升级``), or a
        compatibility phrase (``适用神舟``): not a brand, though written in two scripts."""
        return (any(word in self.lexicons[label] for label in ("colour", "material", "product_type"))
                or _COLOUR_NAME.fullmatch(word) is not None or COMPAT_TRIGGER.match(fold(word)) is not None
                or self._match_at(self.lexicons["colour"], fold(word), 0) is not None)

    def _brand_spans(self, low: str) -> list[tuple[int, int]]:
        """The gazetteer's brand names in the text, less those inside a longer word (:meth:`_inside_word`),
        and a device maker's name written together with its model (:data:`~skugraph.tagging.lexicon.GLUED_DEVICE`)."""
        spans = [(start, end) for start, end in self.gazetteer.lexicon.find(low) if not self._inside_word(low, start, end)]
        glued = [m.span() for m in GLUED_DEVICE.finditer(low) if m.group() in self.gazetteer.by_surface]
        return sorted(spans + [g for g in glued if not any(s < g[1] and g[0] < e for s, e in spans)])

    def _brand_at(self, low: str, position: int) -> tuple[int, int] | None:
        """The brand name that starts at ``position``, unless inside a longer word."""
        brand = self._match_at(self.gazetteer.lexicon, low, position)
        return brand if brand and not self._inside_word(low, *brand) else None

    def _inside_word(self, low: str, start: int, end: int) -> bool:
        """Whether the Chinese brand name at ``start:end`` is only part of a longer word: a colour
        named after it (``柯达黄``) or a word jieba cuts around it (:func:`_word_around`: ``老板桌``,
        ``王者荣耀``, ``布朗熊``) — unless that word is the brand and a product word (``苹果电脑``)
        or a series before its model (``联想昭阳E53``). A brand glued to text that jieba cuts apart
        from it stays a brand (``得力文件架``, ``晨光按动中性笔``)."""
        if not (_CJK.match(low[start]) and _CJK.match(low[end - 1])):
            return False
        if _COLOUR_AFTER.match(low, end):
            return True
        word = _word_around(low, start, end)
        if word is None:
            return False
        rest = low[end : word[1]]
        product = self._match_at(self.lexicons["product_type"], low, end) is not None
        return not (word[0] == start and (rest in GENERIC_WORDS or product or self._model_at(low, word[1]) is not None))

    def _lexicon_spans(self, low: str) -> list[_Candidate]:
        """Colours, materials and product words; not a product word that jieba's word goes on
        after (``鼠标``垫, ``铅笔``盒: Chinese names the kind of thing last, and 鼠标垫 is a pad)."""
        scores = {"colour": 0.85, "material": 0.8, "product_type": 0.7}
        return [
            _Candidate(start, end, label, score)
            for label, score in scores.items()
            for start, end in self.lexicons[label].find(low)
            if label != "product_type" or (word := _word_around(low, start, end)) is None or word[1] == end
        ]

    def _units(self, low: str, cased: str) -> list[_Candidate]:
        """Measures; ``cased``: the text before lower-casing, where an upper-case bare G (8G, 2400G)
        is giga, never grams, and an upper-case M never metres (3M, 1200M). A ratio's digits are kept
        off the measure after it (``4比3120英寸``)."""
        apart = _RATIO_BEFORE_NUMBER.sub(lambda ratio: "|" * len(ratio.group()), low)
        return [
            _Candidate(m.start(), m.end(), label, score)
            for label, pattern, score in UNIT_PATTERNS
            for m in pattern.finditer(apart)
            if not (len(cased) == len(low) and (label == "weight" and cased[m.end() - 1] == "G" and low[m.end() - 2] != "k"
                                                or label == "specification" and cased[m.end() - 1] == "M"))
        ]

    @staticmethod
    def _offer_words(low: str) -> list[_Candidate]:
        """What one offer is beside its measures: a set (``套装``, a form) and, in a title about
        paper goods and no device, a paper size (``a4``, a specification, as the JD data labels it:
        a title listing A4 and A5 names what it comes in, not which one it is)."""
        found = [_Candidate(m.start(), m.end(), "form", 0.7) for m in _SET_FORM.finditer(low)]
        if _PAPER_GOODS.search(low) and not _DEVICE_WORDS.search(low):
            found += [_Candidate(m.start(), m.end(), "specification", 0.8) for m in _PAPER_SIZE.finditer(low)]
        return found

    def _match_at(self, lexicon: Lexicon, low: str, position: int) -> tuple[int, int] | None:
        window = low[position : position + 32]
        spans = lexicon.find(window)
        if spans and spans[0][0] == 0:
            return position, position + spans[0][1]
        return None

    def _compatibility(self, low: str) -> list[_Candidate]:
        """``适用于华为P60手机``, ``for iPhone 15 Pro``, ``小米专用``: what the product fits."""
        found: list[_Candidate] = []
        for trigger in COMPAT_TRIGGER.finditer(low):
            position = trigger.end()
            while brand := self._brand_at(low, position):  # 适配联想、华为等
                found.append(_Candidate(*brand, "compatible_brand", 0.85))
                position = brand[1]
                model = self._model_at(low, position)
                if model:
                    found.append(_Candidate(model.start(1), model.end(1), "compatible_model", 0.75))
                    position = model.end(1)
                separator = _LIST_SEPARATOR.match(low, position)
                if not separator or not self._brand_at(low, separator.end()):
                    break
                position = separator.end()
            position += len(low[position:]) - len(low[position:].lstrip())
            if low.startswith("等", position):
                position += 1
            product = self._match_at(self.lexicons["product_type"], low, position)
            if product and not self._match_at(self.lexicons["accessory"], low, position):  # not 适用X 电脑包
                found.append(_Candidate(*product, "compatible_product", 0.8))
        brands = self._brand_spans(low)
        for start, end in brands:
            if any(c.start <= start < c.end for c in found) or low[start:end] in word_brands():
                continue
            if _SPECIFIC.match(low, end):
                found.append(_Candidate(start, end, "compatible_brand", 0.8))
            else:
                maker_before = any(s < start for s, _ in brands) or BRAND_PAIR.match(low) is not None
                found += self._brand_before_accessory(low, start, end, maker_before)
        return found

    @staticmethod
    def _model_at(low: str, position: int) -> re.Match[str] | None:
        """A model name right after a brand (``P20``, ``15 pro max``, ``sm-t550``; after an iPhone's
        name also ``xr``, ``xs max``), but not a quantity like ``65w`` or ``15.6英寸``, nor a year
        (``2019款``)."""
        model = _MODEL_AFTER_BRAND.match(low, position)
        if not model or not model.group(1) or _DECIMAL_TAIL.match(low, model.end(1)):  # 苹果xr6.1寸: xr
            return _IPHONE_LETTERS.match(low, position) if _IPHONE_BEFORE.search(low, 0, position) else None
        if _YEAR.match(low, position):
            return None
        number = model.start(1) + re.search(r"\d", model.group(1)).start()  # RedmiBook 14英寸: a size
        if any(label not in ("model", "specification")  # a length in metres is no veto: 小米10M, fx-53m
               and (pattern.fullmatch(model.group(1)) or pattern.match(low, model.start(1)) or pattern.match(low, number))
               for label, pattern, _ in UNIT_PATTERNS):
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


def _glued(low: str, mention: _BrandMention) -> bool:
    """Whether the mention is a maker's name written together with its model (``oppoa33``)."""
    glued = GLUED_DEVICE.match(low, mention.start)
    return glued is not None and glued.end() == mention.end


def _word_around(low: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the longer word jieba (knowing ``not_brands.txt``) cuts around the Chinese text
    at ``start:end``, if any, in its run of Chinese characters after any ``适用于`` (jieba would cut
    ``于微软``)."""
    if not (_CJK.match(low[start]) and _CJK.match(low[end - 1])):
        return None
    run_start, run_end = start, end
    while run_start > 0 and _CJK.match(low[run_start - 1]):
        run_start -= 1
    while run_end < len(low) and _CJK.match(low[run_end]):
        run_end += 1
    if any(trigger.end() == start for trigger in COMPAT_TRIGGER.finditer(low, run_start, start)):
        run_start = start
    if (run_start, run_end) == (start, end):
        return None
    position = run_start
    for word in _cut(low[run_start:run_end]):
        word_start, position = position, position + len(word)
        if position <= start:
            continue
        if word_start > start or position < end or position - word_start == end - start:
            return None  # the text is a word, or jieba cuts inside it
        return word_start, position
    return None


@lru_cache(maxsize=65536)
def _cut(text: str) -> tuple[str, ...]:
    """jieba's words of a run of Chinese text (:func:`~skugraph.tagging.lexicon.word_cutter`)."""
    return tuple(word_cutter().lcut(text, HMM=False))


def added_brands(gazetteer: BrandGazetteer) -> list[Brand]:
    """The brands ``gazetteer`` knows beyond the shipped ones (brand files, learned brands), in
    the order they were added."""
    shipped = set(default_gazetteer().by_surface.values())
    return [brand for brand in dict.fromkeys(gazetteer.by_surface.values()) if brand not in shipped]


_BRANDS_HEADER = ("# Brands known beyond the shipped list: key, name, another name, more names (comma-separated).\n"
                  "# Give this file to `skugraph extract --brands` so an update reads listings as this run did.\n")


def write_brands(gazetteer: BrandGazetteer, path: Path) -> None:
    """Write :func:`added_brands` as tab-separated rows, the shipped ``brands.tsv``'s format."""
    rows = [f"{b.key}\t{b.name}\t{b.aliases[0] if b.aliases else ''}\t{','.join(b.aliases[1:])}\n"
            for b in added_brands(gazetteer)]
    path.write_text(_BRANDS_HEADER + "".join(rows), "utf-8")


def read_brands(path: str | Path) -> list[Brand]:
    """Brands from a tab-separated file as :func:`write_brands` writes it (:func:`~skugraph.tagging.lexicon.parse_brands`)."""
    return parse_brands(Path(path).read_text("utf-8"), str(path))
