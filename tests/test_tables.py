"""Facts and mentions as Parquet: the local engine writes what JSONL holds; fusion and the loader read either."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skugraph import pipeline
from skugraph.corpus.ingest import ingest, load_listings
from skugraph.facts.io import read_facts
from skugraph.records import Mention
from skugraph.sample.generate import CATALOGUE
from skugraph.tables import FACTS, facts_table, read_rows


@pytest.fixture(scope="module")
def listings(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "listings.jsonl"
    ingest([CATALOGUE], path)
    return path


def test_parquet_facts_and_mentions_hold_what_the_jsonl_files_hold(listings, tmp_path):
    jsonl = pipeline.extract(listings, tmp_path / "facts.jsonl", tmp_path / "mentions.jsonl")
    parquet = pipeline.extract(listings, tmp_path / "facts.parquet", tmp_path / "mentions.parquet")
    assert (parquet.facts, parquet.mentions, parquet.by_predicate) == (jsonl.facts, jsonl.mentions, jsonl.by_predicate)
    assert [p.name for p in (tmp_path / "facts.parquet").iterdir()] == ["part-000000.parquet"]
    from_parquet = list(read_facts(tmp_path / "facts.parquet"))
    assert from_parquet == list(read_facts(tmp_path / "facts.jsonl"))
    assert any(f.properties for f in from_parquet) and any(f.subject.aliases or f.object.aliases for f in from_parquet)
    assert pq.read_schema(tmp_path / "facts.parquet" / "part-000000.parquet") == FACTS
    mentions = [Mention.from_dict(row) for _, _, row in read_rows(tmp_path / "mentions.parquet")]
    assert mentions == [Mention.from_dict(json.loads(line)) for line in (tmp_path / "mentions.jsonl").read_text("utf-8").splitlines()]
    with pytest.raises(ValueError, match="both be JSONL or both Parquet"):
        pipeline.extract(listings, tmp_path / "x.parquet", tmp_path / "m.jsonl")


def test_fuse_and_load_read_parquet_facts_and_sharded_listings(listings, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    rows = [listing.to_dict() for listing in load_listings(listings)]
    pq.write_table(pa.Table.from_pylist(rows[:100]), shards / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(rows[100:]), shards / "part-1.parquet")
    assert list(load_listings(shards)) == list(load_listings(listings))

    pipeline.extract(listings, tmp_path / "facts.jsonl")
    pipeline.extract(shards, tmp_path / "facts.parquet")
    pipeline.fuse(listings, tmp_path / "facts.jsonl", tmp_path / "fused.jsonl")
    pipeline.fuse(shards, tmp_path / "facts.parquet", tmp_path / "fused.parquet")
    assert list(read_facts(tmp_path / "fused.parquet")) == list(read_facts(tmp_path / "fused.jsonl"))
    _, from_jsonl = pipeline.load(tmp_path / "a.lbug", listings, tmp_path / "fused.jsonl")
    _, from_parquet = pipeline.load(tmp_path / "b.lbug", shards, tmp_path / "fused.parquet")
    assert from_parquet == from_jsonl and from_parquet["edges"]["HAS_BRAND"] > 100

    (shards / "extra.jsonl").write_text("{}\n", "utf-8")
    with pytest.raises(ValueError, match="mixes formats"):
        list(load_listings(shards))


def test_a_bad_parquet_fact_is_reported_with_file_and_row_and_the_good_ones_kept(listings, tmp_path):
    pipeline.extract(listings, tmp_path / "facts.jsonl")
    good = list(read_facts(tmp_path / "facts.jsonl"))[:3]
    table = facts_table(good).to_pylist()
    table[1]["predicate"] = "not_a_predicate"
    out = tmp_path / "facts.parquet"
    out.mkdir()
    pq.write_table(pa.Table.from_pylist(table, schema=FACTS), out / "part-000000.parquet")
    errors: list[str] = []
    assert list(read_facts(out, errors.append)) == [good[0], good[2]]
    assert len(errors) == 1 and errors[0].startswith(f"{out / 'part-000000.parquet'}:row 2: not a valid fact")
    with pytest.raises(ValueError, match="row 2"):
        list(read_facts(out))


def test_line_blocks_give_every_line_once_numbered_whatever_the_block_and_chunk_sizes(tmp_path):
    import random

    from skugraph.tables import line_blocks

    path = tmp_path / "lines.jsonl"
    for trial in range(300):
        rng = random.Random(trial)
        lines = ["x" * rng.randrange(8) for _ in range(rng.randrange(40))]
        path.write_bytes(("\n".join(lines) + rng.choice(["", "\n"])).encode())
        rows, chunk = rng.randrange(1, 7), rng.randrange(1, 20)
        blocks = list(line_blocks(path, rows, chunk))
        with path.open("rb") as handle:
            assert [line for block in blocks for line in block.lines()] == list(enumerate(handle, 1))
        assert all(block.count == rows for block in blocks[:-1]) and all(0 < block.count <= rows for block in blocks)
