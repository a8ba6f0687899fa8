"""All of fusion over fact files of any size, in memory that holds the catalogue's compact tables
but never all its facts (:func:`fuse_stream`); what it writes is what
:func:`~skugraph.fusion.fuse.fuse_all` gives, fact for fact and in the same order.

1. A first pass over the facts keeps only what decides identity and brands: each listing's
   offer (title, chosen identity values; :class:`~skugraph.fusion.blocking.OfferFeatures`) and
   where titles mention brands (:class:`~skugraph.fusion.fuse.BrandNames`).
2. Products are resolved from the offers alone (one component of candidate pairs at a time:
   :func:`~skugraph.fusion.resolve.resolve_offers`); brands are unified from the mentions.
3. A second pass moves each fact onto its product, unifies its brand, and writes it, numbered,
   to one of several shard files by its subject, so every fact that can merge with it, or
   compete with it for ``chosen``, lands in the same shard.
4. Each listing's ``offer_of`` is written aside, and the resolution and titles let go.
   Then each shard in turn is merged and its values voted (the shard's facts are the only ones in
   memory), written numbered by each fused fact's first statement, and gathered for completion
   (:class:`~skugraph.fusion.completion.CompletionFacts`: triples, not facts).
5. The shards' outputs are merged by number into the output, then the ``offer_of`` facts
   and, with ``complete``, the inferred facts.
"""

from __future__ import annotations

import heapq
import json
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice
from pathlib import Path

import pyarrow as pa

from skugraph.facts.build import merge_facts
from skugraph.facts.io import confident_facts, write_facts
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.fusion.blocking import OfferFeatures
from skugraph.fusion.completion import COMPLETED, CompletionFacts, propose_from
from skugraph.fusion.conflicts import resolve as resolve_conflicts
from skugraph.fusion.fuse import BrandNames, move_fact, offer_facts, onto_unified
from skugraph.fusion.resolve import group_sizes, resolve_offers
from skugraph.processes import Workers, collector_paused
from skugraph.records import Fact, Listing, to_json_line
from skugraph.tables import facts_table, is_parquet

#: facts a shard holds at most on average (a shard's facts are all in memory at once)
SHARD_FACTS = 50_000
#: facts in a table of the first pass (Arrow keeps what it allocated: 200,000 raised the peak of
#: fusing 300,000 listings by 350 MB, and read slower)
FIRST_PASS_ROWS = 20_000


@dataclass
class StreamReport:
    listings: int
    products: int
    candidate_pairs: int
    cut_bridges: int
    group_sizes: dict[int, int]  # listings per product → products
    facts_in: int
    facts_out: int = 0
    inferred: int = 0


def fuse_stream(listings: Iterable[Listing], read_facts: Callable[[], Iterable[Fact]], out: Path, matcher=None, *,
                threshold: float | None = None, embed=None, complete: bool = True, min_probability: float = 0.7,
                min_confidence: float = 0.0, left_out: Counter[str] | None = None, ontology: Ontology | None = None,
                shard_facts: int = SHARD_FACTS, workers: int = 1,
                read_tables: Callable[[], Iterable[pa.Table]] | None = None) -> StreamReport:
    """:func:`~skugraph.fusion.fuse.fuse_all` on listings and facts that stream by, writing the
    fused facts (those of at least ``min_confidence``, the others counted in ``left_out``) to
    ``out``; ``read_facts()`` is called twice and must give the same facts both times, or once
    where ``read_tables()`` gives them to the first pass as tables (:data:`~skugraph.tables.FACTS`),
    which it reads faster. ``workers``: processes that resolve products and fuse the shards (the
    output is the same with any number)."""
    if read_tables is None:
        def read_tables() -> Iterator[pa.Table]:
            facts = iter(read_facts())
            while batch := list(islice(facts, FIRST_PASS_ROWS)):
                yield facts_table(batch)

    with collector_paused(), Workers(workers) as pool:
        return _fuse_stream(listings, read_facts, read_tables, out, matcher, threshold, embed, complete, min_probability,
                            min_confidence, Counter() if left_out is None else left_out, ontology or load_ontology(),
                            shard_facts, pool)


