"""Review opinions: (aspect, opinion, category, polarity) tuples from review text.

Three steps, each trained on labelled reviews (the ZhejiangLab 2019 format, or ours):

1. a tagger finds aspect (``ASP``) and opinion (``OP``) spans;
2. each opinion is paired with the nearest aspect in its clause, before it if there is
   one, else after it (unless a later opinion claims that aspect); an opinion with none has
   no aspect (``_``: 很好用 says it of the whole); spans under a minimum score per label are
   dropped first, the minimums dev chose when the extractor was trained (:func:`choose_decoding`);
3. two linear classifiers read ``aspect|opinion`` and give the category (价格, 物流 …) and
   the polarity (正面 / 负面 / 中性); a tuple whose score (its spans' score times both
   classifiers' probabilities) is under the minimum dev chose is dropped.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from skugraph import __version__
from skugraph.corpus.ner import LabelledText, Span, write_doccano
from skugraph.facts.classify import LinearTextClassifier
from skugraph.records import ASPECT as ASPECT_LABEL
from skugraph.records import PRODUCT, REVIEW, VALUE, Entity, Fact, Listing, Provenance
from skugraph.tagging.evaluate import Score

if TYPE_CHECKING:
    from skugraph.tagging.ensemble import EnsembleTagger
    from skugraph.tagging.tagger import Tagger

NONE = "_"
ASPECT, OPINION = "ASP", "OP"
#: the data's polarity names → the graph's
POLARITIES = {"正面": "positive", "负面": "negative", "中性": "neutral"}
_CLAUSE_BREAK = re.compile(r"[，。！？!?,.；;~、\s]")
METADATA = "opinions.json"


@dataclass(frozen=True, slots=True)
class Opinion:
    aspect: tuple[int, int] | None  # character span, or None (``_``)
    opinion: tuple[int, int] | None
    category: str
    polarity: str
    score: float = 1.0

    def terms(self, text: str) -> tuple[str, str]:
        def term(span: tuple[int, int] | None) -> str:
            return text[span[0] : span[1]] if span else NONE

        return term(self.aspect), term(self.opinion)


@dataclass(frozen=True, slots=True)
class OpinionText:
    id: str
    text: str
    opinions: tuple[Opinion, ...] = ()


class OpinionDataError(ValueError):
    """A labelled opinion file that cannot be read, with its location."""


def read_opinion_csv(reviews_csv: str | Path, labels_csv: str | Path) -> list[OpinionText]:
    """Reviews (``id,Reviews``) and their tuples (``id,AspectTerms,A_start,A_end,OpinionTerms,
    O_start,O_end,Categories,Polarities``; ``_`` = absent), checked against the text."""
    texts: dict[str, str] = {}
    with open(reviews_csv, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 2):
            if not row.get("id") or row.get("Reviews") is None:
                raise OpinionDataError(f"{reviews_csv}:{number}: needs id and Reviews")
            texts[row["id"]] = row["Reviews"]
    tuples: dict[str, list[Opinion]] = {key: [] for key in texts}
    with open(labels_csv, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 2):
            where = f"{labels_csv}:{number}"
            if row.get("id") not in texts:
                raise OpinionDataError(f"{where}: id {row.get('id')!r} has no review")
            text = texts[row["id"]]
            spans = []
            for term, start, end in (("AspectTerms", "A_start", "A_end"), ("OpinionTerms", "O_start", "O_end")):
                if row[term] == NONE:
                    spans.append(None)
                    continue
                try:
                    span = (int(row[start]), int(row[end]))
                except (TypeError, ValueError):
                    raise OpinionDataError(f"{where}: field {start}/{end}: not character offsets") from None
                if text[span[0] : span[1]] != row[term]:
                    raise OpinionDataError(f"{where}: field {term}: {row[term]!r} is not at {span[0]}..{span[1]} of the review")
                spans.append(span)
            tuples[row["id"]].append(Opinion(spans[0], spans[1], row["Categories"], row["Polarities"]))
    return [OpinionText(key, texts[key], tuple(tuples[key])) for key in texts]


def span_labels(review: OpinionText) -> LabelledText:
    """The review's aspect and opinion spans as tagger training data."""
    spans = {(o.aspect, ASPECT) for o in review.opinions if o.aspect} | {(o.opinion, OPINION) for o in review.opinions if o.opinion}
    return LabelledText(review.text, tuple(Span(s[0], s[1], label) for s, label in sorted(spans)), review.id)


