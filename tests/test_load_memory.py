"""A load writes a chunk of rows at a time, each committed, so that its memory does not grow with the
catalogue: loads in many chunks give the graph one chunk gives, and one killed between or inside its
commits, then run again, gives the clean graph."""

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import load_listings
from skugraph.graph import ladybug_store, store as graph_store
from skugraph.graph.ladybug_store import LadybugStore
from skugraph.graph.store import open_store


def _small_chunks(monkeypatch, rows: int = 250, listings: int = 40) -> list[str]:
    """Chunks of ``rows`` rows and supports built ``listings`` listings at a time; the statements run."""
    monkeypatch.setattr(ladybug_store, "CHUNK_ROWS", rows)
    monkeypatch.setattr(graph_store, "SUPPORTS_SLICE", listings)
    statements: list[str] = []
    run = LadybugStore._run

    def counted(self, statement, parameters=None):
        statements.append(statement)
        return run(self, statement, parameters)

    monkeypatch.setattr(LadybugStore, "_run", counted)
    return statements


def _load(db, work, batch_size=300, listings=None):
    pipeline.load(db, listings or work / "listings.jsonl", work / "fused.jsonl", batch_size=batch_size)
    with open_store(db, read_only=True) as store:
        return store.digest(), store.duplicates(), store.stats()


def test_a_load_in_many_chunks_gives_the_graph_one_chunk_gives(fused_sample, tmp_path, monkeypatch):
    expected = _load(tmp_path / "one.lbug", fused_sample)
    statements = _small_chunks(monkeypatch)
    for batch_size in (300, 50):
        statements.clear()
        assert _load(tmp_path / f"chunks-{batch_size}.lbug", fused_sample, batch_size) == expected
        assert statements.count("COMMIT") >= 5  # one a chunk: several here
        supports = [s for s in statements if "SET l.supports = supports" in s]
        assert len(supports) > 3  # the listings' supports, set after the facts, a slice at a time
    assert not any(expected[1].values())
    with open_store(tmp_path / "chunks-50.lbug", read_only=True) as store:
        rows = store.query("MATCH (l:Listing) RETURN l.supports, l.runs").rows
    assert all(keys is not None and runs is not None for keys, runs in rows)
    assert sum(keys != "[]" for keys, _ in rows) > len(rows) / 2


def test_an_update_in_many_chunks_gives_the_graph_one_chunk_gives(fused_sample, tmp_path, monkeypatch):
    """A second load with new versions of some listings (changed titles): the same graph, the same changes."""
    listings = list(load_listings(fused_sample / "listings.jsonl"))
    changed = tmp_path / "changed.jsonl"
    with changed.open("w", encoding="utf-8") as out:
        for number, listing in enumerate(listings):
            if number % 20 == 0:
                listing = replace(listing, title=listing.title + " 新款")
            out.write(json.dumps(listing.to_dict(), ensure_ascii=False) + "\n")
    digests, statements = [], []
    for chunked in (False, True):
        if chunked:
            statements = _small_chunks(monkeypatch)
        db = tmp_path / f"graph-{chunked}.lbug"
        _load(db, fused_sample)
        statements.clear()
        digests.append(_load(db, fused_sample, listings=changed))
        with open_store(db, read_only=True) as store:
            assert store.stats()["nodes"]["Change"] >= len(listings) // 20
    assert digests[0] == digests[1]
    # new versions of stored listings: the update is one transaction, so a kill leaves the graph as it was
    assert statements.count("COMMIT") == 1


_KILLED = """
import sys
from pathlib import Path
from skugraph.graph import ladybug_store, store
ladybug_store.CHUNK_ROWS, store.SUPPORTS_SLICE = 250, 40
from skugraph import pipeline
work, db = Path(sys.argv[1]), Path(sys.argv[2])
pipeline.load(db, work / "listings.jsonl", work / "fused.jsonl", batch_size=300)
"""


