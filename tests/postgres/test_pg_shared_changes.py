"""The commits of every process sharing one PostgreSQL store (``Store.add_shared_listener``,
cityhub/store/postgres/changes.py: NOTIFY in the write's transaction, LISTEN in each process):
another store on the database hears a committed write with the entity's id, kind, types and
scopes, never a rolled-back one; its own commits once, with the entity; a transaction too large
to name is "the tenant changed"; a hub in another schema hears nothing; a lost listening
connection comes back and says "anything may have changed"."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cityhub.store.base import Change, Transaction
from cityhub.store.postgres import changes as shared
from cityhub.store.postgres.store import PostgresStore
from tests.postgres import server

TYPE = "https://uri.etsi.org/ngsi-ld/default-context/AirQualityObserved"
Heard = list[tuple[str | None, list[Change] | None]]


def _entity(n: int, scope: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"urn:ngsi-ld:AirQualityObserved:{n}",
        "type": [TYPE],
        "createdAt": "2026-12-07T00:00:00Z",
        "modifiedAt": "2026-12-07T00:00:00Z",
        "attrs": {"https://example.org/pm25": [{"type": "Property", "value": n}]},
    }
    if scope is not None:
        out["scope"] = [scope]
    return out


async def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not heard in time"
        await asyncio.sleep(0.02)


def _run(postgres_url: str, body: Callable[[PostgresStore, PostgresStore, Heard, Heard],
                                          Awaitable[None]]) -> None:  # fmt: skip
    async def main() -> None:
        a, b = PostgresStore(postgres_url), PostgresStore(postgres_url)
        heard_a: Heard = []
        heard_b: Heard = []
        a.add_shared_listener(lambda t, c: heard_a.append((t, c)))
        b.add_shared_listener(lambda t, c: heard_b.append((t, c)))
        await a.start()
        await b.start()
        try:
            await body(a, b, heard_a, heard_b)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_another_process_hears_a_committed_write_and_never_a_rolled_back_one(
    postgres_url: str,
) -> None:
    async def body(a: PostgresStore, b: PostgresStore, heard_a: Heard, heard_b: Heard) -> None:
        await a.write("city", lambda tx: tx.insert(_entity(1, "/gu/bundang")))
        await _until(lambda: len(heard_b) == 1)
        tenant, changes = heard_b[0]
        assert tenant == "city" and changes is not None
        (change,) = changes
        assert (change.kind, change.tenant, change.entity_id) == (
            "entityCreated",
            "city",
            "urn:ngsi-ld:AirQualityObserved:1",
        )
        # enough to tell who may read it, not the attributes
        assert change.after == {
            "id": "urn:ngsi-ld:AirQualityObserved:1",
            "type": [TYPE],
            "scope": ["/gu/bundang"],
        }
        # its own commit once, with the whole entity (not again from the notification)
        assert len(heard_a) == 1 and heard_a[0][1] is not None
        assert heard_a[0][1][0].after is not None and "attrs" in heard_a[0][1][0].after

        def failing(tx: Transaction) -> None:
            tx.insert(_entity(2))
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await a.write("city", failing)
        await b.write("city", lambda tx: tx.delete("urn:ngsi-ld:AirQualityObserved:1"))
        await _until(lambda: len(heard_a) == 2)
        assert heard_a[1][1] is not None
        assert [(c.kind, c.entity_id, c.before) for c in heard_a[1][1]] == [
            (
                "entityDeleted",
                "urn:ngsi-ld:AirQualityObserved:1",
                {
                    "id": "urn:ngsi-ld:AirQualityObserved:1",
                    "type": [TYPE],
                    "scope": ["/gu/bundang"],
                },
            )
        ]
        await asyncio.sleep(0.3)
        assert len(heard_b) == 2  # the creation and b's own delete: nothing of the rollback

    _run(postgres_url, body)


def test_a_transaction_too_large_to_name_is_heard_as_the_tenant_changed(postgres_url: str) -> None:
    async def body(a: PostgresStore, b: PostgresStore, heard_a: Heard, heard_b: Heard) -> None:
        def many(tx: Transaction) -> None:
            for n in range(3000):
                tx.insert(_entity(n))

        await a.write("city", many)
        await _until(lambda: len(heard_b) == 1)
        assert heard_b == [("city", None)]
        await a.write("city", lambda tx: tx.insert(_entity(5000)))  # and then names again
        await _until(lambda: len(heard_b) == 2)
        assert heard_b[1][1] is not None and heard_b[1][1][0].entity_id.endswith(":5000")

    _run(postgres_url, body)


def test_the_payloads_stay_under_postgresqls_limit() -> None:
    changes = [
        Change("entityUpdated", "t", f"urn:ngsi-ld:X:{n:05d}", None, _entity(n, "/a/b"))
        for n in range(300)
    ]
    out = shared.payloads("o", "t", changes)
    assert 1 < len(out) <= shared.MAX_NOTIFIES
    assert all(len(p.encode()) <= shared.MAX_PAYLOAD for p in out)
    decoded = [shared.decode(p, "another") for p in out]
    ids = [c.entity_id for d in decoded if d is not None for c in d[1] or []]
    assert ids == [c.entity_id for c in changes]  # all of them, in order
    assert shared.decode(out[0], "o") is None  # our own
    assert shared.decode("not json", "x") is None and shared.decode('{"o": 1}', "x") is None
    huge = Change("entityCreated", "t", "urn:" + "x" * 9000, None, {"type": ["T"]})
    assert shared.payloads("o", "t", [huge]) == ['{"o":"o","t":"t","all":true}']


def test_another_schema_hears_nothing_and_a_lost_listener_comes_back(
    postgres_server: str, postgres_url: str
) -> None:
    async def body(a: PostgresStore, b: PostgresStore, heard_a: Heard, heard_b: Heard) -> None:
        other = PostgresStore(other_url)
        heard_other: Heard = []
        other.add_shared_listener(lambda t, c: heard_other.append((t, c)))
        await other.start()
        try:
            await a.write("city", lambda tx: tx.insert(_entity(1)))
            await _until(lambda: len(heard_b) == 1)
            await asyncio.sleep(0.3)
            assert heard_other == []
        finally:
            await other.close()

        # the database ends b's listening connection (a restart, a failover, an admin)
        assert b.shared_changes is not None
        pid = b.shared_changes._conn.get_server_pid()
        await a.fetch("SELECT pg_terminate_backend($1)", pid)
        await _until(lambda: (None, None) in heard_b)  # back, and unsure what it missed
        await a.write("city", lambda tx: tx.insert(_entity(2)))
        await _until(lambda: len(heard_b) >= 3 and heard_b[-1][1] is not None)
        last = heard_b[-1][1]
        assert last is not None and last[0].entity_id.endswith(":2")

    other_schema = f"cityhub_test_other_{os.getpid()}"
    with server.throwaway_schema(postgres_server, other_schema) as other_url:
        _run(postgres_url, body)
