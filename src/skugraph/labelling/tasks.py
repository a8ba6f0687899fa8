"""Label Studio tasks for span labelling: the labelling config, tasks with pre-annotations,
and doccano JSONL for the same suggestions.

A task is ``{"data": {"text": …, "listing": id}, "predictions": [{"model_version": …, "score": …,
"result": [region, …]}]}``; a region is one span: ``{"from_name": "label", "to_name": "text",
"type": "labels", "value": {"start", "end", "text", "labels": [label]}, "score": p}``. The same
shape serves the ML backend's ``/predict`` answer and annotations read back by
:func:`skugraph.corpus.ner.read_label_studio`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

if TYPE_CHECKING:
    from skugraph.facts.ontology import Ontology

FROM_NAME = "label"  # the <Labels> control
TO_NAME = "text"  # the <Text> object, and the task's data key

# a colour per label, cycled (Label Studio shows each label's spans in its colour)
_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4",
            "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075")


def labelling_config(labels: Sequence[str], hints: Mapping[str, str] | None = None) -> str:
    """The Label Studio labelling config (XML) for span labels over a task's ``data.text``;
    ``hints``: what a label means, shown on hover (a data set's ``37`` is ``compatible_brand``)."""
    if not labels:
        raise ValueError("a labelling config needs at least one label")
    hints = hints or {}
    items = "\n".join(f"    <Label value={quoteattr(label)} background={quoteattr(_COLOURS[n % len(_COLOURS)])}"
                      + (f" hint={quoteattr(hints[label])}" if hints.get(label) else "") + "/>"
                      for n, label in enumerate(labels))
    return (f'<View>\n  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n{items}\n  </Labels>\n'
            f'  <Text name="{TO_NAME}" value="${TO_NAME}" granularity="symbol"/>\n</View>\n')


@dataclass(frozen=True)
class LabelConfig:
    """What a project's labelling config says about span labels: the ``<Labels>`` control's name
    (``from_name``), the ``<Text>`` object it labels (``to_name``), the task data key that object
    shows, and the labels the control offers (empty: any)."""

    from_name: str = FROM_NAME
    to_name: str = TO_NAME
    data_key: str = TO_NAME
    labels: tuple[str, ...] = ()


def read_label_config(xml: str | None) -> LabelConfig:
    """The span-labelling part of a Label Studio labelling config (the defaults of
    :mod:`skugraph.labelling.tasks` when there is none); ``ValueError`` for a config without
    ``<Labels>`` on a ``<Text>``."""
    if not xml:
        return LabelConfig()
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise ValueError(f"the labelling config is not XML: {error}") from None
    objects = {element.get("name"): element for element in root.iter() if element.tag == "Text"}
    for control in root.iter("Labels"):
        target = objects.get(control.get("toName"))
        if target is not None:
            labels = tuple(label.get("value") for label in control.iter("Label") if label.get("value"))
            return LabelConfig(control.get("name", FROM_NAME), target.get("name"), target.get("value", "").lstrip("$"), labels)
    raise ValueError("the labelling config has no <Labels> control on a <Text> object")


def label_hints(labels: Iterable[str], ontology: Ontology | None = None) -> dict[str, str]:
    """What each label means in the ontology (its role or attribute kind, with the kind's Chinese
    name), for labels whose name does not say it."""
    from skugraph.facts.ontology import load_ontology

    ontology = ontology or load_ontology()
    hints = {}
    for label in labels:
        meaning = ontology.meaning(label)
        if meaning.startswith("attr_"):  # a label the ontology does not know
            continue
        name = " ".join(part for part in (meaning if meaning != label else "", ontology.attribute_kinds.get(meaning, "")) if part)
        if name:
            hints[label] = name
    return hints


def region(text: str, start: int, end: int, label: str, score: float | None = None) -> dict:
    """One labelled span as a Label Studio result region."""
    value = {"start": start, "end": end, "text": text[start:end], "labels": [label]}
    out = {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels", "value": value}
    return out | ({"score": round(float(score), 4)} if score is not None else {})


def model_version(tagger, path: str | Path) -> str:
    """How a prediction names the model that made it, alike in ``label suggest``'s tasks and ``label
    serve``'s answers: the model directory's name and the first 12 hex digits of its training file's
    SHA-256 as its metadata records it (``tagger@3f2a9c01b7d4``; the name alone where none is recorded)."""
    digest = str(tagger.meta.get("train", {}).get("sha256", ""))[:12]
    name = Path(path).resolve().name
    return f"{name}@{digest}" if digest else name


def prediction(text: str, spans: Iterable[tuple[int, int, str, float]], model_version: str) -> dict:
    """A pre-annotation: the model's ``(start, end, label, score)`` spans of ``text``; its score is the
    lowest span score (1.0 with no span)."""
    spans = list(spans)
    return {"model_version": model_version, "score": round(min((s[3] for s in spans), default=1.0), 4),
            "result": [region(text, start, end, label, score) for start, end, label, score in spans]}


def task(text: str, listing: str = "", predictions: Sequence[dict] = (), **meta) -> dict:
    """A Label Studio task for ``text`` (``listing``: its listing id; ``meta``: more data fields,
    e.g. why it was suggested)."""
    data = {TO_NAME: text} | ({"listing": listing} if listing else {}) | meta
    return {"data": data} | ({"predictions": list(predictions)} if predictions else {})


def write_tasks(tasks: Sequence[dict], path: str | Path) -> Path:
    """Tasks as one JSON array (what Label Studio's import takes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(tasks), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def write_doccano_tasks(tasks: Sequence[dict], path: str | Path) -> Path:
    """The same tasks as doccano JSONL (``text``, ``label`` triples from the first prediction)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for item in tasks:
            first = (item.get("predictions") or [{}])[0]
            labels = [[r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]] for r in first.get("result", [])]
            record = {"text": item["data"][TO_NAME], "label": labels} | (
                {"listing": item["data"]["listing"]} if "listing" in item["data"] else {})
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
