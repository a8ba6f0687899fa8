"""The graph schema, generated from the ontology: node tables and relationship tables.

Every relationship carries ``predicate``, ``confidence``, ``provenance`` (JSON list
of listing, field, span, extractor, version) and ``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass

from skugraph.facts.ontology import PREDICATES
from skugraph.records import ASPECT, BRAND, CATEGORY, PRODUCT, REVIEW, VALUE

#: Node label → [(property, Cypher type)]; ``id`` (the entity key) is the primary key.
NODE_TABLES: dict[str, list[tuple[str, str]]] = {
    PRODUCT: [
        ("id", "STRING"),
        ("title", "STRING"),
        ("description", "STRING"),
        ("category", "STRING"),
        ("price", "DOUBLE"),
        ("currency", "STRING"),
        ("source", "STRING"),
        ("updated_at", "TIMESTAMP"),
    ],
    BRAND: [("id", "STRING"), ("name", "STRING"), ("aliases", "STRING[]")],
    CATEGORY: [("id", "STRING"), ("name", "STRING")],
    VALUE: [("id", "STRING"), ("kind", "STRING"), ("value", "STRING")],
    REVIEW: [("id", "STRING"), ("text", "STRING"), ("rating", "DOUBLE")],
    ASPECT: [("id", "STRING"), ("name", "STRING")],
}

EDGE_PROPERTIES: list[tuple[str, str]] = [
    ("predicate", "STRING"),
    ("confidence", "DOUBLE"),
    ("provenance", "STRING"),
    ("updated_at", "TIMESTAMP"),
]


@dataclass(frozen=True, slots=True)
class RelationTable:
    name: str
    pairs: tuple[tuple[str, str], ...]  # (from label, to label)


def relation_tables() -> list[RelationTable]:
    """One table per relation named in the ontology, with every (from, to) label pair it may join."""
    pairs: dict[str, list[tuple[str, str]]] = {}
    for spec in PREDICATES.values():
        for obj in spec.objects:
            pair = (spec.subject, obj)
            if pair not in pairs.setdefault(spec.relation, []):
                pairs[spec.relation].append(pair)
    return [RelationTable(name, tuple(p)) for name, p in pairs.items()]


def ddl() -> list[str]:
    """CREATE statements for the whole schema; safe to run on an existing database."""
    statements = []
    for label, columns in NODE_TABLES.items():
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        statements.append(f"CREATE NODE TABLE IF NOT EXISTS {label}({cols}, PRIMARY KEY(id))")
    props = ", ".join(f"{name} {kind}" for name, kind in EDGE_PROPERTIES)
    for table in relation_tables():
        ends = ", ".join(f"FROM {a} TO {b}" for a, b in table.pairs)
        statements.append(f"CREATE REL TABLE IF NOT EXISTS {table.name}({ends}, {props})")
    return statements