def _clause(text: str, position: int) -> int:
    return len(_CLAUSE_BREAK.findall(text, 0, position))


def pair(text: str, aspects: Sequence[tuple[int, int]], opinions: Sequence[tuple[int, int]]) -> list[tuple[tuple[int, int] | None, tuple[int, int]]]:
    """(aspect or None, opinion) for each opinion: the nearest aspect in the same clause,
    one before the opinion first (屏幕很清晰), else the first one after (很清晰的屏幕) unless
    an opinion after that aspect, with no aspect between, claims it (很好用保湿效果不错)."""
    pairs = []
    for opinion in opinions:
        clause = _clause(text, opinion[0])
        same = [a for a in aspects if _clause(text, a[0]) == clause]
        before = [a for a in same if a[1] <= opinion[0]]
        after = [a for a in same if a[0] >= opinion[1]]
        if before:
            pairs.append((before[-1], opinion))
            continue
        claimed = after and any(o[0] >= after[0][1] and _clause(text, o[0]) == clause
                                and not any(after[0][1] <= a[0] and a[1] <= o[0] for a in aspects) for o in opinions)
        pairs.append((after[0] if after and not claimed else None, opinion))
    return pairs


def classifier_input(text: str, aspect: tuple[int, int] | None, opinion: tuple[int, int] | None) -> str:
    return "|".join(Opinion(aspect, opinion, "", "").terms(text))


def tuple_scores(gold: Sequence[OpinionText], predicted: Sequence[Sequence[Opinion]]) -> dict:
    """Exact-match precision, recall and F1 of (aspect, opinion, category, polarity), as the
    ZhejiangLab task scores them (terms compared as text; ``_`` for an absent one)."""
    right = guessed = wanted = 0
    for review, found in zip(gold, predicted, strict=True):
        truth = Counter((*o.terms(review.text), o.category, o.polarity) for o in review.opinions)
        guess = Counter((*o.terms(review.text), o.category, o.polarity) for o in found)
        right += sum((truth & guess).values())
        guessed += sum(guess.values())
        wanted += sum(truth.values())
    score = Score.from_counts(right, guessed, wanted).to_dict()
    return {"precision": score["precision"], "recall": score["recall"], "f1": score["f1"], "gold": wanted, "predicted": guessed}


@dataclass(frozen=True, slots=True)
class Decoding:
    """From spans to tuples: the minimum span score kept per label, and the minimum score of a
    tuple (its span score times the category's and the polarity's probability)."""

    min_aspect: float = 0.0
    min_opinion: float = 0.0
    min_tuple: float = 0.0


#: the minimum span scores :func:`choose_decoding` tries on dev, per label
MIN_SCORES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: the minimum tuple scores it tries with each
MIN_TUPLE_SCORES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def choose_decoding(extractor: OpinionExtractor, dev: Sequence[OpinionText]) -> tuple[Decoding, dict[str, float]]:
    """The decoding with the best dev exact-tuple F1 (the plain rule first, so it stays on
    ties) and the F1 of each tried, keyed ``min_aspect/min_opinion/min_tuple``."""
    texts = [review.text for review in dev]
    spans = extractor.spans(texts)
    f1 = {}
    for a, o in ((a, o) for a in MIN_SCORES for o in MIN_SCORES):  # Decoding(0.0, 0.0, 0.0) first
        found = extractor.read_spans(texts, spans, Decoding(a, o))
        for t in MIN_TUPLE_SCORES:
            f1[Decoding(a, o, t)] = tuple_scores(dev, [[x for x in row if x.score >= t] for row in found])["f1"]
    best = max(f1, key=f1.get)  # the first of the best: the plain rule on ties
    return best, {f"{d.min_aspect}/{d.min_opinion}/{d.min_tuple}": score for d, score in f1.items()}


def _with_crf(tagger: Tagger | EnsembleTagger) -> EnsembleTagger:
    """The ensemble of ``tagger``'s network and the CRF member saved beside it, whether or not dev chose it."""
    from skugraph.tagging.ensemble import EnsembleTagger

    return EnsembleTagger.around(tagger.neural if isinstance(tagger, EnsembleTagger) else tagger)


