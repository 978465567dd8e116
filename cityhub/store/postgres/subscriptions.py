"""Subscriptions in PostgreSQL: one row per (tenant, id) holding the subscription's document
(the internal form of ``cityhub.ngsild.subscription``) as JSONB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cityhub.errors import AlreadyExists
from cityhub.ngsild.datetime import now_iso
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.store import PostgresStore

Document = dict[str, Any]


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


class PostgresSubscriptionStore:
    """Create, read, query, update and delete subscriptions (a ``SubscriptionStore``)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

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

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        """The subscription, or None."""
        rows = await self.store.fetch(
            "SELECT doc::text FROM subscriptions WHERE tenant = $1 AND id = $2", tenant, sub_id
        )
        return orjson.loads(rows[0][0]) if rows else None

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """A page of the tenant's subscriptions in creation order, and their total if asked."""
        docs: list[Document] = []
        if limit > 0:
            rows = await self.store.fetch(
                "SELECT doc::text FROM subscriptions WHERE tenant = $1 ORDER BY seq"
                " LIMIT $2 OFFSET $3",
                tenant,
                limit,
                offset,
            )
            docs = [orjson.loads(r[0]) for r in rows]
        total = None
        if count:
            rows = await self.store.fetch(
                "SELECT count(*) FROM subscriptions WHERE tenant = $1", tenant
            )
            total = int(rows[0][0])
        return docs, total

    async def all(self) -> list[tuple[str, Document]]:
        """Every subscription of every tenant, as (tenant, document) (for the notifier)."""
        rows = await self.store.fetch("SELECT tenant, doc::text FROM subscriptions ORDER BY seq")
        return [(r[0], orjson.loads(r[1])) for r in rows]

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

        return await self.store.run_transaction(run)

    async def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete a subscription; False if there was none."""

        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "DELETE FROM subscriptions WHERE tenant = $1 AND id = $2", tenant, sub_id
            )
            return rowcount(status) > 0

        return await self.store.run_transaction(run)


__all__ = ["PostgresSubscriptionStore"]
