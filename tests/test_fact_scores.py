from skugraph.corpus.ner import LabelledText, Span
from skugraph.extract import ExtractorConfig, ListingReader, build_reader
from skugraph.fact_scores import labelled_listings, score_facts


def labelled(text: str, *words: tuple[str, str]) -> LabelledText:
    """``text`` with each (word, label) span marked at its first place."""
    return LabelledText(text, tuple(Span(text.index(w), text.index(w) + len(w), label) for w, label in words))


TEXTS = [
    labelled("华为 手机壳 黑色 硅胶", ("华为", "brand"), ("手机壳", "product_type"), ("黑色", "colour"), ("硅胶", "material")),
    labelled("小米 充电宝 20000毫安 白色", ("小米", "brand"), ("充电宝", "product_type"), ("白色", "colour")),
]


class Forgetful:
    """The rules, but they never see a colour."""

    name, version = "forgetful", "1"

    def __init__(self, rules):
        self.rules = rules

    def extract_many(self, listings):
        return [[m for m in found if m.label != "colour"] for found in self.rules.extract_many(listings)]


def test_facts_of_gold_spans_are_scored_against_the_extractors_facts_per_predicate():
    rules = build_reader(ExtractorConfig())
    perfect = score_facts(TEXTS, rules)
    assert perfect.per_type["colour"].f1 == 1.0 and perfect.per_type["has_brand"].f1 == 1.0
    blind = score_facts(TEXTS, ListingReader(Forgetful(rules.extractor), rules.builder))
    assert blind.per_type["colour"].recall == 0.0 and blind.per_type["colour"].support == 2
    assert blind.per_type["has_brand"].f1 == 1.0
    assert blind.micro.precision == 1.0 and blind.micro.recall < perfect.micro.recall


def test_a_value_written_differently_is_the_same_fact():
    gold = [labelled("闪迪 U盘 64G", ("闪迪", "brand"), ("U盘", "product_type"), ("64G", "capacity"))]
    report = score_facts(gold, build_reader(ExtractorConfig()))
    assert report.per_type["capacity"].f1 == 1.0  # both read 64G as 64GB, whatever the spans' edges
    assert [listing.id for listing in labelled_listings(gold)] == ["text-1"]


def test_predicates_the_labels_never_state_are_left_out():
    brands_only = [labelled("华为 手机壳 黑色", ("华为", "brand"))]  # as a data set that labels brands and nothing else
    report = score_facts(brands_only, build_reader(ExtractorConfig()))
    assert set(report.per_type) == {"has_brand"} and report.micro.precision == 1.0
