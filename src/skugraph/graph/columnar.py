"""Facts as columns on their way into the graph: the node and edge tables a batch of facts
makes, built with Arrow compute over the whole batch, never a Python object per fact.

:func:`fact_tables` gives the rows the row-by-row reference builder (``tests/rowwise.py``) gives
for the same facts (same values, byte for byte), as Arrow tables: nodes gather the first non-null value
of each column in fact order (a brand's aliases add up, in order); a Value node's columns follow
from its first mention (kind, name, and the normalised value); an edge merges the facts stating
it as fusion does (evidence joined, confidences by noisy-or), stamped with the latest update
time of the listings its evidence comes from; its provenance is the JSON text
:func:`provenance_json` writes. Work done in Python is per distinct predicate,
per brand and per distinct value, never per fact but those of an edge stated more than once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skugraph.facts.checks import ARROW_TYPES, SEPARATOR, fact_problems, properties_struct
from skugraph.facts.ontology import Ontology
from skugraph.facts.values import normalize_value
from skugraph.graph.schema import NODE_TABLES, relation_tables
from skugraph.records import BRAND, LISTING, PRODUCT, REVIEW, VALUE

_CONTROL = r"[\x00-\x1f]"  # characters json.dumps writes as escapes (\n, \u0001 …)
#: each control character as json.dumps writes it, the likeliest first (the separator of edge keys, newlines, tabs)
_ESCAPES = {chr(code): {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(chr(code), f"\\u{code:04x}")
            for code in (0x1F, 0x0A, 0x09, 0x0D, *(code for code in range(32) if code not in (0x1F, 0x0A, 0x09, 0x0D)))}


#: one fact of an edge: its confidence and its provenance (as the store's JSON holds it)
Stated = tuple[float, list[dict]]


@dataclass
class FactTables:
    """A batch of facts as tables: ``nodes[label]`` with the columns of ``NODE_TABLES[label]``,
    ``edges[(relation, from label, to label)]`` with ``src``, ``dst`` and the relation's columns,
    ``supports``: (listing_id, key) for each edge a listing's facts support (a pair may repeat), ``keys``: every
    edge's key, once, and ``stated``: the facts of each edge stated more than once, merged
    into its row (:func:`merge_stated`)."""

    nodes: dict[str, pa.Table]
    edges: dict[tuple[str, str, str], pa.Table]
    supports: pa.Table
    keys: pa.Array
    stated: dict[str, list[Stated]]


def json_strings(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal, as ``json.dumps(…, ensure_ascii=False)`` writes it; null as ``null``.
    Written once per distinct string."""
    return _per_distinct(values, _json_literals, "null")


