"""Labelling benchmark (issue 22): what the labelling tools save an annotator, with a simulated
annotator who reveals a title's gold labels when asked.

    python benchmarks/labelling.py --data ../shared/data --dataset jd-gaiic [--parts curves,errors,weak] [--test PATH]
    python benchmarks/labelling.py --data ../shared/data --dataset ding2019 --parts curves

Every model here is the tagger ensemble's fast member, the character CRF
(:mod:`skugraph.tagging.crf_member`, ``--iterations`` L-BFGS iterations): the neural tagger,
retrained 16 times per strategy, would not fit the two-hour budget on 2 cores. Scores: strict
span micro F1 on dev (``--test PATH`` scores another labelled file too).

(a) ``curves``: from ``--start`` random training titles, add ``--batch`` titles per round, chosen
from the rest of train by each strategy of ``skugraph label suggest`` (its own
:func:`skugraph.labelling.suggest.suggest`, the CRF of the round before as its model), until the
whole training set is labelled; the CRF is retrained and scored after every round. Reports the
full-training-set F1 and, per strategy, the smallest share of the titles whose F1 comes within
one point of it. Writes ``PREFIX-curves.json`` and ``PREFIX-curves.png``.

(b) ``errors``: ``--error-rate`` of the training spans damaged (type swaps, boundary shifts,
deletions: :func:`skugraph.labelling.check.inject_errors`), ``check_labels`` ranks the suspects
(out-of-fold CRF, cleanlab), and its precision and recall in the worst 5% and 10% (as many
suspects as that share of the labelled spans) are scored against the damage
(:func:`skugraph.labelling.check.detection_scores`). Dev F1 of the CRF trained on the clean data,
the damaged data, and the damaged data where the annotator restored the gold labels of the worst
10% of the suspects. With several ``--error-seeds`` the damage is drawn once per seed (the
out-of-fold split follows the seed too) and the file holds each run and their means (the share
recovered as the mean F1 won back over the mean F1 lost): the F1 a 5% damage costs is a point
or two, and which titles one draw damages moves it by half that. Writes ``PREFIX-errors.json``.

(c) ``weak`` (JD only): colour (type 16), material (12) and specification (18) from labelling
functions alone: a colour list, material and measure patterns written in this file (no label read;
the material patterns were revised after a study of the weak labels' errors on the training split,
never dev), plus the rule extractor's mentions of those types, combined by ``weak_label``
(Dawid–Skene and majority vote), against the same CRF trained on the gold spans of those three
types; per type dev F1 of each and their ratio. A second set of functions uses lexicons read from the training split's gold spans of
each type (what a shop with a word list as full as its labels would have). Writes ``PREFIX-weak.json``.

Each result file holds the command that made it: the JD curves at the defaults with
``--strategies uncertainty,random`` (95 minutes on a loaded 2-core machine), the rest at the defaults;
see docs/guides/labelling.md.

``PREFIX`` is ``--out`` (default ``benchmarks/results/labelling-<dataset>``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from skugraph.corpus.ner import LabelledText, Span, read_labelled
from skugraph.labelling import check
from skugraph.labelling.suggest import STRATEGIES, suggest
from skugraph.labelling.weak import LABEL_MODELS, LexiconFunction, RegexFunction, Rule, RuleExtractorFunction, weak_label
from skugraph.tagging.crf_member import CrfFeatures, CrfMember
from skugraph.tagging.encoding import tag_set
from skugraph.tagging.ensemble import CharScores, decode_marginals
from skugraph.tagging.evaluate import score_spans
from skugraph.tagging.lexicon import Lexicon, read_words

sys.path.insert(0, str(Path(__file__).parent))
from record import save_record  # noqa: E402  (benchmarks/record.py)

DATASETS = {
    "ding2019": {"dir": "ner/ecommerce-ding2019", "train": "train.bieos", "dev": "dev.bieos", "scheme": "bieos",
                 "lexicons": {"HP": "brand*.dic", "HC": "product*.dic"}},
    "jd-gaiic": {"dir": "ner/jd-gaiic2022", "train": "train.bio", "dev": "dev.bio", "scheme": "bio", "lexicons": {}},
}
PARTS = ("curves", "errors", "weak")
WEAK_TYPES = {"colour": "16", "material": "12", "specification": "18"}  # the ontology's meaning → JD's type

# -- what a user writes without reading a label: generated colour words, material and measure patterns --

_SINGLE_COLOURS = "黑白红黄蓝绿紫灰粉橙棕青金银褐"
_COLOURS = ["咖啡", "卡其", "藏青", "藏蓝", "墨绿", "军绿", "玫红", "酒红", "枣红", "桃红", "粉红", "天蓝", "宝蓝", "湖蓝",
            "宝石蓝", "天空蓝", "香槟", "香槟金", "玫瑰金", "玫瑰红", "土豪金", "象牙白", "珍珠白", "乳白", "米白", "米黄",
            "银白", "雾霾蓝", "薄荷绿", "草绿", "橄榄绿", "中国红", "太空灰", "太空银", "深空灰", "米", "杏", "驼", "肤"]
_COLOUR_WORDS = ["透明", "全透明", "半透明", "彩色", "纯色", "多色", "混色", "双色", "黑白", "本色", "糖果色", "荧光色", "渐变色"]
# Materials by family, from what Chinese titles sell (no label read). A one-character material
# (铜, 木) is one only with a mark: 全铜, 纯钛, 铁质, 木制.
MATERIALS = {
    "metal": ["不锈钢", "食品级不锈钢", "碳钢", "高碳钢", "锰钢", "合金钢", "弹簧钢", "钢材", "铝合金", "航空铝", "铝镁合金", "镁合金",
              "锌合金", "锌铝合金", "钛合金", "合金", "铸铁", "生铁", "铁艺", "铁皮", "镀锌", "黄铜", "紫铜", "红铜", "青铜", "无氧铜",
              "单晶铜", "镀金", "铱金", "925银", "金属", "碳素", "碳纤维", "玻纤", "玻璃纤维"],
    "plastic and rubber": ["塑料", "塑胶", "硬塑", "软塑", "pp", "pe", "pet", "ps", "pvc", "pu", "tpu", "tpe", "pc", "abs",
                           "eva", "pom", "pmma", "聚丙烯", "聚乙烯", "聚碳酸酯", "聚酯", "尼龙", "亚克力", "有机玻璃", "树脂", "硅胶",
                           "软硅胶", "液态硅胶", "食品级硅胶", "橡胶", "乳胶", "软胶", "硬胶", "海绵", "记忆棉", "珍珠棉", "泡沫",
                           "不干胶"],
    "fabric and leather": ["纯棉", "全棉", "棉布", "棉麻", "亚麻", "苎麻", "涤纶", "涤棉", "锦纶", "氨纶", "腈纶", "莱卡", "雪纺",
                           "真丝", "桑蚕丝", "蚕丝", "丝绸", "羊毛", "羊绒", "羊羔绒", "珊瑚绒", "法兰绒", "摇粒绒", "天鹅绒",
                           "灯芯绒", "绒布", "毛绒", "毛毡", "毛呢", "牛仔布", "帆布", "牛津布", "无纺布", "网布", "布艺", "布面",
                           "绒面", "蕾丝", "雪尼尔", "超纤", "超纤皮", "真皮", "头层牛皮", "二层牛皮", "牛皮", "羊皮", "猪皮",
                           "皮革", "人造革", "仿皮", "pu皮", "硬皮", "软皮"],
    "wood": ["实木", "原木", "竹木", "红木", "胡桃木", "黑胡桃", "榉木", "橡木", "枫木", "松木", "杉木", "樟木", "桐木", "楠木",
             "柚木", "檀木", "紫檀", "黑檀", "花梨木", "鸡翅木", "水曲柳", "桦木", "椴木", "密度板", "多层板", "颗粒板", "胶合板",
             "藤编", "草编", "软木"],
    "glass, ceramic and stone": ["玻璃", "钢化玻璃", "高硼硅玻璃", "光学玻璃", "钢化", "陶瓷", "骨瓷", "白瓷", "青瓷", "紫砂",
                                 "搪瓷", "石材", "花岗岩", "麦饭石", "玉石", "石膏", "软陶", "粘土", "黏土", "木浆", "碳晶"],
    "ink and bristle": ["油性", "水溶性", "狼毫", "羊毫", "兼毫"],  # what pens, paints and brushes are made of
}
_SINGLE_MATERIALS = "钢铁铜铝钛银棉麻木竹藤陶瓷皮纸布绒塑胶"
_MATERIAL_GRADES = r"(?:201|304|316l?|430)\s*(?:不锈钢|钢)"  # 304不锈钢, 304钢
# JD's material spans keep these marks: 全铜, 纯亚麻, 仿皮; 木质, 钢制, 金属款, 皮革版
_MATERIAL_PREFIX, _MATERIAL_SUFFIX = "全|纯|仿", "质|制|款|版"
# A material right before one of these is the first half of a product word (硅胶套, 钢化膜, 铁皮柜, 不锈钢碗),
# not a material span, unless the head begins another word there (套装, 笔袋, 网红).
_PRODUCT_HEADS = "膜壳套笔盒柜夹袋箱包杯碗壶锅盆桶瓶罐勺铲筷刀剪尺架桌椅凳床门窗灯扣链绳网垫罩圈钉针管章牌贴条棒球珠片芯头纸带卡本琴炉杆锁盘"
_NOT_PRODUCT_HEADS = rf"[{_PRODUCT_HEADS}]装|笔[袋筒盒架记帘套]|卡[通扣]|网红|条纹|包邮"
_UNITS = ("mm|cm|ml|mah|kg|km|m|l|w|v|毫米|厘米|公分|米|毫升|升|千克|公斤|克|色|支|张|页|个|只|件|套|包|盒|本|片|号|层|格|"
          "节|抽|粒|瓶|袋|卷|入|枚|条|块|把|双|对|组|根|尺|口|孔|位|联|开")
SPECIFICATION_PATTERNS = [
    rf"\d+(?:\.\d+)?\s*(?:{_UNITS})(?:装)?(?![a-z])",  # 0.5mm, 24色, 100张, 10个装
    r"(?<![a-z0-9])(?:[ab][0-6]|\d{1,2}k)(?![a-z0-9])",  # paper sizes: A4, B5, 16K
    r"\d+(?:\.\d+)?\s*[*x×]\s*\d+(?:\.\d+)?(?:\s*[*x×]\s*\d+(?:\.\d+)?)?\s*(?:mm|cm|m)?",  # 210*297mm
    r"[单双三四五六八十]+(?:面|层|联|件套|门|支装|个装)",  # 双面, 三联, 双层
]


def colour_words() -> list[str]:
    """Colour words from a generator: each colour character with 色 and with a shade in front
    (深蓝, 浅蓝色), the longer colour names with and without 色, and colour words without a hue."""
    words = set(_COLOUR_WORDS)
    for colour in _SINGLE_COLOURS:
        words.add(colour + "色")
        for shade in ("深", "浅", "亮", "暗", "淡"):
            words |= {shade + colour, shade + colour + "色"}
    for colour in _COLOURS:
        words |= {colour + "色", *((colour,) if len(colour) > 1 else ())}
    return sorted(words)


def material_patterns() -> list[str]:
    """The material words (longest first), a grade or a mark around them, never before a product head:
    Chinese words, Latin ones (``abs``, ``pvc``: not inside a code such as ``pc-195``) and the marked
    one-character materials."""
    words = sorted({word for family in MATERIALS.values() for word in family}, key=len, reverse=True)
    latin = [word for word in words if word.isascii() and word.isalpha()]
    chinese = "|".join([_MATERIAL_GRADES, *(re.escape(word) for word in words if word not in latin)])
    tail = rf"(?:{_MATERIAL_SUFFIX})?+(?!(?!{_NOT_PRODUCT_HEADS})[{_PRODUCT_HEADS}])"
    single = rf"(?:{_MATERIAL_PREFIX})[{_SINGLE_MATERIALS}](?:{_MATERIAL_SUFFIX})?+|[{_SINGLE_MATERIALS}](?:质|制)"
    return [rf"(?>(?:{_MATERIAL_PREFIX})?(?:{chinese})){tail}",
            rf"(?<![a-z0-9])(?>{'|'.join(latin)})(?![a-z0-9-]){tail}",
            rf"(?:{single}){tail}"]


def hand_written_functions() -> list:
    """The labelling functions a user would write: the colour list, the material patterns, the
    measure patterns, and the rule extractor's mentions of the three types."""
    materials = [Rule("material", re.compile(pattern), n) for n, pattern in enumerate(material_patterns(), 1)]
    measures = [Rule("specification", re.compile(pattern), n) for n, pattern in enumerate(SPECIFICATION_PATTERNS, 1)]
    return [LexiconFunction("colour", Lexicon(colour_words())), RegexFunction(materials, name="regex:material"),
            RegexFunction(measures), RuleExtractorFunction(set(WEAK_TYPES))]


