"""The CLI end to end, through Typer's runner: what a user types and reads."""

import json
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.sample.generate import generate

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


HEAVY = {"torch", "transformers", "peft", "pyarrow", "ladybug", "fastapi", "ray", "sklearn", "onnxruntime"}


def test_importing_the_cli_imports_no_heavy_library():
    code = f"import skugraph.cli, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_version_and_help_need_no_heavy_library():
    code = ("import sys; from skugraph.cli import app; from typer.testing import CliRunner; runner = CliRunner(); "
            "outs = [runner.invoke(app, args).output for args in (['--version'], ['--help'], ['train', '--help'], ['bench', '--help'])]; "
            f"print(outs[0].strip(), 'train' in outs[1] and 'tagger' in outs[2] and 'load' in outs[3], "
            f"sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from skugraph import __version__

    assert done.stdout.strip() == f"{__version__} True []"


def test_ingest_extract_load_query_stats(tmp_path):
    source = tmp_path / "in.jsonl"
    records = generate()[:40]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(5, '{"id": broken')
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    listings, rejects = tmp_path / "listings.jsonl", tmp_path / "rejects.jsonl"
    facts, db = tmp_path / "facts.jsonl", tmp_path / "g.lbug"

    result = run("ingest", str(source), "--out", str(listings), "--rejects", str(rejects))
    assert result.exit_code == 0
    assert "ingested 40, rejected 1" in result.stdout
    assert f"{source}:line 6: field '(record)': broken JSON" in result.stderr

    result = run("extract", str(listings), "--out", str(facts))
    assert result.exit_code == 0 and "from 40 listings" in result.stdout

    assert run("load", str(facts), "--listings", str(listings), "--db", str(db)).exit_code == 0
    first = run("stats", "--db", str(db), "--json").stdout
    assert run("load", str(facts), "--listings", str(listings), "--db", str(db)).exit_code == 0
    second = run("stats", "--db", str(db), "--json").stdout
    assert first == second
    small = tmp_path / "small-cache.lbug"
    assert run("load", str(facts), "--listings", str(listings), "--db", str(small), "--buffer-pool-mb", "64").exit_code == 0
    assert run("stats", "--db", str(small), "--json").stdout == first
    assert run("load", str(facts), "--listings", str(listings), "--db", str(small), "--buffer-pool-mb", "32").exit_code == 2
    counts = json.loads(first)
    assert counts["nodes"]["Product"] == 40 and counts["edges"]["HAS_BRAND"] > 0

    result = run(
        "query", "MATCH (p:Product)-[:HAS_BRAND]->(b:Brand) WHERE p.id = $id RETURN b.name AS brand",
        "--param", f"id={records[0]['id']}", "--db", str(db), "--json",
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"brand": "华为"}]


def test_strict_ingest_fails_with_the_location(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "title": "a"}\n{"id": "2"}\n', encoding="utf-8")
    result = run("ingest", str(source), "--out", str(tmp_path / "o.jsonl"), "--strict")
    assert result.exit_code == 1
    assert "line 2: field 'title': missing" in result.stderr
    assert "Traceback" not in result.output


