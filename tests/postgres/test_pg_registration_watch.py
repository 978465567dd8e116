"""Registrations created by another worker, heard (issue 21, item 3: a retrieve was two round
trips on PostgreSQL, the second asking whether any context source registration was relevant,
ETSI GS CIM 009 v1.9.1 clause 5.12): a worker keeps which tenants hold no registration, as on
SQLite, while it hears the others' creations; a creation on one worker counts on another once
its notification arrives; while the worker does not hear, it asks the database every time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from cityhub.ngsild.registration_query import RegistrationQuery
from tests.store.contract.conftest import Backend

T = "city1"
EX = "https://ex.org/"
QUERY = RegistrationQuery(types=(EX + "Sensor",))


def _registration(n: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:ContextSourceRegistration:{n}",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": EX + "Sensor"}]}],
        "endpoint": "http://127.0.0.1:18690",
    }


@pytest.fixture
def workers(postgres_url: str) -> Iterator[tuple[Backend, Backend]]:
    """Two workers' backends on one database (each its own pool and listening connection)."""
    a = Backend(postgres_url)
    try:
        b = Backend(postgres_url)
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement about registrations sent (asyncpg's calls, one round trip each; the
    backends' background work, such as history pruning, is not counted)."""
    from asyncpg import connection

    sent: list[str] = []
    for name in ("fetch", "fetchrow", "fetchval", "execute"):
        original = getattr(connection.Connection, name)

        def counted(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            if "csource_registrations" in str(query):
                sent.append(" ".join(str(query).split()))
            return _original(self, query, *args, **kw)

        monkeypatch.setattr(connection.Connection, name, counted)
    return sent


def _found(b: Backend) -> list[str]:
    docs, _ = b.run(b.registrations.query_registrations(T, QUERY, limit=10, offset=0))
    return [d["id"] for d in docs]


def _until(b: Backend, done: Callable[[], Awaitable[bool]]) -> None:
    """Run ``b``'s event loop (its listening connection) until ``await done()``, at most
    30 s."""

    async def wait() -> None:
        async with asyncio.timeout(30):
            while not await done():
                await asyncio.sleep(0.01)

    b.run(wait())


def _sees(b: Backend, ids: list[str]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        docs, _ = await b.registrations.query_registrations(T, QUERY, limit=10, offset=0)
        return [d["id"] for d in docs] == ids

    return check


def test_a_tenant_without_registrations_is_not_asked_again(
    workers: tuple[Backend, Backend], statements: list[str]
) -> None:
    _, b = workers
    assert b.backend.store.registration_watch.live  # type: ignore[attr-defined]
    assert _found(b) == []
    statements.clear()
    assert _found(b) == [] and _found(b) == []
    assert statements == []


def test_another_workers_creation_counts_once_heard(
    workers: tuple[Backend, Backend], statements: list[str]
) -> None:
    a, b = workers
    assert _found(a) == [] and _found(b) == []  # both keep "none" now
    reg = _registration(1)
    a.run(a.registrations.create_registration(T, reg))
    assert _found(a) == [reg["id"]]  # its own creation: at once
    _until(b, _sees(b, [reg["id"]]))  # the other's: when the notification arrives
    statements.clear()
    assert _found(b) == [reg["id"]]
    assert statements, "a tenant holding registrations is asked every time"


def test_while_not_hearing_every_query_reads(
    workers: tuple[Backend, Backend],
    postgres_url: str,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The listening connection lost (its server process ended) and not back yet: nothing is
    kept, so a creation made meanwhile is found at once; listening again, keeping starts
    over."""
    import asyncpg

    from cityhub.store.postgres import registration_watch

    a, b = workers
    watch = b.backend.store.registration_watch  # type: ignore[attr-defined]
    assert _found(b) == []
    monkeypatch.setattr(registration_watch, "RETRY", (0.05,))
    connect = watch._connect

    async def refused(*args: Any, **kw: Any) -> Any:
        raise OSError("the database is not reachable")

    watch._connect = refused

    async def end_listener() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute("SELECT pg_terminate_backend($1)", watch._conn.get_server_pid())
        finally:
            await conn.close()

    async def lost() -> bool:
        return not watch.live

    b.run(end_listener())
    _until(b, lost)
    reg = _registration(3)
    a.run(a.registrations.create_registration(T, reg))
    assert _found(b) == [reg["id"]]  # read, not kept
    watch._connect = connect

    async def back() -> bool:
        return bool(watch.live)

    _until(b, back)
    assert _found(b) == [reg["id"]]
    other = "city3"
    assert _found_in(b, other) == []
    statements.clear()
    assert _found_in(b, other) == []
    assert statements == []


def _found_in(b: Backend, tenant: str) -> list[str]:
    docs, _ = b.run(b.registrations.query_registrations(tenant, QUERY, limit=10, offset=0))
    return [d["id"] for d in docs]
