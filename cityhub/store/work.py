"""The city services' work queue as the services see it (``cityhub.services``): durable work
items recorded inside write transactions (``Transaction.enqueue_work``), then claimed, done or
retried by each service's worker after the commit (:class:`WorkQueue`).

Why a table and not a task: a service (air quality, alerts, indicators) computes after the
write that asked for it has committed, outside its transaction; the item is written in that
transaction, so a process killed between the commit and the computation loses nothing (the
item is still there when the hub starts again), and a write that rolls back asks for nothing.

The rules, written once over a backend's :class:`~cityhub.store.database.SqlConnection`
(:class:`Work`; the same contract tests on both backends):

- An item is ``(service, tenant, key, payload)``. Items with the same non-None ``key`` that no
  worker has claimed yet are one item (coalesced: the later payload, the earlier due time and
  enqueue time, and ``merged`` counts the requests merged in), so a burst of writes to one
  entity costs one computation; an item a worker holds is never merged into, so a write
  during a computation asks for another one.
- One key's items run in order: an item is claimable only while no older item of its key
  (same service and tenant, a smaller id) is in the queue, pending or leased
  (:data:`CLAIMABLE`). A newer item never overtakes an older one that a dead worker's lease
  or a retry's back-off holds back: if it did (an alert episode closed by the newer reading),
  the older one would then run on the state the newer one left (and reopen the episode).
  Items without a key are unordered.
- :meth:`WorkQueue.claim` leases items (``lease`` seconds) under a fresh token: of several
  workers, one takes each item; an item whose worker died is due again when its lease ends
  (and, on a store served by one process, at once when it starts again:
  :meth:`WorkQueue.release_leases`). :meth:`WorkQueue.done` and :meth:`WorkQueue.retry` act only
  under the token of the claim, so a worker whose lease ran out cannot remove an item another
  worker took over.
- Delivery is at least once: a service's result must not depend on how many times it runs.

What a backend keeps: its marks and JSON typing (``SqlConnection``), whether one process
serves the store (SQLite: every lease at start-up is a dead process's), and PostgreSQL's claim
in one statement (``store/postgres/work.py``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityhub.store.base import Document
from cityhub.store.database import Conn, Database, SqlConnection, SqlStore

#: queue an item, or coalesce it with the unclaimed item of its key (the later payload, the
#: earlier due time, the items merged into either and one more counted)
ENQUEUE = (
    "INSERT INTO service_work (service, tenant, item_key, payload, due_at, enqueued_at, merged)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (service, tenant, item_key) WHERE lease_token IS NULL"
    " DO UPDATE SET payload = excluded.payload, due_at = CASE"
    " WHEN excluded.due_at < service_work.due_at THEN excluded.due_at"
    " ELSE service_work.due_at END,"
    " merged = service_work.merged + excluded.merged + 1"
)
#: remove an item done, only under the lease of the claim that holds it (``Work.done``, and a
#: transaction's ``finish_work``)
FINISH = "DELETE FROM service_work WHERE id = ? AND lease_token = ?"
_COLUMNS = "id, service, tenant, item_key, payload, attempts, enqueued_at, merged"

#: the WHERE condition of an item (``w``) that may be claimed when it is due: no older item of
#: its key is in the queue (pending or leased), so one key's items run one at a time, in order
#: (index ``service_work_key``)
CLAIMABLE = (
    "NOT EXISTS (SELECT 1 FROM service_work o WHERE o.service = w.service"
    " AND o.tenant = w.tenant AND o.item_key = w.item_key AND o.id < w.id)"
)


def enqueue_values(
    service: str,
    tenant: str,
    key: str | None,
    payload: Document,
    due_at: float,
    enqueued_at: float | None = None,
    merged: int = 0,
) -> tuple[Any, ...]:
    """The values of :data:`ENQUEUE` (a transaction's ``enqueue_work`` runs it; ``enqueued_at``
    None: now; ``merged``: requests of the key the transaction merged into this one)."""
    at = time.time() if enqueued_at is None else enqueued_at
    return (service, tenant, key, orjson.dumps(payload).decode(), due_at, at, merged)


@dataclass(frozen=True)
class WorkItem:
    """A claimed work item.

    Attributes:
        id: the row's id.
        service: the service that asked for it (its stable name).
        tenant: the tenant of the write that asked for it.
        key: what it is about (an entity id), None for an item never coalesced.
        payload: what the service stored with it.
        attempts: failed attempts so far.
        enqueued_at: when it was first asked for (seconds since the epoch; the commit time of
            the earliest write it stands for, give or take the transaction's length).
        token: the lease under which this claim holds it.
        merged: how many later requests of its key were merged into it before it was
            claimed (0: it stands for one write alone; counted by the queue, so no clock
            decides it).
    """

    id: int
    service: str
    tenant: str
    key: str | None
    payload: Document
    attempts: int
    enqueued_at: float
    token: str
    merged: int = 0


class Work(SqlStore[Conn]):
    """The worker side of the queue (the write side is ``Transaction.enqueue_work``).

    Args:
        db: the backend's store, which runs the row functions.
        sql: the backend's connection class for the SQL written once.
        one_process: one process serves the store (SQLite), so at start-up every lease is a
            dead process's (:meth:`release_leases`).
    """

    def __init__(self, db: Database[Conn], sql: type[SqlConnection], one_process: bool) -> None:
        super().__init__(db, sql)
        self._one_process = one_process

    async def add(
        self, service: str, tenant: str, key: str | None, payload: Document, due_at: float
    ) -> None:
        """Queue an item outside any entity write (a timer's round), coalesced by ``key`` as
        in a transaction."""
        values = enqueue_values(service, tenant, key, payload, due_at)
        await self._write(lambda sql: sql.execute(ENQUEUE, *values))

    async def claim(self, service: str, now: float, limit: int, lease: float) -> list[WorkItem]:
        """Up to ``limit`` of the service's items due at ``now``, oldest due first, leased for
        ``lease`` seconds; items another worker is claiming at this moment are skipped, and so
        is an item while an older one of its key is in the queue (:data:`CLAIMABLE`)."""

        def run(sql: SqlConnection) -> list[WorkItem]:
            rows = sql.fetch(
                f"SELECT {_COLUMNS} FROM service_work w WHERE service = ? AND due_at <= ?"
                f" AND {CLAIMABLE} ORDER BY due_at, id LIMIT ?{sql.for_update}",
                service,
                now,
                limit,
            )
            items = [
                WorkItem(
                    r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5], r[6], str(uuid.uuid4()), r[7]
                )
                for r in rows
            ]
            sql.executemany(
                "UPDATE service_work SET due_at = ?, leased_until = ?, lease_token = ?"
                " WHERE id = ?",
                [(now + lease, now + lease, i.token, i.id) for i in items],
            )
            return items

        return await self._write(run)

    async def done(self, items: Sequence[WorkItem]) -> None:
        """The items are done: remove them (not those whose lease was lost to another
        worker)."""
        if not items:
            return
        rows = [(i.id, i.token) for i in items]
        await self._write(lambda sql: sql.executemany(FINISH, rows))

    async def retry(self, item: WorkItem, error: str, due_at: float | None) -> None:
        """An attempt failed: due again at ``due_at`` (seconds since the epoch) with one more
        attempt counted, or given up (removed) when it is None."""
        if due_at is None:
            await self.done([item])
            return
        await self._write(
            lambda sql: sql.execute(
                "UPDATE service_work SET attempts = attempts + 1, last_error = ?, due_at = ?,"
                " leased_until = NULL WHERE id = ? AND lease_token = ?",
                error[:2000],
                due_at,
                item.id,
                item.token,
            )
        )

    async def release(self, items: Sequence[WorkItem], now: float) -> None:
        """Give back items claimed and not done (a worker stops): due at ``now``."""
        if not items:
            return
        rows = [(now, i.id, i.token) for i in items]
        await self._write(
            lambda sql: sql.executemany(
                "UPDATE service_work SET due_at = ?, leased_until = NULL"
                " WHERE id = ? AND lease_token = ?",
                rows,
            )
        )

    async def release_leases(self, now: float) -> int:
        """At start-up: make due at ``now`` the items a previous process of this store may
        have held (SQLite: every lease, one process serves the file; PostgreSQL: none, other
        workers' leases are theirs and a dead worker's end by themselves); how many."""
        if not self._one_process:
            return 0
        return await self._write(
            lambda sql: sql.execute(
                "UPDATE service_work SET due_at = ?, leased_until = NULL"
                " WHERE leased_until IS NOT NULL",
                now,
            )
        )

    async def next_due(self, service: str) -> float | None:
        """When the service's earliest claimable item is due (:data:`CLAIMABLE`: an item
        behind an older one of its key waits for that one), None when it has none."""
        rows = await self._db.select(
            f"SELECT min(due_at) FROM service_work w WHERE service = ? AND {CLAIMABLE}", service
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def pending(self, service: str) -> int:
        """How many items of the service are in the queue (claimed or not)."""
        rows = await self._db.select("SELECT count(*) FROM service_work WHERE service = ?", service)
        return int(rows[0][0])


#: the city services' work queue, whichever backend holds it
WorkQueue = Work[Any]


__all__ = ["CLAIMABLE", "ENQUEUE", "FINISH", "Work", "WorkItem", "WorkQueue", "enqueue_values"]
