"""The one chain every stage speaks: Listing → Mention → Fact (+ Provenance).

Character offsets (``start``/``end``) always index the original, un-normalised
text of the named field, end exclusive.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

#: Node labels of the product knowledge graph.
LISTING, PRODUCT, BRAND, CATEGORY, VALUE, REVIEW, ASPECT = (
    "Listing",
    "Product",
    "Brand",
    "Category",
    "Value",
    "Review",
    "Aspect",
)
NODE_LABELS = (LISTING, PRODUCT, BRAND, CATEGORY, VALUE, REVIEW, ASPECT)

#: an extractor version that ends so marks facts whose confidences were calibrated as probabilities
#: of being right, on labelled dev data (``tagger@3f9a…+calibrated``; :mod:`skugraph.facts.calibration`)
CALIBRATED_VERSION = "+calibrated"
#: the extractor named in the provenance of facts KG completion inferred (read in no listing)
COMPLETION = "completion"


def units_a_day(sales: int | None, first: date | None, last: date | None) -> float | None:
    """Units sold a day over a period from ``first`` to ``last``, both days counted (None without
    all three, or where the period ends before it starts, which ingest refuses)."""
    if sales is None or first is None or last is None or last < first:
        return None
    return sales / ((last - first).days + 1)


#: :func:`units_a_day` of a listing ``l`` in Cypher (null where it is None), for a query that sums many
UNITS_A_DAY_CYPHER = "CASE WHEN l.sales_to >= l.sales_from THEN CAST(l.sales AS DOUBLE) / (l.sales_to - l.sales_from + 1) END"


@dataclass(frozen=True, slots=True)
class Review:
    """One customer review of a listing."""

    id: str
    text: str
    rating: float | None = None


@dataclass(frozen=True, slots=True)
class Redaction:
    """Personal data scrubbed from a field: its type and where it was, never its value."""

    field: str
    start: int
    end: int
    type: str  # phone | email | id_card | bank_card | address | order_number | name

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "start": self.start, "end": self.end, "type": self.type}


@dataclass(frozen=True, slots=True)
class Listing:
    """One product listing as a shop publishes it."""

    id: str
    title: str
    description: str = ""
    reviews: tuple[Review, ...] = ()
    category: str = ""
    price: float | None = None
    currency: str = ""
    source: str = ""
    updated_at: datetime | None = None
    redactions: tuple[Redaction, ...] = ()  # personal data masked in the text fields
    stock: int | None = None  # units on hand (in ``warehouse``), as of ``updated_at``
    sales: int | None = None  # units sold from ``sales_from`` to ``sales_to``, both days included
    sales_from: date | None = None
    sales_to: date | None = None
    warehouse: str = ""  # where the stock is held

    @property
    def daily_sales(self) -> float | None:
        """Units sold a day over the sales period, where sales were given."""
        return units_a_day(self.sales, self.sales_from, self.sales_to)

    def field_text(self, name: str) -> str:
        """Text of a field by its provenance name: ``title``, ``description``, ``reviews[3]``."""
        if name.startswith("reviews[") and name.endswith("]"):
            return self.reviews[int(name[8:-1])].text
        if name in ("title", "description", "category"):
            return getattr(self, name)
        raise KeyError(f"listing has no text field {name!r}")

    def text_fields(self) -> list[tuple[str, str]]:
        """(field name, text) of every non-empty text field, in reading order."""
        fields = [("title", self.title), ("description", self.description)]
        fields += [(f"reviews[{i}]", r.text) for i, r in enumerate(self.reviews)]
        return [(name, text) for name, text in fields if text]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "description": self.description,
            "reviews": [{"id": r.id, "text": r.text, "rating": r.rating} for r in self.reviews],
            "category": self.category, "price": self.price, "currency": self.currency, "source": self.source,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "redactions": [r.to_dict() for r in self.redactions],
            "stock": self.stock, "sales": self.sales,
            "sales_from": self.sales_from.isoformat() if self.sales_from else None,
            "sales_to": self.sales_to.isoformat() if self.sales_to else None, "warehouse": self.warehouse,
        }


@dataclass(frozen=True, slots=True)
class Mention:
    """A typed span of a listing field, found by an extractor."""

    listing_id: str
    field: str
    start: int
    end: int
    text: str
    label: str
    score: float = 1.0
    extractor: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"listing_id": self.listing_id, "field": self.field, "start": self.start, "end": self.end, "text": self.text,
                "label": self.label, "score": self.score, "extractor": self.extractor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mention:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact was read: listing, field, character span, the extractor that read it, and
    the extraction run that wrote it (see :func:`with_run`; empty for facts fusion derives)."""

    listing_id: str
    field: str
    start: int
    end: int
    extractor: str
    version: str = ""
    run: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "listing_id": self.listing_id,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "extractor": self.extractor,
            "version": self.version,
            **({"run": self.run} if self.run else {}),
        }


@dataclass(frozen=True, slots=True)
class Entity:
    """A node of the graph: its label, its key (unique within the label) and display name.

    ``kind`` is the attribute kind of a Value (``colour``, ``capacity`` …);
    ``aliases`` are other surface names of a Brand.
    """

    label: str
    key: str
    name: str
    kind: str = ""
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "key": self.key, "name": self.name, "kind": self.kind, "aliases": list(self.aliases)}

    @property
    def ref(self) -> str:
        """Globally unique reference, e.g. ``Brand:huawei``."""
        return f"{self.label}:{self.key}"


@dataclass(frozen=True, slots=True)
class Fact:
    """A (subject, predicate, object) statement with its confidence and provenance."""

    subject: Entity
    predicate: str
    object: Entity
    confidence: float
    provenance: tuple[Provenance, ...] = field(default_factory=tuple)
    properties: dict[str, Any] = field(default_factory=dict)  # edge properties the predicate declares (polarity …)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject.ref, self.predicate, self.object.ref)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject.to_dict(),
            "predicate": self.predicate,
            "object": self.object.to_dict(),
            "confidence": self.confidence,
            "provenance": [p.to_dict() for p in self.provenance],
            **({"properties": self.properties} if self.properties else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fact:
        def entity(d: dict[str, Any]) -> Entity:
            return Entity(**{**d, "aliases": tuple(d.get("aliases", ()))})

        return cls(
            subject=entity(data["subject"]),
            predicate=data["predicate"],
            object=entity(data["object"]),
            confidence=float(data["confidence"]),
            provenance=tuple(Provenance(**p) for p in data.get("provenance", ())),
            properties=dict(data.get("properties") or {}),
        )


def with_run(facts: list[Fact], extractor: str) -> list[Fact]:
    """One listing's facts from one extraction, their evidence marked with the run that read them:
    ``extractor`` (name@version) and a digest of what it read. Loading facts of another run for
    the listing replaces this run's (see :meth:`skugraph.graph.store.GraphStore.load`); reading
    the listing again the same way gives the same run, so an unchanged extraction replaces nothing."""
    digest = hashlib.sha256("\n".join(to_json_line(fact) for fact in facts).encode()).hexdigest()[:12]
    run = f"{extractor}:{digest}"
    return [replace(fact, provenance=tuple(replace(p, run=run) for p in fact.provenance)) for fact in facts]


def to_json_line(record: Listing | Mention | Fact) -> str:
    """One JSONL line, keeping non-ASCII text readable."""
    return json.dumps(record.to_dict(), ensure_ascii=False)