class OpinionExtractor:
    """Tagger + pairing + category and polarity classifiers, saved as one directory:
    ``tagger/``, ``category/``, ``polarity/`` and ``opinions.json``."""

    def __init__(self, tagger, category: LinearTextClassifier, polarity: LinearTextClassifier, record: dict | None = None):
        self.tagger = tagger
        self.category = category
        self.polarity = polarity
        self.record = record or {}

    @classmethod
    def load(cls, path: str | Path) -> OpinionExtractor:
        """The extractor saved in ``path``; its span tagger the networks' ensemble where dev chose it."""
        from skugraph.tagging.ensemble import NetworksTagger
        from skugraph.tagging.tagger import load_tagger

        path = Path(path)
        if not (path / METADATA).is_file():
            raise FileNotFoundError(f"{path}: not an opinion model directory (no {METADATA})")
        record = json.loads((path / METADATA).read_text(encoding="utf-8"))
        tagger = load_tagger(path / "tagger")
        networks = record.get("networks", {})
        if networks.get("use"):
            tagger = NetworksTagger.from_section(_with_crf(tagger), path, networks)
        return cls(tagger, LinearTextClassifier.load(path / "category"), LinearTextClassifier.load(path / "polarity"), record)

    def save(self, out: str | Path) -> Path:
        """Write the classifiers and the record; the tagger is already at ``out/tagger``."""
        out = Path(out)
        self.category.save(out / "category")
        self.polarity.save(out / "polarity")
        (out / METADATA).write_text(json.dumps(self.record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return out

    def extract(self, texts: Sequence[str]) -> list[list[Opinion]]:
        return self.read_spans(texts, self.spans(texts))

    def spans(self, texts: Sequence[str]) -> list[list[tuple[int, int, str, float]]]:
        """Each text's aspect and opinion spans ``(start, end, ASP|OP, score)`` as the tagger finds them."""
        found = self.tagger.decode_many(self.tagger.scores(list(texts))) if texts else []
        return [[(s.start, s.end, s.label, s.score) for s in spans] for spans in found]

    @property
    def decoding(self) -> Decoding:
        """How spans become pairs, as dev chose in training (the plain rule for older models)."""
        return Decoding(**self.record.get("decoding", {}))

    def read_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int, str, float]]],
                   decoding: Decoding | None = None) -> list[list[Opinion]]:
        """Opinions from each text's aspect and opinion spans ``(start, end, ASP|OP, score)``:
        paired within clauses under ``decoding`` (default: the extractor's), categorised and
        given a polarity, and kept where their score reaches the decoding's minimum."""
        decoding = decoding or self.decoding
        pairs = []
        for text, found in zip(texts, spans, strict=True):
            kept = [(start, end, label, score) for start, end, label, score in found
                    if score >= (decoding.min_aspect if label == ASPECT else decoding.min_opinion)]
            aspects = [(start, end) for start, end, label, _ in kept if label == ASPECT]
            opinions = [(start, end) for start, end, label, _ in kept if label == OPINION]
            confidence = {(start, end): score for start, end, _, score in kept}
            pairs.append([(aspect, opinion, min(confidence[opinion], confidence.get(aspect, 1.0)))
                          for aspect, opinion in pair(text, aspects, opinions)])
        return [[o for o in row if o.score >= decoding.min_tuple] for row in self.classify(texts, pairs)]

    def classify(self, texts: Sequence[str], pairs: Sequence[Sequence[tuple[tuple[int, int] | None, tuple[int, int] | None, float]]]
                 ) -> list[list[Opinion]]:
        """Opinions from each text's ``(aspect, opinion, span score)`` pairs: their category and
        polarity, the score multiplied by both classifiers' probabilities."""
        rows = [(text, *row) for text, found in zip(texts, pairs, strict=True) for row in found]
        inputs = [classifier_input(text, aspect, opinion) for text, aspect, opinion, _ in rows]
        labels = zip(self.category.predict(inputs), self.polarity.predict(inputs), strict=True) if rows else iter(())
        result: list[list[Opinion]] = []
        for found in pairs:
            result.append([])
            for (aspect, opinion, span_score), ((category, p_category), (polarity, p_polarity)) in zip(found, labels):
                result[-1].append(Opinion(aspect, opinion, category, polarity, round(span_score * p_category * p_polarity, 4)))
        return result


