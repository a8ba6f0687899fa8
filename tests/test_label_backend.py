"""The Label Studio ML backend (skugraph label serve): its protocol (/health, /setup, /predict,
/webhook, /train) on a tiny tagger, a retrain started by annotations that changes the predictions,
/predict answering while a retrain runs, a failed retrain leaving the old model serving; and the
round trip against a real Label Studio server where the ``label_studio`` fixture starts one."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import TINY_TITLES as TITLES
from fastapi.testclient import TestClient

from skugraph.corpus.ner import LabelledText, write_doccano
from skugraph.labelling import backend as backend_module
from skugraph.labelling.backend import (
    LabelConfig,
    LabellingBackend,
    annotated_text,
    base_training_data,
    create_app,
    label_studio_fetcher,
    read_label_config,
    retrain_crf,
)
from skugraph.labelling.server import LabelStudioServer, free_port
from skugraph.labelling.tasks import labelling_config
from skugraph.tagging.tagger import load_tagger
from skugraph.tagging.train import TrainTaggerConfig, train_tagger

#: titles the annotators teach: brands and colours the base titles never show
TAUGHT = [
    ("OPPO Find X7 紫色 手机", [("OPPO", "brand"), ("紫色", "colour"), ("手机", "product")]),
    ("格力 空调 金色 挂机", [("格力", "brand"), ("空调", "product"), ("金色", "colour")]),
]
#: how predictions name the fixture's model: its directory and its training file's hash
VERSION = r"model@[0-9a-f]{12}"
#: a project's config that names its control and text differently from skugraph's own
CUSTOM_CONFIG = ('<View><Labels name="ner" toName="title"><Label value="brand"/><Label value="product"/></Labels>'
                 '<Text name="title" value="$title"/></View>')


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One epoch of the network beside a CRF that learns the titles (an ensemble directory), as in test_ensemble."""
    directory = tmp_path_factory.mktemp("backend")
    write_doccano([LabelledText.from_words(t, e) for t, e in TITLES], directory / "train.jsonl")
    config = TrainTaggerConfig(train=directory / "train.jsonl", dev=directory / "train.jsonl", out=directory / "model",
                               base_model="scratch:tiny", epochs=1, batch_size=4, patience=1, learning_rate=1e-3,
                               head_learning_rate=1e-2, window=16, stride=8)
    train_tagger(config)
    return directory / "model"


def _client(trained: Path, **options) -> tuple[LabellingBackend, TestClient]:
    backend = LabellingBackend.load(trained, runtime="torch", **options)
    return backend, TestClient(create_app(backend))


def _task(number: int, text: str, key: str = "text") -> dict:
    return {"id": number, "data": {key: text}}


def _regions(text: str, words: list[tuple[str, str]]) -> list[dict]:
    """An annotator's regions for ``words`` of ``text`` (skugraph's own control and text names)."""
    return [{"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": s.start, "end": s.end, "text": text[s.start:s.end], "labels": [s.label]}}
            for s in LabelledText.from_words(text, words).spans]


def _annotation(number: int, text: str, words: list[tuple[str, str]]) -> dict:
    """An annotation as Label Studio's webhook sends it."""
    return {"id": 100 + number, "task": number, "result": _regions(text, words), "was_cancelled": False}


def _created(number: int, text: str, words: list[tuple[str, str]]) -> dict:
    project = {"id": 3, "label_config": labelling_config(["brand", "colour", "product"])}
    return {"action": "ANNOTATION_CREATED", "project": project, "task": _task(number, text), "annotation": _annotation(number, text, words)}


def _spans(client: TestClient, text: str) -> list[tuple[int, int, str]]:
    answer = client.post("/predict", json={"tasks": [_task(1, text)], "project": "3.1700000000"}).json()
    return [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in answer["results"][0]["result"]]


def _gold(text: str, words: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.label) for s in LabelledText.from_words(text, words).spans]


# -- without a model --------------------------------------------------------------------------

