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

    def to_dict(self, text: str) -> dict:
        return {"start": self.start, "end": self.end, "text": text[self.start : self.end], "current": self.current, "model": self.model}


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
                                 _suspects(chars, item.spans, model[row]), current, tuple(model[row])))
    mean = {i: float(np.mean(char_scores[row])) for row, i in enumerate(kept)}  # ties (a score of 0): more doubt first
    return sorted(issues, key=lambda issue: (issue.score, mean[issue.index], issue.index))


def _suspects(chars: Sequence[int], current: Sequence[Span], model: Sequence[ScoredSpan]) -> tuple[Suspect, ...]:
    """Runs of flagged characters, each widened to the current and model spans that touch it."""
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
        out.append(Suspect(start, end, _labels(current, start, end), _labels(model, start, end)))
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