def test_errors_are_one_line_not_tracebacks(tmp_path):
    result = run("stats", "--db", str(tmp_path / "none.lbug"))
    assert result.exit_code == 1 and "no graph database" in result.stderr
    result = run("ingest", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_demo_prints_the_summary(tmp_path):
    result = run("demo", "--workdir", str(tmp_path / "demo"), "--extractor", "rules")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for line in ("listings read     294", "products          189 from 294 listings", "facts per predicate", "has_brand"):
        assert line in out  # the sample offers 171 products in 294 listings; resolution keeps 18 apart rather than guess
    assert "Which brands sell water heaters" in out and "美的" in out
    assert "Which accessories fit Huawei" in out and "适用于华为" in out
    assert "What colours do phones" in out
    # a product card: each fact with the span it was read from
    assert "compatible with" in out and "title[" in out and "(rules)" in out
    assert "listing          sku-" in out and "matches sku-" in out  # a merged product says why
    again = run("demo", "--workdir", str(tmp_path / "demo"), "--extractor", "rules")
    assert again.stdout == out  # the demo rebuilds its graph from scratch: same answers every run
    _closing_lines_push_a_listing(out)


def _closing_lines_push_a_listing(out: str) -> None:
    """The demo's last lines work as printed: the key command makes a write key, and the listing
    the curl line posts lands in the graph the serve line opens for writing."""
    from fastapi.testclient import TestClient

    from skugraph.serve.app import create_app

    lines = out[out.index("live updates:"):].splitlines()
    create = shlex.split(lines[0].split("KEY=$(", 1)[1].rstrip(")"))
    serve = shlex.split(lines[1])
    assert create[create.index("keys") + 1] == "create" and "serve" in serve and "--writable" in serve
    made = run(*create[create.index("keys"):])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    db = serve[serve.index("--db") + 1]
    body = json.loads(shlex.split(lines[2])[-1])
    client = TestClient(create_app(Path(db), keys=Path(f"{db}.keys.json"), writable=True))
    answer = client.post("/listings", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    facts = client.get("/facts", params={"product": answer.json()["listings"][0]["product"]}, headers={"Authorization": f"Bearer {key}"})
    assert {"has_brand", "colour"} <= {fact["predicate"] for fact in facts.json()["facts"]}


@pytest.mark.slow
def test_demo_chain_pretrains_fine_tunes_and_extracts(tmp_path):
    result = run("demo", "--workdir", str(tmp_path / "demo"), "--pretrain-minutes", "0.15")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "encoder" in out and "held-out MLM loss" in out and "dev F1" in out
    assert (tmp_path / "demo" / "models" / "tagger" / "tagger.safetensors").is_file()
    assert "from 294 listings by entity resolution" in out and "has_brand" in out and "compatible_with" in out
    mentions = [json.loads(line) for line in (tmp_path / "demo" / "mentions.jsonl").read_text().splitlines()]
    assert mentions and all(m["extractor"].startswith("tagger@") for m in mentions)
    assert {"brand", "product_type", "colour"} <= {m["label"] for m in mentions}
    again = run("demo", "--workdir", str(tmp_path / "demo"))
    assert again.exit_code == 0 and "(reused)" in again.stdout
    assert "aspect " in out and "reviews[" in out  # the card shows aspect sentiment with the review spans
    summary = run("aspects", "--db", str(tmp_path / "demo" / "graph.lbug"), "--json")
    rows = json.loads(summary.stdout)
    assert rows and {"product", "aspect", "reviews", "positive", "negative", "share_positive"} <= set(rows[0])
    assert all(r["reviews"] == r["positive"] + r["negative"] + r["other"] for r in rows)
    card = json.loads(run("show", rows[0]["product"], "--db", str(tmp_path / "demo" / "graph.lbug"), "--json").stdout)
    assert card["brand"] and card["type"] and card["aspects"][0]["opinions"][0]["evidence"]
    missing = run("show", "no-such-sku", "--db", str(tmp_path / "demo" / "graph.lbug"))
    assert missing.exit_code == 1 and "no product 'no-such-sku'" in missing.stderr


def test_train_sentiment_and_use_it_in_extract(tmp_path):
    data = tmp_path / "reviews.jsonl"
    rows = [{"text": t, "label": l} for t, l in [("很好用", 1), ("质量很好", 1), ("非常满意", 1), ("太差了", 0), ("不好用，退货", 0), ("垃圾", 0)]]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    result = run("train", "sentiment", str(data), "--out", str(tmp_path / "sentiment"), "--dev-every", "0")
    assert result.exit_code == 0, result.output
    assert "labels negative, positive" in result.stdout
    listings = tmp_path / "listings.jsonl"
    listings.write_text(json.dumps({"id": "a", "title": "手机壳", "reviews": ["质量很好，很满意"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run("extract", str(listings), "--out", str(tmp_path / "facts.jsonl"), "--sentiment-model", str(tmp_path / "sentiment"))
    assert result.exit_code == 0, result.output
    facts = [json.loads(line) for line in (tmp_path / "facts.jsonl").read_text(encoding="utf-8").splitlines()]
    (sentiment,) = [f for f in facts if f["predicate"] == "review_sentiment"]
    assert sentiment["object"]["name"] == "positive" and sentiment["subject"]["key"] == "a#r0"


@pytest.mark.slow
def test_train_evaluate_and_extract_with_a_tagger(tmp_path):
    from skugraph.sample.generate import LABELS

    labels = LABELS.read_text(encoding="utf-8").splitlines()
    (tmp_path / "train.jsonl").write_text("\n".join(labels[:60]) + "\n", encoding="utf-8")
    (tmp_path / "dev.jsonl").write_text("\n".join(labels[60:80]) + "\n", encoding="utf-8")
    model = tmp_path / "tagger"
    result = run("train", "tagger", "--train", str(tmp_path / "train.jsonl"), "--dev", str(tmp_path / "dev.jsonl"),
                 "--out", str(model), "--base-model", "scratch:tiny", "--epochs", "3", "--ngrams", "--substitute", "0.2",
                 "--networks", "2")
    assert result.exit_code == 0, result.output
    assert "dev strict entity micro" in result.stdout and "calibration: temperature" in result.stdout
    networks = json.loads((model / "skugraph.json").read_text(encoding="utf-8"))["ensemble"]["networks"]
    assert networks["seeds"] == [43] and (model / "network-2").is_dir() == networks["use"]
    assert f"dev F1 with 2 networks: {networks['dev_f1']['all']:.4f}" in result.stdout
    assert "fact calibration (" in result.stdout and (model / "fact-calibration.json").is_file()
    scorer = json.loads((model / "skugraph.json").read_text(encoding="utf-8"))["ensemble"]["span_scorer"]["dev"]
    assert "span scorer (cross-fitted on dev)" in result.stdout and f"→ {'kept' if scorer['kept'] else 'not kept'}" in result.stdout
    result = run("evaluate", "--model", str(model), "--data", str(tmp_path / "dev.jsonl"), "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["texts"] == 20 and set(scores) >= {"micro", "macro", "per_type"}
    assert 0.0 <= scores["micro"]["f1"] <= 1.0 and "brand" in scores["per_type"]
    table = run("evaluate", "--model", str(model), "--data", str(tmp_path / "dev.jsonl"))
    assert "micro" in table.stdout and "macro" in table.stdout
    by_fact = json.loads(run("evaluate", "--model", str(model), "--data", str(tmp_path / "dev.jsonl"), "--facts", "--json").stdout)
    assert "has_brand" in by_fact["per_type"] and by_fact["micro"]["support"] > 0  # predicates, not span types

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in generate()[:20]) + "\n", encoding="utf-8")
    listings, facts, mentions = tmp_path / "listings.jsonl", tmp_path / "facts.jsonl", tmp_path / "mentions.jsonl"
    assert run("ingest", str(source), "--out", str(listings), "--rejects", str(tmp_path / "r.jsonl")).exit_code == 0
    result = run("extract", str(listings), "--out", str(facts), "--mentions", str(mentions), "--extractor", "tagger", "--model", str(model))
    assert result.exit_code == 0, result.output
    assert "from 20 listings" in result.stdout
    calibrated = json.loads((model / "fact-calibration.json").read_text(encoding="utf-8"))["predicates"]
    marked = [json.loads(line) for line in facts.read_text(encoding="utf-8").splitlines()]
    assert any(f["predicate"] in calibrated for f in marked)
    assert all(p["version"].endswith("+calibrated") for f in marked if f["predicate"] in calibrated for p in f["provenance"])
    for line in mentions.read_text().splitlines():
        mention = json.loads(line)
        assert 0.0 <= mention["score"] <= 1.0 and mention["field"] == "title"
    missing = run("extract", str(listings), "--extractor", "tagger")
    assert missing.exit_code == 1 and "needs --model" in missing.stderr
    bad = run("train", "tagger", "--train", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x"))
    assert bad.exit_code == 1 and "no such file" in bad.stderr


def _damaged_facts(tmp_path: Path) -> tuple[Path, Path, Path, list[str]]:
    """Ten generated listings ingested and extracted, and their facts again with two bad lines
    (2: broken JSON; 3: a brand as a review): (listings, facts, damaged facts, the good lines)."""
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in generate()[:10]) + "\n", encoding="utf-8")
    listings, facts, damaged = tmp_path / "l.jsonl", tmp_path / "f.jsonl", tmp_path / "damaged.jsonl"
    run("ingest", str(source), "--out", str(listings))
    run("extract", str(listings), "--out", str(facts))
    good = facts.read_text("utf-8").splitlines()
    wrong_label = {**json.loads(good[0]), "predicate": "has_review"}  # a brand is no review
    damaged.write_text("\n".join([good[0], "{not json", json.dumps(wrong_label, ensure_ascii=False), *good[1:]]) + "\n", "utf-8")
    return listings, facts, damaged, good


def test_fuse_tells_each_bad_fact_line_once_and_fuses_the_rest(tmp_path):
    listings, facts, damaged, _ = _damaged_facts(tmp_path)
    result = run("fuse", str(damaged), "--listings", str(listings), "--out", str(tmp_path / "fused.jsonl"))
    assert result.exit_code == 0
    assert result.stderr.count(f"{damaged}:line 2: not a valid fact") == 1  # told on the first pass, not the second
    assert result.stderr.count(f"{damaged}:line 3: not a valid fact") == 1 and "2 fact line(s) rejected" in result.stderr
    run("fuse", str(facts), "--listings", str(listings), "--out", str(tmp_path / "expected.jsonl"))
    assert (tmp_path / "fused.jsonl").read_text("utf-8") == (tmp_path / "expected.jsonl").read_text("utf-8")


def test_load_skips_bad_fact_lines_and_keeps_the_rest(tmp_path):
    listings, _, facts, good = _damaged_facts(tmp_path)
    db = tmp_path / "g.lbug"
    result = run("load", str(facts), "--listings", str(listings), "--db", str(db))
    assert result.exit_code == 0
    assert f"{facts}:line 2: not a valid fact" in result.stderr
    assert f"{facts}:line 3: not a valid fact" in result.stderr and "does not fit predicate" in result.stderr
    assert "2 fact line(s) rejected" in result.stderr
    counts = json.loads(run("stats", "--db", str(db), "--json").stdout)
    assert sum(counts["edges"].values()) == len(good)


def test_search_recommend_report_commands(demo_graph, tmp_path):
    db = str(demo_graph)
    found = json.loads(run("search", "苹果 256G 手机", "--db", db, "--json", "--limit", "3").stdout)
    assert [c["name"] for c in found["constraints"]] == ["苹果", "256GB", "手机"]
    assert all("has_brand 苹果" in hit["matched"] for hit in found["hits"])
    table = run("search", "手机壳", "--db", db, "--colour", "colour:透明")
    assert table.exit_code == 0 and "read from the query: product_type 手机壳" in table.stdout and "透明" in table.stdout
    lists = json.loads(run("recommend", found["hits"][0]["id"], "--db", db, "--json").stdout)
    assert lists["substitutes"] and lists["substitutes"][0]["reason"].startswith("same type")
    missing = run("recommend", "no-such-sku", "--db", db)
    assert missing.exit_code == 1 and "no product or listing 'no-such-sku'" in missing.stderr
    offers = json.loads(run("query", "MATCH (l:Listing)-[:OFFER_OF]->(p:Product) RETURN l.id AS listing, p.id AS product LIMIT 1",
                            "--db", db, "--json").stdout)
    listing, product = offers[0]["listing"], offers[0]["product"]
    by_listing = json.loads(run("show", listing, "--db", db, "--json").stdout)  # a listing id shows its product, as explain does
    assert by_listing == json.loads(run("show", product, "--db", db, "--json").stdout) and by_listing["id"] == product
    out = tmp_path / "report.html"
    done = run("report", "--db", db, "--out", str(out))
    assert done.exit_code == 0 and f"wrote {out}" in done.stdout and out.read_text().count("<svg") >= 4


def messages(result) -> list[str]:
    """What a command wrote to standard error, progress bars aside."""
    return [line for line in result.stderr.splitlines() if line.strip() and "━" not in line]


def failure(result) -> str:
    """The one line a failed command wrote; it exits 1 with no Python wording."""
    assert result.exit_code == 1, result.output
    lines = [line for line in messages(result) if not line.startswith(("rejected ", "… and "))
             and not line.endswith("rejected")]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for internal in ("Traceback", "universal-newline", "KeyError", "--strict", '"no product'):
        assert internal not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """Ten ingested sample listings, their facts, and an empty file."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest

    work = tmp_path_factory.mktemp("built")
    source = work / "in.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in generate()[:10]) + "\n", encoding="utf-8")
    ingest([source], work / "listings.jsonl")
    pipeline.extract(work / "listings.jsonl", work / "facts.jsonl")
    (work / "empty.jsonl").write_text("", encoding="utf-8")
    return {"listings": work / "listings.jsonl", "facts": work / "facts.jsonl", "empty": work / "empty.jsonl"}


def test_ingest_reports_an_unclosed_quote_and_keeps_the_rows_it_swallowed(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('id,title,price\n1,"华为 手机壳,9\n2,小米 充电器,10\n3,得力 中性笔,3\n', encoding="utf-8")
    result = run("ingest", str(source), "--out", str(tmp_path / "l.jsonl"), "--rejects", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 0 and "ingested 2, rejected 1" in result.stdout
    (line,) = messages(result)
    assert line.startswith(f"rejected {source}:line 2: field 'title': unclosed quote")
    assert [json.loads(line)["id"] for line in (tmp_path / "l.jsonl").read_text("utf-8").splitlines()] == ["2", "3"]


def test_ingest_fails_in_one_line_on_a_file_it_cannot_use(tmp_path):
    out = ["--out", str(tmp_path / "l.jsonl"), "--rejects", str(tmp_path / "r.jsonl")]
    no_title = tmp_path / "no-title.csv"
    no_title.write_text("id,name,price\n1,华为 手机壳,9\n2,小米 充电器,10\n", encoding="utf-8")
    assert failure(run("ingest", str(no_title), *out)).startswith(f"error: {no_title}: no 'title' column")
    noise = tmp_path / "noise.csv"
    noise.write_bytes(random.Random(0).randbytes(3000))
    assert failure(run("ingest", str(noise), *out)).startswith(f"error: {noise}: not a text CSV file (")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert "no listings ingested" in failure(run("ingest", str(empty), *out))
    allowed = run("ingest", str(empty), *out, "--allow-empty")
    assert allowed.exit_code == 0 and "ingested 0, rejected 0" in allowed.stdout
    all_bad = tmp_path / "all-bad.jsonl"
    all_bad.write_text('{"id": "1"}\n{"id": "2"}\n', encoding="utf-8")
    result = run("ingest", str(all_bad), *out)
    assert "no listings ingested: all 2 records" in failure(result)
    assert f"rejected {all_bad}:line 2: field 'title': missing" in result.stderr  # each rejected record still shown


def test_ingest_names_facts_given_as_listings(built, tmp_path):
    result = run("ingest", str(built["facts"]), "--out", str(tmp_path / "l.jsonl"), "--rejects", str(tmp_path / "r.jsonl"))
    assert failure(result) == f"error: no listings ingested: {built['facts']} looks like facts, not listings (id, title …)"


def test_extract_fails_when_it_reads_no_listings_or_finds_no_facts(built, tmp_path):
    out = ["--out", str(tmp_path / "f.jsonl")]
    assert failure(run("extract", str(built["facts"]), *out)) == (
        f"error: {built['facts']} looks like facts, not listings: give the listings `skugraph ingest` wrote")
    assert "no facts extracted" in failure(run("extract", str(built["empty"]), *out))
    allowed = run("extract", str(built["empty"]), *out, "--allow-empty")
    assert allowed.exit_code == 0 and "extracted 0 facts" in allowed.stdout
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"id": "1", "title": "zzzz"}\n', encoding="utf-8")
    assert "no facts extracted from the 1 listings" in failure(run("extract", str(unknown), *out))
    raw = tmp_path / "raw.jsonl"
    raw.write_text('{"id": "1", "title": "华为 手机壳"}\n{"id": "2"}\n', encoding="utf-8")
    message = failure(run("extract", str(raw), *out))
    assert message.startswith(f"error: {raw}:line 2: field 'title': missing") and "skugraph ingest" in message


def test_demo_fails_on_an_empty_input(built, tmp_path):
    message = failure(run("demo", "--workdir", str(tmp_path / "demo"), "--input", str(built["empty"]), "--extractor", "rules"))
    assert message.startswith(f"error: no listings ingested from {built['empty']}")


def test_load_refuses_listings_given_as_facts_before_touching_the_graph(built, tmp_path):
    db = tmp_path / "g.lbug"
    result = run("load", str(built["listings"]), "--listings", str(built["listings"]), "--db", str(db))
    assert failure(result) == f"error: {built['listings']} looks like listings, not facts: run skugraph extract first"
    assert not db.exists()
    assert "no facts (the file is empty)" in failure(run("load", str(built["empty"]), "--listings", str(built["listings"]), "--db", str(db)))
    noise = tmp_path / "noise.jsonl"
    noise.write_bytes(bytes(range(256)) * 4)
    assert failure(run("load", str(noise), "--listings", str(built["listings"]), "--db", str(db))).startswith(
        f"error: {noise}: not a text facts file (binary data")
    assert not db.exists()


def test_load_fails_when_no_fact_is_valid(built, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from skugraph.facts.io import read_facts
    from skugraph.tables import FACTS, facts_table

    facts = tmp_path / "facts.jsonl"
    records = [json.loads(line) for line in built["facts"].read_text("utf-8").splitlines()]
    facts.write_text("".join(json.dumps({**r, "predicate": "sold_by"}, ensure_ascii=False) + "\n" for r in records), "utf-8")
    db = tmp_path / "g.lbug"
    message = failure(run("load", str(facts), "--listings", str(built["listings"]), "--db", str(db)))
    assert message.startswith(f"error: {facts}: none of its first 20 records is a valid fact (line 1: ") and "sold_by" in message
    assert not db.exists()
    table = tmp_path / "facts.parquet"  # a table is checked by its columns first, then row by row
    rows = [{**row, "predicate": "sold_by"} for row in facts_table(read_facts(built["facts"])).to_pylist()]
    pq.write_table(pa.Table.from_pylist(rows, schema=FACTS), table)
    result = run("load", str(table), "--listings", str(built["listings"]), "--db", str(db))
    assert failure(result) == f"error: no facts loaded from {table}: all {len(rows)} rejected, only the listings were loaded; " \
                              "pass --allow-empty to accept an empty result"
    assert f"rejected {table}:row 1: not a valid fact" in result.stderr and f"{len(rows)} fact line(s) rejected" in result.stderr


def test_fuse_and_complete_fail_without_facts(built, tmp_path):
    listings, empty = str(built["listings"]), str(built["empty"])
    assert "no facts (the file is empty)" in failure(run("fuse", empty, "--listings", listings, "--out", str(tmp_path / "x.jsonl")))
    assert "looks like listings, not facts" in failure(run("fuse", listings, "--listings", listings, "--out", str(tmp_path / "x.jsonl")))
    assert "no facts (the file is empty)" in failure(run("complete", empty, "--out", str(tmp_path / "y.jsonl")))
    unknown = failure(run("complete", str(built["facts"]), "--scorer", "neighbors", "--out", str(tmp_path / "z.jsonl")))
    assert unknown.startswith(("error: unknown scorer 'neighbors': popularity, neighbours, gnn, neighbours+gnn, or a PyKEEN model",
                               "error: scorer 'neighbors' is none of popularity, neighbours, gnn, neighbours+gnn"))  # no kg extra
    assert not (tmp_path / "z.jsonl").exists()


def test_apps_fail_in_one_line_on_a_graph_without_products(built, tmp_path):
    db = tmp_path / "g.lbug"
    loaded = run("load", str(built["empty"]), "--listings", str(built["listings"]), "--db", str(db), "--allow-empty")
    assert loaded.exit_code == 0, loaded.output
    for args in (["search", "手机"], ["report", "--out", str(tmp_path / "r.html")]):
        assert failure(run(*args, "--db", str(db))) == f"error: {db} holds no products: load facts into it first (skugraph load)"
    for command in ("show", "explain", "recommend"):
        assert failure(run(command, "no-such-sku", "--db", str(db))).startswith("error: no product")
    assert "an empty query" in failure(run("search", " ", "--db", str(db)))
    assert not (tmp_path / "r.html").exists()


def _bars_output(monkeypatch, stages) -> list[str]:
    """The final lines of ``progress_bars`` after running ``stages(start)``."""
    import io

    from rich.console import Console

    from skugraph.cli import common

    screen = io.StringIO()
    monkeypatch.setattr(common, "errors", Console(file=screen, width=160))
    with common.progress_bars() as start:
        stages(start)
    return [line for line in screen.getvalue().splitlines() if line.strip()]


def test_a_stage_bar_stops_when_the_next_stage_starts(monkeypatch):
    import time

    def stages(start):
        start("first", 10)(3)  # it ends after 3 of 10 (early stopping, say)
        time.sleep(1.2)
        start("second", None)
        time.sleep(1.2)

    first, second = _bars_output(monkeypatch, stages)[-2:]
    assert first.split()[0] == "first" and "3/10" in first  # no spinner: it has stopped
    assert "0:00:01" in first  # its time frozen at its end, not 0:00:02
    assert "second" in second and "0:00:01" in second


def test_training_records_show_steps_loss_and_time_left(monkeypatch):
    def stages(start):
        advance = start("train tagger", None)
        advance({"step": 40, "total_steps": 400, "loss": 0.51234, "seconds": 10.0, "eta_seconds": 3725})
        advance({"epoch": 1})  # a record without steps or loss is shown as far as it goes

    line = _bars_output(monkeypatch, stages)[-1]
    assert "train tagger" in line and "40/400" in line and "epoch 1" in line


def test_step_update_reads_what_a_record_holds():
    from skugraph.cli.common import step_update

    update = step_update({"step": 40, "total_steps": 400, "loss": 0.51234, "dev_f1": 0.8, "eta_seconds": 3725, "epoch": 2})
    assert update == {"completed": 40, "total": 400, "status": "epoch 2  loss 0.5123  dev F1 0.8000  ETA 1:02:05"}
    assert step_update({"epoch": 3, "loss": None}) == {"status": "epoch 3"}
    assert step_update({}) == {"status": ""}
    assert step_update({"step": 10, "loss": 6.0, "tokens_per_second": 1898, "seconds": 30.0, "fraction": 0.25}) == {
        "completed": 10, "status": "loss 6.0000  1,898 tok/s  ETA 1:30"}


def test_a_bar_stops_when_a_record_says_its_last_step_is_done(monkeypatch):
    import time

    def stages(start):
        start("train matcher", 3)({"step": 10, "total_steps": 10, "loss": 0.1})
        time.sleep(1.2)

    line = _bars_output(monkeypatch, stages)[-1]
    assert "10/10" in line and "0:00:00" in line


def test_the_hints_name_the_command_as_the_user_can_run_it(tmp_path, monkeypatch):
    from skugraph.cli.common import command_name

    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "skugraph").write_text("#!/bin/sh\n")
    (venv_bin / "skugraph").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [".venv/bin/skugraph", "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_name() == ".venv/bin/skugraph"  # not on the PATH: `skugraph …` would be "command not found"
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin:/bin")
    assert command_name() == "skugraph"  # the environment is active


def test_training_progress_goes_to_a_log_as_a_line_a_minute(monkeypatch):
    def stages(start):
        advance = start("train tagger", None)
        for seconds in (10.0, 20.0, 70.0, 80.0):  # the loop reports every ~10 s
            advance({"step": int(seconds), "total_steps": 400, "loss": 0.5, "seconds": seconds, "eta_seconds": 600})
        advance({"epoch": 1, "step": 90, "total_steps": 400, "loss": 0.4, "dev_f1": 0.61, "seconds": 90.0})

    lines = [line for line in _bars_output(monkeypatch, stages) if line.startswith("train tagger:")]
    assert lines == ["train tagger: step 10/400  loss 0.5000  ETA 10:00", "train tagger: step 70/400  loss 0.5000  ETA 10:00",
                     "train tagger: step 90/400  epoch 1  loss 0.4000  dev F1 0.6100"]


def test_ingest_writes_its_rejects_beside_out_by_default(tmp_path, monkeypatch):
    """Without --rejects, the rejects go next to --out, not into ./.skugraph of the working directory."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "title": "华为 Mate 60 手机"}\n{"id": broken\n', encoding="utf-8")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "built" / "listings.jsonl"
    result = run("ingest", str(source), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out.parent / "rejects.jsonl").is_file() and f"rejects: {out.parent / 'rejects.jsonl'}" in result.stdout.replace("\n", "")
    assert not (elsewhere / ".skugraph").exists()
    named = tmp_path / "built" / "rejects.jsonl"  # an --out named rejects.jsonl keeps its rejects apart from it
    assert run("ingest", str(source), "--out", str(named)).exit_code == 0
    assert json.loads(named.read_text(encoding="utf-8").splitlines()[0])["id"] == "a"
    assert json.loads((tmp_path / "built" / "rejects.rejects.jsonl").read_text(encoding="utf-8").splitlines()[0])["field"] == "(record)"


def test_stats_counts_a_delisted_listing_and_its_product_apart(demo_graph, tmp_path):
    from skugraph.graph.store import open_store

    db = tmp_path / demo_graph.name
    for path in demo_graph.parent.glob(demo_graph.name + "*"):
        (shutil.copytree if path.is_dir() else shutil.copy)(path, tmp_path / path.name)
    before = json.loads(run("stats", "--db", str(db), "--json").stdout)
    assert before["delisted"] == {"Product": 0, "Listing": 0}
    with open_store(db) as store:  # a product with one listing, taken off the market
        lone = store.query("MATCH (l:Listing)-[:OFFER_OF]->(p:Product) WITH p, collect(l.id) AS ls WHERE size(ls) = 1 "
                           "RETURN ls[1] ORDER BY ls[1] LIMIT 1").rows[0][0]
        store.delist([lone])
    after = json.loads(run("stats", "--db", str(db), "--json").stdout)
    assert after["delisted"] == {"Product": 1, "Listing": 1}
    assert {label: before["nodes"][label] - after["nodes"][label] for label in ("Product", "Listing")} == {"Product": 1, "Listing": 1}
    assert "Listing (delisted)" in run("stats", "--db", str(db)).stdout


def test_ingest_warns_of_a_review_id_given_to_two_reviews(tmp_path):
    source = tmp_path / "in.jsonl"
    records = [{"id": "a1", "title": "小米 充电器", "reviews": [{"id": "1", "text": "很好", "rating": 5}]},
               {"id": "a2", "title": "华为 手机壳", "reviews": [{"id": "1", "text": "很差", "rating": 1}, {"id": "2", "text": "一般"}]},
               {"id": "a3", "title": "华为 手机壳 黑色", "reviews": [{"id": "2", "text": "一般"}]}]  # the same review again: shared
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    result = run("ingest", str(source), "--out", str(tmp_path / "l.jsonl"))
    assert result.exit_code == 0 and "ingested 3, rejected 0, 1 review ids given to other reviews too" in result.stdout
    (line,) = messages(result)
    assert line.startswith("review id '1' of listing 'a2' was given to another review (of listing 'a1', other text)")


def test_load_without_facts_loads_the_fused_ones_the_commands_before_wrote(tmp_path, monkeypatch):
    """The README's ingest, extract, fuse, load with no paths: load takes fuse's output, not extract's."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in generate()[:60]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert "neither .skugraph/facts.fused.jsonl nor .skugraph/facts.jsonl exists" in " ".join(run("load").output.split())
    assert run("ingest", str(source)).exit_code == 0 and run("extract").exit_code == 0
    unfused = run("load", "--db", "a.lbug")
    assert unfused.exit_code == 0 and "loading .skugraph/facts.jsonl (extracted, not fused" in " ".join(unfused.stdout.split())
    assert run("fuse", "--no-complete").exit_code == 0
    fused = run("load", "--db", "b.lbug")
    assert fused.exit_code == 0 and "loading .skugraph/facts.fused.jsonl" in fused.stdout
    products = [json.loads(run("stats", "--db", db, "--json").stdout)["nodes"]["Product"] for db in ("a.lbug", "b.lbug")]
    assert products[0] == 60 > products[1]  # the fused graph: the sample's listings of one product are one
    (tmp_path / ".skugraph" / "facts.jsonl").touch()  # extracted again, not fused again
    assert "is newer than .skugraph/facts.fused.jsonl: run skugraph fuse again" in " ".join(run("load", "--db", "b.lbug").stdout.split())
