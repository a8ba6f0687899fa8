"""What ``skugraph bench …`` prints of a report: its tables and summary lines, one function a
benchmark, each returning what to print in order (rich tables and lines)."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table


def _table(title: str, columns: dict[str, str], left: tuple[str, ...]) -> Table:
    """A left-titled table with ``columns`` (key: heading), the ``left`` keys aligned left, the rest right."""
    table = Table(title=title, title_justify="left")
    for key, heading in columns.items():
        table.add_column(heading, justify="left" if key in left else "right")
    return table


def extract_summary(report: dict) -> list[RenderableType]:
    table = _table(f"{report['titles']} titles, {report['source']}",
                   {c: c for c in ("system", "titles/s", "× HF pipeline", "share of limit", "network s", "decode s", "peak RSS MB",
                                   "dev F1")}, ("system",))
    for r in report["results"]:
        table.add_row(r["system"], str(r["titles_per_s"]), f"{r['x_hf_pipeline']:.2f}", f"{r['share_of_limit']:.2f}",
                      str(r.get("network_seconds", "")), str(r.get("decode_seconds", "")), str(r["peak_rss_mb"]), str(r.get("dev_f1", "")))
    limit = report["physical_limit"]
    return [table, f"physical limit: {limit['mflops_per_title']} MFLOP a title at {limit['bf16_gflops_at_model_shapes']} GFLOP/s "
                   f"(the model's bf16 matmuls here; a 2048² one: {limit['bf16_square_gflops']}) = {limit['titles_per_s']} titles/s"]


def load_summary(report: dict) -> list[RenderableType]:
    pool = f", a {report['buffer_pool_mb']:,} MB page cache" if report.get("buffer_pool_mb") else ""
    table = _table(f"{report['listings']} listings, {report['facts']} facts{pool}",
                   {c: c for c in ("load", "s", "facts/s", "vs", "peak MB")}, ("load",))
    table.add_row("LadybugDB COPY (baseline)", str(report["ladybug_copy"]["seconds"]), str(report["ladybug_copy"]["facts_per_s"]), "1.00",
                  str(report["ladybug_copy"]["peak_rss_mb"]))
    table.add_row("skugraph load" + (", facts as Parquet" if "ours_from_jsonl" in report else ""), str(report["ours"]["seconds"]),
                  str(report["ours"]["facts_per_s"]), f"{report['ours_vs_copy']:.2f}× COPY",
                  str(report["ours"]["peak_rss_mb"]))
    parts = report["ours"]["parts"]
    if "ours_from_jsonl" in report:
        jsonl = report["ours_from_jsonl"]
        table.add_row("skugraph load, facts as JSONL", str(jsonl["seconds"]), str(jsonl["facts_per_s"]), f"{jsonl['vs_copy']:.2f}× COPY",
                      str(jsonl["peak_rss_mb"]))
    table.add_row("skugraph load, facts as Parquet: where the time goes", "", "", "")
    table.add_row("  reading, building rows", str(parts["rows"]), "", "")
    table.add_row("  staging as Parquet", str(parts["stage"]), "", "")
    table.add_row("  store statements", str(parts["store"]), "", f"{report['our_store_statements_vs_copy']:.2f}× COPY")
    table.add_row("  open, close (checkpoint)", str(parts["open_close"]), "", "")
    update = report["update"]
    table.add_row(f"update of {update['listings']} listings ({update['share']:.0%})", str(update["seconds"]), "",
                  f"{update['share_of_full_load']:.1%} of full", str(update["peak_rss_mb"]))
    table.add_row("  of which open, close", str(update["parts"]["open_close"]), "", "")
    return [table]


def stream_summary(report: dict) -> list[RenderableType]:
    processes = report["extract_workers"]
    extractor = f"the {report['extractor']} in {processes} process{'es' if processes > 1 else ''}"
    pool = f", loaded with a {report['buffer_pool_mb']:,} MB page cache" if report.get("buffer_pool_mb") else ""
    completion = "" if report["complete"] else " without KG completion"
    table = _table(f"{report['listings']:,} listings, extracted by {extractor}, fused in {report['workers']} workers"
                   f"{completion}{pool}",
                   {c: c for c in ("stage", "listings", "seconds", "listings/s", "peak RSS MB (all processes)")}, ("stage",))
    for name, stage in report["stages"].items():
        table.add_row(name + (f" ({stage['facts']:,} facts)" if "facts" in stage else ""), f"{stage['listings']:,}", str(stage["seconds"]),
                      str(stage["listings_per_s"]), str(stage["peak_rss_mb"]))
    run = [stage for name, stage in report["stages"].items() if name != "generate"]
    seconds = sum(stage["seconds"] for stage in run)
    table.add_row("ingest to load", f"{report['listings']:,}", f"{seconds:.1f} ({seconds / 60:.1f} min)",
                  str(round(report["listings"] / seconds)), str(max(stage["peak_rss_mb"] for stage in run)))
    return [table]


def _runs_table(title: str, columns: dict[str, str], left: tuple[str, ...], runs: list[dict]) -> Table:
    table = _table(title, columns, left)
    for run in runs:
        table.add_row(*(str(run.get(key, "–")) for key in columns))
    return table


def scale_summary(report: dict) -> list[RenderableType]:
    columns = {"engine": "engine", "workers": "workers", "output": "output", "seconds": "seconds", "start_seconds": "start s",
               "listings_per_s": "listings/s", "steady_listings_per_s": "steady listings/s", "steady_per_worker": "steady per worker"}
    return [_runs_table(f"{report['listings']:,} listings, rules; same facts everywhere: {report['same_facts_everywhere']}",
                        columns, ("engine", "output"), report["runs"])]


def train_summary(report: dict) -> list[RenderableType]:
    columns = {"engine": "engine", "workers": "workers", "threads_per_process": "threads each", "wall_seconds": "wall s",
               "train_seconds": "train s", "tokens_per_s": "tokens/s", "tokens_per_s_per_worker": "per worker", "final_loss": "loss"}
    return [_runs_table(f"{report['steps']} steps of {report['base_model']}, 64 sequences per process and step",
                        columns, ("engine",), report["runs"])]


def api_summary(report: dict) -> list[RenderableType]:
    cases = report["test_cases"]
    return [f"{report['operations']} operations, {cases['generated']} generated requests, {cases['with_failures']} with failures; "
            f"server errors (5xx): {report['server_errors']}",
            *(f"  {failure['code']} {failure['title']}: {failure['count']} ({', '.join(failure['operations'])})"
              for failure in report["failures"])]


def fuzz_summary(report: dict) -> list[RenderableType]:
    table = Table(title=f"{report['records']:,} records in {report['files']:,} files", title_justify="left")
    table.add_column("kind")
    table.add_column("records", justify="right")
    table.add_row("good", str(report["good_records"]))
    for kind, count in report["bad_by_kind"].items():
        table.add_row(kind, str(count))
    return [table, f"crashes {report['crashes']}, good records lost {report['lost_good_records']}, bad records not reported "
                   f"{report['unreported_bad_records']}, reports at the wrong place {report['misplaced_reports']}; "
                   f"{report['facts_extracted']:,} facts extracted, {report['facts_with_bad_spans']} with spans outside their text"]


def demo_summary(report: dict) -> list[RenderableType]:
    return [f"skugraph demo: {report['seconds']} s wall, peak RSS {report['peak_rss_mb']} MB"]
