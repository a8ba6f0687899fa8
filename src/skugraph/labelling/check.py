"""Finding label errors: out-of-fold tag probabilities from the fast character CRF
(:mod:`skugraph.tagging.crf_member`, trained on k − 1 folds, run on the held-out one), then
cleanlab's token-classification label quality: a character's is the probability the held-out
model gives its current tag (self-confidence); cleanlab also counts the characters whose tag
the model confidently disputes (confident learning).

The unit of review is the suspect: a place in a title where a current span or a span of the
held-out model lies (overlapping ones merged), so a wrong type, a shifted boundary and a
missing span each show as one place. Suspects are scored from cleanlab's character label
quality (:func:`suspects`) and ranked over the whole data, worst first
(:func:`ranked_suspects`); titles (:class:`LabelIssue`) come worst suspect first.
:func:`inject_errors` and :func:`detection_scores` measure how many planted errors the ranking finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import random
import warnings

import numpy as np

from skugraph.corpus.ner import LabelledText, Span
from skugraph.labelling.tasks import prediction, task
from skugraph.tagging.crf_member import CrfFeatures, CrfMember
from skugraph.tagging.encoding import tag_set, token_tags
from skugraph.tagging.ensemble import CharScores, decode_marginals
from skugraph.tagging.tagger import ScoredSpan

CURRENT = "current-labels"  # model_version of the prediction holding the labels under review
MODEL = "crf-out-of-fold"  # model_version of the held-out CRF's alternative
DOUBTED = 0.5  # a review task lists its title's suspects scoring under this (and always the worst)
NO_ALTERNATIVE = 0.8  # a place where the held-out model sees no span scores its quality to this power (see :func:`suspects`)


@dataclass(frozen=True, slots=True)
class Suspect:
    start: int
    end: int
    current: str  # the current label there ("O": none), several joined by "+"
    model: str  # the model's label there, the same way
    score: float = 1.0  # its label quality, 0 (surely wrong) to 1: suspects over the whole data are ranked by it, lowest first

    def to_dict(self, text: str) -> dict:
        return {"start": self.start, "end": self.end, "text": text[self.start : self.end], "current": self.current,
                "model": self.model, "score": float(f"{self.score:.4g}")}  # significant digits: the worst are near 0


@dataclass(frozen=True, slots=True)
class LabelIssue:
    index: int  # the title's position in the data
    item: LabelledText
    score: float  # its worst suspect's score, 0 (surely wrong) to 1
    label_quality: float  # cleanlab's label quality of the title
    flagged: int  # characters cleanlab flags as mislabelled
    suspects: tuple[Suspect, ...]
    current_scores: tuple[float, ...]  # the held-out model's mean probability of each current span's tags
    model_spans: tuple[ScoredSpan, ...]  # the held-out model's own spans


def char_tags(item: LabelledText, tags: Sequence[str], scheme: str) -> list[int]:
    """The index in ``tags`` of each character's current tag."""
    index = {tag: i for i, tag in enumerate(tags)}
    return [index[tag] for tag in token_tags([(i, i + 1) for i in range(len(item.text))], item.spans, scheme)]


def out_of_fold_marginals(data: Sequence[LabelledText], tags: Sequence[str], scheme: str, folds: int = 5, seed: int = 0,
                          features: CrfFeatures | None = None, iterations: int = 100) -> list[np.ndarray]:
    """Each text's tag probabilities per character [chars, tags] from a CRF that did not see it
    (``folds``-fold, shuffled by ``seed``)."""
    from sklearn.model_selection import KFold

    if not 2 <= folds <= len(data):
        raise ValueError(f"--folds must be between 2 and the number of titles ({len(data)}), got {folds}")
    features = features or CrfFeatures()
    out: list[np.ndarray] = [np.zeros((0, len(tags)))] * len(data)
    for train, held in KFold(folds, shuffle=True, random_state=seed).split(np.arange(len(data))):
        crf = CrfMember.train([data[i] for i in train], tags, scheme, features, iterations=iterations)
        for i, probs in zip(held, crf.marginals([data[i].text for i in held]), strict=True):
            out[i] = probs
    return out