def train_opinion_extractor(train: Sequence[OpinionText], dev: Sequence[OpinionText], out: str | Path, *,
                            base_model: str = "scratch:small", random_init: bool = False, epochs: int = 20,
                            patience: int = 4, time_budget_minutes: float | None = None, ngrams: bool = True,
                            term_lexicons: bool = False, scheme: str = "bieos", word_features: bool = True,
                            crf_window: int = 3, networks: int = 3, progress=None) -> OpinionExtractor:
    """Train the span tagger (early stopping on the dev spans) and the two classifiers (on the
    gold tuples of ``train``), save them under ``out`` and return the extractor. With
    ``term_lexicons`` the aspect and opinion terms of ``train`` become gazetteers the tagger
    sees as match features (B/M/E/S), as for brand and product words in titles (off: on the
    ZhejiangLab dev split they lower span F1, the training texts match them all); the tagger is
    trained as ``skugraph train tagger`` trains one (BIEOS tags, jieba word boundaries, its CRF
    member and their ensemble where dev prefers it; the CRF sees ``crf_window`` characters either
    side: 3-fold cross-validation over the ZhejiangLab training reviews scores the CRF's spans at
    F1 0.8154 with 3, 0.8117 with the titles' 2); then the minimum span and tuple scores
    that score best on the dev tuples (:func:`choose_decoding`), kept in the record. With
    ``networks`` above 1 the network is trained again with other seeds (``tagger-2/`` …) and
    their average joins the CRF member's (:class:`~skugraph.tagging.ensemble.NetworksTagger`, the CRF's weight and the
    temperature fitted on the dev spans as for one network); kept where it scores the better dev
    tuple F1 (the record's ``networks``)."""
    from skugraph.tagging.ensemble import ENSEMBLE
    from skugraph.tagging.tagger import load_tagger
    from skugraph.tagging.train import TrainTaggerConfig, train_tagger

    if networks < 1:
        raise ValueError(f"networks: at least 1, not {networks}")

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="skugraph-opinions-") as scratch:
        train_file, dev_file = Path(scratch) / "train.jsonl", Path(scratch) / "dev.jsonl"
        labelled = [span_labels(r) for r in train]
        write_doccano(labelled, train_file)
        dev_spans = [span_labels(r) for r in dev]
        write_doccano(dev_spans, dev_file)
        lexicons = {}
        if term_lexicons:
            for label in (ASPECT, OPINION):
                terms = sorted({r.text[s.start : s.end] for r in labelled for s in r.spans if s.label == label})
                path = Path(scratch) / f"{label}.txt"
                path.write_text("\n".join(terms) + "\n", encoding="utf-8")
                lexicons[label] = [path]
        config = TrainTaggerConfig(train=train_file, dev=dev_file, out=out / "tagger", base_model=base_model,
                                   random_init=random_init, epochs=epochs, patience=patience, ngrams=ngrams,
                                   lexicons=lexicons, scheme=scheme, word_features=word_features,
                                   crf_window=crf_window,
                                   time_budget_minutes=time_budget_minutes)
        result = train_tagger(config, progress=progress)
        others = [f"tagger-{n}" for n in range(2, networks + 1)] if dev else []
        for n, name in enumerate(others, 1):
            train_tagger(replace(config, out=out / name, seed=config.seed + n, crf_member=False), progress=progress)
    inputs = [classifier_input(r.text, o.aspect, o.opinion) for r in train for o in r.opinions]
    category = LinearTextClassifier.fit(inputs, [o.category for r in train for o in r.opinions], c=16.0, min_df=1)
    polarity = LinearTextClassifier.fit(inputs, [o.polarity for r in train for o in r.opinions], c=16.0, min_df=1)
    record = {"skugraph": __version__, "train_reviews": len(train), "dev_reviews": len(dev), "base_model": base_model,
              "tagger_epochs": result.epochs, "tagger_dev": (result.dev or {}).get("micro"),
              "tagger_ensemble": result.metadata.get(ENSEMBLE)}
    extractor = OpinionExtractor(load_tagger(out / "tagger"), category, polarity, record)
    if dev:
        decoding, by_decoding = choose_decoding(extractor, dev)
        record["decoding"] = {"min_aspect": decoding.min_aspect, "min_opinion": decoding.min_opinion,
                              "min_tuple": decoding.min_tuple}
        record["dev_f1_by_decoding"] = by_decoding
        if others:
            extractor = _with_networks(extractor, others, out, dev, dev_spans, by_decoding)
    extractor.save(out)
    return extractor


