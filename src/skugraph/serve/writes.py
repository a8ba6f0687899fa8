"""Writes over the API: listings posted (``POST /listings``) and delisted (``DELETE
/listings/{id}``) through one writer thread, with idempotency keys and a feed of the writes
(``GET /changes``).

- **Validation** is ``skugraph ingest``'s (:func:`skugraph.corpus.ingest.ingest`): a bad record
  is reported by its index in the batch and its field, the good ones go on, PII masked.
- **One writer**: LadybugDB runs one write transaction at a time, so every write goes through
  one queue to one thread, on a connection of its own; reads go on, on theirs, meanwhile. A
  request is answered once its write is committed and the search index rebuilt with it (by a
  thread of its own, in the order of the writes, while the writer goes on to the next).
- **Idempotency**: a request with an ``Idempotency-Key`` header is recorded with a digest of
  its method, path and body; the same key again gets the first answer and changes nothing;
  the same key on another request is refused (409).
- **Feed**: each committed write gets a sequence number; ``GET /changes?since=N`` lists the
  writes after N (what each did, and to which listings and products), a page at a time.

Keys and the feed are kept in SQLite beside the graph (``graph.lbug.writes.sqlite``), so a
restart keeps them. A write is recorded there as pending before its graph transaction and
done after it; the transaction itself holds an :data:`APPLIED` node with the write's number
and answer (the latest :data:`KEEP_APPLIED` are kept), so it and its record are one outcome. A server killed between the two leaves the
write pending, and its next start settles it by the graph: committed (its node is there),
it is recorded done, in the feed under its number and replayed to its key; else it is
forgotten, its key free for the retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from skugraph.corpus.ingest import ingest, load_listings
from skugraph.corpus.listing_formats import UnreadableFileError
from skugraph.extract import ListingReader
from skugraph.graph.store import GraphStore
from skugraph.serve.upsert import CachedReader, Placer, StoredOffers, UpsertReport, settle_evidence, upsert_listings
from skugraph.records import Listing

log = logging.getLogger("skugraph.serve")

#: listings one POST may hold
MAX_LISTINGS = 1_000
#: products whose listings a new listing is resolved against: the search index's best hits for its title
#: (on the bench's catalogue, 2, 3 and 5 joined 100 posted listings to the same products)
CANDIDATES = 3
#: listings that upserts queued together may hold to be written in one transaction (group commit: a write's
#: fixed costs, its statements and the search index's refresh, are paid once for all of them)
GROUP_LISTINGS = 200
#: the node table that holds, in the graph, each committed write's number, time and answer (not in the
#: graph's digest, which reads the schema's tables only)
APPLIED = "AppliedWrite"
#: how many of the latest :data:`APPLIED` nodes a write keeps (each write drops those older: only
#: a write whose record was left pending needs its node, and the newest numbers the next write)
KEEP_APPLIED = 1_000


def writes_file(db: Path) -> Path:
    """Where the idempotency keys and the feed of a graph's writes are kept: beside it."""
    return db.with_name(db.name + ".writes.sqlite")


class ReviewIn(BaseModel):
    """A review as a posted listing may carry it (ingest checks the rest: blank text, limits)."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    text: str | None = None
    rating: float | None = None


class ListingIn(BaseModel):
    """A posted listing as ``POST /listings`` documents it. Each record is checked against it
    strictly (no coercion: a number is no id, a text no price; :func:`check_record`), then by
    ingest; whatever else an element of the batch is, it is turned away and named in ``rejected``."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str | None = None
    category: str | list[str] | None = None
    price: float | None = None
    currency: str | None = None
    source: str | None = None
    updated_at: str | float | None = Field(default=None, description="An ISO 8601 time, or seconds since 1970")
    reviews: list[ReviewIn | str] | None = None
    stock: int | None = Field(default=None, ge=0, description="Units on hand in the warehouse")
    sales: int | None = Field(default=None, ge=0, description="Units sold from sales_from to sales_to (both days included)")
    sales_from: str | None = Field(default=None, description="The first day of the sales period (ISO 8601: 2026-11-01)")
    sales_to: str | None = Field(default=None, description="The last day of the sales period")
    warehouse: str | None = Field(default=None, description="Where the stock is held")


