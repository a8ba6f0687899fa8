import json

import pytest

from skugraph.corpus.ner import (
    LabelledText,
    NerFormatError,
    detect_format,
    Span,
    read_conll,
    read_doccano,
    read_label_studio,
    read_labelled,
    spans_to_tags,
    tags_to_spans,
    write_conll,
    write_doccano,
)

TITLE = LabelledText("华为 Mate60手机", (Span(0, 2, "HP"), Span(3, 9, "MODEL"), Span(9, 11, "HC")))


@pytest.mark.parametrize("scheme", ["bio", "bieos"])
def test_conll_round_trip(tmp_path, scheme):
    path = tmp_path / f"t.{scheme}"
    write_conll([TITLE, LabelledText("无实体", ())], path, scheme)
    texts = list(read_conll(path, strict=True))
    assert [t.text for t in texts] == [TITLE.text, "无实体"]
    assert texts[0].spans == TITLE.spans
    assert texts[0].span_texts() == [("华为", "HP"), ("Mate60", "MODEL"), ("手机", "HC")]


def test_tag_schemes():
    assert spans_to_tags(4, [Span(0, 1, "A"), Span(1, 4, "B")], "bieos") == ["S-A", "B-B", "I-B", "E-B"]
    assert tags_to_spans(["B-A", "I-A", "B-A", "O", "S-B"]) == [Span(0, 2, "A"), Span(2, 3, "A"), Span(4, 5, "B")]
    with pytest.raises(ValueError, match="continues no open"):
        tags_to_spans(["O", "I-A"])
    with pytest.raises(ValueError, match="not a BIO/BIEOS tag"):
        tags_to_spans(["X-A"])


def test_space_characters_and_tab_separators(tmp_path):
    path = tmp_path / "t.bieos"
    path.write_text("小\tB-HP\n米\tE-HP\n \tO\n充\tB-HC\n电\tI-HC\n器\tE-HC\n\n", encoding="utf-8")
    (text,) = read_conll(path)
    assert text.text == "小米 充电器"
    assert text.span_texts() == [("小米", "HP"), ("充电器", "HC")]


def test_bad_text_is_reported_and_the_rest_kept(tmp_path):
    path = tmp_path / "t.bio"
    path.write_text("好 O\n\n坏 I-X\n\n错\n\n对 B-Y\n", encoding="utf-8")
    problems: list[NerFormatError] = []
    texts = list(read_conll(path, on_error=problems.append))
    assert [t.text for t in texts] == ["好", "对"]
    assert [(p.line, "I-X" in p.reason or "character tag" in p.reason) for p in problems] == [(3, True), (5, True)]
    with pytest.raises(NerFormatError, match="line 3"):
        list(read_conll(path, strict=True))


def test_doccano_both_export_styles(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"id": 1, "text": "美的电饭煲", "label": [[0, 2, "brand"], [2, 5, "product"]]},
        {"id": 2, "text": "格力空调", "entities": [{"start_offset": 0, "end_offset": 2, "label": "brand"}]},
        {"id": 3, "text": "短", "label": [[0, 9, "brand"]]},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    problems: list[NerFormatError] = []
    texts = list(read_doccano(path, on_error=problems.append))
    assert [t.span_texts() for t in texts] == [[("美的", "brand"), ("电饭煲", "product")], [("格力", "brand")]]
    assert problems[0].line == 3 and "outside text" in problems[0].reason
    round_trip = tmp_path / "again.jsonl"
    write_doccano(texts, round_trip)
    assert list(read_doccano(round_trip)) == texts


def test_label_studio_array_and_jsonl(tmp_path):
    task = {
        "id": 7,
        "data": {"text": "海尔冰箱 白色"},
        "annotations": [
            {
                "result": [
                    {"type": "labels", "value": {"start": 0, "end": 2, "text": "海尔", "labels": ["brand"]}},
                    {"type": "labels", "value": {"start": 5, "end": 7, "text": "白色", "labels": ["colour"]}},
                ]
            }
        ],
    }
    as_array = tmp_path / "export.json"
    as_array.write_text(json.dumps([task], ensure_ascii=False), encoding="utf-8")
    as_lines = tmp_path / "export.jsonl"
    as_lines.write_text(json.dumps(task, ensure_ascii=False) + "\n" + '{"data": {}}\n', encoding="utf-8")
    (from_array,) = read_label_studio(as_array)
    assert from_array.span_texts() == [("海尔", "brand"), ("白色", "colour")]
    problems: list[NerFormatError] = []
    assert list(read_label_studio(as_lines, on_error=problems.append)) == [from_array]
    assert problems[0].line == 2


@pytest.mark.parametrize(
    "name, count, labels",
    [
        ("ecommerce-ding2019/train.bieos", 3989, {"HP", "HC"}),
        ("ecommerce-ding2019/dev.bieos", 500, {"HP", "HC"}),
        ("jd-gaiic2022/train.bio", 3238, None),
        ("jd-gaiic2022/dev.bio", 400, None),
    ],
)
def test_reads_the_shared_ner_sets(shared_data, name, count, labels):
    problems: list[NerFormatError] = []
    texts = list(read_conll(shared_data / "ner" / name, on_error=problems.append))
    assert (len(texts), problems) == (count, [])
    found = {span.label for text in texts for span in text.spans}
    assert found == labels if labels else {"1", "4", "16", "36", "40"} <= found


def test_a_labelled_text_from_its_words_finds_each_after_the_one_before():
    item = LabelledText.from_words("华为手机 华为充电器", [("华为", "brand"), ("华为", "brand"), ("充电器", "product")])
    assert item.span_texts() == [("华为", "brand"), ("华为", "brand"), ("充电器", "product")]
    assert [s.start for s in item.spans] == [0, 5, 7]
    with pytest.raises(ValueError, match="'小米' not found"):
        LabelledText.from_words("华为手机", [("小米", "brand")])


def test_a_label_studio_export_is_read_as_one_whatever_its_name(tmp_path):
    task = {"id": 4, "data": {"text": "华为手机"}, "annotations": [{"result": [
        {"from_name": "label", "to_name": "text", "type": "labels", "value": {"start": 0, "end": 2, "labels": ["brand"]}}]}]}
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(task, ensure_ascii=False) + "\n", encoding="utf-8")
    assert detect_format(path) == "label-studio"
    assert [t.span_texts() for t in read_labelled(path)] == [[("华为", "brand")]]
    path.write_text(json.dumps({"text": "华为手机", "label": [[0, 2, "brand"]]}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert detect_format(path) == "jsonl"
