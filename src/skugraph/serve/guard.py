"""What the API lets a caller ask: read-only Cypher, checked before it reaches the store, and
request bodies of bounded size, counted as they stream in.

Cypher: comments, string literals and quoted names are set aside, then the query must begin
with a reading clause (MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN), hold one statement, and
name none of the clauses that write, change the schema, call procedures or touch files. The
store is also opened read-only: this check is the first of two walls, not the only one.
"""

from __future__ import annotations

import json
import re

READING = {"MATCH", "OPTIONAL", "WITH", "UNWIND", "RETURN"}
FORBIDDEN = {"CREATE", "MERGE", "DELETE", "DETACH", "SET", "REMOVE", "DROP", "ALTER", "COPY", "LOAD", "INSTALL", "ATTACH",
             "IMPORT", "EXPORT", "BEGIN", "COMMIT", "ROLLBACK", "CHECKPOINT", "CALL", "USE", "FOREACH"}
_SET_ASIDE = re.compile(r"//[^\n]*|/\*.*?(?:\*/|$)|'(?:\\.|[^'\\])*(?:'|$)|\"(?:\\.|[^\"\\])*(?:\"|$)|`[^`]*(?:`|$)", re.DOTALL)
_WORD = re.compile(r"(?<![.\w$])[A-Za-z_]\w*")


class ReadOnlyError(ValueError):
    """A query the API does not run."""


def check_read_only(cypher: str) -> None:
    """Raise :class:`ReadOnlyError` naming the reason unless ``cypher`` only reads."""
    bare = _SET_ASIDE.sub(" ", cypher)
    if ";" in bare.rstrip().rstrip(";"):
        raise ReadOnlyError("one statement at a time")
    words = [word.upper() for word in _WORD.findall(bare)]
    if not words or words[0] not in READING:
        raise ReadOnlyError(f"a query starts with {', '.join(sorted(READING))}, not {words[0] if words else 'nothing'}")
    found = next((word for word in words if word in FORBIDDEN), None)
    if found:
        raise ReadOnlyError(f"{found} is not allowed")


class BodyLimit:
    """ASGI middleware: a request whose body is over ``limit`` bytes gets 413, whether it says
    its length or streams it in chunks (counted as they arrive: past the limit the app is told
    the client left, and whatever it answers then is dropped)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counted():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not started:
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": f"request body over {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
