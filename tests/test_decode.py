import itertools

import numpy as np
import pytest

from skugraph.corpus.ner import tags_to_spans
from skugraph.tagging.decode import best_path, best_paths, decode, forward_backward, forward_backward_many

BIO = ["O", "B-HP", "I-HP", "B-HC", "I-HC"]
BIEOS = ["O", "B-HP", "I-HP", "E-HP", "S-HP", "B-HC", "I-HC", "E-HC", "S-HC"]


def log_probs(rows: list[dict[str, float]], tags: list[str]) -> np.ndarray:
    probs = np.full((len(rows), len(tags)), 1e-3)
    for t, row in enumerate(rows):
        for tag, p in row.items():
            probs[t, tags.index(tag)] = p
    probs /= probs.sum(axis=1, keepdims=True)
    return np.log(probs)


def test_valid_argmax_is_kept():
    rows = [{"B-HP": 0.9}, {"I-HP": 0.8}, {"O": 0.9}, {"B-HC": 0.7}]
    assert decode(log_probs(rows, BIO), BIO) == ["B-HP", "I-HP", "O", "B-HC"]


def test_inside_without_begin_is_repaired():
    rows = [{"O": 0.6, "I-HP": 0.4}, {"I-HP": 0.9}, {"I-HP": 0.8}]
    tags = decode(log_probs(rows, BIO), BIO)
    assert tags[0] != "O" or tags[1] != "I-HP"
    tags_to_spans(tags)  # valid: raises otherwise
    assert tags == ["B-HP", "I-HP", "I-HP"]


def test_types_do_not_switch_inside_an_entity():
    rows = [{"B-HP": 0.9}, {"I-HC": 0.6, "I-HP": 0.4}]
    assert decode(log_probs(rows, BIO), BIO) == ["B-HP", "I-HP"]


@pytest.mark.parametrize("tags", [BIO, BIEOS])
def test_random_scores_always_decode_to_valid_sequences(tags):
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = np.log(rng.dirichlet(np.ones(len(tags)) * 0.3, size=rng.integers(1, 12)))
        tags_to_spans(decode(scores, tags))


def strict_bieos(sequence: list[str]) -> bool:
    """B and I must be followed by I or E of the same type; I and E must follow B or I."""
    for previous, tag in zip(["O", *sequence], [*sequence, "O"]):
        opened = previous[0] in "BI"
        if opened != (tag[0] in "IE") or (opened and previous[2:] != tag[2:]):
            return False
    return True


def test_bieos_is_the_exact_best_valid_sequence():
    rng = np.random.default_rng(1)
    tags = ["O", "B-X", "I-X", "E-X", "S-X"]
    for _ in range(30):
        scores = np.log(rng.dirichlet(np.ones(len(tags)), size=4))
        best = decode(scores, tags)
        valid = []
        for candidate in itertools.product(range(len(tags)), repeat=4):
            sequence = [tags[i] for i in candidate]
            if not strict_bieos(sequence):
                continue
            valid.append((sum(scores[t, i] for t, i in enumerate(candidate)), sequence))
        assert best == max(valid)[1]


def test_batched_decoding_matches_one_text_at_a_time():
    rng = np.random.default_rng(0)
    emissions = rng.normal(size=(5, 9, 7)) * 3
    start, transition, end = rng.normal(size=7), rng.normal(size=(7, 7)), rng.normal(size=7)
    transition[1, 2] = start[3] = -1e9  # blocked moves stay blocked
    paths = best_paths(emissions, start, transition, end)
    alpha, beta, log_z = forward_backward_many(emissions, start, transition, end)
    for row in range(5):
        assert list(paths[row]) == best_path(emissions[row], start, transition, end)
        one_alpha, one_beta, one_log_z = forward_backward(emissions[row], start, transition, end)
        assert np.allclose(np.exp(one_alpha), np.exp(alpha[row])) and np.allclose(one_beta, beta[row])
        assert abs(one_log_z - log_z[row]) < 1e-9


def _dense_viterbi(emissions, start, transition, end):
    """Textbook Viterbi over every predecessor, one text."""
    score, back = emissions[0] + start, []
    for t in range(1, len(emissions)):
        candidates = score[:, None] + transition
        back.append(candidates.argmax(axis=0))
        score = candidates.max(axis=0) + emissions[t]
    path = [int((score + end).argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]


@pytest.mark.parametrize("tags", [BIO, BIEOS], ids=["bio", "bieos"])
def test_padded_batches_decode_like_one_text_over_every_predecessor(tags):
    from skugraph.tagging.decode import constraint_scores

    types = [f"T{i}" for i in range(12)]  # enough types that I-/E- tags are looked up by predecessor lists
    tags = ["O"] + [f"{p}-{t}" for t in types for p in ({p for p, *_ in (x.partition("-") for x in tags[1:])})]
    rng = np.random.default_rng(1)
    start, transition, end = constraint_scores(tags)
    transition = np.where(transition < 0, -1e4, rng.normal(size=transition.shape))  # a CRF's: learned, blocked at -1e4
    lengths = np.array([1, 3, 7, 7, 12])
    emissions = rng.normal(size=(len(lengths), lengths.max(), len(tags))) * 4
    paths = best_paths(emissions, start, transition, end, lengths)
    alpha, beta, log_z = forward_backward_many(emissions, start, transition, end, lengths)
    for row, length in enumerate(lengths):
        one = emissions[row, :length]
        assert list(paths[row, :length]) == _dense_viterbi(one, start, transition, end)
        assert not paths[row, length:].any()
        one_alpha, one_beta, one_log_z = forward_backward(one, start, transition, end)
        assert abs(one_log_z - log_z[row]) < 1e-8
        assert np.allclose(np.exp(one_alpha - one_log_z), np.exp(alpha[row, :length] - log_z[row]), atol=1e-10)
        assert np.allclose(np.exp(one_beta), np.exp(beta[row, :length]), rtol=1e-8)
