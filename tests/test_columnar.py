"""The columnar form of a batch of facts gives the rows the per-fact builder gives, byte for byte."""

import json
import random
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from skugraph.corpus.ingest import load_listings
from skugraph.facts import io as io_module
from skugraph.facts.io import read_fact_tables, read_facts, write_facts
from skugraph.facts.ontology import load_ontology
from skugraph.graph.columnar import fact_tables, json_lists, json_strings, provenance_json
from skugraph.graph.schema import NODE_TABLES, relation_tables
from skugraph.graph.store import _naive_utc, rows_table
from skugraph.records import Entity, Fact, Provenance
from skugraph.tables import facts_table

from rowwise import rowwise_rows

LOADED_AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _same_rows(facts: list[Fact], times: dict) -> None:
    ontology = load_ontology()
    rows = rowwise_rows(facts, LOADED_AT, times, ontology)
    tables = fact_tables(facts_table(facts), ontology, LOADED_AT,
                         pa.table({"id": list(times), "updated_at": pa.array(list(times.values()), pa.timestamp("us"))}))
    assert set(tables.nodes) == set(rows.nodes) and set(tables.edges) == set(rows.edges)
    for label, nodes in rows.nodes.items():
        assert tables.nodes[label].sort_by("id").to_pylist() == rows_table(nodes.values(), NODE_TABLES[label]).sort_by("id").to_pylist()
    columns = {t.name: [("src", "STRING"), ("dst", "STRING"), *t.columns] for t in relation_tables(ontology)}
    by = [("src", "ascending"), ("dst", "ascending")]
    for key, edges in rows.edges.items():
        assert tables.edges[key].sort_by(by).to_pylist() == rows_table(edges.values(), columns[key[0]]).sort_by(by).to_pylist()
    supported: dict[str, set[str]] = {}
    for listing, key in zip(tables.supports["listing_id"].to_pylist(), tables.supports["key"].to_pylist(), strict=True):
        supported.setdefault(listing, set()).add(key)
    assert supported == rows.supported


@pytest.mark.parametrize("name", ["facts.jsonl", "facts.fused.jsonl"])
def test_the_demo_facts_make_the_same_rows_as_the_per_fact_builder(demo_graph, name):
    workdir = demo_graph.parent
    facts = list(read_facts(workdir / name))
    times = {listing.id: _naive_utc(listing.updated_at) for listing in load_listings(workdir / "listings.jsonl")}
    assert len(facts) > 1000 and any(f.properties for f in facts)
    _same_rows(facts, times)


def test_later_facts_win_nodes_gather_and_edges_merge_their_facts_and_take_their_evidence_time():
    a, b = Entity("Product", "p1", ""), Entity("Product", "p1", "华为 Mate 60")
    huawei, alias = Entity("Brand", "huawei", "华为", aliases=("HUAWEI",)), Entity("Brand", "huawei", "华为", aliases=("Huawei", "HUAWEI"))
    facts = [Fact(a, "has_brand", huawei, 0.6, (Provenance("l1", "title", 0, 2, "rules"),)),
             Fact(b, "has_brand", alias, 0.9, (Provenance("l2", "title", 0, 2, "tagger", "v1", "run-7"),)),
             Fact(b, "colour", Entity("Value", "colour:蓝色", "蓝色", "colour"), 0.8, (Provenance("l9", "title", 9, 11, "rules"),))]
    _same_rows(facts, {"l1": datetime(2026, 1, 1), "l2": datetime(2026, 3, 1)})
    tables = fact_tables(facts_table(facts), load_ontology(), LOADED_AT)
    assert tables.nodes["Product"].to_pylist() == [{"id": "p1", "title": "华为 Mate 60"}]  # the first title that is not empty
    assert tables.nodes["Brand"].to_pylist() == [{"id": "huawei", "name": "华为", "aliases": ["HUAWEI", "Huawei"]}]
    [edge] = tables.edges[("HAS_BRAND", "Product", "Brand")].to_pylist()
    # both facts' evidence, their confidences combined by noisy-or (as fusion merges facts)
    assert (edge["confidence"], [p.get("run") for p in json.loads(edge["provenance"])]) == (0.96, [None, "run-7"])


def test_provenance_json_is_what_json_dumps_writes_for_any_text():
    rng = random.Random(1)
    alphabet = ["a", "华", '"', "\\", "\n", "\x01", "\t", "é", "😀", "\u2028", " ", "\x7f", "\x1f"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))

    facts = [Fact(Entity("Product", "p", "p"), "has_brand", Entity("Brand", "b", "b"), 0.5,
                  tuple(Provenance(text(), text(), rng.randrange(99), rng.randrange(99), text(), text(), rng.choice(["", text()]))
                        for _ in range(rng.randrange(4)))) for _ in range(500)]
    column = facts_table(facts).column("provenance").combine_chunks()
    expected = [json.dumps([p.to_dict() for p in f.provenance], ensure_ascii=False) for f in facts]
    assert provenance_json(column).to_pylist() == expected
    assert provenance_json(column[100:200]).to_pylist() == expected[100:200]  # a slice keeps its own offsets


