"""A hub in a child process on a free port (``cityhub serve``), for the tests that need a real
HTTP server: the live feed's stream and shutdown, and the browser tests."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Hub:
    """``cityhub serve`` on ``port`` with ``store``; its output read line by line so that a
    test waits for a line instead of sleeping."""

    def __init__(self, store: str, port: int, cwd: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env["PYTHONPATH"] = str(ROOT)
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--port", str(port), "--store", store]
            + list(extra),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("Uvicorn running on")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            assert line, f"the hub ended before printing {text!r}:\n{''.join(self.seen)}"
            if text in line:
                return

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit status (the hub must stop by itself within ``timeout``;
        uvicorn raises the signal again once it has shut down, so a clean stop is 0 or
        -SIGTERM)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()

    def output(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)
