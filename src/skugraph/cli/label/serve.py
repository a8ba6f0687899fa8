"""``skugraph label serve``: the tagger as a Label Studio ML backend that retrains on the annotations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import RuntimeOption, console, friendly_errors

app = typer.Typer()


@app.command()
def serve(
    model: Annotated[Path, typer.Option("--model", help="The tagger directory (`skugraph train tagger`).")],
    host: str = "127.0.0.1",
    port: int = 9090,
    train_data: Annotated[Path | None, typer.Option(help="Labelled texts every retrain starts from (default: the file "
                                                              "the model was trained on, where it is still there).")] = None,
    retrain_every: Annotated[int, typer.Option(help="Retrain after this many new annotations.")] = 5,
    runtime: RuntimeOption = "torch-bf16",
) -> None:
    """A Label Studio ML backend: predictions while annotators label, retrained on what they submit.

    The tagger's spans are the predictions; its CRF member is retrained in the background. With
    LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY set, a retrain reads all of a project's annotations
    from Label Studio."""
    import logging

    import uvicorn

    from skugraph.labelling.backend import LabellingBackend, create_app, label_studio_fetcher

    with friendly_errors():
        backend = LabellingBackend.load(model, train_data, retrain_every, runtime)
        url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
        if url and key:
            backend.fetch = label_studio_fetcher(url, key, backend)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    console.print(f"Label Studio ML backend on http://{host}:{port}/ serving {backend.model_version}; a retrain every "
                  f"{retrain_every} annotations on {len(backend.base)} base texts ({backend.base_source or 'no file'}) "
                  "plus the annotations" + (f", read from {url}" if url and key else ""), highlight=False)
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")
