import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skugraph.corpus.ner import LabelledText, Span
from skugraph.extract import ExtractorConfig, ListingReader, build_reader
from skugraph.fact_scores import calibrate, read_with_gold, tagger_training_texts
from skugraph.facts.calibration import (
    CALIBRATION_FILE,
    FactCalibration,
    cross_fit,
    expected_calibration_error,
    fact_features,
    fit_calibration,
    lexical_prior,
    pick_threshold,
    precision_coverage,
    role_probabilities,
)
from skugraph.records import CALIBRATED_VERSION, PRODUCT, VALUE, Entity, Fact, Mention, Provenance

BRANDS = ["华为", "小米", "联想", "得力", "美的", "晨光"]
PRODUCTS = ["手机壳", "充电宝", "笔记本", "签字笔", "收纳盒", "保温杯"]
COLOURS = ["黑色", "白色", "红色", "蓝色", "粉色", "灰色"]


def titles(count: int) -> list[LabelledText]:
    """``brand product colour`` titles, every word labelled."""
    out = []
    for n in range(count):
        words = [(BRANDS[n % 6], "brand"), (PRODUCTS[(n // 6) % 6], "product_type"), (COLOURS[(n // 2) % 6], "colour")]
        text = " ".join(w for w, _ in words)
        out.append(LabelledText(text, tuple(Span(text.index(w), text.index(w) + len(w), label) for w, label in words)))
    return out


class OverConfident:
    """Finds every labelled word, and in two titles of three also calls the colour a brand: all at 0.99."""

    name, version = "overconfident", "1"

    def __init__(self, texts: dict[str, LabelledText]):
        self.texts = texts

    def extract_many(self, listings):
        out = []
        for listing in listings:
            spans = self.texts[listing.id].spans
            found = [Mention(listing.id, "title", s.start, s.end, listing.title[s.start : s.end], s.label, 0.99) for s in spans]
            if int(listing.id.split("-")[1]) % 3:
                colour = spans[-1]
                found.append(Mention(listing.id, "title", colour.start, colour.end, listing.title[colour.start : colour.end], "brand", 0.99))
            out.append(found)
        return out


@pytest.fixture
def overconfident():
    texts = titles(120)
    rules = build_reader(ExtractorConfig())
    by_id = {f"text-{n}": item for n, item in enumerate(texts, 1)}
    return texts, ListingReader(OverConfident(by_id), rules.builder)


def test_ece_of_equal_width_bins_by_hand():
    # bin [0.9, 1.0): 2 facts, one right, gap 0.4; bin [0.1, 0.2): 2 facts, none right, gap 0.1
    assert expected_calibration_error([0.9, 0.9, 0.1, 0.1], [True, False, False, False]) == pytest.approx(0.25)
    assert expected_calibration_error([], []) == 0.0


def test_threshold_picker_takes_the_lowest_threshold_reaching_the_precision():
    curve = precision_coverage([0.9, 0.8, 0.7, 0.6], [True, True, False, True])
    assert [(p.threshold, p.precision, p.recall_kept, p.kept) for p in curve] == [
        (0.9, 1.0, 0.3333, 1), (0.8, 1.0, 0.6667, 2), (0.7, 0.6667, 0.6667, 3), (0.6, 0.75, 1.0, 4)]
    assert pick_threshold(curve, 0.9).threshold == 0.8
    assert pick_threshold(curve, 0.7).threshold == 0.6  # precision is not monotone: the lowest threshold that reaches it
    assert pick_threshold(curve, 1.01) is None


def test_calibration_brings_an_overconfident_extractors_held_out_ece_down(overconfident):
    texts, reader = overconfident
    reads = read_with_gold(texts, reader)
    held = cross_fit(*reads.outcomes()).summary()
    # 120 brand + 120 type + 120 colour facts right, 80 colour-as-brand facts wrong, all at 0.99
    assert held["facts"] == 440 and held["right"] == 360
    assert held["ece_raw"] == pytest.approx(0.99 - 360 / 440, abs=1e-3)
    assert held["ece_calibrated"] < 0.05
    # the wrong facts are brands whose listing has two: the right facts alone clear the held-out threshold
    assert held["precision_kept"] >= 0.9 and held["recall_kept"] >= 0.6


def test_a_reader_applies_a_saved_calibration(overconfident, tmp_path):
    texts, reader = overconfident
    fitted = calibrate(texts, reader)
    assert fitted.report["ece_calibrated"] < fitted.report["ece_raw"]
    path = fitted.save(tmp_path / CALIBRATION_FILE)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["method"] in ("platt", "isotonic") and saved["report"]["threshold"]["precision"] >= 0.9

    rules = build_reader(ExtractorConfig(calibration=path))
    assert rules.calibration == FactCalibration.load(path)
    raw = build_reader(ExtractorConfig())
    listing = read_with_gold(texts[:1], raw).listings[0]
    [(_, before)] = raw.read([listing])
    [(_, after)] = rules.read([listing])
    assert [f.key for f in after] == [f.key for f in before]
    expected = fitted.probabilities(fact_features(before))
    assert [f.confidence for f in after] == pytest.approx(np.round(expected, 4).tolist())
    assert [f.confidence for f in after] != [f.confidence for f in before]
    assert all(p.version.endswith(CALIBRATED_VERSION) for f in after for p in f.provenance)  # what skugraph stats counts
    assert not any(p.version.endswith(CALIBRATED_VERSION) for f in before for p in f.provenance)


def test_a_file_that_is_no_calibration_is_named(tmp_path):
    bad = tmp_path / "cal.json"
    bad.write_text(json.dumps({"method": "magic", "weights": {}, "intercept": 0, "predicates": []}))
    with pytest.raises(ValueError, match=r"cal\.json: field 'method'"):
        build_reader(ExtractorConfig(calibration=bad))
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a fact calibration file"):
        FactCalibration.load(bad)


def test_calibration_needs_right_and_wrong_facts():
    with pytest.raises(ValueError, match="some right and some wrong"):
        fit_calibration([[]] * 3, [[]] * 3)


def test_evaluate_facts_calibrate_writes_the_rules_calibration(tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app
    from skugraph.corpus.ner import write_conll

    texts = titles(60)
    # in every third title the labels call the colour a pattern: there the rules' colour fact is wrong
    texts = [LabelledText(t.text, t.spans[:2] + (Span(t.spans[2].start, t.spans[2].end, "pattern" if n % 3 == 0 else "colour"),))
             for n, t in enumerate(texts)]
    write_conll(texts, tmp_path / "dev.bio")
    out = tmp_path / "rules-calibration.json"
    result = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "dev.bio"), "--facts", "--calibrate", "--calibration", str(out)])
    assert result.exit_code == 0, result.output
    assert "micro after fusion" in result.output and "fact calibration" in result.output and out.is_file()
    report = FactCalibration.load(out).report
    assert 100 < report["facts"] <= 180 and report["right"] < report["facts"]  # brand, type and colour of 60 titles, some missed
    result = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "dev.bio"), "--facts", "--calibrate"])
    assert result.exit_code == 1 and "needs --calibration FILE" in result.output

    listings = tmp_path / "listings.jsonl"  # the rules' facts of new listings, calibrated by the file
    listings.write_text("".join(json.dumps({"id": f"l{n}", "title": t.text}, ensure_ascii=False) + "\n"
                                for n, t in enumerate(titles(5))), encoding="utf-8")
    result = CliRunner().invoke(app, ["extract", str(listings), "--out", str(tmp_path / "facts.jsonl"), "--calibration", str(out)])
    assert result.exit_code == 0, result.output
    facts = [json.loads(line) for line in (tmp_path / "facts.jsonl").read_text(encoding="utf-8").splitlines()]
    fitted = [f for f in facts if f["predicate"] in FactCalibration.load(out).predicates]
    assert fitted and all(p["version"].endswith(CALIBRATED_VERSION) for f in fitted for p in f["provenance"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny tagger, one epoch on 40 sample titles: its quality does not matter here."""
    from typer.testing import CliRunner

    from skugraph.cli import app
    from skugraph.sample.generate import LABELS

    folder = tmp_path_factory.mktemp("tagger")
    (folder / "train.jsonl").write_text("\n".join(LABELS.read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "tagger", "--train", str(folder / "train.jsonl"), "--out", str(folder / "model"),
                                      "--base-model", "scratch:tiny", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    return folder / "model"


def test_a_tagger_directory_holding_a_calibration_is_calibrated(trained, overconfident, tmp_path):
    texts, reader = overconfident
    fitted = calibrate(texts, reader)
    fitted.save(trained / CALIBRATION_FILE)
    tagger = build_reader(ExtractorConfig(kind="tagger", model=trained))
    assert tagger.calibration == fitted
    elsewhere = fitted.save(tmp_path / "other.json")
    elsewhere.write_text(elsewhere.read_text(encoding="utf-8").replace('"intercept": ', '"intercept": 1 + '), encoding="utf-8")
    with pytest.raises(ValueError, match="other.json: not a fact calibration file"):  # the named file wins, and is checked
        build_reader(ExtractorConfig(kind="tagger", model=trained, calibration=elsewhere))
    (trained / CALIBRATION_FILE).unlink()
    assert build_reader(ExtractorConfig(kind="tagger", model=trained)).calibration is None


def _word(listing: str, predicate: str, word: str, start: int, confidence: float) -> Fact:
    where = (Provenance(listing, "title", start, start + len(word), "tagger"),)
    return Fact(Entity(PRODUCT, listing, listing), predicate, Entity(VALUE, f"product_type:{word}", word), confidence, where)


def test_product_word_features_say_how_firmly_the_head_was_chosen():
    facts = [_word("a", "product_type", "手机壳", 0, 0.9), _word("a", "related_product", "保护壳", 4, 0.8),
             _word("a", "related_product", "钢化膜", 9, 0.6)]
    head, same, other = fact_features(facts)
    assert head["head_margin*product_type"] == 1.0 and head["in_largest_group*product_type"] == 1.0
    assert head["weakest_other_product*product_type"] == 0.6  # 钢化膜 is the doubtful word
    assert other["in_largest_group*related_product"] == 0.0 and other["weakest_other_product*related_product"] == 0.8
    assert same["log_product_words*related_product"] == pytest.approx(math.log(3))
    assert "head_margin*related_product" not in head and "head_margin*product_type" not in same
    assert head["log_span_length"] == pytest.approx(math.log(3)) and other["start"] == pytest.approx(9 / 60)


def test_role_probabilities_apply_the_head_rule_to_every_set_of_words_there_may_be():
    # 睡衣 睡袍 浴袍: the 袍 group (two words) heads when both are there; a tie of one word each goes to
    # the earlier group (衣), and a word alone heads
    facts = [_word("a", "related_product", "睡衣", 0, 0.9), _word("a", "product_type", "睡袍", 3, 0.9),
             _word("a", "related_product", "浴袍", 6, 0.5), _word("a", "has_brand", "宏情", 9, 0.9)]
    roles = role_probabilities(facts)
    assert set(roles) == {0, 1, 2}  # product words only
    # 睡袍 heads when 浴袍 is there (0.5), or when neither is nor 睡衣 is (0.5 x 0.1)
    assert roles[1] == pytest.approx(0.55)
    # 睡衣 heads unless both 袍 words are there (0.9 x 0.5): it is related with probability 0.45
    assert roles[0] == pytest.approx(0.45)
    # 浴袍 heads only alone (0.1 x 0.1)
    assert roles[2] == pytest.approx(0.99)
    rows = fact_features(facts)
    assert rows[1]["log_role*product_type"] == pytest.approx(math.log(0.55))
    assert rows[1]["logit_joint"] == pytest.approx(math.log(0.9 * 0.55 / (1 - 0.9 * 0.55)))
    assert rows[3]["logit_joint"] == pytest.approx(rows[3]["logit_confidence"]) and "log_role*product_type" not in rows[3]
    # a word read twice (睡袍 … 睡袍: one fact, two readings) makes its group of two alone
    twice = replace(facts[1], provenance=(*facts[1].provenance, Provenance("a", "title", 12, 14, "tagger")))
    assert role_probabilities([facts[0], twice])[1] == pytest.approx(1.0)
    # past 8 words the sets are sampled, seeded
    many = [_word("b", "related_product", f"{c}袍", 3 * n, 0.7) for n, c in enumerate("甲乙丙丁戊己庚辛壬")]
    assert role_probabilities(many) == role_probabilities(many) and 0.0 <= min(role_probabilities(many).values())


def test_calibration_trusts_a_head_chosen_among_many_words_less():
    """A head type picked from one word is right; one picked among three is right one time in three:
    at one raw confidence, the fitted calibration tells them apart."""
    listings, right = [], []
    for n in range(150):
        if n % 2:
            listings.append([_word(f"l{n}", "product_type", "手机壳", 0, 0.9)])
            right.append([True])
        else:
            words = [_word(f"l{n}", "product_type", "手机壳", 0, 0.9), _word(f"l{n}", "related_product", "充电器", 4, 0.9),
                     _word(f"l{n}", "related_product", "数据线", 8, 0.9)]
            listings.append(words)
            right.append([n % 3 == 0, True, True])
    fitted = fit_calibration(listings, right)
    alone, among = fitted.probabilities(fact_features(listings[1])), fitted.probabilities(fact_features(listings[0]))
    assert alone[0] > 0.85 and among[0] < 0.6


def _fact(title: str, predicate: str, word: str, confidence: float = 1.0) -> Fact:
    start = title.index(word)
    return Fact(Entity(PRODUCT, title, title), predicate, Entity(VALUE, f"product_type:{word}", word), confidence,
                (Provenance(title, "title", start, start + len(word), "gold"),))


def test_lexical_prior_counts_the_titles_a_text_occurs_in_and_the_facts_stating_it():
    labelled = {"华为手机壳": [("product_type", "手机壳")], "钢化膜 手机壳": [("product_type", "钢化膜"), ("related_product", "手机壳")],
                "手机壳收纳盒": [("product_type", "收纳盒")], "手机壳": [("has_brand", "手机壳")]}
    lexicon = lexical_prior(list(labelled), [[_fact(t, p, w) for p, w in facts] for t, facts in labelled.items()])
    # in 4 titles; stated as a product word twice (head and related count as one), as a brand once; unlabelled in 手机壳收纳盒
    assert lexicon["手机壳"] == [4, {"product_type": 2, "has_brand": 1}]
    assert lexicon["收纳盒"] == [1, {"product_type": 1}] and set(lexicon) == {"手机壳", "钢化膜", "收纳盒"}
    dev = [_fact("新款手机壳", "related_product", "手机壳", 0.8), _fact("新款充电器", "product_type", "充电器", 0.8)]
    seen, unseen = (fact_features([fact], lexicon)[0] for fact in dev)
    assert seen["lexical_rate"] == 0.5 and seen["lexical_other_rate"] == 0.25 and seen["lexically_unseen"] == 0.0
    assert seen["log_lexical_occurrences"] == pytest.approx(math.log(5))
    assert unseen["lexical_rate"] == 0.0 and unseen["lexically_unseen"] == 1.0
    assert "lexical_rate" not in fact_features(dev[:1])[0]  # no prior, no such features


def test_a_lexical_prior_tells_a_word_the_labels_always_state_from_one_they_mostly_skip(tmp_path):
    """Two words at one raw confidence: 手机 always right, 装饰 right one time in three; the training
    labels state 手机 wherever it occurs and 装饰 in a fifth of its titles. Only the prior separates them,
    and it travels with the saved calibration."""
    listings, right = [], []
    for n in range(180):
        word = "手机" if n % 2 else "装饰"
        listings.append([_fact(f"{n}新款{word}", "product_type", word, 0.9)])
        right.append([word == "手机" or n % 3 == 0])
    lexicon = {"手机": [10, {"product_type": 10}], "装饰": [10, {"product_type": 2}]}
    plain = fit_calibration(listings, right)
    phone, decoration = plain.probabilities(fact_features(listings[1])), plain.probabilities(fact_features(listings[0]))
    assert abs(phone[0] - decoration[0]) < 0.05
    fitted = fit_calibration(listings, right, lexicon=lexicon)
    loaded = FactCalibration.load(fitted.save(tmp_path / CALIBRATION_FILE))
    assert loaded.lexicon == lexicon and fitted.report["lexicon_texts"] == 2
    [phone], [decoration] = loaded.apply(listings[1]), loaded.apply(listings[0])
    assert phone.confidence > 0.85 and decoration.confidence < 0.6


def test_a_tagger_names_its_training_texts_while_the_file_is_unchanged(trained, tmp_path):
    texts = tagger_training_texts(trained)
    assert texts is not None and len(texts) == 40
    changed = tmp_path / "model"
    changed.mkdir()
    meta = json.loads((trained / "skugraph.json").read_text(encoding="utf-8"))
    meta["train"]["sha256"] = "0" * 64
    (changed / "skugraph.json").write_text(json.dumps(meta), encoding="utf-8")
    assert tagger_training_texts(changed) is None and tagger_training_texts(tmp_path) is None
