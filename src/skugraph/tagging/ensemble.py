"""The tagger ensemble: the neural tagger and a character CRF (:mod:`skugraph.tagging.crf_member`)
each give every character its tag probabilities; their weighted average (the CRF's share
chosen on dev, from an even mix to the CRF alone) is decoded under the BIO/BIEOS constraints
(Viterbi), and each span's confidence is its probability in that constrained chain
(forward-backward over the log averaged probabilities, at a temperature fitted on dev), or,
where dev fitted one, the span scorer's reading of that probability and of each member's
(:mod:`skugraph.tagging.span_scorer`).

``skugraph train tagger`` trains the CRF beside the neural tagger and keeps the ensemble when
it scores better on dev; the model directory's ``skugraph.json`` then says so (its
``ensemble`` section: the dev F1s, the CRF's weight, the decision, the CRF's settings) and
:func:`skugraph.tagging.tagger.load_tagger` loads an :class:`EnsembleTagger`, which answers
everything a :class:`~skugraph.tagging.tagger.Tagger` does. The neural part runs on the chosen
runtime (torch, bf16, ONNX); the CRF runs in crfsuite. With ``--networks N`` training adds
N - 1 networks of the same set-up with other seeds (``network-2/`` … inside the directory,
:class:`NetworksTagger`: their average takes the network share), kept when dev scores them higher.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skugraph.corpus.ner import LabelledText, tags_to_spans
from skugraph.tagging.crf_member import CRF_FILE, CrfFeatures, CrfMember
from skugraph.tagging.decode import best_paths, constraint_scores, forward_backward_many, padded_batches, segment_probability
from skugraph.tagging.evaluate import Report, score_spans
from skugraph.tagging.span_scorer import SpanScorer, fit_span_scorer, span_features
from skugraph.tagging.tagger import ScoredSpan, Tagger, TextScores, fit_temperature

ENSEMBLE = "ensemble"  # the metadata section
NETWORKS = "networks"  # its entry for the networks trained again with other seeds


def network_dirs(meta: dict) -> list[str]:
    """The other networks' directories (inside the model directory) that a model directory's
    metadata ``meta`` says its ensemble averages; empty where it runs one network or no ensemble."""
    section = meta.get(ENSEMBLE, {})
    networks = section.get(NETWORKS, {})
    return list(networks["dirs"]) if section.get("use") and networks.get("use") else []


@dataclass
class CharScores:
    """Tag probabilities per character of one text [chars, tags] (rows sum to 1), and the
    members' own (the networks', averaged, then the CRF's; NaN rows where one has none) that
    the span scorer reads."""

    marginals: np.ndarray
    members: tuple[np.ndarray, ...] = ()


def char_marginals(tagger: Tagger, scores: TextScores, length: int, temperature: float | None = 1.0,
                   token: np.ndarray | None = None) -> np.ndarray:
    """The neural tagger's tag probabilities per character [length, tags], NaN rows where it has
    no token (spaces), from its per-token ones (``token``, computed when not given). A token of
    several characters spreads its tag over them: ``B-x`` is B-x, I-x, I-x …; ``S-x`` is
    B-x … E-x; ``E-x`` is I-x … E-x (BIEOS)."""
    tags = tagger.config.tags
    token = tagger.marginals(scores, temperature) if token is None else token
    out = np.full((length, len(tags)), np.nan)
    offsets = np.asarray(scores.encoded.offsets, dtype=int).reshape(-1, 2)
    single = offsets[:, 1] - offsets[:, 0] == 1
    out[offsets[single, 0]] = token[single]
    spread = tag_spread(tags) if not single.all() else None
    for row in np.flatnonzero(~single):
        start, end = offsets[row]
        out[start] = token[row] @ spread[0]
        out[start + 1 : end - 1] = token[row] @ spread[1]
        out[end - 1] = token[row] @ spread[2]
    return out


def char_marginals_many(tagger: Tagger, scores: Sequence[TextScores], texts: Sequence[str],
                        temperature: float | None = 1.0) -> list[np.ndarray]:
    """:func:`char_marginals` of many texts, their per-token probabilities from one batched forward-backward."""
    tokens = tagger.marginals_many(scores, temperature)
    return [char_marginals(tagger, s, len(text), token=token) for s, text, token in zip(scores, texts, tokens, strict=True)]


def tag_spread(tags: list[str]) -> np.ndarray:
    """[3, tags, tags] 0/1: where a token tag's mass goes on its first, middle and last character."""
    index = {tag: i for i, tag in enumerate(tags)}
    out = np.zeros((3, len(tags), len(tags)))
    for i, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        for part, target in enumerate({"B": "BII", "S": "BIE", "E": "IIE"}.get(prefix, prefix * 3)):
            out[part, i, index.get(f"{target}-{label}" if label else "O", i)] = 1.0
    return out


