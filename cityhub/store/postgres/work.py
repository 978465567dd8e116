"""The city services' work queue in PostgreSQL (``cityhub.store.work``; table ``service_work``,
migration 0008).

:func:`enqueue_work` runs inside an entity write transaction (``PostgresTransaction``);
:class:`PostgresWorkQueue` is the worker side. Several workers share the database: a claim takes
due rows ``FOR UPDATE SKIP LOCKED`` and leases them under a fresh token in one statement, so
two workers never take the same item for the same attempt; a dead worker's items are due again
when their lease ends (a claim moves ``due_at`` to the lease's end).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from cityhub.store.base import Document
from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.work import WorkItem

if TYPE_CHECKING:  # the store imports the transaction, which imports enqueue_work from here
    from cityhub.store.postgres.store import PostgresStore

_UPSERT = (
    "INSERT INTO service_work (service, tenant, item_key, payload, due_at, enqueued_at)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6)"
    " ON CONFLICT (service, tenant, item_key) WHERE lease_token IS NULL"
    " DO UPDATE SET payload = EXCLUDED.payload,"
    " due_at = LEAST(service_work.due_at, EXCLUDED.due_at)"
)


def enqueue_work(
    conn: SyncConnection,
    service: str,
    tenant: str,
    key: str | None,
    payload: Document,
    due_at: float,
) -> None:
    """Queue (or coalesce with the unclaimed item of the same key) inside the caller's
    transaction."""
    conn.execute(_UPSERT, service, tenant, key, orjson.dumps(payload).decode(), due_at, time.time())


class PostgresWorkQueue:
    """The worker side of the work queue (``cityhub.store.work.WorkQueue``) for one worker."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def add(
        self, service: str, tenant: str, key: str | None, payload: Document, due_at: float
    ) -> None:
        await self.store.fetch(
            _UPSERT, service, tenant, key, orjson.dumps(payload).decode(), due_at, time.time()
        )

    async def claim(self, service: str, now: float, limit: int, lease: float) -> list[WorkItem]:
        rows = await self.store.fetch(
            "WITH due AS (SELECT id, due_at FROM service_work WHERE service = $1"
            " AND due_at <= $2 ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " UPDATE service_work w SET due_at = $4, leased_until = $4,"
            " lease_token = gen_random_uuid() FROM due WHERE w.id = due.id"
            " RETURNING w.id, w.service, w.tenant, w.item_key, w.payload::text, w.attempts,"
            " w.enqueued_at, w.lease_token::text, due.due_at",
            service,
            now,
            limit,
            now + lease,
        )
        rows.sort(key=lambda r: (r[8], r[0]))  # in the order they were due
        return [
            WorkItem(r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5], r[6], r[7]) for r in rows
        ]

    async def done(self, items: Sequence[WorkItem]) -> None:
        if not items:
            return
        await self.store.fetch(
            "DELETE FROM service_work w USING unnest($1::bigint[], $2::uuid[]) d(id, token)"
            " WHERE w.id = d.id AND w.lease_token = d.token",
            [i.id for i in items],
            [i.token for i in items],
        )

    async def retry(self, item: WorkItem, error: str, due_at: float | None) -> None:
        if due_at is None:
            await self.done([item])
            return
        await self.store.fetch(
            "UPDATE service_work SET attempts = attempts + 1, last_error = $1, due_at = $2,"
            " leased_until = NULL WHERE id = $3 AND lease_token = $4::uuid",
            error[:2000],
            due_at,
            item.id,
            item.token,
        )

    async def release(self, items: Sequence[WorkItem], now: float) -> None:
        if not items:
            return
        await self.store.fetch(
            "UPDATE service_work SET due_at = $1, leased_until = NULL"
            " WHERE id = ANY($2::bigint[]) AND lease_token = ANY($3::uuid[])",
            now,
            [i.id for i in items],
            [i.token for i in items],
        )

    async def release_leases(self, now: float) -> int:
        return 0  # other workers' leases are theirs; a dead worker's end by themselves

    async def next_due(self, service: str) -> float | None:
        rows = await self.store.fetch(
            "SELECT min(due_at) FROM service_work WHERE service = $1", service
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def pending(self, service: str) -> int:
        rows = await self.store.fetch(
            "SELECT count(*) FROM service_work WHERE service = $1", service
        )
        return int(rows[0][0])


__all__ = ["PostgresWorkQueue", "enqueue_work"]