def rank_label_issues(data: Sequence[LabelledText], marginals: Sequence[np.ndarray], tags: Sequence[str], scheme: str) -> list[LabelIssue]:
    """Every non-empty title with its suspects (:func:`suspects`), the title with the worst suspect first."""
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    kept = [i for i, item in enumerate(data) if item.text]
    labels = [char_tags(data[i], tags, scheme) for i in kept]
    probs = [np.asarray(marginals[i]) for i in kept]
    flagged: dict[int, int] = {}
    with warnings.catch_warnings():  # "too few examples" of a rare tag: nothing the user can act on
        warnings.simplefilter("ignore", UserWarning)
        for row, _ in find_label_issues(labels, probs, n_jobs=1):
            flagged[row] = flagged.get(row, 0) + 1
        title_scores, char_scores = get_label_quality_scores(labels, probs)
    model = decode_marginals([CharScores(p) for p in probs], list(tags))
    same_type = _type_matrix(tags)
    issues = []
    for row, i in enumerate(kept):
        item, tag = data[i], np.asarray(labels[row])
        current = tuple(round(float(np.mean([probs[row][c, labels[row][c]] for c in range(s.start, s.end)])), 4) for s in item.spans)
        type_quality = (probs[row] @ same_type)[np.arange(len(tag)), tag]
        found = suspects(item, model[row], np.asarray(char_scores[row]), type_quality)
        issues.append(LabelIssue(i, item, min((s.score for s in found), default=1.0), float(title_scores[row]), flagged.get(row, 0),
                                 found, current, tuple(model[row])))
    return sorted(issues, key=lambda issue: (issue.score, issue.label_quality, issue.index))


def suspects(item: LabelledText, model: Sequence[ScoredSpan], quality: np.ndarray, type_quality: np.ndarray) -> tuple[Suspect, ...]:
    """The places in ``item`` where a current span or a model span lies (overlapping ones merged).
    Each is scored by its worst character's label quality (``quality``: cleanlab's, the held-out
    probability of the character's tag) times the square root of its worst type quality (the
    probability of the tag's type, B- and I- together: a type error shows there, a B/I confusion
    does not), over the title's median label quality (a title the model reads poorly everywhere
    is less suspect at any one place); at most 1. Chosen on JD train with 5% injected errors
    (seed 0) against the plain worst label quality: top-10% recall 0.715 → 0.728.

    A place where the held-out model sees no span at all doubts a current span without offering
    anything else, weaker evidence than a model span that disagrees (most such places are rare
    words the model cannot read, not errors): its score is raised to the power
    :data:`NO_ALTERNATIVE` (< 1, so less suspect). Chosen on JD train (seed 0) and Ding train
    (seed 1), 5% injected errors, from 1, 0.8, 0.6, 0.5, 0.4, 0.3: top-10% recall JD 0.728 → 0.733,
    Ding 0.561 → 0.601 (a missing span is now found more often: the places it competed with were these)."""
    places: list[list[int]] = []
    for span in sorted([*item.spans, *model], key=lambda s: (s.start, s.end)):
        if places and span.start < places[-1][1]:
            places[-1][1] = max(places[-1][1], span.end)
        else:
            places.append([span.start, span.end])
    typical = max(float(np.median(quality)), 1e-9)
    out = []
    for start, end in places:
        score = min(1.0, float(quality[start:end].min() * np.sqrt(type_quality[start:end].min())) / typical)
        offered = _labels(model, start, end)
        out.append(Suspect(start, end, _labels(item.spans, start, end), offered, score ** NO_ALTERNATIVE if offered == "O" else score))
    return tuple(out)


def _type_matrix(tags: Sequence[str]) -> np.ndarray:
    """[tags, tags]: 1 where two tags carry the same type (``O`` its own)."""
    types = [tag.split("-", 1)[1] if "-" in tag else tag for tag in tags]
    return np.array([[float(a == b) for b in types] for a in types])


