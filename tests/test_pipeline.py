import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import ingest
from skugraph.extract import Extractor, ExtractorConfig, build_extractor
from skugraph.records import Listing
from skugraph.sample.generate import CATALOGUE


def test_extract_in_worker_processes_writes_what_one_process_writes(tmp_path):
    ingest([CATALOGUE], tmp_path / "listings.jsonl", tmp_path / "rejects.jsonl")
    one = pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "one.jsonl", tmp_path / "one-mentions.jsonl", batch_size=16)
    two = pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "two.jsonl", tmp_path / "two-mentions.jsonl", batch_size=16, workers=2)
    assert one.facts > 500 and (one.listings, one.facts, one.mentions, one.by_predicate) == (two.listings, two.facts, two.mentions, two.by_predicate)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert (tmp_path / "one-mentions.jsonl").read_bytes() == (tmp_path / "two-mentions.jsonl").read_bytes()


def test_build_extractor_gives_the_rules_the_word_lists_and_the_catalogues_two_script_brands(tmp_path):
    (tmp_path / "brands.txt").write_text("喵喵乐\n", "utf-8")
    (tmp_path / "types.txt").write_text("全网通\n", "utf-8")
    config = ExtractorConfig(brand_files=[tmp_path / "brands.txt"], product_type_files=[tmp_path / "types.txt"])
    plain, rules = build_extractor(ExtractorConfig()), build_extractor(config, ["哈喽佳（HELOJA） 保温杯 500ml"])
    assert isinstance(rules, Extractor) and (rules.name, rules.version) == ("rules", plain.version)
    listings = [Listing("a", "哈喽佳 保温杯 500ml 黑色"), Listing("b", "喵喵乐 全网通 手机")]

    def read(extractor: Extractor) -> list[list[tuple[str, str]]]:
        return [[(m.text, m.label) for m in found] for found in extractor.extract_many(listings)]

    assert read(plain) == [[("保温杯", "product_type"), ("500ml", "volume"), ("黑色", "colour")], [("手机", "product_type")]]
    assert read(rules) == [[("哈喽佳", "brand"), *read(plain)[0]], [("喵喵乐", "brand"), ("全网通", "product_type"), ("手机", "product_type")]]


def test_build_extractor_says_which_option_is_wrong():
    with pytest.raises(ValueError, match="must be rules or tagger, not 'crf'"):
        build_extractor(ExtractorConfig(kind="crf"))
    with pytest.raises(ValueError, match="tagger needs --model DIR"):
        build_extractor(ExtractorConfig(kind="tagger"))
    with pytest.raises(ValueError, match="the rules have none"):  # ignored silently, it would promise a filter it does not apply
        build_extractor(ExtractorConfig(min_score=0.9))
