"""``skugraph label …``: the labelling loop, one module per part (no heavy import at module level)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Label your own titles: what to label next, Label Studio, label errors, weak labels.",
                  no_args_is_help=True)

from skugraph.cli.label import suggest  # noqa: E402
app.add_typer(suggest.app)
from skugraph.cli.label import weak  # noqa: E402
app.add_typer(weak.app)
from skugraph.cli.label import serve  # noqa: E402
app.add_typer(serve.app)
from skugraph.cli.label import studio  # noqa: E402
app.add_typer(studio.app)
