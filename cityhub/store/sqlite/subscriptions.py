"""Subscriptions in SQLite: one row per (tenant, id) holding the subscription's JSON document.

Writes run on the store's writer thread inside ``BEGIN IMMEDIATE`` … ``COMMIT``; reads on a
reader connection. The document is the internal form of ``cityhub.ngsild.subscription``.

The notification status members the hub maintains (``timesSent``, ``lastSuccess`` ...) live in
their own table, ``subscription_status``, and are merged into ``notification`` on every read:
delivering a notification then does not touch the ``subscriptions`` row, so caches keyed on the
subscriptions' version (the notification matcher's index) stay valid while notifications flow.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.sqlite.store import SqliteStore, in_transaction

T = TypeVar("T")
Document = dict[str, Any]

_SELECT = (
    "SELECT s.doc, st.status FROM subscriptions s LEFT JOIN subscription_status st"
    " ON st.tenant = s.tenant AND st.id = s.id"
)


_transaction = in_transaction


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _merged(doc_text: str, status_text: str | None) -> Document:
    doc: Document = orjson.loads(doc_text)
    if status_text:
        doc["notification"] = {**(doc.get("notification") or {}), **orjson.loads(status_text)}
    return doc


class SqliteSubscriptionStore:
    """Create, read, query, update and delete subscriptions of one SQLite store.

    Args:
        store: the SQLite store whose writer and readers to use (its tables are migration
            0004's).
    """

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        #: called (on the event loop) after a create, update or delete committed; the
        #: notification dispatcher listens here, since these writes carry no entity change
        self.on_commit: list[Callable[[], None]] = []

    def _committed(self) -> None:
        for fn in self.on_commit:
            fn()

    async def create(self, tenant: str, doc: Document) -> None:
        """Store a new subscription (``doc["id"]`` set); its tenant is created if new.

        Raises:
            AlreadyExists: the tenant has a subscription with this id.
        """
        sub_id = doc["id"]
        now = now_iso()

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                conn.execute(
                    "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)",
                    (tenant, now),
                )
                try:
                    conn.execute(
                        "INSERT INTO subscriptions (tenant, id, doc, created_at, modified_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (tenant, sub_id, _dumps(doc), now, now),
                    )
                except sqlite3.IntegrityError as exc:
                    raise AlreadyExists(f"a subscription with id {sub_id} already exists") from exc

            _transaction(conn, body)

        await self.store.run_write(run)
        self._committed()

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        """The subscription, or None."""

        def run(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(
                f"{_SELECT} WHERE s.tenant = ? AND s.id = ?", (tenant, sub_id)
            ).fetchone()
            return _merged(row[0], row[1]) if row else None

        return await self.store.run_read(run)

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """A page of the tenant's subscriptions in creation order, and their total if asked."""

        def run(conn: sqlite3.Connection) -> tuple[list[Document], int | None]:
            docs: list[Document] = []
            if limit > 0:
                rows = conn.execute(
                    f"{_SELECT} WHERE s.tenant = ? ORDER BY s.rowid LIMIT ? OFFSET ?",
                    (tenant, limit, offset),
                ).fetchall()
                docs = [_merged(r[0], r[1]) for r in rows]
            total = None
            if count:
                total = conn.execute(
                    "SELECT count(*) FROM subscriptions WHERE tenant = ?", (tenant,)
                ).fetchone()[0]
            return docs, total

        return await self.store.run_read(run)

    async def all(self) -> list[tuple[str, Document]]:
        """Every subscription of every tenant, as (tenant, document) (for the notifier)."""

        def run(conn: sqlite3.Connection) -> list[tuple[str, Document]]:
            rows = conn.execute(
                "SELECT s.tenant, s.doc, st.status FROM subscriptions s"
                " LEFT JOIN subscription_status st ON st.tenant = s.tenant AND st.id = s.id"
                " ORDER BY s.rowid"
            ).fetchall()
            return [(r[0], _merged(r[1], r[2])) for r in rows]

        return await self.store.run_read(run)

    async def update(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a subscription by ``change(current)``, atomically; None if there is none.

        ``change`` runs on the writer thread inside the transaction: it must be quick and do
        no I/O. If it raises, nothing changes and the exception propagates.
        """
        now = now_iso()

        def run(conn: sqlite3.Connection) -> Document | None:
            def body() -> Document | None:
                row = conn.execute(
                    "SELECT doc FROM subscriptions WHERE tenant = ? AND id = ?",
                    (tenant, sub_id),
                ).fetchone()
                if row is None:
                    return None
                new = change(orjson.loads(row[0]))
                conn.execute(
                    "UPDATE subscriptions SET doc = ?, modified_at = ? WHERE tenant = ? AND id = ?",
                    (_dumps(new), now, tenant, sub_id),
                )
                return new

            return _transaction(conn, body)

        updated = await self.store.run_write(run)
        self._committed()
        return updated

    async def update_status(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the notification status members by ``change(current)`` (clause 5.2.14
        ``timesSent``, ``lastNotification`` ...), atomically; nothing for a missing
        subscription. ``change`` runs on the writer thread: quick, no I/O."""

        def run(conn: sqlite3.Connection) -> None:
            def body() -> None:
                if (
                    conn.execute(
                        "SELECT 1 FROM subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
                    ).fetchone()
                    is None
                ):
                    return
                row = conn.execute(
                    "SELECT status FROM subscription_status WHERE tenant = ? AND id = ?",
                    (tenant, sub_id),
                ).fetchone()
                new = change(orjson.loads(row[0]) if row else {})
                conn.execute(
                    "INSERT OR REPLACE INTO subscription_status (tenant, id, status)"
                    " VALUES (?, ?, ?)",
                    (tenant, sub_id, _dumps(new)),
                )

            _transaction(conn, body)

        await self.store.run_write(run)

    async def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete a subscription; False if there was none."""

        def run(conn: sqlite3.Connection) -> bool:
            def body() -> bool:
                cur = conn.execute(
                    "DELETE FROM subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
                )
                conn.execute(
                    "DELETE FROM subscription_status WHERE tenant = ? AND id = ?", (tenant, sub_id)
                )
                return cur.rowcount > 0

            return _transaction(conn, body)

        deleted = await self.store.run_write(run)
        self._committed()
        return deleted


__all__ = ["SqliteSubscriptionStore"]
