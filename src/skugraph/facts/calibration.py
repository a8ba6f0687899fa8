"""Fact confidence that means precision: a calibrator fitted on labelled dev titles.

A fact's raw confidence is its mention's score (a rule's fixed estimate, or a tagger's span
probability), combined by noisy-or over readings and scaled for an off-category value
(:mod:`skugraph.facts.build`). Here each fact the extractor makes of a labelled dev title is
judged right or wrong against the facts of the gold spans (:meth:`skugraph.fact_scores.LabelledReads.outcomes`),
and a map from what is known about the fact to the share of such facts that are right is fitted.

What the map reads of a fact (:data:`FEATURES`, plus one indicator per predicate):

- ``logit_confidence``: the raw confidence (the span marginal, for a tagger);
- ``log_agreement``: the share of its listing's support for this (product, predicate) that
  this object holds (support from the per-listing vote for an attribute value, confidence
  otherwise; 1 when it is the only one), so a value its own listing contradicts, or a second
  brand, counts less;
- ``log_evidence``: how many readings the fact joins;
- ``listing_logit``: the mean ``logit_confidence`` of the listing's facts, how sure the
  extractor is of the title as a whole (on JD dev it lifts the share of right facts a
  tagger keeps at precision 0.90 by about a point);
- ``log_span_length`` and ``start``: the length of the fact's first reading and where in its
  field it starts (a one-character value, or a word deep in a long title, is less sure);
- for product words only (``product_type``, ``related_product``; 0 for other facts), which
  of them is the head is decided by the listing's other product words
  (:func:`skugraph.facts.build.head_product`), so a right word can still be a wrong fact:
  ``log_product_words`` (how many the listing has), ``head_margin`` (by how many words the
  largest last-character group beats the next), ``in_largest_group`` and
  ``weakest_other_product`` (the lowest confidence among the others: one doubtful word can
  move the head) and ``log_role``, the probability that its role is right if its word is
  (:func:`role_probabilities`: the head rule over every set of the listing's product words that
  may really be there); each once for ``product_type`` and once for ``related_product``, whose
  signs differ; and for every fact ``logit_joint``, its confidence times that probability (1
  for other facts) as a logit: the chance that both its word and its role are right;
- with a lexical prior (:func:`lexical_prior`, from the gold facts of the tagger's training
  titles; stored in the calibration), how the training labels treat the fact's span text:
  ``lexical_rate`` (the share of the training titles it occurs in whose labels state it with
  this predicate, product words counted as one), ``lexical_other_rate`` (with another
  predicate), ``log_lexical_occurrences`` and ``lexically_unseen`` (no label ever states it).
  Annotators who label a word in some titles and not in others (Ding's product words) leave a
  trace here that a tagger's marginals smooth over.

Each predicate also gets its own weight on ``logit_confidence`` (``logit_confidence*P``), since
a tagger's marginals are sharper for some types than others. Together these lift the share of
right facts kept at precision 0.90 on JD dev from 60.4% to about 63% and on Ding dev from 45%
to about 48% (cross-fitted, ``benchmarks/facts.py``); the lexical prior adds about three points
on JD (65%) and one and a half on Ding (49%, short of the 60% target). ``log_role`` and
``logit_joint`` moved Ding from 47.9% to 50.1% and JD from 68.7% to 68.4% (models retrained on
2026-12-03, whose figures differ from those above).

Category consistency enters through the raw confidence (the ontology's off-category factor);
the labelled data sets have no categories, so it is not fitted apart. Agreement across the
listings of one product is fusion's (noisy-or there), not the reader's.

Four candidates are fitted: Platt scaling (a logistic regression, i.e. a temperature and a
bias) on the raw confidence alone, isotonic regression on it, and both again over a logistic
score of all the features. Each is scored on out-of-fold predictions (5 folds by listing) by
its expected calibration error (ECE, 10 equal-width bins) and its Brier score; the one with
the lowest Brier score is fitted on all the dev facts. The choice is not by ECE alone because a
map that gives every fact the dev share right has an ECE near 0 and separates nothing: the
Brier score is calibration plus resolution, and a threshold can only buy precision with the
second. The saved file (:data:`CALIBRATION_FILE`, JSON) holds the map, the cross-fitted dev ECE
before and after, the dev precision–coverage curve and the threshold it picks: the lowest
calibrated confidence whose dev precision is at least the target (0.90) plus a margin
(:data:`PICK_MARGIN`, so that it holds on listings it was not picked on), with the share of
the unthresholded right facts it keeps. A :class:`~skugraph.extract.ListingReader` with a calibration
rewrites the confidence of every fact of a predicate it was fitted on; other facts (listing
fields, reviews, predicates the dev labels never state) keep theirs.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from skugraph.corpus.normalize import fold
from skugraph.records import CALIBRATED_VERSION, Fact
from skugraph.tagging.evaluate import expected_calibration_error, logit

CALIBRATION_FILE = "fact-calibration.json"  # in an extractor's model directory
PRODUCT_WORDS = ("product_type", "related_product")  # the facts whose role the head rule decides
_PRODUCT_FEATURES = ("log_product_words", "head_margin", "in_largest_group", "weakest_other_product", "log_role")
FEATURES = ("logit_confidence", "logit_joint", "log_agreement", "log_evidence", "listing_logit", "log_span_length", "start",
            *(f"{name}*{predicate}" for predicate in PRODUCT_WORDS for name in _PRODUCT_FEATURES))
LEXICAL_FEATURES = ("lexical_rate", "lexical_other_rate", "log_lexical_occurrences", "lexically_unseen")
TARGET_PRECISION = 0.90
#: the curve picks the lowest threshold reaching the target plus this: picked at the target itself, the
#: threshold held 0.899 on JD dev's unseen listings on average (6 fold seeds; the lowest of many
#: noisy points that reach it is an optimistic pick), with it 0.904
PICK_MARGIN = 0.005
_EPS = 1e-4


@dataclass(frozen=True)
class CurvePoint:
    """Facts kept at ``confidence ≥ threshold``: their precision and the share of all right facts kept."""

    threshold: float
    precision: float
    recall_kept: float
    kept: int


def precision_coverage(confidences: Sequence[float], correct: Sequence[bool], digits: int = 3) -> list[CurvePoint]:
    """The precision–coverage curve, one point per distinct confidence (cut to ``digits``, so a fact
    keeps ``confidence ≥ threshold`` exactly where it was counted), highest first."""
    scale = 10**digits
    conf = np.floor(np.asarray(confidences, dtype=np.float64) * scale + 1e-9) / scale
    hits = np.asarray(correct, dtype=bool)
    right = max(int(hits.sum()), 1)
    points = []
    for threshold in sorted(set(conf.tolist()), reverse=True):
        kept = conf >= threshold
        points.append(CurvePoint(threshold, round(float(hits[kept].mean()), 4), round(float(hits[kept].sum()) / right, 4),
                                 int(kept.sum())))
    return points


def pick_threshold(curve: Sequence[CurvePoint], target: float = TARGET_PRECISION) -> CurvePoint | None:
    """The point of the lowest threshold whose precision reaches ``target`` (the most recall at that
    precision), or None when no threshold does."""
    reaching = [point for point in curve if point.precision >= target]
    return min(reaching, key=lambda point: point.threshold) if reaching else None


Lexicon = dict[str, list]  # span text → [titles it occurs in, {predicate group: facts stating it}]


def _group(predicate: str) -> str:
    """Product words count as one in the lexical prior: their role is the head rule's, not the label's."""
    return PRODUCT_WORDS[0] if predicate in PRODUCT_WORDS else predicate


def span_text(fact: Fact) -> str:
    """The characters of a title the fact was first read from (its object's name otherwise)."""
    first = fact.provenance[0] if fact.provenance else None
    if first and first.field == "title" and first.end <= len(fact.subject.name):
        return fact.subject.name[first.start : first.end]
    return fact.object.name


def lexical_prior(titles: Sequence[str], facts: Sequence[Sequence[Fact]]) -> Lexicon:
    """How labelled titles (the gold facts of each) treat each span text their facts state: in how
    many of the titles it occurs, and how many facts of each predicate state it."""
    stated: dict[str, Counter] = defaultdict(Counter)
    for listing_facts in facts:
        for fact in listing_facts:
            stated[span_text(fact)][_group(fact.predicate)] += 1
    longest = max(map(len, stated), default=0)
    occurrences: Counter = Counter()
    for title in titles:
        occurrences.update({title[i:j] for i in range(len(title)) for j in range(i + 1, min(len(title), i + longest) + 1)
                            if title[i:j] in stated})
    return {text: [occurrences[text], dict(counts)] for text, counts in sorted(stated.items())}


def _lexical_features(fact: Fact, lexicon: Lexicon) -> dict[str, float]:
    occurrences, counts = lexicon.get(span_text(fact), (0, {}))
    here = counts.get(_group(fact.predicate), 0)
    share = (lambda n: min(n / occurrences, 1.0)) if occurrences else (lambda n: 0.0)
    return {"lexical_rate": share(here), "lexical_other_rate": share(sum(counts.values()) - here),
            "log_lexical_occurrences": math.log1p(occurrences), "lexically_unseen": float(not counts)}


def fact_features(facts: Sequence[Fact], lexicon: Lexicon | None = None) -> list[dict[str, float]]:
    """What the calibrator reads of each of one listing's facts (after the listing's vote), with
    ``lexicon`` the lexical prior's too; see the module doc."""
    total: dict[tuple[str, str], float] = defaultdict(float)
    for fact in facts:
        total[(fact.subject.ref, fact.predicate)] += _support(fact)
    products = _product_word_features(facts)
    roles = role_probabilities(facts)
    rows = []
    for n, fact in enumerate(facts):
        group = total[(fact.subject.ref, fact.predicate)]
        agreement = _support(fact) / group if group > 0 else 1.0
        confidence = min(max(fact.confidence, _EPS), 1 - _EPS)
        raw = logit(confidence)
        first = fact.provenance[0] if fact.provenance else None
        row = {"logit_confidence": raw, "logit_joint": logit(confidence * roles.get(n, 1.0)),
               "log_agreement": math.log(max(agreement, _EPS)),
               "log_evidence": math.log(max(len(fact.provenance), 1)), f"predicate={fact.predicate}": 1.0,
               f"logit_confidence*{fact.predicate}": raw,
               "log_span_length": math.log(max(first.end - first.start, 1)) if first else 0.0,
               "start": min(first.start, _FAR) / _FAR if first else 0.0}
        if fact.predicate in PRODUCT_WORDS:
            row |= {f"{name}*{fact.predicate}": value for name, value in products(fact).items()}
            row[f"log_role*{fact.predicate}"] = math.log(max(roles[n], _EPS))
        if lexicon is not None:
            row |= _lexical_features(fact, lexicon)
        rows.append(row)
    listing = sum(row["logit_confidence"] for row in rows) / len(rows) if rows else 0.0
    return [row | {"listing_logit": listing} for row in rows]


_FAR = 60  # characters: a reading starting this deep into its field or deeper counts as at the end
_EXACT_WORDS = 8  # up to this many product words, role_probabilities sums over every subset of them; above, it samples
_ROLE_SAMPLES = 256


def _readings(fact: Fact) -> list[tuple[int, int, str]]:
    """A product-word fact's readings as the head rule sees them: (field order, start, folded text),
    the title's first."""
    title = fact.subject.name
    out = [(0, p.start, fold(title[p.start : p.end])) if p.field == "title" and p.end <= len(title)
           else (1, p.start, fold(fact.object.name)) for p in fact.provenance]
    return out or [(1, 0, fold(fact.object.name))]


def role_probabilities(facts: Sequence[Fact]) -> dict[int, float]:
    """For each product-word fact of one listing (by its index), the probability that its role
    (head or not) is right if its word is: each product word is taken to be really there with
    its fact's confidence, independently, and the head rule is applied to each set of words
    (every set up to :data:`_EXACT_WORDS` words, a seeded sample of sets above). A right word
    in a wrong role is a wrong fact, and the head is read off the other words: one doubtful
    word of the largest group can move it. All sets are read at once, as arrays: about 0.1 ms a listing
    (JD dev titles: up to 12 product words, most 2-6), which a calibrated reader pays on every listing."""
    index = [n for n, fact in enumerate(facts) if fact.predicate in PRODUCT_WORDS]
    if not index:
        return {}
    readings = sorted((reading, k) for k, n in enumerate(index) for reading in _readings(facts[n]))
    chance = np.clip([facts[n].confidence for n in index], 1e-3, 1 - 1e-3)
    if len(index) <= _EXACT_WORDS:
        draws = np.array(list(itertools.product((False, True), repeat=len(index))), dtype=bool)[1:]
        weights = np.where(draws, chance, 1 - chance).prod(axis=1)
    else:
        draws = np.random.default_rng(0).random((_ROLE_SAMPLES, len(index))) < chance
        weights = np.full(len(draws), 1 / _ROLE_SAMPLES)
    # the head rule on every draw at once: readings in order, the first field's, grouped by last character
    order = np.array([reading[0] for reading, _ in readings])
    unit = np.array([k for _, k in readings])
    texts = [reading[2] for reading, _ in readings]
    keys = sorted({text[-1:] for text in texts})
    in_group = np.array([text[-1:] for text in texts])[None, :] == np.array(keys)[:, None]  # groups × readings
    present = draws[:, unit]  # draws × readings
    live = present & (order == np.where(present, order, order.max() + 1).min(axis=1, keepdims=True))
    sizes = live.astype(int) @ in_group.T  # draws × groups
    first = np.where(live[:, None, :] & in_group[None], np.arange(len(texts)), len(texts)).min(axis=2)
    winner = (sizes * (len(texts) + 1) - first).argmax(axis=1)  # the largest group, the earlier one on a tie
    text_ids = {text: i for i, text in enumerate(dict.fromkeys(texts))}
    said = np.zeros((len(index), len(text_ids)), dtype=bool)  # which words each fact reads
    said[unit, [text_ids[text] for text in texts]] = True
    head = np.array([text_ids[text] for text in texts])[first[np.arange(len(draws)), winner]]  # its first word, per draw
    headed = ((draws & said[:, head].T) * weights[:, None]).sum(axis=0)
    return {n: float(min(headed[k] / chance[k], 1.0)) if facts[n].predicate == "product_type"
            else float(max(1 - headed[k] / chance[k], 0.0)) for k, n in enumerate(index)}


def _product_word_features(facts: Sequence[Fact]) -> Callable[[Fact], dict[str, float]]:
    """For a listing's facts, a function giving a product-word fact how firmly its role was decided
    (the head is the first word of the largest group of product words sharing a last character)."""
    words = [fact for fact in facts if fact.predicate in PRODUCT_WORDS]
    groups = Counter(fact.object.key[-1:] for fact in words)
    largest, second = ([*sorted(groups.values(), reverse=True), 0, 0])[:2]

    def features(fact: Fact) -> dict[str, float]:
        others = [other.confidence for other in words if other is not fact]
        return {"log_product_words": math.log(len(words)), "head_margin": float(min(largest - second, 3)),
                "in_largest_group": float(groups[fact.object.key[-1:]] == largest),
                "weakest_other_product": min(others) if others else 1.0}

    return features


def _support(fact: Fact) -> float:
    """What a fact weighs in its listing's vote (its confidence, for a predicate that is not voted on)."""
    return fact.properties.get("support", fact.confidence)


@dataclass
class FactCalibration:
    """A fitted map from a fact's features to the probability that it is right.

    ``score = intercept + Σ weights[f] · feature f``; the probability is ``sigmoid(score)``
    (method ``platt``) or the isotonic curve through ``(x, y)`` at ``score`` (``isotonic``)."""

    method: str
    weights: dict[str, float]
    intercept: float
    predicates: list[str]  # the predicates it was fitted on; it rewrites these only
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    report: dict = field(default_factory=dict)  # dev ECE, candidates, curve, threshold (see the module doc)
    lexicon: Lexicon | None = None  # the lexical prior its features read (lexical_prior), if fitted with one

    def probabilities(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        score = np.array([self.intercept + sum(w * row.get(name, 0.0) for name, w in self.weights.items()) for row in rows])
        if self.method == "platt":
            return 1 / (1 + np.exp(-score))
        return np.interp(score, self.x, self.y)

    def apply(self, facts: list[Fact]) -> list[Fact]:
        """One listing's facts with calibrated confidences (vote again on them); each rewritten
        fact's provenance versions end in ``+calibrated``, so the graph can tell them apart
        (``skugraph stats``)."""
        if not facts:
            return facts
        known = set(self.predicates)
        calibrated = self.probabilities(fact_features(facts, self.lexicon))
        return [_calibrated(fact, float(p)) if fact.predicate in known else fact
                for fact, p in zip(facts, calibrated, strict=True)]

    def describe(self) -> str:
        """One line: the method, the cross-fitted dev ECE before and after, and the threshold's precision and recall kept."""
        c, picked = self.report, self.report["threshold"]
        return (f"fact calibration ({c['candidate']}, {c['facts']} facts): ECE {c['ece_raw']} → {c['ece_calibrated']} "
                f"({c['folds']}-fold cross-fitted, {c['ece_bins']} bins); "
                + (f"precision {picked['precision']:.3f} at confidence ≥ {picked['threshold']}, keeping {picked['recall_kept']:.1%}"
                   " of the right facts" if picked else f"no threshold reaches precision {c.get('picked_at_precision', c['target_precision'])}"))

    @property
    def threshold(self) -> float | None:
        """The confidence the dev curve picks for the target precision, or None."""
        picked = self.report.get("threshold")
        return picked["threshold"] if picked else None

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> FactCalibration:
        """A saved calibration; a file that is not one raises ``ValueError`` naming it and the field."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a fact calibration file ({error})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a fact calibration file (expected a JSON object)")
        for name in ("method", "weights", "intercept", "predicates"):
            if name not in data:
                raise ValueError(f"{path}: not a fact calibration file (no field {name!r})")
        if data["method"] not in ("platt", "isotonic"):
            raise ValueError(f"{path}: field 'method' must be platt or isotonic, not {data['method']!r}")
        if data["method"] == "isotonic" and (not data.get("x") or len(data.get("x", [])) != len(data.get("y", []))):
            raise ValueError(f"{path}: fields 'x' and 'y' must be the isotonic curve's breakpoints, of one length")
        if not isinstance(data.get("lexicon") or {}, dict):
            raise ValueError(f"{path}: field 'lexicon' must map span texts to [occurrences, counts per predicate]")
        return cls(**{k: data[k] for k in ("method", "weights", "intercept", "predicates", "x", "y", "report", "lexicon")
                      if k in data})


def _calibrated(fact: Fact, probability: float) -> Fact:
    provenance = tuple(p if p.version.endswith(CALIBRATED_VERSION) else replace(p, version=p.version + CALIBRATED_VERSION)
                       for p in fact.provenance)
    return replace(fact, confidence=round(probability, 4), provenance=provenance)


# the candidates: (name, method, features used: raw confidence only, or all)
CANDIDATES = (("platt", "platt", False), ("isotonic", "isotonic", False),
              ("platt+features", "platt", True), ("isotonic+features", "isotonic", True))


def _fit(rows: Sequence[dict[str, float]], right: np.ndarray, method: str, all_features: bool,
         lexicon: Lexicon | None = None) -> FactCalibration:
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    predicates = sorted({name.partition("=")[2] for row in rows for name in row if name.startswith("predicate=")})
    names = ([*FEATURES, *(LEXICAL_FEATURES if lexicon is not None else ()),
              *(f"{kind}{p}" for p in predicates for kind in ("predicate=", "logit_confidence*"))]
             if all_features else ["logit_confidence"])
    matrix = np.array([[row.get(name, 0.0) for name in names] for row in rows])
    if method == "isotonic" and not all_features:
        weights, intercept = {"logit_confidence": 1.0}, 0.0
    else:
        model = LogisticRegression(C=1.0, max_iter=1000).fit(matrix, right)
        weights = dict(zip(names, model.coef_[0].round(6).tolist(), strict=True))
        intercept = round(float(model.intercept_[0]), 6)
    calibration = FactCalibration(method, weights, intercept, predicates, lexicon=lexicon if all_features else None)
    if method == "isotonic":
        score = matrix @ np.array([weights[n] for n in names]) + intercept
        curve = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, right)
        calibration.x, calibration.y = curve.X_thresholds_.round(6).tolist(), curve.y_thresholds_.round(6).tolist()
    return calibration


def _folds(groups: Sequence[str], k: int, seed: int) -> np.ndarray:
    """A fold number per fact: the listings shuffled and dealt into ``k`` folds."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[i]: n % k for n, i in enumerate(order)}
    return np.array([fold_of[g] for g in groups])


def listing_folds(listings: int, parts: int, seed: int = 0) -> np.ndarray:
    """The share (0 … ``parts`` - 1) each of ``listings`` listings falls in when a figure is cross-fitted over them."""
    return _folds([str(n) for n in range(listings)], parts, seed)


def fit_calibration(listing_facts: Sequence[Sequence[Fact]], right: Sequence[Sequence[bool | None]], folds: int = 5,
                    target: float = TARGET_PRECISION, seed: int = 0, lexicon: Lexicon | None = None) -> FactCalibration:
    """Fit the calibrator on dev facts (each listing's facts, as a reader made them with raw
    confidences, and whether each is right: None for a fact the labels cannot judge, which still
    counts in its listing's features) and record its cross-fitted dev figures; see the module doc.
    ``lexicon``: a lexical prior from the training labels (:func:`lexical_prior`), never from these."""
    rows, hits, groups, raw = [], [], [], []
    for n, (facts, flags) in enumerate(zip(listing_facts, right, strict=True)):
        for row, fact, flag in zip(fact_features(facts, lexicon), facts, flags, strict=True):
            if flag is not None:
                rows.append(row)
                hits.append(flag)
                groups.append(str(n))
                raw.append(fact.confidence)
    y = np.asarray(hits, dtype=int)
    if len(y) < 2 * folds or y.min() == y.max():
        raise ValueError(f"cannot calibrate on {len(y)} facts of which {int(y.sum())} are right: "
                         f"need at least {2 * folds} facts, some right and some wrong")
    fold = _folds(groups, folds, seed)
    out_of_fold = {name: np.zeros(len(y)) for name, _, _ in CANDIDATES}
    for k in range(folds):
        train, test = fold != k, fold == k
        if not test.any():
            continue
        train_rows, test_rows = [rows[i] for i in np.flatnonzero(train)], [rows[i] for i in np.flatnonzero(test)]
        for name, method, all_features in CANDIDATES:
            if y[train].min() == y[train].max():
                out_of_fold[name][test] = y[train].mean()
            else:
                out_of_fold[name][test] = _fit(train_rows, y[train], method, all_features, lexicon).probabilities(test_rows)
    eces = {name: round(expected_calibration_error(p, y), 4) for name, p in out_of_fold.items()}
    briers = {name: round(float(((p - y) ** 2).mean()), 4) for name, p in out_of_fold.items()}
    best = min(CANDIDATES, key=lambda c: (briers[c[0]], eces[c[0]]))
    calibration = _fit(rows, y, best[1], best[2], lexicon)
    curve = precision_coverage(out_of_fold[best[0]], y)
    picked = pick_threshold(curve, target + PICK_MARGIN)
    calibration.report = {
        "candidate": best[0], "facts": len(y), "right": int(y.sum()), "folds": folds, "ece_bins": "10 equal-width",
        "ece_raw": round(expected_calibration_error(raw, y), 4), "ece_calibrated": eces[best[0]],
        "ece_candidates": eces, "brier_candidates": briers, "lexicon_texts": len(lexicon) if lexicon is not None else None,
        "target_precision": target, "picked_at_precision": target + PICK_MARGIN, "threshold": asdict(picked) if picked else None,
        "curve": [asdict(point) for point in curve],
    }
    return calibration


@dataclass
class HeldOut:
    """Facts scored by a calibration fitted without them: raw and calibrated confidence, whether
    each is right, and whether it clears the threshold its calibration picked."""

    raw: np.ndarray
    calibrated: np.ndarray
    right: np.ndarray
    kept: np.ndarray
    thresholds: list[float | None]  # each part's picked threshold

    def summary(self) -> dict:
        """ECE raw and calibrated, and precision and the share of right facts kept at the picked thresholds."""
        kept_right = int((self.kept & self.right).sum())
        return {"facts": len(self.right), "right": int(self.right.sum()),
                "ece_raw": round(expected_calibration_error(self.raw, self.right), 4),
                "ece_calibrated": round(expected_calibration_error(self.calibrated, self.right), 4),
                "thresholds": self.thresholds, "kept": int(self.kept.sum()),
                "precision_kept": round(kept_right / int(self.kept.sum()), 4) if self.kept.any() else None,
                "recall_kept": round(kept_right / max(int(self.right.sum()), 1), 4)}


def cross_fit(listing_facts: Sequence[Sequence[Fact]], right: Sequence[Sequence[bool | None]],
              parts: int = 2, target: float = TARGET_PRECISION, seed: int = 0, lexicon: Lexicon | None = None) -> HeldOut:
    """Each of ``parts`` shares of the listings scored by a calibration (method, map and threshold)
    fitted on the others (:func:`fit_calibration`), so no figure is fitted on the facts it scores."""
    part = listing_folds(len(listing_facts), parts, seed)
    raw, calibrated, hits, kept, thresholds = [], [], [], [], []
    for k in range(parts):
        inside = [n for n in range(len(listing_facts)) if part[n] != k]
        fitted = fit_calibration([listing_facts[n] for n in inside], [right[n] for n in inside], target=target, seed=seed,
                                 lexicon=lexicon)
        thresholds.append(fitted.threshold)
        for n in np.flatnonzero(part == k):
            for before, after, flag in zip(listing_facts[n], fitted.apply(list(listing_facts[n])), right[n], strict=True):
                if flag is not None:
                    raw.append(before.confidence)
                    calibrated.append(after.confidence)
                    hits.append(flag)
                    kept.append(fitted.threshold is not None and after.confidence >= fitted.threshold)
    return HeldOut(np.array(raw), np.array(calibrated), np.array(hits, dtype=bool), np.array(kept, dtype=bool), thresholds)
