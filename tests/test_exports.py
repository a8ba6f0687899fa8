import csv
import re

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.graph.exports import SCHEMA, export_graph, iri
from skugraph.graph.schema import NODE_TABLES
from skugraph.graph.store import open_store

HEADER = re.compile(r"^(?:[A-Za-z_]+(?::(?:double|datetime|date|string\[\]|long|boolean))?|:LABEL|:TYPE|id:ID\(\w+\)|:(?:START|END)_ID\(\w+\))$")


@pytest.fixture(scope="module")
def store(demo_graph):
    with open_store(demo_graph, read_only=True) as opened:
        yield opened


def _read(path):
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_neo4j_admin_csvs_follow_the_import_header_format_and_their_ids_hold(store, tmp_path):
    written = export_graph(store, tmp_path, "neo4j-admin")
    ids: dict[str, set[str]] = {}
    for label in NODE_TABLES:
        header, rows = _read(tmp_path / f"nodes-{label}.csv")
        assert header[0] == f"id:ID({label})" and header[-1] == ":LABEL" and all(HEADER.match(h) for h in header), header
        ids[label] = {row[0] for row in rows}
        assert len(ids[label]) == len(rows) and all(row[-1] == label for row in rows)  # unique ids in each ID space
    counted = store.stats()
    assert {label: len(found) for label, found in ids.items()} == counted["nodes"]
    edges = 0
    for path in tmp_path.glob("relationships-*.csv"):
        header, rows = _read(path)
        relation, src, dst = path.stem.split("-")[1:]
        assert header[:2] == [f":START_ID({src})", f":END_ID({dst})"] and header[-1] == ":TYPE" and all(HEADER.match(h) for h in header)
        assert all(row[0] in ids[src] and row[1] in ids[dst] and row[-1] == relation for row in rows)  # no dangling ends
        assert all(len(row) == len(header) for row in rows)
        edges += len(rows)
    assert edges == sum(counted["edges"].values()) > 1000
    script = (tmp_path / "import.sh").read_text()
    assert "neo4j-admin database import full" in script and script.count("--nodes=") == len(NODE_TABLES)
    assert script.count("--relationships=") == len(list(tmp_path.glob("relationships-*.csv"))) and tmp_path / "import.sh" in written


def test_rdf_export_answers_sparql_as_the_graph_answers_cypher(store, tmp_path):
    from pyoxigraph import RdfFormat, Store

    export_graph(store, tmp_path, "rdf")
    export_graph(store, tmp_path, "jsonld")
    cypher_brands = {(name, count) for name, count in store.query(
        "MATCH (p:Product)-[:HAS_BRAND]->(b:Brand) RETURN b.name, count(p)").rows}
    cypher_accessories = {(iri("Product", a), iri("Value", b)) for a, b in store.query(
        "MATCH (a:Product)-[:ACCESSORY_OF]->(b:Value) RETURN a.id, b.id").rows}
    cypher_fits = {(iri("Product", a), b) for a, b in store.query(
        "MATCH (a:Product)-[:COMPATIBLE_WITH]->(b:Brand) RETURN a.id, b.name").rows}
    assert len(cypher_brands) > 5 and cypher_accessories and cypher_fits
    brands = f"""PREFIX schema: <{SCHEMA}>
        SELECT ?name (COUNT(?p) AS ?n) WHERE {{ ?p a schema:Product ; schema:brand ?b . ?b schema:name ?name }} GROUP BY ?name"""
    accessories = f"PREFIX schema: <{SCHEMA}> SELECT ?a ?b WHERE {{ ?a schema:isAccessoryOrSparePartFor ?b . ?b a schema:PropertyValue }}"
    fits = f"PREFIX schema: <{SCHEMA}> SELECT ?a ?name WHERE {{ ?a schema:isRelatedTo ?b . ?b a schema:Brand ; schema:name ?name }}"
    for name, format in (("graph.nt", RdfFormat.N_TRIPLES), ("graph.ttl", RdfFormat.TURTLE), ("graph.jsonld", RdfFormat.JSON_LD)):
        rdf = Store()
        rdf.load(path=str(tmp_path / name), format=format)
        assert {(row["name"].value, int(row["n"].value)) for row in rdf.query(brands)} == cypher_brands, name
        assert {(row["a"].value, row["b"].value) for row in rdf.query(accessories)} == cypher_accessories, name
        assert {(row["a"].value, row["name"].value) for row in rdf.query(fits)} == cypher_fits, name
        value = next(iter(rdf.query(f"PREFIX schema: <{SCHEMA}> SELECT ?v WHERE {{ ?p schema:additionalProperty ?v . "
                                    "?v a schema:PropertyValue ; schema:propertyID ?k ; schema:value ?x } LIMIT 1")))
        assert value["v"].value.startswith("urn:skugraph:Value:")


def test_parquet_export_and_the_cli(demo_graph, tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["export", str(tmp_path / "pq"), "--format", "parquet", "--db", str(demo_graph)])
    assert done.exit_code == 0, done.output
    with open_store(demo_graph, read_only=True) as store:
        counted = store.stats()
    assert pq.read_table(tmp_path / "pq" / "Product.parquet").num_rows == counted["nodes"]["Product"]
    assert pq.read_table(tmp_path / "pq" / "HAS_BRAND-Product-Brand.parquet").column_names[:3] == ["src", "dst", "predicate"]
    unknown = runner.invoke(app, ["export", str(tmp_path / "x"), "--format", "graphml", "--db", str(demo_graph)])
    assert unknown.exit_code == 1 and "unknown export format" in unknown.stderr


def test_nebula_importer_config_maps_every_csv_column_and_vertex_ids_are_labelled(store, tmp_path):
    import yaml

    export_graph(store, tmp_path, "nebula")
    config = yaml.safe_load((tmp_path / "nebula-importer.yaml").read_text(encoding="utf-8"))
    statements = [s for hook in config["manager"]["hooks"]["before"] for s in hook["statements"]]
    assert statements[0].startswith("CREATE SPACE IF NOT EXISTS `skugraph`") and "vid_type=FIXED_STRING(" in statements[0]
    width = int(re.search(r"FIXED_STRING\((\d+)\)", statements[0]).group(1))
    vertices: set[str] = set()
    edges = 0
    for source in config["sources"]:
        with (tmp_path / source["path"]).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        mapping = (source.get("tags") or source["edges"])[0]
        assert all(len(row) == 1 + ("edges" in source) + len(mapping["props"]) for row in rows), source["path"]
        assert [p["index"] for p in mapping["props"]] == list(range(1 + ("edges" in source), len(rows[0]) if rows else 0)) or not rows
        if "tags" in source:
            assert any(f"CREATE TAG IF NOT EXISTS `{mapping['name']}`" in s for s in statements)
            assert all(row[0].startswith(mapping["name"] + ":") and len(row[0].encode()) <= width for row in rows)
            vertices |= {row[0] for row in rows}
        else:
            assert any(f"CREATE EDGE IF NOT EXISTS `{mapping['name']}`" in s for s in statements)
            assert all(row[0] in vertices and row[1] in vertices for row in rows)  # vertices come first in the config
            edges += len(rows)
    assert len(vertices) == sum(store.stats()["nodes"].values()) and edges == sum(store.stats()["edges"].values())
