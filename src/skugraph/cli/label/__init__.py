"""``skugraph label …``: the labelling loop, one module per part (no heavy import at module level)."""

from __future__ import annotations

import typer

from skugraph.cli.label import serve, studio, suggest, weak

app = typer.Typer(help="Label your own titles: what to label next, Label Studio, label errors, weak labels.",
                  no_args_is_help=True)
for part in (suggest, studio, serve, weak):
    app.add_typer(part.app)
