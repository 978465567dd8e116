"""History retention in PostgreSQL: drop the months of history older than every tenant's
retention whole, then delete what is older than a tenant's retention (the rules:
``cityhub.store.retention``), in small transactions.

The history is partitioned by month (``migrations/0020_history_by_month.sql``). When every
tenant with history has a retention, a month that ended before the longest of them began is
old for all: its partitions are detached and dropped (``partitions.drop_month``: no row is
deleted one by one, nothing is left to vacuum). A tenant that keeps everything (0 days) keeps
every month, and the other tenants' old rows are then deleted row by row as below.

Every worker runs a pruner; a session advisory lock lets one of them prune at a time and the
others skip the run. Each batch deletes at most ``batch`` old rows claimed with
``FOR UPDATE SKIP LOCKED``, so a batch never waits on rows a write transaction holds. An
instance's age is its ``at`` (observedAt, else when it was recorded), the second column of the
rows' key (``migrations/0013_history_series.sql``): the old rows of each series are the start of
its key range.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.ngsild.datetime import parse_datetime
from cityhub.store import retention
from cityhub.store.postgres import partitions
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.retention import BATCH, RetentionPolicy

#: the pruner's advisory lock: this namespace ("prun" in ASCII) and the hub's schema, so hubs
#: in different schemas of one database prune independently
PRUNE_LOCK = 0x7072756E
_LOCK_ARGS = "$1::int4, hashtext(current_schema())"


class Pruner(retention.Pruner):
    """The PostgreSQL store's pruning (``cityhub.store.retention.Pruner``), one worker at a
    time: a background run another worker is already making is skipped."""

    def __init__(self, store: PostgresStore, policy: RetentionPolicy, interval: float) -> None:
        super().__init__(store.list_tenants, policy, interval)
        self.store = store

    async def prune_tenant(self, tenant: str, cutoff: str, batch: int) -> int:
        deleted = 0
        while True:
            rows = await self.store.fetch(
                "WITH old AS (SELECT r.series, r.at, r.seq FROM history_series s JOIN"
                " history_instances r ON r.series = s.id WHERE s.tenant = $1 AND"
                " r.at < $2::text::timestamptz LIMIT $3 FOR UPDATE OF r SKIP LOCKED)"
                " DELETE FROM history_instances h USING old WHERE h.series = old.series"
                " AND h.at = old.at AND h.seq = old.seq RETURNING 1",
                tenant,
                cutoff,
                batch,
            )
            deleted += len(rows)
            if len(rows) < batch:
                break
            await asyncio.sleep(0)
        gone = (
            'e.tenant = $1 AND e.deleted_at COLLATE "C" < $2 AND NOT EXISTS (SELECT 1 FROM'
            " attribute_instances h WHERE h.tenant = e.tenant AND h.entity_id = e.id)"
        )
        await self.store.fetch(
            "DELETE FROM temporal_types t USING temporal_entities e WHERE t.tenant = e.tenant"
            f" AND t.id = e.id AND {gone}",
            tenant,
            cutoff,
        )
        await self.store.fetch(f"DELETE FROM temporal_entities e WHERE {gone}", tenant, cutoff)
        return deleted

    async def prune(self, now: str | None = None, *, batch: int = BATCH, wait: bool = True) -> int:
        """As ``retention.Pruner.prune``, under the advisory lock; ``wait``: when another
        worker is pruning, wait for it and then prune; False: skip this run and return 0."""
        prune = super().prune

        async def run(conn: Any) -> int:
            if wait:
                await conn.execute(f"SELECT pg_advisory_lock({_LOCK_ARGS})", PRUNE_LOCK)
            elif not await conn.fetchval(f"SELECT pg_try_advisory_lock({_LOCK_ARGS})", PRUNE_LOCK):
                return 0
            try:
                dropped = await self.drop_months(conn, now)
                return dropped + await prune(now, batch=batch)
            finally:
                await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_ARGS})", PRUNE_LOCK)

        return await self.store.acquire(run, session=True)

    async def prune_in_background(self) -> int:
        return await self.prune(wait=False)

    async def drop_months(self, conn: Any, now: str | None = None) -> int:
        """Drop the monthly partitions that ended before every tenant's cutoff (``conn``:
        outside any transaction); returns how many instances they held."""
        tenants = [r[0] for r in await conn.fetch("SELECT DISTINCT tenant FROM history_series")]
        kept = [self.policy.days_for(t) for t in tenants]
        if not kept or min(kept) <= 0:
            return 0
        reference = parse_datetime(now, "now") if now else datetime.now(UTC)
        cutoff = (reference - timedelta(days=max(kept))).astimezone(UTC).date().isoformat()
        gone = 0
        for month in await partitions.months(conn):
            if month.end > cutoff:
                break
            gone += int(await conn.fetchval(f'SELECT count(*) FROM "{month.name}"'))
            await partitions.drop_month(conn, month)
            self.store.history_months.known.discard(month.first[:7])
        return gone


__all__ = ["PRUNE_LOCK", "Pruner"]
