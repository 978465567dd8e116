"""A store that cannot write (issue 22, item 4): a full disk or a read-only database is a 503
ProblemDetails with Retry-After and a detail that says what happened and that nothing was
written, logged once (and once when it ends), reported by /health (503 "degraded", with the
reason), and over by itself when the space or the write access comes back, with no restart.

SQLite here: its page limit (``PRAGMA max_page_count``, SQLite's own SQLITE_FULL) on every
machine, and a real full file system (a small tmpfs) where this process may mount one.
PostgreSQL: tests/postgres/test_pg_unavailable.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.errors import StoreUnavailable
from cityhub.store.sqlite.store import SqliteStore
from tests.conftest import make_client

API = "/ngsi-ld/v1"
ROOT = Path(__file__).parent.parent.parent


def big(eid: str, kib: int = 64) -> dict[str, Any]:
    """An entity of about ``kib`` KiB (random hex: it does not compress)."""
    return {
        "id": eid,
        "type": "Sensor",
        "blob": {"type": "Property", "value": os.urandom(kib * 512).hex()},
    }


def small(eid: str) -> dict[str, Any]:
    return {"id": eid, "type": "Sensor", "level": {"type": "Property", "value": 1}}


def _writer(client: TestClient, sql: str) -> Any:
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal is not None
    return client.portal.call(store.run_write, lambda conn: conn.execute(sql).fetchone())


def assert_unavailable(response: Any, words: str) -> dict[str, Any]:
    """A 503 ProblemDetails with Retry-After whose detail says ``words`` and what was done."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == 503 and body["title"] == "Store unavailable"
    assert body["type"] == "https://uri.etsi.org/ngsi-ld/errors/InternalError"
    assert words in body["detail"] and "nothing of it was written" in body["detail"]
    assert "OperationalError" not in body["detail"]
    return body


