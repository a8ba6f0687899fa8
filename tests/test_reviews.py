import json

import numpy as np
import pytest

from skugraph.facts.classify import LinearTextClassifier
from skugraph.facts.opinions import (
    Decoding,
    Opinion,
    OpinionDataError,
    OpinionExtractor,
    OpinionText,
    aspect_summary,
    pair,
    read_opinion_csv,
    review_facts,
    train_opinion_extractor,
    tuple_scores,
)
from skugraph.facts.sentiment import SentimentDataError, read_sentiment_file, train_sentiment
from skugraph.records import Listing, Review
from skugraph.sample.generate import sample_opinions, sample_sentiments


@pytest.mark.parametrize("labels", [["好", "好", "差", "差", "中", "中"], ["好", "好", "差", "差", "好", "差"]])
def test_linear_classifier_round_trips_without_pickle(tmp_path, labels):
    texts = ["很好用，满意", "质量很好", "太差了", "不好用，退货", "一般般吧", "还行吧"]
    model = LinearTextClassifier.fit(texts, labels, min_df=1)
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["classifier.json", "vocabulary.json", "weights.safetensors"]
    loaded = LinearTextClassifier.load(tmp_path / "m")
    assert loaded.labels == model.labels
    np.testing.assert_allclose(loaded.probabilities(texts), model.probabilities(texts), atol=1e-6)
    assert [label for label, _ in loaded.predict(texts)] == labels  # it fits its training texts


def test_sentiment_labels_are_read_whatever_their_spelling(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("cat,label,review\n书籍,1,很好看\n书籍,0,太差\n书籍,正面,不错\n书籍,1,\n", encoding="utf-8")
    assert read_sentiment_file(path) == [("很好看", "positive"), ("太差", "negative"), ("不错", "positive")]
    path.write_text("cat,label,review\n书籍,1,很好看\n书籍,maybe,一般\n", encoding="utf-8")
    with pytest.raises(SentimentDataError, match=r"s\.csv:3: field label: 'maybe'"):
        read_sentiment_file(path)


def test_sample_sentiment_model_reads_its_reviews():
    model = train_sentiment(sample_sentiments())
    assert set(model.labels) == {"positive", "negative", "neutral"}
    accuracy = np.mean([label == gold for (label, _), (_, gold) in zip(model.predict([t for t, _ in sample_sentiments()]), sample_sentiments())])
    assert accuracy >= 0.9


def test_opinion_csv_is_checked_against_the_text(tmp_path):
    reviews, labels = tmp_path / "r.csv", tmp_path / "l.csv"
    reviews.write_text("id,Reviews\n1,很好，遮暇功能差一些\n", encoding="utf-8")
    labels.write_text("id,AspectTerms,A_start,A_end,OpinionTerms,O_start,O_end,Categories,Polarities\n"
                      "1,_, , ,很好,0,2,整体,正面\n1,遮暇功能,3,7,差一些,7,10,功效,负面\n", encoding="utf-8")
    (review,) = read_opinion_csv(reviews, labels)
    assert [(o.terms(review.text), o.category, o.polarity) for o in review.opinions] == [
        (("_", "很好"), "整体", "正面"), (("遮暇功能", "差一些"), "功效", "负面")]
    labels.write_text("id,AspectTerms,A_start,A_end,OpinionTerms,O_start,O_end,Categories,Polarities\n"
                      "1,遮暇,3,6,差一些,7,10,功效,负面\n", encoding="utf-8")
    with pytest.raises(OpinionDataError, match=r"l\.csv:2: field AspectTerms: '遮暇' is not at 3\.\.6"):
        read_opinion_csv(reviews, labels)


def test_opinions_pair_with_the_nearest_aspect_of_their_clause():
    text = "屏幕很清晰，很好用，很清晰的屏幕"
    aspects = [(0, 2), (14, 16)]
    opinions = [(2, 5), (6, 9), (10, 13)]
    assert pair(text, aspects, opinions) == [((0, 2), (2, 5)), (None, (6, 9)), ((14, 16), (10, 13))]
    # an aspect after the opinion that a later opinion of the clause claims is not its aspect
    assert pair("很好用保湿效果不错", [(3, 7)], [(0, 3), (7, 9)]) == [(None, (0, 3)), ((3, 7), (7, 9))]


def test_decoding_drops_spans_under_the_minimum_score_of_their_label():
    texts = ["还有赠品，很好用", "赠品很好"]
    inputs = ["赠品|_", "_|很好用", "赠品|很好", "_|还有"]
    category = LinearTextClassifier.fit(inputs, ["价格", "整体", "价格", "整体"], min_df=1)
    polarity = LinearTextClassifier.fit(inputs, ["正面", "正面", "正面", "负面"], min_df=1)
    extractor = OpinionExtractor(None, category, polarity)
    spans = [[(0, 2, "OP", 0.1), (2, 4, "ASP", 0.9), (5, 8, "OP", 0.9)], [(0, 2, "ASP", 0.9), (2, 4, "OP", 0.8)]]

    def terms(decoding):
        return [[o.terms(text) for o in row] for text, row in zip(texts, extractor.read_spans(texts, spans, decoding))]

    # the plain rule (and an extractor with no decoding in its record): every span kept
    assert terms(None) == terms(Decoding()) == [[("赠品", "还有"), ("_", "很好用")], [("赠品", "很好")]]
    assert terms(Decoding(min_opinion=0.5)) == [[("_", "很好用")], [("赠品", "很好")]]
    assert terms(Decoding(min_aspect=0.95, min_opinion=0.85)) == [[("_", "很好用")], []]
    # a tuple whose score (span score × both classifiers' probabilities) is under the minimum goes too
    found = extractor.read_spans(texts, spans, Decoding())
    low = min(o.score for row in found for o in row)
    kept = [[o for o in row if o.score > low] for row in found]
    assert extractor.read_spans(texts, spans, Decoding(min_tuple=low + 1e-4)) == kept
    assert sum(map(len, kept)) < sum(map(len, found))


def test_the_crf_members_window_is_an_option_whose_default_keeps_the_title_features():
    from skugraph.tagging.crf_member import CrfFeatures

    titles = CrfFeatures({}, words=False)("质量很好")
    assert sorted(titles[0]) == ["b-1", "b-2", "b0", "b1", "bias", "c-1", "c-2", "c0", "c1", "c2", "kind", "t-1"]
    assert titles[0]["c2"] == "很" and titles[0]["b1"] == "量很"
    reviews = CrfFeatures({}, words=False, window=3)("质量很好")
    assert reviews[0]["c3"] == "好" and reviews[0]["b2"] == "很好" and reviews[3]["c-3"] == "质"
    assert {k: v for k, v in reviews[1].items() if k in titles[1]} == titles[1]
    with pytest.raises(ValueError, match="window"):
        CrfFeatures({}, window=0)


def test_exact_tuple_scores():
    gold = [OpinionText("1", "屏幕很清晰，很好", (Opinion((0, 2), (2, 5), "外观", "正面"), Opinion(None, (6, 8), "整体", "正面")))]
    found = [[Opinion((0, 2), (2, 5), "外观", "正面"), Opinion(None, (6, 8), "整体", "负面")]]
    assert tuple_scores(gold, found) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "gold": 2, "predicted": 2}


