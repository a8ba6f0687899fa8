import pytest

from skugraph.fusion.completion import evaluate, split

pytest.importorskip("pykeen", reason="KG completion needs the kg extra (pip install -e '.[kg]')")


def graph() -> list[tuple[str, str, str]]:
    """Each product type has its colour and what it fits: cases (壳) are black and fit phones,
    chargers white and fit laptops, stands silver and fit tablets."""
    kinds = [("壳", "黑色", "手机")] * 14 + [("充电器", "白色", "笔记本")] * 10 + [("支架", "银色", "平板")] * 6
    triples = []
    for i, (kind, colour, fits) in enumerate(kinds):
        product = f"Product:{kind}{i}"
        triples += [(product, "product_type", f"Value:product_type:{kind}"), (product, "colour", f"Value:colour:{colour}"),
                    (product, "compatible_with", f"Value:product_type:{fits}")]
    return triples


def test_split_hides_a_share_and_keeps_both_ends_known():
    triples = graph()
    kept, hidden = split(triples, ["colour"], share=0.2, seed=1)
    assert len(hidden) == 6 and not set(hidden) & set(kept)
    entities = {e for h, _, t in kept for e in (h, t)}
    assert all(h in entities and t in entities for h, _, t in hidden)


def test_completion_learns_what_goes_with_what():
    report = evaluate(graph(), relations=["colour"], share=0.2, epochs=60, dim=16, seed=0)
    assert report.hidden == 6
    assert report.model["hits_at_1"] >= 0.8  # the colour follows the product type
    assert report.model["hits_at_1"] > report.popularity["hits_at_1"]  # popularity always says black
