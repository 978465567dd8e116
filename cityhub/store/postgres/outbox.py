"""The notification outbox in PostgreSQL (DESIGN.md decisions 4 and 5; clause 5.8.6).

:meth:`PostgresOutbox.hook` is a transaction hook of :class:`PostgresStore`: inside the write
transaction of every entity change it finds the subscriptions the change triggers and inserts
one row per notification, so the notification commits (or rolls back) with the change. The
payload is the one SQLite queues (``cityhub.notify.trigger.notification_payload``): the
Notification with ``data`` in the internal form, rendered by the dispatcher when it delivers.

Subscriptions are cached per tenant and per worker process; the cache entry is used only while
``notify_version`` (bumped by a trigger on every subscription change, whichever worker made it)
and the term-map generation it was built with still hold, so a subscription created through one
worker is honoured by the very next change committed on any worker.

Delivery (:meth:`claim`, :meth:`ack`, :meth:`fail`): any worker's dispatcher claims due rows
with ``FOR UPDATE SKIP LOCKED`` and leases them (their ``due_at`` moves ``lease`` seconds
ahead, and they get a fresh ``lease_token``) in one statement, so two dispatchers never take
the same row for the same attempt; a crashed worker's rows are taken again once their lease
ends, and a worker whose lease ran out cannot acknowledge or reschedule the row under the
token of the worker that took it over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from cityhub.ngsild.datetime import format_datetime
from cityhub.notify.index import SubscriptionIndex
from cityhub.notify.matcher import Prepared, RowCheck, TermMaps, change_triggers, prepare
from cityhub.notify.trigger import notification_payload
from cityhub.store.base import Change
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.sqlite.outbox import OutboxRow


def row_check(conn: SyncConnection) -> RowCheck:
    """The matcher's test of q and scopeQ, run as SQL against the row the change just wrote
    (``cityhub.notify.matcher.change_triggers``), inside a savepoint: a stored q PostgreSQL
    refuses (a regular expression it cannot compile) must not abort the write transaction."""

    def check(sub: Prepared, change: Change) -> bool:
        params = Params([change.tenant, change.entity_id])
        clauses: list[str] = []
        if sub.q is not None:
            clauses.append(qcompile.compile_q(sub.q, params, "e"))
        if sub.scope_q is not None:
            clauses.append(qcompile.compile_scope_q(sub.scope_q, params, "e"))
        if not clauses:
            return True
        where = " AND ".join(f"({c})" for c in clauses)
        sql = f"SELECT 1 FROM entities e WHERE e.tenant = $1 AND e.id = $2 AND {where}"
        conn.execute("SAVEPOINT q_check")
        try:
            found = conn.fetchrow(sql, *params.values) is not None
        except BaseException:
            conn.execute("ROLLBACK TO SAVEPOINT q_check")
            raise
        conn.execute("RELEASE SAVEPOINT q_check")
        return found

    return check


class PostgresOutbox:
    """The transaction hook and the delivery queue, for one worker process.

    Args:
        store: the PostgreSQL store.
        term_maps: the @context cache the matcher reads q with (the dispatcher fills it).
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(
        self,
        store: PostgresStore,
        term_maps: TermMaps | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.term_maps = term_maps if term_maps is not None else TermMaps()
        self.clock = clock
        self._cache: dict[str, tuple[int, int, SubscriptionIndex]] = {}
        #: row id -> the token of this worker's lease on it (claim sets, ack/fail take)
        self._leases: dict[int, Any] = {}

    # ---- in the write transaction ------------------------------------------------------
    def index(self, conn: SyncConnection, tenant: str) -> SubscriptionIndex:
        """The tenant's subscriptions, prepared and indexed, from the cache while current."""
        version = int(conn.fetchval("SELECT version FROM notify_version WHERE one = 1") or 0)
        generation = self.term_maps.generation
        cached = self._cache.get(tenant)
        if cached is not None and cached[0] == version and cached[1] == generation:
            return cached[2]
        rows = conn.fetch(
            "SELECT doc::text FROM subscriptions WHERE tenant = $1 ORDER BY seq", tenant
        )
        prepared: list[Prepared] = []
        for (doc,) in rows:
            try:
                prepared.append(prepare(tenant, orjson.loads(doc), self.term_maps))
            except Exception:  # a subscription that cannot be read must not block writes
                continue
        index = SubscriptionIndex(prepared)
        self._cache[tenant] = (version, generation, index)
        return index

    def hook(self, conn: SyncConnection, change: Change) -> None:
        """The tx hook: queue a notification for every subscription ``change`` triggers."""
        index = self.index(conn, change.tenant)
        if not len(index):
            return
        candidates = index.candidates(change.before, change.after)
        if not candidates:
            return
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        check = row_check(conn)
        for sub in candidates:
            if not change_triggers(sub, change, now, check):
                continue
            if sub.throttling is not None and not self._throttle(conn, sub, now_s):
                continue
            enqueue(conn, change.tenant, sub.id, notification_payload(sub.id, change, now), now_s)

    def _throttle(self, conn: SyncConnection, sub: Prepared, now_s: float) -> bool:
        """True (and the time recorded) when the throttling period has passed; the row lock
        makes two workers agree on who sends within one period."""
        assert sub.throttling is not None
        status = conn.execute(
            "INSERT INTO notify_throttle AS t (tenant, subscription_id, last_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (tenant, subscription_id) DO UPDATE"
            " SET last_at = EXCLUDED.last_at WHERE $3 - t.last_at >= $4",
            sub.tenant,
            sub.id,
            now_s,
            sub.throttling,
        )
        return status.endswith(" 1")

    # ---- delivery ----------------------------------------------------------------------
    async def claim(self, now: float, limit: int, lease: float) -> list[OutboxRow]:
        """Take up to ``limit`` due rows, oldest first, leasing them for ``lease`` seconds
        under a new lease token; rows another worker is claiming at this moment are skipped,
        not waited for."""
        rows = await self.store.fetch(
            "UPDATE outbox SET due_at = $3, lease_token = gen_random_uuid() WHERE id IN"
            " (SELECT id FROM outbox WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2"
            " FOR UPDATE SKIP LOCKED) RETURNING id, tenant, subscription_id, payload::text,"
            " attempts, created_at, lease_token",
            now,
            limit,
            now + lease,
        )
        rows.sort(key=lambda r: r[0])
        for r in rows:
            self._leases[r[0]] = r[6]
        return [OutboxRow(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5]) for r in rows]

    async def ack(self, row_id: int) -> None:
        """A delivered notification leaves the outbox, unless this worker's lease ran out and
        another worker claimed the row again (that attempt is then the other's)."""
        await self.store.fetch(
            "DELETE FROM outbox WHERE id = $1 AND lease_token IS NOT DISTINCT FROM $2",
            row_id,
            self._leases.pop(row_id, None),
        )

    async def fail(self, row_id: int, error: str, due_at: float | None) -> None:
        """Record a failed attempt: retry at ``due_at``, or give up (delete) when it is None;
        nothing when the lease was lost to another worker."""
        if due_at is None:
            await self.ack(row_id)
            return
        await self.store.fetch(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, due_at = $2,"
            " lease_token = NULL WHERE id = $3 AND lease_token IS NOT DISTINCT FROM $4",
            error[:2000],
            due_at,
            row_id,
            self._leases.pop(row_id, None),
        )

    async def next_due(self) -> float | None:
        """When the earliest row is due, or None for an empty outbox."""
        rows = await self.store.fetch("SELECT min(due_at) FROM outbox")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def subscriptions_version(self) -> int:
        """Grows with every insert, update or delete of a subscription."""
        rows = await self.store.fetch("SELECT version FROM notify_version WHERE one = 1")
        return int(rows[0][0]) if rows else 0

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

    async def periodic_fire(
        self,
        tenant: str,
        sub_id: str,
        payload: dict[str, Any] | None,
        now: float,
        next_at: float,
        previous: float | None,
    ) -> bool:
        """In one transaction: move the round on from ``previous`` (None: first round) to
        ``next_at`` and queue ``payload`` (unless None). False, and nothing done, when another
        worker moved this round on first: each round is sent by one worker."""

        def run(conn: SyncConnection) -> bool:
            if previous is None:
                status = conn.execute(
                    "INSERT INTO notify_periodic (tenant, subscription_id, next_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    tenant,
                    sub_id,
                    next_at,
                )
            else:
                status = conn.execute(
                    "UPDATE notify_periodic SET next_at = $3 WHERE tenant = $1 AND"
                    " subscription_id = $2 AND next_at = $4",
                    tenant,
                    sub_id,
                    next_at,
                    previous,
                )
            if not status.endswith(" 1"):
                return False
            if payload is not None:
                enqueue(conn, tenant, sub_id, payload, now)
            return True

        return await self.store.run_transaction(run)

    async def pending(self) -> list[tuple[int, str, int, str | None]]:
        """(id, subscription id, attempts, last error) of every row, for tests and operators."""
        rows = await self.store.fetch(
            "SELECT id, subscription_id, attempts, last_error FROM outbox ORDER BY id"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def enqueue(
    conn: SyncConnection, tenant: str, sub_id: str, payload: dict[str, Any], due_at: float
) -> None:
    """Insert one notification (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO outbox (tenant, subscription_id, payload, due_at, attempts, created_at)"
        " VALUES ($1, $2, $3::jsonb, $4, 0, $5)",
        tenant,
        sub_id,
        orjson.dumps(payload).decode(),
        due_at,
        format_datetime(datetime.fromtimestamp(due_at, UTC)),
    )


__all__ = ["PostgresOutbox", "enqueue", "row_check"]
