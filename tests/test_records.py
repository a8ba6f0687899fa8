import json

from skugraph.records import BRAND, PRODUCT, Entity, Fact, Listing, Mention, Provenance, Review, to_json_line


def test_fact_round_trips_through_json():
    fact = Fact(
        Entity(PRODUCT, "sku-1", "华为 Mate 60"),
        "has_brand",
        Entity(BRAND, "huawei", "华为", aliases=("HUAWEI",)),
        0.9,
        (Provenance("sku-1", "title", 0, 2, "rules", "1"),),
    )
    again = Fact.from_dict(json.loads(to_json_line(fact)))
    assert again == fact
    assert again.key == ("Product:sku-1", "has_brand", "Brand:huawei")


def test_mention_round_trips():
    mention = Mention("sku-1", "reviews[0]", 3, 5, "续航", "aspect", 0.5, "rules@1")
    assert Mention.from_dict(json.loads(to_json_line(mention))) == mention


def test_listing_fields_by_provenance_name():
    listing = Listing("a", "标题", "描述", (Review("a#r0", "好评"), Review("a#r1", "差评")))
    assert listing.field_text("reviews[1]") == "差评"
    assert [name for name, _ in listing.text_fields()] == ["title", "description", "reviews[0]", "reviews[1]"]
