"""Finding label errors: out-of-fold tag probabilities from the fast character CRF
(:mod:`skugraph.tagging.crf_member`, trained on k − 1 folds, run on the held-out one), then
cleanlab's token-classification ranking: a character's label quality is the probability the
held-out model gives its current tag (self-confidence), a title's is its worst character's (ties,
such as several titles at 0, broken by the mean over the title's characters), and
cleanlab flags the characters whose tag the model confidently disputes (confident learning).

Every title comes back ranked worst first (:class:`LabelIssue`), with what is suspected there:
the character runs cleanlab flagged (or the worst character, where none is), widened to the
current and the model's spans that touch them, each with its current label and the model's.
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


@dataclass(frozen=True, slots=True)
class Suspect:
    start: int
    end: int
    current: str  # the current label there ("O": none), several joined by "+"
    model: str  # the model's label there, the same way
    score: float = 1.0  # its label quality, 0 (surely wrong) to 1: suspects over the whole data are ranked by it, lowest first

    def to_dict(self, text: str) -> dict:
        return {"start": self.start, "end": self.end, "text": text[self.start : self.end], "current": self.current,
                "model": self.model, "score": round(self.score, 6)}


@dataclass(frozen=True, slots=True)
class LabelIssue:
    index: int  # the title's position in the data
    item: LabelledText
    score: float  # cleanlab's label quality of the title, 0 (surely wrong) to 1
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
    """Every non-empty title, worst label quality first (cleanlab), with its suspects."""
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    kept = [i for i, item in enumerate(data) if item.text]
    labels = [char_tags(data[i], tags, scheme) for i in kept]
    probs = [np.asarray(marginals[i]) for i in kept]
    flagged: dict[int, list[int]] = {}
    with warnings.catch_warnings():  # "too few examples" of a rare tag: nothing the user can act on
        warnings.simplefilter("ignore", UserWarning)
        for row, char in find_label_issues(labels, probs, n_jobs=1):
            flagged.setdefault(row, []).append(char)
        title_scores, char_scores = get_label_quality_scores(labels, probs)
    model = decode_marginals([CharScores(p) for p in probs], list(tags))
    issues = []
    for row, i in enumerate(kept):
        item = data[i]
        chars = sorted(flagged.get(row, [])) or [int(np.argmin(np.asarray(char_scores[row])))]
        current = tuple(round(float(np.mean([probs[row][c, labels[row][c]] for c in range(s.start, s.end)])), 4) for s in item.spans)
        issues.append(LabelIssue(i, item, float(title_scores[row]), len(flagged.get(row, [])),
                                 _suspects(chars, item.spans, model[row], np.asarray(char_scores[row])), current, tuple(model[row])))
    mean = {i: float(np.mean(char_scores[row])) for row, i in enumerate(kept)}  # ties (a score of 0): more doubt first
    return sorted(issues, key=lambda issue: (issue.score, mean[issue.index], issue.index))


def _suspects(chars: Sequence[int], current: Sequence[Span], model: Sequence[ScoredSpan], quality: np.ndarray) -> tuple[Suspect, ...]:
    """Runs of flagged characters, each widened to the current and model spans that touch it and
    scored by its worst character's label quality."""
    runs: list[list[int]] = []
    for char in chars:
        if runs and char <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], char + 1)
        else:
            runs.append([char, char + 1])
    out: list[Suspect] = []
    for start, end in runs:
        touching = [s for s in [*current, *model] if s.start < end and s.end > start]
        start, end = min([start, *(s.start for s in touching)]), max([end, *(s.end for s in touching)])
        if out and start < out[-1].end:  # widened into the run before: one suspect
            start = out.pop().start
        out.append(Suspect(start, end, _labels(current, start, end), _labels(model, start, end), float(quality[start:end].min())))
    return tuple(out)


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
    the suspects, the title's label quality and its index in the data in the task data."""
    out = []
    for issue in issues:
        text = issue.item.text
        current = prediction(text, [(s.start, s.end, s.label, p) for s, p in zip(issue.item.spans, issue.current_scores, strict=True)], CURRENT)
        model = prediction(text, [(s.start, s.end, s.label, s.score) for s in issue.model_spans], MODEL)
        out.append(task(text, issue.item.id, [current, model], label_quality=round(issue.score, 6), index=issue.index,
                        flagged_characters=issue.flagged, suspects=[s.to_dict(text) for s in issue.suspects]))
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

    The unit is the suspect, not the title (a JD title carries about six spans, so 5% of spans
    corrupted touches a quarter of the titles, and no title-level top 10% could hold 60% of them).
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
