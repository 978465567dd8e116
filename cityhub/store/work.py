"""The city services' work queue as the services see it (``cityhub.services``): durable work
items recorded inside write transactions (``Transaction.enqueue_work``), then claimed, done or
retried by each service's worker after the commit (:class:`WorkQueue`).

Why a table and not a task: a service (air quality, alerts, indicators) computes after the
write that asked for it has committed, outside its transaction; the item is written in that
transaction, so a process killed between the commit and the computation loses nothing (the
item is still there when the hub starts again), and a write that rolls back asks for nothing.

Rules every backend keeps (``store/sqlite/work.py``, ``store/postgres/work.py``, the same
contract tests):

- An item is ``(service, tenant, key, payload)``. Items with the same non-None ``key`` that no
  worker has claimed yet are one item (coalesced: the later payload, the earlier due time and
  enqueue time), so a burst of writes to one entity costs one computation; an item a worker
  holds is never merged into, so a write during a computation asks for another one.
- :meth:`WorkQueue.claim` leases items (``lease`` seconds) under a fresh token: of several
  workers, one takes each item; an item whose worker died is due again when its lease ends
  (and, on a store served by one process, at once when it starts again:
  :meth:`WorkQueue.release_leases`). :meth:`WorkQueue.done` and :meth:`WorkQueue.retry` act only
  under the token of the claim, so a worker whose lease ran out cannot remove an item another
  worker took over.
- Delivery is at least once: a service's result must not depend on how many times it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cityhub.store.base import Document


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
    """

    id: int
    service: str
    tenant: str
    key: str | None
    payload: Document
    attempts: int
    enqueued_at: float
    token: str


class WorkQueue(Protocol):
    """The worker side of the queue (the write side is ``Transaction.enqueue_work``)."""

    async def add(
        self, service: str, tenant: str, key: str | None, payload: Document, due_at: float
    ) -> None:
        """Queue an item outside any entity write (a timer's round), coalesced by ``key`` as
        in a transaction."""

    async def claim(self, service: str, now: float, limit: int, lease: float) -> list[WorkItem]:
        """Up to ``limit`` of the service's items due at ``now``, oldest due first, leased for
        ``lease`` seconds; items another worker is claiming at this moment are skipped."""

    async def done(self, items: Sequence[WorkItem]) -> None:
        """The items are done: remove them (not those whose lease was lost to another
        worker)."""

    async def retry(self, item: WorkItem, error: str, due_at: float | None) -> None:
        """An attempt failed: due again at ``due_at`` (seconds since the epoch) with one more
        attempt counted, or given up (removed) when it is None."""

    async def release(self, items: Sequence[WorkItem], now: float) -> None:
        """Give back items claimed and not done (a worker stops): due at ``now``."""

    async def release_leases(self, now: float) -> int:
        """At start-up: make due at ``now`` the items a previous process of this store may
        have held (SQLite: every lease, one process serves the file; PostgreSQL: none, other
        workers' leases are theirs and a dead worker's end by themselves); how many."""

    async def next_due(self, service: str) -> float | None:
        """When the service's earliest item is due, None when it has none."""

    async def pending(self, service: str) -> int:
        """How many items of the service are in the queue (claimed or not)."""


__all__ = ["WorkItem", "WorkQueue"]
