"""Bring a database written by an older cityhub up to ``schema.sql`` (run at start-up, on the
writer connection, before the derived indexes are checked)."""

from __future__ import annotations

import sqlite3

_ENTITIES = """
CREATE TABLE entities_upgraded (
  rid INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  types TEXT NOT NULL,
  scopes TEXT,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  attrs TEXT NOT NULL
)"""


def upgrade(conn: sqlite3.Connection) -> None:
    """Apply every step this database still needs, each in its own transaction (idempotent)."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(entities)")]
    if "rid" not in columns:
        _entities_rid(conn)


def _entities_rid(conn: sqlite3.Connection) -> None:
    """Schema 1 → 2: ``entities`` gets ``rid INTEGER PRIMARY KEY``. Its implicit rowid was the
    default order of queries, and VACUUM may renumber an implicit rowid but keeps an INTEGER
    PRIMARY KEY; the geo index now links to the row by it. The rows keep their old rowids."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_ENTITIES)
        conn.execute(
            "INSERT INTO entities_upgraded (rid, tenant, id, types, scopes, created_at,"
            " modified_at, attrs) SELECT rowid, tenant, id, types, scopes, created_at,"
            " modified_at, attrs FROM entities ORDER BY rowid"
        )
        conn.execute("DROP TABLE entities")
        conn.execute("ALTER TABLE entities_upgraded RENAME TO entities")
        conn.execute("CREATE UNIQUE INDEX entities_pk ON entities (tenant, id)")
        # links to the old rows are stale: rebuild the derived indexes from the entities
        conn.execute("DELETE FROM meta WHERE key IN ('geo_index', 'q_index')")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
