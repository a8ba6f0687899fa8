"""The graph schema, generated from the ontology: node tables and relationship tables.

Every relationship carries ``predicate``, ``confidence``, ``provenance`` (JSON list
of listing, field, span, extractor, version) and ``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.records import ASPECT, BRAND, CATEGORY, LISTING, PRODUCT, REVIEW, VALUE

#: Node label → [(property, Cypher type)]; ``id`` (the entity key) is the primary key.
NODE_TABLES: dict[str, list[tuple[str, str]]] = {
    LISTING: [
        ("id", "STRING"),
        ("title", "STRING"),
        ("description", "STRING"),
        ("category", "STRING"),
        ("price", "DOUBLE"),
        ("currency", "STRING"),
        ("source", "STRING"),
        ("updated_at", "TIMESTAMP"),
        ("redactions", "STRING"),
    ],
    PRODUCT: [("id", "STRING"), ("title", "STRING")],  # one per resolved product; its listings OFFER_OF it
    BRAND: [("id", "STRING"), ("name", "STRING"), ("aliases", "STRING[]")],
    CATEGORY: [("id", "STRING"), ("name", "STRING")],
    VALUE: [("id", "STRING"), ("kind", "STRING"), ("value", "STRING"), ("canonical", "STRING"), ("low", "DOUBLE"),
            ("high", "DOUBLE"), ("unit", "STRING")],
    REVIEW: [("id", "STRING"), ("text", "STRING"), ("rating", "DOUBLE"), ("redactions", "STRING")],
    ASPECT: [("id", "STRING"), ("name", "STRING")],
}

#: relations with one object per subject: loading an edge replaces the subject's others
SINGLE_OBJECT_RELATIONS = frozenset({"OFFER_OF"})

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
    properties: tuple[tuple[str, str], ...] = ()  # extra edge properties declared in the ontology

    @property
    def columns(self) -> list[tuple[str, str]]:
        """Every edge property: the common ones, then the declared ones."""
        return [*EDGE_PROPERTIES, *self.properties]


def relation_tables(ontology: Ontology | None = None) -> list[RelationTable]:
    """One table per relation named in the ontology, with every (from, to) label pair it may join."""
    ontology = ontology or load_ontology()
    extra = ontology.relation_properties()
    return [RelationTable(name, tuple(p), tuple(extra[name])) for name, p in ontology.relation_pairs().items()]


def ddl(ontology: Ontology | None = None) -> list[str]:
    """CREATE statements for the whole schema; safe to run on an existing database."""
    statements = []
    for label, columns in NODE_TABLES.items():
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        statements.append(f"CREATE NODE TABLE IF NOT EXISTS {label}({cols}, PRIMARY KEY(id))")
    for table in relation_tables(ontology):
        props = ", ".join(f"{name} {kind}" for name, kind in table.columns)
        ends = ", ".join(f"FROM {a} TO {b}" for a, b in table.pairs)
        statements.append(f"CREATE REL TABLE IF NOT EXISTS {table.name}({ends}, {props})")
    return statements
