"""``skugraph bench load``: facts per second of our loader against LadybugDB's own ``COPY`` of
the same rows, and the cost of an incremental update of 1% of the listings against the full load."""

from __future__ import annotations

import platform
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from skugraph.bench.workload import PeakMemory, synthetic_catalogue, timed
from skugraph.extract import ExtractorConfig, brands_file
from skugraph.facts.ontology import Ontology
from skugraph.graph.columnar import fact_tables
from skugraph.graph.store import TableBatch, listing_tables


def copy_rows(listings: Iterable[pa.Table], facts: Iterable[pa.Table], ontology: Ontology) -> TableBatch:
    """The node and edge tables a load of ``listings`` and ``facts`` (tables) makes, as one batch
    for LadybugDB's ``COPY``: each table's rows once (a node both name: the listing's row)."""
    listed, times = listing_tables(pa.concat_tables(list(listings)))
    moment = datetime.now(UTC)
    evidence = pa.table({"id": pa.array(list(times), pa.string()), "updated_at": pa.array(list(times.values()), pa.timestamp("us"))})
    tables = fact_tables(pa.concat_tables(list(facts)), ontology, moment, evidence)
    nodes = dict(tables.nodes)
    for label, table in listed.nodes.items():
        if label in nodes:
            table = pa.concat_tables([table, nodes[label].filter(pc.invert(pc.is_in(nodes[label]["id"], value_set=table["id"])))
                                      .select(table.column_names)])
        nodes[label] = table
    return TableBatch(nodes, tables.edges)


