"""A generated test set for PII scrubbing: review texts with personal data in realistic
formats (Chinese mobiles with and without separators, landlines with extensions, foreign
numbers, e-mail addresses, ID-card numbers with valid checksums, Luhn-valid bank cards,
Chinese and English street addresses, order and tracking numbers, names after cues),
mixed with look-alikes that are not personal (capacities, prices, dates, bar codes,
model numbers, shop hotlines). Every value is made up by the generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from skugraph.corpus.pii import PiiSpan

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
COMPOUND_SURNAMES = ["欧阳", "司马", "诸葛", "上官", "慕容", "司徒"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆帅旭宁婷雪琳晨欣怡佳悦子涵轩梓睿博文"
PROVINCES = [("北京市", ""), ("上海市", ""), ("天津市", ""), ("重庆市", ""), ("广东省", "深圳市"), ("广东省", "广州市"),
             ("浙江省", "杭州市"), ("江苏省", "南京市"), ("江苏省", "苏州市"), ("四川省", "成都市"), ("湖北省", "武汉市"),
             ("山东省", "青岛市"), ("福建省", "厦门市"), ("河南省", "郑州市"), ("陕西省", "西安市"), ("湖南省", "长沙市"),
             ("辽宁省", "大连市"), ("安徽省", "合肥市"), ("云南省", "昆明市"), ("广西壮族自治区", "南宁市")]
DISTRICTS = ["朝阳区", "海淀区", "浦东新区", "徐汇区", "南山区", "福田区", "天河区", "西湖区", "鼓楼区", "武侯区", "江汉区",
             "市南区", "思明区", "金水区", "雁塔区", "岳麓区", "中山区", "蜀山区", "五华区", "青秀区", "昌平区", "余杭区"]
ROADS = ["建国路", "中山路", "人民路", "解放路", "文三路", "科技园南路", "天府大道", "长安街", "淮海中路", "南京东路", "学院路",
         "滨江大道", "新华街", "和平里", "东风路", "光明巷", "幸福大街", "春熙路", "延安西路", "曙光路"]
COMMUNITIES = ["阳光花园", "金色家园小区", "华星时代广场", "万科城", "碧桂园", "世纪公寓", "创业大厦", "翠湖苑", "东方明珠城",
               "绿地中心", "幸福里小区", "海景花园"]
TOWNS = ["城关镇", "新塘镇", "石岩街道", "龙华街道", "西乡街道"]
EN_FIRST = ["John", "Emily", "Michael", "Sarah", "David", "Laura", "James", "Anna", "Robert", "Linda", "Kevin", "Grace"]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Lewis", "Walker", "Young", "King"]
EN_STREETS = ["Main Street", "Oak Avenue", "Maple Road", "Park Lane", "Sunset Boulevard", "Elm St", "Pine Ave", "Cedar Drive",
              "Lake Road", "Hill Street", "Market St", "River Way"]
EN_CITIES = ["Springfield", "Portland", "Austin", "Denver", "Boston", "San Jose", "Seattle", "Madison"]
EN_STATES = ["CA", "TX", "WA", "NY", "OR", "CO", "MA", "WI"]
MAIL_DOMAINS = ["163.com", "qq.com", "126.com", "gmail.com", "outlook.com", "sina.com.cn", "foxmail.com", "yahoo.co.jp",
                "company.com.cn", "mail.example.org"]
PINYIN = ["zhangwei", "wang.fang", "li_na", "liuyang", "chen.jie", "yang_lei", "huangmin", "zhao.qiang", "wu.jing", "zhou88",
          "xu_tao", "sun.li", "ma.chao", "linlin", "happy.cat", "tom.lee", "amy_w", "k.zhang2019"]
ID_REGIONS = ["110105", "310104", "440305", "330106", "510107", "420106", "370202", "350203", "410105", "610113"]
BANK_PREFIXES = [("622202", 19), ("621700", 19), ("622848", 19), ("622588", 16), ("436742", 16), ("524091", 16),
                 ("622700", 19), ("625911", 16), ("601382", 19)]
AREA_CODES = ["010", "021", "022", "023", "020", "0755", "0571", "025", "028", "027", "0532", "0592", "0371", "029"]
FOREIGN = [("+1", "({a}) {b}-{c}", (3, 3, 4)), ("+44", "{a} {b} {c}", (2, 4, 4)), ("+852", "{a} {b}", (4, 4, 0)),
           ("+81", "{a}-{b}-{c}", (1, 4, 4)), ("+65", "{a} {b}", (4, 4, 0)), ("+61", "{a} {b} {c}", (1, 4, 4)),
           ("+49", "{a} {b}", (2, 8, 0)), ("+82", "{a}-{b}-{c}", (2, 4, 4))]

OPENINGS = ["东西收到了，质量不错", "物流很快，包装完好", "用了一周再来评价，整体满意", "客服态度很好", "跟描述的不太一样",
            "第二次购买了，值得推荐", "颜色有点色差，其他还行", "价格实惠，性价比高", "做工一般，凑合用吧", "孩子很喜欢",
            "电池续航比想象中好", "尺码偏小，建议买大一号"]
LOOKALIKES = ["256GB内存够用", "15.6英寸屏幕很清晰", "价格199元很划算", "2023年5月12日下单", "条码6901234567892",
              "型号SN1356", "iPhone 15 Pro Max可以用", "买了3次了", "功率1200W", "第2代比第1代好", "保质期至2025-06-30",
              "快递3天到", "固件版本v2.1.3", "尺码XL 170/88A", "重量1.5kg", "电池5000mAh", "客服热线400-820-8820",
              "ISBN 9787115428028", "序列号C02XK1ABJG5H", "一共12345件库存", "分辨率1920x1080", "转速7200rpm",
              "活动价99.9元", "2024-11-11 零点抢的", "屏幕6.7寸", "容量500ml", "买二送一", "宽度60cm高度180cm",
              "销量100000+", "京东自营正品", "联系客服很快解决了", "找卖家换了一个", "给商家点个赞", "李宁的鞋很舒服",
              "张小泉剪刀很锋利", "收件人信息填错了", "地址栏写错了", "华为客服态度好", "王老吉很解渴", "马应龙药膏",
              "给老公买的", "送给王者荣耀的队友", "在中山路的店里试过", "快递放门卫了", "学生证号码不用填"]


@dataclass(frozen=True)
class PiiExample:
    text: str
    spans: tuple[PiiSpan, ...]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.08 else rng.choice(SURNAMES)
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _mobile(rng: random.Random) -> str:
    number = "1" + rng.choice("3456789") + _digits(rng, 9)
    style = rng.randrange(7)
    if style == 5:
        return f"(+86) {number[:3]} {number[3:7]} {number[7:]}"
    if style == 0:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if style == 1:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if style == 2:
        return f"+86 {number}"
    if style == 3:
        return f"+86-{number[:3]}-{number[3:7]}-{number[7:]}"
    return number


def _landline(rng: random.Random) -> str:
    code = rng.choice(AREA_CODES)
    local = rng.choice("2345678") + _digits(rng, 7 if len(code) == 3 else rng.choice((6, 7)))
    style = rng.randrange(5)
    if style == 4:
        local = f"{local[:-4]} {local[-4:]}"
    number = f"({code}){local}" if style == 0 else f"{code}-{local}" if style < 3 else f"{code} {local}"
    return number + (f"转{_digits(rng, 3)}" if rng.random() < 0.2 else "")


def _foreign(rng: random.Random) -> str:
    prefix, pattern, (a, b, c) = rng.choice(FOREIGN)
    return f"{prefix} " + pattern.format(a=rng.choice("23456789") + _digits(rng, a - 1), b=_digits(rng, b), c=_digits(rng, c))


def _email(rng: random.Random) -> str:
    return f"{rng.choice(PINYIN)}{rng.choice(['', str(rng.randrange(100))])}@{rng.choice(MAIL_DOMAINS)}"


def _id_card(rng: random.Random) -> str:
    body = rng.choice(ID_REGIONS) + str(rng.randrange(1950, 2008)) + f"{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" + _digits(rng, 3)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _bank_card(rng: random.Random) -> str:
    prefix, length = rng.choice(BANK_PREFIXES)
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = 0
    for i, d in enumerate(reversed(body + "0")):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    number = body + str((10 - total % 10) % 10)
    if rng.random() < 0.4:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def _order(rng: random.Random) -> tuple[str, str]:
    """(cue, order number)."""
    style = rng.randrange(6)
    cue = rng.choice(["订单号：", "订单号", "订单编号：", "单号", "快递单号：", "运单号", "订单号是"])
    if style == 0:
        return cue, _digits(rng, 12)
    if style == 1:
        return cue, "2" + _digits(rng, 18)
    if style == 2:
        return rng.choice(["Order #", "order no. ", "Order number: "]), f"{_digits(rng, 3)}-{_digits(rng, 7)}-{_digits(rng, 7)}"
    if style == 3:
        return rng.choice(["快递单号", "运单号："]), rng.choice(["SF", "YT", "JD", "ZTO"]) + _digits(rng, 13)
    if style == 4:
        return rng.choice(["tracking number ", "Tracking No: "]), "1Z" + _digits(rng, 16)
    return cue, _digits(rng, 16)


def _address(rng: random.Random) -> str:
    province, city = rng.choice(PROVINCES)
    parts = []
    if rng.random() < 0.8:
        parts += [province, city]
    parts.append(rng.choice(DISTRICTS))
    if rng.random() < 0.2:
        parts.append(rng.choice(TOWNS))
    if rng.random() < 0.85:
        parts.append(f"{rng.choice(ROADS)}{rng.randrange(1, 999)}号")
    parts.append(rng.choice(COMMUNITIES))
    if rng.random() < 0.8:
        parts.append(rng.choice([f"{rng.randrange(1, 30)}号楼", f"{rng.randrange(1, 30)}栋", f"{rng.choice('ABCD')}座",
                                 f"{rng.choice('ABC')}区", f"{rng.choice('东西南北')}塔", f"{rng.choice('一二三')}期"]))
        if rng.random() < 0.5:
            parts.append(f"{rng.randrange(1, 6)}单元")
        parts.append(rng.choice([f"{rng.randrange(1, 33)}0{rng.randrange(1, 9)}室", f"{rng.randrange(1, 33)}0{rng.randrange(1, 9)}"]))
    return "".join(parts)


def _en_address(rng: random.Random) -> str:
    text = f"{rng.randrange(1, 9999)} {rng.choice(EN_STREETS)}"
    if rng.random() < 0.4:
        text += f", Apt {rng.randrange(1, 40)}{rng.choice('ABC')}"
    return text + f", {rng.choice(EN_CITIES)}, {rng.choice(EN_STATES)} {_digits(rng, 5)}"


def _en_name(rng: random.Random) -> str:
    return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"


def _snippets(rng: random.Random) -> list[tuple[str, str]]:
    """A sentence with personal data as [(text, type or '')] pieces."""
    kind = rng.randrange(16)
    if kind == 13:
        name = _name(rng)
        surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[0]
        return [(rng.choice(["麻烦", "请", "谢谢", "感谢"]), ""), (rng.choice([surname, name]), "name"),
                (rng.choice(["先生", "女士", "小姐"]) + rng.choice(["帮忙收货", "的耐心解答", "，电话"]), "")]
    if kind == 14:
        return [(rng.choice(["请联系", "东西交给", "有事找"]), ""), (_name(rng), "name"), (rng.choice(["，她负责收货", "，谢谢", "。"]), "")]
    if kind == 15:
        return [(_en_name(rng), "name"), (", ", ""), (_en_address(rng), "address")]
    if kind == 0:
        return [(rng.choice(["有问题打我电话", "我的手机是", "联系电话：", "电话", "手机号"]), ""), (_mobile(rng), "phone"),
                (rng.choice(["，麻烦联系", "", "，白天打"]), "")]
    if kind == 1:
        return [(rng.choice(["座机", "家里电话", "办公室电话："]), ""), (_landline(rng), "phone"), ("，白天有人", "")]
    if kind == 2:
        return [(rng.choice(["发票请发到邮箱", "邮箱：", "发邮件到"]), ""), (_email(rng), "email"), (rng.choice(["，谢谢", ""]), "")]
    if kind == 3:
        return [(rng.choice(["收件人：", "收件人", "收货人：", "联系人"]), ""), (_name(rng), "name"), (rng.choice(["，电话：", "电话", "，手机"]), ""),
                (_mobile(rng), "phone"), ("，地址：", ""), (_address(rng), "address")]
    if kind == 4:
        return [(rng.choice(["退货寄到", "地址：", "请送到", "收货地址是"]), ""), (_address(rng), "address"), ("，收件人", ""), (_name(rng), "name")]
    if kind == 5:
        cue, number = _order(rng)
        return [(cue, ""), (number, "order_number"), (rng.choice(["，到现在还没发货", "，麻烦查一下", " 已确认收货"]), "")]
    if kind == 6:
        return [(rng.choice(["身份证号", "身份证：", "清关用的身份证"]), ""), (_id_card(rng), "id_card"), ("已经填了", "")]
    if kind == 7:
        return [(rng.choice(["退款请打到我的卡", "银行卡号：", "卡号"]), ""), (_bank_card(rng), "bank_card"), (rng.choice(["，户名", "，持卡人"]), ""),
                (_name(rng), "name")]
    if kind == 8:
        return [("Please contact me at ", ""), (_email(rng), "email"), (" or ", ""), (_foreign(rng), "phone")]
    if kind == 9:
        return [(rng.choice(["Ship to: ", "Recipient: ", "Name: "]), ""), (_en_name(rng), "name"), (", ", ""), (_en_address(rng), "address")]
    if kind == 10:
        return [(rng.choice(["香港朋友的电话", "国外号码", "call me on "]), ""), (_foreign(rng), "phone")]
    if kind == 11:
        return [(rng.choice(["姓名：", "签收人", "取件人是"]), ""), (_name(rng), "name"), (rng.choice(["，已签收", "。", ""]), "")]
    return [(rng.choice(["我住在", "家在"]), ""), (_address(rng), "address"), (rng.choice(["，送货上门很方便", "。"]), "")]


def generate_pii_examples(count: int, seed: int = 0) -> list[PiiExample]:
    """``count`` review texts; about one in five has no personal data at all."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        pieces: list[tuple[str, str]] = [(rng.choice(OPENINGS) + "，", "")]
        if rng.random() < 0.8:
            for _ in range(rng.choice((1, 1, 2))):
                pieces += _snippets(rng) + [("。", "")]
        for _ in range(rng.choice((1, 2))):
            pieces.append((rng.choice(LOOKALIKES) + rng.choice(["，", "。", " "]), ""))
        text, spans = "", []
        for piece, kind in pieces:
            if kind:
                spans.append(PiiSpan(len(text), len(text) + len(piece), kind))
            text += piece
        examples.append(PiiExample(text, tuple(spans)))
    return examples
