"""Access control's cost on the request path (issue 20 "Speed") without weakening it: a
worker does not read the access version while its store says nothing was committed (SQLite:
the WAL-index header, ``cityhub.store.sqlite.commits``), keeps each caller's decision until
its copy of the permissions changes or its credentials end, and still refuses a key revoked
by another process on the very next request."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from starlette.testclient import TestClient

from cityhub.cli import cli
from cityhub.store.sqlite.commits import CommitWatch
from tests.access.helpers import bearer, key_id, make_key
from tests.conftest import make_client

ENTITIES = "/ngsi-ld/v1/entities"


def _count_version_reads(client: TestClient) -> list[int]:
    control = client.app.state.access  # type: ignore[attr-defined]
    store = control.store
    read = store.version
    calls = [0]

    async def counted() -> int:
        calls[0] += 1
        result: int = await read()
        return result

    store.version = counted
    return calls


def test_the_version_is_read_only_after_a_commit(tmp_path: Path, store_url: str) -> None:
    # the alert engine commits its own work after a write, in the background: a commit of its
    # between the two reads below rightly makes the second read the version too (it failed so
    # in about 1 run of 3 once the engine read its batch's states first); only the test's own
    # commits may move the store here
    with make_client(tmp_path, store_url, alerts_service=False) as client:
        admin = bearer(make_key(client, name="ops", admin=True))
        assert client.get(f"{ENTITIES}?type=X", headers=admin).status_code == 200
        calls = _count_version_reads(client)
        for _ in range(5):
            assert client.get(f"{ENTITIES}?type=X", headers=admin).status_code == 200
        if store_url.startswith("sqlite"):
            assert calls[0] == 0  # nothing committed: the WAL-index header did not move
            entity = {"id": "urn:ngsi-ld:X:1", "type": "X"}
            assert client.post(ENTITIES, json=entity, headers=admin).status_code == 201
            before = calls[0]
            assert client.get(f"{ENTITIES}?type=X", headers=admin).status_code == 200
            assert calls[0] == before + 1  # a commit: read once, then not again
            assert client.get(f"{ENTITIES}?type=X", headers=admin).status_code == 200
            assert calls[0] == before + 1
        else:  # other machines commit to PostgreSQL: every request reads it
            assert calls[0] == 5


def test_a_key_revoked_by_another_process_is_refused_at_once(tmp_path: Path) -> None:
    """The CLI revokes with connections of its own, as another process does; the hub had
    skipped the version read on the requests before."""
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with make_client(tmp_path, store) as client:
        admin = bearer(make_key(client, name="ops", admin=True))
        user = make_key(client, admin, name="user", admin=True)
        for _ in range(3):
            assert client.get(f"{ENTITIES}?type=X", headers=bearer(user)).status_code == 200
        revoked = CliRunner().invoke(cli, ["keys", "revoke", key_id(user), "--store", store])
        assert revoked.exit_code == 0, revoked.output
        after = client.get(f"{ENTITIES}?type=X", headers=bearer(user))
        assert after.status_code == 401 and "revoked" in after.json()["detail"]
        assert client.get(f"{ENTITIES}?type=X", headers=admin).status_code == 200


def test_a_remembered_key_still_ends_when_it_expires(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    key = make_key(client, admin, name="soon", admin=True, expiresAt="2030-01-01T00:00:00Z")
    assert client.get(f"{ENTITIES}?type=X", headers=bearer(key)).status_code == 200
    control: Any = client.app.state.access  # type: ignore[attr-defined]
    control.wall = lambda: 1893456000.0  # 2030-01-01T00:00:00Z
    response = client.get(f"{ENTITIES}?type=X", headers=bearer(key))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert client.get(f"{ENTITIES}?type=X", headers=admin).status_code == 200


def test_the_commit_marker_moves_with_every_commit_of_any_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    one = sqlite3.connect(path, isolation_level=None)
    one.execute("PRAGMA journal_mode=WAL")
    one.execute("CREATE TABLE t (x)")
    watch = CommitWatch(path)
    seen = {watch.marker()}
    assert None not in seen
    other = sqlite3.connect(path, isolation_level=None)
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert watch.marker() in seen  # a read commits nothing
    for i in range(3):
        other.execute("INSERT INTO t VALUES (?)", (i,))
        marker = watch.marker()
        assert marker not in seen
        seen.add(marker)
        one.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a reset of the WAL moves it too
        marker = watch.marker()
        assert marker not in seen
        seen.add(marker)
    watch.close()
    other.close()
    one.close()
    assert CommitWatch(str(tmp_path / "none.db")).marker() is None
