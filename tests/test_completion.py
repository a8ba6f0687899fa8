import pytest

from skugraph.fusion import completion
from skugraph.fusion.completion import (
    FIT_ASSOCIATION,
    FIT_SIBLING,
    FIT_SIMILARITY,
    TOKEN,
    FitNeighbours,
    NeighbourScorer,
    _curves,
    _StatedShares,
    evaluate,
    make_scorer,
    numbered_model,
    propose,
    siblings,
    split,
    value_tokens,
)
from skugraph.records import Entity, Fact, Provenance


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


def test_evaluation_reports_apart_the_products_stating_no_other_value():
    triples = graph() + [(f"Product:壳{i}", "colour", "Value:colour:红色") for i in range(7)]  # half the cases have two colours
    report = evaluate(triples, relations=["colour"], share=0.3, systems=("popularity", "neighbours"), seed=1)
    _, hidden = split(triples, ["colour"], share=0.3, seed=1)
    two = {f"Product:壳{i}" for i in range(7)}
    assert 0 < report.stating_no_other["neighbours"]["count"] == sum(h not in two for h, _, _ in hidden) < report.hidden


def test_split_hides_a_share_and_keeps_both_ends_known():
    triples = graph()
    kept, hidden = split(triples, ["colour"], share=0.2, seed=1)
    assert len(hidden) == 6 and not set(hidden) & set(kept)
    entities = {e for h, _, t in kept for e in (h, t)}
    assert all(h in entities and t in entities for h, _, t in hidden)


def test_split_leaves_out_the_link_that_would_give_a_hidden_value_away():
    """A case's accessory_of a phone type is made from its compatible_with that type: hiding one
    hides the other, and the case stays known by what else it states."""
    triples = graph()
    derived = [(h, "accessory_of", t) for h, r, t in triples if r == "compatible_with"]
    alone = [("Product:膜", "compatible_with", "Value:product_type:手机"), ("Product:膜", "accessory_of", "Value:product_type:手机")]
    for seed in range(5):
        kept, hidden = split(triples + derived + alone, ["compatible_with"], share=0.2, seed=seed)
        assert hidden and all(r == "compatible_with" for _, r, _ in hidden)
        assert not {(h, t) for h, _, t in hidden} & {(h, t) for h, _, t in kept}
        assert len(kept) == len(triples) + len(derived) + len(alone) - 2 * len(hidden)
        entities = {e for h, _, t in kept for e in (h, t)}
        assert all(h in entities and t in entities for h, _, t in hidden)  # 膜, known by one link and its twin, never hidden
    loop = [("Value:a", "related_product", "Value:a"), ("Value:b", "related_product", "Value:b"), ("Value:b", "colour", "Value:c")]
    kept, hidden = split(loop + triples, ["related_product"], share=1.0, seed=0)
    assert hidden == [("Value:b", "related_product", "Value:b")]  # a loop counts twice: Value:a would be left unknown


@pytest.mark.slow
def test_completion_learns_what_goes_with_what():
    pytest.importorskip("pykeen", reason="embedding models need the kg extra (pip install -e '.[kg]')")
    report = evaluate(graph(), relations=["colour"], share=0.2, systems=("popularity", "neighbours", "RotatE"), epochs=60,
                      dim=16, seed=0)
    assert report.hidden == 6
    for system in ("RotatE", "neighbours"):
        assert report.systems[system]["hits_at_1"] >= 0.8  # the colour follows the product type
        assert report.systems[system]["hits_at_1"] > report.systems["popularity"]["hits_at_1"]  # popularity says black


@pytest.mark.parametrize("association", [0.0, 2.0])
def test_neighbours_rank_the_values_of_similar_products_first(association):
    scorer = NeighbourScorer(graph(), association=association)
    scores = scorer.scores("Product:充电器14", "colour", ["Value:colour:黑色", "Value:colour:白色", "Value:colour:银色"])
    assert scores.argmax() == 1  # chargers are white, though most products are black


def test_value_tokens_split_codes_and_chinese_names():
    assert value_tokens("Value:model:华为p20pro") == {"华为", "p20pro", "p", "20", "pro"}
    assert value_tokens("Value:model:荣耀畅玩7x") == {"荣耀", "耀畅", "畅玩", "7x", "7", "x"}
    assert value_tokens("Brand:apple") == {"apple"}
    assert value_tokens("Value:colour:黑") == {"黑"}