def _per_distinct(values: pa.Array, write: Callable[[pa.Array], pa.Array], null: str) -> pa.Array:
    """``write`` applied to each distinct string of ``values`` once, then spread back; ``null`` for a null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values.cast(pa.string()))
    return pc.fill_null(pc.take(write(encoded.dictionary), encoded.indices), null)


def _json_literals(values: pa.Array) -> pa.Array:
    """Each string (none null) as a JSON string literal."""
    escaped = values
    for character, escape in (("\\", "\\\\"), ('"', '\\"'), *_ESCAPES.items()):  # the backslash first: the others add backslashes
        if character in _ESCAPES and not pc.any(pc.match_substring_regex(escaped, _CONTROL)).as_py():
            break  # no control character left
        if pc.any(pc.match_substring(escaped, character)).as_py():
            escaped = pc.binary_join(pc.split_pattern(escaped, character), escape)  # faster than replace_substring
    return pc.binary_join_element_wise('"', escaped, '"', "")


def json_lists(pairs: pa.Table, name: str, ids: pa.Array) -> pa.Array:
    """For each of ``ids``, the distinct values of column ``name`` that ``pairs`` gives it (its
    ``listing_id``), sorted, as the JSON array ``json.dumps(sorted(values), ensure_ascii=False)``
    writes; ``[]`` for an id with none."""
    pairs = pairs.filter(pc.is_in(pairs["listing_id"], value_set=ids))
    pairs = pairs.sort_by([("listing_id", "ascending"), (name, "ascending")])  # UTF-8 byte order is code point order
    owners, values = pairs["listing_id"].combine_chunks(), pairs[name].combine_chunks()
    if len(owners):  # a pair given twice: once
        other_owner = pc.not_equal(owners[1:], owners[:-1])
        again = pc.and_(pc.invert(other_owner), pc.equal(values[1:], values[:-1]))
        if pc.any(again).as_py():
            kept = pa.concat_arrays([pa.array([True]), pc.invert(again)])
            owners, values = owners.filter(kept), values.filter(kept)
    starts = np.flatnonzero(np.concatenate([[True], pc.not_equal(owners[1:], owners[:-1]).to_numpy(zero_copy_only=False)])) \
        if len(owners) else np.array([], dtype=np.int64)
    offsets = pa.array(np.concatenate([starts, [len(owners)]]).astype(np.int32))
    lists = pa.ListArray.from_arrays(offsets, _json_literals(values))
    texts = pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
    found = pc.index_in(ids, value_set=pc.take(owners, pa.array(starts, pa.int64())))
    return pc.fill_null(pc.take(texts, found), "[]")


def provenance_json(provenance: pa.Array) -> pa.Array:
    """Each row's list of provenance structs (:data:`skugraph.tables.PROVENANCE`) as the JSON array
    the store keeps on an edge: ``json.dumps([p.to_dict() for p in provenance], ensure_ascii=False)``,
    keys in :meth:`~skugraph.records.Provenance.to_dict` order, ``run`` only where it is not empty;
    a null list as ``[]``."""
    if isinstance(provenance, pa.ChunkedArray):
        provenance = provenance.combine_chunks()
    pieces = provenance.flatten()  # every struct of every row, rows in order
    field = {name: pieces.field(name) for name in ("listing_id", "field", "start", "end", "extractor", "version", "run")}
    run = _per_distinct(field["run"], _run_member, "")  # only where not empty
    objects = pc.binary_join_element_wise(
        '{"listing_id": ', json_strings(field["listing_id"]), ', "field": ', json_strings(field["field"]),
        ', "start": ', pc.fill_null(field["start"].cast(pa.string()), "null"),
        ', "end": ', pc.fill_null(field["end"].cast(pa.string()), "null"),
        ', "extractor": ', json_strings(field["extractor"]), ', "version": ', json_strings(field["version"]), run, "}", "")
    offsets = provenance.offsets
    lists = pa.ListArray.from_arrays(pc.subtract(offsets, offsets[0]), objects)
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")  # a null list's offsets give an empty one


def _run_member(runs: pa.Array) -> pa.Array:
    """``, "run": "…"`` for each run, nothing for an empty one."""
    return pc.if_else(pc.equal(runs, ""), "", pc.binary_join_element_wise(', "run": ', _json_literals(runs), ""))


def fact_tables(facts: pa.Table, ontology: Ontology, loaded_at: datetime, listing_times: pa.Table | None = None) -> FactTables:
    """The node, edge and supports tables of a batch of ``facts`` (a :data:`skugraph.tables.FACTS`
    table); ``listing_times`` (``id``, ``updated_at``: naive UTC) stamps each edge with its
    evidence's latest time, ``loaded_at`` where none is known. ``ValueError`` names the first
    fact (its row, from 1) the ontology refuses."""
    facts = facts.combine_chunks()
    relation = _relations(facts, ontology)
    facts = facts.set_column(facts.schema.get_field_index("properties"), "properties", properties_struct(facts["properties"], ontology))
    index = pa.array(np.arange(facts.num_rows, dtype=np.int64))
    provenance = facts.column("provenance").combine_chunks()
    parent = pc.list_parent_indices(provenance)
    listing_of_piece = pc.list_flatten(provenance).field("listing_id")
    keys = pc.binary_join_element_wise(relation, facts["subject_label"], facts["subject_key"], facts["object_label"],
                                       facts["object_key"], SEPARATOR)
    supports = pa.table({"listing_id": listing_of_piece, "key": pc.take(keys, parent)})
    updated = _edge_times(facts.num_rows, parent, listing_of_piece, listing_times, loaded_at)
    edges, stated = _edge_tables(facts, relation, keys, index, provenance, updated, ontology)
    return FactTables(_node_tables(facts), edges, supports, pc.unique(keys), stated)


def _relations(facts: pa.Table, ontology: Ontology) -> pa.Array:
    """Each fact's relation table; ``ValueError`` for the first fact the ontology refuses."""
    relation, problems = fact_problems(facts, ontology)
    if problems:
        first = min((pc.index(mask, True).as_py(), reason) for mask, reason in problems)
        raise ValueError(f"fact {first[0] + 1} {first[1]}")
    return relation


