"""``skugraph serve``: the REST API and web UI over a graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import DEFAULT_DB, DbOption, RuntimeOption, TaggerOption, console, fail, friendly_errors
from skugraph.cli.keys import KeysOption, keys_file

app = typer.Typer()

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@app.command()
def serve(
    db: DbOption = DEFAULT_DB,
    tagger: TaggerOption = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    query_timeout: Annotated[float, typer.Option(help="Seconds a /query may run.")] = 5.0,
    kg_embeddings: Annotated[str | None, typer.Option(help="Train this PyKEEN model at start for similar products (TransE, RotatE …).")] = None,
    runtime: RuntimeOption = "torch-bf16",
    keys: KeysOption = None,
    rate_limit: Annotated[float, typer.Option(help="Requests a second each key may make on average (0: no limit).")] = 100.0,
    burst: Annotated[int, typer.Option(help="Requests a key may make at once before the rate limit applies.")] = 200,
    cors_origin: Annotated[list[str] | None, typer.Option(help="A web origin allowed to call the API from a browser (repeatable; default: none).")] = None,
    writable: Annotated[bool, typer.Option(help="Open the graph for writing and serve POST /listings, DELETE /listings/{id} and GET /changes.")] = False,
    buffer_pool_mb: Annotated[int | None, typer.Option(min=16, help="The graph's page cache in MB (default: LadybugDB's, 80% of this machine's memory).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="Requests served at once; the others wait their turn (more than a few only queue for Python's interpreter lock).")] = 2,
    substitute_model: Annotated[Path | None, typer.Option(help="The inventory keeps the substitutes this model accepts (`skugraph train substitutes`).")] = None,
) -> None:
    """The REST API (OpenAPI at /docs) and the web UI over a graph. With a keys file (`skugraph keys
    create`), every API call needs a key; without one, the server listens on this machine only."""
    import logging

    import uvicorn

    from skugraph.serve.app import create_app

    path = keys_file(keys, db)
    if not path.exists() and host not in LOCAL_HOSTS:
        fail(f"no API keys ({path}): the API would be open to anyone who reaches {host}; "
             f"create one with `skugraph keys create --name NAME --role read`, or serve on 127.0.0.1")
    with friendly_errors():
        api = create_app(db, tagger, query_timeout, kg_embeddings, runtime, keys=path if path.exists() else None,
                         rate_limit=rate_limit, burst=burst, cors_origins=cors_origin or (), writable=writable,
                         buffer_pool_mb=buffer_pool_mb, threads=threads, substitute_model=substitute_model)
    access = logging.getLogger("skugraph.access")
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access.addHandler(handler)
    console.print(f"skugraph on http://{host}:{port}/  (API docs: /docs)", highlight=False)
    if writable:
        console.print("writes on: POST /listings, DELETE /listings/{id}, GET /changes", highlight=False)
    if path.exists():
        console.print(f"API keys: {path} (a key is needed for every API call)", highlight=False)
    else:
        console.print(f"no API keys ({path}): the API is open to this machine only", highlight=False)
    uvicorn.run(api, host=host, port=port, log_level="warning")
