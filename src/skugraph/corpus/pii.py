"""Personal data scrubbing: phone numbers, e-mail addresses, ID-card and bank-card numbers,
street addresses, order numbers and names after cues such as 收件人, masked before
anything is stored or indexed.

Masking keeps the length (``*`` for each character), so every character offset into a
scrubbed text is the offset into the original; a listing keeps only the type and offsets
of what was masked (:class:`~skugraph.records.Redaction`), never the value.

Detection is by pattern plus validation: ID-card checksums (GB 11643), Luhn for bank
cards, cue words for order numbers and names, address structure (two levels of province /
city / district / road and number / estate / building and room, or one after a cue such as
地址). Product titles are full of place words used as product vocabulary (幼儿园, 广场舞,
公寓, 校园, 服务中心) and of honorifics inside product words (女士用, 男女士款): neither is
masked (``benchmarks/pii.py --titles`` measures this on 20,000 real JD titles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import jieba

from skugraph.corpus.normalize import fold
from skugraph.records import Listing, Redaction

jieba.setLogLevel(60)  # no dictionary-loading chatter on stderr

PII_TYPES = ("order_number", "email", "id_card", "bank_card", "phone", "address", "name")  # precedence on overlap
MASK = "*"

_CJK = "\u4e00-\u9fff"


# -- patterns --------------------------------------------------------------------------------

_SEP = r"[\s\-]?"
_MOBILE = re.compile(rf"(?<![\d+])(?<!\d[\s\-])(?:[(（]?(?:\+|00)\s?86[)）]?{_SEP})?1[3-9]\d(?:{_SEP}\d{{4}}){{2}}(?!\d)")
_LANDLINE = re.compile(r"(?<![\d+])(?<!\d[\s\-])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[\s\-]?[2-9]\d{2,3}[\s\-]?\d{4}(?:(?:转|-|\s?ext\.?\s?)\d{1,5})?(?!\d)")
_INTERNATIONAL = re.compile(r"(?<![A-Za-z0-9_+])(?<!\d[\s\-])(?:\+|00)(?!86)[1-9]\d{0,2}[\s\-]?(?:\(\d{1,4}\)[\s\-]?)?\d{1,4}(?:[\s\-]?\d{2,4}){1,4}(?!\d)")
# after 00 and a country code a number never starts with 0: "0032 0047 0031" is a list of model codes
_INTERNATIONAL_LOOKALIKE = re.compile(r"00\d{1,3}[\s\-]0")
_EMAIL = re.compile(r"(?<![A-Za-z0-9_.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_ID_CARD = re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])")
_BANK_CARD = re.compile(r"(?<![\d\-])[3-6]\d{3}(?:[\s\-]?\d){11,15}(?![\d\-])")
_ORDER = re.compile(
    r"(?:订单号|订单编号|订单|运单号|快递单号|物流单号|发货单号|发货单上写着|发货单|单号|order\s*(?:no\.?|number|id|#)|tracking\s*(?:no\.?|number|#))"
    r"\s*(?:是|为|:|：|#)?\s*(?P<value>[A-Za-z0-9]{0,4}\d[\d\-]{5,30}[A-Za-z\d]*)",
    re.IGNORECASE,
)
_PROVINCES = (
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州|云南|"
    "陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
_NUMBER = r"[0-9一二三四五六七八九十百零〇]+"
_ROAD = rf"[{_CJK}A-Za-z0-9]{{1,10}}?(?:路|街|大道|大街|道|巷|弄|胡同|里)(?:[东西南北中]段)?"
_BUILDING = rf"(?:[{_CJK}A-Za-z]{{2,12}}(?:小区|花园|公寓|大厦|广场|商城|苑|园|城|村|中心)(?:小区|社区)?)"
_UNIT = rf"(?:{_NUMBER}|[A-Za-z]\d*|\d+[A-Za-z]?|[东西南北中])(?:-\d+)*(?:号楼|栋|幢|座|单元|层|楼|室|号|户|区|期|塔)"
_CHINESE_ADDRESS = re.compile(
    rf"(?P<province>(?:{_PROVINCES})(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?)?"
    rf"(?P<city>(?:[{_CJK}]{{2,4}}?(?:市|州|盟)){{0,2}})(?P<district>[{_CJK}]{{1,5}}?(?:区|县|旗))?(?P<town>[{_CJK}]{{1,5}}?(?:镇|乡|街道))?"
    rf"(?:(?P<road>{_ROAD}(?:{_NUMBER}|[A-Za-z]\d{{0,4}})号)(?:院)?(?P<estate>{_BUILDING})?|(?P<building>{_BUILDING}))(?P<units>(?:{_UNIT})*)"
    rf"(?P<room>{_NUMBER}(?![号\d]))?"
)
# common nouns that end like a city, district or town; none ends a real place name (成都市, 东城区,
# 中山区 and 苏州工业园区 are why 都市, 城区, 山区 and 园区 are not here)
_PLACE_LOOKALIKES = (
    "超市", "上市", "夜市", "集市", "股市", "菜市", "花市", "街市", "闹市", "黑市",
    "小区", "分区", "专区", "景区", "校区", "社区", "展区", "街区", "厂区", "营区", "误区", "雷区", "市区", "片区",
    "辖区", "灾区", "商区", "游区", "战区", "赛区", "盲区", "库区", "病区", "学区", "功能区", "工作区", "存储区", "收纳区",
    "城镇", "乡镇", "冰镇", "重镇", "家乡", "故乡", "城乡", "水乡", "他乡", "异乡", "梦乡",
)
_ADDRESS_CUE = re.compile(rf"[{_CJK}]{{0,6}}?(?:地址|寄到|送到|发到|住在|住址|家在)(?:是|为)?")
_CUE_BEFORE = re.compile(r"(?:地址|寄到|送到|发到|寄往|送往|寄至|送至|发往|放到|住址|我家|寄|在)(?:是|为)?\s*[:：]?\s*$")
_ENGLISH_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Z]?\s(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Parkway|Pkwy|Highway|Hwy|Square|Sq|Terrace)\b\.?"
    r"(?:,?\s(?:Apt|Suite|Unit|Flat)\.?\s?#?\w+)?(?:,\s[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?(?:,\s[A-Z]{2}(?:\s\d{5}(?:-\d{4})?)?)?"
)
_NAME_CUE = re.compile(
    rf"(?:收件人|收货人|联系人|寄件人|签收人|取件人|姓名|户名|持卡人)\s*(?P<colon>是|为|:|：)?\s*(?P<run>[{_CJK}·]{{2,5}})"
)
_ENGLISH_NAME_CUE = re.compile(r"(?:Name|Recipient|Attn|Contact|Ship to)\s*[:：]?\s*(?P<run>[A-Z][a-z]+(?:\s[A-Z][a-z]+){1,2})")
_NAME_BEFORE_ADDRESS = re.compile(r"(?<![A-Za-z])(?P<run>[A-Z][a-z]+ [A-Z][a-z]+),\s(?=\d{1,5}[A-Z]?\s[A-Z])")
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "令狐", "司徒", "夏侯", "公孙", "尉迟", "长孙", "宇文", "南宫")
_WEAK_NAME_CUE = re.compile(rf"(?:联系|找|给|交给|转交)(?P<run>[{_CJK}]{{2,4}}?)(?=[，。,、\s先女小]|$)")
_HONORIFIC = re.compile(rf"(?P<run>[{_CJK}]{{1,4}}?)(?:先生|女士|小姐)")
# 李先生 is a name only in a sentence (see _honorific_name_start)
_HONORIFIC_CUE = re.compile(
    r"(?:谢谢|感谢|麻烦|请|联系|找|给|交给|转交|致|尊敬的|是|收件人|收货人|联系人|寄件人|签收人"
    r"|客服|快递员|快递小哥|小哥|配送员|送货员|司机|师傅|店主|老板|卖家)$"
)
_NOT_IN_GIVEN_NAME = re.compile(r"[的了是和在这那个位们与跟男女]")  # 简约男女士 is not 简约
_PAUSE = re.compile(r"(?:^|[\s，。,.;；:：!！?？、])$")
_PRODUCT_AFTER_HONORIFIC = re.compile(r"[用款式装包鞋衣裤帽袜]|手表|腕表|手提|手套|系列|套装|礼盒|礼品|礼物|同款|钱包|服装|围巾|香水|护肤|化妆")
_SENTENCE_AFTER_HONORIFIC = re.compile(r"$|[\s，。,.;；:：!！?？、(（]|收|帮|的|不|电话|手机|说|您|你|已|在|来|负责|签收|好|是|和|让|打")
_NOT_NAMES = ("商家", "客服", "卖家", "快递", "我们", "他们", "你们", "店家", "物流", "售后", "厂家", "小二")
_AFTER_NAME = re.compile(r"电话|手机|地址|联系|先生|女士|小姐|同学|老师|收|的|寄|已|在|说|，|。")


@dataclass(frozen=True, slots=True)
class PiiSpan:
    start: int
    end: int
    type: str


def _id_card_valid(number: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _name_end(start: int, run: str) -> int:
    """Where a name read after a cue ends: before words that follow names, at most
    surname + two characters (three after a compound surname)."""
    stop = _AFTER_NAME.search(run, 1)
    if stop:
        run = run[: stop.start()]
    longest = 4 if run[:2] in _COMPOUND_SURNAMES else 3
    return start + min(len(run), longest)


def _starts_with_surname(run: str) -> bool:
    return run[0] in _SURNAMES or run[:2] in _COMPOUND_SURNAMES


def _name_words_start(text: str, start: int, end: int) -> int:
    """Start of the words that can make a name right before ``end`` (before 先生/小姐): jieba's
    words there while they add up to at most three characters (four with a compound
    surname), or one word that starts with a surname; 谢谢孙立先生 gives 孙立, not 谢孙立."""
    taken = 0
    for i, word in enumerate(reversed(jieba.lcut(text[start:end], HMM=False))):
        fits = taken + len(word) <= 3 or (word in _COMPOUND_SURNAMES and taken <= 2)
        if fits or (i == 0 and _starts_with_surname(word) and len(word) <= 4):
            taken += len(word)
        else:
            break
    return end - min(taken, 4)


def _honorific_name_start(text: str, start: int, end: int, after: int) -> int | None:
    """Start of the surname + given name (at most two characters, three after a compound
    surname) ending at ``end`` before 先生/女士/小姐, where ``after`` is the text after the
    honorific. Never before product words (女士用, 男女士款); right after a cue word or a role
    (谢谢, 麻烦, 收货人, 快递员 …) always; otherwise only before what people write after a name
    (收, 帮忙, 电话, a comma), so 乔先生超厚笔记本 and 包男女士防震 are not names."""
    if _PRODUCT_AFTER_HONORIFIC.match(text, after):
        return None
    starts = [begin for begin in range(max(start, end - 4), end)
              if (text[begin : begin + 2] in _COMPOUND_SURNAMES or (text[begin] in _SURNAMES and end - begin <= 3))
              and not _NOT_IN_GIVEN_NAME.search(text, begin + 1, end)]
    for begin in starts:
        if _HONORIFIC_CUE.search(text, 0, begin):
            return begin
    if not starts or not _SENTENCE_AFTER_HONORIFIC.match(text, after):
        return None
    return next((begin for begin in starts if _PAUSE.search(text, 0, begin)), starts[0])


def find_pii(text: str) -> list[PiiSpan]:
    """Personal data in ``text``: non-overlapping spans in order; on overlap the type first in
    :data:`PII_TYPES` wins, then the longer span."""
    folded = fold(text, width_only=True, lowercase=False)  # one character for one: offsets carry over
    found: list[PiiSpan] = []
    for match in _ORDER.finditer(folded):
        found.append(PiiSpan(*match.span("value"), "order_number"))
    found += [PiiSpan(*m.span(), "email") for m in _EMAIL.finditer(folded)]
    found += [PiiSpan(*m.span(), "id_card") for m in _ID_CARD.finditer(folded) if _id_card_valid(m.group())]
    for match in _BANK_CARD.finditer(folded):
        if _luhn_valid(_digits(match.group())):
            found.append(PiiSpan(*match.span(), "bank_card"))
    found += [PiiSpan(*m.span(), "phone") for pattern in (_MOBILE, _LANDLINE) for m in pattern.finditer(folded)]
    for match in _INTERNATIONAL.finditer(folded):
        if 9 <= len(_digits(match.group())) <= 15 and not _INTERNATIONAL_LOOKALIKE.match(match.group()):
            found.append(PiiSpan(*match.span(), "phone"))
    found += _chinese_addresses(folded)
    found += [PiiSpan(*m.span(), "address") for m in _ENGLISH_ADDRESS.finditer(folded)]
    for match in _NAME_CUE.finditer(folded):
        start, run = match.start("run"), match.group("run")
        end = _name_end(start, run)
        # after 收件人： anything is a name; after a bare 收件人 only a surname starts one (收件人信息 is not)
        if end - start >= 2 and (match.group("colon") or _starts_with_surname(run)):
            found.append(PiiSpan(start, end, "name"))
    found += [PiiSpan(*m.span("run"), "name") for pattern in (_ENGLISH_NAME_CUE, _NAME_BEFORE_ADDRESS) for m in pattern.finditer(folded)]
    for match in _WEAK_NAME_CUE.finditer(folded):
        run = match.group("run")
        if _starts_with_surname(run) and (len(run) <= 3 or run[:2] in _COMPOUND_SURNAMES) and run[:2] not in _NOT_NAMES:
            found.append(PiiSpan(*match.span("run"), "name"))
    for match in _HONORIFIC.finditer(folded):
        end = match.end("run")
        start = _honorific_name_start(folded, _name_words_start(folded, match.start("run"), end), end, match.end())
        if start is not None:
            found.append(PiiSpan(start, end, "name"))
    return _resolve(found)


def _chinese_addresses(text: str) -> list[PiiSpan]:
    """Chinese street addresses with real structure, two levels at least: a road and house
    number beside a province, city, district, town, estate or building number; an estate with
    a building, unit or room number under a province, city or district; an estate under two
    of those. After a cue such as 地址 or 寄到 one level besides the estate is enough. An
    estate word alone (幼儿园, 广场, 公寓, 服务中心) is product vocabulary, never an address.
    A rejected candidate is searched again from its next character, so it cannot swallow
    the start of a real address."""
    spans = []
    position = 0
    while match := _CHINESE_ADDRESS.search(text, position):
        start = _address_start(text, *match.span())
        if match.end() - start >= 5 and _has_address_structure(match, text[:start]):
            spans.append(PiiSpan(start, match.end(), "address"))
            position = match.end()
        else:
            position = match.start() + 1
    return spans


def _has_address_structure(match: re.Match[str], before: str) -> bool:
    """Whether a candidate has the levels :func:`_chinese_addresses` asks for; ``before`` is the
    text before it, where a cue may stand."""
    admin = sum(_is_place(match.group(level)) for level in ("province", "city", "district", "town"))
    numbers = (match.group("units") or "") + (match.group("room") or "")
    numbered = bool(re.search(r"\d|号楼|栋|幢|单元|室", numbers))
    cue = bool(_CUE_BEFORE.search(before))
    if match.group("road"):
        return bool(admin or match.group("estate") or numbered or cue)
    return numbered and (admin >= 1 or cue) or admin >= 2 or admin >= 1 and cue


def _is_place(level: str | None) -> bool:
    """Whether a matched province, city, district or town level names a place (超市, 小区 and
    景区 end like one and are not)."""
    return bool(level) and not level.endswith(_PLACE_LOOKALIKES)


def _address_start(text: str, start: int, end: int) -> int:
    """Where a matched address begins. The match may have swallowed words before it (东西放
    成都市…, 寄到…): after a cue it starts after the cue; at a province name near its start
    it starts there; otherwise the words before its first 市/区/县 are cut with jieba and the
    address starts at the place name (成都市, not 放成都市)."""
    head = text[start:end]
    cue = _ADDRESS_CUE.match(head)
    if cue:
        return start + cue.end()
    province = re.search(_PROVINCES, head[:6])
    if province:
        return start + province.start()
    admin = re.search(r"[市区县州]", head[:7])
    if not admin:
        return start
    words = jieba.lcut(head[: admin.end()], HMM=False)
    place = words[-1]
    if len(words) > 1 and (len(place) == 1 or (len(place) == 2 and len(words[-2]) == 1)):  # 成都 市, 中 山区
        place = words[-2] + place
    return start + admin.end() - len(place)


def _resolve(spans: list[PiiSpan]) -> list[PiiSpan]:
    rank = {name: i for i, name in enumerate(PII_TYPES)}
    chosen: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (rank[s.type], s.start - s.end)):
        if all(span.end <= other.start or other.end <= span.start for other in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def scrub(text: str) -> tuple[str, list[PiiSpan]]:
    """``text`` with its personal data masked (same length), and what was masked."""
    spans = find_pii(text)
    if not spans:
        return text, []
    chars = list(text)
    for span in spans:
        chars[span.start : span.end] = MASK * (span.end - span.start)
    return "".join(chars), spans


def scrub_listing(listing: Listing) -> Listing:
    """The listing with personal data masked in every text field and the redactions recorded."""
    redactions = list(listing.redactions)
    fields = {}
    for name in ("title", "description"):
        fields[name], spans = scrub(getattr(listing, name))
        redactions += [Redaction(name, s.start, s.end, s.type) for s in spans]
    reviews = []
    for i, review in enumerate(listing.reviews):
        text, spans = scrub(review.text)
        reviews.append(replace(review, text=text) if spans else review)
        redactions += [Redaction(f"reviews[{i}]", s.start, s.end, s.type) for s in spans]
    if len(redactions) == len(listing.redactions):
        return listing
    return replace(listing, **fields, reviews=tuple(reviews), redactions=tuple(redactions))

