"""One request straight into the ASGI app, with no socket: what the in-process benches time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

Headers = Iterable[tuple[bytes, bytes]]


def scope(
    method: str, path: str, query: str | bytes = b"", headers: Headers = ()
) -> dict[str, Any]:
    """The HTTP scope of one request from a loopback client; ``host`` comes first."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode() if isinstance(query, str) else query,
        "root_path": "",
        "headers": [(b"host", b"hub"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 1026),
    }


async def call(app: Any, request: dict[str, Any], body: bytes = b"") -> tuple[int, int]:
    """(status, body bytes) of one request; the body is counted, not kept. After the request
    body, ``receive`` waits for the answer's end, as a client that stays does: a streamed
    answer listens for the client leaving meanwhile."""
    status = 0
    size = 0
    sent = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(request, receive, send)
    return status, size
