"""Pretraining data: encode sentences once (with jieba word boundaries for whole-word
masking), pack short texts into full sequences, build next-sentence pairs, and mask
batches on the fly.

Everything is kept in flat NumPy arrays so a corpus of millions of titles costs a few
tens of MB and can be cached on disk.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

_WORKER_TOKENIZER: Tokenizer | None = None


@dataclass
class EncodedSentences:
    """Token ids of every sentence (no special tokens), where each whole word starts,
    and which document each sentence belongs to."""

    ids: np.ndarray  # int32, all sentences concatenated
    word_starts: np.ndarray  # bool, same length: the token begins a whole word
    offsets: np.ndarray  # int64, len(sentences) + 1: sentence i is ids[offsets[i]:offsets[i+1]]
    documents: np.ndarray  # int64, len(sentences): document index of each sentence

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sentence(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ids[self.offsets[i] : self.offsets[i + 1]], self.word_starts[self.offsets[i] : self.offsets[i + 1]]


def _init_worker(tokenizer_json: str) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = Tokenizer.from_str(tokenizer_json)
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()


def _encode_chunk(args: tuple[list[str], bool]) -> tuple[list[list[int]], list[list[bool]]]:
    sentences, whole_word = args
    assert _WORKER_TOKENIZER is not None
    encodings = _WORKER_TOKENIZER.encode_batch(sentences, add_special_tokens=False)
    all_ids, all_starts = [], []
    if whole_word:
        import jieba
    for text, encoding in zip(sentences, encodings, strict=True):
        if whole_word:
            boundaries = {start for _, start, _ in jieba.tokenize(text)}
            starts = [i == 0 or start in boundaries for i, (start, _) in enumerate(encoding.offsets)]
        else:  # token-level masking: every token is its own unit
            starts = [True] * len(encoding.ids)
        all_ids.append(encoding.ids)
        all_starts.append(starts)
    return all_ids, all_starts


def encode_documents(
    documents: Sequence[list[str]], tokenizer_json: str, whole_word: bool = True, workers: int | None = None
) -> EncodedSentences:
    """Tokenise every sentence in parallel processes and mark whole-word starts."""
    sentences = [s for doc in documents for s in doc]
    doc_of = np.repeat(np.arange(len(documents), dtype=np.int64), [len(d) for d in documents])
    workers = workers or min(4, os.cpu_count() or 1)
    chunk = 2000
    jobs = [(sentences[i : i + chunk], whole_word) for i in range(0, len(sentences), chunk)]
    ids: list[list[int]] = []
    starts: list[list[bool]] = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(tokenizer_json,)) as pool:
            for chunk_ids, chunk_starts in pool.map(_encode_chunk, jobs):
                ids += chunk_ids
                starts += chunk_starts
    else:
        _init_worker(tokenizer_json)
        for job in jobs:
            chunk_ids, chunk_starts = _encode_chunk(job)
            ids += chunk_ids
            starts += chunk_starts
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat_ids = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1]))
    flat_starts = np.fromiter((s for x in starts for s in x), dtype=bool, count=int(offsets[-1]))
    return EncodedSentences(flat_ids, flat_starts, offsets, doc_of)


@dataclass
class Sequences:
    """Training sequences, padded to ``max_length``; ``nsp`` is -100 for packed sequences."""

    ids: np.ndarray  # int32 [n, max_length]
    word_starts: np.ndarray  # bool [n, max_length]
    token_types: np.ndarray  # int8 [n, max_length]
    lengths: np.ndarray  # int32 [n]
    nsp: np.ndarray  # int8 [n]: 0 = B follows A, 1 = B is random, -100 = not a pair

    def __len__(self) -> int:
        return len(self.lengths)

    def subset(self, rows: np.ndarray) -> Sequences:
        return Sequences(self.ids[rows], self.word_starts[rows], self.token_types[rows], self.lengths[rows], self.nsp[rows])

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


class _Builder:
    def __init__(self, max_length: int, cls_id: int, sep_id: int, pad_id: int):
        self.max_length, self.cls_id, self.sep_id, self.pad_id = max_length, cls_id, sep_id, pad_id
        self.rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []

    def add(self, pieces: list[tuple[np.ndarray, np.ndarray]], types: list[int], nsp: int) -> None:
        ids = [np.array([self.cls_id], np.int32)]
        starts = [np.array([True])]
        token_types = [np.array([0], np.int8)]
        for (piece_ids, piece_starts), kind in zip(pieces, types, strict=True):
            ids += [piece_ids, np.array([self.sep_id], np.int32)]
            starts += [piece_starts, np.array([True])]
            token_types.append(np.full(len(piece_ids) + 1, kind, np.int8))
        self.rows.append((np.concatenate(ids), np.concatenate(starts), np.concatenate(token_types), nsp))

    def build(self) -> Sequences:
        n, width = len(self.rows), self.max_length
        ids = np.full((n, width), self.pad_id, np.int32)
        starts = np.ones((n, width), bool)
        types = np.zeros((n, width), np.int8)
        lengths = np.zeros(n, np.int32)
        nsp = np.zeros(n, np.int8)
        for i, (row_ids, row_starts, row_types, label) in enumerate(self.rows):
            size = len(row_ids)
            ids[i, :size], starts[i, :size], types[i, :size], lengths[i], nsp[i] = row_ids, row_starts, row_types, size, label
        return Sequences(ids, starts, types, lengths, nsp)


def pack(encoded: EncodedSentences, sentences: np.ndarray, max_length: int, cls_id: int, sep_id: int, pad_id: int) -> Sequences:
    """Pack the given sentences, in order, into ``[CLS] s1 [SEP] s2 [SEP] …`` rows of at most
    ``max_length`` tokens; a sentence longer than a row is cut into row-sized pieces."""
    builder = _Builder(max_length, cls_id, sep_id, pad_id)
    room = max_length - 1  # after [CLS]
    current: list[tuple[np.ndarray, np.ndarray]] = []
    used = 0
    for index in sentences:
        ids, starts = encoded.sentence(int(index))
        for begin in range(0, len(ids), room - 1):
            piece = (ids[begin : begin + room - 1], starts[begin : begin + room - 1])
            need = len(piece[0]) + 1  # with its [SEP]
            if used + need > room and current:
                builder.add(current, [0] * len(current), -100)
                current, used = [], 0
            current.append(piece)
            used += need
    if current:
        builder.add(current, [0] * len(current), -100)
    return builder.build()


def next_sentence_pairs(
    encoded: EncodedSentences, sentences: np.ndarray, max_length: int, cls_id: int, sep_id: int, pad_id: int, seed: int
) -> Sequences:
    """``[CLS] A [SEP] B [SEP]`` for each pair of adjacent sentences of one document: half keep
    the true next sentence (label 0), half take a sentence of another document (label 1)."""
    rng = np.random.default_rng(seed)
    builder = _Builder(max_length, cls_id, sep_id, pad_id)
    chosen = set(sentences.tolist())
    pairs = [i for i in sentences if i + 1 in chosen and encoded.documents[i] == encoded.documents[i + 1]]
    half = (max_length - 3) // 2
    pool = np.array(sorted(chosen))
    for first in pairs:
        label = int(rng.random() < 0.5)
        second = first + 1
        if label:
            second = int(pool[rng.integers(len(pool))])
            if encoded.documents[second] == encoded.documents[first]:
                label, second = 0, first + 1
        a_ids, a_starts = encoded.sentence(int(first))
        b_ids, b_starts = encoded.sentence(int(second))
        builder.add([(a_ids[:half], a_starts[:half]), (b_ids[:half], b_starts[:half])], [0, 1], label)
    return builder.build()


@dataclass
class MaskingConfig:
    mask_token_id: int
    special_ids: tuple[int, ...]  # never masked
    replacement_ids: np.ndarray  # drawn for the 10% random replacements
    probability: float = 0.15

    @classmethod
    def for_tokenizer(cls, tokenizer, probability: float = 0.15) -> MaskingConfig:
        special = tuple(sorted(set(tokenizer.all_special_ids)))
        replacements = np.setdiff1d(np.arange(len(tokenizer)), np.array(special))
        return cls(tokenizer.mask_token_id, special, replacements, probability)


def mask_batch(batch: Sequences, config: MaskingConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Choose whole words with probability ``p``; of their tokens 80% become [MASK], 10% a
    random token, 10% stay. Returns model inputs trimmed to the longest row rounded up to a
    multiple of 16 (dynamic padding with few distinct shapes, which CPU kernels cache)."""
    width = min(batch.ids.shape[1], -(-int(batch.lengths.max()) // 16) * 16)
    ids = batch.ids[:, :width].astype(np.int64)
    starts = batch.word_starts[:, :width]
    positions = np.arange(width)
    real = positions[None, :] < batch.lengths[:, None]
    maskable = real & ~np.isin(ids, config.special_ids)
    last_start = np.maximum.accumulate(np.where(starts, positions[None, :], 0), axis=1)
    word_draw = np.take_along_axis(rng.random(ids.shape), last_start, axis=1)
    chosen = maskable & (word_draw < config.probability)
    for row in np.flatnonzero(~chosen.any(axis=1) & maskable.any(axis=1)):  # every row learns something
        chosen[row, rng.choice(np.flatnonzero(maskable[row]))] = True
    labels = np.where(chosen, ids, -100)
    action = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (action < 0.8)] = config.mask_token_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inputs[swap] = rng.choice(config.replacement_ids, size=int(swap.sum()))
    return {
        "input_ids": inputs,
        "attention_mask": real.astype(np.int64),
        "token_type_ids": batch.token_types[:, :width].astype(np.int64),
        "labels": labels,
        "next_sentence_label": batch.nsp.astype(np.int64),
    }
