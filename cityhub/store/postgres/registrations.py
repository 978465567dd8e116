"""Context source registrations and registration subscriptions in PostgreSQL (clauses 5.9-5.11),
with the tables and semantics of ``cityhub.store.sqlite.registrations`` (schema:
``migrations/0004_registrations.sql``).

Discovery by entity type, id, idPattern and attribute names is answered in SQL through the side
tables; the rest of a discovery query (q, csf, geo-query, temporal query) is checked on the
candidates with :func:`cityhub.ngsild.registration_query.matches_registration`. Exclusive
registrations are checked for conflicts under a per-tenant transaction advisory lock, so two
workers cannot both register the same attributes exclusively at once.

Notifications of registration subscriptions (clause 5.11.7): as on SQLite, :attr:`hooks` is
called inside the write transactions with that transaction (a ``PostgresTransaction``), which
queues in the outbox of that transaction; the rounds of ``timeInterval`` subscriptions run under a
transaction advisory lock (one worker at a time) and their schedule is ``csource_periodic``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cityhub.errors import AlreadyExists, ResourceNotFound
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.query.ast import canonical_datetime
from cityhub.ngsild.registration import registration_index
from cityhub.ngsild.registration_mode import proxied_conflict
from cityhub.ngsild.registration_query import RegistrationQuery, matches_registration
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.regex import to_postgres
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.transaction import PostgresTransaction
from cityhub.store.registrations import CsourceHooks

Document = dict[str, Any]

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


def registration_where(tenant: str, query: RegistrationQuery, now: str, params: Params) -> str:
    """The WHERE clause on ``csource_registrations r`` for the SQL part of a discovery query."""
    clauses = [
        f"r.tenant = {params.add(tenant)}",
        f'(r.expires_at IS NULL OR r.expires_at COLLATE "C" > {params.add(now)})',
    ]
    entity_tests: list[str] = []
    if query.types:
        entity_tests.append(f"e.type = ANY({params.add(list(query.types), 'text[]')})")
    if query.ids:
        ids = params.add(list(query.ids), "text[]")
        entity_tests.append(
            f"(e.entity_id = ANY({ids}) OR (e.entity_id IS NULL AND (e.id_pattern IS NULL OR "
            f"EXISTS (SELECT 1 FROM unnest({ids}) q_id WHERE ngsild_safe_regexp(e.id_pattern,"
            " q_id)))))"
        )
    if query.id_pattern is not None:
        entity_tests.append(
            f"(e.entity_id IS NULL OR e.entity_id ~ {params.add(to_postgres(query.id_pattern))})"
        )
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
            f"AND a.info = i.info AND a.name = ANY({params.add(list(query.attrs), 'text[]')})))"
        )
    if info_tests:
        clauses.append(
            "EXISTS (SELECT 1 FROM csource_registration_infos i WHERE i.tenant = r.tenant "
            f"AND i.registration_id = r.id AND {' AND '.join(info_tests)})"
        )
    return " AND ".join(clauses)


def _index(conn: SyncConnection, tenant: str, doc: Document) -> None:
    for table in _SIDE_TABLES:
        conn.execute(
            f"DELETE FROM {table} WHERE tenant = $1 AND registration_id = $2", tenant, doc["id"]
        )
    for info, entities, names in registration_index(doc):
        conn.execute(
            "INSERT INTO csource_registration_infos VALUES ($1, $2, $3, $4, $5)",
            tenant,
            doc["id"],
            info,
            entities is None,
            names is None,
        )
        conn.executemany(
            "INSERT INTO csource_registration_entities VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (tenant, doc["id"], info, e["type"], e.get("id"), _pg_pattern(e.get("idPattern")))
                for e in entities or ()
            ],
        )
        conn.executemany(
            "INSERT INTO csource_registration_attrs VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [(tenant, doc["id"], info, n) for n in names or ()],
        )


def _pg_pattern(pattern: str | None) -> str | None:
    """A registration's idPattern as the side table keeps it: in PostgreSQL's syntax."""
    return None if pattern is None else to_postgres(pattern)


def _check_proxied(conn: SyncConnection, tenant: str, doc: Document) -> None:
    """Clause 4.3.6.3: exclusive registrations own their entity attributes (409 otherwise)."""
    if doc.get("mode") not in ("exclusive", "redirect"):
        return
    conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_SPACE, tenant)
    rows = conn.fetch(
        "SELECT doc::text FROM csource_registrations WHERE tenant = $1 AND id != $2 AND"
        " doc ->> 'mode' = 'exclusive' AND (expires_at IS NULL OR expires_at COLLATE \"C\" > $3)",
        tenant,
        doc["id"],
        now_iso(),
    )
    for (raw,) in rows:
        held = orjson.loads(raw)
        if proxied_conflict(doc, held):
            raise AlreadyExists(
                f"the exclusive registration {held['id']} already holds these attributes of "
                "this entity; no other exclusive or redirect registration may cover them "
                "(clause 4.3.6.3)"
            )


def _expires(doc: Document) -> str | None:
    raw = doc.get("expiresAt")
    return canonical_datetime(raw) if isinstance(raw, str) else None


def _add_tenant(conn: SyncConnection, tenant: str, now: str) -> None:
    conn.execute(
        "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        tenant,
        now,
    )


class PostgresRegistrationStore:
    """Async CRUD and discovery for registrations and registration subscriptions (the interface
    of ``SqliteRegistrationStore``)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        #: called inside write transactions to queue notifications (None: none are sent)
        self.hooks: CsourceHooks | None = None
        #: called after a commit that queued notifications or changed a subscription
        self.on_commit: list[Callable[[bool], None]] = []

    def _registration_changed(
        self, conn: SyncConnection, tenant: str, before: Document | None, after: Document | None
    ) -> int:
        if self.hooks is None:
            return 0
        tx = PostgresTransaction(conn, tenant)
        self.hooks.registration_changed(tx, before, after)
        return tx.queued

    def _subscription_changed(
        self, conn: SyncConnection, tenant: str, before: Document | None, after: Document
    ) -> None:
        if self.hooks is not None:
            self.hooks.subscription_changed(PostgresTransaction(conn, tenant), before, after)

    def _committed(self, queued: int, subscriptions: bool = False) -> None:
        if queued or subscriptions:
            for fn in self.on_commit:
                fn(subscriptions)

    # ---- registrations (clauses 5.9.2-5.9.4, 5.10) ----------------------------------------
    async def create_registration(self, tenant: str, doc: Document) -> None:
        """Store a new registration; its tenant is created if needed (clause 4.14).

        Raises:
            AlreadyExists: a registration with this id exists in the tenant, or an exclusive
                one already holds its attributes.
        """
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}

        def run(conn: SyncConnection) -> int:
            _add_tenant(conn, tenant, now)
            status = conn.execute(
                "INSERT INTO csource_registrations (tenant, id, expires_at, doc) "
                "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
                tenant,
                doc["id"],
                _expires(doc),
                _json(doc),
            )
            if rowcount(status) == 0:
                raise AlreadyExists(
                    f"a context source registration with id {doc['id']} already exists"
                )
            _check_proxied(conn, tenant, doc)
            _index(conn, tenant, doc)
            return self._registration_changed(conn, tenant, None, doc)

        self._committed(await self._store.run_transaction(run))

    async def get_registration(self, tenant: str, registration_id: str) -> Document | None:
        rows = await self._store.fetch(
            "SELECT doc::text FROM csource_registrations WHERE tenant = $1 AND id = $2",
            tenant,
            registration_id,
        )
        return orjson.loads(rows[0][0]) if rows else None

    async def update_registration(
        self, tenant: str, registration_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read (locked), ``change(doc, now)``, write, in one transaction (clause 5.9.3).

        Raises:
            ResourceNotFound: no such registration; whatever ``change`` raises.
        """

        def run(conn: SyncConnection) -> tuple[Document, int]:
            row = conn.fetchrow(
                "SELECT doc::text FROM csource_registrations WHERE tenant = $1 AND id = $2"
                " FOR UPDATE",
                tenant,
                registration_id,
            )
            if row is None:
                raise ResourceNotFound(
                    f"there is no context source registration with id {registration_id}"
                )
            before = orjson.loads(row[0])
            doc = change(dict(before), now_iso())
            _check_proxied(conn, tenant, doc)
            conn.execute(
                "UPDATE csource_registrations SET expires_at = $1, doc = $2::jsonb "
                "WHERE tenant = $3 AND id = $4",
                _expires(doc),
                _json(doc),
                tenant,
                registration_id,
            )
            _index(conn, tenant, doc)
            return doc, self._registration_changed(conn, tenant, before, doc)

        doc, queued = await self._store.run_transaction(run)
        self._committed(queued)
        return doc

    async def delete_registration(self, tenant: str, registration_id: str) -> bool:
        def run(conn: SyncConnection) -> tuple[bool, int]:
            row = conn.fetchrow(
                "DELETE FROM csource_registrations WHERE tenant = $1 AND id = $2"
                " RETURNING doc::text",
                tenant,
                registration_id,
            )
            for table in _SIDE_TABLES:
                conn.execute(
                    f"DELETE FROM {table} WHERE tenant = $1 AND registration_id = $2",
                    tenant,
                    registration_id,
                )
            if row is None:
                return False, 0
            return True, self._registration_changed(conn, tenant, orjson.loads(row[0]), None)

        found, queued = await self._store.run_transaction(run)
        self._committed(queued)
        return found

    async def query_registrations(
        self,
        tenant: str,
        query: RegistrationQuery,
        *,
        limit: int,
        offset: int,
        count: bool = False,
    ) -> tuple[list[Document], int | None]:
        """Registrations answering a discovery query (clause 5.10.2), oldest first; expired
        ones are left out. Returns the page and, if ``count``, the total."""
        params = Params()
        where = registration_where(tenant, query, now_iso(), params)
        base = f"SELECT r.doc::text FROM csource_registrations r WHERE {where} ORDER BY r.seq"
        if query.needs_filter:
            docs = [orjson.loads(r[0]) for r in await self._store.fetch(base, *params.values)]
            docs = [d for d in docs if matches_registration(d, query)]
            return docs[offset : offset + limit], len(docs) if count else None
        rows = await self._store.fetch(
            f"{base} LIMIT {params.add(limit, 'bigint')} OFFSET {params.add(offset, 'bigint')}",
            *params.values,
        )
        total = None
        if count:
            counted = await self._store.fetch(
                f"SELECT count(*) FROM csource_registrations r WHERE {where}",
                *params.values[:-2],
            )
            total = int(counted[0][0])
        return [orjson.loads(r[0]) for r in rows], total

    # ---- registration subscriptions (clauses 5.11.2-5.11.6) --------------------------------
    async def create_subscription(self, tenant: str, doc: Document) -> None:
        """Raises AlreadyExists when the id is taken in the tenant."""
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}

        def run(conn: SyncConnection) -> None:
            _add_tenant(conn, tenant, now)
            status = conn.execute(
                "INSERT INTO csource_subscriptions (tenant, id, doc) VALUES ($1, $2, $3::jsonb)"
                " ON CONFLICT DO NOTHING",
                tenant,
                doc["id"],
                _json(doc),
            )
            if rowcount(status) == 0:
                raise AlreadyExists(
                    f"a context source registration subscription with id {doc['id']} already exists"
                )
            self._subscription_changed(conn, tenant, None, doc)

        await self._store.run_transaction(run)
        self._committed(0, subscriptions=True)

    async def get_subscription(self, tenant: str, subscription_id: str) -> Document | None:
        rows = await self._store.fetch(
            "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 AND id = $2",
            tenant,
            subscription_id,
        )
        return orjson.loads(rows[0][0]) if rows else None

    async def update_subscription(
        self, tenant: str, subscription_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read (locked), ``change(doc, now)``, write, in one transaction (clause 5.11.3)."""

        def run(conn: SyncConnection) -> Document:
            row = conn.fetchrow(
                "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 AND id = $2"
                " FOR UPDATE",
                tenant,
                subscription_id,
            )
            if row is None:
                raise ResourceNotFound(
                    "there is no context source registration subscription with id "
                    f"{subscription_id}"
                )
            before = orjson.loads(row[0])
            doc = change(dict(before), now_iso())
            conn.execute(
                "UPDATE csource_subscriptions SET doc = $1::jsonb WHERE tenant = $2 AND id = $3",
                _json(doc),
                tenant,
                subscription_id,
            )
            self._subscription_changed(conn, tenant, before, doc)
            return doc

        doc = await self._store.run_transaction(run)
        self._committed(0, subscriptions=True)
        return doc

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        def run(conn: SyncConnection) -> bool:
            status = conn.execute(
                "DELETE FROM csource_subscriptions WHERE tenant = $1 AND id = $2",
                tenant,
                subscription_id,
            )
            conn.execute(
                "DELETE FROM csource_periodic WHERE tenant = $1 AND subscription_id = $2",
                tenant,
                subscription_id,
            )
            return rowcount(status) > 0

        return await self._store.run_transaction(run)

    async def query_subscriptions(
        self, tenant: str, *, limit: int, offset: int, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """Every registration subscription of the tenant, oldest first (clause 5.11.5)."""
        rows = await self._store.fetch(
            "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 ORDER BY seq"
            " LIMIT $2 OFFSET $3",
            tenant,
            limit,
            offset,
        )
        total = None
        if count:
            counted = await self._store.fetch(
                "SELECT count(*) FROM csource_subscriptions WHERE tenant = $1", tenant
            )
            total = int(counted[0][0])
        return [orjson.loads(r[0]) for r in rows], total

    # ---- notification status and periodic rounds (clause 5.11.7) ---------------------------
    async def update_subscription_status(
        self, tenant: str, subscription_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the subscription's ``notification`` by ``change(notification)`` (status
        members); ``modifiedAt`` stays. Nothing if it is gone."""

        def run(conn: SyncConnection) -> None:
            row = conn.fetchrow(
                "SELECT doc::text FROM csource_subscriptions WHERE tenant = $1 AND id = $2"
                " FOR UPDATE",
                tenant,
                subscription_id,
            )
            if row is None:
                return
            doc = orjson.loads(row[0])
            doc["notification"] = change(doc.get("notification") or {})
            conn.execute(
                "UPDATE csource_subscriptions SET doc = $1::jsonb WHERE tenant = $2 AND id = $3",
                _json(doc),
                tenant,
                subscription_id,
            )

        await self._store.run_transaction(run)

    async def run_periodic(self, now: float) -> float | None:
        """Run every due round of the ``timeInterval`` subscriptions in one transaction (each
        queues its notification and moves its schedule on); returns when the next round is
        due (None: no such subscription). A worker that finds another running them returns
        ``now + 1`` and looks again then."""
        hooks = self.hooks
        if hooks is None:
            return None

        def run(conn: SyncConnection) -> tuple[float | None, int]:
            if not conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _PERIODIC_LOCK):
                return now + 1.0, 0
            rows = conn.fetch(
                "SELECT s.tenant, s.doc::text, p.next_at FROM csource_subscriptions s"
                " LEFT JOIN csource_periodic p ON p.tenant = s.tenant"
                " AND p.subscription_id = s.id WHERE s.doc ? 'timeInterval' ORDER BY s.seq"
            )
            upcoming: float | None = None
            queued = 0
            for tenant, raw, next_at in rows:
                doc = orjson.loads(raw)
                due = float(next_at) if next_at is not None else now
                if due <= now:
                    tx = PostgresTransaction(conn, tenant)
                    hooks.periodic_round(tx, doc, next_at is None)
                    queued += tx.queued
                    due = now + float(doc["timeInterval"])
                    conn.execute(
                        "INSERT INTO csource_periodic (tenant, subscription_id, next_at)"
                        " VALUES ($1, $2, $3) ON CONFLICT (tenant, subscription_id)"
                        " DO UPDATE SET next_at = EXCLUDED.next_at",
                        tenant,
                        doc["id"],
                        due,
                    )
                upcoming = due if upcoming is None else min(upcoming, due)
            return upcoming, queued

        upcoming, queued = await self._store.run_transaction(run)
        self._committed(queued)
        return upcoming


__all__ = ["PostgresRegistrationStore", "registration_where"]
