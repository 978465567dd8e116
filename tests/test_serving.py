"""Starting and stopping the hub as a person does (issue 22, item 5), and the requests the HTTP
server refuses before the hub sees them (item 7: URLs over 64 KiB): real processes, real
signals and real sockets, on ports 18320-18399.

- ``cityhub demo`` removes its temporary store on SIGTERM as on Ctrl-C, at any moment;
- a port in use is one sentence, for ``serve`` and ``demo`` (no traceback, nothing started);
- ``cityhub serve --get`` creates no ``./cityhub.db``;
- a URL longer than 65,535 bytes is a 414 ProblemDetails (RFC 9110 section 15.5.15), from
  the server (httptools cannot parse it) and from the app in-process alike.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest
from click.testing import CliRunner

from cityhub.api.front import MAX_URL_BYTES
from cityhub.cli import cli
from tests.conftest import make_client

ROOT = Path(__file__).parent.parent
PORTS = range(18320, 18400)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18320-18399")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TMPDIR"] = str(tmp_path)  # where the demo makes its temporary store
    return env


class Process:
    """A ``cityhub`` command in a child process, its output read line by line (stdout and
    stderr together) so that a test can wait for a line instead of sleeping."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", *args],
            cwd=cwd,
            env=_env(cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, timeout: float = 120) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            assert line, f"the process ended before printing {text!r}:\n{''.join(self.seen)}"
            if text in line:
                return line

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.kill()


def _demo_stores(tmp_path: Path) -> list[Path]:
    return list(tmp_path.glob("cityhub-demo-*"))


DEMO = ["demo", "--speed", "600", "--backfill-days", "0", "--start", "2026-01-14T08:00"]


@pytest.mark.parametrize("when", ["serving", "seeding"])
def test_demo_removes_its_temporary_store_on_sigterm(
    tmp_path: Path, processes: list[Process], when: str
) -> None:
    """SIGTERM (systemd, Docker, Kubernetes, ``kill``) stops the demo as Ctrl-C does: the hub
    shuts down gracefully and the temporary store goes, whether the city is up ("serving":
    after the banner) or still being written ("seeding": as soon as the server listens)."""
    demo = Process([*DEMO, "--port", str(free_port())], tmp_path)
    processes.append(demo)
    demo.wait_for("Ctrl-C stops" if when == "serving" else "Uvicorn running on")
    assert len(_demo_stores(tmp_path)) == 1
    demo.proc.send_signal(signal.SIGTERM)
    code, out = demo.finish()
    assert code == 0, out
    assert "cityhub demo: stopped" in out and "Traceback" not in out
    assert _demo_stores(tmp_path) == [], out


@pytest.mark.parametrize("command", [["serve"], DEMO])
def test_a_port_in_use_is_one_sentence(
    tmp_path: Path, processes: list[Process], command: list[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        proc = Process([*command, "--port", str(port)], tmp_path)
        processes.append(proc)
        code, out = proc.finish()
    assert code == 1, out
    assert out.splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{port}: the port is in use (by another program "
        "or cityhub); choose another --port"
    )
    assert "Traceback" not in out and "Task exception" not in out
    assert len(out.splitlines()) <= 2, out  # serve says first where it will listen
    assert _demo_stores(tmp_path) == []  # nothing was started, nothing is left


def test_serve_get_creates_no_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CITYHUB_STORE", "CITYHUB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["serve", "--get", "/ngsi-ld/v1/types"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["typeList"] == []
    assert list(tmp_path.iterdir()) == []


def test_serve_get_reads_the_default_store_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where ``cityhub serve`` ran, ``serve --get`` shows what it stored."""
    monkeypatch.chdir(tmp_path)
    for name in ("CITYHUB_STORE", "CITYHUB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    with make_client(tmp_path, "sqlite:///./cityhub.db") as client:
        body = {"id": "urn:ngsi-ld:T:1", "type": "T"}
        assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    result = CliRunner().invoke(cli, ["serve", "--get", "/ngsi-ld/v1/entities/urn:ngsi-ld:T:1"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["id"] == "urn:ngsi-ld:T:1"


def test_serve_help_says_what_get_reads() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert "else an empty in-memory store" in " ".join(result.output.split())


# ---- the requests the server refuses itself -----------------------------------------------


@pytest.fixture
def served(tmp_path: Path, processes: list[Process]) -> int:
    """The port of a ``cityhub serve`` in a child process."""
    port = free_port()
    hub = Process(["serve", "--db", str(tmp_path / "s.db"), "--port", str(port)], tmp_path)
    processes.append(hub)
    hub.wait_for("Uvicorn running on")
    return port


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` on a new connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: hub\r\n\r\n".encode()


def _target(size: int) -> str:
    """A request target of exactly ``size`` bytes (an attribute list, as a long query has)."""
    head = "/ngsi-ld/v1/entities?type=T&attrs=a"
    names = ",abcdefgh" * ((size - len(head)) // 9)
    return head + names + "i" * (size - len(head) - len(names))


def _problem(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/json"
    problem: dict[str, Any] = orjson.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return problem


def test_a_url_over_64_kib_is_a_414_problem_from_the_server(served: int) -> None:
    assert len(_target(MAX_URL_BYTES)) == MAX_URL_BYTES
    status, headers, body = _raw(served, _get(_target(MAX_URL_BYTES)))
    assert status == 200, body  # the longest URL the hub reads
    for size in (MAX_URL_BYTES + 1, 70_000, 8 * 1024 * 1024):
        status, headers, body = _raw(served, _get(_target(size)))
        assert status == 414, (size, body)
        problem = _problem(414, headers, body)
        assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest"
        assert "65535 bytes" in problem["detail"]
        assert "entityOperations/query" in problem["detail"]
    status, _, _ = _raw(served, _get("/health/live"))
    assert status == 200  # and the hub goes on


def test_a_request_that_is_not_http_is_a_400_problem(served: int) -> None:
    status, headers, body = _raw(served, b"GET /health HTTP/1.1\r\nHost hub\r\n\r\n")
    assert status == 400
    assert _problem(400, headers, body)["type"].endswith("InvalidRequest")


def test_a_url_over_64_kib_is_a_414_problem_in_process_too(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.get(_target(MAX_URL_BYTES)).status_code == 200
        response = client.get(_target(MAX_URL_BYTES + 1))
        assert response.status_code == 414
        assert "65535 bytes" in response.json()["detail"]


def test_location_goes_out_spelled_location_from_the_server(served: int) -> None:
    """RFC 9110 clause 5.1 makes header names case-insensitive, but the ETSI suite looks
    ``Location`` up case-sensitively (ContextSource 033_11, and the fork's 038_02_01 and
    041s); uvicorn's httptools protocol lower-cases names unless they are
    ``cityhub.api.location.SpelledName``s. The other headers stay lower-case."""
    body = orjson.dumps(
        {
            "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": "Building"}]}],
            "endpoint": "http://127.0.0.1:9/source",
        }
    )
    request = (
        b"POST /ngsi-ld/v1/csourceRegistrations HTTP/1.1\r\nHost: hub\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", served), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 201"), head
    assert re.search(rb"\r\nLocation: /ngsi-ld/v1/csourceRegistrations/urn:ngsi-ld:", head), head
    assert b"\r\ndate: " in head and b"\r\nlocation:" not in head
