from skugraph.facts.build import FactBuilder, merge_facts, value_entity
from skugraph.records import BRAND, PRODUCT, Entity, Fact, Listing, Provenance, Review
from skugraph.tagging.rules import RuleExtractor


def facts_of(listing: Listing) -> dict[tuple[str, str], Fact]:
    facts = FactBuilder().build(listing, RuleExtractor().extract(listing))
    return {(f.predicate, f.object.ref): f for f in facts}


def test_listing_to_facts_with_provenance():
    listing = Listing(
        "sku-1",
        "倍思（Baseus） 手机壳 适用于华为Pura 70手机 液态硅胶 透明",
        description="适用机型：华为 Pura 70。颜色：透明。",
        reviews=(Review("sku-1#r0", "做工不错"),),
        category="手机配件 > 手机壳",
    )
    facts = facts_of(listing)
    assert set(facts) == {
        ("has_brand", "Brand:baseus"),
        ("product_type", "Value:product_type:手机壳"),
        ("compatible_with", "Brand:huawei"),
        ("compatible_with", "Value:model:华为pura70"),
        ("compatible_with", "Value:product_type:手机"),
        ("accessory_of", "Value:product_type:手机"),
        ("material", "Value:material:液态硅胶"),
        ("colour", "Value:colour:透明"),
        ("in_category", "Category:手机配件 > 手机壳"),
        ("has_review", "Review:sku-1#r0"),
    }
    brand = facts[("has_brand", "Brand:baseus")]
    assert brand.subject == Entity(PRODUCT, "sku-1", listing.title)
    assert (brand.object.name, brand.object.aliases) == ("倍思", ("Baseus",))
    assert [listing.title[p.start : p.end] for p in brand.provenance] == ["倍思", "Baseus"]
    # 华为 is read twice (title and description): both spans kept, confidence combined
    huawei = facts[("compatible_with", "Brand:huawei")]
    assert [(p.field, listing.field_text(p.field)[p.start : p.end]) for p in huawei.provenance] == [
        ("title", "华为"),
        ("description", "华为"),
    ]
    assert huawei.confidence == round(1 - 0.15 * 0.15, 6)
    colour = facts[("colour", "Value:colour:透明")]
    assert {p.extractor for p in colour.provenance} == {"rules"}


def test_merge_combines_independent_evidence_once():
    product = Entity(PRODUCT, "p", "t")
    brand = Entity(BRAND, "midea", "美的", aliases=("Midea",))
    a = Fact(product, "has_brand", brand, 0.8, (Provenance("p", "title", 0, 2, "rules", "1"),))
    b = Fact(product, "has_brand", brand, 0.5, (Provenance("p", "description", 3, 5, "rules", "1"),))
    (merged,) = merge_facts([a, b, a])
    assert merged.confidence == 0.9  # 1 - 0.2 * 0.5; the repeated fact adds no evidence
    assert len(merged.provenance) == 2


def test_values_with_different_spelling_are_one_node():
    assert value_entity("capacity", "256 GB").key == value_entity("capacity", "２５６ｇｂ").key == "capacity:256gb"


def test_both_halves_of_an_unknown_two_script_brand_are_one_brand():
    listing = Listing("n1", "诺芝（NOZI）太阳能热水器")
    facts = [f for f in facts_of(listing).values() if f.predicate == "has_brand"]
    assert len(facts) == 1
    assert (facts[0].object.key, facts[0].object.name, facts[0].object.aliases) == ("nozi", "诺芝", ("NOZI",))
    assert len(facts[0].provenance) == 2
