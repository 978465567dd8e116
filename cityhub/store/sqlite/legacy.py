"""Databases written before numbered migrations (cityhub up to d99cb2b): brought to the baseline
schema, migrations 0001-0007, once, inside the transaction of
:func:`cityhub.store.sqlite.migrate.migrate`.

Such a database has tables but no ``cityhub_migrations``. Its shape says what it needs; each
repair below is one that those releases made at start-up, and does nothing when not needed:

* ``entities`` without ``rid`` (the first schema): rebuilt with ``rid INTEGER PRIMARY KEY``,
  every row keeping its old rowid (the default order of queries);
* ``attribute_instances`` without ``value_number``: the column added and filled from the stored
  instances; the index on ``created_at`` that no query used any more dropped;
* ``outbox`` without ``leased_until``: the column added;
* a derived index (geo, q) whose layout version in ``meta`` is not the baseline's (geo 6, q 4),
  or missing: dropped, created again and filled from the stored entities;
* tables a database lacks (one written by a store without history, say): created by running
  the baseline migrations, which say ``IF NOT EXISTS``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from cityhub.store.sqlite import geo, qindex

if TYPE_CHECKING:
    from cityhub.store.migrations import Migration

#: the last migration whose schema the releases before numbered migrations had
BASELINE = 7

#: derived indexes: meta key, layout version at the baseline, tables, fill from the entities
_DERIVED: tuple[tuple[str, str, tuple[str, ...], Callable[[sqlite3.Connection], None]], ...] = (
    ("geo_index", "6", ("geo_shapes", "geo_rtree", "geo_keys", "geo_types"), geo.rebuild_geo_index),
    ("q_index", "4", ("q_index",), qindex.fill_q_index),
)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}  # our names only


def is_legacy(conn: sqlite3.Connection) -> bool:
    """Whether the database holds a store written before numbered migrations (it has entities
    but records no version; the caller knows it records none)."""
    return bool(_columns(conn, "entities"))


def adopt(
    conn: sqlite3.Connection,
    baseline: Sequence[Migration],
    run: Callable[[Migration, sqlite3.Connection], None],
) -> list[Migration]:
    """Bring a database written before numbered migrations to the schema of ``baseline``
    (migrations 0001-0007), inside the caller's transaction.

    Args:
        conn: the writer connection, in the migrations' transaction.
        baseline: migrations 0001-0007.
        run: applies one migration (``cityhub.store.sqlite.migrate.run``).

    Returns:
        The baseline migrations, now to be recorded as applied.
    """
    stale: set[str] = set()
    view = "SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = 'attribute_instances'"
    if conn.execute(view).fetchone():  # history in series (0014): it makes the view again
        conn.execute("DROP VIEW attribute_instances")
    without_rid = "rid" not in _columns(conn, "entities")
    if without_rid:  # the first schema: 0001 creates the table again, the rows are copied
        conn.execute("DROP INDEX IF EXISTS entities_pk")
        conn.execute("ALTER TABLE entities RENAME TO entities_without_rid")
        stale = {key for key, *_ in _DERIVED}  # they link to the old rows
    instances = _columns(conn, "attribute_instances")
    if instances:
        conn.execute("DROP INDEX IF EXISTS attribute_instances_created")
        if "value_number" not in instances:
            _value_number(conn)
    outbox = _columns(conn, "outbox")
    if outbox and "leased_until" not in outbox:
        conn.execute("ALTER TABLE outbox ADD COLUMN leased_until REAL")
    versions = _layout_versions(conn)
    for key, version, tables, _ in _DERIVED:
        if key in stale or versions.get(key) != version:
            stale.add(key)
            for table in tables:
                conn.execute(f"DROP TABLE IF EXISTS {table}")  # names from this module only
    for migration in baseline:
        run(migration, conn)  # IF NOT EXISTS: creates what is missing, keeps what is there
    if without_rid:
        _copy_entities(conn)
    for key, _, _, fill in _DERIVED:
        if key in stale:
            fill(conn)
    return list(baseline)


def _layout_versions(conn: sqlite3.Connection) -> dict[str, str]:
    """The derived indexes' layout versions those releases kept in ``meta``."""
    if not _columns(conn, "meta"):
        return {}
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def _copy_entities(conn: sqlite3.Connection) -> None:
    """``entities`` has ``rid INTEGER PRIMARY KEY`` now. The implicit rowid was the default
    order of queries, and VACUUM may renumber an implicit rowid but keeps an INTEGER PRIMARY
    KEY; the geo index links to the row by it. The rows keep their old rowids."""
    conn.execute(
        "INSERT INTO entities (rid, tenant, id, types, scopes, created_at, modified_at, attrs)"
        " SELECT rowid, tenant, id, types, scopes, created_at, modified_at, attrs"
        " FROM entities_without_rid ORDER BY rowid"
    )
    conn.execute("DROP TABLE entities_without_rid")


def _value_number(conn: sqlite3.Connection) -> None:
    """``attribute_instances`` gets ``value_number``: the value when it is a JSON number
    (booleans as 1/0), so aggregation reads a column instead of parsing JSON."""
    conn.execute("ALTER TABLE attribute_instances ADD COLUMN value_number REAL")
    conn.execute(
        "UPDATE attribute_instances SET value_number = CASE json_type(instance, '$.value')"
        " WHEN 'integer' THEN json_extract(instance, '$.value')"
        " WHEN 'real' THEN json_extract(instance, '$.value')"
        " WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
        " WHERE deleted_at IS NULL AND json_extract(instance, '$.type') = 'Property'"
    )


__all__ = ["BASELINE", "adopt", "is_legacy"]
