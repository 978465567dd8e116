"""A hub served on a real port (``cityhub serve`` in a child process, ports 18300-18319) with
the open data test city, for the tools that only speak HTTP (GDAL's OAPIF driver) and for
the files those tools read (GDAL's GeoJSON and CSV drivers)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.opendata import helpers
from tests.test_serving import Process

PORTS = range(18300, 18320)
OGRINFO = shutil.which("ogrinfo")
needs_gdal = pytest.mark.skipif(
    OGRINFO is None,
    reason="GDAL's ogrinfo is not installed (apt-get install gdal-bin, as .ci/run does)",
)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18319")


class _Http:
    """What the helpers need of a client (``post``, ``put``), on a real server."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, **kw: object) -> httpx.Response:
        return self.client.post(url, **kw)  # type: ignore[arg-type]

    def put(self, url: str, **kw: object) -> httpx.Response:
        return self.client.put(url, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a served hub holding the test city, published."""
    where = tmp_path_factory.mktemp("served")
    port = free_port()
    hub = Process(["serve", "--port", str(port), "--store", f"sqlite:///{where / 'hub.db'}"], where)
    try:
        hub.wait_for("Uvicorn running on")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            http = _Http(client)
            helpers.seed(http)  # type: ignore[arg-type]
            helpers.publish_city(http)  # type: ignore[arg-type]
        yield base
    finally:
        hub.kill()


def ogr(*args: str) -> str:
    """Run an ogr command (ogrinfo, ogr2ogr) and return what it printed; fails the test on a
    non-zero exit."""
    tool = args[0]
    found = shutil.which(tool)
    assert found is not None, f"{tool} is not installed"
    done = subprocess.run(
        [found, *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        env={"GDAL_HTTP_TIMEOUT": "30", "CPL_DEBUG": "OFF", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def tmp(path: Path, name: str) -> str:
    return str(path / name)
