"""The notification outbox as the services see it (DESIGN.md decision 4; ETSI GS CIM 009
clause 5.8.6): rows queued inside write transactions (``Transaction.enqueue``), then claimed,
delivered and acknowledged by the dispatcher (:class:`OutboxQueue`), and the schedule of
periodic subscriptions (:class:`PeriodicSchedule`, clause 5.2.12 ``timeInterval``).

Each backend implements both in one :class:`Outbox` (``store/sqlite/outbox.py``,
``store/postgres/outbox.py``), which holds the rules and leaves the backend its SQL;
``cityhub.notify`` uses them through these protocols only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from cityhub.store import transaction
from cityhub.store.base import Document, Store, Transaction


@dataclass(frozen=True)
class OutboxRow:
    """A queued notification as a backend's outbox hands it to the dispatcher."""

    id: int
    tenant: str
    subscription_id: str
    payload: Document
    attempts: int
    created_at: str


class OutboxQueue(Protocol):
    """The delivery side of the outbox: claimed rows are leased, so that each attempt of a
    notification is made by one dispatcher only."""

    async def claim(self, now: float, limit: int, lease: float) -> list[OutboxRow]:
        """Up to ``limit`` rows due at ``now``, leased for ``lease`` seconds."""

    async def ack(self, row_id: int) -> None:
        """The notification was delivered: remove it."""

    async def fail(self, row_id: int, error: str, due_at: float | None) -> None:
        """An attempt failed: retry at ``due_at`` (seconds since the epoch), or give up."""

    async def next_due(self) -> float | None:
        """When the earliest row is due, None when there is none."""

    async def subscriptions_version(self) -> int:
        """A number that grows with every change of any subscription."""

    async def release_leases(self, now: float) -> int:
        """Make the rows this process may still hold leased due at ``now``; how many. Called
        when the dispatcher starts (a store served by one process: its previous process's
        leases died with it) and when it stops (rows of a round cut short)."""

    def enqueued(self) -> int:
        """How many rows this process has queued, committed or not: a commit that left the
        number unchanged queued nothing, and needs no look at the outbox."""


class PeriodicSchedule(Protocol):
    """When each periodic subscription's next round is due. Moving a round on and queueing
    its notification is one transaction, so a restart neither loses a round nor sends one
    twice, and of several workers only one sends each round."""

    async def subscriptions_version(self) -> int:
        """A number that grows with every change of any subscription."""

    async def periodic_schedule(self) -> dict[tuple[str, str], float]:
        """(tenant, subscription id) → when its next round is due."""

    async def periodic_forget(self, keys: list[tuple[str, str]]) -> None:
        """Drop the schedule of subscriptions that are gone or no longer periodic."""

    async def periodic_fire(
        self,
        tenant: str,
        sub_id: str,
        payload: Document | None,
        now: float,
        next_at: float,
        previous: float | None,
    ) -> bool:
        """Queue ``payload`` (unless None) and move the round from ``previous`` (None: the
        first round) to ``next_at``, in one transaction; False, and nothing done, when the
        round was already moved on (by another process)."""


class Outbox(ABC):
    """An :class:`OutboxQueue` and :class:`PeriodicSchedule` on ``store``: the rules, once. A
    given-up notification goes like a delivered one; a failed attempt keeps the first 2,000
    characters of its error; a periodic round moves on and queues its notification in one
    transaction, and only in the process that moved it. The subclass writes the rows."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @abstractmethod
    async def ack(self, row_id: int) -> None: ...

    @abstractmethod
    async def _retry(self, row_id: int, error: str, due_at: float) -> None:
        """Count the failed attempt, keep its error, make the row due at ``due_at``."""

    async def fail(self, row_id: int, error: str, due_at: float | None) -> None:
        if due_at is None:
            await self.ack(row_id)
        else:
            await self._retry(row_id, error[:2000], due_at)

    @staticmethod
    def enqueued() -> int:
        return transaction.enqueued()

    async def periodic_fire(
        self,
        tenant: str,
        sub_id: str,
        payload: Document | None,
        now: float,
        next_at: float,
        previous: float | None,
    ) -> bool:
        def fire(tx: Transaction) -> bool:
            if not tx.move_periodic_round(sub_id, previous, next_at):
                return False
            if payload is not None:
                tx.enqueue(sub_id, payload, now)
            return True

        return await self.store.write(tenant, fire)

    @staticmethod
    def _row(r: Any) -> OutboxRow:
        """An outbox row from (id, tenant, subscription id, payload JSON, attempts, created)."""
        return OutboxRow(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5])


__all__ = ["Outbox", "OutboxQueue", "OutboxRow", "PeriodicSchedule"]
