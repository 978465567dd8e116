"""The notification outbox in PostgreSQL (DESIGN.md decisions 4 and 5; clause 5.8.6).

SQL only: which notifications are due and what has been tried. Deciding *whether* a change is
notified is the service layer's (``cityhub.notify.trigger``, a tx hook of the store), which
queues through the write transaction (``PostgresTransaction.enqueue``), so the notification
commits (or rolls back) with the change. :class:`PostgresOutbox` is the delivery side
(``cityhub.store.outbox.OutboxQueue``) and the periodic schedule (``PeriodicSchedule``).

Delivery (:meth:`PostgresOutbox.claim`, :meth:`~PostgresOutbox.ack`,
:meth:`~PostgresOutbox.fail`): any worker's dispatcher claims due rows with
``FOR UPDATE SKIP LOCKED`` and leases them (their ``due_at`` moves ``lease`` seconds ahead, and
they get a fresh ``lease_token``) in one statement, so two dispatchers never take the same row
for the same attempt; a crashed worker's rows are taken again once their lease ends, and a
worker whose lease ran out cannot acknowledge or reschedule the row under the token of the
worker that took it over.
"""

from __future__ import annotations

from typing import Any

from cityhub.store.outbox import Outbox, OutboxRow
from cityhub.store.postgres.store import PostgresStore


class PostgresOutbox(Outbox):
    """The delivery queue (``cityhub.store.outbox.OutboxQueue``) and the periodic schedule, for
    one worker process.

    Args:
        store: the PostgreSQL store.
    """

    store: PostgresStore

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store)
        #: row id -> the token of this worker's lease on it (claim sets, ack/fail take)
        self._leases: dict[int, Any] = {}

    # ---- delivery ----------------------------------------------------------------------
    async def claim(self, now: float, limit: int, lease: float) -> list[OutboxRow]:
        """Take up to ``limit`` due rows, oldest first, leasing them for ``lease`` seconds
        under a new lease token; rows another worker is claiming at this moment are skipped,
        not waited for."""
        rows = await self.store.fetch(
            "WITH due AS (SELECT id, due_at FROM outbox WHERE due_at <= $1"
            " ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE outbox o SET due_at = $3, lease_token = gen_random_uuid() FROM due"
            " WHERE o.id = due.id RETURNING o.id, o.tenant, o.subscription_id, o.payload::text,"
            " o.attempts, o.created_at, o.lease_token, due.due_at",
            now,
            limit,
            now + lease,
        )
        # in the order they were due, as SQLite hands them out (UPDATE ... RETURNING has none)
        rows.sort(key=lambda r: (r[7], r[0]))
        for r in rows:
            self._leases[r[0]] = r[6]
        return [self._row(r) for r in rows]

    async def ack(self, row_id: int) -> None:
        """A delivered notification leaves the outbox, unless this worker's lease ran out and
        another worker claimed the row again (that attempt is then the other's)."""
        await self.store.fetch(
            "DELETE FROM outbox WHERE id = $1 AND lease_token IS NOT DISTINCT FROM $2",
            row_id,
            self._leases.get(row_id),
        )
        # forgotten once done: a stop that cuts the statement short still releases the lease
        self._leases.pop(row_id, None)

    async def _retry(self, row_id: int, error: str, due_at: float) -> None:
        """Nothing when the lease was lost to another worker."""
        await self.store.fetch(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, due_at = $2,"
            " lease_token = NULL WHERE id = $3 AND lease_token IS NOT DISTINCT FROM $4",
            error,
            due_at,
            row_id,
            self._leases.get(row_id),
        )
        self._leases.pop(row_id, None)

    async def next_due(self) -> float | None:
        """When the earliest row is due, or None for an empty outbox."""
        rows = await self.store.fetch("SELECT min(due_at) FROM outbox")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def subscriptions_version(self) -> int:
        """Grows with every insert, update or delete of a subscription."""
        rows = await self.store.fetch("SELECT version FROM notify_version WHERE one = 1")
        return int(rows[0][0]) if rows else 0

    async def release_leases(self, now: float) -> int:
        """Make the rows this worker has claimed and not yet acknowledged or failed due at
        ``now`` (the dispatcher stops). Other workers' leases are theirs: the row of a worker
        that died is claimed again when its lease ends."""
        if not self._leases:
            return 0
        ids, tokens = list(self._leases), list(self._leases.values())
        self._leases.clear()
        rows = await self.store.fetch(
            "UPDATE outbox SET due_at = $1, lease_token = NULL WHERE id = ANY($2::bigint[])"
            " AND lease_token = ANY($3::uuid[]) RETURNING id",
            now,
            ids,
            tokens,
        )
        return len(rows)

    # ---- periodic notifications (clause 5.2.12 timeInterval) ---------------------------
    async def periodic_schedule(self) -> dict[tuple[str, str], float]:
        """(tenant, subscription id) → when its next round is due."""
        rows = await self.store.fetch(
            "SELECT tenant, subscription_id, next_at FROM notify_periodic"
        )
        return {(r[0], r[1]): float(r[2]) for r in rows}

    async def periodic_forget(self, keys: list[tuple[str, str]]) -> None:
        """Drop the schedule of subscriptions that are gone or no longer periodic."""
        await self.store.fetch(
            "DELETE FROM notify_periodic p USING unnest($1::text[], $2::text[]) k(t, s)"
            " WHERE p.tenant = k.t AND p.subscription_id = k.s",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )

    async def pending(self) -> list[tuple[int, str, int, str | None]]:
        """(id, subscription id, attempts, last error) of every row, for tests and operators."""
        rows = await self.store.fetch(
            "SELECT id, subscription_id, attempts, last_error FROM outbox ORDER BY id"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


__all__ = ["PostgresOutbox"]