def listings_schema(most: int) -> dict[str, Any]:
    """The JSON schema of a posted batch of at most ``most`` elements: each a listing, or
    anything else, which is turned away by index (the good ones are written all the same).
    Definitions inlined: an OpenAPI request body cannot point into a JSON schema's own ``$defs``."""
    schema = TypeAdapter(ListingIn).json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            return inline(definitions[node["$ref"].rsplit("/", 1)[1]]) if "$ref" in node else {k: inline(v) for k, v in node.items()}
        return [inline(item) for item in node] if isinstance(node, list) else node

    other = {"description": "anything else: turned away, named in the answer's `rejected` by its index"}
    return {"type": "array", "minItems": 1, "maxItems": most, "items": {"anyOf": [inline(schema), other]}}


class BodyError(ValueError):
    """A request body that holds no listings to write (answered 422)."""


@dataclass
class Batch:
    """A posted batch after validation: the listings to write, the records turned away (index,
    field, reason), the unknown fields left out and how many personal values were masked."""

    listings: list[Listing]
    rejected: list[dict[str, Any]] = field(default_factory=list)
    masked: int = 0
    #: fields no listing has, left out of the records that carried them (index, field, reason)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: the posted records, each as canonical JSON (keys sorted, no spaces), one a line: what an
    #: idempotency key is checked against (the same records sent with other spacing, key order or as JSON lines are the same request)
    canonical: str = ""


def validate(body: bytes, ndjson: bool = False) -> Batch:
    """A JSON array of listings (or JSON lines, ``ndjson``) checked strictly (:func:`check_record`),
    then validated and PII-masked by ``skugraph ingest``; each bad record named by its index in
    the batch (0-based) and field, each unknown field by its record's index and name."""
    if not ndjson:
        try:
            records = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise BodyError(f"the body is not JSON: {error}") from None
        if not isinstance(records, list):
            raise BodyError(f"the body must be a JSON array of listings, not a JSON {type(records).__name__}")
        lines = [json.dumps(record, ensure_ascii=False) for record in records]
    else:
        lines = body.decode("utf-8", errors="replace").split("\n")  # a bad byte is the bad record's own fault
        lines = [line.removesuffix("\r") for line in lines if line.strip()]  # not splitlines: U+2028 may be inside a string
    if not lines:
        raise BodyError("no listings in the body")
    if len(lines) > MAX_LISTINGS:
        raise BodyError(f"{len(lines)} listings; at most {MAX_LISTINGS} a request")
    rejected: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    kept: list[tuple[int, str]] = []  # (index in the batch, the line ingest reads)
    for index, line in enumerate(lines):
        record = _parsed(line)
        if isinstance(record, dict):  # anything else is ingest's to name
            problems = check_record(record)
            if problems:
                rejected += [{"index": index, "field": name, "reason": reason} for name, reason in problems]
                continue
            unknown = sorted(set(record) - set(ListingIn.model_fields))
            warnings += [{"index": index, "field": name, "reason": "not a listing field: not stored"} for name in unknown]
            if unknown:
                line = json.dumps({k: v for k, v in record.items() if k not in unknown}, ensure_ascii=False)
        kept.append((index, line))
    with tempfile.TemporaryDirectory(prefix="skugraph-posted-") as directory:
        work = Path(directory)
        (work / "posted.jsonl").write_text("".join(line + "\n" for _, line in kept), encoding="utf-8")
        try:
            report = ingest([work / "posted.jsonl"], work / "listings.jsonl", work / "rejects.jsonl", format="jsonl")
        except UnreadableFileError as error:
            raise BodyError(str(error).replace(str(work / "posted.jsonl"), "the body")) from None
        for line in (work / "rejects.jsonl").read_text(encoding="utf-8").split("\n"):  # not splitlines: see above
            if not line:
                continue
            reject = json.loads(line)
            rejected.append({"index": kept[int(reject["where"].removeprefix("line ")) - 1][0], "field": reject["field"],
                             "reason": reject["reason"]})
        return Batch(list(load_listings(work / "listings.jsonl")), sorted(rejected, key=lambda r: r["index"]),
                     sum(report.redactions.values()), warnings, "\n".join(_canonical(line) for line in lines))


