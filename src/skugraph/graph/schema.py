"""The graph schema, generated from the ontology: node tables and relationship tables.

Every relationship carries ``predicate``, ``confidence``, ``provenance`` (JSON list
of listing, field, span, extractor, version), ``updated_at`` (the time of its newest
evidence) and ``valid_from`` (when the graph first held it). A listing keeps the keys of the
edges it supports (``supports``) and the extraction runs they came from (``runs``), so a new
version of it, or a new extraction of it, retracts what it no longer says; ``Change`` nodes
keep the values that ended: a retracted edge, a listing's old price.
"""

from __future__ import annotations

from dataclasses import dataclass

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.records import ASPECT, BRAND, CATEGORY, LISTING, PRODUCT, REVIEW, VALUE

CHANGE = "Change"

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
        # keys of the edges this listing's facts support (see edge_key), and the extraction runs
        # (Provenance.run) whose facts the graph holds for it: sorted JSON arrays (text, not
        # STRING[]: LadybugDB checkpoints 100,000 lists set in place in 13 s, the same text in 0.4 s)
        ("supports", "STRING"),
        ("runs", "STRING"),
        # stock on hand in a warehouse, and units sold over a period (both days included)
        ("stock", "INT64"),
        ("sales", "INT64"),
        ("sales_from", "DATE"),
        ("sales_to", "DATE"),
        ("warehouse", "STRING"),
    ],
    PRODUCT: [("id", "STRING"), ("title", "STRING")],  # one per resolved product; its listings OFFER_OF it
    BRAND: [("id", "STRING"), ("name", "STRING"), ("aliases", "STRING[]")],
    CATEGORY: [("id", "STRING"), ("name", "STRING")],
    VALUE: [("id", "STRING"), ("kind", "STRING"), ("value", "STRING"), ("canonical", "STRING"), ("low", "DOUBLE"),
            ("high", "DOUBLE"), ("unit", "STRING")],
    REVIEW: [("id", "STRING"), ("text", "STRING"), ("rating", "DOUBLE"), ("redactions", "STRING")],
    ASPECT: [("id", "STRING"), ("name", "STRING")],
    # a value that ended: subject ("Product:p1", "Listing:l9"), attribute (a predicate, or a listing
    # property such as price), the value, when it held, and the listings that had said it (JSON)
    CHANGE: [("id", "STRING"), ("subject", "STRING"), ("attribute", "STRING"), ("value", "STRING"), ("valid_from", "TIMESTAMP"),
             ("valid_to", "TIMESTAMP"), ("sources", "STRING")],
}

#: columns added after graphs were first written: a graph opened for writing gains them
ADDED_COLUMNS: dict[str, list[str]] = {LISTING: ["runs", "stock", "sales", "sales_from", "sales_to", "warehouse"]}

#: columns that were lists and are now JSON text: a graph opened for writing has them rewritten
LIST_COLUMNS_NOW_TEXT: dict[str, list[str]] = {LISTING: ["supports", "runs"]}

#: the listing properties whose old values are kept as Change nodes when a new version changes them
TRACKED_LISTING_PROPERTIES = ("title", "price", "currency", "category", "stock", "sales", "sales_from", "sales_to", "warehouse")

#: relations with one object per subject: loading an edge replaces the subject's others
SINGLE_OBJECT_RELATIONS = frozenset({"OFFER_OF"})

EDGE_PROPERTIES: list[tuple[str, str]] = [
    ("predicate", "STRING"),
    ("confidence", "DOUBLE"),
    ("provenance", "STRING"),
    ("updated_at", "TIMESTAMP"),
    ("valid_from", "TIMESTAMP"),
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


def edge_key(relation: str, src_label: str, src: str, dst_label: str, dst: str) -> str:
    """One edge's key, as a listing's ``supports`` holds it."""
    return "\x1f".join((relation, src_label, src, dst_label, dst))


def ddl(ontology: Ontology | None = None) -> list[str]:
    """CREATE statements for the whole schema; safe to run on an existing database."""
    statements = []
    for label, columns in NODE_TABLES.items():
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        statements.append(f"CREATE NODE TABLE IF NOT EXISTS {label}({cols}, PRIMARY KEY(id))")
        kinds = dict(columns)
        statements += [f"ALTER TABLE {label} ADD IF NOT EXISTS {name} {kinds[name]}" for name in ADDED_COLUMNS.get(label, [])]
    for table in relation_tables(ontology):
        props = ", ".join(f"{name} {kind}" for name, kind in table.columns)
        ends = ", ".join(f"FROM {a} TO {b}" for a, b in table.pairs)
        statements.append(f"CREATE REL TABLE IF NOT EXISTS {table.name}({ends}, {props})")
        # a property the ontology declared after the graph was made (HAS_BRAND.evidence)
        statements += [f"ALTER TABLE {table.name} ADD IF NOT EXISTS {name} {kind}" for name, kind in table.properties]
    return statements
