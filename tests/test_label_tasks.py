import json

import pytest

from skugraph.corpus.ner import read_doccano, read_label_studio
from skugraph.labelling.tasks import label_hints, labelling_config, prediction, task, write_doccano_tasks, write_tasks

TITLE = "华为手机壳 黑色"


def test_a_task_annotated_as_predicted_reads_back_as_its_spans(tmp_path):
    predicted = prediction(TITLE, [(0, 2, "brand", 0.9), (2, 5, "product", 0.6)], "tagger@1")
    assert predicted["score"] == 0.6 and [r["value"]["text"] for r in predicted["result"]] == ["华为", "手机壳"]
    item = task(TITLE, "l-1", [predicted], reason="uncertainty 0.4")
    assert item["data"] == {"text": TITLE, "listing": "l-1", "reason": "uncertainty 0.4"}
    annotated = item | {"id": 7, "annotations": [{"result": predicted["result"]}]}  # an annotator accepted it
    [read] = read_label_studio(write_tasks([annotated], tmp_path / "tasks.json"))
    assert read.id == "7" and read.span_texts() == [("华为", "brand"), ("手机壳", "product")]
    [doccano] = read_doccano(write_doccano_tasks([item], tmp_path / "tasks.jsonl"))
    assert doccano.span_texts() == [("华为", "brand"), ("手机壳", "product")]
    assert json.loads((tmp_path / "tasks.jsonl").read_text(encoding="utf-8"))["listing"] == "l-1"


def test_the_labelling_config_names_every_label_once():
    config = labelling_config(["brand", "colour", "型号"])
    assert config.count("<Label value=") == 3 and 'value="型号"' in config and 'toName="text"' in config
    with pytest.raises(ValueError, match="at least one label"):
        labelling_config([])


def test_a_data_sets_numbered_labels_carry_their_meaning_as_hints():
    hints = label_hints(["37", "16", "brand", "ASP"])
    assert hints == {"37": "compatible_brand", "16": "colour 颜色"}  # brand says itself; ASP is unknown to the ontology
    config = labelling_config(["37", "brand"], hints)
    assert '<Label value="37" background="#e6194b" hint="compatible_brand"/>' in config and 'value="brand" background="#3cb44b"/>' in config
