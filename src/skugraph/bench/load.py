"""``skugraph bench load``: facts per second of our loader against LadybugDB's own ``COPY`` of
the same rows, and the cost of an incremental update of 1% of the listings against the full load."""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

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


def bench_load(count: int = 20_000, changed: float = 0.01, buffer_pool_mb: int | None = None, progress=None) -> dict:
    """Our loader against LadybugDB's ``COPY`` on the facts the rule extractor reads from
    ``count`` generated listings, and an update of ``changed`` of the listings against it;
    each with its time and peak resident memory, LadybugDB's page cache capped at
    ``buffer_pool_mb`` if given (COPY then in pieces that fit it, as our loader copies).

    - ours: ``skugraph load`` into an empty graph (read the JSONL, build the rows, stage them
      as Parquet in batches, bulk-copy the first batch of each table, upsert the rest);
    - COPY: the same rows staged as one Parquet file per table, then only LadybugDB's
      ``COPY`` statements timed, into another empty graph;
    - update: the changed listings ingested and extracted again, then loaded into the full
      graph (upserts); its load time against the full load's."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest, load_listing_tables
    from skugraph.facts.io import read_fact_tables
    from skugraph.graph.store import LoadReport, open_store

    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-load-") as scratch:
        work = Path(scratch)
        synthetic_catalogue(work / "catalogue.jsonl", count)
        ingest([work / "catalogue.jsonl"], work / "listings.jsonl", work / "rejects.jsonl")
        extracted = pipeline.extract(work / "listings.jsonl", work / "facts.jsonl")
        say(f"{count} listings, {extracted.facts} facts")
        with PeakMemory() as ours_memory:
            (report, stats), ours = timed(pipeline.load, work / "ours.lbug", work / "listings.jsonl", work / "facts.jsonl",
                                          buffer_pool_mb=buffer_pool_mb)
        say(f"ours: {ours:.1f} s, peak RSS {ours_memory.peak_mb:.0f} MB")
        with open_store(work / "copy.lbug", buffer_pool_mb=buffer_pool_mb) as store:
            rows = copy_rows(load_listing_tables(work / "listings.jsonl"), read_fact_tables(work / "facts.jsonl"), store.ontology)
            (work / "stage").mkdir()
            staged = store.stage(rows, work / "stage")
            del rows
            with PeakMemory() as copy_memory:
                _, copy = timed(store.copy_staged, staged)
            copied = store.stats()
        say(f"COPY: {copy:.1f} s, peak RSS {copy_memory.peak_mb:.0f} MB")
        updated = synthetic_catalogue(work / "changed.jsonl", count, changed)
        ingest([work / "changed.jsonl"], work / "changed-listings.jsonl", work / "changed-rejects.jsonl")
        known = ExtractorConfig(brand_files=[brands_file(work / "facts.jsonl")])  # as a user updates: the full run's brands
        delta = pipeline.extract(work / "changed-listings.jsonl", work / "changed-facts.jsonl", config=known)
        with PeakMemory() as update_memory:
            (changes, _), update = timed(pipeline.load, work / "ours.lbug", work / "changed-listings.jsonl", work / "changed-facts.jsonl",
                                         buffer_pool_mb=buffer_pool_mb)
        say(f"update of {updated} listings: {update:.1f} s")
    facts = extracted.facts

    def parts(load: LoadReport, total: float) -> dict[str, float]:  # the rest: opening, and the checkpoint at close
        return {name: round(value, 2) for name, value in load.seconds.items()} | {"open_close": round(total - sum(load.seconds.values()), 2)}

    return {
        "listings": count, "facts": facts, "graph": stats, "same_graph_as_copy": stats == copied, "buffer_pool_mb": buffer_pool_mb,
        "ours": {"seconds": round(ours, 2), "facts_per_s": round(facts / ours), "parts": parts(report, ours),
                 "peak_rss_mb": round(ours_memory.peak_mb)},
        "ladybug_copy": {"seconds": round(copy, 2), "facts_per_s": round(facts / copy), "peak_rss_mb": round(copy_memory.peak_mb)},
        "ours_vs_copy": round(copy / ours, 2),
        "our_store_statements_vs_copy": round(copy / report.seconds["store"], 2),
        "update": {"listings": updated, "share": changed, "facts": delta.facts, "seconds": round(update, 2),
                   "parts": parts(changes, update), "share_of_full_load": round(update / ours, 3),
                   "peak_rss_mb": round(update_memory.peak_mb)},
        "cpu": platform.processor() or platform.machine(),
    }
