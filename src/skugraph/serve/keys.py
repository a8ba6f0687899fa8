"""API keys and roles for ``skugraph serve``: a key store in a JSON file, and the checks the API
runs on each request (who is calling, with which role, at what rate).

A key is ``skg_`` and 32 random bytes (``secrets.token_urlsafe``), shown once when created. The
file holds its SHA-256 digest, never the key: a 256-bit random token cannot be guessed from its
digest, so a slow password hash (scrypt, bcrypt) would add nothing. Digests are compared with
``hmac.compare_digest``. Roles: ``read`` calls the reading endpoints, ``write`` calls every one.
The server re-reads the file when it changes, so a revoked key is refused at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

ROLES = ("read", "write")
PREFIX = "skg_"


def default_keys_file(db: Path) -> Path:
    """Where the keys of the graph at ``db`` live unless ``--keys`` says otherwise: beside it."""
    return db.with_name(db.name + ".keys.json")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """One key as the file holds it: never the key itself."""

    id: str
    name: str
    role: str
    sha256: str
    created: str
    revoked: str | None = None

    def allows(self, role: str) -> bool:
        """Whether this key may call an endpoint that needs ``role`` (write includes read)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def public(self) -> dict[str, str | None]:
        """What ``skugraph keys list`` shows."""
        return {"id": self.id, "name": self.name, "role": self.role, "created": self.created, "revoked": self.revoked}


class KeyStore:
    """The keys in one JSON file (``{"keys": [...]}``, written atomically, mode 0600)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._records: list[KeyRecord] = []

    def records(self) -> list[KeyRecord]:
        """Every key, revoked ones included; re-read when the file changed (none when it is absent)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._seen, self._records = None, []
                return []
            if (stat.st_mtime_ns, stat.st_size) != self._seen:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._records = [KeyRecord(**record) for record in data.get("keys", [])]
                self._seen = (stat.st_mtime_ns, stat.st_size)
            return list(self._records)

    def create(self, name: str, role: str) -> tuple[KeyRecord, str]:
        """A new key for ``name`` with ``role``: its record and the key (shown once, never stored)."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: one of {', '.join(ROLES)}")
        if not name.strip():
            raise ValueError("a key needs a name")
        records = self.records()
        taken = {record.id for record in records}
        key_id = next(candidate for candidate in (f"key-{secrets.token_hex(4)}" for _ in range(100)) if candidate not in taken)
        key = PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(key_id, name.strip(), role, digest(key), _now())
        self._write([*records, record])
        return record, key

    def revoke(self, key_id: str) -> KeyRecord:
        """Mark the key ``key_id`` revoked (kept in the file, so the list shows when)."""
        records = self.records()
        found = next((record for record in records if record.id == key_id), None)
        if found is None:
            raise KeyError(f"no key {key_id!r} in {self.path}")
        if found.revoked:
            return found
        revoked = KeyRecord(**{**asdict(found), "revoked": _now()})
        self._write([revoked if record.id == key_id else record for record in records])
        return revoked

    def verify(self, key: str) -> KeyRecord | None:
        """The live (not revoked) key record whose digest is ``key``'s, else None."""
        presented = digest(key)
        found = None
        for record in self.records():  # every digest compared, in constant time each
            if hmac.compare_digest(record.sha256, presented) and not record.revoked:
                found = record
        return found

    def _write(self, records: list[KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"keys": [asdict(record) for record in records]}, indent=2, ensure_ascii=False) + "\n"
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int):
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a rate above 0 and a burst of at least 1")
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> int:
        """0 when ``key_id`` may make a request now (one token taken), else the seconds to wait."""
        with self._lock:
            now = time.monotonic()
            tokens, then = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return 0
            self._buckets[key_id] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))


BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`, a key from `skugraph keys create`")
HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: KEY`, the same key in its own header")
#: one line per request: key id (``-`` when none was accepted), method, path, status, milliseconds
ACCESS = logging.getLogger("skugraph.access")


