"""The extraction stage on Ray: Ray Data reads the listings (a JSONL or Parquet file, or a
directory of shards), an actor pool that holds the extractor (rules, a tagger on ONNX Runtime or
torch, review models) reads each batch, and the results are written in input order, so the
files equal the local engine's. A listing that is not valid (the engine also reads raw Parquet
exports, which ``skugraph ingest`` has not checked) is left out and reported in
``ExtractReport.rejects`` with its file, id and field; the others are kept.

Parquet output (``facts.parquet``): Ray's write tasks write the part files themselves, one per
task, numbered in input order; nothing but counts comes back to this process. JSONL output:
the results come back here in order and this process writes the files.

``address``: ``local`` (or None) starts a Ray instance on this machine with ``workers`` CPUs for
the actors and one for reading the file; ``auto`` or ``ray://…`` joins an existing cluster,
whose workers must see the same paths (a shared file system).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from ray.data import Datasink
from ray.data.datasource.datasink import WriteResult

from skugraph.corpus.ingest import listing_files
from skugraph.corpus.listing_fields import listing_from_dict
from skugraph.corpus.listing_formats import detect_format
from skugraph.extract import ExtractReport, ListingReader, ReadResult, write_reads
from skugraph.tables import FACTS, MENTIONS, clear_parts, from_ipc, part_name, to_ipc

PART_LISTINGS = 100_000  # listings a Parquet part file holds (about 1M facts)
BATCHES_PER_BLOCK = 8  # a block goes to one actor: fewer, larger blocks cost less of Ray's time per listing


class _ExtractActor:
    """Holds one reader (unpickled once per actor; a tagger reloads from its directory)."""

    def __init__(self, reader: ListingReader, json_lines: bool):
        import torch

        torch.set_num_threads(1)
        self.reader = reader
        self.json_lines = json_lines  # rows are JSON lines (read_text), not Parquet rows

    def __call__(self, batch: pa.Table) -> dict[str, list]:
        listings, rejects = [], []
        paths = batch.column("path").to_pylist()
        records = batch.column("text").to_pylist() if self.json_lines else batch.drop_columns(["path"]).to_pylist()
        for path, record in zip(paths, records, strict=True):
            try:
                data = json.loads(record) if isinstance(record, str) else record
            except json.JSONDecodeError as error:
                rejects.append(f"{path}: a line is broken JSON: {error.msg}")
                continue
            if not isinstance(data, dict):
                rejects.append(f"{path}: a record is a JSON {type(data).__name__}, not an object")
                continue
            try:
                listings.append(listing_from_dict(data))
            except ValueError as error:  # names the field
                rejects.append(f"{path}: listing {data.get('id')!r}, field {getattr(error, 'field', '?')}: {error}")
        read = self.reader(listings)
        mentions, facts = (to_ipc(read.mentions), to_ipc(read.facts)) if self.reader.columnar else (read.mentions, read.facts)
        return {"listings": [read.listings], "mention_count": [read.mention_count], "mentions": [mentions], "facts": [facts],
                "by_predicate": [json.dumps(read.by_predicate)], "rejects": [json.dumps(rejects, ensure_ascii=False)]}


class _PartsSink(Datasink):
    """Each write task writes its batches' facts (and mentions) as one part file of each
    directory, named by the task's index; the counts come back to the driver."""

    def __init__(self, facts: Path, mentions: Path | None, batches_per_part: int):
        self.facts, self.mentions = facts, mentions
        self.batches_per_part = batches_per_part
        self.counts: list[dict] = []

    @property
    def min_rows_per_write(self) -> int:
        return self.batches_per_part  # a row is one batch's results

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        for directory in (self.facts, self.mentions):
            if directory is not None:
                clear_parts(directory)

    def write(self, blocks: Iterable[pa.Table], ctx: Any) -> dict:
        rows = [row for block in blocks for row in block.to_pylist()]
        pq.write_table(pa.concat_tables([from_ipc(row["facts"]) for row in rows] or [FACTS.empty_table()]),
                       self.facts / part_name(ctx.task_idx))
        if self.mentions is not None:
            pq.write_table(pa.concat_tables([from_ipc(row["mentions"]) for row in rows] or [MENTIONS.empty_table()]),
                           self.mentions / part_name(ctx.task_idx))
        by_predicate = sum((Counter(json.loads(row["by_predicate"])) for row in rows), Counter())
        return {"listings": sum(row["listings"] for row in rows), "mentions": sum(row["mention_count"] for row in rows),
                "by_predicate": dict(by_predicate), "rejects": [r for row in rows for r in json.loads(row["rejects"])]}

    def on_write_complete(self, write_result: WriteResult) -> None:
        self.counts = list(write_result.write_returns)


def extract_on_ray(reader: ListingReader, listings: Path, facts_out: Path, mentions_out: Path | None = None, workers: int = 2,
                   address: str | None = None, batch_size: int = 256, progress: Callable[[int], None] | None = None) -> ExtractReport:
    """``reader`` (the local engine's batch reader) over the listings on Ray; writes what the
    local engine writes (:func:`skugraph.extract.extract_locally`) and returns its report."""
    import ray

    with ray_session(workers, address):
        dataset, json_lines = _dataset(listings, batch_size)
        results = dataset.map_batches(_ExtractActor, fn_constructor_args=(reader, json_lines), batch_size=batch_size,
                                      batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        if not reader.columnar:
            rejects: list[str] = []

            def reads():
                for row in results.iter_rows():
                    rejects.extend(json.loads(row["rejects"]))
                    yield ReadResult(int(row["listings"]), int(row["mention_count"]), row["mentions"], row["facts"],
                                     Counter(json.loads(row["by_predicate"])))

            report = write_reads(reads(), facts_out, mentions_out, progress)
            report.rejects = rejects
            return report
        sink = _PartsSink(facts_out.resolve(), mentions_out.resolve() if mentions_out else None, max(1, PART_LISTINGS // batch_size))
        results.write_datasink(sink)
    report = ExtractReport()
    for counts in sink.counts:  # the parts are written: only the counts are added up here
        report.add(ReadResult(counts["listings"], counts["mentions"], "", "", Counter(counts["by_predicate"])))
        report.rejects += counts["rejects"]
    if progress:
        progress(report.listings)
    return report


def _dataset(listings: Path, batch_size: int):
    """(the listings in blocks of a few batches, whether they are JSON lines): the actors share
    the work however the files were split (Ray reads small Parquet files as one block)."""
    import ray

    files = [str(file.resolve()) for file in listing_files(Path(listings))]
    format = detect_format(Path(files[0]))
    if format == "jsonl":
        dataset = ray.data.read_text(files, include_paths=True)
    elif format == "parquet":
        dataset = ray.data.read_parquet(files, include_paths=True)
    else:
        raise ValueError(f"{listings}: the Ray engine reads JSONL or Parquet listings (run `skugraph ingest` first), not {format}")
    return dataset.repartition(target_num_rows_per_block=batch_size * BATCHES_PER_BLOCK), format == "jsonl"


class ray_session:
    """A Ray session for one job: starts a local instance (``workers`` CPUs for actors, one for
    reading) or joins ``address``; shuts down only what it started."""

    def __init__(self, workers: int, address: str | None):
        self.workers, self.address = workers, address
        self.started = False

    def __enter__(self) -> None:
        import ray

        if not ray.is_initialized():
            local = self.address in (None, "local")
            ray.init(address=None if local else self.address, num_cpus=self.workers + 1 if local else None,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            self.started = True
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False

    def __exit__(self, *exc: object) -> None:
        import ray

        if self.started:
            ray.shutdown()

