"""``cityhub demo`` as a person runs it: a real server on a free port, the banner with the URL
and three curl commands, the city answering, Ctrl-C ending hub and simulator cleanly. Also the
README's first command, and the demo's place in the layers."""

from __future__ import annotations

import ast
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from click.testing import CliRunner

from cityhub.cli import cli

ROOT = Path(__file__).parent.parent.parent
DEMO = ROOT / "cityhub" / "demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _lines(stream: object, out: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        out.put(line)
    out.put("")  # end of output


def test_cityhub_demo_comes_up_prints_how_to_try_it_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    with subprocess.Popen(
        [sys.executable, "-m", "cityhub", "demo", "--port", str(port), "--speed", "600"]
        + ["--backfill-days", "0", "--start", "2026-01-14T08:00"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            _try_the_demo(proc, lines, port)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(timeout=10)


def _try_the_demo(proc: subprocess.Popen[str], lines: queue.Queue[str], port: int) -> None:
    banner: list[str] = []
    while not banner or "Ctrl-C" not in banner[-1]:
        line = lines.get(timeout=60)  # the banner comes once the city is in the hub
        assert line, "cityhub demo ended before printing its banner"
        banner.append(line)
    text = "".join(banner)
    # the dashboard's URL comes first, and a browser gets the page there
    first = next(line for line in banner if line.startswith("cityhub demo:"))
    assert f"control tower is at http://127.0.0.1:{port}/ " in first, first
    page = httpx.get(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "cityhub-config" in page.text
    url = f"http://127.0.0.1:{port}/ngsi-ld/v1"
    assert url in text
    curls = [line.strip() for line in banner if line.strip().startswith("curl")]
    assert len(curls) == 3
    store = re.search(r"store sqlite:///(\S+?)\)", text)
    assert store is not None
    assert Path(store.group(1)).exists()

    first = re.search(r"'(http[^']+)'", curls[0])
    assert first is not None
    response = httpx.get(first.group(1), timeout=30)
    assert response.status_code == 200, response.text
    stations = response.json()
    assert len(stations) == 6 and all(" " in s["name"] for s in stations)
    history = re.search(r"'(http[^']+)'", curls[2])
    assert history is not None
    assert httpx.get(history.group(1), timeout=30).status_code == 200

    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(timeout=30) == 0
    rest = []
    while (line := lines.get(timeout=10)) != "":
        rest.append(line)
    assert "cityhub demo: stopped" in "".join(rest)
    assert not Path(store.group(1)).parent.exists()  # the fresh store is removed


def test_a_bad_start_time_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["demo", "--start", "yesterday"])
    assert result.exit_code == 2
    assert "--start" in result.output


def test_demo_takes_the_options_of_serve() -> None:
    serve = cli.commands["serve"]  # type: ignore[attr-defined]
    demo = cli.commands["demo"]  # type: ignore[attr-defined]
    shared = {"host", "port", "store", "db", "config"}
    for name in shared:
        a = next(p for p in serve.params if p.name == name)
        b = next(p for p in demo.params if p.name == name)
        assert a.opts == b.opts and a.type == b.type


def test_the_readme_starts_with_the_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0].split("#")[0].strip() == "python3 -m pip install -e . && cityhub demo"
    assert block[1].split("#")[0].strip() == 'python3 -m pip install -e ".[dev]" && scripts/test'
    assert "## The Seongnam demo" in readme


def test_the_demo_talks_to_the_hub_only_through_the_api() -> None:
    """No back door into the store: the demo never imports the store, the API or the app."""
    for path in DEMO.rglob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        banned = {"cityhub.store", "cityhub.api", "cityhub.app", "sqlite3"}
        bad = {i for i in imported if any(i == b or i.startswith(b + ".") for b in banned)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
