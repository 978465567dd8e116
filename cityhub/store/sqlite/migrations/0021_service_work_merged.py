"""0021: the work queue counts how many items were merged into each unclaimed item
(``cityhub.store.work``'s ``ENQUEUE``): a service that asks for less work when an item stands
for one write alone (the alert engine's write-back items) reads the count, not the clocks of
the processes that queued them. Items queued before this column are not known: they count as
merged (worked on whole, as any merged item is).

A module rather than SQL so that it can run again: a database that lost its migrations table
is adopted as one from before numbered migrations (``cityhub.store.sqlite.legacy``) and runs
every migration after the baseline again; the column is then there already."""

from __future__ import annotations

import sqlite3


def apply(conn: sqlite3.Connection) -> None:
    columns = {r[1] for r in conn.execute("PRAGMA table_info(service_work)")}
    if "merged" in columns:
        return
    conn.execute("ALTER TABLE service_work ADD COLUMN merged INTEGER NOT NULL DEFAULT 0")
    conn.execute("UPDATE service_work SET merged = 1")
