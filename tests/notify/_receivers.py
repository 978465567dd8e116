"""Real receivers for notification tests: an HTTP server in a thread, and a throwaway Mosquitto.

Both wait on events (a condition variable, the broker's port opening), not on fixed sleeps.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
NO_MOSQUITTO = (
    "the mosquitto binary is not installed (Debian package mosquitto; .ci/run installs it)"
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # the dispatcher sends many notifications at once
    daemon_threads = True


class HttpReceiver:
    """An HTTP notification receiver on 127.0.0.1 (a free port). ``up = False`` makes it answer
    503, as a receiver that is down would fail; every request is recorded either way."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.refused = 0
        self.up = True
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with receiver._cond:
                    if not receiver.up:
                        receiver.refused += 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), orjson.loads(raw))
                    )
                    receiver._cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/notify"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` notifications arrived (or fail after ``timeout`` seconds)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.received) >= count, timeout)
        assert ok, f"expected {count} notification(s), got {len(self.received)}"
        return list(self.received)

    def quiet(self, seconds: float = 0.5) -> list[Received]:
        """What arrived after waiting ``seconds`` more (to show that nothing else comes)."""
        with self._cond:
            self._cond.wait_for(lambda: False, seconds)
        return list(self.received)


def free_port(low: int = 8350, high: int = 8399) -> int:
    """A free TCP port on 127.0.0.1 in this suite's range."""
    for port in range(low, high + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@contextlib.contextmanager
def mosquitto(
    tmp_path: Path,
    port: int | None = None,
    *,
    ports: tuple[int, int] = (8350, 8399),
    extra_config: str = "",
) -> Iterator[int]:
    """A throwaway Mosquitto on 127.0.0.1 (anonymous), its port yielded; stopped afterwards.

    Args:
        port: this port (to start a broker again where a client reconnects), else a free one
            of ``ports``.
        extra_config: more ``mosquitto.conf`` lines (limits such as max_inflight_messages).
    """
    assert MOSQUITTO is not None, NO_MOSQUITTO
    port = port or free_port(*ports)
    conf = tmp_path / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra_config}"
    )
    log = tmp_path / f"mosquitto-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {log.read_text()}")
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