def train_lexicon_functions(train: Sequence[LabelledText], least: int) -> list:
    """Lexicons read from the training split's gold spans of each type (those seen ``least`` times),
    the same patterns and the rule extractor."""
    functions = []
    for kind, label in WEAK_TYPES.items():
        counts = Counter(t.text[s.start : s.end].lower() for t in train for s in t.spans if s.label == label)
        functions.append(LexiconFunction(kind, Lexicon([w for w, n in counts.items() if n >= least])))
    return [*functions, *hand_written_functions()[2:]]


# -- the CRF, trained and scored -------------------------------------------------------------

class Scorer:
    """Trains the CRF member on labelled texts and scores it on the evaluation sets."""

    def __init__(self, tags: Sequence[str], scheme: str, features: CrfFeatures, iterations: int,
                 evaluations: dict[str, list[LabelledText]]):
        self.tags, self.scheme, self.features, self.iterations = list(tags), scheme, features, iterations
        self.evaluations = evaluations

    def train(self, data: Sequence[LabelledText]) -> CrfMember:
        return CrfMember.train(data, self.tags, self.scheme, self.features, iterations=self.iterations)

    def score(self, crf: CrfMember, labels: set[str] | None = None) -> dict[str, dict]:
        """Per evaluation set: micro P/R/F1 (``labels``: only those types' spans, and per type)."""
        out = {}
        for name, data in self.evaluations.items():
            found = decode_marginals([CharScores(m) for m in crf.marginals([t.text for t in data])], self.tags)
            report = score_spans([[(s.start, s.end, s.label) for s in t.spans] for t in data],
                                 [[(s.start, s.end, s.label) for s in row] for row in found], labels).to_dict()
            out[name] = {"micro": report["micro"], **({"per_type": report["per_type"]} if labels else {})}
        return out

    def fit_score(self, data: Sequence[LabelledText], labels: set[str] | None = None) -> tuple[dict, float]:
        began = time.perf_counter()
        scores = self.score(self.train(data), labels)
        return scores, round(time.perf_counter() - began, 1)


