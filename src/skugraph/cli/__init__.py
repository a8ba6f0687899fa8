"""The ``skugraph`` command: a thin Typer layer that parses arguments and calls library functions.

One module per command group; none imports a heavy library (torch, transformers, pyarrow,
LadybugDB …) at import time: each command imports what it uses, so ``skugraph --help`` and
``skugraph --version`` start at once."""

from __future__ import annotations

from typing import Annotated

import typer

from skugraph import __version__
from skugraph.cli import bench, evaluate, exports, inspect, keys, label, pipeline, serve, train
from skugraph.cli.common import console

app = typer.Typer(help="Turn e-commerce listings into a product knowledge graph.", no_args_is_help=True)
app.add_typer(pipeline.app)
app.add_typer(inspect.app)
app.add_typer(train.app)
app.add_typer(train.train_app, name="train")
app.add_typer(serve.app)
app.add_typer(bench.bench_app, name="bench")
app.add_typer(exports.app)
app.add_typer(evaluate.app)
app.add_typer(label.app, name="label")
app.add_typer(keys.keys_app, name="keys")


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()
