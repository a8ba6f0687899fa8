"""Bulk-import exports of a stored graph, for the graph databases and RDF stores that scale:

- ``neo4j-admin``: one CSV per node label and per relationship table, with the headers
  ``neo4j-admin database import`` reads (``id:ID(Label)``, typed properties, ``:LABEL``;
  ``:START_ID(Label)``, ``:END_ID(Label)``, ``:TYPE``), one ID space per label, and
  ``import.sh`` holding the exact import command;
- ``rdf`` (N-Triples and Turtle) and ``jsonld`` (JSON-LD): the schema.org Product vocabulary
  (see :data:`SCHEMA_PROPERTIES`), written by pyoxigraph;
- ``nebula``: CSVs and the ``nebula-importer`` (v4) configuration that creates the space, its
  tags and edge types, and loads them; vertex ids are ``Label:id`` (NebulaGraph's ids are
  shared by all tags);
- ``parquet``: one file per table, written by LadybugDB's own ``COPY … TO``.

With ``min_confidence`` every format leaves out the edges (facts) under it, ``OFFER_OF`` aside
(see :data:`skugraph.facts.io.ALWAYS_KEPT`); nodes are all written.
"""

from __future__ import annotations

import csv
import shlex
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from skugraph.facts.io import ALWAYS_KEPT, check_min_confidence
from skugraph.graph.schema import NODE_TABLES, relation_tables
from skugraph.graph.store import GraphStore

FORMATS = ("neo4j-admin", "nebula", "rdf", "jsonld", "parquet")
SCHEMA = "https://schema.org/"
SKUGRAPH = "https://skugraph.dev/ns#"  # relations schema.org has no word for
BASE_IRI = "urn:skugraph:"

#: node label → its schema.org type
SCHEMA_TYPES = {"Product": "Product", "Brand": "Brand", "Category": "CategoryCode", "Value": "PropertyValue",
                "Review": "Review", "Listing": "Offer", "Aspect": "DefinedTerm"}
#: relation → the property it becomes (schema.org where it has one)
SCHEMA_PROPERTIES = {
    "HAS_BRAND": SCHEMA + "brand",
    "IN_CATEGORY": SCHEMA + "category",
    "HAS_VALUE": SCHEMA + "additionalProperty",
    "ACCESSORY_OF": SCHEMA + "isAccessoryOrSparePartFor",
    "COMPATIBLE_WITH": SCHEMA + "isRelatedTo",
    "RELATED_TO": SCHEMA + "isRelatedTo",
    "HAS_REVIEW": SCHEMA + "review",
    "OFFER_OF": SCHEMA + "itemOffered",
    "MENTIONS": SKUGRAPH + "mentions",
    "OF": SKUGRAPH + "aspectOf",
    "HAS_SENTIMENT": SKUGRAPH + "sentiment",
}
#: (label, column) → the literal property it becomes
SCHEMA_LITERALS = {
    ("Product", "title"): "name", ("Brand", "name"): "name", ("Brand", "aliases"): "alternateName",
    ("Category", "name"): "name", ("Value", "kind"): "propertyID", ("Value", "value"): "value",
    ("Value", "unit"): "unitText", ("Value", "low"): "minValue", ("Value", "high"): "maxValue",
    ("Review", "text"): "reviewBody", ("Listing", "title"): "name", ("Listing", "price"): "price",
    ("Listing", "currency"): "priceCurrency", ("Aspect", "name"): "name",
}
_NEO4J_TYPES = {"STRING": "", "DOUBLE": ":double", "TIMESTAMP": ":datetime", "STRING[]": ":string[]", "INT64": ":long",
                "BOOLEAN": ":boolean", "DATE": ":date"}
ARRAY_DELIMITER = ";"


