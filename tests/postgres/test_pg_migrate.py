"""The PostgreSQL store's numbered migrations, held to what SQLite's are
(tests/store/test_sqlite_migrations.py): a new database gets every one, in order; migrating
again applies none; a database migrated by a newer cityhub is refused untouched, in one
sentence; a failing migration leaves the database as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from cityhub.store.migrations import Migration, SchemaTooNew
from cityhub.store.postgres import migrate

T = TypeVar("T")


def on(url: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


async def tables(conn: Any) -> list[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() ORDER BY 1"
    )
    return [r[0] for r in rows]


async def recorded(conn: Any) -> list[tuple[int, str]]:
    rows = await conn.fetch("SELECT version, name FROM cityhub_migrations ORDER BY version")
    return [(r[0], r[1]) for r in rows]


def test_a_new_database_gets_every_migration_then_none(postgres_url: str) -> None:
    known = migrate.migrations()
    assert [m.version for m in known] == list(range(1, len(known) + 1))
    applied = on(postgres_url, migrate.migrate)
    assert [m.version for m in applied] == [m.version for m in known]
    assert on(postgres_url, recorded) == [(m.version, m.name) for m in known]
    before = on(postgres_url, tables)
    assert {"entities", "outbox", "attribute_instances", "csource_registrations"} <= set(before)
    assert on(postgres_url, migrate.migrate) == []
    assert on(postgres_url, tables) == before


def test_a_database_from_a_newer_cityhub_is_refused_untouched(postgres_url: str) -> None:
    on(postgres_url, migrate.migrate)
    newest = migrate.migrations()[-1].version

    async def from_the_future(conn: Any) -> None:
        await conn.execute(
            "INSERT INTO cityhub_migrations (version, name) VALUES ($1, 'from_the_future')",
            newest + 1,
        )

    on(postgres_url, from_the_future)
    before = on(postgres_url, recorded), on(postgres_url, tables)
    with pytest.raises(SchemaTooNew) as caught:
        on(postgres_url, migrate.migrate)
    schema = postgres_url.rsplit("search_path=", 1)[1].split(",")[0]
    assert str(caught.value).startswith("the PostgreSQL database ")
    assert str(caught.value).endswith(
        f" (schema {schema}) has schema version {newest + 1}, newer than this cityhub knows "
        f"({newest}): it was written by a newer cityhub, so open it with that one (nothing was "
        "changed)"
    )
    assert (on(postgres_url, recorded), on(postgres_url, tables)) == before


def test_a_failing_migration_leaves_the_database_as_it_was(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    on(postgres_url, migrate.migrate)
    before = on(postgres_url, recorded), on(postgres_url, tables)
    known = migrate.migrations()
    boom = Migration(
        known[-1].version + 1,
        "boom",
        sql="CREATE TABLE half_done (x integer); INSERT INTO tenants VALUES ('t', 't');"
        " SELECT 1 / 0;",
    )
    monkeypatch.setattr(migrate, "migrations", lambda: [*known, boom])
    with pytest.raises(Exception, match="division by zero"):
        on(postgres_url, migrate.migrate)
    assert (on(postgres_url, recorded), on(postgres_url, tables)) == before

    async def tenants(conn: Any) -> int:
        return int(await conn.fetchval("SELECT count(*) FROM tenants"))

    assert on(postgres_url, tenants) == 0


def test_items_queued_before_the_merge_count_are_counted_as_merged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0021 (``service_work.merged``), as on SQLite: an item a hub of schema 20 queued may
    have been merged (nothing counted it), so it is counted as merged; later items start at 0."""
    known = migrate.migrations()
    monkeypatch.setattr(migrate, "migrations", lambda: [m for m in known if m.version <= 20])
    on(postgres_url, migrate.migrate)
    insert = (
        "INSERT INTO service_work (service, tenant, item_key, payload, due_at, enqueued_at)"
        " VALUES ('alerts', '', $1, '{}'::jsonb, 1, 1)"
    )

    def queue(key: str) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(insert, key)

        on(postgres_url, run)

    queue("urn:a")
    monkeypatch.setattr(migrate, "migrations", lambda: known)
    assert [m.version for m in on(postgres_url, migrate.migrate)] == [
        m.version for m in known if m.version > 20
    ]
    queue("urn:b")

    async def merged(conn: Any) -> list[tuple[str, int]]:
        rows = await conn.fetch("SELECT item_key, merged FROM service_work ORDER BY id")
        return [(r[0], r[1]) for r in rows]

    assert on(postgres_url, merged) == [("urn:a", 1), ("urn:b", 0)]
