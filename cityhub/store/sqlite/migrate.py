"""Numbered schema migrations for the SQLite store, applied when it opens.

Each migration is one file in ``cityhub/store/sqlite/migrations``: ``NNNN_name.sql`` (its
statements, run in order) or ``NNNN_name.py`` (a module whose ``apply(conn)`` does what SQL alone
cannot, such as filling a new derived index from the stored entities); ``NNNN`` is its version
(found by :func:`cityhub.store.migrations.find_migrations`, as PostgreSQL's are).
:func:`migrate` applies every migration the database has not recorded in ``cityhub_migrations``
yet, in version order, in ONE ``BEGIN IMMEDIATE`` transaction: if one fails, the database is left
as it was. A database recording a version this cityhub does not know was written by a newer
cityhub and is refused before anything is changed.

The applied versions are rows of a table (version, name, time applied), as on PostgreSQL, rather
than ``PRAGMA user_version``: an operator can read what ran and when, and a gap is visible.

A database written before numbered migrations existed has tables but no ``cityhub_migrations``:
:mod:`cityhub.store.sqlite.legacy` brings it to the baseline (versions 0001-0007) and records
those as applied, in the same transaction; later migrations then apply as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from cityhub.ngsild.datetime import now_iso
from cityhub.store.migrations import Migration, SchemaTooNew, find_migrations, refuse_unknown
from cityhub.store.sqlite import legacy

PACKAGE = "cityhub.store.sqlite.migrations"
_TABLE = (
    "CREATE TABLE IF NOT EXISTS cityhub_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time (``executescript`` would commit the
    migration's transaction first). A ``;`` inside a string, a comment or a trigger's body
    does not end a statement (``sqlite3.complete_statement`` decides)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""
    rest = pending[:-1]  # the ';' added after the last piece
    if rest.strip():
        yield rest  # comments, or a statement missing its ';' (SQLite says if it is incomplete)


def run(migration: Migration, conn: sqlite3.Connection) -> None:
    """Apply one migration on ``conn``, inside the caller's transaction."""
    if migration.apply is not None:
        migration.apply(conn)
    for statement in statements(migration.sql or ""):
        conn.execute(statement)


def migrations(package: str = PACKAGE) -> tuple[Migration, ...]:
    """Every migration of the SQLite store (or of ``package``), in version order."""
    return find_migrations(package)


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    """The versions the database records (empty for a new one or one written before numbered
    migrations)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cityhub_migrations'"
    ).fetchone()
    if exists is None:
        return set()
    return {int(r[0]) for r in conn.execute("SELECT version FROM cityhub_migrations")}


def _refuse_unknown(conn: sqlite3.Connection, done: set[int], known: tuple[Migration, ...]) -> None:
    path = conn.execute("PRAGMA database_list").fetchone()[2] or "the in-memory database"
    refuse_unknown(done, known, path)


def _record(conn: sqlite3.Connection, done: list[Migration]) -> None:
    now = now_iso()
    conn.executemany(
        "INSERT INTO cityhub_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        [(m.version, m.name, now) for m in done],
    )


def migrate(
    conn: sqlite3.Connection, known: tuple[Migration, ...] | None = None
) -> list[Migration]:
    """Bring the database on ``conn`` (outside any transaction) up to date.

    Args:
        conn: the store's writer connection, in autocommit mode.
        known: the migrations to apply (by default :func:`migrations`; tests pass others).

    Returns:
        The migrations applied now, in order (empty when the schema was current); for a
        database from before numbered migrations, first the baseline it was brought to.

    Raises:
        SchemaTooNew: the database was migrated by a newer cityhub; nothing is changed.
    """
    known = migrations() if known is None else known
    done = applied_versions(conn)
    _refuse_unknown(conn, done, known)
    if all(m.version in done for m in known):
        return []  # the usual start: two reads, no write (a read-only copy opens too)
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = applied_versions(conn)  # as of the lock: another process may have migrated it
        _refuse_unknown(conn, done, known)
        conn.execute(_TABLE)
        applied: list[Migration] = []
        if not done and legacy.is_legacy(conn):
            applied = legacy.adopt(conn, [m for m in known if m.version <= legacy.BASELINE], run)
            _record(conn, applied)
            done = {m.version for m in applied}
        for migration in known:
            if migration.version in done:
                continue
            run(migration, conn)
            if not conn.in_transaction:  # e.g. executescript: earlier steps are committed
                raise RuntimeError(
                    f"migration {migration.version:04d}_{migration.name} ended the transaction"
                )
            _record(conn, [migration])
            applied.append(migration)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return applied


def migrate_file(path: str) -> tuple[list[Migration], int]:
    """``cityhub migrate`` on a SQLite store: bring the file at ``path`` up to date (as the
    store does when it opens; a file that does not exist is created).

    Returns:
        The migrations applied now, and the schema version after them.

    Raises:
        SchemaTooNew: the file was migrated by a newer cityhub; nothing is changed.
        sqlite3.Error: the file cannot be opened or written.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        applied = migrate(conn)
        return applied, max(applied_versions(conn), default=0)
    finally:
        conn.close()


__all__ = [
    "Migration",
    "SchemaTooNew",
    "applied_versions",
    "migrate",
    "migrate_file",
    "migrations",
    "run",
    "statements",
]