def test_the_label_config_says_which_control_labels_which_text():
    assert read_label_config(CUSTOM_CONFIG) == LabelConfig("ner", "title", "title", ("brand", "product"))
    assert read_label_config(labelling_config(["brand"])) == LabelConfig("label", "text", "text", ("brand",))
    assert read_label_config(None) == LabelConfig()
    with pytest.raises(ValueError, match="no <Labels> control"):
        read_label_config('<View><Choices name="c" toName="text"/><Text name="text" value="$text"/></View>')
    with pytest.raises(ValueError, match="not XML"):
        read_label_config("<View>")


def test_an_annotation_becomes_labelled_text_of_its_task():
    text, words = TAUGHT[0]
    config = LabelConfig()
    annotation = _annotation(7, text, words)
    annotation["result"].append({"from_name": "other", "to_name": "text", "value": {"start": 0, "end": 1, "labels": ["x"]}})
    item = annotated_text(_task(7, text), annotation, config)
    assert item.id == "7" and item.span_texts() == words  # the other control's region is not ours
    assert annotated_text(_task(7, text), annotation | {"was_cancelled": True}, config) is None
    annotation["result"][0]["value"]["end"] = 99
    with pytest.raises(ValueError, match="task 7: region 0-99 is not within its text"):
        annotated_text(_task(7, text), annotation, config)
    annotation["result"][0]["value"]["end"] = "4"
    with pytest.raises(ValueError, match="task 7: region 0-.4. is not within its text"):
        annotated_text(_task(7, text), annotation, config)
    with pytest.raises(ValueError, match="task 8: no text under data.text"):
        annotated_text({"id": 8, "data": {"title": text}}, annotation, config)


def test_a_model_whose_training_file_is_gone_asks_for_train_data(tmp_path):
    meta = {"train": {"path": str(tmp_path / "gone.jsonl")}}
    with pytest.raises(ValueError, match="gone.jsonl, which is not there .*give --train-data FILE"):
        base_training_data(meta, None)
    kept = tmp_path / "kept.jsonl"
    kept.write_text(json.dumps({"text": "华为手机", "label": [[0, 2, "brand"]]}, ensure_ascii=False) + "\n", encoding="utf-8")
    texts, source = base_training_data(meta, kept)  # the file given wins
    assert source == kept and [t.span_texts() for t in texts] == [[("华为", "brand")]]


# -- the protocol on a tiny model -------------------------------------------------------------

def test_health_and_setup_name_the_model_version(trained):
    backend, client = _client(trained)
    health = client.get("/health").json()
    assert health["status"] == "UP" and re.fullmatch(VERSION, health["model_version"]) and health["training"] is False
    assert len(backend.base) == len(TITLES) and backend.base_source == trained.parent / "train.jsonl"  # the model's own training file
    setup = client.post("/setup", json={"project": "3.1700000000", "schema": CUSTOM_CONFIG, "hostname": "http://localhost:8080"})
    assert setup.status_code == 200 and setup.json() == {"model_version": health["model_version"]}
    assert backend.configs["3"].from_name == "ner"


def test_serve_and_suggest_name_one_model_alike(trained, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from skugraph.cli import app

    (tmp_path / "titles.txt").write_text("\n".join(t for t, _ in TITLES) + "\n", encoding="utf-8")
    monkeypatch.chdir(trained)  # the model given as ".": still named by its directory
    result = CliRunner().invoke(app, ["label", "suggest", "--model", ".", "--listings", str(tmp_path / "titles.txt"), "--k", "2",
                                      "--out", str(tmp_path / "tasks.json")])
    assert result.exit_code == 0, result.output
    suggested = {task["predictions"][0]["model_version"] for task in json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))}
    backend, client = _client(trained)
    assert suggested == {backend.model_version} == {client.get("/health").json()["model_version"]}
    assert re.fullmatch(VERSION, backend.model_version)


