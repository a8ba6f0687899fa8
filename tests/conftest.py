"""Shared fixtures: the sample catalogue, the shared data sets (skipped when absent), a store per backend;
and the slow mark for every test that uses a fixture which trains a model or starts Ray, a server or a browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from skugraph.graph.store import GraphStore, open_store
from skugraph.labelling.server import LabelStudioServer, executable, running
from skugraph.sample.generate import CATALOGUE

#: the suite's graphs are small: each reserves 64 GiB of address space, not LadybugDB's 8 TiB, so the test
#: process (and the servers and scripts it starts, which inherit it) may hold more than 15 open at once
os.environ.setdefault("SKUGRAPH_MAX_DB_GB", "64")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: Module fixtures of the test files that train a model (tagger, relations, opinions) or start Ray, a server or a browser.
SLOW_FIXTURES = {"trained", "relation_model", "opinion_model", "ray_cluster", "server", "browser", "label_studio"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that uses a slow fixture, so ``pytest -m "not slow"`` leaves it out."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


#: Six labelled titles (brand, product, colour) that the tiny taggers of test_ensemble and
#: test_label_backend learn; module-level data there, so imported (``from conftest import TINY_TITLES``).
TINY_TITLES = [
    ("华为 Mate 60 蓝色 5G手机", [("华为", "brand"), ("蓝色", "colour"), ("手机", "product")]),
    ("小米 Redmi K70 黑色 智能手机", [("小米", "brand"), ("黑色", "colour"), ("智能手机", "product")]),
    ("绿联 手机壳 适用于华为Mate60 透明", [("绿联", "brand"), ("手机壳", "product"), ("华为", "brand"), ("透明", "colour")]),
    ("美的 电热水器 60升 白色", [("美的", "brand"), ("电热水器", "product"), ("白色", "colour")]),
    ("海尔 冰箱 银色 家用", [("海尔", "brand"), ("冰箱", "product"), ("银色", "colour")]),
    ("Anker 20W Charger for Samsung phone, Black", [("Anker", "brand"), ("Charger", "product"), ("Black", "colour")]),
]


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
def fused_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the sample catalogue ingested (``listings.jsonl``), extracted with the rules
    (``facts.jsonl``) and fused (``fused.jsonl``): what ``skugraph load`` reads. Tests may write graphs beside them."""
    from skugraph import pipeline
    from skugraph.corpus.ingest import ingest

    work = tmp_path_factory.mktemp("fused-sample")
    ingest([CATALOGUE], work / "listings.jsonl")
    pipeline.extract(work / "listings.jsonl", work / "facts.jsonl")
    pipeline.fuse(work / "listings.jsonl", work / "facts.jsonl", work / "fused.jsonl")
    return work


@pytest.fixture(scope="session")
def demo_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalogue built into a graph with the rule extractor (ingest, extract, fuse, load)."""
    from skugraph.pipeline import BuildConfig, build

    workdir = tmp_path_factory.mktemp("demo-graph")
    # the sample catalogue is small: its one completion proposal is calibrated at about 0.6, under the
    # default 0.7; a lower bar keeps completion in the graph the tests read
    return build(BuildConfig(workdir=workdir, extractor="rules", fresh=True, min_probability=0.55)).config.graph


#: Label Studio's own virtual environment (`make label-studio-venv`, a prerequisite of `make test`).
LABEL_STUDIO_VENV = Path(__file__).resolve().parents[1] / ".venv-labelstudio"


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A real Label Studio server on localhost for the whole test session (SQLite in a fresh data
    directory, one user): ``.url`` and ``.api_key``. Its start takes 20-90 s."""
    try:
        command = executable(LABEL_STUDIO_VENV)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    # a password starting with "-" (as secrets.token_urlsafe's sometimes does) must still reach label-studio start
    with running(command, tmp_path_factory.mktemp("label-studio"), password="-Xy_9-password") as server:
        yield server


def api_routes(routes) -> list:
    """Every endpoint of a FastAPI app's ``routes``, those of included routers too (FastAPI keeps
    them behind ``original_router``)."""
    from fastapi.routing import APIRoute

    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif getattr(route, "original_router", None) is not None:
            found += api_routes(route.original_router.routes)
    return found