def test_a_load_in_chunks_killed_mid_way_and_run_again_gives_the_clean_graph(fused_sample, tmp_path, monkeypatch):
    expected = _load(tmp_path / "clean.lbug", fused_sample)
    _small_chunks(monkeypatch)
    command = [sys.executable, "-c", _KILLED, str(fused_sample)]
    began = time.perf_counter()
    assert subprocess.run([*command, str(tmp_path / "timed.lbug")], check=False).returncode == 0
    seconds = time.perf_counter() - began
    partial = []
    for share in (0.45, 0.6, 0.75, 0.9):
        db = tmp_path / f"killed-{share}.lbug"
        load = subprocess.Popen([*command, str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds * share)
        load.send_signal(signal.SIGKILL)
        load.wait()
        if db.exists():
            with open_store(db, read_only=True) as store:
                partial.append(sum(store.stats()["edges"].values()))
        assert _load(db, fused_sample) == expected, f"killed at {share:.0%} of a load"
    total = sum(expected[2]["edges"].values())
    assert any(0 < edges < total for edges in partial), f"no kill left committed chunks of a load: {partial} of {total}"


def _pieces_of(monkeypatch, share: float) -> list[str]:
    """Each COPY of a load with a small buffer pool takes ``share`` of it (a few rows here); the COPY statements run."""
    monkeypatch.setattr(ladybug_store, "COPY_SHARE_OF_POOL", share)
    copies: list[str] = []
    run = LadybugStore._run

    def counted(self, statement, parameters=None):
        if statement.startswith("COPY "):
            copies.append(statement)
        return run(self, statement, parameters)

    monkeypatch.setattr(LadybugStore, "_run", counted)
    return copies


def test_a_load_with_a_small_buffer_pool_copies_each_table_in_pieces_and_gives_the_same_graph(fused_sample, tmp_path, monkeypatch):
    expected = _load(tmp_path / "whole.lbug", fused_sample)
    copies = _pieces_of(monkeypatch, 1e-4)  # 64 MB: pieces of about 6.7 KB of rows
    pipeline.load(tmp_path / "pieces.lbug", fused_sample / "listings.jsonl", fused_sample / "fused.jsonl", buffer_pool_mb=64)
    with open_store(tmp_path / "pieces.lbug", read_only=True) as store:
        assert (store.digest(), store.duplicates(), store.stats()) == expected
    pieces = [c for c in copies if "/piece-" in c]
    assert any("COPY HAS_VALUE FROM" in c for c in pieces) and any("COPY Listing FROM" in c for c in pieces)
    assert len([c for c in pieces if "COPY HAS_VALUE FROM" in c]) > 3


def test_an_update_with_a_small_buffer_pool_stays_one_transaction(fused_sample, tmp_path, monkeypatch):
    """New versions of stored listings: nothing is committed before the update ends, so nothing is copied in pieces."""
    listings = list(load_listings(fused_sample / "listings.jsonl"))
    changed = tmp_path / "changed.jsonl"
    with changed.open("w", encoding="utf-8") as out:
        for listing in listings:
            out.write(json.dumps(replace(listing, title=listing.title + " 新款").to_dict(), ensure_ascii=False) + "\n")
    db = tmp_path / "graph.lbug"
    _load(db, fused_sample)
    copies = _pieces_of(monkeypatch, 1e-4)
    statements = _small_chunks(monkeypatch)
    pipeline.load(db, changed, fused_sample / "fused.jsonl", buffer_pool_mb=64)
    assert copies and not any("/piece-" in c for c in copies) and statements.count("COMMIT") == 1



def test_a_cache_too_small_for_a_load_is_told_and_loading_again_with_room_completes_the_graph(fused_sample, tmp_path, monkeypatch):
    import ladybug

    expected = _load(tmp_path / "whole.lbug", fused_sample)
    execute = ladybug.Connection.execute

    def full(self, statement, *args, **kwargs):  # what LadybugDB says when a COPY does not fit its cache
        if statement.startswith("COPY HAS_VALUE"):
            raise RuntimeError("Buffer manager exception: Unable to allocate memory! The buffer pool is full and no memory could be freed!")
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(ladybug.Connection, "execute", full)
    db = tmp_path / "small.lbug"
    with pytest.raises(graph_store.StoreError, match=r"page cache of 64 MB is too small for this \(a larger --buffer-pool-mb"):
        pipeline.load(db, fused_sample / "listings.jsonl", fused_sample / "fused.jsonl", buffer_pool_mb=64)
    monkeypatch.setattr(ladybug.Connection, "execute", execute)
    assert _load(db, fused_sample) == expected


def test_a_load_with_a_small_buffer_pool_commits_each_copy_and_each_slice_of_supports(fused_sample, tmp_path, monkeypatch):
    """What a capped cache holds stays one table's (or one slice of supports') rows: a transaction
    spanning several would have LadybugDB hold them all (at 300,000 listings, a 1 GB pool then
    crashed it while it set the listings' supports); and the graph is the one a whole load gives."""
    expected = _load(tmp_path / "whole.lbug", fused_sample)
    statements = _small_chunks(monkeypatch, rows=1_000, listings=20)  # listings written before the facts end
    pipeline.load(tmp_path / "capped.lbug", fused_sample / "listings.jsonl", fused_sample / "fused.jsonl", batch_size=50,
                  buffer_pool_mb=64)
    with open_store(tmp_path / "capped.lbug", read_only=True) as store:
        assert (store.digest(), store.duplicates(), store.stats()) == expected
    copies = [n for n, s in enumerate(statements) if s.startswith("COPY ")]
    assert len(copies) > 5 and all(statements[n + 1] == "COMMIT" for n in copies)
    supports = [n for n, s in enumerate(statements) if "SET l.supports = supports" in s]
    assert len(supports) > 3 and all("COMMIT" in statements[a:b] for a, b in zip(supports, supports[1:]))