def f1(scores: dict) -> float:
    return scores["dev"]["micro"]["f1"]


# -- (a) learning curves ---------------------------------------------------------------------

def curves(train: list[LabelledText], scorer: Scorer, full: dict, start: int, batch: int, strategies: Sequence[str],
           seed: int, save: Callable[[dict], None]) -> dict:
    """Dev F1 per round of each strategy, from the same ``start`` random titles; the last round
    (every title labelled) is the full-set model, trained once. ``save`` gets the curves so far
    after every round (a strategy still running has ``"complete": false``)."""
    first = np.random.default_rng(seed).permutation(len(train))[:start].tolist()
    began = time.perf_counter()
    first_crf = scorer.train([train[i] for i in first])
    first_scores = scorer.score(first_crf)
    print(f"  {len(first)} random titles: dev F1 {f1(first_scores):.4f} ({time.perf_counter() - began:.0f} s)", flush=True)
    out = {}
    for strategy in strategies:
        labelled, crf = list(first), first_crf
        rounds = [{"titles": len(labelled), "scores": first_scores, "seconds": 0.0}]
        out[strategy] = {"rounds": rounds, "complete": False}
        while len(labelled) < len(train):
            began = time.perf_counter()
            taken = set(labelled)
            pool = [i for i in range(len(train)) if i not in taken]
            chosen = suggest(crf, [train[i].text for i in pool], batch, strategy, seed + len(rounds))
            labelled += [pool[s.index] for s in chosen]
            if len(labelled) == len(train):
                scores = full
            else:
                crf = scorer.train([train[i] for i in labelled])
                scores = scorer.score(crf)
            rounds.append({"titles": len(labelled), "mean_uncertainty": round(float(np.mean([s.uncertainty for s in chosen])), 4),
                           "scores": scores, "seconds": round(time.perf_counter() - began, 1)})
            print(f"  {strategy:<12}{len(labelled):>6} titles  dev F1 {f1(scores):.4f}  batch uncertainty"
                  f" {rounds[-1]['mean_uncertainty']:.3f}  ({rounds[-1]['seconds']:.0f} s)", flush=True)
            out[strategy] = {"rounds": rounds, "complete": len(labelled) == len(train), **needed(rounds, f1(full), len(train))}
            save(out)
    return out