def _fit_graph() -> list[tuple[str, str, str]]:
    """Cases named by their models: huawei p20 cases fit p20 and p20pro, xiaomi cases fit mix2
    and mix2s; each state one more thing, so only the names of the models make them alike."""
    triples = []
    for i in range(6):
        case = f"Product:p{i}"
        triples += [(case, "compatible_with", "Value:model:华为p20"), (case, "compatible_with", "Value:model:p20pro"),
                    (case, "colour", f"Value:colour:c{i}")]
        other = f"Product:m{i}"
        triples += [(other, "compatible_with", "Value:model:小米mix2"), (other, "compatible_with", "Value:model:mix2s"),
                    (other, "colour", f"Value:colour:c{i}")]
    # two cases each know a model the others write another way
    triples += [("Product:q", "compatible_with", "Value:model:p20"), ("Product:q", "colour", "Value:colour:q"),
                ("Product:n", "compatible_with", "Value:model:mix2"), ("Product:n", "colour", "Value:colour:n")]
    return triples


def test_the_names_of_fitting_models_make_products_alike():
    candidates = ["Value:model:p20pro", "Value:model:mix2s"]
    plain = NeighbourScorer(_fit_graph(), neighbours=3)
    named = NeighbourScorer(_fit_graph(), neighbours=3, tokens_of=("compatible_with",))
    # p20 shares no value with the p20 cases: only its name's pieces (p, 20) tell it is one of them
    assert plain.scores("Product:q", "compatible_with", candidates).max() < 1e-3
    assert named.scores("Product:q", "compatible_with", candidates).argmax() == 0
    assert named.scores("Product:n", "compatible_with", candidates).argmax() == 1


def test_a_value_named_like_the_products_own_scores_by_its_likeness():
    candidates = ["Value:model:p20pro", "Value:model:mix2s", "Value:model:z"]
    plain, named = (NeighbourScorer(_fit_graph(), neighbours=3, similarity=weight) for weight in (0.0, 1.0))
    gained = named.scores("Product:q", "compatible_with", candidates) - plain.scores("Product:q", "compatible_with", candidates)
    assert gained == pytest.approx([2 / 3, 0.0, 0.0], abs=1e-6)  # p20 in p20pro: 2 × 3 of 3 + 6 characters; unlike names nothing


def test_the_pieces_of_names_answer_only_what_a_product_known_to_fit_something_fits():
    triples = [*_fit_graph(), ("Product:bare", "colour", "Value:colour:c0"), ("Product:bare2", "colour", "Value:colour:c0")]
    scorer = make_scorer("neighbours", triples)
    assert isinstance(scorer, FitNeighbours) and "Product:bare" not in scorer.fits.heads
    assert (scorer.plain.association, scorer.plain.similarity) == (2.0, 0.0)
    assert (scorer.fits.association, scorer.fits.similarity) == (FIT_ASSOCIATION, FIT_SIMILARITY)
    assert any(relation.startswith(TOKEN) for relation, _ in scorer.fits.features)
    models, colours = ["Value:model:p20pro", "Value:model:mix2s"], ["Value:colour:c0", "Value:colour:c1"]
    for head, relation, candidates in [("Product:q", "colour", colours), ("Product:bare", "compatible_with", models)]:
        assert list(scorer.scores(head, relation, candidates)) == list(scorer.plain.scores(head, relation, candidates))
    # q fits p20, of which p20pro is a sibling: the pieces' answer and the sibling's share
    assert scorer.scores("Product:q", "compatible_with", models) == pytest.approx(
        scorer.fits.scores("Product:q", "compatible_with", models) + [FIT_SIBLING, 0.0])
    assert scorer.fits.scores("Product:q", "compatible_with", models).argmax() == 0  # the pieces found the p20 cases