class Access:
    """Who may call the API: FastAPI dependencies ``read`` and ``write`` that check the caller's
    key (401 without a live one, 403 when its role is short, 429 over its rate). Without a key
    store both let every caller in and declare nothing in the OpenAPI schema.

    A write endpoint takes ``dependencies=[Depends(access.write)]`` and
    ``responses=access.write_responses``; a request is authenticated and counted once however
    many of the two it passes through. The accepted key's record is ``request.state.key``."""

    def __init__(self, store: KeyStore | None = None, limiter: RateLimiter | None = None, error_model: type | None = None):
        self.store, self.limiter, self.error_model = store, limiter, error_model
        self.read = self._dependency("read")
        self.write = self._dependency("write")

    @property
    def enabled(self) -> bool:
        return self.store is not None

    @property
    def responses(self) -> dict[int | str, dict[str, Any]]:
        """The OpenAPI answers every endpoint behind a key may give (none without keys)."""
        if not self.enabled:
            return {}
        text = {"type": "string"}
        return self._documented({
            401: {"description": "No API key, or an unknown or revoked one", "headers": {"WWW-Authenticate": {"schema": text}}},
            429: {"description": "Over the key's request rate", "headers": {"Retry-After": {"description": "Seconds to wait",
                                                                                           "schema": {"type": "integer"}}}}})

    @property
    def write_responses(self) -> dict[int | str, dict[str, Any]]:
        """The OpenAPI answer a write endpoint adds: 403 for a read key (none without keys)."""
        if not self.enabled:
            return {}
        return self._documented({403: {"description": "The key's role may not call this endpoint (a read key on a write endpoint)"}})

    def _documented(self, responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
        return {code: {"model": self.error_model, **entry} if self.error_model else entry for code, entry in responses.items()}

    def _dependency(self, role: str) -> Callable[..., Any]:
        if self.store is None:
            async def open_to_all() -> None:
                return None

            return open_to_all

        async def key_with_role(request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
                                header: Annotated[str | None, Security(HEADER)]) -> KeyRecord:
            return self.check(request, bearer.credentials if bearer else header, role)

        key_with_role.__name__ = f"{role}_key"
        key_with_role.role = role  # type: ignore[attr-defined]  (read by refusal)
        return key_with_role

    def refusal(self, request: Request) -> HTTPException | None:
        """The 401/403/429 a request gets whose key was never checked because its body failed
        first (FastAPI parses the body before the route's dependencies), or None: so a caller
        without the right key learns that before anything about the body."""
        dependant = getattr(request.scope.get("route"), "dependant", None)
        roles = {getattr(d.call, "role", None) for d in dependant.dependencies} - {None} if dependant else set()
        if self.store is None or not roles:
            return None
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        try:
            self.check(request, credentials if scheme.lower() == "bearer" and credentials else request.headers.get("x-api-key"),
                       "write" if "write" in roles else "read")
        except HTTPException as refused:
            return refused
        return None

    def check(self, request: Request, key: str | None, role: str) -> KeyRecord:
        """The live key record for ``key`` if it has ``role``: else 401/429 (:meth:`authenticate`) or 403."""
        record = self.authenticate(request, key)
        if not record.allows(role):
            raise HTTPException(403, f"key {record.id} has the {record.role} role; this endpoint needs {role}")
        return record

    def authenticate(self, request: Request, key: str | None) -> KeyRecord:
        """The live key record for ``key`` (once per request), or 401; 429 when over its rate."""
        known = getattr(request.state, "key", None)
        if known is not None:
            return known
        assert self.store is not None
        record = self.store.verify(key) if key else None
        if record is None:
            reason = "unknown or revoked API key" if key else "an API key is needed: Authorization: Bearer KEY, or X-API-Key: KEY"
            raise HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
        request.state.key = record
        wait = self.limiter.take(record.id) if self.limiter else 0
        if wait:
            assert self.limiter is not None
            raise HTTPException(429, f"key {record.id} is over {self.limiter.rate:g} requests/s; retry in {wait} s",
                                headers={"Retry-After": str(wait)})
        return record


class AccessLog:
    """ASGI middleware: logs each HTTP request to ``skugraph.access`` (key id, never the key)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts
        state = scope.setdefault("state", {})

        async def watched(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            record = state.get("key")
            ACCESS.info("key=%s %s %s %d %.1f ms", record.id if record else "-", scope["method"], scope["path"], status,
                        (time.perf_counter() - started) * 1000)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