def needed(rounds: Sequence[dict], full_f1: float, total: int, within: float = 0.01) -> dict:
    """The first round whose dev F1 comes within ``within`` of the full-set F1: its titles and share."""
    for r in rounds:
        if f1(r["scores"]) >= full_f1 - within:
            return {"titles_needed": r["titles"], "share_needed": round(r["titles"] / total, 4)}
    return {"titles_needed": None, "share_needed": None}


def plot_curves(result: dict, full_f1: float, total: int, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for strategy, curve in result.items():
        axis.plot([r["titles"] / total for r in curve["rounds"]], [f1(r["scores"]) for r in curve["rounds"]], "-o",
                  markersize=3, label=strategy)
    axis.axhline(full_f1, color="grey", linestyle=":", label=f"full training set ({full_f1:.3f})")
    axis.axhline(full_f1 - 0.01, color="grey", linestyle="--", linewidth=0.8, label="1 point below")
    axis.set(xlabel=f"share of the {total:,} training titles labelled", ylabel="dev F1 (strict spans, micro)", title=title,
             xlim=(0, 1))
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# -- (b) label errors ------------------------------------------------------------------------

def errors(train: list[LabelledText], scorer: Scorer, clean: dict, scheme: str, rate: float, folds: int, seed: int) -> dict:
    """Damage, rank with ``check_labels``, score the ranking, retrain on the damaged data and on the
    damaged data where the annotator restored the gold labels of the worst 10% of the suspects."""
    noisy, injected = check.inject_errors(train, rate, seed)
    kinds = Counter(e.kind for e in injected)
    print(f"  seed {seed}: {len(injected)} errors injected in {len({e.index for e in injected})} titles: {dict(kinds)}", flush=True)
    began = time.perf_counter()
    issues = check.check_labels(noisy, scheme, folds, seed, iterations=scorer.iterations)
    check_seconds = round(time.perf_counter() - began, 1)
    detection = check.detection_scores(issues, injected)
    for fraction, at in detection["at"].items():
        print(f"  seed {seed}: check_labels ({folds} folds, {check_seconds:.0f} s), top {float(fraction):.0%} of the suspects ({at['n']}):"
              f" precision {at['precision']:.3f}  recall {at['recall']:.3f}  by kind {at['recall_by_kind']}", flush=True)
    noisy_scores, noisy_seconds = scorer.fit_score(noisy)
    taken = check.ranked_suspects(issues)[: detection["at"]["0.1"]["n"]]
    fixed = restore(noisy, train, [(issue.index, suspect) for issue, suspect in taken])
    fixed_scores, fixed_seconds = scorer.fit_score(fixed)
    lost, regained = f1(clean) - f1(noisy_scores), f1(fixed_scores) - f1(noisy_scores)
    print(f"  seed {seed}: dev F1 clean {f1(clean):.4f}  noisy {f1(noisy_scores):.4f}  top 10% of the suspects restored {f1(fixed_scores):.4f}"
          f"  (recovered {regained / lost if lost > 0 else float('nan'):.0%} of the {100 * lost:.2f} points lost)", flush=True)
    return {"error_seed": seed, "rate": rate, "folds": folds, "injected": len(injected), "injected_by_kind": dict(kinds),
            "titles_damaged": len({e.index for e in injected}), "check_seconds": check_seconds, "detection": detection,
            **{f"top{round(100 * float(fraction))}": at for fraction, at in detection["at"].items()},  # top5, top10: no dot in the key
            "suspects_restored": len(taken), "titles_reviewed": len({issue.index for issue, _ in taken}),
            "clean": clean, "noisy": noisy_scores, "fixed_top10": fixed_scores,
            "f1_lost": round(lost, 4), "f1_recovered": round(regained, 4),
            "share_recovered": round(regained / lost, 4) if lost > 0 else None,
            "seconds": {"noisy": noisy_seconds, "fixed": fixed_seconds}}


def mean_errors(runs: Sequence[dict], seeds: Sequence[int]) -> dict:
    """Several damage draws' ``errors`` results: each run, and the means of what they measure."""
    def mean(values) -> float:
        return round(float(np.mean(list(values))), 4)

    tops = {top: {"recall": mean(r[top]["recall"] for r in runs), "precision": mean(r[top]["precision"] for r in runs),
                  "recall_by_kind": {kind: mean(r[top]["recall_by_kind"][kind] for r in runs) for kind in runs[0][top]["recall_by_kind"]}}
            for top in ("top5", "top10")}
    lost, recovered = mean(r["f1_lost"] for r in runs), mean(r["f1_recovered"] for r in runs)
    summary = {"error_seeds": list(seeds), **tops, "clean": runs[0]["clean"], "f1_lost": lost, "f1_recovered": recovered,
               "share_recovered": round(recovered / lost, 4) if lost > 0 else None, "runs": list(runs)}
    print(f"  mean of {len(runs)} damage draws: top 10% recall {tops['top10']['recall']:.3f}, recovered"
          f" {summary['share_recovered'] if lost > 0 else float('nan'):.0%} of the {100 * lost:.2f} points lost", flush=True)
    return summary


def restore(noisy: Sequence[LabelledText], gold: Sequence[LabelledText], regions: Sequence[tuple[int, check.Suspect]]) -> list[LabelledText]:
    """The annotator's review: in each (title, suspect) region the current spans touching it give way
    to the gold spans touching it (and a current span a restored one overlaps goes too)."""
    out = list(noisy)
    for index, region in regions:
        back = [s for s in gold[index].spans if s.start < region.end and s.end > region.start]
        kept = [s for s in out[index].spans if not (s.start < region.end and s.end > region.start)
                and not any(s.start < b.end and s.end > b.start for b in back)]
        out[index] = LabelledText(out[index].text, tuple(sorted({*kept, *back}, key=lambda s: (s.start, s.end))), out[index].id)
    return out


# -- (c) weak supervision --------------------------------------------------------------------

def weak(train: list[LabelledText], evaluations: dict[str, list[LabelledText]], scheme: str, features: CrfFeatures,
         iterations: int, least: int) -> dict:
    """Per type dev F1 of the CRF on the gold spans of the three types and on weak labels: two sets of
    functions, each combined by both label models."""
    labels = set(WEAK_TYPES.values())
    only = {name: [LabelledText(t.text, tuple(s for s in t.spans if s.label in labels), t.id) for t in data]
            for name, data in evaluations.items()}
    scorer = Scorer(tag_set(labels, scheme), scheme, features, iterations, only)
    gold_train = [LabelledText(t.text, tuple(s for s in t.spans if s.label in labels), t.id) for t in train]
    gold, seconds = scorer.fit_score(gold_train, labels)
    print(f"  gold spans of {', '.join(sorted(labels))}: dev F1 {f1(gold):.4f} ({seconds:.0f} s)", flush=True)
    out = {"types": WEAK_TYPES, "gold": {"scores": gold, "train_seconds": seconds}, "weak": {}}
    texts = [t.text for t in train]
    for functions_name, functions in (("hand-written", hand_written_functions()),
                                      ("train-lexicons", train_lexicon_functions(train, least))):
        for label_model in LABEL_MODELS:
            name = f"{functions_name}/{label_model}"
            result = weak_label(texts, functions, label_model)
            print(f"  [{name}] {len(texts)} titles")
            print(f"    {'function':<28}{'titles':>8}{'tokens':>8}{'overlap':>9}{'conflict':>10}{'est. accuracy':>15}")
            for r in result.reports:
                print(f"    {r.name:<28}" + "".join(f"{v:>{w}.1%}" for v, w in
                                                    zip((r.titles, r.tokens, r.overlap, r.conflict, r.accuracy), (8, 8, 9, 10, 15))))
            weak_train = [LabelledText(t.text, tuple(Span(s.start, s.end, WEAK_TYPES[s.label]) for s in t.spans), t.id)
                          for t in result.texts]
            against_gold = score_spans([[(s.start, s.end, s.label) for s in t.spans] for t in gold_train],
                                       [[(s.start, s.end, s.label) for s in t.spans] for t in weak_train], labels).to_dict()
            scores, seconds = scorer.fit_score(weak_train, labels)
            print(f"    weak labels against the training gold: micro P {against_gold['micro']['precision']:.3f}"
                  f" R {against_gold['micro']['recall']:.3f}; CRF on them: dev F1 {f1(scores):.4f} ({seconds:.0f} s)", flush=True)
            out["weak"][name] = {
                "functions": [{"name": r.name, "titles": round(r.titles, 4), "tokens": round(r.tokens, 4), "overlap": round(r.overlap, 4),
                               "conflict": round(r.conflict, 4), "estimated_accuracy": round(r.accuracy, 4)} for r in result.reports],
                "weak_against_train_gold": against_gold, "scores": scores, "train_seconds": seconds,
                "f1_ratio_to_gold": {label: round(scores["dev"]["per_type"][label]["f1"] / g["f1"], 4) if g["f1"] else None
                                     for label, g in gold["dev"]["per_type"].items()}}
    print(f"\n  dev F1 per type (ratio to gold)\n  {'weak labels':<32}" + "".join(f"{l + ' ' + m:>20}" for m, l in WEAK_TYPES.items()))
    print(f"  {'gold':<32}" + "".join(f"{gold['dev']['per_type'][l]['f1']:>20.4f}" for l in WEAK_TYPES.values()))
    for name, run in out["weak"].items():
        print(f"  {name:<32}" + "".join(f"{run['scores']['dev']['per_type'][l]['f1']:>12.4f} ({run['f1_ratio_to_gold'][l] or 0:.2f})"
                                        for l in WEAK_TYPES.values()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, help="also score this labelled file (same format as the data set's)")
    parser.add_argument("--parts", default="curves,errors,weak", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--start", type=int, default=200, help="random titles labelled before the first round")
    parser.add_argument("--batch", type=int, default=200, help="titles added per round")
    parser.add_argument("--iterations", type=int, default=100, help="L-BFGS iterations of every CRF")
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=5, help="check_labels' folds")
    parser.add_argument("--lexicon-min-count", type=int, default=1, help="train-derived lexicons: words seen this often")
    parser.add_argument("--limit", type=int, help="only the first N training titles (debugging)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--error-seeds", help="errors: comma-separated seeds of the damage, one run each (default: --seed)")
    parser.add_argument("--jobs", type=int, default=1, help="errors: damage draws run at once, one process each")
    parser.add_argument("--out", type=Path, help="prefix of the result files (default benchmarks/results/labelling-<dataset>)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        sys.exit(f"--parts: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if "weak" in parts and args.dataset != "jd-gaiic":
        sys.exit("--parts weak needs --dataset jd-gaiic (colour, material and specification are JD types)")
    spec = DATASETS[args.dataset]
    root = args.data / spec["dir"]
    train, dev = read_labelled(root / spec["train"]), read_labelled(root / spec["dev"])
    train = train[: args.limit] if args.limit else train
    evaluations = {"dev": dev, **({"test": read_labelled(args.test)} if args.test else {})}
    scheme = spec["scheme"]
    features = CrfFeatures({n: read_words(sorted((root / "lexicon").glob(p))) for n, p in spec["lexicons"].items()})
    tags = tag_set({s.label for t in train for s in t.spans}, scheme)
    scorer = Scorer(tags, scheme, features, args.iterations, evaluations)
    prefix = args.out or Path(__file__).parent / "results" / f"labelling-{args.dataset}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", *sys.argv])
    common = {"command": command, "dataset": args.dataset, "train_texts": len(train), "dev_texts": len(dev),
              "test_file": str(args.test) if args.test else None, "model": "CRF member (sklearn-crfsuite)",
              "iterations": args.iterations, "seed": args.seed}
    print(f"{args.dataset}: {len(train)} training titles, {len(dev)} dev titles; parts {', '.join(parts)};"
          f" CRF {args.iterations} iterations", flush=True)

    full, curves_json = None, prefix.with_name(prefix.name + "-curves.json")
    if "curves" not in parts and "errors" in parts and curves_json.exists():  # the clean model: trained by the curves run
        earlier = json.loads(curves_json.read_text(encoding="utf-8"))
        if all(earlier.get(key) == common[key] for key in ("dataset", "train_texts", "test_file", "iterations", "seed")):
            full, seconds = earlier["full"]["scores"], earlier["full"]["train_seconds"]
            print(f"[full training set] dev F1 {f1(full):.4f}, from {curves_json}", flush=True)
    if full is None and ("curves" in parts or "errors" in parts):
        print("[full training set]", flush=True)
        full, seconds = scorer.fit_score(train)
        print(f"  dev F1 {f1(full):.4f} ({seconds:.0f} s)", flush=True)
    if "curves" in parts:
        began = time.perf_counter()
        print(f"[curves] start {args.start}, batches of {args.batch}", flush=True)
        png = prefix.with_name(prefix.name + "-curves.png")

        def save(result: dict) -> None:
            plot_curves(result, f1(full), len(train), f"{args.dataset}: CRF ({args.iterations} iterations) dev F1 by titles labelled", png)
            save_record(curves_json, {**common, "start": args.start, "batch": args.batch, "full": {"scores": full, "train_seconds": seconds},
                                      "strategies": result, "plots": [png.name], "wall_seconds": round(time.perf_counter() - began, 1)})

        result = curves(train, scorer, full, args.start, args.batch, args.strategies.split(","), args.seed, save)
        print(f"\n  full training set: dev F1 {f1(full):.4f}; within 1 point of it with:")
        for strategy, curve in result.items():
            share = curve["share_needed"]
            print(f"  {strategy:<12}" + (f"{curve['titles_needed']:>6} titles ({share:.0%})" if share is not None else "  never"))
    if "errors" in parts:
        began = time.perf_counter()
        print(f"[errors] {args.error_rate:.0%} of the training spans damaged", flush=True)
        seeds = [int(seed) for seed in args.error_seeds.split(",")] if args.error_seeds else [args.seed]
        if args.jobs > 1:  # each draw's lines print as its process reaches them, so they interleave
            with ProcessPoolExecutor(min(args.jobs, len(seeds)), mp_context=multiprocessing.get_context("spawn")) as pool:  # fork would copy locked threads
                runs = list(pool.map(errors, *zip(*[(train, scorer, full, scheme, args.error_rate, args.folds, seed) for seed in seeds])))
        else:
            runs = []
            for seed in seeds:
                print(f"  damage seed {seed}", flush=True)
                runs.append(errors(train, scorer, full, scheme, args.error_rate, args.folds, seed))
        result = runs[0] if len(runs) == 1 else mean_errors(runs, seeds)
        save_record(prefix.with_name(prefix.name + "-errors.json"),
                    {**common, **result, "wall_seconds": round(time.perf_counter() - began, 1)})
    if "weak" in parts:
        began = time.perf_counter()
        print("[weak] colour (16), material (12), specification (18)", flush=True)
        result = weak(train, evaluations, scheme, features, args.iterations, args.lexicon_min_count)
        save_record(prefix.with_name(prefix.name + "-weak.json"),
                    {**common, **result, "wall_seconds": round(time.perf_counter() - began, 1)})
    print(f"wrote {prefix}-{{{','.join(parts)}}}.json")


if __name__ == "__main__":
    main()
