import json

import pytest

from skugraph.facts.ontology import DEFAULT_ONTOLOGY, OntologyError, load_ontology
from skugraph.graph.schema import ddl
from skugraph.graph.store import open_store
from skugraph.records import BRAND, PRODUCT, VALUE, Entity, Fact


def test_default_ontology_maps_data_set_labels_to_readable_meanings():
    onto = load_ontology()
    assert [onto.meaning(label) for label in ("1", "4", "16", "22", "37", "38", "39", "40", "54")] == [
        "brand", "product", "colour", "component", "compatible_brand", "compatible_model", "compatible_model",
        "compatible_product", "size",
    ]
    assert (onto.meaning("HP"), onto.meaning("HC")) == ("brand", "product")
    assert onto.meaning("17") == "attr_17"  # an unnamed JD type stays usable
    assert onto.predicate("attr_17").relation == onto.predicate("colour").relation == "HAS_VALUE"


def test_category_rules_say_which_kinds_apply():
    onto = load_ontology()
    assert onto.applies("capacity", "手机通讯 > 手机")
    assert not onto.applies("capacity", "服装 > T恤")
    assert onto.applies("colour", "服装 > T恤")  # "*" kinds apply everywhere
    assert onto.applies("capacity", "")  # no category, no restriction


def test_check_rejects_facts_that_do_not_fit():
    onto = load_ontology()
    product = Entity(PRODUCT, "p", "t")
    onto.check(Fact(product, "colour", Entity(VALUE, "colour:黑色", "黑色", kind="colour"), 0.9))
    with pytest.raises(ValueError, match="needs a Value of that kind"):
        onto.check(Fact(product, "colour", Entity(VALUE, "material:棉", "棉", kind="material"), 0.9))
    with pytest.raises(ValueError, match="does not fit"):
        onto.check(Fact(product, "has_brand", Entity(VALUE, "colour:黑色", "黑色", kind="colour"), 0.9))
    with pytest.raises(ValueError, match="unknown predicate"):
        onto.check(Fact(product, "made_by", Entity(BRAND, "b", "b"), 0.9))


def _write(tmp_path, text):
    path = tmp_path / "onto.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('  "16": colour', '  "16": colourr'), r"labels\.16: 'colourr' is neither a role"),
        (lambda t: t.replace("  手机: [capacity, size, weight]", "  手机: [capacity, memory]"), r"categories\.手机: unknown attribute kind"),
        (lambda t: t.replace("relation: HAS_BRAND\n    subject: Product\n    objects: [Brand]", "relation: HAS_BRAND\n    subject: Product\n    objects: [Maker]"),
         r"predicates\.has_brand: unknown node label 'Maker'"),
        (lambda t: t.replace("off_category_factor: 0.5", "off_category_factor: 2"), r"off_category_factor: expected a number in \[0, 1\]"),
        (lambda t: t + "\nextra_section: {}\n", r"extra_section: unknown section"),
        (lambda t: t.replace("attribute_kinds:\n", "attribute_kinds:\n  Bad Kind: {zh: 坏}\n"), r"attribute_kinds\.Bad Kind: a kind is a lower-case identifier"),
        (lambda t: t.replace('description: "colour (黑色, 透明)"', "description: colour (黑色, 透明)"),
         r"attribute_kinds\.colour: unknown key\(s\) '透明\)'; .*quote a description that holds a comma"),
    ],
)
def test_a_bad_ontology_file_is_named_with_the_entry(tmp_path, edit, message):
    path = _write(tmp_path, edit(DEFAULT_ONTOLOGY.read_text(encoding="utf-8")))
    with pytest.raises(OntologyError, match=message) as error:
        load_ontology(path)
    assert str(error.value).startswith(str(path))


def test_broken_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "version: 1\npredicates:\n  has_brand: {relation: HAS_BRAND\n")
    with pytest.raises(OntologyError, match=rf"{path}:\d+: not valid YAML"):
        load_ontology(path)


def test_an_edited_ontology_changes_the_graph_schema(tmp_path):
    text = DEFAULT_ONTOLOGY.read_text(encoding="utf-8").replace(
        "predicates:\n", "predicates:\n  made_for: {relation: MADE_FOR, subject: Product, objects: [Value], description: target market}\n"
    ).replace("attribute_kinds:\n", "attribute_kinds:\n  voltage: {zh: 电压}\n").replace('  "54": size', '  "54": size\n  "19": voltage')
    onto = load_ontology(_write(tmp_path, text))
    assert onto.meaning("19") == "voltage"
    assert any("CREATE REL TABLE IF NOT EXISTS MADE_FOR(FROM Product TO Value" in s for s in ddl(onto))
    product = Entity(PRODUCT, "p1", "title")
    facts = [Fact(product, "made_for", Entity(VALUE, "market:eu", "eu", kind="market"), 0.8),
             Fact(product, "voltage", Entity(VALUE, "voltage:220v", "220v", kind="voltage"), 0.9)]
    with open_store(tmp_path / "g.lbug", ontology=onto) as store:
        store.load([], facts)
        rows = store.query("MATCH (p:Product)-[r:MADE_FOR]->(v:Value) RETURN p.id, v.value").rows
        assert rows == [["p1", "eu"]]
        assert store.stats()["edges"]["MADE_FOR"] == 1


def test_json_ontologies_load_too(tmp_path):
    import yaml

    data = yaml.safe_load(DEFAULT_ONTOLOGY.read_text(encoding="utf-8"))
    path = tmp_path / "onto.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert load_ontology(path).labels == load_ontology().labels