def test_predictions_are_regions_of_the_projects_control_at_the_right_offsets(trained):
    _, client = _client(trained)
    texts = [t for t, _ in TITLES[:3]]
    answer = client.post("/predict", json={"tasks": [_task(i, t, "title") for i, t in enumerate(texts)], "project": "5.1700000000",
                                           "label_config": CUSTOM_CONFIG, "params": {"login": None, "password": None, "context": None}})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert len(results) == 3
    for text, (_, words), predicted in zip(texts, TITLES[:3], results, strict=True):
        assert re.fullmatch(VERSION, predicted["model_version"]) and 0.0 < predicted["score"] <= 1.0
        regions = predicted["result"]
        assert {(r["from_name"], r["to_name"], r["type"]) for r in regions} == {("ner", "title", "labels")}
        assert all(r["value"]["text"] == text[r["value"]["start"]:r["value"]["end"]] for r in regions)
        # the model learnt these titles; the config offers no colour, so none is predicted
        assert [(r["value"]["text"], r["value"]["labels"][0]) for r in regions] == [w for w in words if w[1] != "colour"]
    missing = client.post("/predict", json={"tasks": [{"id": 9, "data": {"text": "x"}}], "project": "5.1700000000"})
    assert missing.status_code == 400 and "task 9: no text under data.title" in missing.json()["detail"]


def test_annotations_retrain_the_model_and_change_its_predictions(trained):
    backend, client = _client(trained, retrain_every=2)
    (text, words), (other, other_words) = TAUGHT
    before = _spans(client, text)
    assert before != _gold(text, words)  # the model does not know this title yet
    first = client.post("/webhook", json=_created(1, text, words))
    assert first.status_code == 201 and first.json() == {"status": "ok", "training": False}  # one of two
    assert client.post("/webhook", json=_created(2, other, other_words)).json()["training"] is True
    assert backend.wait(timeout=120)
    health = client.get("/health").json()
    assert health["retrains"] == 1 and health["annotations"] == 2 and health["last_error"] is None
    assert re.fullmatch(VERSION + r"\+2-[0-9a-f]{8}", health["model_version"]) and client.post("/setup", json={"project": "3.1"}).json()["model_version"] == health["model_version"]
    assert _spans(client, text) == _gold(text, words)
    # asked again with nothing new (Label Studio's START_TRAINING after the webhook): no second retrain
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}).json()["training"] is True
    assert backend.wait(timeout=120) and backend.retrains == 1 and backend.model_version == health["model_version"]
    answer = client.post("/predict", json={"tasks": [_task(1, text)], "project": "3.1700000000"}).json()
    assert answer["results"][0]["model_version"] == health["model_version"]
    # deleting an annotation and asking again trains on the one left: another version
    deleted = {"action": "ANNOTATIONS_DELETED", "project": {"id": 3}, "annotations": [{"id": 101}]}
    assert client.post("/webhook", json=deleted).json()["training"] is False
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3}}).json()["training"] is True
    assert backend.wait(timeout=120)
    assert client.get("/health").json()["model_version"].startswith(backend.name + "+1-")
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 3}}).json()["status"] == "ignored"


def test_predict_answers_while_a_retrain_runs_and_a_failed_one_keeps_the_old_model(trained, monkeypatch):
    backend, client = _client(trained, retrain_every=1)
    text, words = TAUGHT[0]
    before = _spans(client, text)
    release = threading.Event()

    def stuck(tagger, data):
        release.wait(60)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend_module, "retrain_crf", stuck)
    assert client.post("/webhook", json=_created(1, text, words)).json()["training"] is True
    assert client.get("/health").json()["training"] is True
    assert _spans(client, text) == before  # answered by the old model while training waits
    release.set()
    assert backend.wait(timeout=60)
    health = client.get("/health").json()
    assert health["last_error"] == "RuntimeError: out of memory" and health["model_version"] == backend.name and health["retrains"] == 0
    assert _spans(client, text) == before


def test_the_older_train_call_and_label_studios_export_feed_a_retrain(trained):
    (text, words), (other, other_words) = TAUGHT
    exported = [annotated_text(_task(2, other), _annotation(2, other, other_words), LabelConfig())]
    backend, client = _client(trained, fetch=lambda project: exported if project == "3" else [])
    tasks = [_task(1, text) | {"annotations": [_annotation(1, text, words)]},
             _task(4, "海尔 冰箱") | {"annotations": [{"id": 9, "result": [], "was_cancelled": True}]}]
    answer = client.post("/train", json={"annotations": tasks, "project": "3.1700000000", "label_config": labelling_config(["brand", "colour", "product"])})
    assert answer.status_code == 201 and answer.json()["training"] is True
    assert backend.wait(timeout=120)
    # task 1 from the call, task 2 from Label Studio's export; the skipped task 4 is none
    assert sorted(item.id for item in backend.annotations.values()) == ["1", "2"] and backend.model_version.startswith(backend.name + "+2-")
    assert _spans(client, text) == _gold(text, words) and _spans(client, other) == _gold(other, other_words)


