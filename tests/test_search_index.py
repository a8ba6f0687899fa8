"""The search index that takes updates: BM25 as bm25s scores it, and an updated index that
answers as one built afresh from the same products."""

import dataclasses

import bm25s
import numpy as np
import pytest

from skugraph.apps.documents import documents_from_store
from skugraph.apps.query_parser import QueryParser
from skugraph.apps.search import SearchIndex, words
from skugraph.apps.text_index import TextIndex
from skugraph.extract import ExtractorConfig, build_extractor
from skugraph.graph.store import open_store

QUERIES = ["华为 手机壳", "苹果 256G 手机", "黑色 耳机", "小米 充电器 快充", "不锈钢 保温杯", "太阳能 热水器", "钢化膜"]


@pytest.fixture(scope="module")
def catalogue(demo_graph):
    with open_store(demo_graph, read_only=True) as store:
        documents, aliases = documents_from_store(store)
        titles = [row[0] for row in store.query("MATCH (l:Listing) RETURN l.title").rows]
    return documents, aliases, QueryParser(build_extractor(ExtractorConfig(), titles))


def test_bm25_scores_are_those_of_bm25s(catalogue):
    documents, _, _ = catalogue
    corpus = [words(d.text) or ["∅"] for d in documents]
    reference = bm25s.BM25()
    reference.index(corpus, show_progress=False)
    index = TextIndex(corpus)
    for query in QUERIES:
        terms = [t for t in words(query) if t in reference.vocab_dict]
        assert terms
        assert np.allclose(index.scores(terms), reference.get_scores(terms), rtol=1e-5, atol=1e-6), query


def test_an_updated_text_index_scores_as_a_new_one():
    texts = [["a", "b"], ["b", "c", "c"], ["a"], ["d"]]
    updated = TextIndex(texts).updated({1: ["a", "a"], 2: None, 4: ["b", "d"]})
    fresh = TextIndex([["a", "b"], ["a", "a"], None, ["d"], ["b", "d"]])
    for terms in (["a"], ["b", "d"], ["c"], ["a", "a", "b"]):
        assert np.allclose(updated.scores(terms), fresh.scores(terms)), terms
    assert updated.scores(["c"]).max() == 0 and updated.documents == 4


def _answers(index: SearchIndex, parser: QueryParser) -> list:
    out = []
    for query in QUERIES:
        result = index.search(query, parser, limit=8)
        out.append((query, [(h.id, round(h.score, 4), h.matched) for h in result.hits], result.total, result.facets))
    out.append(index.search("手机壳", parser, limit=5, filters={"fits": "华为"}).to_dict()["hits"])
    return out


def test_an_updated_search_index_answers_as_one_built_afresh(catalogue):
    documents, aliases, parser = catalogue
    index = SearchIndex(documents, aliases)
    before = _answers(index, parser)
    changed = []
    for doc in documents[:40:3]:  # other facts, another text, another price
        facts = {key: weight / 2 for key, weight in list(doc.facts.items())[1:]}
        changed.append(dataclasses.replace(doc, facts=facts, text=doc.text + "\n黑色 钢化膜", prices=(*doc.prices, 99.0)))
    added = [dataclasses.replace(documents[5], id="new-one"), dataclasses.replace(documents[7], id="new-two", prices=(12345.0,))]
    removed = [d.id for d in documents[50:60]]
    updated = index.updated(changed + added, removed)
    now = {d.id: d for d in documents if d.id not in removed} | {d.id: d for d in changed + added}
    fresh = SearchIndex(list(now.values()), aliases)
    assert _answers(updated, parser) == _answers(fresh, parser)
    assert _answers(updated, parser) != before and _answers(index, parser) == before  # the old index is untouched
    assert len(updated) == len(fresh) == len(now)
