"""Where subscriptions live (ETSI GS CIM 009 clauses 5.8.1-5.8.5): the protocol
``cityhub.subscriptions`` and ``cityhub.notify`` use, and :class:`Subscriptions`, its one
implementation, over the rows of a backend (:class:`SubscriptionRows`:
``store/sqlite/subscriptions.py``, ``store/postgres/subscriptions.py``).

A subscription is stored as its document, the internal form of ``cityhub.ngsild.subscription``.
The notification status members the hub maintains (``timesSent``, ``lastSuccess`` ...) are
kept apart from the document (:meth:`SubscriptionStore.update_status`) and merged into its
``notification`` on every read, so a delivery does not count as a change of the subscription
(caches keyed on the subscriptions' version, the notification matcher's index, stay valid).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.base import Document
from cityhub.store.database import Conn, Database

T = TypeVar("T")
#: a stored subscription as JSON text: (document, status members or None)
StoredText = tuple[str, str | None]


class SubscriptionStore(Protocol):
    """Subscriptions per tenant."""

    #: called (on the event loop) after a create, update or delete committed: the
    #: notification dispatcher listens here, since these writes carry no entity change
    on_commit: list[Callable[[], None]]

    async def create(self, tenant: str, doc: Document) -> None:
        """Store a new subscription (``doc["id"]`` set); its tenant is created if new.

        Raises:
            AlreadyExists: the tenant has a subscription with this id.
        """

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        """The subscription, or None."""

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """A page of subscriptions in creation order, and the total when ``count``."""

    async def update(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a subscription by ``change(current)`` atomically; None if missing.
        ``change`` runs inside the transaction: quick, no I/O."""

    async def update_status(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the notification status members by ``change(current)`` (clause 5.2.14
        ``timesSent``, ``lastNotification`` ...) atomically; nothing for a missing
        subscription."""

    async def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete; False if missing."""

    async def all(self) -> list[tuple[str, Document]]:
        """Every subscription of every tenant, as (tenant, document) (for the notifier)."""


class SubscriptionRows(Protocol):
    """A backend's subscription rows on one connection, inside the caller's transaction (or
    read): only SQL, no rule. Documents are JSON text where they are read to be merged."""

    def add_tenant(self, tenant: str, now: str) -> None:
        """The tenant's row, if it has none yet."""

    def insert(self, tenant: str, doc: Document, now: str) -> bool:
        """A new subscription row; False (and nothing written) when the id is taken."""

    def get(self, tenant: str, sub_id: str) -> StoredText | None: ...

    def page(self, tenant: str, limit: int, offset: int) -> list[StoredText]:
        """The tenant's subscriptions in creation order."""

    def count(self, tenant: str) -> int: ...

    def every(self) -> list[tuple[str, str, str | None]]:
        """(tenant, document, status) of every subscription, in creation order."""

    def locked(self, tenant: str, sub_id: str) -> Document | None:
        """The document, which no other writer changes before this transaction ends."""

    def replace(self, tenant: str, sub_id: str, doc: Document, now: str) -> None: ...

    def locked_status(self, tenant: str, sub_id: str) -> Document | None:
        """The status members (``{}`` when none yet), which no other writer changes before
        this transaction ends; None when there is no such subscription."""

    def set_status(self, tenant: str, sub_id: str, status: Document) -> None: ...

    def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete the subscription and its status; False if there was none."""


def _merged(stored: StoredText) -> Document:
    doc: Document = orjson.loads(stored[0])
    if stored[1]:
        doc["notification"] = {**(doc.get("notification") or {}), **orjson.loads(stored[1])}
    return doc


class Subscriptions(Generic[Conn]):
    """The :class:`SubscriptionStore` of a backend: these rules, its rows.

    Args:
        db: the backend's store, which runs the row functions.
        rows: the backend's :class:`SubscriptionRows` on a connection.
    """

    def __init__(self, db: Database[Conn], rows: Callable[[Conn], SubscriptionRows]) -> None:
        self._db = db
        self._rows = rows
        #: called (on the event loop) after a create, update or delete committed in this
        #: process (another PostgreSQL worker's change reaches its notifier through
        #: ``notify_version``)
        self.on_commit: list[Callable[[], None]] = []

    async def _write(self, fn: Callable[[SubscriptionRows], T], committed: bool = True) -> T:
        result = await self._db.run_transaction(lambda conn: fn(self._rows(conn)))
        if committed:
            for listener in self.on_commit:
                listener()
        return result

    async def _read(self, fn: Callable[[SubscriptionRows], T]) -> T:
        return await self._db.run_read(lambda conn: fn(self._rows(conn)))

    async def create(self, tenant: str, doc: Document) -> None:
        now = now_iso()

        def run(rows: SubscriptionRows) -> None:
            rows.add_tenant(tenant, now)
            if not rows.insert(tenant, doc, now):
                raise AlreadyExists(f"a subscription with id {doc['id']} already exists")

        await self._write(run)

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        stored = await self._read(lambda rows: rows.get(tenant, sub_id))
        return _merged(stored) if stored else None

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        def run(rows: SubscriptionRows) -> tuple[list[Document], int | None]:
            docs = [_merged(s) for s in rows.page(tenant, limit, offset)] if limit > 0 else []
            return docs, rows.count(tenant) if count else None

        return await self._read(run)

    async def all(self) -> list[tuple[str, Document]]:
        stored = await self._read(lambda rows: rows.every())
        return [(tenant, _merged((doc, status))) for tenant, doc, status in stored]

    async def update(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """If ``change`` raises, nothing changes and the exception propagates."""
        now = now_iso()

        def run(rows: SubscriptionRows) -> Document | None:
            current = rows.locked(tenant, sub_id)
            if current is None:
                return None
            new = change(current)
            rows.replace(tenant, sub_id, new, now)
            return new

        return await self._write(run)

    async def update_status(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> None:
        def run(rows: SubscriptionRows) -> None:
            status = rows.locked_status(tenant, sub_id)
            if status is not None:
                rows.set_status(tenant, sub_id, change(status))

        await self._write(run, committed=False)

    async def delete(self, tenant: str, sub_id: str) -> bool:
        return await self._write(lambda rows: rows.delete(tenant, sub_id))


__all__ = ["StoredText", "SubscriptionRows", "SubscriptionStore", "Subscriptions"]