def average_marginals(members: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The members' per-character probabilities [chars, tags] averaged (with ``weights``, a
    weighted mean) where they have them (NaN rows: none); a character no member scores is ``O``
    (the first tag)."""
    stacked = np.stack(members)
    weight = np.asarray(weights if weights is not None else [1.0] * len(members), dtype=float)[:, None, None]
    known = ~np.isnan(stacked).any(axis=2, keepdims=True)
    count = np.where(known, weight, 0.0).sum(axis=0)
    total = np.where(known, stacked * weight, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.eye(stacked.shape[2])[0])


#: the CRF member's shares of the average that training tries on dev (1.0: the CRF alone)
CRF_WEIGHTS = (0.25, 0.5, 0.75, 1.0)


def decode_marginals(texts: Sequence[CharScores], tags: list[str], temperature: float = 1.0, chunk: int = 64,
                     scorer: SpanScorer | None = None) -> list[list[ScoredSpan]]:
    """Spans of each text: the best valid tag sequence under the log probabilities, each span
    with its probability in that constrained chain at ``temperature`` (rescored by ``scorer``
    where the text has its members' probabilities); sorted by length, ``chunk`` texts at a
    time (batched Viterbi and forward-backward)."""
    found = _decode_with_features(texts, tags, temperature, chunk, features=scorer is not None)
    if scorer is None:
        return [[span for span, _ in spans] for spans in found]
    out = []
    for spans in found:
        rows = [row for _, row in spans if row is not None]
        rescored = iter(scorer.probabilities(rows).tolist())
        out.append([ScoredSpan(span.start, span.end, span.label, next(rescored)) if row is not None else span
                    for span, row in spans])
    return out


def _decode_with_features(texts: Sequence[CharScores], tags: list[str], temperature: float, chunk: int,
                          features: bool) -> list[list[tuple[ScoredSpan, list[float] | None]]]:
    """:func:`decode_marginals`' spans, each with its :func:`span_features` (when ``features``
    and the text has members' probabilities; None otherwise)."""
    out: list[list[tuple[ScoredSpan, list[float] | None]]] = [[] for _ in texts]
    start, transition, end = (scores / temperature for scores in constraint_scores(tags))
    logs = [np.log(np.clip(t.marginals, 1e-9, 1.0)) / temperature for t in texts]
    for members, lengths, emissions in padded_batches(logs, len(tags), chunk):
        paths = best_paths(emissions, start, transition, end, lengths)
        alpha, beta, log_z = forward_backward_many(emissions, start, transition, end, lengths)
        for row, index in enumerate(members):
            path = paths[row, : lengths[row]].tolist()
            for span in tags_to_spans([tags[i] for i in path]):
                probability = segment_probability(path, span.start, span.end - 1, emissions[row], transition, alpha[row],
                                                  beta[row], float(log_z[row]))
                extra = (span_features(probability, texts[index].members, span.start, span.end, path)
                         if features and texts[index].members else None)
                out[index].append((ScoredSpan(span.start, span.end, span.label, probability), extra))
    return out


class EnsembleTagger:
    """The neural tagger and the CRF member, averaged per character; used wherever a
    :class:`~skugraph.tagging.tagger.Tagger` is (``predict``, ``scores``/``decode_many``, ``evaluate``,
    ``meta``, pickling as its directory)."""

    def __init__(self, neural: Tagger, crf: CrfMember, temperature: float = 1.0, crf_weight: float = 0.5,
                 span_scorer: SpanScorer | None = None):
        self.neural = neural
        self.crf = crf
        self.temperature = temperature
        self.crf_weight = crf_weight  # the CRF's share of the average, chosen on dev
        self.span_scorer = span_scorer  # fitted on dev after the temperature, if it scores better there
        self.source: tuple[Path, str] | None = None  # (directory, runtime) when loaded from one

    @property
    def config(self):
        return self.neural.config

    @property
    def meta(self) -> dict:
        return self.neural.meta

    @classmethod
    def load(cls, path: str | Path, runtime: str = "torch-bf16", threads: int | None = None) -> EnsembleTagger:
        """The ensemble of a model directory whose metadata has a CRF member, whether or not
        dev chose it; the neural part runs on ``runtime``."""
        return cls.around(Tagger.load(path, runtime, threads))

    @classmethod
    def around(cls, neural: Tagger) -> EnsembleTagger:
        """The ensemble of a neural tagger loaded from a directory and the CRF member saved beside it."""
        if not isinstance(neural, Tagger) or neural.source is None:
            raise ValueError("the ensemble needs a neural tagger loaded from a model directory")
        path, runtime = neural.source
        section = neural.meta.get(ENSEMBLE)
        if not section:
            raise ValueError(f"{path}: no CRF member in its metadata (train it with `skugraph train tagger --dev …`)")
        features = CrfFeatures(neural.lexicon_words, words=section["crf"]["words"], window=section["crf"].get("window", 2))
        ensemble = cls(neural, CrfMember.load(path, neural.config.tags, features), section.get("temperature", 1.0),
                       section.get("crf_weight", 0.5), SpanScorer.from_entry(section.get("span_scorer")))
        ensemble.source = (path, runtime)
        return ensemble

    def __reduce__(self):
        """Pickles as its directory (as a loaded :class:`Tagger` does): a worker loads it again, with one thread."""
        if self.source is None:
            raise TypeError("an EnsembleTagger pickles as its directory: load it with load_tagger(path) first")
        return _load_single_threaded, self.source

    def member_scores(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[TextScores], list[np.ndarray]]:
        """(the neural tagger's emissions, the CRF's per-character probabilities) of each text."""
        return self.neural.scores(texts, batch_size), self.crf.marginals(texts)

    def combine(self, texts: Sequence[str], neural: Sequence[TextScores], crf: Sequence[np.ndarray]) -> list[CharScores]:
        """The members' per-character probabilities averaged, the CRF weighted by ``crf_weight``."""
        networks = char_marginals_many(self.neural, neural, texts)
        return [CharScores(average_marginals([network, c], [1 - self.crf_weight, self.crf_weight]), (network, c))
                for network, c in zip(networks, crf, strict=True)]

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> list[CharScores]:
        return self.combine(texts, *self.member_scores(texts, batch_size))

    def marginals(self, scores: CharScores) -> np.ndarray:
        """Per-character tag probabilities [chars, tags]: the members' average."""
        return scores.marginals

    def decode_many(self, texts: Sequence[CharScores], temperature: float | None = None) -> list[list[ScoredSpan]]:
        """Spans of each text; with a ``temperature``, their probabilities in the chain at it
        (the span scorer reads the chain at the fitted temperature only)."""
        if temperature is not None:
            return decode_marginals(texts, self.config.tags, temperature)
        return decode_marginals(texts, self.config.tags, self.temperature, scorer=self.span_scorer)

    def decode(self, scores: CharScores, temperature: float | None = None) -> list[ScoredSpan]:
        return self.decode_many([scores], temperature)[0]

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[list[ScoredSpan]]:
        return self.decode_many(self.scores(texts, batch_size))

    def evaluate(self, data: Sequence[LabelledText], scores: Sequence[CharScores] | None = None, batch_size: int = 64) -> Report:
        """Strict entity scores on labelled texts (``scores``: theirs, if already computed)."""
        scores = scores if scores is not None else self.scores([item.text for item in data], batch_size)
        return score_spans([[(s.start, s.end, s.label) for s in item.spans] for item in data],
                           [[s.key for s in spans] for spans in self.decode_many(scores)])


def _load_single_threaded(path: Path, runtime: str) -> EnsembleTagger:
    torch.set_num_threads(1)
    return EnsembleTagger.load(path, runtime, threads=1)


class NetworksTagger(EnsembleTagger):
    """The CRF member and several neural taggers (one set-up, other seeds): the networks'
    per-character probabilities share the network part of the average equally, the CRF keeps
    its weight. The first network is the one the CRF member was saved beside."""

    def __init__(self, networks: Sequence[Tagger], crf: CrfMember, temperature: float = 1.0, crf_weight: float = 0.5,
                 span_scorer: SpanScorer | None = None):
        super().__init__(networks[0], crf, temperature, crf_weight, span_scorer)
        self.networks = list(networks)

    @classmethod
    def beside(cls, ensemble: EnsembleTagger, others: Sequence[Tagger]) -> NetworksTagger:
        """``ensemble``'s network and CRF member (its weight and temperature) with ``others``."""
        return cls([ensemble.neural, *others], ensemble.crf, ensemble.temperature, ensemble.crf_weight)

    @classmethod
    def around(cls, ensemble: EnsembleTagger, threads: int | None = None) -> NetworksTagger:
        """The networks' ensemble a loaded ensemble's metadata records (its ``networks``: the
        other networks' directories inside its own), each network on the ensemble's runtime."""
        path, _ = ensemble.source
        return cls.from_section(ensemble, Path(path), ensemble.meta[ENSEMBLE][NETWORKS], threads)

    @classmethod
    def from_section(cls, ensemble: EnsembleTagger, directory: Path, section: dict, threads: int | None = None) -> NetworksTagger:
        """``ensemble`` with the networks a ``networks`` record names (``dirs``, under ``directory``)
        and the CRF's weight, temperature and span scorer fitted for them there."""
        runtime = ensemble.source[1] if ensemble.source else "torch-bf16"
        others = [Tagger.load(directory / name, runtime, threads) for name in section["dirs"]]
        return cls([ensemble.neural, *others], ensemble.crf, section["temperature"], section["crf_weight"],
                   SpanScorer.from_entry(section.get("span_scorer")))

    def __reduce__(self):
        """Pickles as its networks' directories (a worker loads them again, with one thread)."""
        sources = [network.source for network in self.networks]
        if None in sources:
            raise TypeError("a NetworksTagger pickles as its networks' directories: load them with Tagger.load first")
        return _load_networks_single_threaded, (sources, self.temperature, self.crf_weight, self.span_scorer)

    def member_scores(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[list[TextScores]], list[np.ndarray]]:
        """(each network's emissions of the texts, the CRF's per-character probabilities of each text)."""
        return [network.scores(texts, batch_size) for network in self.networks], self.crf.marginals(texts)

    def combine(self, texts: Sequence[str], neural: Sequence[Sequence[TextScores]], crf: Sequence[np.ndarray]) -> list[CharScores]:
        """The networks' and the CRF's per-character probabilities averaged: the CRF weighs ``crf_weight``, each network an equal share of the rest."""
        weights = [(1 - self.crf_weight) / len(self.networks)] * len(self.networks) + [self.crf_weight]
        per_network = [char_marginals_many(network, scores, texts) for network, scores in zip(self.networks, neural, strict=True)]
        out = []
        for i in range(len(texts)):
            members = [network[i] for network in per_network]
            out.append(CharScores(average_marginals([*members, crf[i]], weights), (_known_mean(members), crf[i])))
        return out


def _known_mean(members: Sequence[np.ndarray]) -> np.ndarray:
    """The members' mean probabilities where they have them (NaN rows where none does)."""
    stacked = np.stack(members)
    known = ~np.isnan(stacked)
    with np.errstate(invalid="ignore"):
        return np.where(known, stacked, 0.0).sum(axis=0) / known.sum(axis=0)


def _load_networks_single_threaded(sources: list[tuple[Path, str]], temperature: float, crf_weight: float,
                                   span_scorer: SpanScorer | None = None) -> NetworksTagger:
    torch.set_num_threads(1)
    networks = [Tagger.load(path, runtime, threads=1) for path, runtime in sources]
    return NetworksTagger(networks, EnsembleTagger.around(networks[0]).crf, temperature, crf_weight, span_scorer)


def fit_crf_weight(tagger: EnsembleTagger | NetworksTagger, dev: Sequence[LabelledText]) -> tuple[dict[float, float], list, list]:
    """Set ``tagger.crf_weight`` to the :data:`CRF_WEIGHTS` value with the best dev F1 (ties: the
    one nearest the even average); returns the F1 of each weight and the members' dev scores."""
    texts = [item.text for item in dev]
    neural, crf = tagger.member_scores(texts)
    by_weight = {}
    for weight in CRF_WEIGHTS:
        tagger.crf_weight = weight
        by_weight[weight] = tagger.evaluate(dev, tagger.combine(texts, neural, crf)).micro.f1
    tagger.crf_weight = max(CRF_WEIGHTS, key=lambda w: (by_weight[w], -abs(w - 0.5)))
    return by_weight, neural, crf


def fit_networks(ensemble: EnsembleTagger, others: Sequence[Tagger], dev: Sequence[LabelledText],
                 calibrate: bool = True) -> tuple[NetworksTagger, dict]:
    """``ensemble`` with the networks ``others`` (its network's set-up, other seeds), the CRF's
    weight, the temperature and the span scorer fitted on ``dev`` as for one network; returns
    it and its record (``dev_f1``: the ensemble with one network and with them all)."""
    tagger = NetworksTagger.beside(ensemble, others)
    one = ensemble.evaluate(dev).micro.f1
    by_weight, neural, crf = fit_crf_weight(tagger, dev)
    combined = tagger.combine([item.text for item in dev], neural, crf)
    record = {"dev_f1": {"one": round(one, 4), "all": round(by_weight[tagger.crf_weight], 4)}, "crf_weight": tagger.crf_weight,
              "dev_f1_by_crf_weight": {str(w): round(f, 4) for w, f in by_weight.items()}, "temperature": 1.0}
    if calibrate:
        calibrate_ensemble(tagger, combined, dev, record)
    return tagger, record


def calibrate_ensemble(tagger: EnsembleTagger, scores: Sequence[CharScores], dev: Sequence[LabelledText], record: dict) -> None:
    """Fit ``tagger``'s temperature, then its span scorer, on its ``scores`` of the ``dev`` texts;
    note them in its metadata ``record`` (``temperature``, ``calibration``, ``span_scorer``)."""
    temperature, before, after = fit_temperature(tagger, scores, dev)
    tagger.temperature = record["temperature"] = temperature
    record["calibration"] = {"temperature": temperature, "ece_uncalibrated": round(before, 4), "ece_calibrated": round(after, 4)}
    tagger.span_scorer, record["span_scorer"] = fit_ensemble_span_scorer(tagger, scores, dev)


def train_ensemble(neural: Tagger, train: Sequence[LabelledText], dev: Sequence[LabelledText], scheme: str,
                   words: bool = True, calibrate: bool = True, window: int = 2) -> tuple[EnsembleTagger, dict]:
    """Train the CRF member on ``train`` beside a trained neural tagger (its character ``window``
    as :class:`CrfFeatures` takes it), pick the CRF's share of the average (:data:`CRF_WEIGHTS`;
    1.0 is the CRF alone) by dev F1, and score neural, CRF and ensemble on ``dev``; returns the
    ensemble and its metadata section (``use``: whether dev says the ensemble beats the neural tagger alone)."""
    began = time.perf_counter()
    crf = CrfMember.train(train, neural.config.tags, scheme, CrfFeatures(neural.lexicon_words, words, window))
    seconds = time.perf_counter() - began
    ensemble = EnsembleTagger(neural, crf)
    by_weight, neural_scores, crf_scores = fit_crf_weight(ensemble, dev)
    combined = ensemble.combine([item.text for item in dev], neural_scores, crf_scores)
    dev_f1 = {"neural": neural.evaluate(dev, neural_scores).micro.f1, "crf": by_weight[1.0], "ensemble": by_weight[ensemble.crf_weight]}
    section = {"use": dev_f1["ensemble"] > dev_f1["neural"], "dev_f1": {k: round(v, 4) for k, v in dev_f1.items()},
               "crf_weight": ensemble.crf_weight, "dev_f1_by_crf_weight": {str(w): round(f, 4) for w, f in by_weight.items()},
               "temperature": 1.0, "crf": {"file": CRF_FILE, "words": words, "window": window,
                       "train_seconds": round(seconds, 1)}}
    if calibrate:
        calibrate_ensemble(ensemble, combined, dev, section)
    return ensemble, section


def span_rows(tagger: EnsembleTagger, scores: Sequence[CharScores], gold: Sequence[LabelledText]) -> list[list[tuple[list[float], bool]]]:
    """Per labelled text, each span ``tagger`` decodes (at its temperature) as its span-scorer
    features and whether the gold labels hold it."""
    out = []
    for spans, item in zip(_decode_with_features(scores, tagger.config.tags, tagger.temperature, 64, features=True), gold, strict=True):
        expected = {(s.start, s.end, s.label) for s in item.spans}
        out.append([(row, span.key in expected) for span, row in spans if row is not None])
    return out


def fit_ensemble_span_scorer(tagger: EnsembleTagger, scores: Sequence[CharScores], dev: Sequence[LabelledText]) -> tuple[SpanScorer | None, dict]:
    """Fit ``tagger``'s span scorer on its dev ``scores`` (at its temperature); returns it (None
    when dev says the chain probability alone is better) and the metadata entry recording it."""
    spans = [(row, right, index) for index, text in enumerate(span_rows(tagger, scores, dev)) for row, right in text]
    scorer, record = fit_span_scorer([s[0] for s in spans], [s[1] for s in spans], [s[2] for s in spans])
    return scorer, {"dev": record, **({"scorer": scorer.to_dict()} if scorer else {})}
