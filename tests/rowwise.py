"""The loader's rows as it built them before the columnar load (issue 23): one fact at a time,
in Python. Kept here as the reference that :func:`skugraph.graph.columnar.fact_tables` must
match byte for byte (tests/test_columnar.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from skugraph.facts.ontology import Ontology
from skugraph.facts.values import normalize_value
from skugraph.graph.schema import NODE_TABLES, edge_key
from skugraph.records import BRAND, LISTING, PRODUCT, REVIEW, VALUE, Entity, Fact, Provenance


class RowwiseRows:
    """``nodes[label][id] = row``, ``edges[(relation, from, to)][(src, dst)] = row`` and
    ``supported[listing] = edge keys``, built fact by fact; the facts of one edge merged as
    :func:`skugraph.facts.build.merge_facts` merges them (the rest of the row from the last fact
    that adds evidence)."""

    def __init__(self, ontology: Ontology, listing_times: dict[str, datetime | None]):
        self.ontology = ontology
        self.listing_times = listing_times
        self.nodes: dict[str, dict[str, dict[str, Any]]] = {}
        self.edges: dict[tuple[str, str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self.supported: dict[str, set[str]] = {}
        self.evidence: dict[tuple, tuple[Provenance, ...]] = {}  # each edge's provenance, merged

    def add_fact(self, fact: Fact, loaded_at: datetime) -> None:
        spec = self.ontology.check(fact)
        self._entity(fact.subject)
        self._entity(fact.object)
        times = [t for t in (self.listing_times.get(p.listing_id) for p in fact.provenance) if t is not None]
        key = (spec.relation, fact.subject.label, fact.object.label)
        edge = edge_key(spec.relation, fact.subject.label, fact.subject.key, fact.object.label, fact.object.key)
        for place in fact.provenance:
            self.supported.setdefault(place.listing_id, set()).add(edge)
        updated = max(times) if times else loaded_at.astimezone(UTC).replace(tzinfo=None)
        pair = (fact.subject.key, fact.object.key)
        seen = self.edges.setdefault(key, {}).get(pair)
        provenance, confidence = fact.provenance, float(fact.confidence)
        if seen is not None:  # merged as merge_facts merges: evidence joined, confidence by noisy-or
            held = self.evidence[(key, pair)]
            new = tuple(p for p in fact.provenance if p not in held)
            if not new:
                seen["updated_at"] = seen["valid_from"] = max(seen["updated_at"], updated)
                return
            provenance, confidence = held + new, round(1 - (1 - seen["confidence"]) * (1 - confidence), 6)
            updated = max(seen["updated_at"], updated)
        self.evidence[(key, pair)] = provenance
        self.edges[key][pair] = {
            "src": fact.subject.key, "dst": fact.object.key, "predicate": fact.predicate, "confidence": confidence,
            "provenance": json.dumps([p.to_dict() for p in provenance], ensure_ascii=False),
            "updated_at": updated, "valid_from": updated, **fact.properties,
        }

    def _entity(self, entity: Entity) -> None:
        if entity.label in (PRODUCT, LISTING):
            self._node(entity.label, {"id": entity.key, "title": entity.name or None})
        elif entity.label == BRAND:
            self._node(BRAND, {"id": entity.key, "name": entity.name, "aliases": list(entity.aliases)})
        elif entity.label == VALUE:
            if entity.key in self.nodes.get(VALUE, {}):
                return
            normal = normalize_value(entity.kind, entity.name)
            self._node(VALUE, {"id": entity.key, "kind": entity.kind, "value": entity.name, "canonical": normal.canonical,
                               "low": normal.low, "high": normal.high, "unit": normal.unit or None})
        elif entity.label == REVIEW:
            self._node(REVIEW, {"id": entity.key, "text": entity.name})
        else:  # Category, Aspect
            self._node(entity.label, {"id": entity.key, "name": entity.name})

    def _node(self, label: str, row: dict[str, Any]) -> None:
        """A row already there keeps its values and gains the new non-null ones; aliases add up."""
        table = self.nodes.setdefault(label, {})
        full = {name: row.get(name) for name, _ in NODE_TABLES[label]}
        seen = table.get(row["id"])
        if seen is None:
            table[row["id"]] = full
            return
        for name, value in full.items():
            if name == "aliases":
                seen[name] = list(dict.fromkeys((seen[name] or []) + (value or [])))
            elif seen[name] is None:
                seen[name] = value


def rowwise_rows(facts: list[Fact], loaded_at: datetime, listing_times: dict[str, datetime | None],
                 ontology: Ontology) -> RowwiseRows:
    rows = RowwiseRows(ontology, listing_times)
    for fact in facts:
        rows.add_fact(fact, loaded_at)
    return rows


def rowwise_listing_rows(listings) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Listing and review node rows (by id), one listing at a time, as the loader built them
    before its listings were columns: a listing given twice, the last one; a review given twice
    keeps its first values and gains the later ones' where it had none."""
    from skugraph.graph.store import _naive_utc, _redactions

    rows: dict[str, dict[str, Any]] = {}
    reviews: dict[str, dict[str, Any]] = {}
    for listing in listings:
        rows[listing.id] = {
            "id": listing.id, "title": listing.title, "description": listing.description or None,
            "category": listing.category or None, "price": listing.price, "currency": listing.currency or None,
            "source": listing.source or None, "updated_at": _naive_utc(listing.updated_at),
            "redactions": _redactions(r for r in listing.redactions if not r.field.startswith("reviews[")),
            "supports": None, "runs": None, "stock": listing.stock, "sales": listing.sales, "sales_from": listing.sales_from,
            "sales_to": listing.sales_to, "warehouse": listing.warehouse or None,
        }
        for i, review in enumerate(listing.reviews):
            scrubbed = _redactions(r for r in listing.redactions if r.field == f"reviews[{i}]")
            row = {"id": review.id, "text": review.text, "rating": review.rating, "redactions": scrubbed}
            seen = reviews.setdefault(review.id, row)
            for name, value in row.items():
                if seen[name] is None:
                    seen[name] = value
    return rows, reviews
