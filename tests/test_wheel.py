"""The wheel works on its own: built from the repository and installed into a fresh virtual environment
with no source tree on the path, it carries every data file and runs the rule demo and a query."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "skugraph"


def run(command: list[str | Path], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command without this checkout on the path: no PYTHONPATH, no active environment."""
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def data_files_in_the_tree() -> set[str]:
    """Every file of the package that is not Python source or bytecode, as a path inside the wheel."""
    return {path.relative_to(PACKAGE.parent).as_posix() for path in PACKAGE.rglob("*")
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts}


def test_the_wheel_installs_into_a_fresh_environment_and_runs_the_demo_and_a_query(tmp_path):
    pytest.importorskip("build", reason="python -m build (the dev extra) is not installed")
    assert not tmp_path.is_relative_to(ROOT)
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT], cwd=tmp_path)  # sdist, then the wheel from it
    (wheel,) = dist.glob("skugraph-*.whl")
    version = wheel.name.split("-")[1]
    with zipfile.ZipFile(wheel) as archive:
        assert data_files_in_the_tree() <= set(archive.namelist())

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    site_packages = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp_path).stdout.strip()
    # The dependencies (torch & co.) come from this environment's site-packages. A directory named in a .pth
    # file joins sys.path without its own .pth files being read, so the editable install here stays unseen.
    Path(site_packages, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    assert run([python, "-c", "import typer, yaml"], cwd=tmp_path).returncode == 0
    before = run([python, "-c", "import skugraph"], cwd=tmp_path, check=False)
    assert before.returncode != 0 and "No module named 'skugraph'" in before.stderr

    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel], cwd=tmp_path)
    installed = run([python, "-c", "import skugraph; print(skugraph.__file__)"], cwd=tmp_path).stdout.strip()
    assert Path(installed).is_relative_to(venv)
    assert run([bin_dir / "skugraph", "--version"], cwd=tmp_path).stdout.strip() == version

    demo = run([bin_dir / "skugraph", "demo", "--extractor", "rules", "--workdir", tmp_path / "demo"], cwd=tmp_path)
    reported = re.search(r"products\s+(\d+) from (\d+) listings", demo.stdout)
    assert reported, demo.stdout
    query = run([bin_dir / "skugraph", "query", "MATCH (p:Product) RETURN count(p) AS products", "--db",
                 tmp_path / "demo" / "graph.lbug", "--json"], cwd=tmp_path)
    (row,) = json.loads(query.stdout)
    assert row["products"] == int(reported[1]) > 0
