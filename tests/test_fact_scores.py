from skugraph.corpus.ner import LabelledText, Span
from skugraph.extract import ExtractorConfig, ListingReader, build_reader
from skugraph.fact_scores import labelled_listings, read_with_gold, score_facts, score_fused, score_reads


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


ONE_PHONE_TWICE = [  # text-1 and text-2 offer one phone (brand, model code, type agree); text-3 is another product
    labelled("华为 Mate60 手机 黑色", ("华为", "brand"), ("手机", "product_type"), ("黑色", "colour")),
    labelled("华为 Mate60 手机 黑色 玻璃", ("华为", "brand"), ("手机", "product_type"), ("黑色", "colour"), ("玻璃", "material")),
    labelled("小米 充电宝 白色", ("小米", "brand"), ("充电宝", "product_type"), ("白色", "colour")),
]


class MissesFirstColour:
    """The rules, but blind to the colour of text-1."""

    name, version = "misses", "1"

    def __init__(self, rules):
        self.rules = rules

    def extract_many(self, listings):
        return [[m for m in found if not (m.listing_id == "text-1" and m.label == "colour")]
                for found in self.rules.extract_many(listings)]


def test_after_fusion_each_listing_is_judged_by_what_its_product_holds():
    rules = build_reader(ExtractorConfig())
    reads = read_with_gold(ONE_PHONE_TWICE, rules)
    # per listing every judged fact is right: 3 + 4 + 3 of 10 gold (model facts are not judged: no gold states one)
    assert score_reads(reads).micro.precision == 1.0 and score_reads(reads).micro.recall == 1.0
    fused = score_fused(reads, rules.builder.ontology, complete=False)
    # text-1's product now also holds text-2's material, which text-1 never states: 10 right of 11, all 10 found
    assert (fused.micro.precision, fused.micro.recall) == (10 / 11, 1.0)
    assert fused.per_type["material"].precision == 0.5 and fused.per_type["colour"].f1 == 1.0


def test_fusion_can_bring_a_fact_the_listing_missed():
    rules = build_reader(ExtractorConfig())
    reads = read_with_gold(ONE_PHONE_TWICE, ListingReader(MissesFirstColour(rules.extractor), rules.builder))
    per_listing = score_reads(reads)
    assert (per_listing.micro.precision, per_listing.micro.recall) == (1.0, 9 / 10)  # text-1's 黑色 missed
    fused = score_fused(reads, rules.builder.ontology, complete=False)
    # text-2 read 黑色 for the same phone: recall back to 10/10, text-1 again holds the material (11 held, 10 right)
    assert (fused.micro.precision, fused.micro.recall) == (10 / 11, 1.0)
    assert fused.per_type["colour"].recall == 1.0
