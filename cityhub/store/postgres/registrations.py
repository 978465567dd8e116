"""Registration and registration-subscription rows in PostgreSQL (clauses 5.9-5.11;
``cityhub.store.registration_rows.RegistrationRows``, the rules are
``cityhub.store.registrations.Registrations``), in the tables of
``migrations/0004_registrations.sql`` and ``0006_csource_periodic.sql``.

Several workers share the database: a row read to be rewritten is locked (``FOR UPDATE``);
exclusive registrations are checked for conflicts under a per-tenant transaction advisory lock,
so two workers cannot both register the same attributes exclusively at once; and the rounds of
``timeInterval`` subscriptions run under a transaction advisory lock, one worker at a time.
Stored idPatterns are kept in PostgreSQL's regular expression syntax.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.store.base import Document
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.regex import to_postgres
from cityhub.store.postgres.transaction import PostgresTransaction
from cityhub.store.registration_rows import IndexRow, registration_where

_SIDE_TABLES = (
    "csource_registration_infos",
    "csource_registration_entities",
    "csource_registration_attrs",
)
#: pg_advisory_xact_lock namespace of exclusive-registration checks ("csr" in ASCII)
_LOCK_SPACE = 0x637372
#: pg_try_advisory_xact_lock key of the periodic rounds ("csrp" in ASCII)
_PERIODIC_LOCK = 0x63737270


def _json(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _doc(row: Any) -> Document | None:
    return orjson.loads(row[0]) if row else None


def _locked(lock: bool) -> str:
    return " FOR UPDATE" if lock else ""


class _Discovery(Params):
    """:class:`~cityhub.store.registration_rows.DiscoveryDialect` with numbered marks."""

    def bind(self, value: str) -> str:
        return self.add(value)

    def one_of(self, column: str, values: Sequence[str]) -> str:
        return f"{column} = ANY({self.add(list(values), 'text[]')})"

    def pattern_matches_one_of(self, column: str, values: Sequence[str]) -> str:
        return (
            f"EXISTS (SELECT 1 FROM unnest({self.add(list(values), 'text[]')}) q_id"
            f" WHERE ngsild_safe_regexp({column}, q_id))"
        )

    def matches(self, column: str, pattern: str) -> str:
        return f"{column} ~ {self.add(to_postgres(pattern))}"

    def later(self, column: str, time: str) -> str:
        return f'{column} COLLATE "C" > {self.add(time)}'

    def flag(self, column: str) -> str:
        return column


class PostgresRegistrationRows:
    """The registration rows of one PostgreSQL connection."""

    def __init__(self, conn: SyncConnection) -> None:
        self.conn = conn

    def transaction(self, tenant: str) -> PostgresTransaction:
        return PostgresTransaction(self.conn, tenant)

    def add_tenant(self, tenant: str, now: str) -> None:
        self.conn.execute(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            tenant,
            now,
        )

    # ---- registrations ---------------------------------------------------------------------

    def insert_registration(self, tenant: str, doc: Document, expires_at: str | None) -> bool:
        status = self.conn.execute(
            "INSERT INTO csource_registrations (tenant, id, expires_at, doc) "
            "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
            tenant,
            doc["id"],
            expires_at,
            _json(doc),
        )
        return rowcount(status) == 1

    def registration(
        self, tenant: str, registration_id: str, lock: bool = False
    ) -> Document | None:
        sql = "SELECT doc::text FROM csource_registrations WHERE tenant = $1 AND id = $2"
        return _doc(self.conn.fetchrow(sql + _locked(lock), tenant, registration_id))

    def update_registration(
        self, tenant: str, registration_id: str, doc: Document, expires_at: str | None
    ) -> None:
        self.conn.execute(
            "UPDATE csource_registrations SET expires_at = $1, doc = $2::jsonb "
            "WHERE tenant = $3 AND id = $4",
            expires_at,
            _json(doc),
            tenant,
            registration_id,
        )

    def delete_registration(self, tenant: str, registration_id: str) -> Document | None:
        sql = "DELETE FROM csource_registrations WHERE tenant = $1 AND id = $2 RETURNING doc::text"
        return _doc(self.conn.fetchrow(sql, tenant, registration_id))

    def index_registration(
        self, tenant: str, registration_id: str, rows: Iterable[IndexRow]
    ) -> None:
        key = (tenant, registration_id)
        for table in _SIDE_TABLES:
            self.conn.execute(
                f"DELETE FROM {table} WHERE tenant = $1 AND registration_id = $2", *key
            )
        for info, entities, names in rows:
            self.conn.execute(
                "INSERT INTO csource_registration_infos VALUES ($1, $2, $3, $4, $5)",
                *key,
                info,
                entities is None,
                names is None,
            )
            self.conn.executemany(
                "INSERT INTO csource_registration_entities VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (*key, info, e["type"], e.get("id"), _pg_pattern(e.get("idPattern")))
                    for e in entities or ()
                ],
            )
            self.conn.executemany(
                "INSERT INTO csource_registration_attrs VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                [(*key, info, n) for n in names or ()],
            )

    def exclusive_registrations(self, tenant: str, other_than: str, now: str) -> list[Document]:
        self.conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_SPACE, tenant)
        rows = self.conn.fetch(
            "SELECT doc::text FROM csource_registrations WHERE tenant = $1 AND id != $2 AND doc"
            " ->> 'mode' = 'exclusive' AND (expires_at IS NULL OR expires_at COLLATE \"C\" > $3)",
            tenant,
            other_than,
            now,
        )
        return [orjson.loads(raw) for (raw,) in rows]

    def discover(
        self, tenant: str, query: RegistrationQuery, now: str, page: tuple[int, int] | None
    ) -> list[Document]:
        d = _Discovery()
        where = registration_where(tenant, query, now, d)
        sql = f"SELECT r.doc::text FROM csource_registrations r WHERE {where} ORDER BY r.seq"
        if page is not None:
            sql += f" LIMIT {d.add(page[0], 'bigint')} OFFSET {d.add(page[1], 'bigint')}"
        return [orjson.loads(raw) for (raw,) in self.conn.fetch(sql, *d.values)]

    def count_discovered(self, tenant: str, query: RegistrationQuery, now: str) -> int:
        d = _Discovery()
        where = registration_where(tenant, query, now, d)
        sql = f"SELECT count(*) FROM csource_registrations r WHERE {where}"
        return int(self.conn.fetchval(sql, *d.values))

    # ---- registration subscriptions -----------------------------------------------------------

    def insert_subscription(self, tenant: str, doc: Document) -> bool:
        status = self.conn.execute(
            "INSERT INTO csource_subscriptions (tenant, id, doc) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT DO NOTHING",
            tenant,
            doc["id"],
            _json(doc),
        )
        return rowcount(status) == 1

    def subscription(
        self, tenant: str, subscription_id: str, lock: bool = False
    ) -> Document | None:
        sql = "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 AND id = $2"
        return _doc(self.conn.fetchrow(sql + _locked(lock), tenant, subscription_id))

    def update_subscription(self, tenant: str, subscription_id: str, doc: Document) -> None:
        self.conn.execute(
            "UPDATE csource_subscriptions SET doc = $1::jsonb WHERE tenant = $2 AND id = $3",
            _json(doc),
            tenant,
            subscription_id,
        )

    def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        key = (tenant, subscription_id)
        status = self.conn.execute(
            "DELETE FROM csource_subscriptions WHERE tenant = $1 AND id = $2", *key
        )
        self.conn.execute(
            "DELETE FROM csource_periodic WHERE tenant = $1 AND subscription_id = $2", *key
        )
        return rowcount(status) > 0

    def subscriptions(self, tenant: str, limit: int, offset: int) -> list[Document]:
        rows = self.conn.fetch(
            "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 ORDER BY seq"
            " LIMIT $2 OFFSET $3",
            tenant,
            limit,
            offset,
        )
        return [orjson.loads(raw) for (raw,) in rows]

    def count_subscriptions(self, tenant: str) -> int:
        sql = "SELECT count(*) FROM csource_subscriptions WHERE tenant = $1"
        return int(self.conn.fetchval(sql, tenant))

    # ---- periodic rounds (clause 5.11.7) ------------------------------------------------------

    def claim_periodic(self) -> bool:
        return bool(self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PERIODIC_LOCK))

    def periodic_subscriptions(self) -> list[tuple[str, Document, float | None]]:
        rows = self.conn.fetch(
            "SELECT s.tenant, s.doc::text, p.next_at FROM csource_subscriptions s"
            " LEFT JOIN csource_periodic p ON p.tenant = s.tenant"
            " AND p.subscription_id = s.id WHERE s.doc ? 'timeInterval' ORDER BY s.seq"
        )
        return [
            (tenant, orjson.loads(raw), None if next_at is None else float(next_at))
            for tenant, raw, next_at in rows
        ]

    def schedule_round(self, tenant: str, subscription_id: str, next_at: float) -> None:
        self.conn.execute(
            "INSERT INTO csource_periodic (tenant, subscription_id, next_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (tenant, subscription_id)"
            " DO UPDATE SET next_at = EXCLUDED.next_at",
            tenant,
            subscription_id,
            next_at,
        )


def _pg_pattern(pattern: str | None) -> str | None:
    """A registration's idPattern as the side table keeps it: in PostgreSQL's syntax."""
    return None if pattern is None else to_postgres(pattern)


__all__ = ["PostgresRegistrationRows"]
