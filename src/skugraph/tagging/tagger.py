"""Running a trained tagger: texts in, entity spans with calibrated confidences out.

Texts are cut into overlapping windows of tokens (nothing is truncated), windows of similar
length are batched together, every token keeps the scores of the window where it sits most
centrally, and the whole text is decoded at once under the BIO/BIEOS constraints (with the
CRF's transitions when the model has one). A span's score is its probability under the
model, with the temperature fitted on dev data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from skugraph.corpus.ner import LabelledText, tags_to_spans
from skugraph.lm.finetune import autocast, bf16_supported
from skugraph.records import Listing, Mention
from skugraph.tagging.decode import (
    best_paths,
    constraint_scores,
    forward_backward_many,
    padded_batches,
    segment_probability,
)
from skugraph.tagging.encoding import Encoded, TextEncoder
from skugraph.tagging.evaluate import Report, expected_calibration_error, score_spans
from skugraph.tagging.model import TaggerModel
from skugraph.tagging.windows import merge_window_scores, windows

if TYPE_CHECKING:
    from skugraph.tagging.crf_tagger import CrfTagger
    from skugraph.tagging.ensemble import EnsembleTagger


@dataclass(frozen=True, slots=True)
class ScoredSpan:
    start: int
    end: int
    label: str
    score: float

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.label)


@dataclass
class TextScores:
    """Merged per-token emissions of one text, ready to decode at any temperature."""

    encoded: Encoded
    emissions: np.ndarray  # [tokens, tags]


class Tagger:
    def __init__(self, model: TaggerModel, tokenizer, lexicon_words: dict[str, list[str]] | None = None,
                 ngrams: Sequence[str] = (), meta: dict | None = None, onnx=None, bf16: bool | None = None):
        self.model = model.eval()
        self.onnx = onnx  # an OnnxEmissions session that computes the emissions instead of the torch model
        self.config = model.config
        self.tokenizer = tokenizer
        self.lexicon_words = lexicon_words or {}
        self.ngrams = list(ngrams)
        self.encoder = TextEncoder.for_model(tokenizer, self.config, self.lexicon_words, self.ngrams)
        self.meta = meta or {}
        self.bf16 = bf16_supported() if bf16 is None else bf16 and bf16_supported()
        self.source: tuple[Path, str] | None = None  # (directory, runtime) when loaded from one
        self._start, self._transition, self._end = constraint_scores(self.config.tags)
        self.refresh_transitions()

    @classmethod
    def load(cls, path: str | Path, runtime: str = "torch-bf16", threads: int | None = None) -> Tagger:
        """A tagger directory, run by ``runtime`` (:data:`skugraph.tagging.runtime.RUNTIMES`;
        ``torch-bf16`` falls back to fp32 where the CPU has no bf16)."""
        from skugraph.tagging.runtime import RUNTIMES, onnx_emissions

        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; one of {', '.join(RUNTIMES)}")
        model, tokenizer, words, ngrams, meta = TaggerModel.load(Path(path))
        onnx = onnx_emissions(path, runtime, threads) if runtime.startswith("onnx") else None
        tagger = cls(model, tokenizer, words, ngrams, meta, onnx=onnx, bf16=runtime == "torch-bf16")
        if tagger.bf16:  # weights in bf16 too: no casts per call (faster than autocast alone)
            tagger.model.to(torch.bfloat16)
        tagger.source = (Path(path), runtime)
        return tagger

    def __reduce__(self):
        """A tagger loaded from a directory pickles as that directory: unpickled (in a worker
        process) it loads again, with one thread."""
        if self.source is None:
            return super().__reduce__()
        return _load_single_threaded, self.source

    def refresh_transitions(self) -> None:
        """Re-read the CRF scores (after the model's weights changed, e.g. during training)."""
        if self.model.crf is not None:
            self._start, self._transition, self._end = self.model.crf.scores_numpy()

    # -- scoring ---------------------------------------------------------------------------

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> list[TextScores]:
        """Per-token emission scores of each text (windows merged)."""
        encoded = [self.encoder.encode(text) for text in texts]
        size = self.config.window - 2
        ranges = [windows(len(item.ids), size, min(self.config.stride, size)) if item.ids else [] for item in encoded]
        pieces = [(index, s, e) for index, text_ranges in enumerate(ranges) for s, e in text_ranges]
        outputs: dict[tuple[int, int, int], np.ndarray] = {}
        order = sorted(pieces, key=lambda p: p[2] - p[1])
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode(), autocast(self.bf16):
            for first in range(0, len(order), batch_size):
                batch = order[first : first + batch_size]
                inputs = window_batch([encoded[i] for i, _, _ in batch], [(s, e) for _, s, e in batch], self.tokenizer)
                emissions = self.onnx(inputs) if self.onnx is not None else self.model(**inputs).float().numpy()
                for row, piece in enumerate(batch):
                    outputs[piece] = emissions[row, 1 : 1 + piece[2] - piece[1]]
        self.model.train(was_training)
        results = []
        for index, (item, text_ranges) in enumerate(zip(encoded, ranges, strict=True)):
            if not text_ranges:
                results.append(TextScores(item, np.zeros((0, len(self.config.tags)))))
                continue
            merged = merge_window_scores(text_ranges, [outputs[(index, s, e)] for s, e in text_ranges], len(item.ids))
            results.append(TextScores(item, merged.astype(np.float64)))
        return results

    def _chain(self, emissions: np.ndarray, temperature: float | None) -> tuple[np.ndarray, ...]:
        """(emissions, start, transition, end) at a temperature, for one text [T, C] or a batch
        [B, T, C]; without a CRF the emissions are per-token log-probabilities first."""
        if self.model.crf is None:
            emissions = emissions - emissions.max(-1, keepdims=True)
            emissions = emissions - np.log(np.exp(emissions).sum(-1, keepdims=True))
        inverse = 1.0 / (temperature or self.config.temperature)
        return emissions * inverse, self._start * inverse, self._transition * inverse, self._end * inverse

    def decode(self, scores: TextScores, temperature: float | None = None) -> list[ScoredSpan]:
        """Entity spans of one text, with their probabilities at ``temperature`` (default: the fitted one)."""
        return self.decode_many([scores], temperature)[0]

    def decode_many(self, texts: Sequence[TextScores], temperature: float | None = None, chunk: int = 64) -> list[list[ScoredSpan]]:
        """:meth:`decode` for many texts: sorted by length, ``chunk`` at a time padded to the
        longest of them (batched Viterbi and forward-backward)."""
        out: list[list[ScoredSpan]] = [[] for _ in texts]
        for members, lengths, padded in padded_batches([t.emissions for t in texts], len(self.config.tags), chunk):
            emissions, start, transition, end = self._chain(padded, temperature)
            paths = best_paths(emissions, start, transition, end, lengths)  # a positive scale does not move the best path
            alpha, beta, log_z = forward_backward_many(emissions, start, transition, end, lengths)
            for row, index in enumerate(members):
                path, offsets = paths[row, : lengths[row]].tolist(), texts[index].encoded.offsets
                for span in tags_to_spans([self.config.tags[i] for i in path]):
                    probability = segment_probability(path, span.start, span.end - 1, emissions[row], transition, alpha[row],
                                                      beta[row], float(log_z[row]))
                    out[index].append(ScoredSpan(offsets[span.start][0], offsets[span.end - 1][1], span.label, probability))
        return out

    def marginals(self, scores: TextScores, temperature: float | None = None) -> np.ndarray:
        """Per-token tag probabilities [tokens, tags] (forward-backward), e.g. for ensembling."""
        return self.marginals_many([scores], temperature)[0]

    def marginals_many(self, texts: Sequence[TextScores], temperature: float | None = None, chunk: int = 64) -> list[np.ndarray]:
        """:meth:`marginals` of many texts: sorted by length, ``chunk`` at a time padded to the
        longest of them (one batched forward-backward, not one per text)."""
        out = [np.zeros((0, len(self.config.tags))) for _ in texts]
        for members, lengths, padded in padded_batches([t.emissions for t in texts], len(self.config.tags), chunk):
            alpha, beta, log_z = forward_backward_many(*self._chain(padded, temperature), lengths)
            log_probabilities = alpha + beta - log_z[:, None, None]  # past a row's length: padding, never exponentiated
            for row, index in enumerate(members):
                out[index] = np.exp(log_probabilities[row, : lengths[row]])
        return out

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[list[ScoredSpan]]:
        return self.decode_many(self.scores(texts, batch_size))

    def evaluate(self, data: Sequence[LabelledText], scores: Sequence[TextScores] | None = None, batch_size: int = 64) -> Report:
        """Strict entity scores on labelled texts (``scores``: their emissions, if already computed)."""
        scores = scores if scores is not None else self.scores([item.text for item in data], batch_size)
        return score_spans(
            [[(s.start, s.end, s.label) for s in item.spans] for item in data],
            [[s.key for s in spans] for spans in self.decode_many(scores)],
        )


def _load_single_threaded(path: Path, runtime: str) -> Tagger:
    torch.set_num_threads(1)
    return Tagger.load(path, runtime, threads=1)


def load_tagger(path: str | Path, runtime: str = "torch-bf16", threads: int | None = None) -> Tagger | EnsembleTagger | CrfTagger:
    """The tagger a model directory holds, its neural part run by ``runtime``: the ensemble of the
    neural tagger and its CRF member where training found it better on dev
    (:mod:`skugraph.tagging.ensemble`; with the networks trained with other seeds where it
    found them better still), else the neural tagger; a CRF distilled alone
    (:mod:`skugraph.tagging.crf_tagger`) needs no runtime. Every command that runs a tagger loads it here."""
    from skugraph.tagging.crf_tagger import CrfTagger, is_crf_tagger
    from skugraph.tagging.ensemble import ENSEMBLE, EnsembleTagger, NetworksTagger, network_dirs
    from skugraph.tagging.runtime import RUNTIMES

    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; one of {', '.join(RUNTIMES)}")
    if is_crf_tagger(path):
        return CrfTagger.load(path)  # no network: the runtime is not used
    tagger = Tagger.load(path, runtime, threads)
    if not tagger.meta.get(ENSEMBLE, {}).get("use"):
        return tagger
    ensemble = EnsembleTagger.around(tagger)
    return NetworksTagger.around(ensemble, threads) if network_dirs(tagger.meta) else ensemble


def window_batch(items: Sequence[Encoded], ranges: Sequence[tuple[int, int]], tokenizer, tags: Iterable[Sequence[int]] | None = None) -> dict[str, torch.Tensor]:
    """Model inputs for token windows: [CLS] ids [SEP], padded to a multiple of 16 (few
    distinct shapes keep the CPU kernels' caches small)."""
    width = max(e - s for s, e in ranges) + 2
    width += -width % 16
    ids = torch.full((len(items), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    lexicon_size = items[0].features.shape[1] if items[0].features is not None else 0
    lexicon = torch.zeros((len(items), width, lexicon_size)) if lexicon_size else None
    ngrams = torch.zeros((len(items), width, 2), dtype=torch.long) if items[0].ngrams is not None else None
    for row, (item, (start, end)) in enumerate(zip(items, ranges, strict=True)):
        length = end - start
        ids[row, 0] = tokenizer.cls_token_id
        ids[row, 1 : 1 + length] = torch.tensor(item.ids[start:end])
        ids[row, 1 + length] = tokenizer.sep_token_id
        mask[row, : length + 2] = 1
        if lexicon is not None:
            lexicon[row, 1 : 1 + length] = torch.from_numpy(item.features[start:end])
        if ngrams is not None:
            ngrams[row, 1 : 1 + length] = torch.from_numpy(item.ngrams[start:end])
    inputs = {"input_ids": ids, "attention_mask": mask}
    if lexicon is not None:
        inputs["lexicon"] = lexicon
    if ngrams is not None:
        inputs["ngrams"] = ngrams
    return inputs


def fit_temperature(tagger: Tagger | EnsembleTagger | CrfTagger, scores: Sequence, gold: Sequence[LabelledText]) -> tuple[float, float, float]:
    """The temperature minimising the log-loss of span confidences against span correctness on
    ``gold`` data (``scores``: the tagger's own, of ``gold``'s texts); returns (temperature, ECE at 1.0, ECE at the fitted temperature)."""
    gold_sets = [{(s.start, s.end, s.label) for s in item.spans} for item in gold]

    def confidences(temperature: float) -> tuple[list[float], list[bool]]:
        conf, hits = [], []
        for spans, expected in zip(tagger.decode_many(scores, temperature), gold_sets, strict=True):
            for span in spans:
                conf.append(span.score)
                hits.append(span.key in expected)
        return conf, hits

    def log_loss(temperature: float) -> float:
        conf, hits = confidences(temperature)
        p = np.clip(np.asarray(conf), 1e-6, 1 - 1e-6)
        y = np.asarray(hits, dtype=np.float64)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()) if len(p) else 0.0

    grid = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0, 2.5, 3.0]
    best = min(grid, key=log_loss)
    before = expected_calibration_error(*confidences(1.0))
    after = expected_calibration_error(*confidences(best))
    return best, before, after


class TaggerExtractor:
    """Mentions from listings with a trained tagger: the titles by default (tag the fields it
    was trained on), descriptions or reviews too (``fields=("all",)``); many listings are
    tagged in one batched pass."""

    name = "tagger"

    def __init__(self, tagger: Tagger | EnsembleTagger | CrfTagger, fields: Sequence[str] = ("title",), min_score: float = 0.0):
        self.tagger = tagger
        self.fields = tuple(fields)
        self.min_score = min_score
        self.version = str(tagger.meta.get("train", {}).get("sha256", ""))[:12] or "1"
        student = tagger.meta.get("distillation", {}).get("unlabelled", {}).get("sha256")
        if student:  # a distilled student keeps its teacher's training record: its facts are another model's
            self.version += f"-distilled-{student[:8]}-{tagger.meta['distillation'].get('layers') or 'crf'}"

    def _texts(self, listing: Listing) -> list[tuple[str, str]]:
        if "all" in self.fields:
            return listing.text_fields()
        return [(name, listing.field_text(name)) for name in self.fields if listing.field_text(name)]

    def extract_many(self, listings: Sequence[Listing]) -> list[list[Mention]]:
        jobs = [(index, name, text) for index, listing in enumerate(listings) for name, text in self._texts(listing)]
        found = self.tagger.predict([text for _, _, text in jobs])
        mentions: list[list[Mention]] = [[] for _ in listings]
        extractor = f"{self.name}@{self.version}"
        for (index, name, text), spans in zip(jobs, found, strict=True):
            for span in spans:
                if span.score >= self.min_score:
                    mentions[index].append(
                        Mention(listings[index].id, name, span.start, span.end, text[span.start : span.end], span.label, round(span.score, 4), extractor)
                    )
        return mentions

    def extract(self, listing: Listing) -> list[Mention]:
        return self.extract_many([listing])[0]
