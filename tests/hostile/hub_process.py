"""``cityhub serve`` in a process of its own, for tests that must see what a caller sees.

Why a process, not a thread or the in-process ASGI client: a request that sends the hub into a
CPU loop (a catastrophic regex, say) holds its event loop, and Python's ``re`` also holds the GIL
for the whole match. Under the in-process client an ``asyncio`` timeout could never fire, and a
server thread would starve the test's own thread; with the hub in its own process the client's
socket timeout always fires, and a frozen hub can still be killed. It also runs the real HTTP
stack (uvicorn + httptools), which parses what a client sends before any of cityhub's code.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: uvicorn's line once it listens, with the port the system gave it
_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class HubProcess:
    """``python -m cityhub serve`` on ``store``, on a port the system picks (``--port 0``; the
    hub's log says which): runs of the suite at the same time, on one machine, never collide,
    as servers on a fixed range probed for a free port could.

    The hub's log (stderr) is read by a thread as it comes, so the pipe never fills, and
    written to ``workdir/hub.log`` (:meth:`log`); its last lines are kept for failure messages
    (:meth:`log_tail`).
    """

    def __init__(self, store: str, workdir: Path, start_timeout: float = 90.0) -> None:
        self.store = store
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.port = 0
        self.restarts = 0
        self._log: collections.deque[str] = collections.deque(maxlen=200)
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.log_path = workdir / "hub.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--host", "127.0.0.1"]
            + ["--port", "0", "--store", self.store],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        ready = threading.Event()
        self._reader = threading.Thread(
            target=self._read_log, args=(self._proc, ready), daemon=True
        )
        self._reader.start()
        if not ready.wait(self.start_timeout) or self._proc.poll() is not None:
            self.kill()
            raise RuntimeError(f"cityhub serve did not start:\n{self.log_tail()}")

    def _read_log(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stderr is not None
        with proc.stderr, self.log_path.open("a") as out:
            for line in proc.stderr:
                out.write(line)
                out.flush()
                self._log.append(line.rstrip("\n"))
                listening = _READY.search(line)
                if listening:
                    self.port = int(listening.group(1))
                    ready.set()
        ready.set()  # the hub exited: start() sees it through poll()

    def _reaped(self, proc: subprocess.Popen[str]) -> None:
        """After the hub exited: its log read to the end and the pipe closed."""
        if self._reader is not None:
            self._reader.join(10)

    def log(self) -> str:
        """Everything the hub has logged, across restarts."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(list(self._log)[-lines:])

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, as an operator would; SIGKILL if the hub has not exited after 20 s.
        Returns the exit code, or None when the hub had to be killed."""
        if self._proc is None:
            return None
        proc, self._proc = self._proc, None
        code = proc.poll()
        if code is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reaped(proc)
        return code

    def kill(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.kill()
            proc.wait()
            self._reaped(proc)

    def restart(self) -> None:
        """Kill a hub that stopped answering and start it again on the same store."""
        self.kill()
        self.restarts += 1
        self.start()
