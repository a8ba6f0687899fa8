import pytest

from skugraph.corpus.normalize import fold, normalize


def test_full_width_becomes_half_width_with_offsets_back():
    original = "ＵＧＲＥＥＮ　６５Ｗ（白色）"
    norm = normalize(original)
    assert norm.text == "UGREEN 65W(白色)"
    start = norm.text.index("65W")
    begin, end = norm.to_original(start, start + 3)
    assert original[begin:end] == "６５Ｗ"


def test_expanding_characters_map_to_the_whole_source_character():
    original = "净重5㎏装"
    norm = normalize(original)
    assert norm.text == "净重5kg装"
    assert norm.to_original(3, 5) == (3, 4)  # "kg" comes from the one character "㎏"
    assert norm.to_original(4, 5) == (3, 4)
    assert norm.to_original(5, 6) == (4, 5)


def test_combining_marks_compose_and_keep_their_span():
    original = "Cafe\u0301 Noir"
    norm = normalize(original, lowercase=True)
    assert norm.text == "café noir"
    assert norm.to_original(0, 4) == (0, 5)
    assert original[slice(*norm.to_original(5, 9))] == "Noir"


def test_spans_outside_the_text_are_refused():
    with pytest.raises(ValueError):
        normalize("abc").to_original(2, 5)


def test_fold_is_nfkc_lower_case_with_single_spaces():
    assert fold("  ＮＯＺＩ　 Pro  5㎏ ") == "nozi pro 5kg"
    assert fold("  ＵＧＲＥＥＮ  65W ", lowercase=False) == "UGREEN 65W"


def test_fold_keeping_offsets_changes_no_length():
    original = "ＵＧＲＥＥＮ 5㎏  Cafe\u0301"
    folded = fold(original, keep_offsets=True)
    assert folded == "ugreen 5㎏  cafe\u0301"  # ㎏ would be two characters: kept; spaces kept
    assert len(folded) == len(original)


def test_fold_width_only_touches_full_width_ascii_alone():
    assert fold("电话：１３８　０①ＡＢ㎏", width_only=True, lowercase=False) == "电话:138 0①AB㎏"
    assert fold("ＡＢ", width_only=True) == "ab"
