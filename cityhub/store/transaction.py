"""A write transaction's rules, once (``cityhub.store.base.Transaction``): a change writes the
entity's rows, then its type index when the types changed, then the backend's derived index
rows, then calls the store's transaction hooks (history, the services') with the transaction
itself; a savepoint forgets the changes it rolls back; a queued notification is counted. Each
backend's subclass (``store/<backend>/transaction.py``) writes those rows with its SQL.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import orjson

from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.store.base import Change, Document, TxHook
from cityhub.store.work import enqueue_values


class _Connection(Protocol):
    def execute(self, sql: str, /) -> Any: ...


Conn = TypeVar("Conn", bound=_Connection)

_enqueued = 0  # outbox rows the transactions of this process inserted


def enqueued() -> int:
    """How many outbox rows this process has queued, committed or not: when the number has not
    moved since a commit, that commit queued nothing (the dispatcher's test whether a commit
    is worth a look at the outbox)."""
    return _enqueued


class BaseTransaction(ABC, Generic[Conn]):
    """A :class:`~cityhub.store.base.Transaction` on a backend's connection ``conn``, inside
    the transaction it is in."""

    def __init__(self, conn: Conn, tenant: str, hooks: Sequence[TxHook] = ()) -> None:
        self.conn = conn
        self.tenant = tenant
        self.hooks = hooks
        self.changes: list[Change] = []
        #: the work items queued so far (service, key, payload, due, queued at), written at
        #: the end (``flush_work``); a savepoint rolled back forgets those it queued
        self._work: list[tuple[str, str | None, Document, float, float]] = []
        self._sp = 0
        #: notifications this transaction queued
        self.queued = 0
        #: the subscriptions' version, read once per transaction (see subscriptions_version)
        self._subscriptions_version: int | None = None

    def subscriptions_version(self) -> int:
        """The subscriptions' version (``cityhub.store.base.Transaction``), read once per
        transaction: the notification trigger asks it for every change, and a batch of 100
        entities would otherwise read it 100 times (on PostgreSQL, 100 round trips). A
        subscription another worker commits while this transaction runs counts from the
        next transaction on, as if it had been created after this one."""
        if self._subscriptions_version is None:
            self._subscriptions_version = self._read_subscriptions_version()
        return self._subscriptions_version

    @abstractmethod
    def _read_subscriptions_version(self) -> int:
        """The version as stored now."""

    # ---- the backend's rows ------------------------------------------------------------
    @abstractmethod
    def _insert_row(self, entity: Entity) -> None:
        """The entity's row. Raises AlreadyExists when the id is taken."""

    @abstractmethod
    def _update_row(self, entity: Entity) -> None: ...

    @abstractmethod
    def _delete_rows(self, entity_id: str) -> None:
        """The entity's row and its type index rows."""

    @abstractmethod
    def _write_types(self, entity: Entity, replace: bool) -> None:
        """The entity's type index rows (``replace``: the entity had some)."""

    def _index(self, change: Change) -> None:
        """The backend's own derived index rows of a change."""

    @abstractmethod
    def _matches(self, entity_id: str, q: Node | None, scope_q: Node | None) -> bool: ...

    @abstractmethod
    def _documents(self, table: str, unexpired: bool = False) -> list[Document]:
        """The tenant's stored documents of ``table``, oldest first (``unexpired``: those
        whose ``expires_at`` has not passed)."""

    @abstractmethod
    def _insert_work(self, rows: list[tuple[Any, ...]]) -> None:
        """Run :data:`cityhub.store.work.ENQUEUE` for each of ``rows`` (``enqueue_values``)."""

    @abstractmethod
    def _insert_outbox(self, subscription_id: str, payload: str, due_at: float, at: str) -> None:
        """An outbox row: the payload's JSON text, due at ``due_at``, created ``at``."""

    def _in_transaction(self) -> bool:
        """False when the database has rolled the transaction back by itself."""
        return True

    # ---- the rules ---------------------------------------------------------------------
    def _emit(self, change: Change) -> None:
        self.changes.append(change)
        self._index(change)
        for hook in self.hooks:  # in the same transaction: history, outbox rows
            hook(self, change)  # type: ignore[arg-type]  # a subclass is a Transaction

    def insert(self, entity: Entity) -> None:
        self._insert_row(entity)
        self._write_types(entity, False)
        self._emit(Change("entityCreated", self.tenant, entity["id"], None, entity))

    def save(self, entity: Entity, before: Entity | None = None) -> None:
        self._update_row(entity)
        if before is None or before["type"] != entity["type"]:
            self._write_types(entity, True)
        self._emit(Change("entityUpdated", self.tenant, entity["id"], before, entity))

    def delete(self, entity_id: str) -> bool:
        before = self.get(entity_id)
        if before is None:
            return False
        self._delete_rows(entity_id)
        self._emit(Change("entityDeleted", self.tenant, entity_id, before, None))
        return True

    @abstractmethod
    def get(self, entity_id: str) -> Entity | None: ...

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        self._sp += 1
        name = f"sp{self._sp}"
        mark, work = len(self.changes), len(self._work)
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self._in_transaction():
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            del self.changes[mark:]
            del self._work[work:]
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")

    def matches(self, entity_id: str, q: Node | None = None, scope_q: Node | None = None) -> bool:
        return q is None and scope_q is None or self._matches(entity_id, q, scope_q)

    def subscriptions(self) -> list[Document]:
        return self._documents("subscriptions")

    def registrations(self) -> list[Document]:
        return self._documents("csource_registrations", unexpired=True)

    def registration_subscriptions(self) -> list[Document]:
        return self._documents("csource_subscriptions")

    def enqueue_work(self, service: str, key: str | None, payload: Document, due_at: float) -> None:
        """Held until :meth:`flush_work`: a batch's changes ask the services for their work
        change by change, and the rows are written together, one per item."""
        self._work.append((service, key, payload, due_at, time.time()))

    def flush_work(self) -> None:
        """Write the work items this transaction queued (the store's write path calls it when
        the transaction's function returned, before the commit): one row per service and key
        (a key asked for twice in one transaction is one item, as two transactions' unclaimed
        items are: the later payload, the earlier due time, the merge counted) in one
        ``executemany``."""
        if not self._work:
            return
        keyed: dict[tuple[str, str], list[Any]] = {}
        rows: list[list[Any]] = []
        for service, key, payload, due_at, at in self._work:
            if key is not None:
                held = keyed.get((service, key))
                if held is not None:
                    held[3] = payload
                    held[4] = min(held[4], due_at)
                    held[6] += 1  # merged into it
                    continue
                keyed[(service, key)] = row = [service, self.tenant, key, payload, due_at, at, 0]
            else:
                row = [service, self.tenant, key, payload, due_at, at, 0]
            rows.append(row)
        self._work.clear()
        self._insert_work([enqueue_values(*row) for row in rows])

    def enqueue(self, subscription_id: str, payload: Document, due_at: float) -> None:
        global _enqueued
        _enqueued += 1
        at = format_datetime(datetime.fromtimestamp(due_at, UTC))
        self._insert_outbox(subscription_id, orjson.dumps(payload).decode(), due_at, at)
        self.queued += 1


__all__ = ["BaseTransaction", "enqueued"]
