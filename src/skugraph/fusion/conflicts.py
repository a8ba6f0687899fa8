"""Conflict resolution: when a listing's text gives several values of one attribute (黑色 in
the title, 白色 in the description), choose one by a confidence- and source-weighted vote and
keep the others as alternatives, each with its provenance.

Support of a value = its confidence × the weight of the best source it was read from
(title > description > reviews; structured fields count fully). The value with the most
support is ``chosen``; ties go to the value read first.

A product word one listing heads and another names beside its head is the product's type
(``product_type``), not a product related to it: the ``related_product`` fact is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.records import Fact

#: how much a value read in each field is worth; a review names what a buyer saw, not the spec
FIELD_WEIGHTS = {"title": 1.0, "category": 1.0, "description": 0.8}
REVIEW_WEIGHT = 0.3


def source_weight(fact: Fact) -> float:
    weights = [FIELD_WEIGHTS.get(p.field, REVIEW_WEIGHT if p.field.startswith("reviews[") else 0.5) for p in fact.provenance]
    return max(weights, default=0.5)


def resolve(facts: Iterable[Fact], ontology: Ontology | None = None) -> list[Fact]:
    """The facts with every attribute fact marked ``chosen`` (true for the best-supported value
    of its (product, attribute), false for the alternatives) and its ``support``; a product's
    ``related_product`` that is one of its ``product_type`` values left out."""
    ontology = ontology or load_ontology()
    facts = list(facts)
    types = {(fact.subject.ref, fact.object.ref) for fact in facts if fact.predicate == "product_type"}
    facts = [fact for fact in facts if fact.predicate != "related_product" or (fact.subject.ref, fact.object.ref) not in types]
    support = {}
    best: dict[tuple[str, str], tuple[float, int]] = {}
    for index, fact in enumerate(facts):
        if not ontology.is_kind(fact.predicate):  # attribute kinds are the HAS_VALUE predicates
            continue
        support[index] = round(fact.confidence * source_weight(fact), 6)
        key = (fact.subject.ref, fact.predicate)
        if key not in best or support[index] > best[key][0]:
            best[key] = (support[index], index)
    chosen = {index for _, index in best.values()}
    return [replace(fact, properties={**fact.properties, "chosen": index in chosen, "support": support[index]})
            if index in support else fact for index, fact in enumerate(facts)]
