"""Versioned schema migrations for the PostgreSQL store.

Each migration is one file ``migrations/NNNN_name.sql``; ``NNNN`` is its version (found by
:func:`cityhub.store.migrations.find_migrations`, as SQLite's are). :func:`migrate`
applies, in one transaction, every migration the database has not recorded in
``cityhub_migrations`` yet, in version order, holding an advisory lock, so that several workers
starting at the same time apply each migration exactly once and the others wait for it. A
migration is never edited once released: a change of schema is a new file.
"""

from __future__ import annotations

from typing import Any

from cityhub.store.migrations import Migration, SchemaTooNew, find_migrations, refuse_unknown

#: pg_advisory_xact_lock key: "cityhub" in ASCII, so it is recognisable in pg_locks
LOCK_KEY = 0x63697479687562


def migrations() -> list[Migration]:
    """Every migration shipped with this version of cityhub, in version order (SQL only: a
    step in Python would need the backend's async connection)."""
    found = list(find_migrations("cityhub.store.postgres.migrations"))
    for migration in found:
        if migration.sql is None:
            raise RuntimeError(f"PostgreSQL migration {migration.version:04d} is not SQL")
    return found


async def applied_versions(conn: Any) -> list[int]:
    """The versions recorded in the database (empty for a new database)."""
    exists = await conn.fetchval("SELECT to_regclass('cityhub_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch("SELECT version FROM cityhub_migrations ORDER BY version")
    return [int(r[0]) for r in rows]


async def migrate(conn: Any) -> list[Migration]:
    """Bring the database on ``conn`` (an asyncpg connection) up to date.

    Returns:
        The migrations applied now (empty when the schema was current).

    Raises:
        SchemaTooNew: the database has a version this cityhub does not know (it was migrated
            by a newer cityhub); nothing is changed.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS cityhub_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = set(await applied_versions(conn))
        known = migrations()
        if not done <= {m.version for m in known}:
            where = await conn.fetchval(
                "SELECT format('the PostgreSQL database %s (schema %s)', current_database(),"
                " current_schema())"
            )
            refuse_unknown(done, known, str(where))
        applied: list[Migration] = []
        for migration in known:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO cityhub_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration)
        return applied


async def run_migrations(url: str) -> tuple[list[Migration], int]:
    """Connect to ``url`` and :func:`migrate`; returns what was applied and the version now."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        applied = await migrate(conn)
        return applied, max(await applied_versions(conn), default=0)
    finally:
        await conn.close()


__all__ = [
    "LOCK_KEY",
    "Migration",
    "SchemaTooNew",
    "applied_versions",
    "migrate",
    "migrations",
    "run_migrations",
]