def test_a_model_numbered_next_to_one_a_product_fits_is_its_sibling():
    fitted = [numbered_model(f"Value:model:{name}") for name in ("荣耀8x", "苹果6s", "oppor11", "手机")]
    names = ["荣耀9x", "华为荣耀7x", "荣耀10x", "荣耀8", "6splus", "6s", "7s", "oppor11s", "r11s", "mate11", "手机", "8x", "小米9x",
             "小米7s"]
    found = siblings(fitted, [numbered_model(f"Value:model:{name}") for name in names])
    # one up or down with the same suffix, the same number with another; not the model itself, nor another series (r of
    # r11s: one letter), nor another maker's (小米)
    assert dict(zip(names, found)) == {"荣耀9x": 1, "华为荣耀7x": 1, "荣耀10x": 0, "荣耀8": 1, "6splus": 1, "6s": 0, "7s": 1,
                                       "oppor11s": 1, "r11s": 0, "mate11": 0, "手机": 0, "8x": 0, "小米9x": 0, "小米7s": 0}
    assert numbered_model("Value:model:华为p20 pro") == ("华为", "p", 20, "pro")
    assert numbered_model("Value:product_type:a4纸") is None and numbered_model("Brand:5菌") is None  # models only
    assert numbered_model("Value:compatible_model:p20") is None


def _facts(triples, titles=None):
    def entity(ref):
        label, key = ref.split(":", 1)
        return Entity(label, key, (titles or {}).get(key, key.split(":")[-1]), kind=key.split(":")[0] if label == "Value" else "")
    return [Fact(entity(h), r, entity(t), 0.9, (Provenance(h.split(":", 1)[1], "title", 0, 1, "rules"),)) for h, r, t in triples]


def test_missing_values_are_proposed_inferred_with_a_calibrated_confidence():
    triples = [t for t in graph() if not (t[0] in ("Product:壳0", "Product:充电器20") and t[1] == "colour")]
    proposals = propose(_facts(triples), relations=["colour"], share=0.3, min_probability=0.5)
    assert proposals.calibration["hidden"] > 0
    got = {(f.subject.key, f.object.name): f for f in proposals.facts}
    assert set(got) == {("壳0", "黑色"), ("充电器20", "白色")}  # only what was missing, from similar products
    fact = got[("充电器20", "白色")]
    assert fact.properties == {"inferred": True, "chosen": False, "support": 0.0}
    assert 0.5 <= fact.confidence <= 1 and fact.provenance[0].extractor == "completion"


def test_calibration_asks_as_proposals_ask_of_products_stating_no_other_value(monkeypatch):
    triples = graph() + [(f"Product:壳{i}", "colour", "Value:colour:红色") for i in range(7)]  # half the cases have two colours
    asked = []

    def tops(scorer, queries, workers):
        asked.extend(queries)
        return [completion._top(scorer, *query) for query in queries]

    monkeypatch.setattr(completion, "_tops", tops)
    proposals = propose(_facts(triples), relations=["colour"], share=0.3, min_probability=0.5)
    assert proposals.calibration["hidden"] > 0
    assert not any(left_out for _, _, _, left_out in asked)  # a two-coloured case's hidden colour is never asked


def test_coverage_is_asked_only_of_a_top_whose_calibrated_chance_reaches_the_bar(monkeypatch):
    triples = [t for t in graph() if not (t[0] in ("Product:壳0", "Product:充电器20") and t[1] == "colour")]
    asked = []
    coverage = completion.NeighbourScorer.coverage

    def counted(self, head, relation):
        asked.append(head)
        return coverage(self, head, relation)

    monkeypatch.setattr(completion.NeighbourScorer, "coverage", counted)
    proposed = propose(_facts(triples), relations=["colour"], share=0.3, min_probability=0.5).facts
    assert sorted(asked) == ["Product:充电器20", "Product:壳0"]  # not the calibration's hidden queries
    assert len(proposed) == 2
    asked.clear()
    assert not propose(_facts(triples), relations=["colour"], share=0.3, min_probability=0.999).facts and not asked


def test_spans_gather_rows_as_slices_would():
    import numpy as np

    from skugraph.fusion.completion import _rows, _spans

    values = np.arange(100) * 10
    rng = np.random.default_rng(0)
    for rows in (0, 1, 3, 8, 9, 50):
        for dtype in (np.int32, np.int64):  # scipy's pointers are int32
            starts = rng.integers(0, 90, rows).astype(dtype)
            ends = starts + rng.integers(0, 10, rows).astype(dtype)  # empty rows too
            expected = np.concatenate([values[a:b] for a, b in zip(starts, ends, strict=True)] + [values[:0]])
            assert np.array_equal(_rows(values, starts, ends), expected) and _rows(values, starts, ends).dtype == values.dtype
            assert np.array_equal(values[_spans(starts, ends)], expected)
    nothing = np.array([5, 7, 7], dtype=np.int32)
    assert _spans(nothing, nothing).size == 0 and _rows(values, np.repeat(nothing, 3), np.repeat(nothing, 3)).dtype == values.dtype


