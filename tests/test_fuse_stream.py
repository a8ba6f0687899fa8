"""Fusion in shards (:func:`skugraph.fusion.stream.fuse_stream`) writes what fusion in memory
(:func:`skugraph.fusion.fuse.fuse_all`) gives; the bench's catalogue has product families."""

from __future__ import annotations

from collections import Counter

import pytest

from skugraph.bench.families import family_catalogue, family_listings
from skugraph.corpus.listings import read_listings
from skugraph.facts.build import FactBuilder
from skugraph.facts.io import confident_facts, read_fact_tables, read_facts, write_facts
from skugraph.fusion import completion
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.fuse import fuse_all
from skugraph.fusion.resolve import pairwise_scores, resolve_products
from skugraph.fusion.stream import fuse_stream
from skugraph.records import Listing
from skugraph.sample.generate import CATALOGUE
from skugraph.tagging.rules import RuleExtractor


def _extract(listings: list[Listing]) -> list:
    extractor = RuleExtractor().learn_brands(listing.title for listing in listings)
    builder = FactBuilder(extractor.gazetteer, extractor.lexicons["accessory"])
    return [fact for listing in listings for fact in resolve_conflicts(builder.build(listing, extractor.extract(listing)))]


@pytest.fixture(scope="module")
def demo():
    listings = list(read_listings([CATALOGUE]))
    return listings, _extract(listings)


@pytest.mark.parametrize(("shard_facts", "min_confidence", "name", "workers", "tables"),
                         [(100_000, 0.0, "fused.jsonl", 1, None), (300, 0.0, "fused.jsonl", 1, None), (250, 0.55, "fused.jsonl", 1, None),
                          (300, 0.0, "fused.parquet", 1, None), (250, 0.55, "fused.jsonl", 2, None),
                          (300, 0.0, "fused.jsonl", 1, "facts.jsonl"), (300, 0.0, "fused.jsonl", 1, "facts.parquet")])
def test_fusion_in_shards_writes_what_fusion_in_memory_gives(demo, tmp_path, monkeypatch, shard_facts, min_confidence, name,
                                                             workers, tables):
    """… with any number of workers, the first pass reading facts or tables (from JSONL: properties
    as a struct; from Parquet: as JSON text)."""
    monkeypatch.setattr(completion, "SENT_QUERIES", 10)  # the demo's completion queries go to the workers too
    listings, facts = demo
    _, fused, inferred = fuse_all(listings, facts, min_probability=0.55)  # the sample's one proposal: about 0.6
    expected_left_out: Counter[str] = Counter()
    expected = list(confident_facts(fused + inferred, min_confidence, expected_left_out))
    assert inferred  # completion takes part
    left_out: Counter[str] = Counter()
    calls = []

    def read() -> list:
        calls.append(1)
        return iter(facts)

    read_tables = None
    if tables:
        write_facts(tmp_path / "in" / tables, facts)
        read_tables = lambda: read_fact_tables(tmp_path / "in" / tables, rows=500)  # noqa: E731
    out = tmp_path / "out" / name
    report = fuse_stream(iter(listings), read, out, min_probability=0.55, min_confidence=min_confidence, left_out=left_out,
                         shard_facts=shard_facts, workers=workers, read_tables=read_tables)
    assert list(read_facts(out)) == expected
    assert len(calls) == (1 if tables else 2) and report.facts_in == len(facts) and report.facts_out == len(expected)
    assert report.inferred == len(inferred) and list(left_out.items()) == list(expected_left_out.items()) and (min_confidence == 0) == (not left_out)
    assert [path.name for path in out.parent.iterdir()] == [name]  # the shards are gone


def test_family_catalogue_is_deterministic_and_has_products_listed_by_several_shops(tmp_path):
    assert family_catalogue(tmp_path / "a.jsonl", 600, seed=3) == 600
    family_catalogue(tmp_path / "b.jsonl", 600, seed=3)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    gold = {record["id"]: product for product, record in family_listings(600, seed=3)}
    sizes = Counter(Counter(gold.values()).values())
    assert sizes[1] and sizes[2] and sizes[3] and len(set(gold.values())) < 450
    listings = list(read_listings([tmp_path / "a.jsonl"]))
    assert len({listing.title for listing in listings}) > 550  # each shop writes its own title
    resolution = resolve_products(listings, _extract(listings))
    score = pairwise_scores(resolution.product_of, gold)
    assert score.precision > 0.95 and 0.5 < score.recall < 1.0  # near-miss variants kept apart, most listings joined


def _pid(_: int) -> int:
    import os

    return os.getpid()


def test_renewed_workers_are_fresh_processes_that_go_on_mapping():
    """Fusion renews its workers between stages, so that none keeps the memory an earlier stage left."""
    from skugraph.processes import Workers

    with Workers(2) as pool:
        before = set(pool.map(_pid, range(8)))
        pool.renew()
        after = set(pool.map(_pid, range(8)))
        assert list(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
    assert before and after and not before & after
    with Workers(1) as alone:
        alone.renew()
        assert list(alone.map(abs, [-4])) == [4]


def test_the_collector_pause_ends_with_the_last_open_one_in_any_thread():
    """Pauses nest and overlap across threads (a server's writer and its requests): the collector
    is off while any is open and on again after the last, even when one ends in an error."""
    import gc
    import threading

    from skugraph.processes import collector_paused

    assert gc.isenabled()
    with collector_paused():
        with pytest.raises(ValueError), collector_paused():
            raise ValueError("inside a nested pause")
        assert not gc.isenabled()
    assert gc.isenabled()
    opened, close_first, first_closed, close_second = (threading.Event() for _ in range(4))

    def first() -> None:
        with collector_paused():
            opened.set()
            close_first.wait()
        first_closed.set()

    def second() -> None:
        opened.wait()
        with collector_paused():
            close_first.set()  # the first pause ends while this one is open
            first_closed.wait()
            states.append(gc.isenabled())
            close_second.wait()

    states: list[bool] = []
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_closed.wait()
    close_second.set()
    for thread in threads:
        thread.join()
    assert states == [False], "the collector stays off while another thread's pause is open"
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()
