"""``skugraph serve``: the REST API and web UI over a graph."""

from __future__ import annotations

from typing import Annotated

import typer

from skugraph.cli.common import DEFAULT_DB, DbOption, RuntimeOption, TaggerOption, console, friendly_errors

app = typer.Typer()


@app.command()
def serve(
    db: DbOption = DEFAULT_DB,
    tagger: TaggerOption = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    query_timeout: Annotated[float, typer.Option(help="Seconds a /query may run.")] = 5.0,
    kg_embeddings: Annotated[str | None, typer.Option(help="Train this PyKEEN model at start for similar products (TransE, RotatE …).")] = None,
    runtime: RuntimeOption = "torch-bf16",
) -> None:
    """The REST API (OpenAPI at /docs) and the web UI over a graph."""
    import uvicorn

    from skugraph.serve.app import create_app

    with friendly_errors():
        api = create_app(db, tagger, query_timeout, kg_embeddings, runtime)
    console.print(f"skugraph on http://{host}:{port}/  (API docs: /docs)", highlight=False)
    uvicorn.run(api, host=host, port=port, log_level="warning")


