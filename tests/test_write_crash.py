"""Crash safety of the write API: ``skugraph serve --writable`` killed with SIGKILL while batches
of listings are being posted loses no acknowledged write and applies no half of one; restarted,
its feed lists every write the graph holds exactly once, and a retry under the same
Idempotency-Key completes a write exactly once (``skugraph digest`` unchanged by a replay)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from skugraph.serve.app import create_app
from skugraph.serve.keys import KeyStore, default_keys_file

BRANDS = ["得力", "齐心", "晨光", "真彩", "广博"]
COLOURS = ["蓝色", "红色", "黑色", "白色", "绿色", "紫色", "灰色"]
#: listings a batch holds
SIZE = 5
#: (acknowledged writes to wait for, share of a write's time to wait after the last of them) per kill
KILLS = [(2, 0.0), (3, 0.35), (2, 0.7)]


def _batch(name: str) -> list[dict]:
    """Five listings, ids ``name-0`` … ``name-4``: stationery new to the graph, and a phone that joins a stored product."""
    number = sum(map(ord, name))
    records = [{"id": f"{name}-{i}", "title": f"{BRANDS[(number + i) % 5]} 订书机 {number % 50 + i}号 {COLOURS[(number + i) % 7]}",
                "price": 10.0 + i, "currency": "CNY", "updated_at": "2026-12-03T08:00:00Z"} for i in range(SIZE - 1)]
    return [*records, {"id": f"{name}-{SIZE - 1}", "title": f"华为 Mate 60 5G手机 {COLOURS[number % 7]} 12+256G",
                       "price": 6899.0, "currency": "CNY", "updated_at": "2026-12-03T08:00:00Z"}]


def _body(name: str) -> bytes:
    """A batch as the bytes a client sends (the same bytes again: the same request, for its Idempotency-Key)."""
    return json.dumps(_batch(name), ensure_ascii=False).encode()


def _copy_graph(demo_graph: Path, directory: Path) -> Path:
    for path in demo_graph.parent.glob(demo_graph.name + "*"):
        (shutil.copytree if path.is_dir() else shutil.copy)(path, directory / path.name)
    return directory / demo_graph.name


def _digest(db: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "skugraph", "digest", "--db", str(db)], capture_output=True, text=True)
    assert done.returncode == 0, (done.returncode, done.stderr)  # a duplicate edge fails it too
    return done.stdout.strip()


class Server:
    """``skugraph serve --writable`` on a free port of this machine, as its own process."""

    def __init__(self, db: Path, key: str):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url, self.headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        self.log = db.with_name(f"serve-{port}.log")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "skugraph", "serve", "--writable", "--db", str(db),
                                             "--port", str(port), "--rate-limit", "0"], stdout=log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, headers=self.headers, timeout=60)
        began = time.monotonic()
        while True:  # until it answers
            ended = self.process.poll()  # -11: LadybugDB could not open the graph the kill left
            assert ended is None, f"the server ended ({ended}): {self.log.read_text(encoding='utf-8')}"
            assert time.monotonic() - began < 120, "the server did not answer in 120 s"
            try:
                if self.client.get("/stats").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

    def post(self, name: str, client: httpx.Client | None = None) -> httpx.Response:
        return (client or self.client).post("/listings", content=_body(name),
                                            headers={"content-type": "application/json", "Idempotency-Key": name})

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.client.close()

    def feed(self) -> list[dict]:
        """Every write in ``/changes``, a page at a time."""
        changes, since = [], 0
        while True:
            page = self.client.get("/changes", params={"since": since, "limit": 7}).raise_for_status().json()
            changes += page["changes"]
            since = page["next"]
            if not page["more"]:
                return changes

    def held(self, names: list[str]) -> dict[str, int]:
        """How many of each batch's listings the graph holds, each offering a product (read-only ``/query``)."""
        ids = [record["id"] for name in names for record in _batch(name)]
        rows = self.client.post("/query", json={"cypher": "MATCH (l:Listing)-[:OFFER_OF]->(:Product) WHERE l.id IN $ids "
                                                          "RETURN l.id", "parameters": {"ids": ids}}).raise_for_status().json()
        found = Counter(row[0].rsplit("-", 1)[0] for row in rows["rows"])
        return {name: found[name] for name in names}


@contextmanager
def _serving(db: Path, key: str) -> Iterator[Server]:
    server = Server(db, key)
    try:
        yield server
    finally:
        server.kill()


