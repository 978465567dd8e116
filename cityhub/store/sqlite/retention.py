"""History retention in SQLite: delete what is older than a tenant's retention (the rules:
``cityhub.store.retention``), in small transactions, so a write queued behind the pruner waits
for one batch at most.

Old rows are looked for on a reader connection, in ``seq`` order from where the last batch
stopped (one pass over the table per run, never under the write lock); the writer then deletes
one batch of at most ``batch`` rows by primary key, checking the age again in case an instance
was modified in between. Heads of entities deleted before the cutoff whose whole history is
gone are removed the same way. ``:memory:`` stores read on the writer, so there the search
holds it too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial

from cityhub.store import retention
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.temporal import RetentionPolicy

_AGE = "coalesce(observed_at, created_at)"


def _old_rows(
    conn: sqlite3.Connection, tenant: str, cutoff: str, after: int, batch: int
) -> list[int]:
    rows = conn.execute(
        f"SELECT seq FROM attribute_instances WHERE seq > ? AND tenant = ? AND {_AGE} < ?"
        " ORDER BY seq LIMIT ?",
        (after, tenant, cutoff, batch),
    ).fetchall()
    return [int(r[0]) for r in rows]


def _delete_rows(conn: sqlite3.Connection, seqs: list[int], cutoff: str) -> int:
    marks = ",".join("?" * len(seqs))
    return conn.execute(
        f"DELETE FROM attribute_instances WHERE seq IN ({marks}) AND {_AGE} < ?",
        (*seqs, cutoff),
    ).rowcount


def _delete_heads(conn: sqlite3.Connection, tenant: str, cutoff: str, batch: int) -> int:
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT e.id FROM temporal_entities e WHERE e.tenant = ? AND e.deleted_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM attribute_instances h WHERE h.tenant = e.tenant"
            " AND h.entity_id = e.id) LIMIT ?",
            (tenant, cutoff, batch),
        )
    ]
    for entity_id in ids:
        conn.execute(
            "DELETE FROM temporal_entities WHERE tenant = ? AND id = ?", (tenant, entity_id)
        )
        conn.execute("DELETE FROM temporal_types WHERE tenant = ? AND id = ?", (tenant, entity_id))
    return len(ids)


class Pruner(retention.Pruner):
    """The SQLite store's pruning (``cityhub.store.retention.Pruner``)."""

    def __init__(self, store: SqliteStore, policy: RetentionPolicy, interval: float) -> None:
        super().__init__(store.list_tenants, policy, interval)
        self.store = store

    async def prune_tenant(self, tenant: str, cutoff: str, batch: int) -> int:
        deleted = 0
        after = 0
        while seqs := await self.store.run_read(
            partial(_old_rows, tenant=tenant, cutoff=cutoff, after=after, batch=batch)
        ):
            deleted += await self.store.run_transaction(
                partial(_delete_rows, seqs=seqs, cutoff=cutoff)
            )
            after = seqs[-1]
            await asyncio.sleep(0)  # writes queued meanwhile go first
        heads = partial(_delete_heads, tenant=tenant, cutoff=cutoff, batch=batch)
        while await self.store.run_transaction(heads):
            await asyncio.sleep(0)
        return deleted


__all__ = ["Pruner"]
