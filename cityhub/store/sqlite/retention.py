"""History retention in SQLite: delete what is older than a tenant's retention, in small
transactions, so a write queued behind the pruner waits for one batch at most.

Old rows are looked for on a reader connection, in ``seq`` order from where the last batch
stopped (one pass over the table per run, never under the write lock); the writer then deletes
one batch of at most ``batch`` rows by primary key, checking the age again in case an instance
was modified in between. Heads of entities deleted before the cutoff whose whole history is
gone are removed the same way. ``:memory:`` stores read on the writer, so there the search
holds it too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from functools import partial

from cityhub.errors import StoreUnavailable
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.temporal import RetentionPolicy

BATCH = 500
_log = logging.getLogger("cityhub.history")
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


async def _prune_tenant(store: SqliteStore, tenant: str, cutoff: str, batch: int) -> int:
    deleted = 0
    after = 0
    while seqs := await store.run_read(
        partial(_old_rows, tenant=tenant, cutoff=cutoff, after=after, batch=batch)
    ):
        deleted += await store.run_transaction(partial(_delete_rows, seqs=seqs, cutoff=cutoff))
        after = seqs[-1]
        await asyncio.sleep(0)  # writes queued meanwhile go first
    heads = partial(_delete_heads, tenant=tenant, cutoff=cutoff, batch=batch)
    while await store.run_transaction(heads):
        await asyncio.sleep(0)
    return deleted


async def prune(
    store: SqliteStore,
    policy: RetentionPolicy,
    now: str | None = None,
    *,
    batch: int = BATCH,
) -> int:
    """Delete every instance older than its tenant's retention; returns how many went.

    Args:
        now: the reference time (tests pass one); default the current time.
        batch: the most rows one write transaction deletes.
    """
    reference = parse_datetime(now, "now") if now else datetime.now(UTC)
    deleted = 0
    for tenant in ["", *await store.list_tenants()]:
        days = policy.days_for(tenant)
        if days > 0:
            cutoff = format_datetime(reference - timedelta(days=days))
            deleted += await _prune_tenant(store, tenant, cutoff, batch)
    return deleted


class Pruner:
    """Runs :func:`prune` at start-up and then every ``interval`` seconds, in the background."""

    def __init__(self, store: SqliteStore, policy: RetentionPolicy, interval: float) -> None:
        self.store = store
        self.policy = policy
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.policy.active and self._task is None:
            self._task = asyncio.create_task(self._run(), name="cityhub-history-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                gone = await prune(self.store, self.policy)
                if gone:
                    _log.info("history retention: %d attribute instances deleted", gone)
            except StoreUnavailable:  # the store logged it once; retried at the next interval
                pass
            except Exception:  # a failed run is retried at the next interval
                _log.exception("history retention run failed")
            await asyncio.sleep(self.interval)
