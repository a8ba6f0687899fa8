"""The users ``skugraph bench serve`` runs in locust (from its own virtual environment, so this
file imports locust and the standard library only). Set by the environment:

- ``SKUGRAPH_WORKLOAD``: a JSON file with ``queries``, ``products``, ``listings`` (records to post
  again as updates) and the ``read_key`` and ``write_key``;
- ``SKUGRAPH_WRITERS``: how many of the users are writers (a fixed count, beside readers);
- ``SKUGRAPH_WRITE_PACE``: batches a second per writer (0: as fast as answers come);
- ``SKUGRAPH_NEW_LISTINGS``: ``1`` to post new listings (new ids) instead of updates;
- ``SKUGRAPH_ACKS``: a file each acknowledged write is appended to (key, seq, ids, body);
- ``SKUGRAPH_FIGURES``: a JSON file that gets, at the end, requests, errors, requests/s and
  p50/p99 (ms) per request name, overall and for all reads together, and the failures.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment
from locust.stats import StatsEntry

WORKLOAD = json.loads(open(os.environ["SKUGRAPH_WORKLOAD"], encoding="utf-8").read())
BATCH = 10
PACE = float(os.environ.get("SKUGRAPH_WRITE_PACE", "0"))
NEW = os.environ.get("SKUGRAPH_NEW_LISTINGS") == "1"
ACKS = os.environ.get("SKUGRAPH_ACKS")
FIGURES = os.environ.get("SKUGRAPH_FIGURES", os.devnull)


def _figures(entry: StatsEntry) -> dict:
    return {"requests": entry.num_requests, "errors": entry.num_failures, "requests_per_s": round(entry.total_rps, 1),
            "p50_ms": entry.get_response_time_percentile(0.5), "p99_ms": entry.get_response_time_percentile(0.99)}


def _write_figures(environment: Environment, **_: object) -> None:
    """At the end, locust's final figures per request name, overall, and for all reads together
    (its CSV is written on a timer and may miss the last seconds)."""
    reads = StatsEntry(environment.stats, "reads", "GET")
    for (_name, method), entry in environment.stats.entries.items():
        if method == "GET":
            reads.extend(entry)
    figures = {"requests": {name: _figures(entry) for (name, _), entry in sorted(environment.stats.entries.items())}
               | {"Aggregated": _figures(environment.stats.total)},
               "failures": [{"name": error.name, "error": str(error.error)[:300], "count": error.occurrences}
                            for error in environment.stats.errors.values()][:10]}
    if reads.num_requests:
        figures["reads"] = _figures(reads)
    with open(FIGURES, "w", encoding="utf-8") as out:
        json.dump(figures, out)


if not getattr(events, "skugraph_figures", False):  # locust may import this file twice: write the figures once
    events.skugraph_figures = True
    events.quitting.add_listener(_write_figures)


class ReadUser(FastHttpUser):
    """Search with a query from the products' titles, a product page, recommendations."""

    wait_time = constant(0)
    headers = {"Authorization": f"Bearer {WORKLOAD['read_key']}"}

    @task(2)
    def search(self) -> None:
        self.client.get("/search", params={"q": random.choice(WORKLOAD["queries"]), "limit": 10}, headers=self.headers,
                        name="GET /search")

    @task
    def product(self) -> None:
        self.client.get(f"/products/{random.choice(WORKLOAD['products'])}", headers=self.headers, name="GET /products/{id}")

    @task
    def recommend(self) -> None:
        self.client.get(f"/recommend/{random.choice(WORKLOAD['products'])}", headers=self.headers,
                        name="GET /recommend/{id}")


class WriteUser(FastHttpUser):
    """Batches of ten listings posted with an Idempotency-Key: stored listings with a new price
    (updates), or new listings."""

    fixed_count = int(os.environ.get("SKUGRAPH_WRITERS", "0"))
    wait_time = constant_throughput(PACE) if PACE else constant(0)
    headers = {"Authorization": f"Bearer {WORKLOAD['write_key']}", "content-type": "application/json"}

    @task
    def post(self) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        batch = []
        for record in random.sample(WORKLOAD["listings"], BATCH):
            listing = dict(record, price=round(float(record.get("price") or 100) * random.uniform(0.8, 1.2), 2), updated_at=now)
            if NEW:
                listing["id"] = f"load-{uuid.uuid4().hex}"
            batch.append(listing)
        key, body = uuid.uuid4().hex, json.dumps(batch, ensure_ascii=False)
        with self.client.post("/listings", data=body.encode("utf-8"), headers=self.headers | {"Idempotency-Key": key},
                              name="POST /listings", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.error or (response.text or '')[:200]}")
                return
            answer = response.json()
            if answer.get("accepted") != BATCH:
                response.failure(f"accepted {answer.get('accepted')} of {BATCH}: {answer.get('rejected')}")
                return
            if ACKS:
                with open(ACKS, "a", encoding="utf-8") as acks:
                    acks.write(json.dumps({"key": key, "seq": answer["seq"], "ids": [item["id"] for item in batch], "body": body},
                                          ensure_ascii=False) + "\n")
