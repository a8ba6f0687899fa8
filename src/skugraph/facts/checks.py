"""Facts as Arrow columns checked against the ontology: what ``Ontology.check`` refuses, found
on the columns of a whole batch (Python only per distinct predicate and properties text)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from skugraph.facts.ontology import VALUE_RELATION, Ontology

#: the Arrow type of each Cypher type the graph schema uses
ARROW_TYPES = {"STRING": pa.string(), "DOUBLE": pa.float64(), "TIMESTAMP": pa.timestamp("us"), "STRING[]": pa.list_(pa.string()),
               "INT64": pa.int64(), "BOOLEAN": pa.bool_(), "DATE": pa.date32()}
SEPARATOR = "\x1f"  # between the parts of an edge key (graph.schema.edge_key)


def fact_problems(facts: pa.Table, ontology: Ontology) -> tuple[pa.Array, list[tuple[pa.Array, str]]]:
    """Each fact's relation table (null where the ontology refuses it), and the problems found:
    (mask of the facts, reason) for what ``Ontology.check`` refuses, checked once per distinct
    (predicate, subject label, object label) and on the columns for the rest."""
    combos = pc.binary_join_element_wise(facts["predicate"], facts["subject_label"], facts["object_label"], SEPARATOR)
    distinct = pc.unique(combos)
    found = pc.index_in(combos, value_set=distinct)
    relations: list[str | None] = []
    problems: list[tuple[pa.Array, str]] = []
    declared: dict[str, set[str]] = {}
    for position, combo in enumerate(distinct.to_pylist()):
        if combo is None:
            relations.append(None)
            continue
        predicate, subject, obj = combo.split(SEPARATOR)
        try:
            spec = ontology.predicate(predicate)
        except KeyError as error:
            problems.append((pc.equal(found, position), error.args[0]))
            relations.append(None)
            continue
        if subject != spec.subject or obj not in spec.objects:
            problems.append((pc.equal(found, position),
                             f"does not fit predicate {predicate!r}: {spec.subject} → {'|'.join(spec.objects)} expected"))
            relations.append(None)
            continue
        relations.append(spec.relation)
        declared[predicate] = {name for name, _ in spec.properties}
    relation = pc.take(pa.array(relations, pa.string()), found)
    if pc.any(pc.is_null(combos)).as_py():
        problems.append((pc.is_null(combos), "has no predicate or end label"))
    value_facts = pc.equal(relation, VALUE_RELATION)
    wrong_kind = pc.fill_null(pc.and_kleene(value_facts, pc.not_equal(facts["object_kind"], facts["predicate"])), False)
    confidence = facts["confidence"]
    outside = pc.fill_null(pc.or_(pc.less(confidence, 0.0), pc.greater(confidence, 1.0)), True)
    problems += [(wrong_kind, "needs a Value of its predicate's kind"), (outside, "has a confidence outside [0, 1]")]
    properties = properties_struct(facts["properties"], ontology)
    for name in (field.name for field in properties.type):
        stated = pc.is_valid(pc.struct_field(properties, name))
        allowed = pc.is_in(facts["predicate"], value_set=pa.array([p for p, names in declared.items() if name in names], pa.string()))
        problems.append((pc.and_(stated, pc.invert(allowed)), f"states a property its predicate does not declare: {name}"))
    return relation, [(mask, reason) for mask, reason in problems if pc.any(mask).as_py()]


def property_types(ontology: Ontology) -> dict[str, str]:
    """Every edge property the ontology declares, with its Cypher type."""
    return {name: kind for declared in ontology.relation_properties().values() for name, kind in declared}


def properties_struct(properties: pa.Array | pa.ChunkedArray, ontology: Ontology) -> pa.Array | pa.ChunkedArray:
    """Facts' ``properties`` as a struct with a field per property the ontology declares (and
    one per other name the facts use, for :func:`fact_problems` to refuse): JSON text (Parquet
    facts) is parsed once per distinct text, a few hundred where the facts are hundreds of
    thousands. ``ValueError`` for a property value of the wrong type."""
    if pa.types.is_struct(properties.type):
        return properties
    encoded = pc.dictionary_encode(properties)
    encoded = encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded
    parsed = [json.loads(text) for text in encoded.dictionary.to_pylist()]
    kinds = property_types(ontology)
    names = list(kinds) + sorted({name for found in parsed for name in found} - kinds.keys())
    kind = pa.struct([(name, ARROW_TYPES[kinds[name]] if name in kinds else pa.string()) for name in names])
    try:
        distinct = pa.array([{name: _text(found.get(name)) if name not in kinds else found.get(name) for name in names}
                             for found in parsed], kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
        raise ValueError(f"an edge property of the wrong type: {error}") from None
    return pc.take(distinct, encoded.indices)


def _text(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