def _edge_times(count: int, parent: pa.Array, listing: pa.Array, times: pa.Table | None, loaded_at: datetime) -> pa.Array:
    """Each fact's latest evidence time (the listings' ``updated_at``), else ``loaded_at`` (naive UTC)."""
    moment = (loaded_at.astimezone(UTC) if loaded_at.tzinfo else loaded_at).replace(tzinfo=None)
    latest = pa.nulls(count, pa.timestamp("us"))
    if times is not None and times.num_rows and len(parent):
        pieces = pa.table({"fact": parent, "id": listing}).join(times.select(["id", "updated_at"]), "id", join_type="inner")
        latest_of = pieces.group_by("fact").aggregate([("updated_at", "max")])
        positions = pc.index_in(pa.array(np.arange(count, dtype=np.int64)), value_set=latest_of["fact"].combine_chunks())
        latest = pc.take(latest_of["updated_at_max"].combine_chunks().cast(pa.timestamp("us")), positions)
    return pc.fill_null(latest, pa.scalar(moment, pa.timestamp("us")))


def _node_tables(facts: pa.Table) -> dict[str, pa.Table]:
    """Every node the facts name, per label, with the first non-null value of each column in
    fact order (subject before object)."""
    count, columns = facts.num_rows, ("label", "key", "name", "kind", "aliases")
    mentions = pa.concat_tables([pa.table({name: facts[f"{side}_{name}"] for name in columns}) for side in ("subject", "object")])
    order = np.empty(2 * count, dtype=np.int64)  # fact by fact, its subject then its object
    order[0::2], order[1::2] = np.arange(count), np.arange(count, 2 * count)
    mentions = mentions.take(pa.array(order))
    out = {}
    for label in pc.unique(mentions["label"]).to_pylist():
        named = mentions.filter(pc.equal(mentions["label"], label))
        out[label] = _nodes_of(label, named)
    return out


def _nodes_of(label: str, named: pa.Table) -> pa.Table:
    name = named["name"]
    if label in (PRODUCT, LISTING):
        columns = {"title": pc.if_else(pc.equal(name, ""), pa.scalar(None, pa.string()), name)}
    elif label == BRAND:
        columns = {"name": name, "aliases": named["aliases"]}
    elif label == VALUE:
        columns = {"kind": named["kind"], "value": name}
    elif label == REVIEW:
        columns = {"text": name}
    elif label in NODE_TABLES:  # Category, Aspect
        columns = {"name": name}
    else:
        raise ValueError(f"unknown node label {label!r}")
    aliases = columns.pop("aliases", None)
    first = pa.table({"id": named["key"], **columns}).group_by("id", use_threads=False).aggregate(
        [(column, "first") for column in columns])
    table = {"id": first["id"], **{column: first[f"{column}_first"] for column in columns}}
    if aliases is not None:
        table["aliases"] = _aliases(named["key"], aliases.combine_chunks(), first["id"])
    if label == VALUE:
        normal = [normalize_value(kind, value) for kind, value in zip(table["kind"].to_pylist(), table["value"].to_pylist(), strict=True)]
        table |= {"canonical": [n.canonical for n in normal], "low": [n.low for n in normal], "high": [n.high for n in normal],
                  "unit": [n.unit or None for n in normal]}
    return typed_table(table, NODE_TABLES[label], len(first))


