"""A Label Studio ML backend: annotators see the tagger's spans as predictions while they label,
and the tagger retrains on what they submit.

It answers Label Studio's ML backend protocol (the routes of ``label-studio-ml``'s server):
``GET /health``, ``POST /setup`` (connecting a project: the model version), ``POST /predict``
(tasks in, one prediction per task out) and ``POST /webhook`` (``ANNOTATION_CREATED``,
``ANNOTATION_UPDATED``, ``ANNOTATION_DELETED``, ``START_TRAINING``); ``POST /train`` takes the
older servers' training call (the project's annotated tasks).

Retraining is the fast way: the character CRF member (:mod:`skugraph.tagging.crf_member`) is
trained again on the base training data plus every annotation so far, beside the same neural
tagger, in a background thread after every ``retrain_every`` new annotations. ``/predict``
keeps answering with the model it has; the new one replaces it (with a new model version)
once it is trained, and a failed retrain is logged while the old model keeps serving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from skugraph.corpus.ner import LabelledText, Span, read_labelled
from skugraph.labelling.tasks import LabelConfig, model_version, prediction, read_label_config
from skugraph.tagging.crf_member import CrfFeatures, CrfMember
from skugraph.tagging.crf_tagger import CrfTagger
from skugraph.tagging.ensemble import ENSEMBLE, EnsembleTagger
from skugraph.tagging.tagger import Tagger, load_tagger

log = logging.getLogger(__name__)

#: the webhook events that carry annotations (with their tasks), the one that deletes them, and the one that asks for training now
ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")
DELETED = "ANNOTATIONS_DELETED"
START_TRAINING = "START_TRAINING"


def task_text(task: dict, config: LabelConfig) -> str:
    """The text a task shows (``data[config.data_key]``); ``ValueError`` naming the task when it has none."""
    text = (task.get("data") or {}).get(config.data_key)
    if not isinstance(text, str):
        raise ValueError(f"task {task.get('id', '?')}: no text under data.{config.data_key}")
    return text


def annotated_text(task: dict, annotation: dict, config: LabelConfig) -> LabelledText | None:
    """An annotation's spans over its task's text (None for a skipped task); ``ValueError`` for a
    region outside the text."""
    if annotation.get("was_cancelled"):
        return None
    text = task_text(task, config)
    spans = []
    for region in annotation.get("result") or []:
        value = region.get("value") or {}
        if region.get("from_name") != config.from_name or "start" not in value or not value.get("labels"):
            continue
        start, end = value["start"], value.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise ValueError(f"task {task.get('id', '?')}: region {start!r}-{end!r} is not within its text of {len(text)} characters")
        spans.append(Span(start, end, value["labels"][0]))
    return LabelledText(text, tuple(sorted(spans, key=lambda s: (s.start, s.end))), str(task.get("id", "")))


def retrain_crf(tagger: Tagger | EnsembleTagger | CrfTagger, data: Sequence[LabelledText]) -> EnsembleTagger | CrfTagger:
    """The tagger's neural part beside a CRF member trained afresh on ``data`` (spans of labels the
    tagger does not know are left out), weighted and calibrated as the model's own ensemble was
    (an even mix where it had none); a CRF alone (a distilled :class:`CrfTagger`) is trained
    afresh with its own features and temperature. The CRF trains in a child process at a lower
    priority: in this one crfsuite would hold the interpreter for a whole L-BFGS iteration at a time (seconds
    on a few thousand titles), and every request the server answers meanwhile would wait."""
    neural = tagger.neural if isinstance(tagger, EnsembleTagger) else tagger
    section = neural.meta.get(ENSEMBLE) or {}
    known = {tag.partition("-")[2] for tag in neural.config.tags} - {""}
    data = [LabelledText(d.text, tuple(s for s in d.spans if s.label in known), d.id) for d in data]
    if not any(d.spans for d in data):
        raise ValueError("no span of a label the model knows to train on")
    if isinstance(tagger, CrfTagger):
        words, window = tagger.crf.features.segmenter is not None, tagger.crf.features.window
    else:
        words = section.get("crf", {}).get("words", neural.config.word_features)
        window = section.get("crf", {}).get("window", 2)  # the CRF's character window as the model was trained
    with (tempfile.TemporaryDirectory(prefix="skugraph-crf-") as directory,
          ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool):
        pool.submit(_train_crf, data, neural.config.tags, neural.config.scheme, neural.lexicon_words, words, window,
                    directory).result()
        crf = CrfMember.load(Path(directory), neural.config.tags, CrfFeatures(neural.lexicon_words, words, window))
    if isinstance(tagger, CrfTagger):
        return CrfTagger(crf, replace(tagger.config), tagger.lexicon_words, tagger.meta)
    if isinstance(tagger, EnsembleTagger):
        return EnsembleTagger(neural, crf, tagger.temperature, tagger.crf_weight)
    return EnsembleTagger(neural, crf, section.get("temperature", 1.0), section.get("crf_weight", 0.5))


def _train_crf(data: list[LabelledText], tags: list[str], scheme: str, lexicon_words: dict[str, list[str]], words: bool,
               window: int, directory: str) -> None:
    """(In the child process) train the CRF member and save it in ``directory``."""
    os.nice(10)
    CrfMember.train(data, tags, scheme, CrfFeatures(lexicon_words, words, window)).save(Path(directory))


def base_training_data(meta: dict, train_data: Path | None) -> tuple[list[LabelledText], Path | None]:
    """The labelled texts a retrain starts from: ``train_data``, else the file the model was trained
    on (``meta``: its metadata); returns them and the file read. A recorded file that is not
    there is a ``ValueError``: a retrain on the annotations alone would forget what the model learnt."""
    fmt = None
    if train_data is None:
        recorded = meta.get("train", {}).get("path")
        if not recorded:
            return [], None
        if not Path(recorded).is_file():
            raise ValueError(f"the model was trained on {recorded}, which is not there (from {Path.cwd()}): give "
                             "--train-data FILE, or a retrain on the annotations alone forgets what the model learnt")
        train_data, fmt = Path(recorded), meta.get("settings", {}).get("format")
    return read_labelled(train_data, fmt, strict=True), train_data


def _version(name: str, annotated: Sequence[LabelledText]) -> str:
    """The model version after a retrain: the model's name, how many annotations, and a digest of them."""
    digest = hashlib.sha256()
    for item in sorted(annotated, key=lambda t: (t.id, t.text)):
        digest.update(repr((item.text, [(s.start, s.end, s.label) for s in item.spans])).encode("utf-8"))
    return f"{name}+{len(annotated)}-{digest.hexdigest()[:8]}"


