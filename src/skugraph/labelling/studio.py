"""Label Studio through its official SDK (``label-studio-sdk``): :func:`push` tasks with their
pre-annotations into a project, created with a labelling config made from the labels or, when it
exists, with the new labels added to its config; :func:`pull` what annotators submitted as
:class:`~skugraph.corpus.ner.LabelledText` training data (read by
:func:`skugraph.corpus.ner.read_label_studio`). Every failure to reach or use the server is a
:class:`StudioError` with a one-line message."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skugraph.corpus.ner import LabelledText, NerFormatError, read_label_studio
from skugraph.labelling.tasks import FROM_NAME, TO_NAME, label_hints, labelling_config, read_label_config

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

    from skugraph.facts.ontology import Ontology


class StudioError(ValueError):
    """Label Studio could not be reached, refused the key, or answered with an error."""


@dataclass(frozen=True)
class Pushed:
    """What :func:`push` did: the project (``created`` or updated), its labels, what was imported."""

    project: int
    url: str  # the project's page
    created: bool
    labels: tuple[str, ...]
    added_labels: tuple[str, ...]  # labels the project's config did not have before
    tasks: int
    predictions: int
    already: int  # tasks left out: their title is in the project already


@dataclass(frozen=True)
class Pulled:
    """What :func:`pull` exported: the annotated tasks as training texts (ids: their listings'), how many tasks were
    skipped by every annotator (left out), of how many in the project; ``rejected``: exported tasks
    that could not be read (a message each)."""

    texts: list[LabelledText]
    skipped: int
    total: int
    rejected: list[str] = field(default_factory=list)


def read_tasks(path: str | Path) -> list[dict]:
    """Label Studio tasks from a JSON array (what ``skugraph label suggest`` writes); ValueError naming
    the file and the task that has no ``data.text``."""
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(tasks, list):
        raise ValueError(f"{path}: expected a JSON array of Label Studio tasks")
    for number, item in enumerate(tasks, 1):
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get(TO_NAME), str):
            raise ValueError(f"{path}: task {number} has no data.{TO_NAME} string")
    return tasks


def prediction_labels(tasks: Iterable[dict]) -> list[str]:
    """The span labels the tasks' pre-annotations use, in first-seen order."""
    seen: dict[str, None] = {}
    for item in tasks:
        for pred in item.get("predictions", []):
            for result in pred.get("result", []):
                seen.update(dict.fromkeys(result.get("value", {}).get("labels", [])))
    return list(seen)


def ontology_labels(ontology: Ontology) -> list[str]:
    """The span labels an ontology names: its mention labels (``brand``, ``product_type`` … and a data
    set's own codes), then its attribute kinds."""
    return list(dict.fromkeys([*ontology.labels, *ontology.attribute_kinds]))


def config_labels(config: str) -> list[str]:
    """The labels of a labelling config's span control (``<Labels name="label" toName="text">``);
    empty when it has none."""
    try:
        read = read_label_config(config or "<View/>")
    except ValueError:
        return []
    return list(read.labels) if (read.from_name, read.to_name) == (FROM_NAME, TO_NAME) else []


def push(url: str, api_key: str, title: str, tasks: Sequence[dict], labels: Sequence[str]) -> Pushed:
    """Create the project ``title`` (or update it: labels it lacks are added to its config) and import
    ``tasks`` with their predictions as pre-annotations, but those whose title the project has already."""
    if not tasks:
        raise ValueError("no tasks to push")
    wanted = list(dict.fromkeys([*labels, *prediction_labels(tasks)]))
    with _calling(url):
        client = _client(url, api_key)
        project = _find_project(client, title)
        if project is None:
            project = client.projects.create(title=title, label_config=labelling_config(wanted, label_hints(wanted)))
            created, added, now = True, wanted, wanted
        else:
            before = config_labels(project.label_config or "")
            added = [label for label in wanted if label not in before]
            now = before + added
            if added:
                client.projects.update(project.id, label_config=labelling_config(now, label_hints(now)))
            created = False
        listed = [] if created else client.tasks.list(project=project.id, include="id,data")
        there = {item.data.get(TO_NAME) for item in listed}
        new = [item for item in tasks if item["data"][TO_NAME] not in there]
        answer = client.projects.import_tasks(project.id, request=new) if new else None
    imported, predictions = (answer.task_count or 0, answer.prediction_count or 0) if answer else (0, 0)
    return Pushed(project.id, f"{url.rstrip('/')}/projects/{project.id}", created, tuple(now), tuple(added),
                  imported, predictions, len(tasks) - len(new))


def pull(url: str, api_key: str, title: str, export: str | Path | None = None) -> Pulled:
    """The project's annotated tasks as training texts (each task's first submitted annotation;
    tasks every annotator skipped are left out), each with its listing's id (:func:`training_texts`).
    ``export``: keep Label Studio's export there (JSONL, cancelled annotations dropped); by default
    it goes to a temporary file."""
    with _calling(url):
        client = _client(url, api_key)
        project = _find_project(client, title)
        if project is None:
            raise StudioError(f"no project titled {title!r} at {url}")
        exported = json.loads(b"".join(client.projects.exports.download_sync(project.id, export_type="JSON")))
        total = client.projects.get(project.id).task_number or 0
    submitted = [item | {"annotations": kept} for item in exported
                 if (kept := [a for a in item.get("annotations", []) if not a.get("was_cancelled")])]
    with tempfile.TemporaryDirectory() as scratch:
        texts, rejected = training_texts(submitted, Path(export) if export else Path(scratch) / "export.jsonl")
    return Pulled(texts, len(exported) - len(submitted), total, rejected)


def training_texts(exported: Sequence[dict], path: str | Path) -> tuple[list[LabelledText], list[str]]:
    """Exported tasks, written to ``path`` (JSONL) and read back as training texts (the first
    annotation of each), with a message for each task that cannot be read. A text's id is its
    listing's, the ``data.listing`` that tasks from ``label suggest`` (and ``label push`` of them)
    carry; a task without one (imported some other way) keeps its Label Studio task id."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in exported), encoding="utf-8")
    listings = {str(item.get("id", "")): listing for item in exported
                if isinstance(item.get("data"), dict) and (listing := item["data"].get("listing"))}
    rejected: list[NerFormatError] = []
    texts = [replace(text, id=str(listings.get(text.id, text.id))) for text in read_label_studio(path, on_error=rejected.append)]
    return texts, [str(error) for error in rejected]


def _client(url: str, api_key: str) -> LabelStudio:
    from label_studio_sdk import LabelStudio

    if not url.startswith(("http://", "https://")):
        raise StudioError(f"Label Studio URL {url!r} must start with http:// or https://")
    if not api_key:
        raise StudioError("no Label Studio API key: pass --api-key or set LABEL_STUDIO_API_KEY")
    return LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=120)


def _find_project(client: LabelStudio, title: str) -> Any:
    """The project titled exactly ``title`` (the API's filter matches parts of titles), else None."""
    matches = [project for project in client.projects.list(title=title) if project.title == title]
    if len(matches) > 1:
        raise StudioError(f"{len(matches)} projects are titled {title!r} (ids {', '.join(str(p.id) for p in matches)})")
    return client.projects.get(matches[0].id) if matches else None


@contextmanager
def _calling(url: str) -> Iterator[None]:
    """The SDK's and HTTP failures as one-line :class:`StudioError` messages."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as error:
        if error.status_code in (401, 403):
            raise StudioError(f"Label Studio at {url} refused the API key (HTTP {error.status_code}): "
                              "check --api-key or LABEL_STUDIO_API_KEY") from None
        raise StudioError(f"Label Studio at {url} answered HTTP {error.status_code}: {_detail(error.body)}") from None
    except httpx.HTTPError as error:
        raise StudioError(f"cannot reach Label Studio at {url}: {error or type(error).__name__}") from None


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("validation_errors")
        return json.dumps(errors, ensure_ascii=False) if errors else str(body.get("detail", body))
    return str(body)[:300]
