"""Context source registrations and registration subscriptions in SQLite (clauses 5.9-5.11).

Each registration is one row keyed by (tenant, id) holding its JSON document. Discovery by entity
type, entity id, idPattern and attribute names (clause 5.10.2) is answered in SQL through three
side tables with one row per RegistrationInfo, per EntityInfo and per attribute name, so that
"type and attribute in the same RegistrationInfo" is a join and not a scan of documents. The
rest of a discovery query (q, csf, geo-query, temporal query) is checked on the candidates with
:func:`cityhub.ngsild.registration_query.matches_registration`.

Notifications of registration subscriptions (clause 5.11.7): when :attr:`hooks` is set (the app
sets a ``cityhub.notify.csource.CsourceNotifier``), every write transaction of a registration
or a registration subscription calls it with that transaction (a ``SqliteTransaction``), which
queues notifications in the outbox of that same transaction;
``csource_periodic`` holds when each ``timeInterval`` subscription's next round is due.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import orjson

from cityhub.errors import AlreadyExists, ResourceNotFound
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.query.ast import canonical_datetime
from cityhub.ngsild.registration import registration_index
from cityhub.ngsild.registration_mode import proxied_conflict
from cityhub.ngsild.registration_query import RegistrationQuery, matches_registration
from cityhub.store.registrations import CsourceHooks
from cityhub.store.sqlite.store import SqliteStore, in_transaction
from cityhub.store.sqlite.transaction import SqliteTransaction

T = TypeVar("T")
Document = dict[str, Any]

_SIDE_TABLES = (
    "csource_registration_infos",
    "csource_registration_entities",
    "csource_registration_attrs",
)
# RE2 (cityhub.ngsild.regex), never raises (registered on every connection by the store)
_REGEXP = "ngsild_q_regexp"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def registration_where(tenant: str, query: RegistrationQuery, now: str) -> tuple[str, list[Any]]:
    """The WHERE clause on ``csource_registrations r`` for the SQL part of a discovery query."""
    clauses = ["r.tenant = ?", "(r.expires_at IS NULL OR r.expires_at > ?)"]
    params: list[Any] = [tenant, now]
    entity_tests: list[str] = []
    entity_params: list[Any] = []
    if query.types:
        entity_tests.append(f"e.type IN ({_marks(len(query.types))})")
        entity_params.extend(query.types)
    if query.ids:
        patterns = " OR ".join(f"{_REGEXP}(e.id_pattern, ?)" for _ in query.ids)
        entity_tests.append(
            f"(e.entity_id IN ({_marks(len(query.ids))}) OR (e.entity_id IS NULL AND "
            f"(e.id_pattern IS NULL OR {patterns})))"
        )
        entity_params.extend(query.ids)
        entity_params.extend(query.ids)
    if query.id_pattern is not None:
        entity_tests.append(f"(e.entity_id IS NULL OR {_REGEXP}(?, e.entity_id))")
        entity_params.append(query.id_pattern)
    info_tests: list[str] = []
    info_params: list[Any] = []
    if entity_tests:
        info_tests.append(
            "(i.any_entity = 1 OR EXISTS (SELECT 1 FROM csource_registration_entities e "
            "WHERE e.tenant = i.tenant AND e.registration_id = i.registration_id "
            f"AND e.info = i.info AND {' AND '.join(entity_tests)}))"
        )
        info_params.extend(entity_params)
    if query.attrs:
        info_tests.append(
            "(i.any_attribute = 1 OR EXISTS (SELECT 1 FROM csource_registration_attrs a "
            "WHERE a.tenant = i.tenant AND a.registration_id = i.registration_id "
            f"AND a.info = i.info AND a.name IN ({_marks(len(query.attrs))})))"
        )
        info_params.extend(query.attrs)
    if info_tests:
        clauses.append(
            "EXISTS (SELECT 1 FROM csource_registration_infos i WHERE i.tenant = r.tenant "
            f"AND i.registration_id = r.id AND {' AND '.join(info_tests)})"
        )
        params.extend(info_params)
    return " AND ".join(clauses), params


def _index(conn: sqlite3.Connection, tenant: str, doc: Document) -> None:
    for table in _SIDE_TABLES:
        conn.execute(
            f"DELETE FROM {table} WHERE tenant = ? AND registration_id = ?", (tenant, doc["id"])
        )
    for info, entities, names in registration_index(doc):
        conn.execute(
            "INSERT INTO csource_registration_infos VALUES (?, ?, ?, ?, ?)",
            (tenant, doc["id"], info, int(entities is None), int(names is None)),
        )
        conn.executemany(
            "INSERT INTO csource_registration_entities VALUES (?, ?, ?, ?, ?, ?)",
            [
                (tenant, doc["id"], info, e["type"], e.get("id"), e.get("idPattern"))
                for e in entities or ()
            ],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO csource_registration_attrs VALUES (?, ?, ?, ?)",
            [(tenant, doc["id"], info, n) for n in names or ()],
        )


def _check_proxied(conn: sqlite3.Connection, tenant: str, doc: Document) -> None:
    """Clause 4.3.6.3: exclusive registrations own their entity attributes (409 otherwise)."""
    if doc.get("mode") not in ("exclusive", "redirect"):
        return
    rows = conn.execute(
        "SELECT doc FROM csource_registrations WHERE tenant = ? AND id != ? "
        "AND json_extract(doc, '$.mode') = 'exclusive' AND (expires_at IS NULL OR expires_at > ?)",
        (tenant, doc["id"], now_iso()),
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


class SqliteRegistrationStore:
    """Async CRUD and discovery for registrations and registration subscriptions.

    Args:
        store: the hub's SQLite store; its writer thread and readers run every statement (its
            tables are migration 0006's).
    """

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        #: called inside write transactions to queue notifications (None: none are sent)
        self.hooks: CsourceHooks | None = None
        #: called after a commit that queued notifications or changed a subscription (with
        #: True then: a periodic schedule may have changed)
        self.on_commit: list[Callable[[bool], None]] = []

    def _tx(self, conn: sqlite3.Connection, tenant: str) -> SqliteTransaction:
        return SqliteTransaction(conn, tenant)

    def _registration_changed(
        self, conn: sqlite3.Connection, tenant: str, before: Document | None, after: Document | None
    ) -> int:
        if self.hooks is None:
            return 0
        tx = self._tx(conn, tenant)
        self.hooks.registration_changed(tx, before, after)
        return tx.queued

    def _subscription_changed(
        self, conn: sqlite3.Connection, tenant: str, before: Document | None, after: Document
    ) -> None:
        if self.hooks is not None:
            self.hooks.subscription_changed(self._tx(conn, tenant), before, after)

    def _committed(self, queued: int, subscriptions: bool = False) -> None:
        if queued or subscriptions:
            for fn in self.on_commit:
                fn(subscriptions)

    # ---- registrations (clauses 5.9.2-5.9.4, 5.10) --------------------------------------------

    async def create_registration(self, tenant: str, doc: Document) -> None:
        """Store a new registration; its tenant is created if needed (clause 4.14).

        Raises:
            AlreadyExists: a registration with this id exists in the tenant.
        """
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}

        def run(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (tenant, now)
            )
            try:
                conn.execute(
                    "INSERT INTO csource_registrations (tenant, id, expires_at, doc) "
                    "VALUES (?, ?, ?, ?)",
                    (tenant, doc["id"], _expires(doc), orjson.dumps(doc).decode()),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(
                    f"a context source registration with id {doc['id']} already exists"
                ) from exc
            _check_proxied(conn, tenant, doc)
            _index(conn, tenant, doc)
            return self._registration_changed(conn, tenant, None, doc)

        self._committed(await self._store.run_transaction(run))

    async def get_registration(self, tenant: str, registration_id: str) -> Document | None:
        def run(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(
                "SELECT doc FROM csource_registrations WHERE tenant = ? AND id = ?",
                (tenant, registration_id),
            ).fetchone()
            return orjson.loads(row[0]) if row else None

        return await self._store.run_read(run)

    async def update_registration(
        self, tenant: str, registration_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read, ``change(doc, now)``, write, in one transaction (clause 5.9.3).

        Raises:
            ResourceNotFound: no such registration; whatever ``change`` raises (nothing is
                written then).
        """

        def run(conn: sqlite3.Connection) -> tuple[Document, int]:
            row = conn.execute(
                "SELECT doc FROM csource_registrations WHERE tenant = ? AND id = ?",
                (tenant, registration_id),
            ).fetchone()
            if row is None:
                raise ResourceNotFound(
                    f"there is no context source registration with id {registration_id}"
                )
            before = orjson.loads(row[0])
            doc = change(dict(before), now_iso())
            _check_proxied(conn, tenant, doc)
            conn.execute(
                "UPDATE csource_registrations SET expires_at = ?, doc = ? "
                "WHERE tenant = ? AND id = ?",
                (_expires(doc), orjson.dumps(doc).decode(), tenant, registration_id),
            )
            _index(conn, tenant, doc)
            return doc, self._registration_changed(conn, tenant, before, doc)

        doc, queued = await self._store.run_transaction(run)
        self._committed(queued)
        return doc

    async def delete_registration(self, tenant: str, registration_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> tuple[bool, int]:
            row = conn.execute(
                "SELECT doc FROM csource_registrations WHERE tenant = ? AND id = ?",
                (tenant, registration_id),
            ).fetchone()
            conn.execute(
                "DELETE FROM csource_registrations WHERE tenant = ? AND id = ?",
                (tenant, registration_id),
            )
            for table in _SIDE_TABLES:
                conn.execute(
                    f"DELETE FROM {table} WHERE tenant = ? AND registration_id = ?",
                    (tenant, registration_id),
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
        """Registrations answering a discovery query (clause 5.10.2), oldest first.

        Expired registrations are left out. Returns the page and, if ``count``, the total.
        """
        where, params = registration_where(tenant, query, now_iso())

        def run(conn: sqlite3.Connection) -> tuple[list[Document], int | None]:
            base = f"SELECT r.doc FROM csource_registrations r WHERE {where} ORDER BY r.rowid"
            if query.needs_filter:
                docs = [orjson.loads(r[0]) for r in conn.execute(base, params)]
                docs = [d for d in docs if matches_registration(d, query)]
                return docs[offset : offset + limit], len(docs) if count else None
            rows = conn.execute(base + " LIMIT ? OFFSET ?", (*params, limit, offset)).fetchall()
            total = None
            if count:
                total = conn.execute(
                    f"SELECT count(*) FROM csource_registrations r WHERE {where}", params
                ).fetchone()[0]
            return [orjson.loads(r[0]) for r in rows], total

        return await self._store.run_read(run)

    # ---- registration subscriptions (clauses 5.11.2-5.11.6) ----------------------------------

    async def create_subscription(self, tenant: str, doc: Document) -> None:
        """Raises AlreadyExists when the id is taken in the tenant."""
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (tenant, now)
            )
            try:
                conn.execute(
                    "INSERT INTO csource_subscriptions (tenant, id, doc) VALUES (?, ?, ?)",
                    (tenant, doc["id"], orjson.dumps(doc).decode()),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(
                    f"a context source registration subscription with id {doc['id']} already exists"
                ) from exc
            self._subscription_changed(conn, tenant, None, doc)

        await self._store.run_transaction(run)
        self._committed(0, subscriptions=True)

    async def get_subscription(self, tenant: str, subscription_id: str) -> Document | None:
        def run(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute(
                "SELECT doc FROM csource_subscriptions WHERE tenant = ? AND id = ?",
                (tenant, subscription_id),
            ).fetchone()
            return orjson.loads(row[0]) if row else None

        return await self._store.run_read(run)

    async def update_subscription(
        self, tenant: str, subscription_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read, ``change(doc, now)``, write, in one transaction (clause 5.11.3)."""

        def run(conn: sqlite3.Connection) -> Document:
            row = conn.execute(
                "SELECT doc FROM csource_subscriptions WHERE tenant = ? AND id = ?",
                (tenant, subscription_id),
            ).fetchone()
            if row is None:
                raise ResourceNotFound(
                    f"there is no context source registration subscription with id "
                    f"{subscription_id}"
                )
            before = orjson.loads(row[0])
            doc = change(dict(before), now_iso())
            conn.execute(
                "UPDATE csource_subscriptions SET doc = ? WHERE tenant = ? AND id = ?",
                (orjson.dumps(doc).decode(), tenant, subscription_id),
            )
            self._subscription_changed(conn, tenant, before, doc)
            return doc

        doc = await self._store.run_transaction(run)
        self._committed(0, subscriptions=True)
        return doc

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM csource_subscriptions WHERE tenant = ? AND id = ?",
                (tenant, subscription_id),
            )
            conn.execute(
                "DELETE FROM csource_periodic WHERE tenant = ? AND subscription_id = ?",
                (tenant, subscription_id),
            )
            return cur.rowcount > 0

        return await self._store.run_transaction(run)

    async def query_subscriptions(
        self, tenant: str, *, limit: int, offset: int, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """Every registration subscription of the tenant, oldest first (clause 5.11.5)."""

        def run(conn: sqlite3.Connection) -> tuple[list[Document], int | None]:
            rows = conn.execute(
                "SELECT doc FROM csource_subscriptions WHERE tenant = ? ORDER BY rowid "
                "LIMIT ? OFFSET ?",
                (tenant, limit, offset),
            ).fetchall()
            total = None
            if count:
                total = conn.execute(
                    "SELECT count(*) FROM csource_subscriptions WHERE tenant = ?", (tenant,)
                ).fetchone()[0]
            return [orjson.loads(r[0]) for r in rows], total

        return await self._store.run_read(run)

    # ---- notification status and periodic rounds (clause 5.11.7) -----------------------------

    async def update_subscription_status(
        self, tenant: str, subscription_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the subscription's ``notification`` by ``change(notification)`` (status
        members: timesSent, lastSuccess...); ``modifiedAt`` stays. Nothing if it is gone."""

        def run(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT doc FROM csource_subscriptions WHERE tenant = ? AND id = ?",
                (tenant, subscription_id),
            ).fetchone()
            if row is None:
                return
            doc = orjson.loads(row[0])
            doc["notification"] = change(doc.get("notification") or {})
            conn.execute(
                "UPDATE csource_subscriptions SET doc = ? WHERE tenant = ? AND id = ?",
                (orjson.dumps(doc).decode(), tenant, subscription_id),
            )

        await self._store.run_transaction(run)

    async def run_periodic(self, now: float) -> float | None:
        """Run every due round of the ``timeInterval`` subscriptions (each queues its
        notification and moves its schedule on in one transaction); returns when the next
        round is due (None: no such subscription)."""
        hooks = self.hooks
        if hooks is None:
            return None

        def rows(conn: sqlite3.Connection) -> list[tuple[str, str, float | None]]:
            return conn.execute(
                "SELECT s.tenant, s.doc, p.next_at FROM csource_subscriptions s "
                "LEFT JOIN csource_periodic p ON p.tenant = s.tenant AND p.subscription_id = s.id "
                "WHERE json_extract(s.doc, '$.timeInterval') IS NOT NULL ORDER BY s.rowid"
            ).fetchall()

        def fire(conn: sqlite3.Connection, tenant: str, doc: Document, first: bool) -> int:
            def body() -> int:
                tx = self._tx(conn, tenant)
                hooks.periodic_round(tx, doc, first)
                conn.execute(
                    "INSERT OR REPLACE INTO csource_periodic (tenant, subscription_id, next_at)"
                    " VALUES (?, ?, ?)",
                    (tenant, doc["id"], now + float(doc["timeInterval"])),
                )
                return tx.queued

            queued: int = in_transaction(conn, body)
            return queued

        upcoming: float | None = None
        queued = 0
        for tenant, raw, next_at in await self._store.run_read(rows):
            doc = orjson.loads(raw)
            due = next_at if next_at is not None else now
            if due <= now:
                first = next_at is None
                queued += await self._store.run_write(
                    partial(fire, tenant=tenant, doc=doc, first=first)
                )
                due = now + float(doc["timeInterval"])
            upcoming = due if upcoming is None else min(upcoming, due)
        self._committed(queued)
        return upcoming