def describe(labels: str, hints: dict[str, str]) -> str:
    """A suspect's ``current`` or ``model`` labels with each one's meaning (``37(compatible_brand)``)."""
    return "+".join(f"{label}({hints[label]})" if hints.get(label) else label for label in labels.split("+"))


def _labels(spans: Sequence[Span | ScoredSpan], start: int, end: int) -> str:
    return "+".join(s.label for s in spans if s.start < end and s.end > start) or "O"


def check_labels(data: Sequence[LabelledText], scheme: str = "bio", folds: int = 5, seed: int = 0,
                 features: CrfFeatures | None = None, iterations: int = 100) -> list[LabelIssue]:
    """:func:`rank_label_issues` on out-of-fold CRF probabilities of ``data``."""
    tags = tag_set([s.label for item in data for s in item.spans], scheme)
    return rank_label_issues(data, out_of_fold_marginals(data, tags, scheme, folds, seed, features, iterations), tags, scheme)


def review_tasks(issues: Sequence[LabelIssue]) -> list[dict]:
    """Label Studio review tasks: the current labels (model_version :data:`CURRENT`, each span
    scored by the held-out model) and the model's alternative (:data:`MODEL`) as two predictions;
    in the task data the suspects scoring under :data:`DOUBTED` (at least the worst) worst first, the worst one's score
    (``suspicion``), cleanlab's label quality of the title and its index in the data."""
    out = []
    for issue in issues:
        text = issue.item.text
        current = prediction(text, [(s.start, s.end, s.label, p) for s, p in zip(issue.item.spans, issue.current_scores, strict=True)], CURRENT)
        model = prediction(text, [(s.start, s.end, s.label, s.score) for s in issue.model_spans], MODEL)
        worst_first = sorted(issue.suspects, key=lambda s: (s.score, s.start))
        worst_first = [s for n, s in enumerate(worst_first) if n == 0 or s.score < DOUBTED]
        out.append(task(text, issue.item.id, [current, model], suspicion=float(f"{issue.score:.4g}"), label_quality=round(issue.label_quality, 6),
                        index=issue.index, flagged_characters=issue.flagged, suspects=[s.to_dict(text) for s in worst_first]))
    return out


KINDS = ("swap", "shift", "delete")  # the kinds of injected label error


@dataclass(frozen=True, slots=True)
class InjectedError:
    index: int  # the title's position in the data
    kind: str  # one of :data:`KINDS`
    original: Span
    corrupted: Span | None  # None: the span was deleted