def export_graph(store: GraphStore, out: Path, format: str, min_confidence: float = 0.0) -> list[Path]:
    """Write the graph in ``format`` (one of :data:`FORMATS`) under ``out``, without the edges
    under ``min_confidence``; the files written."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; one of {', '.join(FORMATS)}")
    check_min_confidence(min_confidence)
    out.mkdir(parents=True, exist_ok=True)
    if format == "neo4j-admin":
        return neo4j_admin(store, out, min_confidence)
    if format == "nebula":
        return nebula(store, out, min_confidence=min_confidence)
    if format == "parquet":
        return parquet(store, out, min_confidence)
    return rdf(store, out, ("json-ld",) if format == "jsonld" else ("n-triples", "turtle"), min_confidence)


def _confident(min_confidence: float) -> tuple[str, dict[str, object]]:
    """The WHERE clause (on edge ``r``) and its parameters that keep the edges an export with
    ``min_confidence`` writes: no clause at 0, so every edge is written."""
    if not min_confidence:
        return "", {}
    return "WHERE r.confidence >= $min_confidence OR r.predicate IN $kept ", {"min_confidence": min_confidence,
                                                                               "kept": sorted(ALWAYS_KEPT)}


def left_out(store: GraphStore, min_confidence: float) -> Counter[str]:
    """The edges an export with ``min_confidence`` leaves out, per predicate."""
    found: Counter[str] = Counter()
    for table in relation_tables(store.ontology):
        for predicate, count in store.query(f"MATCH ()-[r:{table.name}]->() WHERE r.confidence < $min_confidence AND NOT "
                                            "r.predicate IN $kept RETURN r.predicate, count(r)",
                                            {"min_confidence": min_confidence, "kept": sorted(ALWAYS_KEPT)}).rows:
            found[predicate] += count
    return found


def _nodes(store: GraphStore, label: str) -> list[list]:
    columns = ", ".join(f"n.{name}" for name, _ in NODE_TABLES[label])
    return store.query(f"MATCH (n:{label}) RETURN {columns} ORDER BY n.id").rows


def _edge_tables(store: GraphStore, min_confidence: float = 0.0) -> Iterator[tuple[str, str, str, list[tuple[str, str]], list[list]]]:
    """(relation, from label, to label, property columns, rows of [src, dst, *properties]) of the
    edges at ``min_confidence`` or above."""
    where, parameters = _confident(min_confidence)
    for table in relation_tables(store.ontology):
        for src, dst in table.pairs:
            props = ", ".join(f"r.{name}" for name, _ in table.columns)
            rows = store.query(f"MATCH (a:{src})-[r:{table.name}]->(b:{dst}) {where}RETURN a.id, b.id, {props} ORDER BY a.id, b.id",
                               parameters).rows
            yield table.name, src, dst, table.columns, rows


def _csv_value(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "STRING[]":
        return ARRAY_DELIMITER.join(str(v).replace(ARRAY_DELIMITER, ",") for v in value)
    if kind == "BOOLEAN":
        return "true" if value else "false"
    return str(value)


def neo4j_admin(store: GraphStore, out: Path, min_confidence: float = 0.0) -> list[Path]:
    """CSVs for ``neo4j-admin database import full`` and ``import.sh`` with the command."""
    written: list[Path] = []
    node_args, edge_args = [], []
    for label, columns in NODE_TABLES.items():
        path = out / f"nodes-{label}.csv"
        header = [f"id:ID({label})"] + [f"{name}{_NEO4J_TYPES[kind]}" for name, kind in columns[1:]] + [":LABEL"]
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in _nodes(store, label):
                writer.writerow([_csv_value(v, kind) for v, (_, kind) in zip(row, columns, strict=True)] + [label])
        written.append(path)
        node_args.append(f"--nodes={path.name}")
    for relation, src, dst, columns, rows in _edge_tables(store, min_confidence):
        if not rows:
            continue
        path = out / f"relationships-{relation}-{src}-{dst}.csv"
        header = [f":START_ID({src})", f":END_ID({dst})"] + [f"{name}{_NEO4J_TYPES[kind]}" for name, kind in columns] + [":TYPE"]
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow(row[:2] + [_csv_value(v, kind) for v, (_, kind) in zip(row[2:], columns, strict=True)] + [relation])
        written.append(path)
        edge_args.append(f"--relationships={path.name}")
    command = ["neo4j-admin", "database", "import", "full", "neo4j", "--overwrite-destination=true", "--id-type=string",
               f"--array-delimiter={ARRAY_DELIMITER}", "--multiline-fields=true", *node_args, *edge_args]
    script = out / "import.sh"
    script.write_text("#!/bin/sh\n# Run in this directory with Neo4j stopped; the database is named neo4j.\n"
                      f"cd \"$(dirname \"$0\")\"\n{shlex.join(command)}\n", encoding="utf-8")
    script.chmod(0o755)
    return [*written, script]


_NEBULA_TYPES = {"STRING": "string", "DOUBLE": "double", "TIMESTAMP": "datetime", "STRING[]": "string", "INT64": "int64",
                 "BOOLEAN": "bool", "DATE": "date"}  # in the schema statements
_IMPORTER_TYPES = {"STRING": "STRING", "DOUBLE": "DOUBLE", "TIMESTAMP": "DATETIME", "STRING[]": "STRING", "INT64": "INT",
                   "BOOLEAN": "BOOL", "DATE": "DATE"}  # in the importer's source mappings


def _importer_props(columns: list[tuple[str, str]], first: int) -> list[dict]:
    return [{"name": name, "type": _IMPORTER_TYPES[kind], "index": i, "nullable": True, "nullValue": ""}
            for i, (name, kind) in enumerate(columns, first)]


def _nebula_value(value, kind: str) -> str:
    if kind == "TIMESTAMP" and value is not None:  # NebulaGraph's datetime has no zone: UTC, as stored
        return str(value).replace("+00:00", "")
    return _csv_value(value, kind)


def nebula(store: GraphStore, out: Path, space: str = "skugraph", min_confidence: float = 0.0) -> list[Path]:
    """CSVs without headers and ``nebula-importer.yaml``: the schema statements and one source
    per file."""
    import yaml

    written, sources, statements, longest = [], [], [], 1
    for label, columns in NODE_TABLES.items():
        path = out / f"{label}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            for row in _nodes(store, label):
                vid = f"{label}:{row[0]}"
                longest = max(longest, len(vid.encode("utf-8")))
                writer.writerow([vid] + [_nebula_value(v, kind) for v, (_, kind) in zip(row[1:], columns[1:], strict=True)])
        written.append(path)
        props = ", ".join(f"`{name}` {_NEBULA_TYPES[kind]}" for name, kind in columns[1:])
        statements.append(f"CREATE TAG IF NOT EXISTS `{label}`({props});")
        sources.append({"path": f"./{path.name}", "csv": {"delimiter": ",", "withHeader": False},
                        "tags": [{"name": label, "id": {"type": "STRING", "index": 0}, "props": _importer_props(columns[1:], 1)}]})
    declared = set()
    for relation, src, dst, columns, rows in _edge_tables(store, min_confidence):
        if relation not in declared:
            declared.add(relation)
            props = ", ".join(f"`{name}` {_NEBULA_TYPES[kind]}" for name, kind in columns)
            statements.append(f"CREATE EDGE IF NOT EXISTS `{relation}`({props});")
        if not rows:
            continue
        path = out / f"{relation}-{src}-{dst}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            for row in rows:
                writer.writerow([f"{src}:{row[0]}", f"{dst}:{row[1]}"]
                                + [_nebula_value(v, kind) for v, (_, kind) in zip(row[2:], columns, strict=True)])
        written.append(path)
        sources.append({"path": f"./{path.name}", "csv": {"delimiter": ",", "withHeader": False},
                        "edges": [{"name": relation, "src": {"id": {"type": "STRING", "index": 0}},
                                   "dst": {"id": {"type": "STRING", "index": 1}}, "props": _importer_props(columns, 2)}]})
    width = 2 ** max(6, (longest - 1).bit_length())  # the id width, a power of two that fits the longest id
    config = {
        "client": {"version": "v3", "address": "127.0.0.1:9669", "user": "root", "password": "nebula"},
        "manager": {"spaceName": space, "hooks": {"before": [
            {"statements": [f"CREATE SPACE IF NOT EXISTS `{space}`(partition_num=8, replica_factor=1, vid_type=FIXED_STRING({width}));"],
             "wait": "10s"},
            {"statements": [f"USE `{space}`;", *statements], "wait": "10s"},
        ]}},
        "log": {"level": "INFO", "console": True},
        "sources": sources,
    }
    path = out / "nebula-importer.yaml"
    path.write_text("# nebula-importer --config nebula-importer.yaml (in this directory; set client.address first)\n"
                    + yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return [*written, path]


def parquet(store: GraphStore, out: Path, min_confidence: float = 0.0) -> list[Path]:
    """One Parquet file per node label and per (relation, from, to), by the store's ``COPY … TO``."""
    written = []
    where, parameters = _confident(min_confidence)
    for label, columns in NODE_TABLES.items():
        path = out / f"{label}.parquet"
        store.export_query(f"MATCH (n:{label}) RETURN {', '.join(f'n.{name} AS {name}' for name, _ in columns)}", path)
        written.append(path)
    for table in relation_tables(store.ontology):
        for src, dst in table.pairs:
            path = out / f"{table.name}-{src}-{dst}.parquet"
            props = ", ".join(f"r.{name} AS {name}" for name, _ in table.columns)
            store.export_query(f"MATCH (a:{src})-[r:{table.name}]->(b:{dst}) {where}RETURN a.id AS src, b.id AS dst, {props}",
                               path, parameters)
            written.append(path)
    return written


