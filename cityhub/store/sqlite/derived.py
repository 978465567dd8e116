"""Tables derived from the entities (the geo index, the q value index): created at start-up and
rebuilt from every stored entity when their layout's version changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def ensure_derived(
    conn: sqlite3.Connection,
    key: str,
    version: str,
    schema: str,
    tables: tuple[str, ...],
    fill: Callable[[sqlite3.Connection], None],
) -> None:
    """Create ``schema``; when ``meta[key]`` is not ``version``, drop ``tables``, create them
    again and ``fill`` them, in one ``BEGIN IMMEDIATE`` transaction (or the caller's).

    Run once at start-up on the writer connection, after ``schema.sql`` (it needs ``meta``),
    outside any transaction unless the caller holds one (``executescript`` commits a pending
    one, so the caller's must begin after this call's first line).
    """
    conn.executescript(schema)
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is not None and row[0] == version:
        return
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        for table in tables:
            conn.execute(f"DROP TABLE IF EXISTS {table}")  # names from our own code only
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)
        fill(conn)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, version))
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")
