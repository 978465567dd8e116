"""Where subscriptions live (ETSI GS CIM 009 clauses 5.8.1-5.8.5): :class:`Subscriptions`, the
one subscription store ``cityhub.subscriptions`` and ``cityhub.notify`` use (typed
:data:`SubscriptionStore`), its rules over :class:`SubscriptionRows`, their SQL written once
over a backend's :class:`~cityhub.store.database.SqlConnection` (``store/sqlite/rows.py``,
``store/postgres/rows.py``).

A subscription is stored as its document, the internal form of ``cityhub.ngsild.subscription``.
The notification status members the hub maintains (``timesSent``, ``lastSuccess`` ...) are
kept apart from the document (:meth:`Subscriptions.update_status`) and merged into its
``notification`` on every read, so a delivery does not count as a change of the subscription
(caches keyed on the subscriptions' version, the notification matcher's index, stay valid).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.base import Document
from cityhub.store.database import Conn, Database, SqlConnection, add_tenant

T = TypeVar("T")
#: a stored subscription as JSON text: (document, status members or None)
StoredText = tuple[str, str | None]
_SELECT = (
    "SELECT s.tenant, s.doc, st.status FROM subscriptions s LEFT JOIN subscription_status st"
    " ON st.tenant = s.tenant AND st.id = s.id"
)


class SubscriptionRows:
    """The subscription rows of one connection, inside the caller's transaction (or read): SQL,
    no rule (the tables of SQLite's migration 0004 and PostgreSQL's 0002 and 0005). Documents
    are read as JSON text, to be merged with their status."""

    def __init__(self, sql: SqlConnection) -> None:
        self.sql = sql

    def add_tenant(self, tenant: str, now: str) -> None:
        add_tenant(self.sql, tenant, now)

    def insert(self, tenant: str, doc: Document, now: str) -> bool:
        """False (and nothing written) when the id is taken."""
        statement = (
            "INSERT INTO subscriptions (tenant, id, doc, created_at, modified_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        return self.sql.execute(statement, tenant, doc["id"], _dumps(doc), now, now) == 1

    def get(self, tenant: str, sub_id: str) -> StoredText | None:
        rows = self.sql.fetch(f"{_SELECT} WHERE s.tenant = ? AND s.id = ?", tenant, sub_id)
        return (rows[0][1], rows[0][2]) if rows else None

    def page(self, tenant: str, limit: int, offset: int) -> list[StoredText]:
        """The tenant's subscriptions in creation order."""
        statement = f"{_SELECT} WHERE s.tenant = ? ORDER BY s.{self.sql.seq} LIMIT ? OFFSET ?"
        return [(r[1], r[2]) for r in self.sql.fetch(statement, tenant, limit, offset)]

    def count(self, tenant: str) -> int:
        statement = "SELECT count(*) FROM subscriptions WHERE tenant = ?"
        return int(self.sql.fetch(statement, tenant)[0][0])

    def every(self) -> list[tuple[str, str, str | None]]:
        """(tenant, document, status) of every subscription, in creation order."""
        rows = self.sql.fetch(f"{_SELECT} ORDER BY s.{self.sql.seq}")
        return [(r[0], r[1], r[2]) for r in rows]

    def locked(self, tenant: str, sub_id: str) -> Document | None:
        """The document, which no other writer changes before this transaction ends."""
        statement = "SELECT doc FROM subscriptions WHERE tenant = ? AND id = ?"
        rows = self.sql.fetch(statement + self.sql.for_update, tenant, sub_id)
        return orjson.loads(rows[0][0]) if rows else None

    def replace(self, tenant: str, sub_id: str, doc: Document, now: str) -> None:
        statement = "UPDATE subscriptions SET doc = ?, modified_at = ? WHERE tenant = ? AND id = ?"
        self.sql.execute(statement, _dumps(doc), now, tenant, sub_id)

    def locked_status(self, tenant: str, sub_id: str) -> Document | None:
        """The status members (``{}`` when none yet), which no other writer changes before
        this transaction ends; None when there is no such subscription. The status row is
        made first, the subscription's held on the way: a delete waits for this transaction,
        and one that came first leaves nothing to make."""
        self.sql.execute(
            "INSERT INTO subscription_status (tenant, id, status) SELECT tenant, id, '{}'"
            f" FROM subscriptions WHERE tenant = ? AND id = ?{self.sql.key_share}"
            " ON CONFLICT DO NOTHING",
            tenant,
            sub_id,
        )
        statement = "SELECT status FROM subscription_status WHERE tenant = ? AND id = ?"
        rows = self.sql.fetch(statement + self.sql.for_update, tenant, sub_id)
        return orjson.loads(rows[0][0]) if rows else None

    def set_status(self, tenant: str, sub_id: str, status: Document) -> None:
        statement = "UPDATE subscription_status SET status = ? WHERE tenant = ? AND id = ?"
        self.sql.execute(statement, _dumps(status), tenant, sub_id)

    def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete the subscription and its status; False if there was none."""
        self.sql.execute(
            "DELETE FROM subscription_status WHERE tenant = ? AND id = ?", tenant, sub_id
        )
        statement = "DELETE FROM subscriptions WHERE tenant = ? AND id = ?"
        return self.sql.execute(statement, tenant, sub_id) > 0


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _merged(stored: StoredText) -> Document:
    doc: Document = orjson.loads(stored[0])
    if stored[1]:
        doc["notification"] = {**(doc.get("notification") or {}), **orjson.loads(stored[1])}
    return doc


class Subscriptions(Generic[Conn]):
    """Subscriptions per tenant, on one backend: these rules, its rows.

    Args:
        db: the backend's store, which runs the row functions.
        sql: the backend's connection for the SQL written once (:class:`SubscriptionRows`).
    """

    def __init__(self, db: Database[Conn], sql: Callable[[Conn], SqlConnection]) -> None:
        self._db = db
        self._sql = sql
        #: called (on the event loop) after a create, update or delete committed in this
        #: process (another PostgreSQL worker's change reaches its notifier through
        #: ``notify_version``)
        self.on_commit: list[Callable[[], None]] = []

    async def _write(self, fn: Callable[[SubscriptionRows], T], committed: bool = True) -> T:
        result = await self._db.run_transaction(lambda conn: fn(SubscriptionRows(self._sql(conn))))
        if committed:
            for listener in self.on_commit:
                listener()
        return result

    async def _read(self, fn: Callable[[SubscriptionRows], T]) -> T:
        return await self._db.run_read(lambda conn: fn(SubscriptionRows(self._sql(conn))))

    async def create(self, tenant: str, doc: Document) -> None:
        """Store a new subscription (``doc["id"]`` set); its tenant is created if new.

        Raises:
            AlreadyExists: the tenant has a subscription with this id.
        """
        now = now_iso()

        def run(rows: SubscriptionRows) -> None:
            rows.add_tenant(tenant, now)
            if not rows.insert(tenant, doc, now):
                raise AlreadyExists(f"a subscription with id {doc['id']} already exists")

        await self._write(run)

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        """The subscription, or None."""
        stored = await self._read(lambda rows: rows.get(tenant, sub_id))
        return _merged(stored) if stored else None

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """A page of subscriptions in creation order, and the total when ``count``."""

        def run(rows: SubscriptionRows) -> tuple[list[Document], int | None]:
            docs = [_merged(s) for s in rows.page(tenant, limit, offset)] if limit > 0 else []
            return docs, rows.count(tenant) if count else None

        return await self._read(run)

    async def all(self) -> list[tuple[str, Document]]:
        """Every subscription of every tenant, as (tenant, document) (for the notifier)."""
        stored = await self._read(lambda rows: rows.every())
        return [(tenant, _merged((doc, status))) for tenant, doc, status in stored]

    async def update(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a subscription by ``change(current)`` atomically; None if missing.
        ``change`` runs inside the transaction: quick, no I/O; if it raises, nothing changes
        and the exception propagates."""
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
        """Replace the notification status members by ``change(current)`` (clause 5.2.14
        ``timesSent``, ``lastNotification`` ...) atomically; nothing for a missing
        subscription."""

        def run(rows: SubscriptionRows) -> None:
            status = rows.locked_status(tenant, sub_id)
            if status is not None:
                rows.set_status(tenant, sub_id, change(status))

        await self._write(run, committed=False)

    async def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete; False if missing."""
        return await self._write(lambda rows: rows.delete(tenant, sub_id))


#: what the services and the notifier hold, whatever the backend's connection
SubscriptionStore = Subscriptions[Any]


__all__ = ["StoredText", "SubscriptionRows", "SubscriptionStore", "Subscriptions"]