def test_proposals_are_the_same_scored_in_other_processes(monkeypatch):
    from skugraph.fusion.completion import CompletionFacts, propose_from
    from skugraph.processes import Workers

    triples = [t for t in graph() if not (t[0] in ("Product:壳0", "Product:充电器20") and t[1] == "colour")]
    gathered = CompletionFacts(["colour"])
    for place, fact in enumerate(_facts(triples)):
        gathered.add(fact, place)

    def proposed(workers=None):
        return [(f.subject.ref, f.object.ref, f.confidence)
                for f in propose_from(gathered, min_probability=0.0, share=0.3, workers=workers).facts]

    alone = proposed()
    monkeypatch.setattr(completion, "SENT_QUERIES", 1)
    with Workers(2) as workers:
        assert proposed(workers) == alone and len(alone) == 2  # one query scored here, one in another process


def test_a_value_the_title_rules_out_is_not_proposed():
    triples = [t for t in graph() if not (t[0] in ("Product:壳0", "Product:充电器20") and t[1] == "colour")]
    proposals = propose(_facts(triples, {"壳0": "磨砂手机壳 墨蓝"}), relations=["colour"], share=0.3, min_probability=0.5)
    assert {(f.subject.key, f.object.name) for f in proposals.facts} == {("充电器20", "白色")}  # not black for a navy case


def test_a_relation_applies_to_a_type_whose_products_mostly_state_it():
    triples = [(f"Product:软件{i}", "product_type", "Value:product_type:软件") for i in range(10)]
    triples += [("Product:软件0", "colour", "Value:colour:红色"), ("Product:杂0", "size", "Value:size:4cm")]
    triples += [t for t in graph() if t[0] != "Product:壳0" or t[1] != "colour"]
    triples.append(("Product:软件1", "product_type", "Value:product_type:壳"))  # of two types: the likelier
    shares = _StatedShares(triples, ["colour"])
    assert shares[("Product:软件2", "colour")] == pytest.approx(2 / 12)  # 1 of 10 pieces of software, by the rule of succession
    assert shares[("Product:壳0", "colour")] == pytest.approx(14 / 17)  # 13 of 15 cases
    assert shares[("Product:软件1", "colour")] == shares[("Product:壳0", "colour")]
    assert shares[("Product:杂0", "colour")] == pytest.approx(1 / 3)  # products of no type are one type


def test_a_small_graph_is_calibrated_on_several_hidden_shares(monkeypatch):
    triples = [t for t in graph() if not (t[0] == "Product:壳0" and t[1] == "colour")]
    one_share = len(split(triples, ["colour"], 0.1, 0)[1])
    monkeypatch.setattr(completion, "CALIBRATION_QUERIES", 10**6)
    assert propose(_facts(triples), relations=["colour"]).calibration["hidden"] > 2 * one_share  # every round's queries
    monkeypatch.setattr(completion, "CALIBRATION_QUERIES", 1)
    hidden = propose(_facts(triples), relations=["colour"]).calibration["hidden"]
    assert one_share < hidden <= 1.5 * completion.CALIBRATION_MIN_ROUNDS * one_share  # enough after the fewest rounds
    monkeypatch.setattr(completion, "CALIBRATION_ENOUGH", 1)
    assert 0 < propose(_facts(triples), relations=["colour"]).calibration["hidden"] <= one_share  # one draw holds enough


