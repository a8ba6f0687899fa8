"""Which titles to label next: active learning from a tagger's per-token tag probabilities.

- ``uncertainty``: the titles with the highest *token entropy* (Settles & Craven 2008): the
  mean over a title's tokens of the entropy of each token's tag distribution, divided by
  ``log(tags)`` so that it lies in [0, 1] (0: every token certain; 1: every tag equally likely).
  A mean, not a sum, so long titles are not preferred for their length.
- ``diversity``: greedy, uncertainty × dissimilarity. The most uncertain title first; then each
  next one maximises its uncertainty times (1 − its highest cosine similarity to a title already
  chosen), similarity over character 2–3-gram TF-IDF vectors (scikit-learn). Near-copies of a
  chosen title score near zero, so a batch is not twenty listings of one product.
- ``random``: a seeded random sample, the baseline.

A text equal to one already chosen is never chosen again. The selection works from each text's
uncertainty (:func:`rank`), its tag probabilities (:func:`select`) or a model (:func:`suggest`):
a loaded :class:`~skugraph.tagging.tagger.Tagger` or ensemble, or the fast CRF member alone
(:func:`text_marginals`); over many texts only the scores are kept, never the probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skugraph.corpus.listings import Reject, read_listings
from skugraph.corpus.ner import NerFormatError, detect_format, read_labelled
from skugraph.labelling.tasks import model_version, prediction, task

STRATEGIES = ("uncertainty", "diversity", "random")


@dataclass(frozen=True, slots=True)
class Suggestion:
    index: int  # the text's position in the candidates
    uncertainty: float  # its token entropy in [0, 1]


def token_entropy(marginals: np.ndarray) -> float:
    """A text's uncertainty: the mean normalised entropy of its rows of tag probabilities [tokens, tags]."""
    if marginals.shape[0] == 0 or marginals.shape[1] < 2:
        return 0.0
    p = np.clip(marginals, 1e-12, 1.0)
    return float((-(p * np.log(p)).sum(axis=1)).mean() / np.log(marginals.shape[1]))


def text_marginals(model, texts: Sequence[str]) -> list[np.ndarray]:
    """Each text's tag probabilities per token from ``model``: a tagger or an ensemble (``scores`` then
    ``marginals`` per text) or a model whose ``marginals(texts)`` gives them at once (the CRF member)."""
    if hasattr(model, "scores"):
        return [model.marginals(scores) for scores in model.scores(texts)]
    return list(model.marginals(texts))


def uncertainties(model, texts: Sequence[str], chunk: int = 512) -> np.ndarray:
    """Each text's :func:`token_entropy` under ``model`` (see :func:`text_marginals`), ``chunk``
    texts at a time (only the scores are kept)."""
    out: list[float] = []
    for first in range(0, len(texts), chunk):
        out.extend(token_entropy(m) for m in text_marginals(model, texts[first : first + chunk]))
    return np.array(out)


def rank(uncertainty: np.ndarray | None, k: int, strategy: str, texts: Sequence[str], seed: int = 0) -> list[Suggestion]:
    """Up to ``k`` of ``texts`` to label next, in the order chosen, by ``strategy`` (:data:`STRATEGIES`)
    from each text's uncertainty (``None``: not known; only ``random`` runs without it, and its
    suggestions' uncertainty is then NaN)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    if uncertainty is None and strategy != "random":
        raise ValueError(f"the {strategy} strategy needs each text's uncertainty")
    if uncertainty is not None and len(uncertainty) != len(texts):
        raise ValueError(f"{len(uncertainty)} uncertainties for {len(texts)} texts")
    if strategy == "diversity":
        order = _diverse(uncertainty, texts, k)
    elif strategy == "random":
        order = np.random.default_rng(seed).permutation(len(texts)).tolist()
    else:
        order = sorted(range(len(texts)), key=lambda i: -uncertainty[i])
    chosen, seen = [], set()
    for index in order:
        if len(chosen) == k:
            break
        if texts[index] not in seen:
            seen.add(texts[index])
            chosen.append(Suggestion(index, round(float(uncertainty[index]), 4) if uncertainty is not None else float("nan")))
    return chosen


def select(marginals: Sequence[np.ndarray], k: int, strategy: str, texts: Sequence[str], seed: int = 0) -> list[Suggestion]:
    """:func:`rank` from each text's tag probabilities [tokens, tags]."""
    return rank(np.array([token_entropy(m) for m in marginals]), k, strategy, texts, seed)


