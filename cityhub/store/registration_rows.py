"""The rows of context source registrations and registration subscriptions (clauses 5.9-5.11),
their SQL written once over a backend's :class:`~cityhub.store.database.SqlConnection`, in the
tables of SQLite's migration 0006 and PostgreSQL's 0004 and 0006;
``cityhub.store.registrations.Registrations`` runs the rules on them.

Each registration is one row keyed by (tenant, id) holding its JSON document. Discovery by
entity type, entity id, idPattern and attribute names (clause 5.10.2) is answered in SQL
(:func:`registration_where`) through three side tables with one row per RegistrationInfo
(``i``), per EntityInfo (``e``) and per attribute name (``a``), so that "type and attribute in
the same RegistrationInfo" is a join and not a scan of documents. ``csource_periodic`` holds when
each ``timeInterval`` subscription's next round is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.store.base import Document
from cityhub.store.database import QueuingTransaction, SqlConnection, add_tenant

#: a RegistrationInfo's rows (``cityhub.ngsild.registration.registration_index``): its number,
#: its EntityInfos and its attribute names (None: any)
IndexRow = tuple[int, list[Document] | None, list[str] | None]

_SIDE_TABLES = (
    "csource_registration_infos",
    "csource_registration_entities",
    "csource_registration_attrs",
)


def _json(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def _docs(rows: list[Sequence[Any]]) -> list[Document]:
    return [orjson.loads(row[0]) for row in rows]


def _marks(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))


def registration_where(
    sql: SqlConnection, tenant: str, query: RegistrationQuery, now: str
) -> tuple[str, list[Any]]:
    """The WHERE clause on ``csource_registrations r`` for the SQL part of a discovery query,
    and its values: the tenant's unexpired registrations with a RegistrationInfo that has an
    EntityInfo of the types, ids and idPattern, and the attributes."""
    clauses = ["r.tenant = ?", f"(r.expires_at IS NULL OR r.expires_at{sql.bytewise} > ?)"]
    params: list[Any] = [tenant, now]
    entity_tests: list[str] = []
    if query.types:
        entity_tests.append(f"e.type IN ({_marks(query.types)})")
        params.extend(query.types)
    if query.ids:
        # the ids as rows of a VALUES list, not one OR'ed test each: an OR chain of n tests is
        # an expression n deep, and SQLite refuses depth 1,000 (a batch of ~500 entities)
        ids = ", ".join("(CAST(? AS TEXT))" for _ in query.ids)
        patterns = sql.regexp("e.id_pattern", "v.column1", stored=True)
        entity_tests.append(
            f"(e.entity_id IN ({_marks(query.ids)}) OR (e.entity_id IS NULL AND "
            f"(e.id_pattern IS NULL OR EXISTS (SELECT 1 FROM (VALUES {ids}) AS v "
            f"WHERE {patterns}))))"
        )
        params.extend([*query.ids, *query.ids])
    if query.id_pattern is not None:
        entity_tests.append(f"(e.entity_id IS NULL OR {sql.regexp('?', 'e.entity_id')})")
        params.append(sql.pattern(query.id_pattern))
    info_tests: list[str] = []
    if entity_tests:
        info_tests.append(
            "(i.any_entity OR EXISTS (SELECT 1 FROM csource_registration_entities e "
            "WHERE e.tenant = i.tenant AND e.registration_id = i.registration_id "
            f"AND e.info = i.info AND {' AND '.join(entity_tests)}))"
        )
    if query.attrs:
        info_tests.append(
            "(i.any_attribute OR EXISTS (SELECT 1 FROM csource_registration_attrs a "
            "WHERE a.tenant = i.tenant AND a.registration_id = i.registration_id "
            f"AND a.info = i.info AND a.name IN ({_marks(query.attrs)})))"
        )
        params.extend(query.attrs)
    if info_tests:
        clauses.append(
            "EXISTS (SELECT 1 FROM csource_registration_infos i WHERE i.tenant = r.tenant "
            f"AND i.registration_id = r.id AND {' AND '.join(info_tests)})"
        )
    return " AND ".join(clauses), params


class RegistrationRows:
    """The registration and registration-subscription rows of one connection, inside the
    caller's transaction (or read): SQL, no rule. Registrations come oldest first."""

    def __init__(self, sql: SqlConnection) -> None:
        self.sql = sql

    def transaction(self, tenant: str) -> QueuingTransaction:
        return self.sql.transaction(tenant)

    def _lock(self, lock: bool) -> str:
        return self.sql.for_update if lock else ""

    def add_tenant(self, tenant: str, now: str) -> None:
        add_tenant(self.sql, tenant, now)

    # ---- registrations ---------------------------------------------------------------------

    def insert_registration(self, tenant: str, doc: Document, expires_at: str | None) -> bool:
        """False (and nothing written) when the id is taken."""
        statement = (
            "INSERT INTO csource_registrations (tenant, id, expires_at, doc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING"
        )
        return self.sql.execute(statement, tenant, doc["id"], expires_at, _json(doc)) == 1

    def _document(self, table: str, tenant: str, key: str, lock: bool) -> Document | None:
        statement = f"SELECT doc FROM {table} WHERE tenant = ? AND id = ?"
        docs = _docs(self.sql.fetch(statement + self._lock(lock), tenant, key))
        return docs[0] if docs else None

    def registration(
        self, tenant: str, registration_id: str, lock: bool = False
    ) -> Document | None:
        """``lock``: no other writer changes it before this transaction ends."""
        return self._document("csource_registrations", tenant, registration_id, lock)

    def update_registration(
        self, tenant: str, registration_id: str, doc: Document, expires_at: str | None
    ) -> None:
        statement = (
            "UPDATE csource_registrations SET expires_at = ?, doc = ? WHERE tenant = ? AND id = ?"
        )
        self.sql.execute(statement, expires_at, _json(doc), tenant, registration_id)

    def delete_registration(self, tenant: str, registration_id: str) -> Document | None:
        """Delete the row; the document it held, or None."""
        doc = self.registration(tenant, registration_id, lock=True)
        statement = "DELETE FROM csource_registrations WHERE tenant = ? AND id = ?"
        self.sql.execute(statement, tenant, registration_id)
        return doc

    def index_registration(
        self, tenant: str, registration_id: str, rows: Iterable[IndexRow]
    ) -> None:
        """Replace the registration's side-table rows (discovery) by ``rows``."""
        key = (tenant, registration_id)
        for table in _SIDE_TABLES:
            self.sql.execute(f"DELETE FROM {table} WHERE tenant = ? AND registration_id = ?", *key)
        for info, entities, names in rows:
            self.sql.execute(
                "INSERT INTO csource_registration_infos VALUES (?, ?, ?, ?, ?)",
                *key,
                info,
                entities is None,
                names is None,
            )
            self.sql.executemany(
                "INSERT INTO csource_registration_entities VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, info, e["type"], e.get("id"), self._pattern(e)) for e in entities or ()],
            )
            self.sql.executemany(
                "INSERT INTO csource_registration_attrs VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(*key, info, n) for n in names or ()],
            )

    def _pattern(self, entity: Document) -> str | None:
        pattern = entity.get("idPattern")
        return None if pattern is None else self.sql.pattern(pattern)

    def exclusive_registrations(self, tenant: str, other_than: str, now: str) -> list[Document]:
        """The tenant's unexpired exclusive registrations but ``other_than``, which no other
        transaction checks before this one ends."""
        self.sql.lock_exclusive_registrations(tenant)
        statement = (
            f"SELECT doc FROM csource_registrations WHERE tenant = ? AND id != ? AND"
            f" {self.sql.member('doc', 'mode')} = 'exclusive' AND"
            f" (expires_at IS NULL OR expires_at{self.sql.bytewise} > ?)"
        )
        return _docs(self.sql.fetch(statement, tenant, other_than, now))

    def discover(
        self, tenant: str, query: RegistrationQuery, now: str, page: tuple[int, int] | None
    ) -> list[Document]:
        """The registrations :func:`registration_where` selects; ``page``: (limit, offset)."""
        where, params = registration_where(self.sql, tenant, query, now)
        statement = (
            f"SELECT r.doc FROM csource_registrations r WHERE {where} ORDER BY r.{self.sql.seq}"
        )
        if page is not None:
            return _docs(self.sql.fetch(statement + " LIMIT ? OFFSET ?", *params, *page))
        return _docs(self.sql.fetch(statement, *params))

    def has_registrations(self, tenant: str) -> bool:
        """Whether ``tenant`` holds any registration, expired ones included."""
        found = self.sql.fetch(
            "SELECT 1 FROM csource_registrations WHERE tenant = ? LIMIT 1", tenant
        )
        return bool(found)

    def count_discovered(self, tenant: str, query: RegistrationQuery, now: str) -> int:
        where, params = registration_where(self.sql, tenant, query, now)
        statement = f"SELECT count(*) FROM csource_registrations r WHERE {where}"
        return int(self.sql.fetch(statement, *params)[0][0])

    # ---- registration subscriptions -----------------------------------------------------------

    def insert_subscription(self, tenant: str, doc: Document) -> bool:
        """False (and nothing written) when the id is taken."""
        statement = (
            "INSERT INTO csource_subscriptions (tenant, id, doc) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING"
        )
        return self.sql.execute(statement, tenant, doc["id"], _json(doc)) == 1

    def subscription(
        self, tenant: str, subscription_id: str, lock: bool = False
    ) -> Document | None:
        """``lock``: as for :meth:`registration`."""
        return self._document("csource_subscriptions", tenant, subscription_id, lock)

    def update_subscription(self, tenant: str, subscription_id: str, doc: Document) -> None:
        statement = "UPDATE csource_subscriptions SET doc = ? WHERE tenant = ? AND id = ?"
        self.sql.execute(statement, _json(doc), tenant, subscription_id)

    def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Delete the subscription and its schedule; False if there was none."""
        key = (tenant, subscription_id)
        self.sql.execute(
            "DELETE FROM csource_periodic WHERE tenant = ? AND subscription_id = ?", *key
        )
        statement = "DELETE FROM csource_subscriptions WHERE tenant = ? AND id = ?"
        return self.sql.execute(statement, *key) > 0

    def subscriptions(self, tenant: str, limit: int, offset: int) -> list[Document]:
        statement = (
            f"SELECT doc FROM csource_subscriptions WHERE tenant = ? ORDER BY {self.sql.seq}"
            " LIMIT ? OFFSET ?"
        )
        return _docs(self.sql.fetch(statement, tenant, limit, offset))

    def count_subscriptions(self, tenant: str) -> int:
        statement = "SELECT count(*) FROM csource_subscriptions WHERE tenant = ?"
        return int(self.sql.fetch(statement, tenant)[0][0])

    # ---- periodic rounds (clause 5.11.7) ------------------------------------------------------

    def claim_periodic(self) -> bool:
        return self.sql.claim_periodic()

    def periodic_subscriptions(self) -> list[tuple[str, Document, float | None]]:
        """(tenant, subscription, its next round or None) of every ``timeInterval``
        subscription, oldest first."""
        rows = self.sql.fetch(
            "SELECT s.tenant, s.doc, p.next_at FROM csource_subscriptions s LEFT JOIN"
            " csource_periodic p ON p.tenant = s.tenant AND p.subscription_id = s.id WHERE"
            f" {self.sql.member('s.doc', 'timeInterval')} IS NOT NULL ORDER BY s.{self.sql.seq}"
        )
        return [(t, orjson.loads(doc), None if at is None else float(at)) for t, doc, at in rows]

    def schedule_round(self, tenant: str, subscription_id: str, next_at: float) -> None:
        self.sql.execute(
            "INSERT INTO csource_periodic (tenant, subscription_id, next_at) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant, subscription_id) DO UPDATE SET next_at = excluded.next_at",
            tenant,
            subscription_id,
            next_at,
        )


__all__ = ["IndexRow", "RegistrationRows", "registration_where"]