def store_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The store's own lines (cityhub/store/availability.py: unavailable, available again),
    not the services' (the alert service's retry warning when its write met the outage)."""
    return [
        r
        for r in caplog.records
        if r.name == "cityhub" and Path(r.pathname).parts[-2:] == ("store", "availability.py")
    ]


def test_sqlite_full_is_503_logged_once_written_nowhere_and_over_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cityhub")
    with make_client(tmp_path) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        # the condition's clock stands still until space is back, so no success in between
        # (the checkpointer's, say) can end it early on a slow machine; then it moves past the
        # settle time (the settle rule itself is tested in test_availability)
        clock = [1000.0]
        store.availability.clock = lambda: clock[0]
        store.availability.probe_interval = 0
        assert client.post(f"{API}/entities", json=small("urn:a:kept")).status_code == 201
        pages = _writer(client, "PRAGMA page_count")[0]
        _writer(client, f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL at the next new page

        refused: list[str] = []
        for n in range(40):  # the first may still fit in free pages the database had
            eid = f"urn:a:big{n}"
            response = client.post(f"{API}/entities", json=big(eid))
            if refused or response.status_code != 201:  # once full, full
                assert_unavailable(response, "no disk space left")
                refused.append(eid)
            if len(refused) == 10:
                break
        assert len(refused) == 10
        # a batch whose last entity does not fit: all or nothing (none of them is stored)
        batch = [small("urn:a:s1"), small("urn:a:s2"), big("urn:a:big-in-batch", 256)]
        assert_unavailable(client.post(f"{API}/entityOperations/create", json=batch), "disk")
        # an update too
        assert_unavailable(
            client.patch(f"{API}/entities/urn:a:kept/attrs", json={"blob": big("x")["blob"]}),
            "disk",
        )
        for eid in (*refused, "urn:a:s1", "urn:a:s2", "urn:a:big-in-batch"):
            assert client.get(f"{API}/entities/{eid}").status_code == 404, eid
            assert client.get(f"{API}/temporal/entities/{eid}").status_code == 404, eid
        kept = client.get(f"{API}/entities/urn:a:kept").json()  # reads go on
        assert "blob" not in kept and kept["level"]["value"] == 1

        health = client.get("/health")
        assert health.status_code == 503 and int(health.headers["retry-after"]) > 0
        body = health.json()
        assert body["status"] == "degraded" and body["store"]["available"] is False
        assert "is full" in body["store"]["reason"] and "SQLITE_FULL" in body["store"]["reason"]
        assert client.get("/health/live").status_code == 200  # alive: a restart would not help

        lines = store_log(caplog)
        assert len(lines) == 1, [r.getMessage() for r in lines]  # 12 failures or more, 1 line
        assert "store unavailable" in lines[0].getMessage() and not lines[0].exc_info

        _writer(client, "PRAGMA max_page_count = 1073741823")  # space is back
        clock[0] += 3600
        health = client.get("/health")  # its probe writes, and the condition ends
        assert health.status_code == 200 and health.json()["status"] == "ok"
        lines = store_log(caplog)
        assert len(lines) == 2 and "available again" in lines[1].getMessage()
        assert client.post(f"{API}/entities", json=big(refused[0])).status_code == 201
        assert client.post(f"{API}/entityOperations/create", json=batch).status_code == 201
        assert len(store_log(caplog)) == 2


def test_a_write_alone_ends_the_condition(tmp_path: Path) -> None:
    """No /health needed: the first write that succeeds once space is back ends it."""
    with make_client(tmp_path) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        store.availability.settle = 0
        _writer(client, f"PRAGMA max_page_count = {_writer(client, 'PRAGMA page_count')[0]}")
        statuses = [client.post(f"{API}/entities", json=big(f"urn:a:{n}")) for n in range(8)]
        assert statuses[-1].status_code == 503  # once the free pages it had are used
        assert store.availability.fault is not None
        _writer(client, "PRAGMA max_page_count = 1073741823")
        assert client.post(f"{API}/entities", json=big("urn:a:7")).status_code == 201
        assert store.availability.fault is None
        assert client.get("/health").status_code == 200


def test_concurrent_writes_on_a_full_store_are_acknowledged_only_when_stored(
    tmp_path: Path,
) -> None:
    """Group commit: writes queued together share a transaction. One that does not fit must
    not take the others' acknowledgement with it, nor leave any of them half there: each write
    is either acknowledged and stored, or StoreUnavailable and absent."""

    async def run() -> None:
        store = SqliteStore(str(tmp_path / "g.db"), reader_threads=0)
        await store.start()
        try:
            pages = await store.run_write(
                lambda c: c.execute("PRAGMA page_count").fetchone()[0] + 40
            )
            await store.run_write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))

            def insert(eid: str, kib: int) -> Any:
                entity = {
                    "id": eid,
                    "type": ["T"],
                    "createdAt": "2026-01-01T00:00:00Z",
                    "modifiedAt": "2026-01-01T00:00:00Z",
                    "attrs": {"b": [{"type": "Property", "value": "x" * kib * 1024}]},
                }
                return lambda tx: tx.insert(entity)

            sizes = [1, 1, 300, 1, 2, 1, 500, 1] * 4
            outcomes = await asyncio.gather(
                *(store.write("", insert(f"urn:g:{i}", k)) for i, k in enumerate(sizes)),
                return_exceptions=True,
            )
            refused = [i for i, o in enumerate(outcomes) if isinstance(o, StoreUnavailable)]
            others = [o for o in outcomes if o is not None and not isinstance(o, StoreUnavailable)]
            assert refused and not others, others
            for i in range(len(sizes)):
                stored = await store.get_entity("", f"urn:g:{i}") is not None
                assert stored == (i not in refused), (i, sizes[i])
        finally:
            await store.close()

    asyncio.run(run())


# ---- a real full file system --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root and a system that lets this process mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


class FrozenClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_full_file_system_is_503_and_over_when_space_is_freed(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cityhub")
    filler = small_disk / "filler"
    with make_client(tmp_path, f"sqlite:///{small_disk / 'city.db'}") as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        clock = FrozenClock()  # the checkpointer's failures keep the condition while frozen
        store.availability.clock = clock
        store.availability.probe_interval = 0
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * (free - 600 * 1024))  # leave 600 KiB
        created: list[str] = []
        refused: list[str] = []
        for n in range(40):
            eid = f"urn:disk:{n}"
            response = client.post(f"{API}/entities", json=big(eid, 32))
            if response.status_code == 201:
                created.append(eid)
            else:
                assert_unavailable(response, "no disk space left")
                refused.append(eid)
        assert created and len(refused) >= 10
        assert created == [f"urn:disk:{n}" for n in range(len(created))]  # then all refused
        for eid in created:
            assert client.get(f"{API}/entities/{eid}").status_code == 200
        for eid in refused:
            assert client.get(f"{API}/entities/{eid}").status_code == 404
        health = client.get("/health")
        assert health.status_code == 503 and "is full" in health.json()["store"]["reason"]
        lines = store_log(caplog)
        assert len(lines) == 1 and not lines[0].exc_info, [r.getMessage() for r in lines]

        filler.unlink()  # the operator frees space
        _writer(client, "PRAGMA wal_checkpoint(TRUNCATE)")  # what the checkpointer does next
        clock.now += 60
        health = client.get("/health")
        assert health.status_code == 200, health.text
        assert client.post(f"{API}/entities", json=big(refused[0], 32)).status_code == 201
        assert len(store_log(caplog)) == 2 and "available again" in caplog.records[-1].getMessage()


# ---- a store that cannot open -------------------------------------------------------------


def _read_only_store(tmp_path: Path) -> str:
    path = tmp_path / "ro.db"
    sqlite3.connect(path).close()  # an empty database file, opened read-only below
    return f"sqlite:///file:{path}?mode=ro"


def test_a_read_only_database_at_start_up_is_one_sentence(tmp_path: Path) -> None:
    client = make_client(tmp_path, _read_only_store(tmp_path))
    with pytest.raises(StoreUnavailable) as caught:
        client.__enter__()
    sentence = caught.value.detail
    assert sentence.startswith("cannot open the SQLite store") and "read-only" in sentence
    assert "\n" not in sentence


def _serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "cityhub", "serve", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cityhub_serve_on_a_read_only_database_prints_one_sentence(tmp_path: Path) -> None:
    done = _serve("--store", _read_only_store(tmp_path), "--port", "18310", cwd=tmp_path)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr and "sqlite3.OperationalError" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "cannot open the SQLite store" in line]
    assert len(errors) == 1 and "read-only" in errors[0], done.stderr
    done = _serve("--store", _read_only_store(tmp_path), "--get", "/health", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: cannot open the SQLite store"), done.stderr


def test_cityhub_serve_on_a_read_only_file_system_prints_one_sentence(
    small_disk: Path, tmp_path: Path
) -> None:
    db = small_disk / "city.db"
    assert _serve("--db", str(db), "--get", "/health", cwd=tmp_path).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    done = _serve("--db", str(db), "--port", "18311", cwd=tmp_path)
    assert done.returncode == 3 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "cannot open the SQLite store" in line]
    assert len(errors) == 1 and "cannot be written" in errors[0], done.stderr
