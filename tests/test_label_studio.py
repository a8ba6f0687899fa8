"""Label Studio for real: a server from its own virtual environment (the ``label_studio`` fixture),
``skugraph label push`` and ``pull`` through the official SDK, annotations made through the API as
an annotator's would be."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.corpus.ner import Span, read_labelled
from skugraph.labelling import studio
from skugraph.labelling.server import LabelStudioServer, free_port
from skugraph.labelling.tasks import labelling_config, prediction, region, task, write_tasks

TITLES = ["华为 Mate 60 蓝色 5G手机", "小米 14 黑色 手机", "美的 电饭煲 4L"]
PREDICTED = [[(0, 2, "brand", 0.9), (3, 10, "model", 0.6), (11, 13, "colour", 0.8)],
             [(0, 2, "brand", 0.95)],
             [(0, 2, "brand", 0.7), (3, 6, "product_type", 0.4)]]


def tasks_file(directory: Path, titles=TITLES, predicted=PREDICTED, name: str = "tasks.json") -> Path:
    return write_tasks([task(text, f"sku-{n}", [prediction(text, spans, "test-model")])
                        for n, (text, spans) in enumerate(zip(titles, predicted, strict=True))], directory / name)


def label(*arguments: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["label", *arguments], env=env)


def test_config_labels_read_back_the_generated_config() -> None:
    assert studio.config_labels(labelling_config(["brand", "颜色", 'a "b"'])) == ["brand", "颜色", 'a "b"']
    assert studio.config_labels("<View><Text name='text' value='$text'/></View>") == []


def test_prediction_labels_in_first_seen_order(tmp_path: Path) -> None:
    tasks = studio.read_tasks(tasks_file(tmp_path))
    assert studio.prediction_labels(tasks) == ["brand", "model", "colour", "product_type"]


def test_bad_tasks_file_is_one_line_naming_the_task(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"data": {"text": "ok"}}, {"data": {"title": "no text"}}]), encoding="utf-8")
    done = label("push", str(bad), "--api-key", "k")
    assert done.exit_code == 1 and "bad.json: task 2 has no data.text string" in done.output
    assert "Traceback" not in done.output


def test_pulled_texts_carry_their_listing_id_or_else_the_task_id(tmp_path: Path) -> None:
    def exported(number: int, data: dict) -> dict:
        text = data["text"]
        return {"id": number, "data": data, "annotations": [{"result": [region(text, 0, 2, "brand")]}]}

    items = [exported(7, {"text": TITLES[0], "listing": "sku-0001"}), exported(8, {"text": TITLES[1]}),
             {"id": 9, "data": {}, "annotations": []}]
    texts, rejected = studio.training_texts(items, tmp_path / "export.jsonl")
    assert [(t.id, t.text) for t in texts] == [("sku-0001", TITLES[0]), ("8", TITLES[1])]
    assert len(rejected) == 1 and "export.jsonl" in rejected[0] and "line 3" in rejected[0]


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    done = label("push", str(tasks_file(tmp_path)), "--url", f"http://127.0.0.1:{free_port()}", "--api-key", "k")
    assert done.exit_code == 1 and "cannot reach Label Studio at http://127.0.0.1:" in done.output
    assert "Traceback" not in done.output and len(done.output.strip().splitlines()) == 1


def test_wrong_key_and_missing_project_are_one_line(label_studio: LabelStudioServer, tmp_path: Path) -> None:
    wrong = label("pull", "--url", label_studio.url, "--api-key", "not-the-key", "--out", str(tmp_path / "t.jsonl"))
    assert wrong.exit_code == 1 and "refused the API key (HTTP 401)" in wrong.output
    missing = label("pull", "--project", "no such project", "--out", str(tmp_path / "t.jsonl"),
                    env={"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key})
    assert missing.exit_code == 1 and "no project titled 'no such project'" in missing.output
    assert "Traceback" not in wrong.output + missing.output


def test_push_annotate_pull_round_trip(label_studio: LabelStudioServer, tmp_path: Path) -> None:
    from label_studio_sdk import LabelStudio

    server = ["--url", label_studio.url, "--api-key", label_studio.api_key, "--project", "round trip"]
    pushed = label("push", str(tasks_file(tmp_path)), *server, "--labels", "brand,material")
    assert pushed.exit_code == 0, pushed.output
    assert "project 'round trip' created" in pushed.output and "3 tasks and 3 pre-annotations imported" in pushed.output

    # a second push to the same project adds the label it lacks and the new task, not the one it has
    new_spans = [(0, 2, "brand", 0.9), (7, 10, "material", 0.5), (3, 6, "appliance", 0.5)]
    more = tasks_file(tmp_path, ["九阳 豆浆机 不锈钢", TITLES[0]], [new_spans, PREDICTED[0]], "more.json")
    again = label("push", str(more), *server)
    assert again.exit_code == 0, again.output
    assert "project 'round trip' updated" in again.output and "1 new: appliance" in again.output
    assert "1 tasks and 1 pre-annotations imported (1 already in the project left out)" in again.output

    client = LabelStudio(base_url=label_studio.url, api_key=label_studio.api_key)
    project = next(p for p in client.projects.list(title="round trip") if p.title == "round trip")
    assert studio.config_labels(client.projects.get(project.id).label_config) == [
        "brand", "material", "model", "colour", "product_type", "appliance"]
    tasks = {item.data["text"]: item for item in client.tasks.list(project=project.id)}
    assert len(tasks) == 4 and all(len(item.predictions) == 1 for item in tasks.values())

    out, export = tmp_path / "pulled" / "train.jsonl", tmp_path / "export.jsonl"
    early = label("pull", *server, "--out", str(out))
    assert early.exit_code == 1 and "no annotated task in project 'round trip' yet (0 skipped, of 4)" in early.output

    # an annotator adds the product word the model missed in the first title, accepts the third's
    # pre-annotation as it is, and skips the second
    first, third = TITLES[0], TITLES[2]
    corrected = [(0, 2, "brand"), (3, 10, "model"), (11, 13, "colour"), (16, 18, "product_type")]
    client.annotations.create(tasks[first].id, result=[region(first, *span) for span in corrected])
    client.annotations.create(tasks[third].id, result=tasks[third].predictions[0].result)
    client.annotations.create(tasks[TITLES[1]].id, result=[], was_cancelled=True)

    pulled = label("pull", *server, "--out", str(out), "--export", str(export))
    assert pulled.exit_code == 0, pulled.output
    assert "2 annotated tasks (6 spans)" in pulled.output and "1 skipped, 1 not annotated yet, of 4" in pulled.output

    # what `skugraph train tagger --train` reads (doccano JSONL by its name) holds the annotated spans
    texts = {item.text: item.spans for item in read_labelled(out)}
    assert texts == {first: tuple(Span(*span) for span in corrected),
                     third: (Span(0, 2, "brand"), Span(3, 6, "product_type"))}
    assert {item.text: item.id for item in read_labelled(out)} == {first: "sku-0", third: "sku-2"}  # the listings' ids
    assert len(export.read_text(encoding="utf-8").splitlines()) == 2