def _project_id(project: Any) -> str:
    """A project's id from what Label Studio sends: ``"3.1701234567"`` (id.created-at), ``3`` or ``{"id": 3, …}``."""
    if isinstance(project, dict):
        project = project.get("id")
    return "" if project is None else str(project).split(".", 1)[0]


class LabellingBackend:
    """The model Label Studio's project sees, the annotations submitted so far and the retrains
    they start. ``fetch``: a project id to every annotated text Label Studio holds for it (then a
    retrain reads them all, not only those the webhooks carried)."""

    def __init__(self, tagger: Tagger | EnsembleTagger | CrfTagger, name: str, base: Sequence[LabelledText] = (),
                 retrain_every: int = 5, fetch: Callable[[str], list[LabelledText]] | None = None):
        if retrain_every < 1:
            raise ValueError(f"--retrain-every must be at least 1, not {retrain_every}")
        self.tagger = tagger
        self.name = self.model_version = name
        self.base = list(base)
        self.base_source: Path | None = None  # the file the base data was read from
        self.retrain_every = retrain_every
        self.fetch = fetch
        self.configs: dict[str, LabelConfig] = {}  # project → its labelling config, as last seen
        self.annotations: dict[tuple[str, str], LabelledText] = {}  # (project, task) → its annotation
        self._annotation_tasks: dict[str, tuple[str, str]] = {}  # annotation id → its (project, task)
        self.new = 0  # annotation events since the last retrain was asked for
        self.retrains = 0
        self.last_error: str | None = None
        self._state = threading.Lock()
        self._predicting = threading.Lock()  # crfsuite's tagger is not for two threads at once
        self._training = threading.Event()
        self._again = False  # annotations came while training: train once more after

    @classmethod
    def load(cls, model: Path, train_data: Path | None = None, retrain_every: int = 5, runtime: str = "torch",
             fetch: Callable[[str], list[LabelledText]] | None = None) -> LabellingBackend:
        """The backend of a model directory, named as ``label suggest`` names it
        (:func:`~skugraph.labelling.tasks.model_version`); a retrain starts from ``train_data``
        (default: the file the model was trained on, where it is still there)."""
        tagger = load_tagger(model, runtime)
        base, source = base_training_data(tagger.meta, train_data)
        backend = cls(tagger, model_version(tagger, model), base, retrain_every, fetch)
        backend.base_source = source
        return backend

    def config(self, project: Any, label_config: str | None = None) -> LabelConfig:
        """The project's labelling config: ``label_config`` read and kept, else the one last seen."""
        key = _project_id(project)
        if label_config:
            self.configs[key] = read_label_config(label_config)
        return self.configs.get(key) or LabelConfig()

    def predict(self, tasks: Sequence[dict], config: LabelConfig) -> list[dict]:
        """One prediction per task: the model's spans of its text as regions of ``config``'s control
        (labels the config does not offer are left out)."""
        texts = [task_text(task, config) for task in tasks]
        with self._state:
            tagger, version = self.tagger, self.model_version
        with self._predicting:
            found = tagger.predict(texts)
        names = {"from_name": config.from_name, "to_name": config.to_name}
        out = []
        for text, spans in zip(texts, found, strict=True):
            kept = [(s.start, s.end, s.label, s.score) for s in spans if not config.labels or s.label in config.labels]
            predicted = prediction(text, kept, version)
            out.append(predicted | {"result": [region | names for region in predicted["result"]]})
        return out

    def keep(self, project: Any, task: dict, annotation: dict, config: LabelConfig) -> None:
        """Keep a task's annotation (the task's last one counts; a skipped task has none)."""
        key = (_project_id(project), str(task.get("id", "")))
        item = annotated_text(task, annotation, config)
        with self._state:
            if item is None:
                self.annotations.pop(key, None)
            else:
                self.annotations[key] = item
                if annotation.get("id") is not None:
                    self._annotation_tasks[str(annotation["id"])] = key

    def forget(self, annotation_ids: Sequence[Any]) -> None:
        """Drop deleted annotations (by their ids)."""
        with self._state:
            for key in (self._annotation_tasks.pop(str(i), None) for i in annotation_ids):
                self.annotations.pop(key, None)

    def count(self, new: int) -> bool:
        """Count ``new`` annotation events; a retrain starts after every ``retrain_every`` of them.
        Returns whether one started."""
        with self._state:
            self.new += new
            due = self.new >= self.retrain_every
        return self.retrain_soon() if due else False

    def retrain_soon(self) -> bool:
        """Retrain in a background thread (once more after the running one, if one runs); returns
        whether a thread started."""
        with self._state:
            self.new = 0
            if self._training.is_set():
                self._again = True
                return False
            self._training.set()
        threading.Thread(target=self._retrain_loop, name="skugraph-retrain", daemon=True).start()
        return True

    def _retrain_loop(self) -> None:
        while True:
            try:
                self.retrain()
            except Exception as error:  # the model serving stays; the failure is reported by /health
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("retrain failed; %s keeps serving", self.model_version)
            with self._state:
                if not self._again:
                    self._training.clear()
                    return
                self._again = False

    def retrain(self) -> str:
        """Train the CRF member on the base data plus every annotation (with all of each project's
        that ``fetch`` reads) and serve the new model; returns its version."""
        with self._state:
            projects = sorted(p for p in {project for project, _ in self.annotations} | set(self.configs) if p)
        for project in projects if self.fetch else ():
            try:
                fetched = self.fetch(project)
            except Exception as error:
                log.warning("could not read project %s's annotations from Label Studio (%s); training on those the "
                            "webhooks sent", project, error)
                continue
            with self._state:  # Label Studio's annotations, and those only the webhooks brought (the export may predate the last)
                self.annotations |= {(project, item.id): item for item in fetched}
        with self._state:
            annotated = list(self.annotations.values())
        if not annotated:
            raise ValueError("no annotations to train on yet")
        version = _version(self.name, annotated)
        if version == self.model_version:
            return version  # trained on these already (a webhook and START_TRAINING for the same annotation)
        began = time.perf_counter()
        tagger = retrain_crf(self.tagger, [*self.base, *annotated])
        with self._state:
            self.tagger, self.model_version = tagger, version
            self.retrains += 1
            self.last_error = None
        log.info("retrained on %d base texts and %d annotations in %.1f s: now serving %s",
                 len(self.base), len(annotated), time.perf_counter() - began, version)
        return version

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no retrain runs (at most ``timeout`` seconds); returns whether none does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._training.is_set():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def health(self) -> dict:
        return {"status": "UP", "model_class": "skugraph", "model_version": self.model_version,
                "training": self._training.is_set(), "annotations": len(self.annotations), "retrains": self.retrains,
                "last_error": self.last_error}


