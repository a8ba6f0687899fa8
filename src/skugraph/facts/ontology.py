"""The product ontology as data: attribute kinds, predicates, category rules and what each
mention label becomes. ``ontology.yaml`` next to this module is the default; users pass
their own edited copy. The graph schema (:mod:`skugraph.graph.schema`) is generated from
it, so a predicate added there is stored without further code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from skugraph.records import NODE_LABELS, PRODUCT, VALUE, Fact

DEFAULT_ONTOLOGY = Path(__file__).with_name("ontology.yaml")

#: What a mention can be besides an attribute value.
ROLES = ("brand", "product", "compatible_brand", "compatible_model", "compatible_product", "ignore")
#: Attribute facts go to this relation; their predicate is the kind.
VALUE_RELATION = "HAS_VALUE"
#: edge properties of attribute facts: conflict resolution marks the value it chose and its
#: support; KG completion marks the values it proposes ``inferred`` (never chosen)
VALUE_PROPERTIES = (("chosen", "BOOLEAN"), ("support", "DOUBLE"), ("inferred", "BOOLEAN"))
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")


class OntologyError(ValueError):
    """An ontology file that cannot be used, naming the file and the entry."""


@dataclass(frozen=True, slots=True)
class Predicate:
    name: str
    relation: str  # relationship table in the graph
    subject: str  # node label
    objects: tuple[str, ...]  # node labels the object may have
    description: str
    properties: tuple[tuple[str, str], ...] = ()  # extra edge properties: (name, STRING|DOUBLE|INT64|BOOLEAN)


PROPERTY_TYPES = ("STRING", "DOUBLE", "INT64", "BOOLEAN")


@dataclass(frozen=True)
class Ontology:
    attribute_kinds: dict[str, str]  # kind → Chinese name
    predicates: dict[str, Predicate]
    categories: dict[str, frozenset[str]]  # category word (folded) or "*" → kinds that apply
    labels: dict[str, str]  # mention label → role or kind
    off_category_factor: float = 0.5
    source: str = "<built-in>"

    def meaning(self, label: str) -> str:
        """A mention label's role (``brand``, ``product`` …) or attribute kind;
        unknown labels become ``attr_<label>`` so any tag set stays usable."""
        if label in self.labels:
            return self.labels[label]
        if label in self.attribute_kinds or label in ROLES:
            return label
        return "attr_" + re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")

    def is_kind(self, name: str) -> bool:
        return name in self.attribute_kinds or name.startswith("attr_")

    def predicate(self, name: str) -> Predicate:
        """The predicate called ``name``; every attribute kind is a HAS_VALUE predicate."""
        if name in self.predicates:
            return self.predicates[name]
        if self.is_kind(name):
            return Predicate(name, VALUE_RELATION, PRODUCT, (VALUE,), self.attribute_kinds.get(name, name), VALUE_PROPERTIES)
        raise KeyError(f"unknown predicate {name!r}; known: {', '.join(self.predicates)} and the attribute kinds")

    def applies(self, kind: str, category: str) -> bool:
        """Whether attribute ``kind`` applies to a listing filed under ``category`` (a path
        such as ``手机配件 > 手机壳``). Unknown categories take every kind; so do ``attr_`` kinds."""
        if kind.startswith("attr_") or kind in self.categories.get("*", ()):
            return True
        parts = [part.strip().lower() for part in re.split(r"[>/|]", category) if part.strip()]
        matched = [self.categories[p] for p in parts if p in self.categories]
        return not matched or any(kind in kinds for kinds in matched)

    def relation_pairs(self) -> dict[str, list[tuple[str, str]]]:
        """Relation table → the (from label, to label) pairs it joins."""
        pairs: dict[str, list[tuple[str, str]]] = {VALUE_RELATION: [(PRODUCT, VALUE)]}
        for spec in self.predicates.values():
            for obj in spec.objects:
                if (spec.subject, obj) not in pairs.setdefault(spec.relation, []):
                    pairs[spec.relation].append((spec.subject, obj))
        return pairs

    def relation_properties(self) -> dict[str, list[tuple[str, str]]]:
        """Relation table → the extra edge properties its predicates declare."""
        out: dict[str, list[tuple[str, str]]] = {relation: [] for relation in self.relation_pairs()}
        out[VALUE_RELATION] = list(VALUE_PROPERTIES)
        for spec in self.predicates.values():
            for prop in spec.properties:
                if prop not in out[spec.relation]:
                    out[spec.relation].append(prop)
        return out

    def check(self, fact: Fact) -> Predicate:
        """The fact's predicate; ``ValueError`` unless it is known and the fact's ends have the labels it joins."""
        try:
            spec = self.predicate(fact.predicate)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        if fact.subject.label != spec.subject or fact.object.label not in spec.objects:
            raise ValueError(
                f"fact {fact.key} does not fit predicate {spec.name!r}: {spec.subject} → {'|'.join(spec.objects)} expected"
            )
        if spec.relation == VALUE_RELATION and fact.object.kind != fact.predicate:
            raise ValueError(f"fact {fact.key}: a {fact.predicate!r} fact needs a Value of that kind, not {fact.object.kind!r}")
        if not 0.0 <= fact.confidence <= 1.0:
            raise ValueError(f"fact {fact.key} has confidence {fact.confidence}, outside [0, 1]")
        undeclared = fact.properties and set(fact.properties) - {name for name, _ in spec.properties}
        if undeclared:
            raise ValueError(f"fact {fact.key}: predicate {spec.name!r} declares no property {', '.join(sorted(undeclared))}")
        return spec


def load_ontology(path: str | Path | None = None) -> Ontology:
    """Read and check an ontology file (YAML or JSON); the packaged one, read once, by default."""
    return _load(Path(path)) if path else _default()


@cache
def _default() -> Ontology:
    return _load(DEFAULT_ONTOLOGY)


def _load(path: Path) -> Ontology:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OntologyError(f"{path}: cannot read the ontology: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise OntologyError(f"{path}{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    return parse_ontology(data, str(path))


def parse_ontology(data: Any, source: str = "<ontology>") -> Ontology:
    """An :class:`Ontology` from parsed YAML/JSON, every entry checked."""

    def fail(where: str, reason: str) -> OntologyError:
        return OntologyError(f"{source}: {where}: {reason}")

    def mapping(value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    data = mapping(data, "top level")
    unknown = set(data) - {"version", "off_category_factor", "node_labels", "attribute_kinds", "predicates", "categories", "labels"}
    if unknown:
        raise fail(", ".join(sorted(unknown)), "unknown section")
    if data.get("version", 1) != 1:
        raise fail("version", f"version {data['version']!r} is not supported (1 is)")
    node_labels = mapping(data.get("node_labels", {}), "node_labels")
    for label in node_labels:
        if label not in NODE_LABELS:
            raise fail(f"node_labels.{label}", f"the store has no such node table; it has {', '.join(NODE_LABELS)}")

    kinds: dict[str, str] = {}
    for kind, spec in mapping(data.get("attribute_kinds", {}), "attribute_kinds").items():
        if not isinstance(kind, str) or not _KIND_NAME.fullmatch(kind) or kind.startswith("attr_"):
            raise fail(f"attribute_kinds.{kind}", "a kind is a lower-case identifier (a-z, 0-9, _) not starting with attr_")
        if kind in ROLES:
            raise fail(f"attribute_kinds.{kind}", f"{kind!r} is a mention role, not an attribute kind")
        spec = mapping(spec or {}, f"attribute_kinds.{kind}")
        if set(spec) - {"zh", "description"}:  # e.g. an unquoted comma in a {…} description splits it into keys
            raise fail(f"attribute_kinds.{kind}", f"unknown key(s) {', '.join(map(repr, set(spec) - {'zh', 'description'}))}; "
                       "a kind has zh and description (quote a description that holds a comma)")
        kinds[kind] = str(spec.get("zh", kind))

    predicates: dict[str, Predicate] = {}
    for name, spec in mapping(data.get("predicates", {}), "predicates").items():
        where = f"predicates.{name}"
        spec = mapping(spec, where)
        if name in kinds:
            raise fail(where, "an attribute kind of the same name is already a HAS_VALUE predicate")
        missing = [key for key in ("relation", "subject", "objects") if key not in spec]
        if missing:
            raise fail(where, f"missing {', '.join(missing)}")
        relation = str(spec["relation"])
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", relation):
            raise fail(f"{where}.relation", f"{relation!r} is not an upper-case relationship name")
        objects = spec["objects"] if isinstance(spec["objects"], list) else [spec["objects"]]
        for label in [spec["subject"], *objects]:
            if label not in NODE_LABELS:
                raise fail(where, f"unknown node label {label!r}; the store has {', '.join(NODE_LABELS)}")
        properties = []
        for prop, kind in mapping(spec.get("properties", {}), f"{where}.properties").items():
            if not _KIND_NAME.fullmatch(str(prop)) or prop in ("predicate", "confidence", "provenance", "updated_at", "src", "dst"):
                raise fail(f"{where}.properties.{prop}", "a property is a lower-case identifier, not a built-in edge column")
            if kind not in PROPERTY_TYPES:
                raise fail(f"{where}.properties.{prop}", f"type {kind!r} is not one of {', '.join(PROPERTY_TYPES)}")
            properties.append((str(prop), kind))
        predicates[name] = Predicate(name, relation, spec["subject"], tuple(objects), str(spec.get("description", "")),
                                     tuple(properties))
    if VALUE_RELATION in {p.relation for p in predicates.values()}:
        raise fail("predicates", f"{VALUE_RELATION} is reserved for the attribute kinds")

    categories: dict[str, frozenset[str]] = {}
    for category, applicable in mapping(data.get("categories", {}), "categories").items():
        where = f"categories.{category}"
        if not isinstance(applicable, list):
            raise fail(where, "expected a list of attribute kinds")
        unknown_kinds = [k for k in applicable if k not in kinds]
        if unknown_kinds:
            raise fail(where, f"unknown attribute kind(s) {', '.join(map(str, unknown_kinds))}")
        categories[str(category).strip().lower()] = frozenset(applicable)

    labels: dict[str, str] = {}
    for label, meaning in mapping(data.get("labels", {}), "labels").items():
        if meaning not in ROLES and meaning not in kinds:
            raise fail(f"labels.{label}", f"{meaning!r} is neither a role ({', '.join(ROLES)}) nor an attribute kind")
        labels[str(label)] = meaning

    factor = data.get("off_category_factor", 0.5)
    if not isinstance(factor, int | float) or not 0.0 <= factor <= 1.0:
        raise fail("off_category_factor", f"expected a number in [0, 1], got {factor!r}")
    return Ontology(kinds, predicates, categories, labels, float(factor), source)
