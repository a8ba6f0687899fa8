"""The documentation site: benchmark tables generated from result files, the CLI and schema
references generated from the code, and the whole site built with ``mkdocs build --strict``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import gen_benchmarks  # noqa: E402  (docs/gen_benchmarks.py)
import gen_reference  # noqa: E402  (docs/gen_reference.py)

RECOMMEND = {
    "command": "python benchmarks/recommend.py --data DATA",
    "products": 10,
    "hidden": 4,
    "systems": {
        "popularity": {"mrr": 0.0071, "hits_at_10": 0.25, "count": 4},
        "skugraph": {"mrr": 0.28774, "hits_at_10": 0.75, "count": 4},
    },
}


def results_dir(tmp_path: Path, **records: dict) -> gen_benchmarks.Results:
    for name, record in records.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
    return gen_benchmarks.Results(tmp_path)


def test_table_is_made_from_the_results_file_with_its_command(tmp_path: Path) -> None:
    results = results_dir(tmp_path, recommend=RECOMMEND)
    page = gen_benchmarks.render("# Recs\n\n{{ table recommend }}\n", results)
    assert "| system | MRR | Hits@10 | hidden edges |" in page
    assert "| popularity | 0.007 | 0.250 | 4 |" in page
    assert "| skugraph | 0.288 | 0.750 | 4 |" in page
    assert "Made by `python benchmarks/recommend.py --data DATA` → `recommend.json`" in page
    assert "{{" not in page


def test_a_file_without_a_command_says_so(tmp_path: Path) -> None:
    record = {key: value for key, value in RECOMMEND.items() if key != "command"}
    page = gen_benchmarks.render("{{ table recommend }}", results_dir(tmp_path, recommend=record))
    assert "Made by command not recorded → `recommend.json`" in page


def test_value_marker_formats_one_figure(tmp_path: Path) -> None:
    results = results_dir(tmp_path, recommend=RECOMMEND)
    text = ("MRR {{ value recommend systems.skugraph.mrr .2f }}, "
            "Hits@10 {{ value recommend systems.skugraph.hits_at_10 pct }}%")
    assert gen_benchmarks.render(text, results) == "MRR 0.29, Hits@10 75.0%"


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("{{ table nothing }}", "benchmarks/quality.md: unknown table"),
        ("{{ table completion }}", "no result file .*completion.json"),
        ("{{ value recommend systems.bm25.mrr }}", "benchmarks/quality.md: recommend.json: no 'systems.bm25.mrr'"),
    ],
)
def test_a_marker_that_names_nothing_is_an_error_naming_the_page(tmp_path: Path, marker: str, message: str) -> None:
    results = results_dir(tmp_path, recommend=RECOMMEND)
    with pytest.raises(gen_benchmarks.BenchmarkDocsError, match=message):
        gen_benchmarks.render(marker, results, "benchmarks/quality.md")


def test_overview_lists_every_file_and_shows_the_ones_no_page_shows(tmp_path: Path) -> None:
    extra = {"command": "skugraph bench extra", "rate": {"per_s": 12.5}}
    results = results_dir(tmp_path, recommend=RECOMMEND, extra=extra)
    gen_benchmarks.render("{{ table recommend }}", results)
    overview = gen_benchmarks.overview(results, {"benchmarks/quality.md": {"recommend"}})
    assert "| `recommend.json` | [quality](quality.md) | `python benchmarks/recommend.py --data DATA` |" in overview
    assert "| `extra.json` | [below](#other-results) | `skugraph bench extra` |" in overview
    assert "## Other results" in overview and "| rate.per_s | 12.5 |" in overview


def test_the_committed_pages_render_every_committed_result_file() -> None:
    results = gen_benchmarks.Results()
    for page in sorted((ROOT / "docs" / "benchmarks").glob("*.md")):
        gen_benchmarks.render(page.read_text(encoding="utf-8"), results, str(page))
    assert set(results.records) - results.used == set(), "result files no benchmark page shows"


def test_schema_reference_lists_every_table_and_predicate() -> None:
    from skugraph.facts.ontology import load_ontology
    from skugraph.graph.schema import NODE_TABLES, relation_tables

    page = gen_reference.schema_reference()
    for label in NODE_TABLES:
        assert f"| `{label}` |" in page
    for table in relation_tables():
        assert f"| `{table.name}` |" in page
    for name, predicate in load_ontology().predicates.items():
        assert f"| `{name}` | `{predicate.relation}` |" in page
    assert "| `HAS_BRAND` | Product → Brand | `evidence` STRING | `has_brand` |" in page


def test_cli_reference_documents_every_command_and_option() -> None:
    import typer

    from skugraph.cli import app

    page = gen_reference.cli_reference(app)
    command = typer.main.get_command(app)
    context = typer.Context(command, info_name="skugraph")
    for name in command.list_commands(context):
        assert f"`skugraph {name}`" in page
    assert "`skugraph train tagger`" in page
    assert "`--out PATH`" in page or "`--out <path>`" in page
    assert "--install-completion" not in page


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path) -> None:
    build = subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    site = tmp_path / "site"
    for page in ("", "reference/cli", "reference/schema", "benchmarks", "benchmarks/quality", "benchmarks/speed"):
        assert (site / page / "index.html").is_file()
    assert "skugraph train tagger" in (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")


def test_label_errors_of_several_draws_show_as_one_row_of_their_means(tmp_path: Path) -> None:
    def run(noisy: float, fixed: float) -> dict:
        return {"rate": 0.05, "folds": 5, "detection": {}, **{key: {"dev": {"micro": {"f1": f1}}} for key, f1 in
                (("clean", 0.75), ("noisy", noisy), ("fixed_top10", fixed))}}

    top = {"precision": 0.3, "recall": 0.6, "recall_by_kind": {}}
    record = {"command": "python benchmarks/labelling.py", "dataset": "ding2019", "iterations": 100, "error_seeds": [0, 2],
              "runs": [run(0.73, 0.74), run(0.74, 0.746)], "top5": top, "top10": top, "clean": run(0, 0)["clean"],
              "f1_lost": 0.015, "f1_recovered": 0.0075, "share_recovered": 0.5}
    page = gen_benchmarks.render("{{ table labelling }}", results_dir(tmp_path, **{"labelling-ding2019-errors": record}))
    assert "| ding2019 (CRF 100 it.) | 5% × 2 draws | 5 | 30.0 | 60.0 | 30.0 | 60.0 | 75.0 | 73.5 | 74.3 | 50% |" in page
