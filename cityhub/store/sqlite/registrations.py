"""Registration and registration-subscription rows in SQLite (clauses 5.9-5.11;
``cityhub.store.registration_rows.RegistrationRows``, the rules are
``cityhub.store.registrations.Registrations``), in the tables of migration 0006.

Each registration is one row keyed by (tenant, id) holding its JSON document, with its
discovery side tables; ``csource_periodic`` holds when each ``timeInterval`` subscription's next
round is due. Writes run on the store's writer thread inside ``BEGIN IMMEDIATE`` … ``COMMIT``,
which no other writer can enter: what a write reads is already its own until it commits (no
row locks, and the periodic rounds are always this writer's to run).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.store.base import Document
from cityhub.store.registration_rows import IndexRow, registration_where
from cityhub.store.sqlite.transaction import SqliteTransaction

_SIDE_TABLES = (
    "csource_registration_infos",
    "csource_registration_entities",
    "csource_registration_attrs",
)
# RE2 (cityhub.ngsild.regex), never raises (registered on every connection by the store)
_REGEXP = "ngsild_q_regexp"


def _json(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _doc(row: Any) -> Document | None:
    return orjson.loads(row[0]) if row else None


class _Discovery:
    """:class:`~cityhub.store.registration_rows.DiscoveryDialect` with ``?`` marks."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def bind(self, value: str) -> str:
        self.params.append(value)
        return "?"

    def one_of(self, column: str, values: Sequence[str]) -> str:
        return f"{column} IN ({','.join(self.bind(v) for v in values)})"

    def pattern_matches_one_of(self, column: str, values: Sequence[str]) -> str:
        return f"({' OR '.join(f'{_REGEXP}({column}, {self.bind(v)})' for v in values)})"

    def matches(self, column: str, pattern: str) -> str:
        return f"{_REGEXP}({self.bind(pattern)}, {column})"

    def later(self, column: str, time: str) -> str:
        return f"{column} > {self.bind(time)}"

    def flag(self, column: str) -> str:
        return f"{column} = 1"


