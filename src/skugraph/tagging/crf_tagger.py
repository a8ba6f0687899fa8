"""The character CRF alone as a tagger: the fastest student distillation makes
(``skugraph distill --student crf``), trained on the teacher's tags of the user's own texts.

A model directory of kind :data:`CRF_TAGGER` holds the CRF
(:data:`~skugraph.tagging.crf_member.CRF_FILE`), the gazetteer words its features read and
metadata: the tag set and scheme, the features' settings and the temperature fitted on dev.
It decodes its own chain (each character's label scores and the CRF's transition weights,
under the BIO/BIEOS constraints); a span's score is its probability in that chain at the
temperature. No network runs, so it has no runtime.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from skugraph.corpus.ner import LabelledText, tags_to_spans
from skugraph.tagging.crf_member import CrfFeatures, CrfMember
from skugraph.tagging.decode import best_paths, constraint_scores, forward_backward_many, padded_batches, segment_probability
from skugraph.tagging.evaluate import Report, score_spans
from skugraph.tagging.model import METADATA, TaggerConfig, read_lexicons, write_lexicons
from skugraph.tagging.tagger import ScoredSpan

CRF_TAGGER = "crf-tagger"  # the metadata's kind


def is_crf_tagger(path: str | Path) -> bool:
    """Whether the model directory ``path`` holds a CRF alone (it runs on one core: worker
    processes speed it up, where a network runs fastest in one process on all the cores)."""
    meta = Path(path) / METADATA
    return meta.is_file() and json.loads(meta.read_text("utf-8")).get("kind") == CRF_TAGGER


class CrfTagger:
    """A character CRF used wherever a :class:`~skugraph.tagging.tagger.Tagger` is
    (``predict``, ``scores``/``decode_many``, ``marginals``, ``evaluate``, ``meta``, pickling as
    its directory); ``scores`` are each text's label scores per character [chars, tags]."""

    def __init__(self, crf: CrfMember, config: TaggerConfig, lexicon_words: dict[str, list[str]] | None = None,
                 meta: dict | None = None):
        self.crf = crf
        self.config = config  # tags, scheme, lexicon names and the temperature
        self.lexicon_words = lexicon_words or {}
        self.meta = meta or {}
        self.source: Path | None = None  # the directory, when loaded from one
        self._start, blocked, self._end = constraint_scores(config.tags)
        self._transition = blocked + crf.transition_scores()

    @classmethod
    def load(cls, path: str | Path) -> CrfTagger:
        """The tagger :meth:`save` wrote in ``path``."""
        path = Path(path)
        meta = json.loads((path / METADATA).read_text("utf-8"))
        if meta.get("kind") != CRF_TAGGER:
            raise ValueError(f"{path}: {METADATA} says kind {meta.get('kind')!r}, not {CRF_TAGGER!r}")
        config = TaggerConfig(**meta["tagger"])
        words = read_lexicons(path, config.lexicons)
        features = CrfFeatures(words, words=meta["crf"]["words"], window=meta["crf"]["window"])
        tagger = cls(CrfMember.load(path, config.tags, features), config, words, meta)
        tagger.source = path
        return tagger

    def save(self, out: Path, record: dict) -> None:
        """Write the model directory: the CRF, the gazetteer words and metadata (``record`` added to it)."""
        out.mkdir(parents=True, exist_ok=True)
        self.crf.save(out)
        write_lexicons(out, self.lexicon_words)
        features = self.crf.features
        meta = {"kind": CRF_TAGGER, "tagger": asdict(self.config),
                "crf": {"words": features.segmenter is not None, "window": features.window}, **record}
        (out / METADATA).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        self.meta = meta

    def __reduce__(self):
        """Pickles as its directory (as a loaded :class:`~skugraph.tagging.tagger.Tagger` does)."""
        if self.source is None:
            raise TypeError("a CrfTagger pickles as its directory: load it with load_tagger(path) first")
        return CrfTagger.load, (self.source,)

    def scores(self, texts: Sequence[str], batch_size: int = 256) -> list[np.ndarray]:
        """Each text's label scores per character [chars, tags], ``batch_size`` texts at a time."""
        return [rows for first in range(0, len(texts), batch_size)
                for rows in self.crf.emission_scores(texts[first : first + batch_size])]

    def _chain(self, emissions: np.ndarray, temperature: float | None) -> tuple[np.ndarray, ...]:
        inverse = 1.0 / (temperature or self.config.temperature)
        return emissions * inverse, self._start * inverse, self._transition * inverse, self._end * inverse

    def decode_many(self, texts: Sequence[np.ndarray], temperature: float | None = None, chunk: int = 64) -> list[list[ScoredSpan]]:
        """Spans of each text (its :meth:`scores`), each with its probability in the chain at
        ``temperature`` (default: the fitted one); batched Viterbi and forward-backward."""
        out: list[list[ScoredSpan]] = [[] for _ in texts]
        for members, lengths, padded in padded_batches(texts, len(self.config.tags), chunk):
            emissions, start, transition, end = self._chain(padded, temperature)
            paths = best_paths(emissions, start, transition, end, lengths)
            alpha, beta, log_z = forward_backward_many(emissions, start, transition, end, lengths)
            for row, index in enumerate(members):
                path = paths[row, : lengths[row]].tolist()
                for span in tags_to_spans([self.config.tags[i] for i in path]):
                    probability = segment_probability(path, span.start, span.end - 1, emissions[row], transition, alpha[row],
                                                      beta[row], float(log_z[row]))
                    out[index].append(ScoredSpan(span.start, span.end, span.label, probability))
        return out

    def marginals(self, scores: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Per-character tag probabilities [chars, tags] (forward-backward at ``temperature``)."""
        if not len(scores):
            return np.zeros((0, len(self.config.tags)))
        alpha, beta, log_z = forward_backward_many(*self._chain(scores[None], temperature))
        return np.exp(alpha[0] + beta[0] - log_z[0])

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[list[ScoredSpan]]:
        return self.decode_many(self.scores(texts, batch_size))

    def evaluate(self, data: Sequence[LabelledText], scores: Sequence[np.ndarray] | None = None, batch_size: int = 256) -> Report:
        """Strict entity scores on labelled texts (``scores``: theirs, if already computed)."""
        scores = scores if scores is not None else self.scores([item.text for item in data], batch_size)
        return score_spans([[(s.start, s.end, s.label) for s in item.spans] for item in data],
                           [[s.key for s in spans] for spans in self.decode_many(scores)])