def test_a_product_known_by_one_fact_is_calibrated_with_its_like_and_gets_no_guess():
    """Products known by one fact that another shares (a size) are like each other by it alone:
    their neighbour's colour is a guess, wrong whenever it was hidden. Products known by
    three facts get their kind's colour, right whenever hidden. Calibrated apart, the thin
    product gets no colour and the rich one gets black; one curve for both would call a full
    score a coin toss and propose neither."""
    triples = []
    for i in range(100):
        product = f"Product:壳{i}"
        triples += [(product, "product_type", "Value:product_type:壳"), (product, "compatible_with", "Value:product_type:手机"),
                    (product, "has_brand", "Brand:绿联"), (product, "colour", "Value:colour:黑色")]
    colours = ["红色", "蓝色", "白色", "绿色", "黄色"]
    for pair in range(100):
        for side in range(2):
            triples += [(f"Product:杂{pair}-{side}", "size", f"Value:size:{pair}cm"),
                        (f"Product:杂{pair}-{side}", "colour", f"Value:colour:{colours[(pair + side) % 5]}")]
    triples += [("Product:壳新", "product_type", "Value:product_type:壳"), ("Product:壳新", "compatible_with", "Value:product_type:手机"),
                ("Product:壳新", "has_brand", "Brand:绿联"), ("Product:杂新", "size", "Value:size:0cm")]
    proposals = propose(_facts(triples), relations=["colour"], share=0.4, min_probability=0.5)
    got = {f.subject.key: (f.object.name, f.confidence) for f in proposals.facts}
    assert got.get("壳新", ("", 0))[0] == "黑色" and got["壳新"][1] > 0.9
    assert "杂新" not in got  # its neighbours' colour, 红色 or 蓝色, would be a guess
    strata = proposals.calibration["by_facts_known"]
    assert strata["1"]["top_right"] < 0.2 and strata["3"]["top_right"] > 0.9 and strata["2"].get("pooled")


def test_neighbour_scores_follow_the_dense_definition_on_a_random_graph():
    """Only the products sharing a feature are read, and the answer is what the whole catalogue
    gives: cosine of idf-weighted rows, the 5 most similar products (ties kept), their share of
    each value, plus the association term and the popularity prior."""
    import numpy as np

    rng = np.random.default_rng(0)
    triples = sorted({(f"p{p}", relation, f"{relation}{rng.integers(n)}") for p in range(120)
                      for relation, n in (("colour", 6), ("material", 9), ("brand", 15)) if rng.random() < 0.8})
    scorer = NeighbourScorer(triples, neighbours=5, prior=0.2, association=2.0)
    heads = sorted({h for h, _, _ in triples})
    features = sorted({(r, t) for _, r, t in triples})
    held = np.array([[float((h, r, t) in set(triples)) for r, t in features] for h in heads])
    weighted = held * (np.log((1 + len(heads)) / (1 + held.sum(0))) + 1)
    unit = weighted / np.linalg.norm(weighted, axis=1, keepdims=True)
    cooccurrence = (held.T @ held) / np.maximum(held.sum(0), 1)[:, None]
    colours = [t for r, t in features if r == "colour"]
    columns = [features.index(("colour", c)) for c in colours]
    popularity = held[:, columns].sum(0)
    for row in rng.choice(len(heads), 20, replace=False):
        similarity = unit @ unit[row]
        similarity[row] = 0.0
        similarity[similarity < np.sort(similarity)[-5]] = 0.0
        expected = similarity @ held[:, columns] / similarity.sum() + 2.0 * (unit[row] @ cooccurrence[:, columns]) / unit[row].sum()
        expected += popularity / (popularity.sum() + 1) * 0.2
        assert scorer.scores(heads[row], "colour", colours) == pytest.approx(expected, abs=1e-9)
        stating = held[:, columns].any(axis=1)  # the neighbours that state some colour, by similarity
        assert scorer.coverage(heads[row], "colour") == pytest.approx(similarity @ stating / similarity.sum(), abs=1e-9)


def test_pruned_neighbour_search_gives_the_scores_of_the_whole_search():
    """Reading a common value's posting only where rarer values found a class (and the copies of
    a product as one class) changes no score, not even in its last bit."""
    import numpy as np

    rng = np.random.default_rng(1)
    triples = sorted({(f"p{p}", relation, f"{relation}{min(int(rng.zipf(1.5)), n)}") for p in range(300)
                      for relation, n in (("colour", 8), ("material", 30), ("brand", 60), ("size", 200)) if rng.random() < 0.7}
                     | {(f"copy{p}", "colour", "colour1") for p in range(40)})
    pruned, whole = (NeighbourScorer(triples, neighbours=5, prior=0.2, association=2.0) for _ in range(2))
    pruned.long_posting, whole.long_posting = 16, 10**9
    values = sorted({t for _, r, t in triples if r == "material"})
    for head in sorted({h for h, _, _ in triples})[::7]:
        assert np.array_equal(pruned.scores(head, "material", values), whole.scores(head, "material", values))


