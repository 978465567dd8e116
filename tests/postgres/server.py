"""A throwaway PostgreSQL 15 + PostGIS for the tests (or the one ``CITYHUB_TEST_POSTGRES_URL``
names).

:func:`start_cluster` runs ``initdb`` into a temporary directory and starts ``postgres`` on a
free port (55400-55499 first), listening on 127.0.0.1 only, with ``fsync`` off (test data is
disposable). PostgreSQL refuses to run as root: as root the cluster runs as the unprivileged
``nobody`` (through ``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "CITYHUB_TEST_POSTGRES_URL"
PORTS = range(55400, 55500)


def find_bindir() -> Path | None:
    """The directory holding initdb and postgres: on PATH, else the newest Debian install."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent  # Debian links /usr/local/bin/initdb to its bin/
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    return None


def has_postgis(bindir: Path) -> bool:
    """Whether the PostGIS extension is installed for this PostgreSQL."""
    pg_config = bindir / "pg_config"
    sharedir = Path("/usr/share/postgresql") / bindir.parent.name
    if pg_config.exists():
        out = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            sharedir = Path(out.stdout.strip())
    return (sharedir / "extension" / "postgis.control").exists()


def _free_port() -> int:
    candidates = list(PORTS)
    random.shuffle(candidates)
    for port in [*candidates, 0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


@dataclass
class Cluster:
    """A running throwaway cluster."""

    bindir: Path
    directory: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data")]
            + ["-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def unavailable_reason() -> str | None:
    """Why no throwaway cluster can be started here (None when one can)."""
    bindir = find_bindir()
    if bindir is None:
        return (
            "PostgreSQL is not installed (no initdb; Debian: postgresql-15-postgis-3) and "
            f"{ENV_URL} is not set"
        )
    if not has_postgis(bindir):
        return f"PostGIS is not installed for {bindir} and {ENV_URL} is not set"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


def start_cluster() -> Cluster:
    """initdb + start; raises RuntimeError with PostgreSQL's own words when that fails."""
    bindir = find_bindir()
    assert bindir is not None
    directory = Path(tempfile.mkdtemp(prefix="cityhub-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(directory, "nobody", "nogroup" if _group_exists("nogroup") else "nobody")
        run_as = ["runuser", "-u", "nobody", "--"]
    os.chmod(directory, 0o700)
    data = directory / "data"
    init = subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        + ["-E", "UTF8", "--no-sync", "--no-instructions"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()[-800:]}")
    port = _free_port()
    options = (
        f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    start = subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", options]
        + ["-l", str(directory / "server.log"), "-w", "-t", "60", "start"],
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        log = (directory / "server.log").read_text() if (directory / "server.log").exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"postgres did not start: {start.stderr.strip()} {log[-800:]}")
    return Cluster(bindir, directory, port, run_as)


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


async def execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def run(url: str, *statements: str) -> None:
    """Run statements on ``url`` from synchronous code (fixtures)."""
    asyncio.run(execute(url, *statements))


def with_search_path(url: str, schema: str) -> str:
    """``url`` with its tables in ``schema`` (PostGIS stays in ``public``)."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}search_path={schema},public"


@contextlib.contextmanager
def throwaway_schema(url: str, name: str) -> contextlib.AbstractContextManager[str]:  # type: ignore[misc]
    """A fresh schema for one test; dropped afterwards."""
    run(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE', f'CREATE SCHEMA "{name}"')
    try:
        yield with_search_path(url, name)
    finally:
        run(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