def gathered_nodes(nodes: pa.Table) -> pa.Table:
    """Node rows of one label from several batches (in order), one row per id, as upserting
    the batches in turn leaves them: each column's last value that is not null, and the
    distinct aliases in the order first given."""
    columns = [name for name in nodes.column_names if name not in ("id", "aliases")]
    last = nodes.group_by("id", use_threads=False).aggregate([(name, "last") for name in columns])
    table = {"id": last["id"], **{name: last[f"{name}_last"] for name in columns}}
    if "aliases" in nodes.column_names:
        table["aliases"] = _aliases(nodes["id"], nodes["aliases"].combine_chunks(), last["id"])
    return pa.table({name: table[name] for name in nodes.column_names}, schema=nodes.schema)


def _aliases(keys: pa.ChunkedArray, aliases: pa.Array, ids: pa.ChunkedArray) -> pa.Array:
    """Per node of ``ids``, the distinct aliases its mentions give, in the order first given."""
    flat = pc.list_flatten(aliases)
    each = pa.table({"id": pc.take(keys, pc.list_parent_indices(aliases)), "alias": flat,
                     "position": pa.array(np.arange(len(flat), dtype=np.int64))})
    distinct = each.group_by(["id", "alias"]).aggregate([("position", "min")])
    distinct = distinct.take(pc.sort_indices(distinct["position_min"]))  # each alias where it was first given
    lists = distinct.group_by("id", use_threads=False).aggregate([("alias", "list")])
    found = pc.index_in(ids, value_set=lists["id"].combine_chunks())
    return pc.fill_null(pc.take(lists["alias_list"].combine_chunks(), found), pa.scalar([], pa.list_(pa.string())))


def _edge_tables(facts: pa.Table, relation: pa.Array, keys: pa.Array, index: pa.Array, provenance: pa.Array, updated: pa.Array,
                 ontology: Ontology) -> tuple[dict[tuple[str, str, str], pa.Table], dict[str, list[Stated]]]:
    """Per (relation, from label, to label): one row per edge (``keys``), its facts merged
    (:func:`_merged_edges`); and the facts of each edge stated more than once."""
    columns = {table.name: table.columns for table in relation_tables(ontology)}
    rows, confidence, evidence, times, stated = _merged_edges(keys, index, facts["confidence"], provenance, updated)
    last = pa.table({"relation": pc.take(relation, rows), "src_label": pc.take(facts["subject_label"], rows),
                     "dst_label": pc.take(facts["object_label"], rows),
                     "position": pa.array(np.arange(len(rows), dtype=np.int64))})
    out = {}
    facts = facts.select(["subject_key", "object_key", "predicate", "properties"])
    for (name, src, dst), chosen in _grouped_indices(last):
        picked = facts.take(pc.take(rows, chosen))
        table = {"src": picked["subject_key"], "dst": picked["object_key"], "predicate": picked["predicate"],
                 "confidence": pc.take(confidence, chosen), "provenance": pc.take(evidence, chosen),
                 "updated_at": pc.take(times, chosen), "valid_from": pc.take(times, chosen)}
        declared = columns[name][len(table) - 2 :]
        table |= _properties(picked["properties"], [n for n, _ in declared], [k for _, k in declared])
        out[(name, src, dst)] = typed_table(table, [("src", "STRING"), ("dst", "STRING"), *columns[name]], len(chosen))
    return out, stated


def merge_stated(confidence: float, held: list[dict], facts: list[Stated]) -> tuple[float, list[dict], bool]:
    """An edge's ``facts`` merged in turn into what it holds, as :func:`skugraph.facts.build.merge_facts`
    merges facts: a fact's provenance not held yet joins, and its confidence is combined by
    noisy-or; a fact that adds no provenance changes nothing. Returns the confidence, the
    provenance and whether any fact added to them."""
    known = {tuple(place.items()) for place in held}
    added = False
    for score, places in facts:
        new = [place for place in places if tuple(place.items()) not in known]
        if new:
            known.update(tuple(place.items()) for place in new)
            held, confidence, added = held + new, round(1 - (1 - confidence) * (1 - score), 6), True
    return confidence, held, added


