"""Shared fixtures: the sample catalogue, the shared data sets (skipped when absent), a store per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skugraph.graph.store import GraphStore, open_store
from skugraph.sample.generate import CATALOGUE

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def catalogue() -> Path:
    return CATALOGUE


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED_DATA}")
    return SHARED_DATA


#: Every graph backend runs the same store tests.
BACKENDS = {"ladybug": lambda directory: open_store(directory / "graph.lbug")}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    with BACKENDS[request.param](tmp_path) as opened:
        yield opened


@pytest.fixture(scope="session")
def demo_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalogue built into a graph with the rule extractor (ingest, extract, fuse, load)."""
    from skugraph.pipeline import BuildConfig, build

    workdir = tmp_path_factory.mktemp("demo-graph")
    return build(BuildConfig(workdir=workdir, extractor="rules", fresh=True)).config.graph