def iri(label: str, key: str) -> str:
    """The IRI of a node: ``urn:skugraph:{label}:{key}``, the key percent-encoded."""
    return f"{BASE_IRI}{label}:{quote(key, safe='')}"


def triples(store: GraphStore, min_confidence: float = 0.0) -> Iterator:
    """The graph as pyoxigraph triples in the schema.org vocabulary (the edges at ``min_confidence`` or above)."""
    from pyoxigraph import BlankNode, Literal, NamedNode, Triple

    rdf_type = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    xsd_double = NamedNode("http://www.w3.org/2001/XMLSchema#double")
    for label, columns in NODE_TABLES.items():
        kind_of = dict(columns)
        for row in _nodes(store, label):
            subject = NamedNode(iri(label, row[0]))
            yield Triple(subject, rdf_type, NamedNode(SCHEMA + SCHEMA_TYPES[label]))
            yield Triple(subject, NamedNode(SCHEMA + "identifier"), Literal(row[0]))
            for (name, _), value in zip(columns[1:], row[1:], strict=True):
                word = SCHEMA_LITERALS.get((label, name))
                if word is None or value is None:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    literal = Literal(str(item), datatype=xsd_double) if kind_of[name] == "DOUBLE" else Literal(str(item))
                    yield Triple(subject, NamedNode(SCHEMA + word), literal)
            stars = dict(zip(kind_of, row, strict=True)).get("rating") if label == "Review" else None
            if stars is not None:  # a review's rating: a Rating node of its own
                rating = BlankNode()
                yield Triple(subject, NamedNode(SCHEMA + "reviewRating"), rating)
                yield Triple(rating, rdf_type, NamedNode(SCHEMA + "Rating"))
                yield Triple(rating, NamedNode(SCHEMA + "ratingValue"), Literal(str(stars), datatype=xsd_double))
    for relation, src, dst, _, rows in _edge_tables(store, min_confidence):
        predicate = NamedNode(SCHEMA_PROPERTIES[relation])
        for row in rows:
            yield Triple(NamedNode(iri(src, row[0])), predicate, NamedNode(iri(dst, row[1])))


_RDF_FILES = {"n-triples": "graph.nt", "turtle": "graph.ttl", "json-ld": "graph.jsonld"}


def rdf(store: GraphStore, out: Path, formats: tuple[str, ...], min_confidence: float = 0.0) -> list[Path]:
    """The graph as RDF files (``n-triples``, ``turtle``, ``json-ld``), streamed to disk."""
    from pyoxigraph import RdfFormat, serialize

    chosen = {"n-triples": RdfFormat.N_TRIPLES, "turtle": RdfFormat.TURTLE, "json-ld": RdfFormat.JSON_LD}
    written = []
    for name in formats:
        path = out / _RDF_FILES[name]
        prefixes = {"schema": SCHEMA, "sg": SKUGRAPH} if name != "n-triples" else None
        serialize(triples(store, min_confidence), str(path), chosen[name], prefixes=prefixes)
        written.append(path)
    return written
