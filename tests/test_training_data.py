"""Training data the train commands prepare: held-out rows, gazetteer files, the engine that trains."""

from pathlib import Path

import pytest

from skugraph.corpus.split import hold_out
from skugraph.facts.sentiment import accuracy, train_sentiment
from skugraph.scale import train
from skugraph.tagging.lexicon import lexicon_files


def test_every_nth_row_is_held_out():
    train_rows, dev = hold_out(list(range(12)), 5)
    assert dev == [4, 9] and train_rows == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11]
    assert hold_out(["a", "b"], 0) == (["a", "b"], [])


def test_sentiment_accuracy_counts_the_right_predictions():
    rows = [("很好 喜欢", "positive"), ("太差 失望", "negative")] * 10
    model = train_sentiment(rows)
    assert accuracy(model, rows) == 1.0
    assert accuracy(model, [(text, "neutral") for text, _ in rows]) == 0.0
    assert accuracy(model, []) == 0.0


def test_lexicon_files_read_names_files_and_globs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("brands-a.txt", "brands-b.txt", "types.txt"):
        (tmp_path / name).write_text("华为\n", encoding="utf-8")
    found = lexicon_files(["brand=brands-*.txt", "product_type=types.txt,brands-a.txt"])
    assert found == {"brand": [Path("brands-a.txt"), Path("brands-b.txt")],
                     "product_type": [Path("types.txt"), Path("brands-a.txt")]}
    with pytest.raises(ValueError, match="NAME=FILE"):
        lexicon_files(["brands.txt"])
    with pytest.raises(FileNotFoundError, match="--lexicon colour: no file colours-\\*.txt"):
        lexicon_files(["colour=colours-*.txt"])


def test_training_refuses_an_unknown_engine(tmp_path):
    with pytest.raises(ValueError, match="--engine must be local or ray, not 'spark'"):
        train("tagger", None, engine="spark")