def test_values_left_out_rank_as_a_list_without_them_to_the_last_bit():
    """Filtered ranking by positions left out of one shared list (no list per hidden triple):
    the same best value, score and rank as the filtered list itself, for each scorer, also
    where the tail is not among the values ranked or every score is minus infinity."""
    import numpy as np

    from skugraph.fusion.completion import PopularityScorer, _Ranked, _ranked_scores, _top, _values

    class Unsure:  # knows nothing: every score is minus infinity
        def scores(self, head, relation, candidates, left_out=()):
            return np.full(len(candidates), -np.inf)

    rng = np.random.default_rng(2)
    triples = sorted({(f"p{p}", relation, f"{relation}{int(rng.integers(n))}") for p in range(200)
                      for relation, n in (("colour", 12), ("material", 40)) for _ in range(3) if rng.random() < 0.6})
    rare = [(f"p{p}", "material", f"rare{p}") for p in range(0, 200, 20)]  # hidden, so never seen in training
    triples = sorted(set(triples) | set(rare))
    hidden = sorted(set(triples[::3]) | set(rare))
    kept = sorted(set(triples) - set(hidden))
    ranked = _Ranked(_values(kept, ["colour", "material"]), set(triples), hidden)
    held = set(triples)
    for scorer in (NeighbourScorer(kept, neighbours=5, prior=0.2, association=2.0), PopularityScorer(kept), Unsure()):
        several = unseen = 0
        for head, relation, tail in hidden:
            left_out = ranked.left_out(head, relation, tail)
            values = ranked.values[relation]
            filtered = [c for c in values if c == tail or (head, relation, c) not in held]
            several += bool(left_out)
            assert len(filtered) == ranked.count(relation, left_out)
            assert _top(scorer, head, relation, values, left_out) == _top(scorer, head, relation, filtered)
            scores, alone = _ranked_scores(scorer, head, relation, values, left_out), scorer.scores(head, relation, filtered)
            kept_positions = np.setdiff1d(np.arange(len(values)), left_out)
            assert np.array_equal(scores[kept_positions], alone)  # the same numbers, bit for bit
            if tail in filtered:
                truth = alone[filtered.index(tail)]
                assert (scores > truth).sum() == (alone > truth).sum()
            else:
                unseen += 1
        assert several > 20 and unseen > 0  # heads holding other values, and tails training never saw, were asked


def test_similarities_summed_over_every_class_or_the_classes_found_are_the_same(monkeypatch):
    """A product whose postings are long sums its similarities in an array of every class, one
    whose postings are short at the classes found, sorted: the scores agree to the last bit."""
    import numpy as np

    from skugraph.fusion import completion

    rng = np.random.default_rng(2)
    triples = sorted({(f"p{p}", relation, f"{relation}{min(int(rng.zipf(1.3)), n)}") for p in range(400)
                      for relation, n in (("colour", 8), ("material", 40), ("brand", 80)) if rng.random() < 0.8})
    heads, values = sorted({h for h, _, _ in triples}), sorted({t for _, r, t in triples if r == "colour"})
    scored = {}
    for share in (10**9, 0):  # every product summed densely; none
        monkeypatch.setattr(completion, "DENSE_SHARE", share)
        scorer = NeighbourScorer(triples, neighbours=7, prior=0.2, association=2.0)
        scored[share] = [(scorer.scores(h, "colour", values), scorer.coverage(h, "colour")) for h in heads[::3]]
    for (dense, dense_coverage), (sparse, sparse_coverage) in zip(scored[10**9], scored[0], strict=True):
        assert np.array_equal(dense, sparse) and dense_coverage == sparse_coverage


def test_a_calibration_block_says_the_rule_of_succession_not_its_bare_share():
    """Isotonic regression gives a run of right answers the probability 1; a handful of them
    proves far less: (k + 1) / (n + 2), kept non-decreasing in the score."""
    scores = [0.1 * i for i in range(40)]
    right = [0.0] * 20 + [1.0] * 5 + [0.0] * 10 + [1.0] * 5  # the top five scores all right
    curve = _curves(scores, right, [4] * 40)[4]
    assert curve(3.9) == pytest.approx(6 / 7) and curve(3.9) < 1
    assert curve(0.0) == pytest.approx(1 / 22)  # twenty wrong: not 0 either
    assert all(a[1] <= b[1] for a, b in zip(curve.report["curve"], curve.report["curve"][1:]))
    assert _curves([0.5] * 30, [1.0] * 30, [1] * 30)[1](0.5) == pytest.approx(31 / 32)  # all right: no curve, one value