def _with_networks(extractor: OpinionExtractor, others: list[str], out: Path, dev: Sequence[OpinionText],
                   dev_spans: Sequence[LabelledText], by_decoding: dict[str, float]) -> OpinionExtractor:
    """The extractor whose span tagger averages the networks ``others`` (directories under
    ``out``) with its own and its CRF member, if that scores the better dev tuple F1; else
    ``extractor``, the other networks' directories removed. Either way the record's ``networks``."""
    from skugraph.tagging.ensemble import fit_networks
    from skugraph.tagging.tagger import Tagger

    base = extractor.tagger
    tagger, fitted = fit_networks(_with_crf(base), [Tagger.load(out / name) for name in others], dev_spans)
    many = OpinionExtractor(tagger, extractor.category, extractor.polarity, dict(extractor.record))
    decoding, by_many = choose_decoding(many, dev)
    one, all_ = max(by_decoding.values()), max(by_many.values())
    section = {"use": all_ > one, "dirs": others, "crf_weight": tagger.crf_weight, "temperature": tagger.temperature,
               "dev_span_f1": {"one": round(base.evaluate(dev_spans).micro.f1, 4), "all": fitted["dev_f1"]["all"]},
               "dev_f1_by_crf_weight": fitted["dev_f1_by_crf_weight"],
               "dev_tuple_f1": {"one": one, "all": all_}, "span_scorer": fitted["span_scorer"]}
    if not section["use"]:
        for name in others:
            shutil.rmtree(out / name)
        extractor.record["networks"] = section
        return extractor
    many.record.update(networks=section, dev_f1_by_decoding=by_many,
                       decoding={"min_aspect": decoding.min_aspect, "min_opinion": decoding.min_opinion, "min_tuple": decoding.min_tuple})
    return many


def review_facts(listing: Listing, index: int, opinions: Sequence[Opinion], sentiment: tuple[str, float] | None,
                 extractor: str) -> list[Fact]:
    """Facts of one review: Review -[MENTIONS {polarity, opinion}]-> Aspect -[OF]-> Product per
    aspect category (a review's opinions on one category join in one edge: their terms
    listed, the polarity theirs or ``mixed``), and Review -[HAS_SENTIMENT]-> its sentiment."""
    review = listing.reviews[index]
    field = f"reviews[{index}]"
    name, _, version = extractor.partition("@")
    product = Entity(PRODUCT, listing.id, listing.title)
    node = Entity(REVIEW, review.id, review.text)
    facts: list[Fact] = []
    by_category: dict[str, list[Opinion]] = {}
    for opinion in opinions:
        by_category.setdefault(opinion.category, []).append(opinion)
    for category, group in by_category.items():
        aspect = Entity(ASPECT_LABEL, f"{listing.id}|{category}", category)
        polarities = {POLARITIES.get(o.polarity, o.polarity) for o in group}
        where = tuple(Provenance(listing.id, field, *(o.opinion or o.aspect), name, version) for o in group)
        terms = [":".join(t for t in o.terms(review.text) if t != NONE) for o in group]
        facts.append(Fact(node, "mentions_aspect", aspect, max(o.score for o in group), where,
                          {"polarity": polarities.pop() if len(polarities) == 1 else "mixed", "opinion": " / ".join(terms)}))
        facts.append(Fact(aspect, "aspect_of", product, 1.0, where))
    if sentiment is not None:
        label, probability = sentiment
        whole = Provenance(listing.id, field, 0, len(review.text), name, version)
        facts.append(Fact(node, "review_sentiment", Entity(VALUE, f"sentiment:{label}", label, kind="sentiment"),
                          round(probability, 4), (whole,)))
    return facts


#: aspects of products with their review counts per polarity and share positive
ASPECT_SUMMARY = (
    "MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product) {where}"
    "RETURN p.id AS product, a.name AS aspect, count(*) AS reviews, "
    "sum(CASE WHEN m.polarity = 'positive' THEN 1 ELSE 0 END) AS positive, "
    "sum(CASE WHEN m.polarity = 'negative' THEN 1 ELSE 0 END) AS negative, "
    "sum(CASE WHEN m.polarity IN ['neutral', 'mixed'] THEN 1 ELSE 0 END) AS other "
    "ORDER BY product, reviews DESC, aspect"
)


def aspect_summary(store, product: str | None = None) -> list[dict]:
    """Per product and aspect: reviews that mention it, how many positive / negative / other,
    and the share positive."""
    cypher = ASPECT_SUMMARY.format(where="WHERE p.id = $product " if product else "")
    rows = store.query(cypher, {"product": product} if product else {}).records()
    for row in rows:
        row["share_positive"] = round(row["positive"] / row["reviews"], 3) if row["reviews"] else 0.0
    return rows