@pytest.fixture(scope="module")
def opinion_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("opinions")
    reviews = sample_opinions()
    train_opinion_extractor(reviews, reviews, out, base_model="scratch:tiny", epochs=60, patience=60, networks=1)
    return out


def test_opinion_extractor_overfits_its_reviews_and_reloads(opinion_model):
    reviews = sample_opinions()
    extractor = OpinionExtractor.load(opinion_model)
    found = extractor.extract([r.text for r in reviews])
    assert tuple_scores(reviews, found)["f1"] >= 0.9
    again = OpinionExtractor.load(opinion_model).extract([r.text for r in reviews])
    assert [[(o.aspect, o.opinion, o.category, o.polarity) for o in row] for row in again] == \
           [[(o.aspect, o.opinion, o.category, o.polarity) for o in row] for row in found]
    assert all(0.0 < o.score <= 1.0 for row in found for o in row)
    # the span tagger is trained as `skugraph train tagger` trains one: its CRF member scored beside it on dev
    assert set(extractor.record["tagger_ensemble"]["dev_f1"]) == {"neural", "crf", "ensemble"}
    # the minimum span and tuple scores are the ones dev scored best, keeping everything among those tried
    tried = extractor.record["dev_f1_by_decoding"]
    chosen = extractor.record["decoding"]
    assert extractor.decoding == Decoding(**chosen)
    assert tried[f"{chosen['min_aspect']}/{chosen['min_opinion']}/{chosen['min_tuple']}"] == max(tried.values())
    assert "0.0/0.0/0.0" in tried
    # its CRF member sees the reviews' wider window, and reloads with it
    assert extractor.record["tagger_ensemble"]["crf"]["window"] == 3
    from skugraph.tagging.ensemble import EnsembleTagger

    assert EnsembleTagger.load(opinion_model / "tagger").crf.features.window == 3


