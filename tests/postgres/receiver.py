"""A notification receiver for tests: an HTTP server on 127.0.0.1 recording every POST body."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.url = ""

    def record(self, body: dict[str, Any]) -> None:
        with self.changed:
            self.bodies.append(body)
            self.changed.notify_all()

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> bool:
        """Block until ``done(bodies)`` holds (woken by each arrival), or the timeout ends."""
        with self.changed:
            return self.changed.wait_for(lambda: done(self.bodies), timeout=timeout)


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            rec.record(orjson.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
