"""The city services' work queue in PostgreSQL (``cityhub.store.work``; table ``service_work``,
migration 0008): the queue's SQL written once, but for the claim. Several workers share the
database: a claim takes due rows ``FOR UPDATE SKIP LOCKED`` and leases them under a fresh token
in one statement (one round trip, no transaction around it), so two workers never take the same
item for the same attempt; a dead worker's items are due again when their lease ends (a claim
moves ``due_at`` to the lease's end), and until then no newer item of their key is claimed
(``CLAIMABLE``: a row another worker holds locked is skipped, its key's newer rows are not
claimable while it exists).
"""

from __future__ import annotations

import orjson

from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.postgres.rows import PostgresRows
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.work import CLAIMABLE, Work, WorkItem


class PostgresWorkQueue(Work[SyncConnection]):
    """The worker side of the work queue for one worker of a shared database."""

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store, PostgresRows, one_process=False)
        self.store = store

    async def claim(self, service: str, now: float, limit: int, lease: float) -> list[WorkItem]:
        rows = await self.store.fetch(
            "WITH due AS (SELECT id, due_at FROM service_work w WHERE service = $1"
            f" AND due_at <= $2 AND {CLAIMABLE}"
            " ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " UPDATE service_work w SET due_at = $4, leased_until = $4,"
            " lease_token = gen_random_uuid() FROM due WHERE w.id = due.id"
            " RETURNING w.id, w.service, w.tenant, w.item_key, w.payload::text, w.attempts,"
            " w.enqueued_at, w.lease_token::text, due.due_at, w.merged",
            service,
            now,
            limit,
            now + lease,
        )
        rows.sort(key=lambda r: (r[8], r[0]))  # in the order they were due
        return [
            WorkItem(r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5], r[6], r[7], r[9])
            for r in rows
        ]


__all__ = ["PostgresWorkQueue"]