def _post_until_killed(server: Server, names: list[str], acknowledged: int, share: float) -> dict[str, httpx.Response | None]:
    """Post the batches from two threads; SIGKILL the server once ``acknowledged`` were answered
    200 and ``share`` of a write's mean time more has passed. Each batch sent: its answer, or
    None when the kill cut it off."""
    answers: dict[str, httpx.Response | None] = {}
    took: list[float] = []
    enough = threading.Event()

    def post(mine: list[str]) -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            for name in mine:
                answers[name] = None
                began = time.perf_counter()
                try:
                    answers[name] = server.post(name, client)
                except httpx.TransportError:
                    return
                took.append(time.perf_counter() - began)
                if sum(answer is not None and answer.status_code == 200 for answer in answers.values()) >= acknowledged:
                    enough.set()

    threads = [threading.Thread(target=post, args=(names[i::2],)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), f"{acknowledged} writes were not acknowledged: {answers}"
    time.sleep(share * sum(took) / len(took))
    server.kill()
    for thread in threads:
        thread.join(60)
    return answers


def test_a_server_killed_while_writing_loses_no_acknowledged_write_and_applies_no_half_of_one(demo_graph, tmp_path):
    db = _copy_graph(demo_graph, tmp_path)
    key = KeyStore(default_keys_file(db)).create("crash test", "write")[1]
    sent: dict[str, httpx.Response | None] = {}
    cut_off = 0
    for round_, (acknowledged, share) in enumerate(KILLS):
        with _serving(db, key) as server:
            answers = _post_until_killed(server, [f"crash{round_}-{n}" for n in range(12)], acknowledged, share)
        assert all(answer is None or answer.status_code == 200 for answer in answers.values()), answers
        cut_off += any(answer is None for answer in answers.values())
        sent |= answers
    assert cut_off >= 2, "the kills should land while writes are in flight"
    acked = {name: answer.json() for name, answer in sent.items() if answer is not None}
    names = sorted(sent)
    killed = _digest(db)

    with _serving(db, key) as server:
        held = server.held(names)
        assert all(held[name] in (0, SIZE) for name in names), f"a batch applied in part: {held}"
        assert all(held[name] == SIZE for name in acked), "an acknowledged write is missing"
        feed = server.feed()
        listed = Counter(change["listings"][0]["id"].rsplit("-", 1)[0] for change in feed)
        assert listed == Counter(name for name in names if held[name]), "the feed lists each write the graph holds once"
        for change in feed:
            name = change["listings"][0]["id"].rsplit("-", 1)[0]
            assert [row["id"] for row in change["listings"]] == [record["id"] for record in _batch(name)]
            if name in acked:
                assert change["seq"] == acked[name]["seq"]
        for name, answer in acked.items():  # a retry of an acknowledged write is its first answer, and writes nothing
            again = server.post(name)
            assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true" and again.json() == answer
    assert _digest(db) == killed

    with _serving(db, key) as server:  # a retry completes the others
        retried = {name: server.post(name) for name in names}
        assert {name: answer.status_code for name, answer in retried.items()} == dict.fromkeys(names, 200)
        replayed = {name for name, answer in retried.items() if answer.headers.get("Idempotent-Replayed") == "true"}
        assert replayed == {name for name in names if held[name]}
        assert server.held(names) == dict.fromkeys(names, SIZE)
        assert Counter(change["listings"][0]["id"].rsplit("-", 1)[0] for change in server.feed()) == Counter(names)
    completed = _digest(db)
    assert completed != killed or all(held.values())

    with _serving(db, key) as server:  # and again: every one a replay
        again = {name: server.post(name) for name in names}
        assert all(answer.headers.get("Idempotent-Replayed") == "true" and answer.json() == retried[name].json()
                   for name, answer in again.items())
    assert _digest(db) == completed


#: a process that posts one batch to the app on a graph and kills itself with SIGKILL at ``point``:
#: "in-transaction" (its listings loaded, its transaction not committed), "committed" (committed, not recorded done)
_KILLED_AT = """
import os, signal, sys
from pathlib import Path
from fastapi.testclient import TestClient
from skugraph.serve import writes
from skugraph.serve.app import create_app

db, point, body = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
die = lambda *_, **__: os.kill(os.getpid(), signal.SIGKILL)
if point == "in-transaction":
    upsert = writes.upsert_listings
    writes.upsert_listings = lambda *args, **kwargs: (upsert(*args, **kwargs), die())
else:
    writes.WriteLog.finish = die
TestClient(create_app(db, writable=True)).post("/listings", content=body.encode(), headers={"Idempotency-Key": point})
"""


def test_a_write_killed_before_or_after_its_commit_is_in_the_graph_and_the_feed_both_or_neither(demo_graph, tmp_path):
    db = _copy_graph(demo_graph, tmp_path)
    for point in ("in-transaction", "committed"):
        killed = subprocess.run([sys.executable, "-c", _KILLED_AT, str(db), point, _body(point).decode()], capture_output=True,
                                text=True)
        assert killed.returncode == -signal.SIGKILL, killed.stderr

    app = create_app(db, writable=True)  # its start settles the write left pending
    client, services = TestClient(app), app.state.services

    def digest() -> str:
        with services.lock:
            return services.store.digest()

    def post(name: str):
        return client.post("/listings", content=_body(name), headers={"content-type": "application/json", "Idempotency-Key": name})

    def held(name: str) -> int:
        return client.post("/query", json={"cypher": "MATCH (l:Listing) WHERE l.id STARTS WITH $name RETURN count(l)",
                                           "parameters": {"name": name + "-"}}).json()["rows"][0][0]

    feed = client.get("/changes").json()["changes"]
    assert [change["listings"][0]["id"] for change in feed] == ["committed-0"]  # listed with no retry
    assert (held("in-transaction"), held("committed")) == (0, SIZE)
    before = digest()
    replay = post("committed")
    assert replay.headers.get("Idempotent-Replayed") == "true"  # the answer it was never given
    assert replay.json() == {name: value for name, value in feed[0].items() if name not in ("op", "at")}
    assert digest() == before
    rerun = post("in-transaction")
    assert rerun.status_code == 200 and "Idempotent-Replayed" not in rerun.headers and rerun.json()["seq"] > feed[0]["seq"]
    assert held("in-transaction") == SIZE
    after = digest()
    assert post("in-transaction").json() == rerun.json()
    assert digest() == after
    assert [change["seq"] for change in client.get("/changes").json()["changes"]] == [feed[0]["seq"], rerun.json()["seq"]]
