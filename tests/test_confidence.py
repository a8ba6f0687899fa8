"""Confidence that means precision: --min-confidence on fuse, load and export, and the graph's
expected precision (``skugraph stats``, the store's ``confidences``) on hand-made facts."""

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from skugraph.cli import app
from skugraph.facts.io import write_facts
from skugraph.graph.store import Confidences, confidence_summary, inferred_facts, open_store, read_facts
from skugraph.records import BRAND, PRODUCT, VALUE, Entity, Fact, Listing, Provenance, to_json_line

runner = CliRunner()

LISTINGS = [Listing("p1", "华为 手机壳 黑色 硅胶"), Listing("p2", "美的 电热水器 60升 白色")]
PHONE_CASE, HEATER = (Entity(PRODUCT, listing.id, listing.title) for listing in LISTINGS)


def _fact(subject: Entity, predicate: str, obj: Entity, confidence: float, *readings: tuple[str, str]) -> Fact:
    """A fact read in its product's listing by each (extractor, version) of ``readings``."""
    where = tuple(Provenance(subject.key, "title", 0, 2, extractor, version) for extractor, version in readings)
    return Fact(subject, predicate, obj, confidence, where)


def _value(kind: str, name: str) -> Entity:
    return Entity(VALUE, f"{kind}:{name}", name, kind=kind)


