"""Subscriptions in PostgreSQL: one row per (tenant, id) holding the subscription's document
(the internal form of ``cityhub.ngsild.subscription``) as JSONB.

The notification status members the hub maintains (``timesSent``, ``lastSuccess`` ...) live in
``subscription_status`` (migration 5) and are merged into ``notification`` on every read, as on
SQLite: a delivery then does not rewrite the subscription, so it does not bump
``notify_version`` and the workers' caches of prepared subscriptions stay valid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.store import PostgresStore

Document = dict[str, Any]


_SELECT = (
    "SELECT s.doc::text, st.status::text FROM subscriptions s LEFT JOIN subscription_status st"
    " ON st.tenant = s.tenant AND st.id = s.id"
)


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _merged(doc_text: str, status_text: str | None) -> Document:
    doc: Document = orjson.loads(doc_text)
    if status_text:
        doc["notification"] = {**(doc.get("notification") or {}), **orjson.loads(status_text)}
    return doc


class PostgresSubscriptionStore:
    """Create, read, query, update and delete subscriptions (a ``SubscriptionStore``)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        #: called (on the event loop) after a create, update or delete committed in this
        #: process (another worker's change reaches the notifier through ``notify_version``)
        self.on_commit: list[Callable[[], None]] = []

    def _committed(self) -> None:
        for fn in self.on_commit:
            fn()

    async def create(self, tenant: str, doc: Document) -> None:
        """Store a new subscription (``doc["id"]`` set); its tenant is created if new.

        Raises:
            AlreadyExists: the tenant has a subscription with this id.
        """
        now = now_iso()

        def run(conn: SyncConnection) -> None:
            conn.execute(
                "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                tenant,
                now,
            )
            status = conn.execute(
                "INSERT INTO subscriptions (tenant, id, doc, created_at, modified_at)"
                " VALUES ($1, $2, $3::jsonb, $4, $4) ON CONFLICT DO NOTHING",
                tenant,
                doc["id"],
                _dumps(doc),
                now,
            )
            if rowcount(status) == 0:
                raise AlreadyExists(f"a subscription with id {doc['id']} already exists")

        await self.store.run_transaction(run)
        self._committed()

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        """The subscription, or None."""
        rows = await self.store.fetch(
            f"{_SELECT} WHERE s.tenant = $1 AND s.id = $2", tenant, sub_id
        )
        return _merged(rows[0][0], rows[0][1]) if rows else None

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """A page of the tenant's subscriptions in creation order, and their total if asked."""
        docs: list[Document] = []
        if limit > 0:
            rows = await self.store.fetch(
                f"{_SELECT} WHERE s.tenant = $1 ORDER BY s.seq LIMIT $2 OFFSET $3",
                tenant,
                limit,
                offset,
            )
            docs = [_merged(r[0], r[1]) for r in rows]
        total = None
        if count:
            rows = await self.store.fetch(
                "SELECT count(*) FROM subscriptions WHERE tenant = $1", tenant
            )
            total = int(rows[0][0])
        return docs, total

    async def all(self) -> list[tuple[str, Document]]:
        """Every subscription of every tenant, as (tenant, document) (for the notifier)."""
        rows = await self.store.fetch(
            "SELECT s.tenant, s.doc::text, st.status::text FROM subscriptions s LEFT JOIN"
            " subscription_status st ON st.tenant = s.tenant AND st.id = s.id ORDER BY s.seq"
        )
        return [(r[0], _merged(r[1], r[2])) for r in rows]

    async def update(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a subscription by ``change(current)``, atomically (the row is locked from
        read to write, so concurrent updates from several workers do not lose each other's
        changes); None if there is none."""
        now = now_iso()

        def run(conn: SyncConnection) -> Document | None:
            row = conn.fetchrow(
                "SELECT doc::text FROM subscriptions WHERE tenant = $1 AND id = $2 FOR UPDATE",
                tenant,
                sub_id,
            )
            if row is None:
                return None
            new = change(orjson.loads(row[0]))
            conn.execute(
                "UPDATE subscriptions SET doc = $1::jsonb, modified_at = $2"
                " WHERE tenant = $3 AND id = $4",
                _dumps(new),
                now,
                tenant,
                sub_id,
            )
            return new

        updated = await self.store.run_transaction(run)
        self._committed()
        return updated

    async def update_status(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the notification status members by ``change(current)`` (clause 5.2.14
        ``timesSent``, ``lastNotification`` ...), atomically across workers (the status row is
        created first, then locked); nothing for a missing subscription."""

        def run(conn: SyncConnection) -> None:
            conn.execute(
                "INSERT INTO subscription_status (tenant, id, status) SELECT tenant, id, '{}'"
                " FROM subscriptions WHERE tenant = $1 AND id = $2 ON CONFLICT DO NOTHING",
                tenant,
                sub_id,
            )
            row = conn.fetchrow(
                "SELECT status::text FROM subscription_status WHERE tenant = $1 AND id = $2"
                " FOR UPDATE",
                tenant,
                sub_id,
            )
            if row is None:
                return
            conn.execute(
                "UPDATE subscription_status SET status = $1::jsonb WHERE tenant = $2 AND id = $3",
                _dumps(change(orjson.loads(row[0]))),
                tenant,
                sub_id,
            )

        try:
            await self.store.run_transaction(run)
        except asyncpg.ForeignKeyViolationError:
            pass  # the subscription was deleted meanwhile: it has no status to keep

    async def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete a subscription; False if there was none."""

        def run(conn: SyncConnection) -> bool:
            conn.execute(
                "DELETE FROM subscription_status WHERE tenant = $1 AND id = $2", tenant, sub_id
            )
            status = conn.execute(
                "DELETE FROM subscriptions WHERE tenant = $1 AND id = $2", tenant, sub_id
            )
            return rowcount(status) > 0

        deleted = await self.store.run_transaction(run)
        self._committed()
        return deleted


__all__ = ["PostgresSubscriptionStore"]
