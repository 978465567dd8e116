"""History retention in PostgreSQL: delete what is older than a tenant's retention, in small
transactions (the policy of ``cityhub.store.temporal.RetentionPolicy``).

Every worker runs a pruner; a session advisory lock lets one of them prune at a time and the
others skip the run. Each batch deletes at most ``batch`` old rows claimed with
``FOR UPDATE SKIP LOCKED``, so a batch never waits on rows a write transaction holds; the BRIN
indexes on the time columns (``migrations/0003_history.sql``) keep the search for old rows
from reading the whole table.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.errors import StoreUnavailable
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.temporal import RetentionPolicy

BATCH = 500
#: the pruner's advisory lock: this namespace ("prun" in ASCII) and the hub's schema, so hubs
#: in different schemas of one database prune independently
PRUNE_LOCK = 0x7072756E
_LOCK_ARGS = "$1::int4, hashtext(current_schema())"
_log = logging.getLogger("cityhub.history")
_AGE = "coalesce(observed_at, created_at)"


async def _prune_tenant(store: PostgresStore, tenant: str, cutoff: str, batch: int) -> int:
    deleted = 0
    while True:
        rows = await store.fetch(
            "WITH old AS (SELECT seq FROM attribute_instances WHERE tenant = $1 AND"
            f" {_AGE} < $2::text::timestamptz LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " DELETE FROM attribute_instances h USING old WHERE h.seq = old.seq RETURNING 1",
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
    await store.fetch(
        "DELETE FROM temporal_types t USING temporal_entities e WHERE t.tenant = e.tenant"
        f" AND t.id = e.id AND {gone}",
        tenant,
        cutoff,
    )
    await store.fetch(f"DELETE FROM temporal_entities e WHERE {gone}", tenant, cutoff)
    return deleted


async def prune(
    store: PostgresStore,
    policy: RetentionPolicy,
    now: str | None = None,
    *,
    batch: int = BATCH,
    wait: bool = True,
) -> int:
    """Delete every instance older than its tenant's retention; returns how many went.

    Args:
        now: the reference time (tests pass one); default the current time.
        batch: the most rows one transaction deletes.
        wait: when another worker is pruning, wait for it and then prune; False: skip this
            run and return 0 (the background pruner: the other worker does the work).
    """
    reference = parse_datetime(now, "now") if now else datetime.now(UTC)

    async def run(conn: Any) -> int:
        if wait:
            await conn.execute(f"SELECT pg_advisory_lock({_LOCK_ARGS})", PRUNE_LOCK)
        elif not await conn.fetchval(f"SELECT pg_try_advisory_lock({_LOCK_ARGS})", PRUNE_LOCK):
            return 0
        try:
            deleted = 0
            for tenant in ["", *await store.list_tenants()]:
                days = policy.days_for(tenant)
                if days > 0:
                    cutoff = format_datetime(reference - timedelta(days=days))
                    deleted += await _prune_tenant(store, tenant, cutoff, batch)
            return deleted
        finally:
            await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_ARGS})", PRUNE_LOCK)

    return await store.acquire(run)


class Pruner:
    """Runs :func:`prune` at start-up and then every ``interval`` seconds, in the background."""

    def __init__(self, store: PostgresStore, policy: RetentionPolicy, interval: float) -> None:
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
                gone = await prune(self.store, self.policy, wait=False)
                if gone:
                    _log.info("history retention: %d attribute instances deleted", gone)
            except StoreUnavailable:  # the store logged it once; retried at the next interval
                pass
            except Exception:  # a failed run is retried at the next interval
                _log.exception("history retention run failed")
            await asyncio.sleep(self.interval)


__all__ = ["BATCH", "PRUNE_LOCK", "Pruner", "prune"]
