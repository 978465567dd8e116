"""A PostgreSQL database as a release left it, for the upgrade tests: the release's schema (the
migrations it had) and the rows it wrote, as ``history_db/make.py`` recorded them."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from cityhub.store.postgres.migrate import migrations


async def _load(url: str, tables: dict[str, str], upto: int, quiet_triggers: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for migration in migrations():
            if migration.version <= upto:
                await conn.execute(migration.sql)
        await conn.execute(
            "CREATE TABLE cityhub_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        if quiet_triggers:
            await conn.execute("SET session_replication_role = replica")  # no trigger fires
        for name, text in tables.items():
            await conn.execute(f'DELETE FROM "{name}"')  # rows the migrations seeded
            await conn.copy_to_table(name, source=io.BytesIO(text.encode()), format="text")
        if quiet_triggers:
            await conn.execute("SET session_replication_role = DEFAULT")
        for table, column in await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f' max("{column}")) FROM "{table}" HAVING max("{column}") IS NOT NULL'
            )
    finally:
        await conn.close()


def load_release(
    url: str, tables: dict[str, str], upto: int, *, quiet_triggers: bool = False
) -> None:
    """The schema of migrations 1..``upto`` and ``tables`` (name -> rows in COPY text form) in
    place of what the migrations seeded, identity sequences past the rows. ``quiet_triggers``:
    the rows go in with no trigger firing (rows whose rollups are recorded with them)."""
    asyncio.run(_load(url, tables, upto, quiet_triggers))


def sql(url: str, query: str, *args: Any) -> list[Any]:
    """The rows of one query, on a connection of its own."""
    import asyncpg

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())