def _merged_edges(keys: pa.Array, index: pa.Array, confidence: pa.ChunkedArray, provenance: pa.Array, updated: pa.Array
                  ) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, dict[str, list[Stated]]]:
    """Each edge's facts merged (:func:`merge_stated`), the rest of its row from the last fact
    that adds provenance, stamped with its facts' latest time. Returns that fact's row number
    (in fact order), the edge's confidence, provenance JSON and time, and the facts of each
    edge stated more than once. Work in Python is per fact of those edges only."""
    counted = pa.table({"key": keys, "index": index}).group_by("key").aggregate([("index", "max"), ("index", "count")])
    once = pc.equal(counted["index_count"], 1)
    rows = np.sort(counted["index_max"].filter(once).to_numpy())
    scores, texts, times = pc.take(confidence, rows), provenance_json(pc.take(provenance, rows)), pc.take(updated, rows)
    if pc.all(once).as_py():
        return pa.array(rows), scores, texts, times, {}
    again = pc.indices_nonzero(pc.is_in(keys, value_set=counted["key"].filter(pc.invert(once)))).to_numpy()
    stated: dict[str, list[Stated]] = {}
    # key → the row of its last fact that adds provenance, its confidence, provenance and time
    merged: dict[str, tuple[int, float, list[dict], int]] = {}
    facts = zip(pc.take(keys, again).to_pylist(), again.tolist(), pc.take(confidence, again).to_pylist(),
                provenance_json(pc.take(provenance, again)).to_pylist(), pc.take(updated, again).cast(pa.int64()).to_pylist(),
                strict=True)
    for key, row, score, text, moment in facts:
        places = json.loads(text)
        stated.setdefault(key, []).append((score, places))
        if key not in merged:
            merged[key] = (row, score, places, moment)
            continue
        chosen, held_score, held, latest = merged[key]
        held_score, held, added = merge_stated(held_score, held, [(score, places)])
        merged[key] = (row if added else chosen, held_score, held, max(latest, moment))
    rows = np.concatenate([rows, np.array([row for row, *_ in merged.values()], dtype=np.int64)])
    order = pa.array(np.argsort(rows, kind="stable"))
    scores = pa.concat_arrays([scores.combine_chunks() if isinstance(scores, pa.ChunkedArray) else scores,
                               pa.array([score for _, score, _, _ in merged.values()], pa.float64())])
    held = [json.dumps(places, ensure_ascii=False) for _, _, places, _ in merged.values()]
    texts = pa.concat_arrays([texts, pa.array(held, pa.string())])
    times = pa.concat_arrays([times, pa.array([latest for *_, latest in merged.values()], pa.int64()).cast(times.type)])
    return pc.take(pa.array(rows), order), pc.take(scores, order), pc.take(texts, order), pc.take(times, order), stated


def _grouped_indices(last: pa.Table):
    """(relation, from label, to label) → the positions of its edges in ``last``, in order."""
    keys = pc.binary_join_element_wise(last["relation"], last["src_label"], last["dst_label"], SEPARATOR)
    for key in pc.unique(keys).to_pylist():
        yield tuple(key.split(SEPARATOR)), last["position"].filter(pc.equal(keys, key)).combine_chunks()


def _properties(properties: pa.ChunkedArray, names: list[str], kinds: list[str]) -> dict[str, pa.Array | None]:
    """The declared edge properties, from the facts' ``properties`` struct."""
    present = {field.name for field in properties.type}
    return {name: pc.struct_field(properties, name).cast(ARROW_TYPES[kind]) if name in present else None
            for name, kind in zip(names, kinds, strict=True)}


def typed_table(columns: dict, schema: list[tuple[str, str]], count: int) -> pa.Table:
    """A table with exactly ``schema``'s columns and types; a column not given is null."""
    arrays = []
    for name, kind in schema:
        value = columns.get(name)
        arrays.append(pa.nulls(count, ARROW_TYPES[kind]) if value is None else pa.array(value, ARROW_TYPES[kind])
                      if isinstance(value, list) else value.cast(ARROW_TYPES[kind]))
    return pa.Table.from_arrays(arrays, schema=pa.schema([(name, ARROW_TYPES[kind]) for name, kind in schema]))
