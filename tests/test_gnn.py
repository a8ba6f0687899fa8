"""The graph neural network (skugraph.fusion.gnn) for completion and as an identity signal."""

import numpy as np
import pytest

pytest.importorskip("torch_geometric", reason="the GNN needs the kg extra (pip install -e '.[kg]')")

from skugraph.fusion.completion import BlendScorer, GNNScorer, NeighbourScorer, evaluate  # noqa: E402
from skugraph.fusion.gnn import GNNConfig, train_gnn  # noqa: E402
from test_completion import graph  # noqa: E402

COLOURS = ["Value:colour:黑色", "Value:colour:白色", "Value:colour:银色"]


def test_the_gnn_ranks_what_goes_with_what_alone_and_blended():
    report = evaluate(graph(), relations=["colour"], share=0.2, systems=("popularity", "gnn", "neighbours", "neighbours+gnn"))
    assert report.hidden == 6
    for system in ("gnn", "neighbours+gnn"):
        assert report.systems[system]["hits_at_1"] >= 0.8  # the colour follows the product type
        assert report.systems[system]["hits_at_1"] > report.systems["popularity"]["hits_at_1"]  # popularity says black


def test_a_product_known_by_its_values_alone_gets_their_kinds_colour():
    triples = [t for t in graph() if t[:2] != ("Product:充电器20", "colour")]  # a charger whose colour is not known
    model = train_gnn(triples, GNNConfig(epochs=80))
    assert model.scores("Product:充电器20", "colour", COLOURS).argmax() == 1  # chargers are white
    assert np.isneginf(model.scores("Product:unknown", "colour", COLOURS)).all()
    assert np.isneginf(model.scores("Product:充电器20", "colour", ["Value:colour:未见过"])).all()
    # alike products are near, products of other kinds far; an unknown one is near nothing
    assert model.similarity("Product:充电器20", "Product:充电器15") > model.similarity("Product:充电器20", "Product:壳3")
    assert model.similarity("Product:充电器20", "Product:unknown") == 0.0


def test_training_is_repeatable_for_a_seed():
    first, again = (train_gnn(graph(), GNNConfig(epochs=10, seed=3)) for _ in range(2))
    assert np.array_equal(first.nodes, again.nodes)
    assert not np.array_equal(first.nodes, train_gnn(graph(), GNNConfig(epochs=10, seed=4)).nodes)


class _Fixed:
    def __init__(self, scores):
        self.values = np.array(scores, dtype=float)

    def scores(self, head, relation, candidates, left_out=()):
        return self.values.copy()


def test_a_blend_fuses_ranks_and_never_ranks_a_left_out_value_first():
    blend = BlendScorer([(_Fixed([3.0, 2.0, 1.0]), 1.0), (_Fixed([1.0, 3.0, 2.0]), 1.0)])
    scores = blend.scores("h", "r", ["a", "b", "c"])
    assert scores.argmax() == 1 and scores[0] > scores[2]  # b: ranks 2 and 1; a: 1 and 3; c: 3 and 2
    left_out = blend.scores("h", "r", ["a", "b", "c"], left_out=[1])
    assert left_out.argmax() == 0


def test_ties_get_one_rank_in_a_blend_so_a_scorer_that_cannot_tell_favours_none():
    unknown = BlendScorer([(_Fixed([-np.inf] * 3), 1.0), (_Fixed([1.0, 3.0, 2.0]), 1.0)]).scores("h", "r", ["a", "b", "c"])
    assert list(np.argsort(-unknown)) == [1, 2, 0]  # the second scorer's order, not the candidates'
    flat = BlendScorer([(_Fixed([0.0, 0.0, 0.0]), 5.0), (_Fixed([1.0, 2.0, 3.0]), 1.0)]).scores("h", "r", ["a", "b", "c"])
    assert list(np.argsort(-flat)) == [2, 1, 0]


def test_the_gnn_scorer_says_how_likely_a_product_is_to_have_a_value_as_the_neighbours_do():
    triples = graph()
    gnn, neighbours = GNNScorer(triples), NeighbourScorer(triples, neighbours=50, prior=0.2, association=2.0)
    for head in ("Product:壳3", "Product:充电器20"):
        assert gnn.coverage(head, "colour") == neighbours.coverage(head, "colour")


def test_a_relation_whose_values_are_each_ones_own_is_carried_and_spoils_nothing():
    reviews = [(f"Product:壳{i}", "has_review", f"Review:r{i}") for i in range(14)]  # one review each: nothing to rank
    model = train_gnn(graph() + reviews, GNNConfig(epochs=40))
    assert "Review:r3" in model and "has_review" in model.relations
    assert model.scores("Product:充电器20", "colour", COLOURS).argmax() == 1


def test_a_graph_with_nothing_shared_to_learn_is_a_clear_error():
    with pytest.raises(ValueError, match="nothing for the GNN to learn"):
        train_gnn([(f"Product:p{i}", "has_review", f"Review:r{i}") for i in range(5)], GNNConfig(epochs=2))


def test_a_triple_scored_in_training_has_no_edge_left_between_its_ends(monkeypatch):
    """The edges of an epoch's scored triples are out of the graph the messages pass over, and
    so is any other edge between their ends (an accessory_of beside its compatible_with)."""
    from skugraph.fusion import gnn

    triples = graph()
    triples += [(h, "accessory_of", t) for h, r, t in triples if r == "compatible_with"]
    graphs = []
    real = gnn._edges
    monkeypatch.setattr(gnn, "_edges", lambda heads, tails, kept: graphs.append((heads, tails, kept)) or real(heads, tails, kept))
    train_gnn(triples, GNNConfig(epochs=5))
    assert len(graphs) == 6  # five epochs, then the whole graph
    for heads, tails, kept in graphs[:-1]:
        pairs = [frozenset(p) for p in zip(heads.tolist(), tails.tolist(), strict=True)]
        out = {p for p, k in zip(pairs, kept.tolist(), strict=True) if not k}
        assert out and not out & {p for p, k in zip(pairs, kept.tolist(), strict=True) if k}
    assert graphs[-1][2].all()


def test_a_held_out_share_outside_what_can_be_scored_is_a_clear_error():
    for share in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="held_out is the share"):
            train_gnn(graph(), GNNConfig(epochs=2, held_out=share))