def bench_load(count: int = 20_000, changed: float = 0.01, buffer_pool_mb: int | None = None, repeats: int = 2,
               progress=None) -> dict:
    """Our loader against LadybugDB's ``COPY`` on the facts the rule extractor reads from
    ``count`` generated listings, and an update of ``changed`` of the listings against it;
    each with its time and peak resident memory, LadybugDB's page cache capped at
    ``buffer_pool_mb`` if given (COPY then in pieces that fit it, as our loader copies).
    Each is run ``repeats`` times, each time into a graph of its own, and its fastest run
    kept (a shared machine's noise only ever slows a run), after a small load that warms the
    process up (imports, first use of the store) for all of them alike.

    - ours: ``skugraph load`` into an empty graph of the facts as Parquet, the columnar format
      extraction writes (read them, build the rows, stage them as Parquet in batches, bulk-copy
      the first batch of each table, upsert the rest); and the same facts as JSONL;
    - COPY: the same rows staged as one Parquet file per table, then only LadybugDB's
      ``COPY`` statements timed, into an empty graph;
    - update: the changed listings ingested and extracted again, then loaded into a copy of
      the full graph (upserts); its load time against the full load's."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest, load_listing_tables
    from skugraph.facts.io import read_fact_tables
    from skugraph.graph.store import LoadReport, open_store

    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-load-") as scratch:
        work = Path(scratch)
        synthetic_catalogue(work / "warm.jsonl", 200)
        ingest([work / "warm.jsonl"], work / "warm-listings.jsonl", work / "warm-rejects.jsonl")
        pipeline.extract(work / "warm-listings.jsonl", work / "warm-facts.parquet")
        pipeline.load(work / "warm.lbug", work / "warm-listings.jsonl", work / "warm-facts.parquet", buffer_pool_mb=buffer_pool_mb)
        synthetic_catalogue(work / "catalogue.jsonl", count)
        ingest([work / "catalogue.jsonl"], work / "listings.jsonl", work / "rejects.jsonl")
        extracted = pipeline.extract(work / "listings.jsonl", work / "facts.parquet", workers=2)
        pipeline.extract(work / "listings.jsonl", work / "facts.jsonl", workers=2)  # the same facts as JSONL
        say(f"{count} listings, {extracted.facts} facts")

        def load(facts: str) -> Callable[[int], tuple[LoadReport, dict]]:
            return lambda number: pipeline.load(work / f"{facts}-{number}.lbug", work / "listings.jsonl", work / f"facts.{facts}",
                                                buffer_pool_mb=buffer_pool_mb)

        (report, stats), ours, ours_peak = fastest(repeats, load("parquet"))
        say(f"ours: {ours:.1f} s, peak RSS {ours_peak:.0f} MB")
        (jsonl_report, jsonl_stats), jsonl, jsonl_peak = fastest(repeats, load("jsonl"))
        for number in range(repeats):  # the first graph of the Parquet facts is kept for the update
            pipeline.remove_graph(work / f"jsonl-{number}.lbug")
            if number:
                pipeline.remove_graph(work / f"parquet-{number}.lbug")
        say(f"ours from JSONL: {jsonl:.1f} s, peak RSS {jsonl_peak:.0f} MB")
        with open_store(work / "copy.lbug", buffer_pool_mb=buffer_pool_mb) as store:
            rows = copy_rows(load_listing_tables(work / "listings.jsonl"), read_fact_tables(work / "facts.parquet"), store.ontology)
            (work / "stage").mkdir()
            staged = store.stage(rows, work / "stage")
            del rows

        def copy_into(number: int) -> tuple[dict, float]:  # only the COPY statements timed
            pipeline.remove_graph(work / f"copy-{number - 1}.lbug")
            with open_store(work / f"copy-{number}.lbug", buffer_pool_mb=buffer_pool_mb) as store:
                _, seconds = timed(store.copy_staged, staged)
                return store.stats(), seconds

        copied, copy, copy_peak = fastest(repeats, copy_into, timed_by_run=True)
        say(f"COPY: {copy:.1f} s, peak RSS {copy_peak:.0f} MB")
        updated = synthetic_catalogue(work / "changed.jsonl", count, changed)
        ingest([work / "changed.jsonl"], work / "changed-listings.jsonl", work / "changed-rejects.jsonl")
        known = ExtractorConfig(brand_files=[brands_file(work / "facts.parquet")])  # as a user updates: the full run's brands
        delta = pipeline.extract(work / "changed-listings.jsonl", work / "changed-facts.parquet", config=known)

        def update_of(number: int) -> tuple[LoadReport, dict]:
            pipeline.remove_graph(work / f"update-{number - 1}.lbug")
            shutil.copy(work / "parquet-0.lbug", work / f"update-{number}.lbug")
            return pipeline.load(work / f"update-{number}.lbug", work / "changed-listings.jsonl", work / "changed-facts.parquet",
                                 buffer_pool_mb=buffer_pool_mb)

        (changes, _), update, update_peak = fastest(repeats, update_of)
        say(f"update of {updated} listings: {update:.1f} s")
    facts = extracted.facts

    def parts(load: LoadReport, total: float) -> dict[str, float]:  # the rest: opening, and the checkpoint at close
        return {name: round(value, 2) for name, value in load.seconds.items()} | {"open_close": round(total - sum(load.seconds.values()), 2)}

    return {
        "listings": count, "facts": facts, "graph": stats, "same_graph_as_copy": stats == copied, "buffer_pool_mb": buffer_pool_mb,
        "repeats": repeats,
        "ours": {"seconds": round(ours, 2), "facts_per_s": round(facts / ours), "parts": parts(report, ours),
                 "peak_rss_mb": round(ours_peak)},
        "ladybug_copy": {"seconds": round(copy, 2), "facts_per_s": round(facts / copy), "peak_rss_mb": round(copy_peak)},
        "ours_vs_copy": round(copy / ours, 2),
        "ours_from_jsonl": {"seconds": round(jsonl, 2), "facts_per_s": round(facts / jsonl), "parts": parts(jsonl_report, jsonl),
                            "peak_rss_mb": round(jsonl_peak), "vs_copy": round(copy / jsonl, 2),
                            "same_graph": jsonl_stats == stats},
        "our_store_statements_vs_copy": round(copy / report.seconds["store"], 2),
        "update": {"listings": updated, "share": changed, "facts": delta.facts, "seconds": round(update, 2),
                   "parts": parts(changes, update), "share_of_full_load": round(update / ours, 3),
                   "peak_rss_mb": round(update_peak)},
        "cpu": platform.processor() or platform.machine(),
    }


def fastest(repeats: int, run: Callable[[int], Any], timed_by_run: bool = False) -> tuple[Any, float, float]:
    """``run(number)`` for each of ``repeats`` numbers: the result, seconds and peak resident
    MB (:class:`PeakMemory`) of the fastest run; with ``timed_by_run``, ``run`` gives (result,
    seconds) itself, the part of it that counts."""
    runs = []
    for number in range(repeats):
        with PeakMemory() as memory:
            result, seconds = run(number) if timed_by_run else timed(run, number)
        runs.append((seconds, memory.peak_mb, result))
    seconds, peak, result = min(runs, key=lambda found: found[0])
    return result, seconds, peak