def label_studio_fetcher(url: str, api_key: str, backend: LabellingBackend) -> Callable[[str], list[LabelledText]]:
    """A ``fetch`` for :class:`LabellingBackend`: a project's annotated tasks exported from the Label
    Studio at ``url`` (the official SDK), read with the project's labelling config."""
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url, api_key=api_key)

    def fetch(project: str) -> list[LabelledText]:
        tasks = json.loads(b"".join(client.projects.exports.download_sync(int(project), export_type="JSON")))
        config = backend.config(project)
        out = []
        for task in tasks:
            done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
            item = annotated_text(task, done[0], config) if done else None
            if item is not None:
                out.append(item)
        return out

    return fetch


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    tasks: list[dict]
    project: str | int | None = None
    label_config: str | None = None


class SetupRequest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    project: str | int | None = None
    label_config: str | None = Field(None, alias="schema")


class WebhookRequest(BaseModel):
    """Label Studio's webhook payload: one annotation and its task, or lists of them
    (``ANNOTATIONS_CREATED``); deleted annotations' ids under ``annotations``."""

    model_config = ConfigDict(extra="allow")
    action: str
    project: dict | None = None
    task: dict | list[dict] | None = None
    annotation: dict | list[dict] | None = None
    annotations: list[dict] | None = None


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    annotations: list[dict] = []
    project: str | int | None = None
    label_config: str | None = None


