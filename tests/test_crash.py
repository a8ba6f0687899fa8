"""Crash safety: `skugraph load` killed with SIGKILL mid-way, then run again, gives the graph a
clean run gives (same digest), with no duplicate edges."""

import signal
import subprocess
import sys
import time

import pytest

from skugraph import pipeline
from skugraph.graph.store import open_store


def _load_command(work, db):
    return [sys.executable, "-m", "skugraph", "load", str(work / "fused.jsonl"), "--listings", str(work / "listings.jsonl"),
            "--db", str(db), "--batch-size", "300"]  # many transactions, so a kill lands between and inside them


def _digest(db):
    with open_store(db, read_only=True) as store:
        return store.digest(), store.duplicates()


def _opened(load: subprocess.Popen, db) -> float:
    """Wait until a load has created its database (or ended); seconds waited."""
    began = time.perf_counter()
    while load.poll() is None and not db.exists():
        time.sleep(0.01)
    return time.perf_counter() - began


def test_a_load_killed_mid_way_and_run_again_gives_the_clean_graph(fused_sample):
    clean = fused_sample / "clean.lbug"
    load = subprocess.Popen(_load_command(fused_sample, clean), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _opened(load, clean)
    began = time.perf_counter()
    assert load.wait() == 0
    writing_seconds = time.perf_counter() - began  # from the database's creation (after the imports) to the end
    expected, duplicates = _digest(clean)
    assert not any(duplicates.values())

    killed_mid_way = 0
    for share in (0.3, 0.55, 0.8):
        delay = writing_seconds * share
        for attempt in range(4):  # a load that ended before its kill (a busy machine's timings vary) runs again, killed sooner
            db = fused_sample / f"killed-{share}-{attempt}.lbug"
            load = subprocess.Popen(_load_command(fused_sample, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _opened(load, db)
            time.sleep(delay)
            landed = load.poll() is None and db.exists()
            load.send_signal(signal.SIGKILL)
            load.wait()
            if landed:
                break
            delay /= 2
        killed_mid_way += landed
        if db.exists():
            with open_store(db, read_only=True) as store:  # what the kill left: opens, and is a part of the graph
                partial = store.stats()
            assert sum(partial["nodes"].values()) <= 4000
        pipeline.load(db, fused_sample / "listings.jsonl", fused_sample / "fused.jsonl", batch_size=300)
        assert _digest(db) == (expected, duplicates), f"killed at {share:.0%} of a clean load"
    assert killed_mid_way >= 2, "the kills should land while the load is writing"


def test_the_digest_tells_graphs_apart(fused_sample, tmp_path):
    db = tmp_path / "graph.lbug"
    pipeline.load(db, fused_sample / "listings.jsonl", fused_sample / "fused.jsonl")
    before, _ = _digest(db)
    pipeline.load(db, fused_sample / "listings.jsonl", fused_sample / "fused.jsonl")
    assert _digest(db)[0] == before  # loading twice changes nothing
    with open_store(db) as store:
        store.query("MATCH (b:Brand) WITH b LIMIT 1 SET b.name = b.name + '!'")
    assert _digest(db)[0] != before