#: what a JSON value is called in a reason, by its Python type after ``json.loads``
_JSON_KINDS = {str: "text", int: "number", float: "number", bool: "boolean", list: "array", dict: "object", type(None): "null"}
#: what a field should be, by pydantic's error type
_WANTED = {"string_type": "text", "float_type": "a number", "int_type": "a whole number", "list_type": "an array", "model_type": "an object",
           "model_attributes_type": "an object", "dict_type": "an object"}


def check_record(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of a posted record that are not of :class:`ListingIn`'s types, checked strictly
    (pydantic, ``strict=True``: a number is no id, a text no price, nothing is coerced), each as
    (field, reason): ``missing``, ``empty``, or what it should be and what it is."""
    try:
        ListingIn.model_validate(record, strict=True)
    except ValidationError as error:
        found: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
        for problem in error.errors():
            name, value = _where(record, problem["loc"])
            if problem["type"] == "missing":  # the field the record lacks is the last step
                name = f"{name}.{problem['loc'][-1]}" if name else str(problem["loc"][-1])
            found.setdefault(name, (value, []))[1].append(problem)
        problems = []
        for name, (value, errors) in found.items():
            if errors[0]["type"] == "missing":
                reason = "missing"
            elif errors[0]["type"] == "string_too_short":
                reason = "empty"
            elif all(e["type"] in _WANTED for e in errors):
                wanted = " or ".join(dict.fromkeys(_WANTED[e["type"]] for e in errors))
                reason = f"expected {wanted}, got {_JSON_KINDS.get(type(value), type(value).__name__)} {_short(value)}"
            else:
                reason = "; ".join(e["msg"] for e in errors)
            problems.append((name, reason))
        return _deepest(problems)
    return []


def _where(record: Any, loc: tuple[int | str, ...]) -> tuple[str, Any]:
    """A pydantic error's place in the record as ingest names fields (``reviews[0].text``), and the
    value there; the names of a union's members in ``loc`` (``str``, ``ReviewIn``) are skipped."""
    name, value = "", record
    for step in loc:
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            name, value = f"{name}[{step}]", value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            name, value = f"{name}.{step}" if name else step, value[step]
    return name, value


def _deepest(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One problem a place: where a union's member names a place inside another's (``reviews[0]``
    as text, ``reviews[0].text`` as an object), the inner one, which says more."""
    return [(name, reason) for name, reason in problems
            if not any(other != name and other.startswith((name + ".", name + "[")) for other, _ in problems)]


def _short(value: Any) -> str:
    """A value as JSON, cut to 40 characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def _parsed(line: str) -> Any:
    """A line's JSON value, or None when it is not JSON (ingest names it)."""
    try:
        return json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None


def _canonical(line: str) -> str:
    """A record's JSON with its keys sorted and no spaces (a line that is no JSON as it is)."""
    try:
        return json.dumps(json.loads(line), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except (json.JSONDecodeError, RecursionError):
        return line


class WriteLog:
    """The writes' records in SQLite: sequence number, idempotency key and request digest,
    status (pending, done), and the answer given."""

    def __init__(self, path: Path):
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, "
                         "digest TEXT NOT NULL, op TEXT NOT NULL, at TEXT NOT NULL, status TEXT NOT NULL, "
                         "code INTEGER, answer TEXT)")

    def find(self, key: str) -> tuple[int, str, str, int | None, str | None] | None:
        """(seq, digest, status, code, answer) of the write recorded under ``key``."""
        with self._lock:
            return self._db.execute("SELECT seq, digest, status, code, answer FROM writes WHERE key = ?", (key,)).fetchone()

    def begin(self, key: str | None, digest: str, op: str) -> int:
        """Record a write as pending; its sequence number."""
        with self._lock:
            return int(self._db.execute("INSERT INTO writes (key, digest, op, at, status) VALUES (?, ?, ?, ?, 'pending')",
                                        (key, digest, op, _now())).lastrowid)

    def finish(self, seq: int, code: int, answer: dict[str, Any], at: str | None = None) -> None:
        """Record a write done (``at``: when it was committed; default now)."""
        with self._lock:
            self._db.execute("UPDATE writes SET status = 'done', at = ?, code = ?, answer = ? WHERE seq = ?",
                             (at or _now(), code, json.dumps(answer, ensure_ascii=False), seq))

    def continue_after(self, seq: int) -> None:
        """Number the next writes after ``seq`` (the graph's last applied write: a graph moved
        without this file, or with an older copy of it, must not be given a number twice)."""
        with self._lock:
            self._db.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'writes', 0 "
                             "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'writes')")
            self._db.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'writes'", (seq,))

    def pending(self) -> list[int]:
        """The sequence numbers of the writes recorded pending."""
        with self._lock:
            return [seq for seq, in self._db.execute("SELECT seq FROM writes WHERE status = 'pending' ORDER BY seq")]

    def drop(self, seq: int) -> None:
        """Forget a write that failed (its transaction was rolled back): its key may be used again."""
        with self._lock:
            self._db.execute("DELETE FROM writes WHERE seq = ?", (seq,))

    def feed(self, since: int, limit: int) -> list[dict[str, Any]]:
        """The writes done after sequence number ``since`` that changed something (answered with
        their number), oldest first, at most ``limit``."""
        with self._lock:
            rows = self._db.execute("SELECT seq, op, at, answer FROM writes WHERE status = 'done' AND seq > ? "
                                    "AND json_extract(answer, '$.seq') IS NOT NULL ORDER BY seq LIMIT ?", (since, limit)).fetchall()
        return [{"seq": seq, "op": op, "at": at, **{k: v for k, v in json.loads(answer).items() if k != "seq"}}
                for seq, op, at, answer in rows]

    def close(self) -> None:
        self._db.close()


def _joins(job: _Job | None, group: list[_Job]) -> bool:
    """Whether a queued job can be written in the same transaction as ``group`` (upserts): an
    upsert of other listings, under another idempotency key, within :data:`GROUP_LISTINGS` in all."""
    if job is None or job.batch is None:
        return False
    held = set().union(*(member.ids for member in group))
    return (not job.ids & held and (job.key is None or job.key not in {member.key for member in group})
            and len(held) + len(job.ids) <= GROUP_LISTINGS)


def _upsert_answer(batch: Batch, found: UpsertReport) -> dict[str, Any]:
    """What a posted batch is answered, from what its write did."""
    load = found.load
    return {"accepted": len(batch.listings), "rejected": batch.rejected, "warnings": batch.warnings, "masked": batch.masked,
            "listings": [{"id": listing.id, "product": found.products[listing.id], "joined": listing.id in found.joined,
                          "evidence": found.evidence[listing.id]} for listing in batch.listings],
            "products": sorted(set(found.products.values())), "retracted": load.retracted, "changed": load.changed,
            "new_versions": len(load.versions), "unchanged": found.unchanged}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def request_digest(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).hexdigest()


@dataclass
class Answer:
    """What a write request is answered: status code, JSON body, and whether it is a replay."""

    code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class _Job:
    op: str  # "upsert" or "delist"
    key: str | None
    digest: str
    #: a delist: → status, answer, the products it touched
    run: Callable[[GraphStore], tuple[int, dict[str, Any], set[str]]] | None = None
    #: an answer that refuses the write before it takes a sequence number (a 404), or None
    refuse: Callable[[GraphStore], Answer | None] | None = None
    batch: Batch | None = None  # an upsert: written with the upserts queued beside it, in one transaction
    done: Future = field(default_factory=Future)

    @property
    def ids(self) -> set[str]:
        return {listing.id for listing in self.batch.listings} if self.batch else set()


class Writer:
    """The one thread that writes: jobs in a queue, each one transaction on the writer's own
    connection (``store``) that also writes its :data:`APPLIED` node, answered once committed,
    recorded done and ``refresh(store, products)`` has run (the read side's search index brought
    up to date for the products the write touched): on a thread and a connection of its own,
    one write after another, while the writer writes the next (the refresh's Python runs while
    the next write's statements hold no interpreter lock). With ``placer`` (the default), a write's
    reading, resolution and fusion run in a process of its own (:class:`~skugraph.serve.upsert.Placer`),
    which reads each posted batch as soon as it is queued. At start, the writes a killed server left
    pending are settled by the graph."""

    def __init__(self, store: GraphStore, reader: ListingReader, log: WriteLog, refresh: Callable[[GraphStore, set[str]], None],
                 candidates: Callable[[list[Listing]], dict[str, set[str]]], placer: bool = True):
        self.store, self.log, self.refresh, self.candidates = store, log, refresh, candidates
        self.reader = CachedReader(reader)
        self.offers = StoredOffers()  # the writer is the graph's only one: what it read stays true until it writes
        self.placer = Placer(reader) if placer else None
        self._refreshing = ThreadPoolExecutor(1, thread_name_prefix="skugraph-refresh")
        self._refresh_store = store.connection()  # sees what the writer committed, never its open transaction
        self._last_refresh: Future | None = None
        store.query(f"CREATE NODE TABLE IF NOT EXISTS {APPLIED}(seq INT64, at STRING, answer STRING, PRIMARY KEY(seq))")
        self.settle(log.pending())
        log.continue_after(store.query(f"MATCH (w:{APPLIED}) RETURN coalesce(max(w.seq), 0)").rows[0][0])
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="skugraph-writer", daemon=True)
        self._thread.start()

    def upsert(self, batch: Batch, key: str | None, digest: str) -> Answer:
        """Write a validated batch; blocks until it is committed (with the upserts queued beside it:
        :meth:`_upserts`)."""
        return self.queue_upsert(batch, key, digest).result()

    def queue_upsert(self, batch: Batch, key: str | None, digest: str) -> Future:
        """:meth:`upsert` without waiting: the future of its :class:`Answer` (an async request
        awaits it without holding one of the threads that serve the reads)."""
        if self.placer is not None:
            self.placer.read_ahead(batch.listings)
        return self._submit(_Job("upsert", key, digest, batch=batch))

    def delist(self, listing: str, key: str | None, digest: str) -> Answer:
        """Retract a listing's facts (kept as history); blocks until committed. 404 for an unknown listing."""
        return self.queue_delist(listing, key, digest).result()

    def queue_delist(self, listing: str, key: str | None, digest: str) -> Future:
        """:meth:`delist` without waiting: the future of its :class:`Answer`."""

        def unknown(store: GraphStore) -> Answer | None:
            if store.query("MATCH (l:Listing {id: $id}) RETURN l.id", {"id": listing}).rows:
                return None
            return Answer(404, {"error": f"no listing {listing!r}"})

        def run(store: GraphStore) -> tuple[int, dict[str, Any], set[str]]:
            rows = store.query("MATCH (:Listing {id: $id})-[:OFFER_OF]->(p:Product) RETURN p.id", {"id": listing}).rows
            product = rows[0][0] if rows else None
            retracted = store.delist([listing])
            if retracted:  # the evidence of its product's listings, and of those kept apart from it, names it no more
                apart = store.query("MATCH (:Listing)-[o:OFFER_OF]->(p:Product) WHERE o.evidence CONTAINS $named RETURN DISTINCT p.id",
                                    {"named": f"; kept apart from {listing} (titles "}).rows
                settle_evidence(store, self.reader, {product} - {None} | {row[0] for row in apart})
            return 200, {"listings": [{"id": listing, "product": product}], "products": [product] if product else [],
                         "retracted": retracted, "unchanged": not retracted}, {product or listing}

        return self._submit(_Job("delist", key, digest, run, unknown))

    def _submit(self, job: _Job) -> Future:
        self._jobs.put(job)
        return job.done

    def _work(self) -> None:
        ahead: list[_Job | None] = []  # taken from the queue, not yet written
        while (job := ahead.pop(0) if ahead else self._jobs.get()) is not None:
            group = [job]
            if job.batch is not None:  # the upserts queued after it, up to the first that cannot join them
                while True:
                    try:
                        ahead.append(self._jobs.get_nowait())
                    except queue.Empty:
                        break
                while ahead and _joins(ahead[0], group):
                    group.append(ahead.pop(0))  # type: ignore[arg-type]
            try:
                if job.batch is not None:
                    self._upserts(group)
                else:
                    self._apply(job)
            except BaseException as error:  # answered 500 by the app; the writer goes on
                for unanswered in group:
                    if not unanswered.done.done():
                        unanswered.done.set_exception(error)

    def settle(self, pending: list[int]) -> None:
        """Record done each of the ``pending`` writes whose transaction committed (its :data:`APPLIED`
        node is in the graph), with the answer it holds; forget the others (rolled back, or never begun)."""
        if not pending:
            return
        applied = {seq: (at, answer) for seq, at, answer in self.store.query(
            f"MATCH (w:{APPLIED}) WHERE w.seq IN $seqs RETURN w.seq, w.at, w.answer", {"seqs": pending}).rows}
        for seq in pending:
            if seq in applied:
                at, answer = applied[seq]
                self.log.finish(seq, 200, json.loads(answer), at)
            else:
                self.log.drop(seq)

    def _upserts(self, jobs: list[_Job]) -> None:
        """Answer upserts queued together: replays as recorded, the others written in one
        transaction, each with its own number, :data:`APPLIED` node and answer (what its own
        listings did); when that fails, each again alone, so one bad write fails by itself."""
        live = []
        for job in jobs:
            if (answer := self._replay(job)) is not None:
                job.done.set_result(answer)
            else:
                live.append(job)
        if len(live) > 1:
            try:
                self._write_upserts(live)
            except Exception:
                for job in live:
                    try:
                        self._write_upserts([job])
                    except Exception as error:
                        job.done.set_exception(error)
        elif live:
            self._write_upserts(live)

    def _write_upserts(self, jobs: list[_Job]) -> None:
        """One transaction: the batches of ``jobs`` upserted together (:func:`upsert_listings`),
        and each job's :data:`APPLIED` node holding its answer; each job answered after the
        refresh (:meth:`_answer_refreshed`)."""
        seqs = [self.log.begin(job.key, job.digest, job.op) for job in jobs]
        listings = [listing for job in jobs for listing in job.batch.listings]  # type: ignore[union-attr]
        answers: list[tuple[dict[str, Any], set[str]]] = []
        try:
            with self.store.transaction():  # the writes and their APPLIED nodes: all or none
                found = upsert_listings(self.store, listings, self.reader, self._candidates, placer=self.placer,
                                        offers=self.offers)
                at = _now()
                for job, seq in zip(jobs, seqs, strict=True):
                    own = found.part(job.ids) if len(jobs) > 1 else found
                    body = _upsert_answer(job.batch, own)  # type: ignore[arg-type]
                    body = {"seq": None if body["unchanged"] else seq, **body}  # unchanged: its number kept for its key, out of the feed
                    self.store.query(f"CREATE (:{APPLIED} {{seq: $seq, at: $at, answer: $answer}})",
                                     {"seq": seq, "at": at, "answer": json.dumps(body, ensure_ascii=False)})
                    answers.append((body, set() if body["unchanged"] else own.touched))
                self.store.query(f"MATCH (w:{APPLIED}) WHERE w.seq <= $old DELETE w", {"old": max(seqs) - KEEP_APPLIED})
        except BaseException:
            for seq in seqs:
                self.log.drop(seq)
            raise
        self.offers.forget(found.touched)  # committed
        for seq, (body, _) in zip(seqs, answers, strict=True):
            self.log.finish(seq, 200, body, at)
        self._answer_refreshed(set().union(*(products for _, products in answers)),
                               [(job.done, Answer(200, body)) for job, (body, _) in zip(jobs, answers, strict=True)])

    def _candidates(self, listings: list[Listing]) -> dict[str, set[str]]:
        """``candidates`` once search has every committed write: a listing joins a product an
        earlier write made though that write's refresh was still running."""
        if self._last_refresh is not None:
            self._last_refresh.result()
        return self.candidates(listings)

    def _answer_refreshed(self, touched: set[str], answers: list[tuple[Future, Answer]]) -> None:
        """Answer a committed write once search sees it: ``refresh`` for the ``touched`` products
        (none: nothing to refresh) on the refresh thread, after the writes before it."""

        def refresh_then_answer() -> None:
            failed: BaseException | None = None
            try:
                if touched:
                    self.refresh(self._refresh_store, touched)
            except Exception as error:  # committed, but not yet searchable: a 500; the key replays the answer
                log.exception("refreshing search after a committed write failed")
                failed = error
            for done, answer in answers:
                if not done.done():  # a request given up on has no one to answer
                    try:
                        done.set_exception(failed) if failed else done.set_result(answer)
                    except InvalidStateError:  # given up on meanwhile
                        pass

        self._last_refresh = self._refreshing.submit(refresh_then_answer)

    def _replay(self, job: _Job) -> Answer | None:
        """The answer recorded under the job's idempotency key (409 when the key was used for
        another request), or None: the job is to be written."""
        if job.key is None:
            return None
        found = self.log.find(job.key)
        if found is not None and found[2] == "pending":  # its record failed after its transaction (start settles the rest)
            self.settle([found[0]])
            found = self.log.find(job.key)
        if found is None:
            return None
        _, digest, _, code, answer = found
        if digest != job.digest:
            return Answer(409, {"error": f"Idempotency-Key {job.key!r} was used for another request "
                                         "(another method, path or body); use a new key"})
        return Answer(code or 200, json.loads(answer or "{}"), replayed=True)

    def _apply(self, job: _Job) -> None:
        """Write and answer a job that is not an upsert (a delist), in a transaction of its own."""
        if (replayed := self._replay(job)) is not None:
            job.done.set_result(replayed)
            return
        if job.refuse is not None and (refused := job.refuse(self.store)) is not None:
            job.done.set_result(refused)
            return
        assert job.run is not None
        seq = self.log.begin(job.key, job.digest, job.op)
        try:
            with self.store.transaction():  # the write and its APPLIED node: both or neither
                code, body, touched = job.run(self.store)
                if code == 200:  # a write that changed nothing keeps its number for its key, out of the feed
                    body, at = {"seq": None if body["unchanged"] else seq, **body}, _now()
                    self.store.query(f"CREATE (:{APPLIED} {{seq: $seq, at: $at, answer: $answer}})",
                                     {"seq": seq, "at": at, "answer": json.dumps(body, ensure_ascii=False)})
                    self.store.query(f"MATCH (w:{APPLIED}) WHERE w.seq <= $old DELETE w", {"old": seq - KEEP_APPLIED})
        except BaseException:
            self.log.drop(seq)
            raise
        self.offers.forget(touched)  # committed
        if code != 200:  # nothing written: nothing to replay or to list
            self.log.drop(seq)
            job.done.set_result(Answer(code, body))
            return
        self.log.finish(seq, code, body, at)
        self._answer_refreshed(set() if body["unchanged"] else touched, [(job.done, Answer(code, body))])

    def close(self) -> None:
        """Finish the jobs queued and their refreshes, then stop the threads."""
        self._jobs.put(None)
        self._thread.join()
        self._refreshing.shutdown()
        self._refresh_store.close()
        if self.placer is not None:
            self.placer.close()
        self.store.close()
        self.log.close()