def create_app(backend: LabellingBackend) -> FastAPI:
    """Label Studio's ML backend routes over ``backend``; a bad request is a 400 whose ``detail``
    names the task or field."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="skugraph labelling backend")

    @app.exception_handler(ValueError)
    def bad_request(request: Request, error: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.get("/")
    @app.get("/health")
    def health() -> dict:
        return backend.health()

    @app.post("/setup")
    def setup(request: SetupRequest) -> dict:
        backend.config(request.project, request.label_config)
        return {"model_version": backend.model_version}

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict:
        results = backend.predict(request.tasks, backend.config(request.project, request.label_config))
        return {"results": results, "model_version": backend.model_version}

    @app.post("/webhook", status_code=201)
    def webhook(request: WebhookRequest) -> dict:
        project = request.project or {}
        config = backend.config(project, project.get("label_config"))
        if request.action == START_TRAINING:
            return {"status": "ok", "training": backend.retrain_soon()}
        if request.action == DELETED:
            backend.forget([a.get("id") for a in request.annotations or []])
            return {"status": "ok", "training": backend.count(len(request.annotations or []))}
        if request.action not in ANNOTATION_EVENTS:
            return {"status": "ignored", "action": request.action}
        annotations, tasks = _listed(request.annotation), {t.get("id"): t for t in _listed(request.task)}
        for annotation in annotations:
            task = tasks.get(annotation.get("task")) or (next(iter(tasks.values())) if len(tasks) == 1 else None)
            if task is None:
                raise ValueError(f"{request.action}: annotation {annotation.get('id', '?')} without its task")
            backend.keep(project, task, annotation, config)
        return {"status": "ok", "training": backend.count(len(annotations))}

    @app.post("/train", status_code=201)
    def train(request: TrainRequest) -> dict:
        config = backend.config(request.project, request.label_config)
        for task in request.annotations:
            done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
            if done:
                backend.keep(request.project, task, done[0], config)
        return {"status": "ok", "training": backend.retrain_soon()}

    return app


def _listed(value: dict | list[dict] | None) -> list[dict]:
    return [] if value is None else [value] if isinstance(value, dict) else list(value)