def test_networks_share_the_network_part_of_the_average_and_reload(opinion_model, tmp_path):
    import pickle
    import shutil

    from skugraph.tagging.ensemble import EnsembleTagger, NetworksTagger
    from skugraph.tagging.span_scorer import SpanScorer

    texts = [r.text for r in sample_opinions()]
    ensemble = EnsembleTagger.load(opinion_model / "tagger")
    twice = NetworksTagger.beside(ensemble, [ensemble.neural])
    for one, two in zip(ensemble.scores(texts), twice.scores(texts), strict=True):  # a network beside itself changes nothing
        np.testing.assert_allclose(one.marginals, two.marginals, atol=1e-6)
    # an extractor whose record keeps a second network loads the networks' ensemble, the CRF's weight and temperature its record's
    out = tmp_path / "opinions"
    shutil.copytree(opinion_model, out)
    shutil.copytree(out / "tagger", out / "tagger-2")
    record = json.loads((out / "opinions.json").read_text(encoding="utf-8"))
    record["networks"] = {"use": True, "dirs": ["tagger-2"], "crf_weight": 0.75, "temperature": 1.5,
                          "span_scorer": {"scorer": SpanScorer((0.0,) * 5, 1.0).to_dict()}}
    (out / "opinions.json").write_text(json.dumps(record), encoding="utf-8")
    loaded = OpinionExtractor.load(out)
    assert len(loaded.tagger.networks) == 2 and (loaded.tagger.crf_weight, loaded.tagger.temperature) == (0.75, 1.5)
    spans = [s for row in loaded.tagger.predict(texts) for s in row]
    assert spans and all(s.score == pytest.approx(1 / (1 + np.exp(-1.0))) for s in spans)  # the record's span scorer
    ensemble.crf_weight = 0.75
    assert [[s.key for s in row] for row in loaded.tagger.predict(texts)] == [[s.key for s in row] for row in ensemble.predict(texts)]
    again = pickle.loads(pickle.dumps(loaded))  # as `skugraph extract --workers` sends it: the networks' directories
    assert [n.source for n in again.tagger.networks] == [n.source for n in loaded.tagger.networks]
    assert again.tagger.span_scorer == loaded.tagger.span_scorer
    assert again.extract(texts) == loaded.extract(texts)


def test_more_networks_are_kept_only_where_dev_tuples_score_better(tmp_path):
    reviews = sample_opinions()
    extractor = train_opinion_extractor(reviews, reviews, tmp_path, base_model="scratch:tiny", epochs=4, patience=4, networks=2)
    section = extractor.record["networks"]
    assert section["dirs"] == ["tagger-2"]
    assert section["use"] == (section["dev_tuple_f1"]["all"] > section["dev_tuple_f1"]["one"])
    assert (tmp_path / "tagger-2").is_dir() == section["use"]
    assert max(extractor.record["dev_f1_by_decoding"].values()) == max(section["dev_tuple_f1"].values())
    texts = [r.text for r in reviews]
    assert OpinionExtractor.load(tmp_path).extract(texts) == extractor.extract(texts)


def test_review_opinions_enter_the_graph_with_aggregates(store):
    listing = Listing("p1", "某手机", reviews=(Review("p1#r0", "屏幕很清晰，很好用"), Review("p1#r1", "屏幕太暗，很差")))
    facts = review_facts(listing, 0, [Opinion((0, 2), (2, 5), "外观", "正面", 0.9), Opinion(None, (6, 9), "整体", "正面", 0.8)],
                         ("positive", 0.97), "reviews@1")
    facts += review_facts(listing, 1, [Opinion((0, 2), (2, 4), "外观", "负面", 0.7)], ("negative", 0.9), "reviews@1")
    store.load([listing], facts)
    edges = store.query("MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product) "
                        "RETURN r.id, a.name, m.polarity, m.opinion, m.provenance ORDER BY r.id, a.name").rows
    assert [row[:4] for row in edges] == [["p1#r0", "外观", "positive", "屏幕:很清晰"], ["p1#r0", "整体", "positive", "很好用"],
                                          ["p1#r1", "外观", "negative", "屏幕:太暗"]]
    assert json.loads(edges[0][4])[0] == {"listing_id": "p1", "field": "reviews[0]", "start": 2, "end": 5, "extractor": "reviews", "version": "1"}
    summary = {row["aspect"]: row for row in aspect_summary(store, "p1")}
    assert (summary["外观"]["reviews"], summary["外观"]["positive"], summary["外观"]["negative"], summary["外观"]["share_positive"]) == (2, 1, 1, 0.5)
    assert store.query("MATCH (r:Review {id: 'p1#r1'})-[:HAS_SENTIMENT]->(v:Value) RETURN v.value").rows == [["negative"]]