def test_a_label_studio_that_cannot_be_read_leaves_the_annotations_the_calls_carried(trained):
    text, words = TAUGHT[0]

    def unreachable(project: str) -> list[LabelledText]:
        raise ConnectionError("connection refused")

    backend, client = _client(trained, retrain_every=1, fetch=unreachable)
    assert client.post("/webhook", json=_created(1, text, words)).json()["training"] is True
    assert backend.wait(timeout=120) and backend.retrains == 1 and backend.last_error is None
    assert _spans(client, text) == _gold(text, words)


def test_serve_names_a_missing_model_directory(tmp_path):
    from typer.testing import CliRunner

    from skugraph.cli import app

    result = CliRunner().invoke(app, ["label", "serve", "--model", str(tmp_path / "none")])
    assert result.exit_code == 1 and "none: not a tagger directory" in result.output


# -- against a real Label Studio ------------------------------------------------------------------

@contextmanager
def _serving(backend: LabellingBackend) -> Iterator[str]:
    """The backend's app on a free localhost port (uvicorn in a thread) for the ``with`` block; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(backend), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _predicted(client, task_id: int) -> tuple[str, list[tuple[int, int, str]]]:
    """The newest prediction Label Studio holds for a task: its model version and spans."""
    newest = max(client.predictions.list(task=task_id), key=lambda p: p.id)
    return newest.model_version, [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in newest.result]


def test_label_studio_shows_the_predictions_and_an_annotation_retrains_the_model(trained, label_studio: LabelStudioServer):
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=label_studio.url, api_key=label_studio.api_key)
    project = client.projects.create(title="skugraph backend", label_config=labelling_config(["brand", "colour", "product"]))
    (text, words), (other, other_words) = TAUGHT
    client.projects.import_tasks(project.id, request=[{"data": {"text": text}}, {"data": {"text": other}}])
    ids = {task.data["text"]: task.id for task in client.tasks.list(project=project.id)}
    client.annotations.create(ids[other], result=_regions(other, other_words), was_cancelled=False)  # before the backend: only Label Studio knows it
    backend = LabellingBackend.load(trained, runtime="torch", retrain_every=1)
    backend.fetch = label_studio_fetcher(label_studio.url, label_studio.api_key, backend)
    with _serving(backend) as url:
        ml = client.ml.create(url=url, project=project.id, title="skugraph")
        client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
        version, spans = _predicted(client, ids[text])
        assert version == backend.name and spans and spans != _gold(text, words)
        # an annotator submits: Label Studio's webhook reaches /webhook and the retrain reads the project's export
        client.annotations.create(ids[text], result=_regions(text, words), was_cancelled=False)
        deadline = time.monotonic() + 120
        while backend.retrains < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert backend.wait(timeout=120) and backend.retrains == 1 and backend.last_error is None
        assert sorted(item.text for item in backend.annotations.values()) == sorted([text, other])
        client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
        assert _predicted(client, ids[text]) == (backend.model_version, _gold(text, words))
        assert _predicted(client, ids[other]) == (backend.model_version, _gold(other, other_words))
        assert client.ml.get(ml.id).model_version == backend.model_version != backend.name


def test_a_retrain_keeps_the_crf_window_the_model_was_trained_with(tmp_path):
    write_doccano([LabelledText.from_words(t, e) for t, e in TITLES], tmp_path / "train.jsonl")
    config = TrainTaggerConfig(train=tmp_path / "train.jsonl", dev=tmp_path / "train.jsonl", out=tmp_path / "model",
                               base_model="scratch:tiny", epochs=1, batch_size=4, patience=1, window=16, stride=8, crf_window=3)
    train_tagger(config)
    retrained = retrain_crf(load_tagger(tmp_path / "model"), [LabelledText.from_words(t, e) for t, e in TITLES])
    assert retrained.crf.features.window == 3
    assert any(attribute.startswith("c3:") for attribute, _ in retrained.crf.model.state_features_)  # trained on it too