def inject_errors(data: Sequence[LabelledText], rate: float, seed: int = 0) -> tuple[list[LabelledText], list[InjectedError]]:
    """``data`` with ``rate`` of its spans corrupted (rounded), in equal shares of each of :data:`KINDS`:
    a type swap (to another label found in the data), a boundary shift (start or end moved by 1 or 2
    characters, inside the text, not empty and overlapping no other span) or a deletion; each error
    recorded. Spans are drawn at random (``seed``); one that cannot take the kind due next (a shift
    with no room) takes another kind."""
    if not 0 <= rate <= 1:
        raise ValueError(f"the error rate must be between 0 and 1, got {rate}")
    labels = sorted({s.label for item in data for s in item.spans})
    positions = [(i, j) for i, item in enumerate(data) for j in range(len(item.spans))]
    rng = random.Random(seed)
    rng.shuffle(positions)
    wanted = round(rate * len(positions))
    quota = {kind: wanted // len(KINDS) + (n < wanted % len(KINDS)) for n, kind in enumerate(KINDS)}
    spans = {i: list(item.spans) for i, item in enumerate(data)}  # None marks a deleted span
    errors: list[InjectedError] = []
    for i, j in positions:
        if not any(quota.values()):
            break
        original = spans[i][j]
        for kind in sorted((k for k in KINDS if quota[k]), key=lambda k: -quota[k]):
            corrupted = _corrupt(kind, original, data[i].text, [s for n, s in enumerate(spans[i]) if n != j and s], labels, rng)
            if corrupted is not False:
                spans[i][j] = corrupted
                errors.append(InjectedError(i, kind, original, corrupted))
                quota[kind] -= 1
                break
    noisy = [LabelledText(item.text, tuple(s for s in spans[i] if s), item.id) for i, item in enumerate(data)]
    return noisy, sorted(errors, key=lambda e: (e.index, e.original.start))


def _corrupt(kind: str, span: Span, text: str, others: Sequence[Span], labels: Sequence[str], rng: random.Random) -> Span | None | bool:
    """``span`` corrupted as ``kind`` (None: deleted), or False where that kind cannot apply."""
    if kind == "delete":
        return None
    if kind == "swap":
        choices = [label for label in labels if label != span.label]
        return Span(span.start, span.end, rng.choice(choices)) if choices else False
    shifts = [Span(span.start + d, span.end, span.label) for d in (-2, -1, 1, 2)] + [Span(span.start, span.end + d, span.label) for d in (-2, -1, 1, 2)]
    shifts = [s for s in shifts if 0 <= s.start < s.end <= len(text) and text[s.start:s.end].strip()
              and not any(o.start < s.end and o.end > s.start for o in others)]
    return rng.choice(shifts) if shifts else False


def ranked_suspects(issues: Sequence[LabelIssue]) -> list[tuple[LabelIssue, Suspect]]:
    """Every suspect of every title, lowest label quality first (ties: the data's order)."""
    pairs = [(issue, suspect) for issue in issues for suspect in issue.suspects]
    return sorted(pairs, key=lambda pair: (pair[1].score, pair[0].index, pair[1].start))


def detection_scores(issues: Sequence[LabelIssue], injected: Sequence[InjectedError], fractions: Sequence[float] = (0.05, 0.10)) -> dict:
    """How well :func:`check_labels`'s ranking finds ``injected`` errors (:func:`inject_errors`).

    The unit is the suspect, not the title (a JD training title carries about sixteen spans, so 5%
    of spans corrupted touches over half of the titles, and no title-level top 10% could hold 60% of them).
    The suspects of all ``issues`` (the whole ranking, every title) are ranked by their score
    (:func:`ranked_suspects`); at each fraction the top N = round(fraction × the labelled spans in
    ``issues``) are taken. An injected error is found when a suspect among them, in its title,
    overlaps its original or its corrupted span by a character. Recall = errors found / errors
    injected (also per kind); precision = suspects taken that overlap some injected error / suspects
    taken (N, or fewer when there are fewer suspects)."""
    spans = sum(len(issue.item.spans) for issue in issues)
    by_title: dict[int, list[InjectedError]] = {}
    for error in injected:
        by_title.setdefault(error.index, []).append(error)
    ranked = ranked_suspects(issues)
    out: dict = {"labelled_spans": spans, "injected": len(injected), "suspects": len(ranked), "at": {}}
    for fraction in fractions:
        taken = ranked[: round(fraction * spans)]
        found: set[int] = set()
        hits = 0
        for issue, suspect in taken:
            matched = [id(e) for e in by_title.get(issue.index, []) if _overlaps(suspect, e)]
            hits += bool(matched)
            found.update(matched)
        kinds = {kind: [e for e in injected if e.kind == kind] for kind in KINDS}
        out["at"][f"{fraction:g}"] = {
            "n": len(taken), "precision": round(hits / len(taken), 4) if taken else 0.0,
            "recall": round(len(found) / len(injected), 4) if injected else 0.0,
            "recall_by_kind": {kind: round(sum(id(e) in found for e in errors) / len(errors), 4) for kind, errors in kinds.items() if errors}}
    return out


def _overlaps(suspect: Suspect, error: InjectedError) -> bool:
    return any(s is not None and s.start < suspect.end and s.end > suspect.start for s in (error.original, error.corrupted))
