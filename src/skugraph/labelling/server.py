"""A Label Studio server on localhost: started as a subprocess from its own virtual environment
(``make label-studio-venv`` builds ``.venv-labelstudio/``), SQLite in a fresh data directory, one
known user whose legacy API token is set at start (``label-studio start --username --password
--user-token --enable-legacy-api-token``). The tests run one for the whole session."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Where ``make label-studio-venv`` installs Label Studio, relative to the repository root.
LABEL_STUDIO_VENV = Path(".venv-labelstudio")


@dataclass
class LabelStudioServer:
    """A running server: its ``url`` and the ``api_key`` of its user (``username``/``password``)."""

    url: str
    api_key: str
    username: str
    password: str
    data_dir: Path
    process: subprocess.Popen

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def executable(venv: str | Path = LABEL_STUDIO_VENV) -> Path:
    """The ``label-studio`` command of ``venv``; FileNotFoundError naming how to build it when absent."""
    path = Path(venv) / "bin" / "label-studio"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: `make label-studio-venv` installs Label Studio there")
    return path


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(
    command: str | Path,
    data_dir: str | Path,
    *,
    port: int | None = None,
    username: str = "skugraph@example.com",
    password: str | None = None,
    api_key: str | None = None,
    timeout: float = 300.0,
) -> LabelStudioServer:
    """Start ``command`` (a ``label-studio`` executable) on ``127.0.0.1:port`` (a free one by default)
    with its data, SQLite database and ``server.log`` in ``data_dir``, and wait until it answers
    ``/health``. RuntimeError with the log's last lines when it exits or ``timeout`` passes first."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    password = password or secrets.token_urlsafe(12)
    api_key = api_key or secrets.token_hex(20)
    env = os.environ | {
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LATEST_VERSION_CHECK": "false",  # no call to PyPI at start
        "COLLECT_ANALYTICS": "false",
        # an ML backend on this machine (skugraph label serve on 127.0.0.1): Label Studio blocks local addresses by default
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",  # the webhook Label Studio adds to the ML backend's /webhook is checked the same way
    }
    arguments = [str(command), "start", "--no-browser", "--data-dir", str(data_dir), "--internal-host", "127.0.0.1",
                 "--port", str(port), f"--username={username}", f"--password={password}", f"--user-token={api_key}",
                 "--enable-legacy-api-token"]  # name=value: a value starting with "-" is not read as an option
    with (data_dir / "server.log").open("ab") as log:
        process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    server = LabelStudioServer(f"http://127.0.0.1:{port}", api_key, username, password, data_dir, process)
    try:
        _wait_until_healthy(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running(command: str | Path, data_dir: str | Path, **options) -> Iterator[LabelStudioServer]:
    """:func:`start` a server for the ``with`` block, stopped at its end."""
    server = start(command, data_dir, **options)
    try:
        yield server
    finally:
        server.stop()


def _wait_until_healthy(server: LabelStudioServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"Label Studio exited with code {server.process.returncode}:\n{_tail(server.log)}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1.0)
    raise RuntimeError(f"Label Studio did not answer {server.url}/health within {timeout:.0f} s:\n{_tail(server.log)}")


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
