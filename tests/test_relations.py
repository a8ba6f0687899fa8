from pathlib import Path

import pytest

from skugraph.corpus.ner import Span
from skugraph.facts.build import FactBuilder
from skugraph.facts.relations import (
    RelationClassifier,
    RelationExample,
    TrainRelationsConfig,
    candidates,
    relation_scores,
    train_relations,
)
from skugraph.records import Listing, Mention


def spans(text: str, labelled: list[tuple[str, str]]) -> list[Span]:
    out, at = [], 0
    for surface, label in labelled:
        start = text.index(surface, at)
        at = start + len(surface)
        out.append(Span(start, at, label))
    return out


def test_distant_labels_follow_the_ontology_and_gift_cues():
    text = "华为 适用苹果15手机壳 硅胶 送钢化膜 高清"
    pairs = candidates(text, spans(text, [("华为", "1"), ("苹果", "37"), ("15", "38"), ("手机壳", "4"), ("硅胶", "12"),
                                          ("钢化膜", "4"), ("高清", "11")]))
    got = {text[p.other[0] : p.other[1]]: p.label for p in pairs}
    assert got == {"华为": "brand_of", "苹果": "fits", "15": "fits", "硅胶": "attribute_of", "高清": "none"}
    assert {text[p.head[0] : p.head[1]] for p in pairs} == {"手机壳"}  # product words are heads, not pairs
    assert pairs[0].marked() == "[X]华为[/X] 适用苹果15[H]手机壳[/H] 硅胶 送钢化膜 高清 ｜ brand"


def test_relation_scores_leave_none_out_of_the_micro_average():
    gold = [RelationExample("t", (0, 1), (1, 2), label) for label in ("fits", "brand_of", "none", "none")]
    scores = relation_scores(gold, ["fits", "fits", "none", "brand_of"])
    assert scores["micro"] == {"precision": round(1 / 3, 4), "recall": 0.5, "f1": 0.4, "support": 2}
    assert scores["accuracy"] == 0.5


def _examples() -> list[RelationExample]:
    """The same brands, typed brand by the tagger, as a product's own brand (…手机) or as what a
    case fits (适用…手机壳): only the context tells them apart."""
    out = []
    for brand in ("华为", "小米", "苹果", "三星", "荣耀", "魅族", "联想", "努比亚"):
        own = f"{brand}新款智能手机 黑色"
        head = (own.index("手机"), own.index("手机") + 2)
        out.append(RelationExample(own, head, (0, len(brand)), "brand_of", other_type="brand"))
        out.append(RelationExample(own, head, (own.index("黑色"), own.index("黑色") + 2), "attribute_of", other_type="colour"))
        case = f"适用{brand}手机壳 硅胶"
        out.append(RelationExample(case, (case.index("手机壳"), case.index("手机壳") + 3), (2, 2 + len(brand)), "fits", other_type="brand"))
    return out


@pytest.fixture(scope="module")
def relation_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("relations") / "model"
    examples = _examples()
    train_relations(examples, examples, TrainRelationsConfig(out=out, base_model="scratch:tiny", epochs=40, batch_size=8,
                                                             learning_rate=1e-3, head_learning_rate=3e-3))
    return out


def test_classifier_learns_context_saves_and_reloads(relation_model):
    examples = _examples()
    classifier = RelationClassifier.load(relation_model)
    predicted = [label for label, _ in classifier.predict(examples)]
    assert relation_scores(examples, predicted)["accuracy"] == 1.0
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in relation_model.iterdir())
    again = [label for label, _ in RelationClassifier.load(relation_model).predict(examples)]
    assert again == predicted


def test_fact_builder_reads_a_brand_as_compatible_when_the_classifier_says_so(relation_model):
    listing = Listing("c1", "适用华为手机壳 硅胶")
    mentions = [Mention("c1", "title", 2, 4, "华为", "brand", 0.9, "t@1"), Mention("c1", "title", 4, 7, "手机壳", "product_type", 0.9, "t@1")]
    plain = {(f.predicate, f.object.ref) for f in FactBuilder().build(listing, mentions)}
    read = {(f.predicate, f.object.ref) for f in FactBuilder(relations=RelationClassifier.load(relation_model)).build(listing, mentions)}
    assert ("compatible_with", "Brand:huawei") in plain  # 适用 right before it marks it fitted, classifier or not
    assert ("compatible_with", "Brand:huawei") in read and ("has_brand", "Brand:huawei") not in read
    listing = Listing("c2", "华为新款智能手机 黑色")  # no trigger: the classifier's reading is all that turns it round
    mentions = [Mention("c2", "title", 0, 2, "华为", "compatible_brand", 0.9, "t@1"), Mention("c2", "title", 4, 8, "智能手机", "product_type", 0.9, "t@1")]
    plain = {(f.predicate, f.object.ref) for f in FactBuilder().build(listing, mentions)}
    read = {(f.predicate, f.object.ref) for f in FactBuilder(relations=RelationClassifier.load(relation_model)).build(listing, mentions)}
    assert ("compatible_with", "Brand:huawei") in plain
    assert ("has_brand", "Brand:huawei") in read and ("compatible_with", "Brand:huawei") not in read