def test_json_strings_and_lists_are_what_json_dumps_writes_for_any_text():
    """Every control character, quotes and backslashes escaped as json.dumps escapes them; a
    listing's values once each, sorted as Python sorts them, ``[]`` for an id with none."""
    rng = random.Random(2)
    alphabet = ["a", "华", '"', "\\", "é", "😀", "\u2028", "\x7f", *map(chr, range(32))]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(7))) for _ in range(3000)]
    assert json_strings(pa.array([*texts, None], pa.string())).to_pylist() == [json.dumps(t, ensure_ascii=False) for t in texts] + ["null"]
    owners = [f"l{rng.randrange(50)}" for _ in texts]
    pairs = pa.table({"listing_id": owners + owners[:100], "value": texts + texts[:100]})  # some pairs twice
    ids = [f"l{number}" for number in range(60)]
    held: dict[str, set[str]] = {}
    for owner, text in zip(owners, texts, strict=True):
        held.setdefault(owner, set()).add(text)
    assert json_lists(pairs, "value", pa.array(ids)).to_pylist() == [json.dumps(sorted(held.get(i, ())), ensure_ascii=False) for i in ids]


def test_a_fact_the_ontology_refuses_is_named_by_its_row():
    good = Fact(Entity("Product", "p", "p"), "has_brand", Entity("Brand", "b", "b"), 0.5, ())
    wrong = Fact(Entity("Brand", "b", "b"), "has_brand", Entity("Product", "p", "p"), 0.5, ())
    with pytest.raises(ValueError, match="fact 2 does not fit predicate 'has_brand'"):
        fact_tables(facts_table([good, wrong]), load_ontology(), LOADED_AT)
    with pytest.raises(ValueError, match="fact 1 has a confidence outside"):
        fact_tables(facts_table([Fact(good.subject, "has_brand", good.object, 1.5, ())]), load_ontology(), LOADED_AT)


def _tables_of(facts: pa.Table) -> dict:
    tables = fact_tables(facts, load_ontology(), LOADED_AT)
    by = [("src", "ascending"), ("dst", "ascending")]
    return {"nodes": {label: t.sort_by("id").to_pylist() for label, t in tables.nodes.items()},
            "edges": {key: t.sort_by(by).to_pylist() for key, t in tables.edges.items()}}


@pytest.mark.parametrize("name", ["facts.jsonl", "facts.fused.jsonl"])
def test_fact_tables_read_by_arrow_hold_what_read_facts_reads(demo_graph, tmp_path, name):
    path = demo_graph.parent / name
    expected = _tables_of(facts_table(read_facts(path)))
    tables = list(read_fact_tables(path, rows=500))
    assert len(tables) > 2 and all(pa.types.is_struct(t.schema.field("properties").type) for t in tables)  # Arrow's reader, every block
    assert _tables_of(pa.concat_tables(tables)) == expected
    write_facts(tmp_path / "facts.parquet", read_facts(path))
    assert _tables_of(pa.concat_tables(list(read_fact_tables(tmp_path / "facts.parquet", rows=500)))) == expected


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda r: r["provenance"][0].update(start="3"), "a provenance has no whole number 'start'"),
    (lambda r: r["provenance"][0].update(end=True), "a provenance has no whole number 'end'"),
    (lambda r: r["provenance"][0].update(listing_id=7), "a provenance has no text 'listing_id'"),
    (lambda r: r.update(provenance={"listing_id": "x"}), "'provenance' is not a list of objects"),
    (lambda r: r["object"].update(aliases="苹果"), "'object' has 'aliases' that are not a list of texts"),
    (lambda r: r.update(note="x"), "an unknown field 'note'"),
])
def test_a_record_arrow_cannot_hold_is_refused_by_its_line_not_the_whole_file(demo_graph, tmp_path, damage, reason):
    """A value of the wrong type where a table needs it (a start as text) once crashed ``fuse``
    and ``load`` with no line; an aliases text was split into characters; a field the facts do
    not have was dropped without a word."""
    lines = (demo_graph.parent / "facts.jsonl").read_text(encoding="utf-8").splitlines()[:6]
    record = json.loads(lines[2])
    damage(record)
    lines[2] = json.dumps(record, ensure_ascii=False)
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors: list[str] = []
    assert sum(t.num_rows for t in read_fact_tables(path, errors.append)) == 5
    assert errors == [f"{path}:line 3: not a valid fact: {reason}"]
    assert len(list(read_facts(path, errors.append))) == 5 and errors[1:] == errors[:1]


def test_a_block_with_a_bad_record_is_read_line_by_line_naming_each_bad_line(demo_graph, tmp_path, monkeypatch):
    lines = (demo_graph.parent / "facts.jsonl").read_text(encoding="utf-8").splitlines()[:9]
    unknown = json.loads(lines[4]) | {"predicate": "made_of_cheese"}
    lines[1] = lines[1][:40]  # broken JSON
    lines[4] = json.dumps(unknown, ensure_ascii=False)
    lines[7] = lines[7] + " " + lines[8]  # two records on one line
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(lines[:8] + ["", *lines[8:]]) + "\n", encoding="utf-8")
    parsed: list[int] = []
    original = io_module._parse_fact_line
    monkeypatch.setattr(io_module, "_parse_fact_line", lambda line: parsed.append(1) or original(line))
    errors: list[str] = []
    tables = list(read_fact_tables(path, errors.append, rows=3))
    assert [e.split(": not a valid fact")[0] for e in errors] == [f"{path}:line 2", f"{path}:line 5", f"{path}:line 8"]
    assert sum(t.num_rows for t in tables) == 6  # lines 1, 3, 4, 6, 7 and 10 (line 9 is blank): none of the good ones lost
    assert len(parsed) == 8  # the records of the three blocks holding a bad line, one by one; the last block by Arrow
    with pytest.raises(ValueError, match="line 2: not a valid fact"):
        list(read_fact_tables(path, rows=3))
