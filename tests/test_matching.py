"""Pair matching: reading Ditto pair files, offer serialisation, thresholds, the string baseline,
and a tiny cross-encoder trained, saved and loaded."""

import random

import pytest

from skugraph.fusion.matching import (
    CrossEncoderMatcher,
    LabelledPair,
    Offer,
    PairFileError,
    StringMatcher,
    TrainMatcherConfig,
    best_threshold,
    pair_score,
    parse_offer,
    read_pairs,
    shared_codes,
    train_matcher,
)


def test_a_ditto_record_becomes_fields_and_codes_lead_the_serialisation():
    offer = parse_offer("COL name VAL lg 24 ' lds4821ww dishwasher COL description VAL quiet 2-piece tub COL price VAL 599.0")
    assert offer.fields == (("name", "lg 24 ' lds4821ww dishwasher"), ("description", "quiet 2-piece tub"), ("price", "599.0"))
    assert offer.title == "lg 24 ' lds4821ww dishwasher" and offer.codes() == ["lds4821ww"]
    text = offer.serialise()
    assert text.index("COL codes VAL lds4821ww") < text.index("COL price") < text.index("COL description")
    assert parse_offer("COL title VAL iphone 15 256gb COL brand VAL apple").codes() == []  # a measure is not a code


def test_shared_codes_say_what_the_two_offers_have_in_common():
    left = Offer("l", (("name", "panasonic kx-tg9343t phone"),))
    assert shared_codes(left, Offer("r", (("name", "panasonic kxtg9343 cordless"),))) == "kxtg9343t"
    assert shared_codes(left, Offer("r", (("name", "panasonic kxtg1032s"),))) == "none"
    assert shared_codes(left, Offer("r", (("name", "panasonic cordless phone"),))) == ""


def test_bad_pair_lines_are_reported_with_file_and_line_and_good_ones_kept(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("COL name VAL a1 COL price VAL 1\tCOL name VAL a1\t1\n"
                    "only one field\n"
                    "COL name VAL b\tCOL name VAL c\tmaybe\n"
                    "\n"
                    "COL name VAL d\tCOL name VAL e\t0\n", encoding="utf-8")
    errors = []
    pairs = read_pairs(path, errors.append)
    assert [p.label for p in pairs] == [1, 0]
    assert errors == [f"{path}:2: expected 3 tab-separated fields (left, right, label), found 1",
                      f"{path}:3: label must be 0 or 1, found 'maybe'"]
    with pytest.raises(PairFileError, match=r"pairs.txt:2"):
        read_pairs(path)


def test_best_threshold_maximises_f1_and_the_string_baseline_fits_one():
    threshold, score = best_threshold([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.1])
    assert 0.1 < threshold < 0.6 and score.f1 == pytest.approx(2 * 0.75 * 1 / 1.75)
    assert pair_score([1, 0, 1], [True, True, False]).precision == 0.5
    same = lambda t: Offer("x", (("title", t),))
    pairs = [LabelledPair(same("sony wh-1000xm5 headphones black"), same("Sony WH-1000XM5 black headphones"), 1),
             LabelledPair(same("sony wh-1000xm5 headphones"), same("bose quietcomfort earbuds"), 0)]
    matcher = StringMatcher().fit(pairs)
    assert matcher.predict(pairs) == [True, False]


def _pairs(count: int, seed: int) -> list[LabelledPair]:
    """Offers of made-up products: a match repeats the model code, a non-match uses another."""
    rng = random.Random(seed)
    words = ["phone", "case", "charger", "kettle", "laptop", "mouse", "bottle", "cable"]
    out = []
    for i in range(count):
        code = f"{rng.choice('abcdefgh')}{rng.choice('xyz')}{rng.randint(100, 999)}"
        other = f"{rng.choice('abcdefgh')}{rng.choice('xyz')}{rng.randint(100, 999)}"
        kind = rng.choice(words)
        left = Offer(f"{i}L", (("title", f"acme {kind} {code}"),))
        right = Offer(f"{i}R", (("title", f"{kind} by acme {code if i % 2 == 0 else other} new"),))
        out.append(LabelledPair(left, right, int(i % 2 == 0)))
    return out


@pytest.mark.slow
def test_cross_encoder_learns_saves_and_loads(tmp_path):
    train, valid = _pairs(96, 1), _pairs(32, 2)
    config = TrainMatcherConfig(out=tmp_path / "matcher", base_model="scratch:tiny", epochs=6, batch_size=16,
                                learning_rate=2e-3, head_learning_rate=2e-3, max_length=48)
    matcher = train_matcher(train, valid, config)
    history = matcher.record["history"]
    assert len(history) == 6 and history[-1]["loss"] < history[0]["loss"]
    predicted = matcher.predict([(p.left, p.right) for p in valid])
    # Calling every pair a match scores F1 0.67 here; 1.0 on our CPUs, 0.88 on CI's (other numerics).
    assert pair_score([p.label for p in valid], predicted).f1 >= 0.8
    loaded = CrossEncoderMatcher.load(tmp_path / "matcher")
    assert loaded.threshold == pytest.approx(matcher.threshold)
    assert loaded.record["valid"]["f1"] == matcher.record["valid"]["f1"] and loaded.record["base_model"] == "scratch:tiny"
    pairs = [(p.left, p.right) for p in valid]
    assert loaded.scores(pairs) == pytest.approx(matcher.scores(pairs), abs=1e-3)
    with pytest.raises(FileNotFoundError, match="not a matcher directory"):
        CrossEncoderMatcher.load(tmp_path)
