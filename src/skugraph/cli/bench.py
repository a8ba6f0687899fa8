"""``skugraph bench …``: speed benchmarks on this machine, each printing its figures and
writing them as JSON (the command that made them included)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import console, errors, fail, friendly_errors

bench_app = typer.Typer(help="Speed benchmarks on this machine.", no_args_is_help=True)


def _run(out: Path, measure: Callable[[], dict], summary: Callable[[dict], list]) -> dict:
    """Run a benchmark, print its tables and lines, and save its figures with the command that
    made them."""
    from skugraph.results import save_record

    with friendly_errors():
        report = measure()
    for item in summary(report):
        console.print(item)
    save_record(out, report | {"command": " ".join(["skugraph", *sys.argv[1:]])})
    console.print(f"wrote {out}")
    return report


@bench_app.command("extract")
def bench_extract_command(
    model: Annotated[Path, typer.Option(help="A tagger directory (its ONNX files are exported first if missing).")],
    listings: Annotated[int, typer.Option(help="How many titles to tag.")] = 2000,
    titles: Annotated[Path | None, typer.Option(help="A text file of titles, one a line (default: the sample catalogue's, cycled).")] = None,
    dev: Annotated[Path | None, typer.Option(help="Labelled titles: each runtime's strict F1 there (what int8 loses).")] = None,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/extract.json"),
) -> None:
    """Titles/s and peak RSS of the Hugging Face token-classification pipeline and of our torch,
    torch-bf16, onnx and onnx-int8 runtimes, on the same model and titles, in one run, and the
    physical limit: the network's FLOPs a title against this machine's bf16 matmul rate."""
    from skugraph.bench.extract import bench_extract
    from skugraph.bench.tables import extract_summary

    def measure() -> dict:
        try:
            return bench_extract(model, listings, titles, progress=lambda r: errors.print(f"{r['system']}: {r['titles_per_s']} titles/s"),
                                 dev=dev)
        except RuntimeError as error:  # a system's own process failed: its last line says why
            fail(str(error))

    _run(out, measure, extract_summary)


@bench_app.command("load")
def bench_load_command(
    listings: Annotated[int, typer.Option(help="How many listings to generate (the sample catalogue's, cycled).")] = 20_000,
    changed: Annotated[float, typer.Option(help="Share of the listings the incremental update changes.")] = 0.01,
    buffer_pool_mb: Annotated[int | None, typer.Option(min=64, help="Cap the graph's page cache (MB) for every load and the COPY; default: LadybugDB's, 80% of this machine's memory.")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each load (each into a graph of its own): the fastest is kept.")] = 2,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/load.json"),
) -> None:
    """Facts/s and peak memory of our loader (facts as Parquet, and as JSONL) beside LadybugDB's
    own COPY of the same rows, and the cost of an update of 1% of the listings beside the full load."""
    from skugraph.bench.load import bench_load
    from skugraph.bench.tables import load_summary

    _run(out, lambda: bench_load(listings, changed, buffer_pool_mb, repeats, progress=errors.print), load_summary)


@bench_app.command("stream")
def bench_stream_command(
    listings: Annotated[int, typer.Option(help="How many listings to generate.")] = 1_000_000,
    workers: Annotated[int, typer.Option(min=1, help="Extraction (rules, or a CRF tagger) and fusion processes.")] = 2,
    model: Annotated[Path | None, typer.Option(help="Extract with this tagger (`skugraph train tagger`) instead of the rules.")] = None,
    buffer_pool_mb: Annotated[int | None, typer.Option(min=64, help="Cap the graph's page cache while loading (MB; default: LadybugDB's, 80% of this machine's memory).")] = None,
    complete: Annotated[bool, typer.Option(help="Fuse with KG completion, as `skugraph fuse` does by default.")] = True,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/stream.json"),
) -> None:
    """Generate, ingest, extract (streaming), fuse and load many listings: time and peak memory of
    each stage (all processes together)."""
    from skugraph.bench.stream import bench_stream
    from skugraph.bench.tables import stream_summary

    _run(out, lambda: bench_stream(listings, workers, model, buffer_pool_mb, complete, progress=errors.print), stream_summary)


@bench_app.command("scale")
def bench_scale_command(
    listings: Annotated[int, typer.Option(help="How many listings to generate.")] = 20_000,
    workers: Annotated[list[int] | None, typer.Option(help="Ray worker counts to run (repeat the option).")] = None,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/scale.json"),
) -> None:
    """Extraction on a local Ray instance with 1 and 2 workers, beside the local engine in one
    process: listings/s overall and in the steady state, per worker; and Ray writing Parquet."""
    from skugraph.bench.stream import bench_scale
    from skugraph.bench.tables import scale_summary

    _run(out, lambda: bench_scale(listings, tuple(workers or (1, 2)), progress=errors.print), scale_summary)


@bench_app.command("train")
def bench_train_command(
    steps: Annotated[int, typer.Option(help="Optimizer steps per run.")] = 40,
    workers: Annotated[list[int] | None, typer.Option(help="Ray Train worker counts to run (repeat the option).")] = None,
    base_model: Annotated[str, typer.Option(help="scratch:tiny|small|base.")] = "scratch:small",
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/train-scale.json"),
) -> None:
    """Pretraining throughput on Ray Train with 1 and 2 workers, beside one local process."""
    from skugraph.bench.tables import train_summary
    from skugraph.bench.train import bench_train

    _run(out, lambda: bench_train(steps, tuple(workers or (1, 2)), base_model, progress=errors.print), train_summary)


@bench_app.command("api")
def bench_api_command(
    db: Annotated[Path | None, typer.Option("--db", help="A graph to serve (default: the sample catalogue, built with the rules).")] = None,
    max_examples: Annotated[int, typer.Option(help="Generated requests per operation and phase.")] = 100,
    seed: int = 1,
    writable: Annotated[bool, typer.Option(help="Serve with --writable (over a copy of the graph): the write endpoints too.")] = True,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/api.json"),
) -> None:
    """Schemathesis against `skugraph serve`, every check on: server errors (5xx) and other failures."""
    from skugraph.bench.service import bench_api
    from skugraph.bench.tables import api_summary

    _run(out, lambda: bench_api(db, max_examples, seed, progress=errors.print, writable=writable), api_summary)


@bench_app.command("fuzz")
def bench_fuzz_command(
    records: Annotated[int, typer.Option(help="Generated records to read (good and malformed).")] = 10_000,
    seed: Annotated[int, typer.Option(help="The first hypothesis seed (one per round of 50 files).")] = 0,
    out: Annotated[Path, typer.Option(help="Where the counts go.")] = Path("benchmarks/results/fuzz.json"),
) -> None:
    """Ingest and extract generated files of good and malformed listings (hypothesis): crashes,
    good records lost, bad records not reported with file and line."""
    from skugraph.bench.tables import fuzz_summary

    try:
        from skugraph.fuzz import run
    except ModuleNotFoundError as error:
        fail(f"the fuzz bench needs the dev extra ({error}): pip install 'skugraph[dev]'")
    report = _run(out, lambda: run(records, start_seed=seed).to_dict(), fuzz_summary)
    if report["crashes"] or report["lost_good_records"] or report["unreported_bad_records"]:
        raise typer.Exit(1)


@bench_app.command("demo")
def bench_demo_command(
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/demo.json"),
) -> None:
    """Wall time and peak memory of `skugraph demo` in a fresh work directory (what `make demo`
    runs after installing)."""
    from skugraph.bench.service import bench_demo
    from skugraph.bench.tables import demo_summary

    _run(out, bench_demo, demo_summary)


@bench_app.command("serve")
def bench_serve_command(
    products: Annotated[int, typer.Option(help="Products in the generated graph (built once, kept in .skugraph/bench-serve).")] = 20_000,
    seconds: Annotated[float, typer.Option(help="How long each mix runs.")] = 60,
    users: Annotated[int, typer.Option(help="Concurrent readers (locust users, no wait between requests).")] = 10,
    db: Annotated[Path | None, typer.Option("--db", help="A graph to serve instead (a copy: the bench writes).")] = None,
    tagger: Annotated[Path | None, typer.Option(help="Serve with this tagger (`skugraph train tagger`): posted listings are read with it, not the rules.")] = None,
    out: Annotated[Path, typer.Option(help="Where the figures go.")] = Path("benchmarks/results/serve.json"),
) -> None:
    """Locust against `skugraph serve --writable --rate-limit 0`: reads (search, product page,
    recommend), writes (batches of ten listing updates) and both (writes at ten listings/s),
    each with requests/s, p50/p99 and errors beside the targets; then SIGKILL under writes, a
    restart, and the acknowledged writes found afterwards. Needs .venv-locust (make locust-venv)."""
    from skugraph.bench.serve_load import bench_serve, serve_summary

    _run(out, lambda: bench_serve(products, seconds, users, db, progress=errors.print, tagger=tagger), serve_summary)
