"""A database written by the last release without numbered SQLite migrations (cityhub d99cb2b;
``release_db/make.py`` built it with that release, through its HTTP API) opens with today's code,
is recorded at the baseline without rebuilding anything, and answers as that release did:
entities, q (value index and scan), scopeQ, geo-queries, types, attributes, temporal history
(instances, temporalValues, lastN, aggregation, a deleted entity), subscriptions, registrations,
registration subscriptions, a second tenant; the notifications it had queued are still queued.

When an answer changes on purpose (a rendering fixed, a member added), update that answer in
``release_db/d99cb2b.json``: the data did not change, the reading of it did."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cityhub.store.outbox import OutboxRow
from cityhub.store.sqlite import legacy, migrate
from cityhub.store.sqlite.store import SqliteStore
from tests.conftest import make_client

HERE = Path(__file__).resolve().parent / "release_db"
RELEASED = HERE / "d99cb2b.db"
RECORDED: dict[str, Any] = json.loads((HERE / "d99cb2b.json").read_text(encoding="utf-8"))
OUTBOX = (
    "SELECT id, tenant, subscription_id, payload, due_at, attempts, created_at FROM outbox"
    " ORDER BY id"
)


#: lists whose ``id`` is minted afresh for every response (clause 5.7.5, 5.7.8)
_MINTED = ("EntityTypeList", "AttributeList")


def stable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with a minted list id replaced by its type."""
    body = answer["body"]
    if isinstance(body, dict) and body.get("type") in _MINTED:
        answer = {**answer, "body": {**body, "id": f"urn:ngsi-ld:{body['type']}:(minted)"}}
    return answer


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    shutil.copyfile(RELEASED, path)
    return path


def derived_rows(conn: sqlite3.Connection) -> list[list[tuple[Any, ...]]]:
    return [
        conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        for table in ("geo_rtree", "geo_shapes", "geo_keys", "geo_types", "q_index")
    ]


def test_the_fixture_is_as_the_release_left_it() -> None:
    assert RELEASED.stat().st_size < 200_000
    conn = read_only(RELEASED)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "cityhub_migrations" not in names and "entities" in names
    assert dict(conn.execute("SELECT key, value FROM meta")) == {"geo_index": "6", "q_index": "4"}
    assert conn.execute("SELECT count(*) FROM attribute_instances").fetchone()[0] > 5
    assert len(RECORDED["outbox"]) >= 1 and len(RECORDED["answers"]) >= 30


def test_it_answers_as_the_release_did(copy: Path) -> None:
    differences = []
    with make_client(copy.parent, f"sqlite:///{copy}") as client:
        for recorded in RECORDED["answers"]:
            response = client.get(recorded["path"], headers=recorded["headers"])
            is_json = "json" in response.headers.get("content-type", "")
            now = {
                "path": recorded["path"],
                "headers": recorded["headers"],
                "status": response.status_code,
                "response_headers": {
                    h: response.headers[h]
                    for h in recorded["response_headers"].keys()
                    | {"ngsild-results-count", "content-range"}
                    if h in response.headers
                },
                "body": response.json() if is_json else response.text,
            }
            if stable(now) != stable(recorded):
                differences.append((recorded, now))
    assert differences == []


def test_it_is_marked_at_the_baseline_and_nothing_is_rebuilt(copy: Path) -> None:
    before = derived_rows(read_only(RELEASED))
    with make_client(copy.parent, f"sqlite:///{copy}"):
        pass
    conn = sqlite3.connect(copy)
    assert [v for (v,) in conn.execute("SELECT version FROM cityhub_migrations ORDER BY 1")] == [
        m.version for m in migrate.migrations()
    ]
    assert legacy.BASELINE == 7
    assert derived_rows(conn) == before
    # the notifications the release queued are still there, as it left them
    assert [list(r) for r in conn.execute(OUTBOX)] == RECORDED["outbox"]


def test_its_schema_is_what_the_migrations_create(copy: Path, tmp_path: Path) -> None:
    """0001-0007 are the release's schema, statement for statement."""
    with make_client(copy.parent, f"sqlite:///{copy}"):
        pass
    fresh = tmp_path / "fresh.db"
    migrate.migrate(sqlite3.connect(fresh, isolation_level=None))
    query = (
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name != 'meta' ORDER BY name"
    )
    assert sqlite3.connect(copy).execute(query).fetchall() == (
        sqlite3.connect(fresh).execute(query).fetchall()
    )


def test_its_queued_notifications_are_delivered_by_today_s_dispatcher(copy: Path) -> None:
    """The rows the release queued are read by today's outbox (claimed once due)."""
    from cityhub.store.sqlite.outbox import SqliteOutbox

    with make_client(copy.parent, f"sqlite:///{copy}"):
        pass

    async def claim() -> list[OutboxRow]:
        store = SqliteStore(str(copy))
        await store.start()
        try:
            return await SqliteOutbox(store).claim(now=4102444800.0, limit=10, lease=60.0)
        finally:
            await store.close()

    claimed = asyncio.run(claim())
    assert [(r.tenant, r.subscription_id) for r in claimed] == [
        (row[1], row[2]) for row in RECORDED["outbox"]
    ]
    assert [r.payload for r in claimed] == [json.loads(row[3]) for row in RECORDED["outbox"]]


def test_cityhub_migrate_brings_it_to_the_baseline_and_says_so(copy: Path) -> None:
    from click.testing import CliRunner

    from cityhub.cli import cli

    result = CliRunner().invoke(cli, ["migrate", "--store", f"sqlite:///{copy}"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        *(f"applied {m.version:04d} {m.name}" for m in migrate.migrations()),
        f"schema version {migrate.migrations()[-1].version}",
    ]
    again = CliRunner().invoke(cli, ["migrate", "--store", f"sqlite:///{copy}"])
    assert again.output.endswith("(already current)\n")
