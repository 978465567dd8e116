"""History retention in SQLite: delete what is older than a tenant's retention (the rules:
``cityhub.store.retention``), in small transactions, so a write queued behind the pruner waits
for one batch at most.

Old rows are looked for on a reader connection, series by series in key order from where the
last batch stopped (a row's age, observedAt else when it was recorded, is the ``at`` that leads
its key after the series: one seek per series, never under the write lock); the writer then
deletes one batch of at most ``batch`` rows by key, checking the age again (a modified
instance moves to another key). Heads of entities deleted before the cutoff whose whole history is
gone are removed the same way. ``:memory:`` stores read on the writer, so there the search
holds it too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial

from cityhub.store import retention
from cityhub.store.retention import RetentionPolicy
from cityhub.store.sqlite import days, series
from cityhub.store.sqlite.store import SqliteStore

#: a row's key in ``history_instances`` (series, at, seq)
Key = tuple[int, int, int]
#: before every stored time
_FIRST = -(2**63)


def _old_rows(
    conn: sqlite3.Connection, tenant: str, cutoff: str, after: Key, batch: int
) -> list[Key]:
    """Up to ``batch`` keys of the tenant's rows older than ``cutoff``, series by series in
    key order after ``after``: a seek per series (a row's age, ``at``, leads its key)."""
    keys: list[Key] = []
    before = series.micros(cutoff)
    series_ids = conn.execute(
        "SELECT id FROM history_series WHERE tenant = ? AND id >= ? ORDER BY id",
        (tenant, after[0]),
    ).fetchall()
    for (series_id,) in series_ids:
        start = after if series_id == after[0] else (series_id, _FIRST, -1)
        keys.extend(
            (series_id, at, seq)
            for at, seq in conn.execute(
                "SELECT at, seq FROM history_instances WHERE series = ? AND at < ?"
                " AND (at, seq) > (?, ?) ORDER BY at, seq LIMIT ?",
                (series_id, before, start[1], start[2], batch - len(keys)),
            )
        )
        if len(keys) >= batch:
            break
    return keys


def _delete_rows(conn: sqlite3.Connection, seqs: list[Key], cutoff: str) -> int:
    """Delete the rows of ``seqs`` (their keys) still older than ``cutoff``."""
    gone = 0
    before = series.micros(cutoff)
    for key in seqs:
        gone += conn.execute(
            "DELETE FROM history_instances WHERE series = ? AND at = ? AND seq = ? AND at < ?",
            (*key, before),
        ).rowcount
    days.recount(conn, [(k[0], k[1]) for k in seqs])
    return gone


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
        days.forget(conn, "tenant = ? AND entity_id = ?", (tenant, entity_id))
        for table, column in (
            ("temporal_entities", "id"),
            ("temporal_types", "id"),
            ("history_series", "entity_id"),
        ):
            conn.execute(
                f"DELETE FROM {table} WHERE tenant = ? AND {column} = ?", (tenant, entity_id)
            )
    return len(ids)


class Pruner(retention.Pruner):
    """The SQLite store's pruning (``cityhub.store.retention.Pruner``)."""

    def __init__(self, store: SqliteStore, policy: RetentionPolicy, interval: float) -> None:
        super().__init__(store.list_tenants, policy, interval)
        self.store = store

    async def prune_tenant(self, tenant: str, cutoff: str, batch: int) -> int:
        deleted = 0
        after: Key = (0, _FIRST, -1)
        while keys := await self.store.run_read(
            partial(_old_rows, tenant=tenant, cutoff=cutoff, after=after, batch=batch)
        ):
            deleted += await self.store.run_transaction(
                partial(_delete_rows, seqs=keys, cutoff=cutoff)
            )
            after = keys[-1]
            await asyncio.sleep(0)  # writes queued meanwhile go first
        heads = partial(_delete_heads, tenant=tenant, cutoff=cutoff, batch=batch)
        while await self.store.run_transaction(heads):
            await asyncio.sleep(0)
        return deleted


__all__ = ["Pruner"]