#: six facts whose confidences sum to 3.8 (mean 0.6333, 2.2 expected wrong); two of them calibrated:
#: the material (a tagger version marked calibrated) and the capacity (KG completion, so inferred:
#: read in no text, the other five are); the white colour has a calibrated and a rule reading, so
#: its noisy-or confidence is no probability
FACTS = [
    _fact(PHONE_CASE, "has_brand", Entity(BRAND, "huawei", "华为"), 0.95, ("rules", "2")),
    _fact(PHONE_CASE, "colour", _value("colour", "黑色"), 0.4, ("rules", "2")),
    _fact(PHONE_CASE, "material", _value("material", "硅胶"), 0.7, ("tagger", "3f9a+calibrated")),
    _fact(HEATER, "has_brand", Entity(BRAND, "midea", "美的"), 0.3, ("rules", "2")),
    _fact(HEATER, "capacity", _value("capacity", "60L"), 0.85, ("completion", "neighbours")),
    _fact(HEATER, "colour", _value("colour", "白色"), 0.6, ("tagger", "3f9a+calibrated"), ("rules", "2")),
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    listings, facts = tmp_path / "listings.jsonl", tmp_path / "facts.jsonl"
    listings.write_text("".join(to_json_line(listing) + "\n" for listing in LISTINGS), encoding="utf-8")
    write_facts(facts, FACTS)
    return listings, facts


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _confidences(db: Path) -> dict[str, list[float]]:
    """The confidences the graph holds, per predicate."""
    with open_store(db, read_only=True) as store:
        rows = store.query("MATCH ()-[r]->() RETURN r.predicate, r.confidence").rows
    found: dict[str, list[float]] = {}
    for predicate, confidence in rows:
        found.setdefault(predicate, []).append(confidence)
    return {predicate: sorted(values) for predicate, values in found.items()}


def test_store_confidences_and_expected_precision_by_hand(store):
    store.load(LISTINGS, FACTS)
    found = store.confidences()
    assert found["has_brand"] == Confidences(2, pytest.approx(1.25), 0)
    assert found["colour"] == Confidences(2, pytest.approx(1.0), 0)  # one reading of 白色 is the rules'
    assert found["material"] == Confidences(1, pytest.approx(0.7), 1)
    assert "capacity" not in found and found["capacity (inferred)"] == Confidences(1, pytest.approx(0.85), 1)
    overall = read_facts(found)  # what the listings say: the inferred capacity left out
    assert (overall.facts, overall.calibrated) == (5, 1)
    assert overall.expected_precision == pytest.approx(2.95 / 5) and overall.expected_wrong == pytest.approx(2.05)
    assert overall.calibration.startswith("partly calibrated: 1 of 5")
    assert inferred_facts(found) == Confidences(1, pytest.approx(0.85), 1)


def test_calibration_says_whether_the_mean_is_a_precision():
    assert Confidences(3, 2.7, 3).calibration.startswith("calibrated")
    assert Confidences(3, 2.7, 0).calibration == "uncalibrated: read as a score, not a probability"
    assert Confidences().expected_precision is None


def test_the_expected_precision_leaves_out_what_is_not_read_from_text():
    found = {"has_brand": Confidences(2, 1.25, 0), "offer_of": Confidences(3, 3.0, 0), "has_review": Confidences(4, 4.0, 0),
             "colour (inferred)": Confidences(1, 0.8, 1)}
    assert read_facts(found) == Confidences(2, 1.25, 0)
    assert confidence_summary(found)["inferred"] == {"facts": 1, "expected_precision": 0.8, "expected_wrong": 0.2, "calibrated": 1}
    assert confidence_summary(found)["all"]["expected_precision"] == 0.625 and "offer_of" in confidence_summary(found)["predicates"]


def test_stats_prints_the_expected_precision(files, tmp_path):
    listings, facts = files
    db = tmp_path / "g.lbug"
    assert run("load", str(facts), "--listings", str(listings), "--db", str(db)).exit_code == 0
    shown = run("stats", "--db", str(db))
    assert shown.exit_code == 0
    printed = " ".join(shown.stdout.split())
    assert ("expected precision 0.590 over the 5 facts read from text (all but offer_of, has_review and those inferred) "
            "(about 2 wrong); partly calibrated: 1 of 5") in printed
    assert "1 facts inferred by KG completion, read in no listing: expected precision 0.850 (about 0 wrong)" in printed
    summary = json.loads(run("stats", "--db", str(db), "--json").stdout)["confidence"]
    assert summary["all"] == {"facts": 5, "expected_precision": 0.59, "expected_wrong": 2.0, "calibrated": 1,
                              "calibration": summary["all"]["calibration"]}
    assert summary["predicates"]["capacity (inferred)"]["facts"] == 1
    assert summary["predicates"]["has_brand"] == {"facts": 2, "expected_precision": 0.625, "expected_wrong": 0.8, "calibrated": 0}


def test_load_leaves_out_exactly_the_facts_under_the_threshold(files, tmp_path):
    listings, facts = files
    db = tmp_path / "g.lbug"
    result = run("load", str(facts), "--listings", str(listings), "--db", str(db), "--min-confidence", "0.6")
    assert result.exit_code == 0, result.output
    assert "left out 2 facts under confidence 0.6 (colour 1, has_brand 1)" in result.stdout
    assert _confidences(db) == {"has_brand": [0.95], "colour": [0.6], "material": [0.7], "capacity": [0.85]}


def test_fuse_leaves_out_the_facts_under_the_threshold_but_no_listing_loses_its_product(files, tmp_path):
    listings, facts = files
    out = tmp_path / "fused.jsonl"
    result = run("fuse", str(facts), "--listings", str(listings), "--out", str(out), "--no-complete", "--min-confidence", "0.7")
    assert result.exit_code == 0, result.output
    assert "left out 3 facts under confidence 0.7 (colour 2, has_brand 1)" in result.stdout
    fused = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    kept = sorted((f["predicate"], f["object"]["name"]) for f in fused if f["predicate"] != "offer_of")
    assert kept == [("capacity", "60L"), ("has_brand", "华为"), ("material", "硅胶")]
    assert sorted(f["subject"]["key"] for f in fused if f["predicate"] == "offer_of") == ["p1", "p2"]


def test_export_leaves_out_the_edges_under_the_threshold(files, tmp_path):
    listings, facts = files
    db = tmp_path / "g.lbug"
    assert run("load", str(facts), "--listings", str(listings), "--db", str(db)).exit_code == 0
    result = run("export", str(tmp_path / "neo4j"), "--db", str(db), "--min-confidence", "0.85")
    assert result.exit_code == 0, result.output
    assert "left out 4 facts under confidence 0.85 (colour 2, has_brand 1, material 1)" in result.stdout
    exported = {}
    for path in (tmp_path / "neo4j").glob("relationships-*.csv"):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                exported[row["predicate"]] = float(row["confidence:double"])
    assert exported == {"has_brand": 0.95, "capacity": 0.85}
    assert run("export", str(tmp_path / "parquet"), "--db", str(db), "--format", "parquet", "--min-confidence", "0.85").exit_code == 0
    brands = pq.read_table(tmp_path / "parquet" / "HAS_BRAND-Product-Brand.parquet").to_pylist()
    assert [(row["dst"], row["confidence"]) for row in brands] == [("huawei", 0.95)]
    assert len(pq.read_table(tmp_path / "parquet" / "Brand.parquet")) == 2  # nodes are all written


def test_a_threshold_outside_0_to_1_is_a_clear_error(files, tmp_path):
    from skugraph import pipeline

    listings, facts = files
    result = runner.invoke(app, ["load", str(facts), "--listings", str(listings), "--db", str(tmp_path / "g.lbug"),
                                 "--min-confidence", "1.5"])
    assert result.exit_code == 2 and "--min-confidence" in result.output and "Traceback" not in result.output
    with pytest.raises(ValueError, match="--min-confidence must be between 0 and 1, not -0.1"):
        pipeline.load(tmp_path / "g.lbug", listings, facts, min_confidence=-0.1)
    assert not (tmp_path / "g.lbug").exists()  # refused before the graph is made
