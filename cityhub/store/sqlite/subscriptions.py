"""Subscription rows in SQLite (``cityhub.store.subscriptions.SubscriptionRows``; the rules
are ``cityhub.store.subscriptions.Subscriptions``): one row per (tenant, id) holding the
subscription's JSON document, in the tables of migration 0004.

The status members live in their own table, ``subscription_status``, so a delivery does not
touch the ``subscriptions`` row (whose trigger bumps ``notify_version``). Writes run on the
store's writer thread inside ``BEGIN IMMEDIATE`` … ``COMMIT``, which no other writer can enter:
a row read there is already the writer's alone.
"""

from __future__ import annotations

import sqlite3

import orjson

from cityhub.store.base import Document
from cityhub.store.subscriptions import StoredText

_SELECT = (
    "SELECT s.doc, st.status FROM subscriptions s LEFT JOIN subscription_status st"
    " ON st.tenant = s.tenant AND st.id = s.id"
)


def _dumps(doc: Document) -> str:
    return orjson.dumps(doc).decode()


class SqliteSubscriptionRows:
    """The subscription rows of one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def add_tenant(self, tenant: str, now: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (tenant, now)
        )

    def insert(self, tenant: str, doc: Document, now: str) -> bool:
        cur = self.conn.execute(
            "INSERT INTO subscriptions (tenant, id, doc, created_at, modified_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (tenant, doc["id"], _dumps(doc), now, now),
        )
        return cur.rowcount == 1

    def get(self, tenant: str, sub_id: str) -> StoredText | None:
        row = self.conn.execute(
            f"{_SELECT} WHERE s.tenant = ? AND s.id = ?", (tenant, sub_id)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def page(self, tenant: str, limit: int, offset: int) -> list[StoredText]:
        rows = self.conn.execute(
            f"{_SELECT} WHERE s.tenant = ? ORDER BY s.rowid LIMIT ? OFFSET ?",
            (tenant, limit, offset),
        )
        return [(r[0], r[1]) for r in rows]

    def count(self, tenant: str) -> int:
        sql = "SELECT count(*) FROM subscriptions WHERE tenant = ?"
        return int(self.conn.execute(sql, (tenant,)).fetchone()[0])

    def every(self) -> list[tuple[str, str, str | None]]:
        rows = self.conn.execute(
            "SELECT s.tenant, s.doc, st.status FROM subscriptions s LEFT JOIN"
            " subscription_status st ON st.tenant = s.tenant AND st.id = s.id ORDER BY s.rowid"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def locked(self, tenant: str, sub_id: str) -> Document | None:
        row = self.conn.execute(
            "SELECT doc FROM subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    def replace(self, tenant: str, sub_id: str, doc: Document, now: str) -> None:
        self.conn.execute(
            "UPDATE subscriptions SET doc = ?, modified_at = ? WHERE tenant = ? AND id = ?",
            (_dumps(doc), now, tenant, sub_id),
        )

    def locked_status(self, tenant: str, sub_id: str) -> Document | None:
        row = self.conn.execute(
            "SELECT st.status FROM subscriptions s LEFT JOIN subscription_status st"
            " ON st.tenant = s.tenant AND st.id = s.id WHERE s.tenant = ? AND s.id = ?",
            (tenant, sub_id),
        ).fetchone()
        if row is None:
            return None
        return orjson.loads(row[0]) if row[0] else {}

    def set_status(self, tenant: str, sub_id: str, status: Document) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO subscription_status (tenant, id, status) VALUES (?, ?, ?)",
            (tenant, sub_id, _dumps(status)),
        )

    def delete(self, tenant: str, sub_id: str) -> bool:
        cur = self.conn.execute(
            "DELETE FROM subscriptions WHERE tenant = ? AND id = ?", (tenant, sub_id)
        )
        self.conn.execute(
            "DELETE FROM subscription_status WHERE tenant = ? AND id = ?", (tenant, sub_id)
        )
        return cur.rowcount > 0


__all__ = ["SqliteSubscriptionRows"]