def _fuse_stream(listings: Iterable[Listing], read_facts: Callable[[], Iterable[Fact]], read_tables: Callable[[], Iterable[pa.Table]],
                 out: Path, matcher, threshold: float | None, embed, complete: bool, min_probability: float, min_confidence: float,
                 left_out: Counter[str], ontology: Ontology, shard_facts: int, pool: Workers) -> StreamReport:
    ids: list[str] = []
    titles: list[str] = []
    for listing in listings:
        ids.append(listing.id)
        titles.append(listing.title)
    number_of = {listing: number for number, listing in enumerate(ids)}
    features, brands, facts_in = OfferFeatures(ontology), BrandNames(number_of), 0
    for table in read_tables():
        features.add_table(table)
        brands.add_table(table)
        facts_in += table.num_rows
    pa.default_memory_pool().release_unused()
    offers = [features.offer(listing, titles[number_of[listing]]) for listing in ids]
    del features
    resolution = resolve_offers(offers, matcher, threshold=threshold, embed=embed, workers=pool, keep_pairs=False)
    del offers
    unified, why = brands.unified(titles)
    del brands
    title_of = _Titles(number_of, titles)
    gathered = CompletionFacts(COMPLETED)
    shards = max(1, -(-facts_in // shard_facts))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="skugraph-fuse-", dir=out.parent) as scratch:
        work = Path(scratch)
        with ExitStack() as files:
            handles = [files.enter_context((work / f"in-{n}.jsonl").open("w", encoding="utf-8")) for n in range(shards)]
            for number, fact in enumerate(read_facts()):
                fact = onto_unified(move_fact(fact, resolution.product_of, title_of), unified, why)
                handles[zlib.crc32(fact.subject.ref.encode()) % shards].write(f"{number}\t{to_json_line(fact)}\n")
        offers = work / "offers.jsonl"  # written now, so that resolution and titles go before completion
        write_facts(offers, confident_facts(offer_facts(zip(ids, titles), title_of, resolution), min_confidence, left_out))
        report = StreamReport(len(ids), resolution.products, resolution.candidate_pairs, len(resolution.cut),
                              dict(sorted(group_sizes(resolution).items())), facts_in)
        del resolution, title_of, number_of, ids, titles
        pool.renew()  # the workers' memory of resolution goes with them
        shard = partial(_fuse_shard, ontology=ontology, complete=complete, min_confidence=min_confidence)
        for written, unsure, part in pool.map(shard, ((work / f"in-{n}.jsonl", work / f"out-{n}.jsonl") for n in range(shards))):
            report.facts_out += written
            left_out.update(unsure)
            if part is not None:
                gathered.update(part)
        inferred: list[Fact] = []
        if complete:
            pool.renew()  # and of the shards' facts
            inferred = list(confident_facts(propose_from(gathered, min_probability=min_probability, ontology=ontology, workers=pool).facts,
                                            min_confidence, left_out))
        del gathered
        report.facts_out += report.listings + len(inferred)
        report.inferred = len(inferred)
        with ExitStack() as files:
            parts = [_numbered(files.enter_context((work / f"out-{n}.jsonl").open(encoding="utf-8"))) for n in range(shards)]
            lines = chain((line for _, line in heapq.merge(*parts, key=lambda item: item[0])),
                          files.enter_context(offers.open(encoding="utf-8")), (to_json_line(fact) + "\n" for fact in inferred))
            if is_parquet(out):
                write_facts(out, (Fact.from_dict(json.loads(line)) for line in lines))
            else:
                with out.open("w", encoding="utf-8") as handle:
                    handle.writelines(lines)
    return report


class _Titles(Mapping[str, str]):
    """Listing id → title, read through the listings' numbers (no second table of ids)."""

    def __init__(self, number_of: dict[str, int], titles: list[str]):
        self.number_of, self.titles = number_of, titles

    def __getitem__(self, listing: str) -> str:
        return self.titles[self.number_of[listing]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.number_of)

    def __len__(self) -> int:
        return len(self.number_of)


@collector_paused()
def _fuse_shard(paths: tuple[Path, Path], ontology: Ontology, complete: bool,
                min_confidence: float) -> tuple[int, Counter[str], CompletionFacts | None]:
    """One shard's facts (``paths``: the shard and its output) merged and voted, written numbered
    by their first statement (those under ``min_confidence`` counted, not written). Returns the
    facts written, those left out per predicate, and with ``complete`` what completion learns
    from the shard."""
    source, target = paths
    first: dict[tuple[str, str, str], int] = {}
    facts = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            number, _, text = line.partition("\t")
            fact = Fact.from_dict(json.loads(text))
            first.setdefault(fact.key, int(number))
            facts.append(fact)
    source.unlink()
    fused = resolve_conflicts(merge_facts(facts), ontology)
    del facts
    gathered = CompletionFacts(COMPLETED) if complete else None
    if gathered is not None:
        for fact in fused:
            gathered.add(fact, first[fact.key])
    written, left_out = 0, Counter()
    with target.open("w", encoding="utf-8") as handle:
        for fact in confident_facts(fused, min_confidence, left_out):
            handle.write(f"{first[fact.key]}\t{to_json_line(fact)}\n")
            written += 1
    return written, left_out, gathered


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for line in lines:
        number, _, text = line.partition("\t")
        yield int(number), text
