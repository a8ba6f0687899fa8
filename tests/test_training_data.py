"""Training data the train commands prepare: held-out rows, gazetteer files, the engine that trains."""

from pathlib import Path

import pytest

from skugraph.corpus.split import hold_out
from skugraph.facts.sentiment import accuracy, train_sentiment
from skugraph.scale import train_model
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
    assert lexicon_files([f"brand={tmp_path}/brands-*.txt"]) == {"brand": [tmp_path / "brands-a.txt", tmp_path / "brands-b.txt"]}
    with pytest.raises(ValueError, match="NAME=FILE"):
        lexicon_files(["brands.txt"])
    with pytest.raises(FileNotFoundError, match="--lexicon colour: no file colours-\\*.txt"):
        lexicon_files(["colour=colours-*.txt"])


def test_training_refuses_an_unknown_engine(tmp_path):
    with pytest.raises(ValueError, match="--engine must be local or ray, not 'spark'"):
        train_model("tagger", None, engine="spark")


def test_relation_training_examples_come_from_labelled_titles(tmp_path):
    from skugraph.facts.relations import training_examples

    titled = tmp_path / "train.bio"
    titled.write_text("华 B-1\n为 I-1\n手 B-4\n机 I-4\n壳 I-4\n\n", encoding="utf-8")
    pairs, held = training_examples(titled, titled)
    assert [(pair.label, pair.text[pair.other[0]:pair.other[1]]) for pair in pairs] == [("brand_of", "华为")] and held == pairs
    brands_only = tmp_path / "brands.bio"
    brands_only.write_text("华 B-1\n为 I-1\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="brands.bio: no \\(head product, mention\\) pairs"):
        training_examples(brands_only)


def test_matcher_training_pairs_report_bad_lines_and_refuse_none(tmp_path):
    from skugraph.fusion.matching import training_pairs

    good = "COL title VAL iphone 15 COL brand VAL apple\tCOL title VAL apple iphone 15\t1\n"
    train_file, valid_file = tmp_path / "train.txt", tmp_path / "valid.txt"
    train_file.write_text(good + "only one field\n", encoding="utf-8")
    valid_file.write_text(good, encoding="utf-8")
    skipped: list[str] = []
    pairs, held = training_pairs(train_file, valid_file, skipped.append)
    assert len(pairs) == 1 and pairs[0].label == 1 and len(held) == 1
    assert skipped == [f"{train_file}:2: expected 3 tab-separated fields (left, right, label), found 1"]
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt: no labelled pairs"):
        training_pairs(empty)