def _diverse(uncertainty: np.ndarray, texts: Sequence[str], k: int) -> list[int]:
    """Greedy uncertainty × (1 − the highest similarity to a chosen text)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not len(texts):
        return []
    vectors = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True).fit_transform(texts)
    nearest = np.zeros(len(texts))  # each text's highest similarity to a chosen one
    available = np.ones(len(texts), dtype=bool)
    order: list[int] = []
    for _ in range(min(k, len(texts))):
        value = np.where(available, uncertainty * (1.0 - nearest), -1.0)
        best = int(value.argmax())
        order.append(best)
        available[best] = False
        nearest = np.maximum(nearest, (vectors @ vectors[best].T).toarray().ravel())
    return order


def suggest(model, texts: Sequence[str], k: int, strategy: str, seed: int = 0) -> list[Suggestion]:
    """:func:`rank` on ``model``'s uncertainty about ``texts`` (:func:`uncertainties`); the random
    baseline scores only the texts it picks."""
    if strategy == "random":
        chosen = rank(None, k, strategy, texts, seed)
        found = uncertainties(model, [texts[s.index] for s in chosen])
        return [Suggestion(s.index, round(float(u), 4)) for s, u in zip(chosen, found, strict=True)]
    return rank(uncertainties(model, texts), k, strategy, texts, seed)


def read_titles(path: str | Path, on_reject: Callable[[Reject], None] | None = None) -> list[tuple[str, str]]:
    """(listing id, title) pairs: a ``.txt`` file is one title a line (its id ``FILE:LINE``, blank
    lines skipped); anything else is read as listings (JSONL, CSV, Parquet), each bad record reported
    to ``on_reject`` and skipped."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        lines = path.read_text(encoding="utf-8").splitlines()
        return [(f"{path.stem}:{n}", line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
    return [(listing.id, listing.title) for listing in read_listings([path], on_reject=on_reject) if listing.title.strip()]


def labelled_texts(path: str | Path, format: str | None = None, on_reject: Callable[[NerFormatError], None] | None = None) -> set[str]:
    """The texts of a labelled file (any format :func:`~skugraph.corpus.ner.read_labelled` reads),
    stripped; records it cannot read go to ``on_reject``, and a file none of whose records reads
    (a plain list of titles, another format) is an error, not an empty set."""
    problems: list[NerFormatError] = []
    items = read_labelled(path, format, on_error=problems.append)
    if problems and not items:
        raise ValueError(f"{path}: no labelled title read as {detect_format(path, format)} (first problem: {problems[0]}); "
                         "it takes BIO/BIEOS, doccano JSONL or a Label Studio export")
    for problem in problems:
        if on_reject:
            on_reject(problem)
    return {item.text.strip() for item in items}


def suggestion_tasks(tagger, titles: Sequence[tuple[str, str]], k: int, strategy: str, version: str, seed: int = 0) -> list[dict]:
    """Label Studio tasks for the ``k`` titles to label next, in the order chosen: each with the
    tagger's spans as a pre-annotation named ``version`` (:func:`~skugraph.labelling.tasks.model_version`),
    and its listing id, uncertainty and strategy in its data."""
    texts = [title for _, title in titles]
    chosen = suggest(tagger, texts, k, strategy, seed)
    found = tagger.predict([texts[s.index] for s in chosen])
    out = []
    for suggestion, spans in zip(chosen, found, strict=True):
        listing, text = titles[suggestion.index]
        predicted = prediction(text, [(s.start, s.end, s.label, s.score) for s in spans], version)
        out.append(task(text, listing, [predicted], uncertainty=suggestion.uncertainty, strategy=strategy))
    return out
