"""A PostgreSQL store that cannot serve (issue 22, item 4), each made real: a read-only
database (SQLSTATE 25006, ``default_transaction_read_only`` set on the hub's role), lost
connections (class 08/57P01, ``pg_terminate_backend``), too many connections (53300, the
role's connection limit), a server that is not there, and a full disk (53100, the entities
table in a tablespace on a small tmpfs). Each is a 503 with Retry-After, logged once, on
/health, and over by itself once the cause is gone. SQLite: tests/api/test_store_unavailable.py.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from cityhub.errors import StoreUnavailable
from tests.api.test_store_unavailable import assert_unavailable, big, small, store_log
from tests.conftest import make_client
from tests.postgres import server

API = "/ngsi-ld/v1"
ROOT = Path(__file__).parent.parent.parent
_roles = itertools.count()


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@pytest.fixture
def role(postgres_server: str, postgres_url: str) -> Iterator[tuple[str, str]]:
    """(store URL, role name): the hub connects as a role of its own, which the test can
    make read-only or limit, and whose connections it can end."""
    name = f"cityhub_hub_{os.getpid()}_{next(_roles)}"
    schema = parse_qs(urlsplit(postgres_url).query)["search_path"][0].split(",")[0]
    try:  # not a superuser: connection limits do not apply to superusers
        server.run(
            postgres_server,
            f"CREATE ROLE {name} LOGIN",
            f'GRANT ALL ON SCHEMA "{schema}" TO {name}',
        )
    except Exception as exc:  # e.g. CITYHUB_TEST_POSTGRES_URL names a role without CREATEROLE
        pytest.skip(f"cannot create a role for the hub: {exc}")
    try:
        yield _with_user(postgres_url, name), name
    finally:
        server.run(
            postgres_server,
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'",
        )
        server.run(  # the hub's migrations made it the owner of the test schema's tables
            postgres_server,
            f"REASSIGN OWNED BY {name} TO CURRENT_USER",
            f"DROP OWNED BY {name}",  # its grants
            f"DROP ROLE {name}",
        )


def _admin(postgres_server: str, *statements: str) -> None:
    server.run(postgres_server, *statements)


def _disconnect(postgres_server: str, name: str) -> None:
    _admin(
        postgres_server,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'",
    )


def _until(call: Any, status: int, tries: int = 10) -> Any:
    """``call()`` again while it answers something else (at most ``tries`` times): the first
    request after connections were ended may meet one the pool has not seen close yet."""
    for _ in range(tries):
        response = call()
        if response.status_code == status:
            return response
        assert response.status_code == 503, response.text  # never a 500
    return response


def test_a_read_only_database_is_503_and_over_when_writable_again(
    role: tuple[str, str], postgres_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, name = role
    caplog.set_level(logging.INFO, logger="cityhub")
    with make_client(tmp_path, url) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        store.availability.settle = 0
        store.availability.probe_interval = 0
        assert client.post(f"{API}/entities", json=small("urn:pg:kept")).status_code == 201
        _admin(postgres_server, f"ALTER ROLE {name} SET default_transaction_read_only = on")
        _disconnect(postgres_server, name)  # its next connections start read-only

        refused = []
        for n in range(6):
            response = client.post(f"{API}/entities", json=small(f"urn:pg:{n}"))
            assert response.status_code == 503, response.text
            refused.append(f"urn:pg:{n}")
        assert_unavailable(response, "read-only")  # the last one: the pool has reconnected
        got = _until(lambda: client.get(f"{API}/entities/urn:pg:kept"), 200)
        assert got.status_code == 200  # reads go on
        health = client.get("/health")
        assert health.status_code == 503 and "25006" in health.json()["store"]["reason"]
        lines = [r.getMessage() for r in store_log(caplog)]
        # one line per change of condition, not one per request: read-only, after lost
        # connections perhaps (on a loaded machine the pool may meet a closing one more than
        # once, so the two reasons can alternate, but a line never repeats the one before)
        assert 1 <= len(lines) < len(refused), lines
        assert all("read-only" in line or "cannot be reached" in line for line in lines), lines
        assert all(a != b for a, b in zip(lines, lines[1:], strict=False)), lines
        assert "read-only" in lines[-1], lines
        assert not any(r.exc_info for r in store_log(caplog))

        _admin(postgres_server, f"ALTER ROLE {name} RESET default_transaction_read_only")
        _disconnect(postgres_server, name)
        assert _until(lambda: client.get("/health"), 200).status_code == 200
        assert "available again" in store_log(caplog)[-1].getMessage()
        for eid in refused:
            assert client.get(f"{API}/entities/{eid}").status_code == 404
        assert client.post(f"{API}/entities", json=small("urn:pg:0")).status_code == 201


def test_lost_connections_and_too_many_connections_are_503_never_500(
    role: tuple[str, str], postgres_server: str, tmp_path: Path
) -> None:
    url, name = role
    with make_client(tmp_path, url) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        store.availability.settle = 0
        store.availability.probe_interval = 0
        assert client.post(f"{API}/entities", json=small("urn:pg:kept")).status_code == 201
        _admin(postgres_server, f"ALTER ROLE {name} CONNECTION LIMIT 0")
        _disconnect(postgres_server, name)
        for _ in range(3):  # no connection can be had: SQLSTATE 53300 (or 08xxx on a dead one)
            response = client.get(f"{API}/entities/urn:pg:kept")
            assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert "busy" in response.json()["detail"]
        health = client.get("/health")
        assert health.status_code == 503 and "53300" in health.json()["store"]["reason"]
        _admin(postgres_server, f"ALTER ROLE {name} CONNECTION LIMIT -1")
        assert _until(lambda: client.get("/health"), 200).status_code == 200
        assert client.get(f"{API}/entities/urn:pg:kept").status_code == 200


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_database_that_is_not_there_at_start_up_is_one_sentence(tmp_path: Path) -> None:
    pytest.importorskip("asyncpg")
    url = f"postgresql://hub:s3cret@127.0.0.1:{_closed_port()}/city"
    with pytest.raises(StoreUnavailable) as caught:
        make_client(tmp_path, url).__enter__()
    sentence = caught.value.detail
    assert sentence.startswith("cannot open the store: PostgreSQL at 127.0.0.1:")
    assert "cannot be reached" in sentence and "s3cret" not in sentence
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "cityhub", "serve", "--store", url, "--get", "/health"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: cannot open the store: PostgreSQL at"), done.stderr
    assert "s3cret" not in done.stderr


# ---- a full disk --------------------------------------------------------------------------


class FrozenClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def small_tablespace(postgres_server: str, postgres_url: str) -> Iterator[tuple[Path, str]]:
    """A tablespace on an 8 MiB tmpfs, and its name (the test moves tables there); needs root,
    a local throwaway cluster, and a system that lets this process mount."""
    if os.environ.get(server.ENV_URL):
        pytest.skip(f"{server.ENV_URL} names a server whose disks this test cannot mount")
    # the server's user must reach the mount point: pytest's tmp_path is root's alone
    top = Path(tempfile.mkdtemp(prefix="cityhub-pgdisk-"))
    top.chmod(0o755)
    disk = top / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        shutil.rmtree(top)
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    name = f"cityhub_full_{os.getpid()}_{next(_roles)}"
    try:
        owner = _data_directory_owner(postgres_server)
        os.chown(disk, owner, -1)
        _admin(postgres_server, f"CREATE TABLESPACE {name} LOCATION '{disk}'")
        yield disk, name
    finally:
        try:
            _admin(postgres_url, "DROP TABLE IF EXISTS entities CASCADE")
        finally:
            _admin(postgres_server, f"DROP TABLESPACE IF EXISTS {name}")
            subprocess.run(["umount", "-l", str(disk)], check=False)
            shutil.rmtree(top, ignore_errors=True)


def _data_directory_owner(postgres_server: str) -> int:
    import asyncio

    import asyncpg

    async def ask() -> str:
        conn = await asyncpg.connect(postgres_server)
        try:
            return str(await conn.fetchval("SHOW data_directory"))
        finally:
            await conn.close()

    return os.stat(asyncio.run(ask())).st_uid


def test_a_full_disk_is_503_and_over_when_space_is_freed(
    small_tablespace: tuple[Path, str],
    postgres_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cityhub")
    disk, tablespace = small_tablespace
    filler = disk / "filler"
    with make_client(tmp_path, postgres_url) as client:
        # the entities table (and its TOAST table, where large attributes go) on the small disk
        _admin(postgres_url, f"ALTER TABLE entities SET TABLESPACE {tablespace}")
        store = client.app.state.store  # type: ignore[attr-defined]
        clock = FrozenClock()
        store.availability.clock = clock
        store.availability.probe_interval = 0
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"\0" * (free - 1024 * 1024))  # leave 1 MiB
        created, refused = [], []
        for n in range(60):
            eid = f"urn:pgdisk:{n}"
            response = client.post(f"{API}/entities", json=big(eid, 32))
            if response.status_code == 201:
                created.append(eid)
            else:
                assert_unavailable(response, "no disk space left")
                refused.append(eid)
        assert created and len(refused) >= 10, (len(created), len(refused))
        for eid in refused:
            assert client.get(f"{API}/entities/{eid}").status_code == 404
        for eid in created:
            assert client.get(f"{API}/entities/{eid}").status_code == 200
        health = client.get("/health")
        body = health.json()
        assert health.status_code == 503 and "53100" in body["store"]["reason"], body
        lines = store_log(caplog)
        assert len(lines) == 1 and not lines[0].exc_info, [r.getMessage() for r in lines]

        filler.unlink()
        clock.now += 60
        assert client.get("/health").status_code == 200
        assert client.post(f"{API}/entities", json=big(refused[0], 32)).status_code == 201
        assert "available again" in store_log(caplog)[-1].getMessage()
