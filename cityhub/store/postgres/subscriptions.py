"""Subscription rows in PostgreSQL (``cityhub.store.subscriptions.SubscriptionRows``; the rules
are ``cityhub.store.subscriptions.Subscriptions``): one row per (tenant, id) holding the
subscription's document as JSONB.

Several workers share the database, so a row read to be rewritten is locked (``FOR UPDATE``)
until the transaction ends: concurrent updates do not lose each other's changes. The status
members live in ``subscription_status`` (migration 5), so a delivery does not rewrite the
subscription, does not bump ``notify_version``, and the workers' caches stay valid.
"""

from __future__ import annotations

import orjson

from cityhub.store.base import Document
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.subscriptions import StoredText

_SELECT = (
    "SELECT s.doc::text, st.status::text FROM subscriptions s LEFT JOIN subscription_status st"
    " ON st.tenant = s.tenant AND st.id = s.id"
)


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


class PostgresSubscriptionRows:
    """The subscription rows of one PostgreSQL connection."""

    def __init__(self, conn: SyncConnection) -> None:
        self.conn = conn

    def add_tenant(self, tenant: str, now: str) -> None:
        self.conn.execute(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            tenant,
            now,
        )

    def insert(self, tenant: str, doc: Document, now: str) -> bool:
        status = self.conn.execute(
            "INSERT INTO subscriptions (tenant, id, doc, created_at, modified_at)"
            " VALUES ($1, $2, $3::jsonb, $4, $4) ON CONFLICT DO NOTHING",
            tenant,
            doc["id"],
            _dumps(doc),
            now,
        )
        return rowcount(status) == 1

    def get(self, tenant: str, sub_id: str) -> StoredText | None:
        row = self.conn.fetchrow(f"{_SELECT} WHERE s.tenant = $1 AND s.id = $2", tenant, sub_id)
        return (row[0], row[1]) if row else None

    def page(self, tenant: str, limit: int, offset: int) -> list[StoredText]:
        sql = f"{_SELECT} WHERE s.tenant = $1 ORDER BY s.seq LIMIT $2 OFFSET $3"
        return [(r[0], r[1]) for r in self.conn.fetch(sql, tenant, limit, offset)]

    def count(self, tenant: str) -> int:
        sql = "SELECT count(*) FROM subscriptions WHERE tenant = $1"
        return int(self.conn.fetchval(sql, tenant))

    def every(self) -> list[tuple[str, str, str | None]]:
        rows = self.conn.fetch(
            "SELECT s.tenant, s.doc::text, st.status::text FROM subscriptions s LEFT JOIN"
            " subscription_status st ON st.tenant = s.tenant AND st.id = s.id ORDER BY s.seq"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def locked(self, tenant: str, sub_id: str) -> Document | None:
        row = self.conn.fetchrow(
            "SELECT doc::text FROM subscriptions WHERE tenant = $1 AND id = $2 FOR UPDATE",
            tenant,
            sub_id,
        )
        return orjson.loads(row[0]) if row else None

    def replace(self, tenant: str, sub_id: str, doc: Document, now: str) -> None:
        self.conn.execute(
            "UPDATE subscriptions SET doc = $1::jsonb, modified_at = $2"
            " WHERE tenant = $3 AND id = $4",
            _dumps(doc),
            now,
            tenant,
            sub_id,
        )

    def locked_status(self, tenant: str, sub_id: str) -> Document | None:
        """The status row is created first (``{}``), then locked. The subscription row is
        key-share locked on the way: a concurrent delete waits for this transaction, and one
        that committed first leaves nothing to insert (no foreign key violation)."""
        self.conn.execute(
            "INSERT INTO subscription_status (tenant, id, status) SELECT tenant, id, '{}'"
            " FROM subscriptions WHERE tenant = $1 AND id = $2 FOR KEY SHARE"
            " ON CONFLICT DO NOTHING",
            tenant,
            sub_id,
        )
        row = self.conn.fetchrow(
            "SELECT status::text FROM subscription_status WHERE tenant = $1 AND id = $2 FOR UPDATE",
            tenant,
            sub_id,
        )
        return orjson.loads(row[0]) if row else None

    def set_status(self, tenant: str, sub_id: str, status: Document) -> None:
        self.conn.execute(
            "UPDATE subscription_status SET status = $1::jsonb WHERE tenant = $2 AND id = $3",
            _dumps(status),
            tenant,
            sub_id,
        )

    def delete(self, tenant: str, sub_id: str) -> bool:
        self.conn.execute(
            "DELETE FROM subscription_status WHERE tenant = $1 AND id = $2", tenant, sub_id
        )
        status = self.conn.execute(
            "DELETE FROM subscriptions WHERE tenant = $1 AND id = $2", tenant, sub_id
        )
        return rowcount(status) > 0


__all__ = ["PostgresSubscriptionRows"]
