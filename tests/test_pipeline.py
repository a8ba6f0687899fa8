from skugraph import pipeline
from skugraph.corpus.ingest import ingest
from skugraph.sample.generate import CATALOGUE


def test_extract_in_worker_processes_writes_what_one_process_writes(tmp_path):
    ingest([CATALOGUE], tmp_path / "listings.jsonl", tmp_path / "rejects.jsonl")
    one = pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "one.jsonl", tmp_path / "one-mentions.jsonl", batch_size=16)
    two = pipeline.extract(tmp_path / "listings.jsonl", tmp_path / "two.jsonl", tmp_path / "two-mentions.jsonl", batch_size=16, workers=2)
    assert one.facts > 500 and (one.listings, one.facts, one.mentions, one.by_predicate) == (two.listings, two.facts, two.mentions, two.by_predicate)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert (tmp_path / "one-mentions.jsonl").read_bytes() == (tmp_path / "two-mentions.jsonl").read_bytes()
