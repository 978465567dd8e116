"""Versioned schema migrations for the PostgreSQL store.

Each migration is one file ``migrations/NNNN_name.sql``; ``NNNN`` is its version. :func:`migrate`
applies, in one transaction, every migration the database has not recorded in
``cityhub_migrations`` yet, in version order, holding an advisory lock, so that several workers
starting at the same time apply each migration exactly once and the others wait for it. A
migration is never edited once released: a change of schema is a new file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: pg_advisory_xact_lock key: "cityhub" in ASCII, so it is recognisable in pg_locks
LOCK_KEY = 0x63697479687562


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with this version of cityhub, in version order."""
    found: list[Migration] = []
    for entry in resources.files("cityhub.store.postgres.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
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
        RuntimeError: the database has a version this cityhub does not know (it was migrated
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
        unknown = done - {m.version for m in known}
        if unknown:
            raise RuntimeError(
                f"the database has schema version(s) {sorted(unknown)} that this cityhub does "
                "not know: it was migrated by a newer cityhub"
            )
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
    "applied_versions",
    "migrate",
    "migrations",
    "run_migrations",
]
