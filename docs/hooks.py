"""MkDocs hook: the pages made from the code and from the benchmark results, at build time.

* ``reference/cli.md`` from the Typer app (``skugraph.cli:app``);
* ``reference/schema.md`` from the ontology and ``skugraph.graph.schema``;
* every page with ``{{ table … }}`` or ``{{ value … }}`` markers (the benchmark pages, and any
  guide that cites a figure) filled from ``benchmarks/results/*.json``;
* ``benchmarks/index.md``, which lists every result file, the page that shows it and its command;
* the benchmark plots (``benchmarks/results/*.png``) beside the pages that show them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))

import gen_benchmarks  # noqa: E402  (a sibling module, found through the path above)
import gen_reference  # noqa: E402

BENCHMARK_INTRO = """# Benchmarks

Every figure on these pages is read from `benchmarks/results/*.json` when the site is built;
each table is followed by the command that wrote its file. [Quality](quality.md) holds the
extraction, fusion, search and recommendation scores; [Speed](speed.md) the throughput,
memory and reliability runs. To refresh a figure, run the command again and rebuild the site.

"""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from skugraph.cli import app  # imported here: only a build needs the CLI

    root = Path(config.config_file_path).resolve().parent
    results = gen_benchmarks.Results(root / "benchmarks" / "results")
    pages: dict[str, set[str]] = {}
    try:
        for page in [f for f in files.documentation_pages() if gen_benchmarks.MARKER.search(f.content_string)]:
            results.used = set()
            rendered = gen_benchmarks.render(page.content_string, results, page.src_uri)
            files.remove(page)
            files.append(File.generated(config, page.src_uri, content=rendered))
            pages[page.src_uri] = results.used
        index = BENCHMARK_INTRO + gen_benchmarks.overview(results, pages)
    except gen_benchmarks.BenchmarkDocsError as error:
        raise PluginError(str(error)) from None
    files.append(File.generated(config, "benchmarks/index.md", content=index))
    for plot in sorted((root / "benchmarks" / "results").glob("*.png")):  # the figures the tables link to
        files.append(File.generated(config, f"benchmarks/results/{plot.name}", content=plot.read_bytes()))
    files.append(File.generated(config, "reference/cli.md", content=gen_reference.cli_reference(app)))
    files.append(File.generated(config, "reference/schema.md", content=gen_reference.schema_reference()))
    return files
