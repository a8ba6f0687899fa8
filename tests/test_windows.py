import numpy as np
import pytest

from skugraph.corpus.ner import Span, tags_to_spans
from skugraph.tagging.decode import decode
from skugraph.tagging.windows import merge_window_scores, windows


def test_windows_cover_everything_with_overlap():
    assert windows(10, 16, 8) == [(0, 10)]
    ranges = windows(100, 32, 16)
    assert ranges[0] == (0, 32) and ranges[-1] == (68, 100)
    covered = set()
    for start, end in ranges:
        assert end - start == 32
        covered |= set(range(start, end))
    assert covered == set(range(100))
    with pytest.raises(ValueError):
        windows(10, 8, 0)


def test_each_token_takes_its_most_central_window():
    ranges = windows(20, 8, 4)
    scores = [np.full((end - start, 1), float(i)) for i, (start, end) in enumerate(ranges)]
    merged = merge_window_scores(ranges, scores, 20)[:, 0]
    assert merged[0] == 0 and merged[19] == len(ranges) - 1
    for token, window in enumerate(merged.astype(int)):
        start, end = ranges[window]
        centrality = min(token - start, end - 1 - token)
        assert all(min(token - s, e - 1 - token) <= centrality for s, e in ranges if s <= token < e)


def test_a_title_longer_than_a_window_keeps_exact_offsets():
    """An entity straddling a window boundary is found whole, at its original characters."""
    text = "Ｘ" + "好" * 10 + "华为手机" + "好" * 10
    offsets = [(i, i + 1) for i in range(len(text))]  # one token a character
    tags = ["O", "B-HP", "I-HP"]
    gold = ["O"] * len(text)
    start = text.index("华为")
    gold[start], gold[start + 1] = "B-HP", "I-HP"
    perfect = np.log(np.array([[0.98 if t == g else 0.01 for t in tags] for g in gold]))
    ranges = windows(len(text), 8, 4)
    assert any(s < start + 1 < e and not s <= start < e for s, e in ranges) or any(
        s <= start < e and not s <= start + 1 < e for s, e in ranges
    ), "some window cuts the entity"
    merged = merge_window_scores(ranges, [perfect[s:e] for s, e in ranges], len(text))
    spans = [Span(offsets[s.start][0], offsets[s.end - 1][1], s.label) for s in tags_to_spans(decode(merged, tags))]
    assert spans == [Span(start, start + 2, "HP")] and text[spans[0].start : spans[0].end] == "华为"