def test_a_relation_may_ask_more_neighbours_than_the_others():
    """A copy of the asked bag states no colour; three bags like it are red and leather, twenty
    less like it black and cloth, forty least like it white: its colour from 24 neighbours is
    black, never white, its material from 4 still leather. A product's answers for a smaller
    count read from those for 24 are the ones searched for it, whichever is asked first."""
    asked = [("product_type", "Value:product_type:包"), ("style", "Value:style:复古"), ("season", "Value:season:春")]
    triples = [(product, r, t) for product in ("Product:q", "Product:copy") for r, t in asked]  # one class of two
    for i in range(3):
        triples += [(f"Product:near{i}", "product_type", "Value:product_type:包"), (f"Product:near{i}", "style", "Value:style:复古"),
                    (f"Product:near{i}", "colour", "Value:colour:红色"), (f"Product:near{i}", "material", "Value:material:皮")]
    for i in range(20):
        triples += [(f"Product:far{i}", "product_type", "Value:product_type:包"), (f"Product:far{i}", "season", "Value:season:春"),
                    (f"Product:far{i}", "colour", "Value:colour:黑色"), (f"Product:far{i}", "material", "Value:material:布")]
    for i in range(40):
        triples += [(f"Product:w{i}", "product_type", "Value:product_type:包"), (f"Product:w{i}", "style", f"Value:style:w{i}"),
                    (f"Product:w{i}", "pattern", f"Value:pattern:w{i}"), (f"Product:w{i}", "colour", "Value:colour:白色")]
    colours, materials = ["Value:colour:红色", "Value:colour:黑色", "Value:colour:白色"], ["Value:material:皮", "Value:material:布"]
    narrow = NeighbourScorer(triples, neighbours=4)  # the copy and the near bags

    def wide() -> NeighbourScorer:
        return NeighbourScorer(triples, neighbours=4, neighbours_of={"colour": 24})  # and the far ones

    assert narrow.scores("Product:q", "colour", colours).argmax() == 0
    first = wide()
    wide_colours = first.scores("Product:q", "colour", colours)
    assert wide_colours.argmax() == 1 and wide_colours[2] < 1e-5  # the white bags are no neighbours of 24
    narrow_materials = narrow.scores("Product:q", "material", materials)
    assert narrow_materials.argmax() == 0 and list(first.scores("Product:q", "material", materials)) == list(narrow_materials)
    second = wide()  # the smaller count asked first
    assert list(second.scores("Product:q", "material", materials)) == list(narrow_materials)
    assert list(second.scores("Product:q", "colour", colours)) == list(wide_colours)
    fifth = NeighbourScorer(triples, neighbours=5, neighbours_of={"colour": 24})
    fifth.scores("Product:q", "colour", colours)  # then 5 read from 24: the far bags too, the product no neighbour of itself
    assert list(fifth.scores("Product:q", "material", materials)) == list(
        NeighbourScorer(triples, neighbours=5).scores("Product:q", "material", materials))
    styled = NeighbourScorer(triples, neighbours=4, neighbours_of={"style": 24})
    assert styled.coverage("Product:q", "style") == narrow.coverage("Product:q", "style") == 1.0  # coverage asks 4
    assert NeighbourScorer(triples, neighbours=24).coverage("Product:q", "style") < 0.5
    every = NeighbourScorer(triples, neighbours=4, neighbours_of={"colour": 25}).scores("Product:q", "colour", colours)
    more = NeighbourScorer(triples, neighbours=4, neighbours_of={"colour": 1000}).scores("Product:q", "colour", colours)
    assert list(more) == list(every) and every[2] > 1e-5  # 25 reaches the white bags, tied: all 64 others
    assert FitNeighbours(triples).plain.neighbours_of == dict(completion.WIDE_NEIGHBOURS)
    with pytest.raises(ValueError, match="positive whole numbers"):
        NeighbourScorer(triples, neighbours_of={"colour": 0})