class SqliteRegistrationRows:
    """The registration rows of one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def transaction(self, tenant: str) -> SqliteTransaction:
        return SqliteTransaction(self.conn, tenant)

    def add_tenant(self, tenant: str, now: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (tenant, now)
        )

    # ---- registrations ---------------------------------------------------------------------

    def insert_registration(self, tenant: str, doc: Document, expires_at: str | None) -> bool:
        cur = self.conn.execute(
            "INSERT INTO csource_registrations (tenant, id, expires_at, doc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (tenant, doc["id"], expires_at, _json(doc)),
        )
        return cur.rowcount == 1

    def registration(
        self, tenant: str, registration_id: str, lock: bool = False
    ) -> Document | None:
        sql = "SELECT doc FROM csource_registrations WHERE tenant = ? AND id = ?"
        return _doc(self.conn.execute(sql, (tenant, registration_id)).fetchone())

    def update_registration(
        self, tenant: str, registration_id: str, doc: Document, expires_at: str | None
    ) -> None:
        self.conn.execute(
            "UPDATE csource_registrations SET expires_at = ?, doc = ? WHERE tenant = ? AND id = ?",
            (expires_at, _json(doc), tenant, registration_id),
        )

    def delete_registration(self, tenant: str, registration_id: str) -> Document | None:
        doc = self.registration(tenant, registration_id)
        sql = "DELETE FROM csource_registrations WHERE tenant = ? AND id = ?"
        self.conn.execute(sql, (tenant, registration_id))
        return doc

    def index_registration(
        self, tenant: str, registration_id: str, rows: Iterable[IndexRow]
    ) -> None:
        key = (tenant, registration_id)
        for table in _SIDE_TABLES:
            self.conn.execute(f"DELETE FROM {table} WHERE tenant = ? AND registration_id = ?", key)
        for info, entities, names in rows:
            self.conn.execute(
                "INSERT INTO csource_registration_infos VALUES (?, ?, ?, ?, ?)",
                (*key, info, int(entities is None), int(names is None)),
            )
            self.conn.executemany(
                "INSERT INTO csource_registration_entities VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, info, e["type"], e.get("id"), e.get("idPattern")) for e in entities or ()],
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO csource_registration_attrs VALUES (?, ?, ?, ?)",
                [(*key, info, n) for n in names or ()],
            )

    def exclusive_registrations(self, tenant: str, other_than: str, now: str) -> list[Document]:
        rows = self.conn.execute(
            "SELECT doc FROM csource_registrations WHERE tenant = ? AND id != ? AND"
            " json_extract(doc, '$.mode') = 'exclusive' AND (expires_at IS NULL OR expires_at > ?)",
            (tenant, other_than, now),
        )
        return [orjson.loads(raw) for (raw,) in rows]

    def discover(
        self, tenant: str, query: RegistrationQuery, now: str, page: tuple[int, int] | None
    ) -> list[Document]:
        d = _Discovery()
        where = registration_where(tenant, query, now, d)
        sql = f"SELECT r.doc FROM csource_registrations r WHERE {where} ORDER BY r.rowid"
        if page is not None:
            sql += " LIMIT ? OFFSET ?"
            d.params.extend(page)
        return [orjson.loads(raw) for (raw,) in self.conn.execute(sql, d.params)]

    def count_discovered(self, tenant: str, query: RegistrationQuery, now: str) -> int:
        d = _Discovery()
        where = registration_where(tenant, query, now, d)
        sql = f"SELECT count(*) FROM csource_registrations r WHERE {where}"
        return int(self.conn.execute(sql, d.params).fetchone()[0])

    # ---- registration subscriptions -----------------------------------------------------------

    def insert_subscription(self, tenant: str, doc: Document) -> bool:
        cur = self.conn.execute(
            "INSERT INTO csource_subscriptions (tenant, id, doc) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (tenant, doc["id"], _json(doc)),
        )
        return cur.rowcount == 1

    def subscription(
        self, tenant: str, subscription_id: str, lock: bool = False
    ) -> Document | None:
        sql = "SELECT doc FROM csource_subscriptions WHERE tenant = ? AND id = ?"
        return _doc(self.conn.execute(sql, (tenant, subscription_id)).fetchone())

    def update_subscription(self, tenant: str, subscription_id: str, doc: Document) -> None:
        self.conn.execute(
            "UPDATE csource_subscriptions SET doc = ? WHERE tenant = ? AND id = ?",
            (_json(doc), tenant, subscription_id),
        )

    def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        key = (tenant, subscription_id)
        cur = self.conn.execute(
            "DELETE FROM csource_subscriptions WHERE tenant = ? AND id = ?", key
        )
        self.conn.execute(
            "DELETE FROM csource_periodic WHERE tenant = ? AND subscription_id = ?", key
        )
        return cur.rowcount > 0

    def subscriptions(self, tenant: str, limit: int, offset: int) -> list[Document]:
        rows = self.conn.execute(
            "SELECT doc FROM csource_subscriptions WHERE tenant = ? ORDER BY rowid"
            " LIMIT ? OFFSET ?",
            (tenant, limit, offset),
        )
        return [orjson.loads(raw) for (raw,) in rows]

    def count_subscriptions(self, tenant: str) -> int:
        sql = "SELECT count(*) FROM csource_subscriptions WHERE tenant = ?"
        return int(self.conn.execute(sql, (tenant,)).fetchone()[0])

    # ---- periodic rounds (clause 5.11.7) ------------------------------------------------------

    def claim_periodic(self) -> bool:
        return True  # one writer: nobody else runs them

    def periodic_subscriptions(self) -> list[tuple[str, Document, float | None]]:
        rows = self.conn.execute(
            "SELECT s.tenant, s.doc, p.next_at FROM csource_subscriptions s "
            "LEFT JOIN csource_periodic p ON p.tenant = s.tenant AND p.subscription_id = s.id "
            "WHERE json_extract(s.doc, '$.timeInterval') IS NOT NULL ORDER BY s.rowid"
        )
        return [(tenant, orjson.loads(raw), next_at) for tenant, raw, next_at in rows]

    def schedule_round(self, tenant: str, subscription_id: str, next_at: float) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO csource_periodic (tenant, subscription_id, next_at)"
            " VALUES (?, ?, ?)",
            (tenant, subscription_id, next_at),
        )


__all__ = ["SqliteRegistrationRows"]
