"""Where context source registrations and registration subscriptions live (ETSI GS CIM 009
clauses 5.9-5.11): :class:`Registrations`, the one registration store the API and the notifier
use (typed :data:`RegistrationStore`), its rules once over a backend's rows
(``cityhub.store.registration_rows.RegistrationRows``, the SQL written once); and the hooks it
calls inside its write transactions (clause 5.11.7 notifications).

Documents are the internal forms of ``cityhub.ngsild.registration`` and
``cityhub.ngsild.csource_subscription``. Discovery by entity type, id, idPattern and attribute
names (clause 5.10.2) is answered in SQL (``registration_rows.registration_where``); the rest
of a discovery query (q, csf, geo-query, temporal query) is checked on the candidates with
:func:`cityhub.ngsild.registration_query.matches_registration`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from cityhub.errors import AlreadyExists, ResourceNotFound
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.query.ast import canonical_datetime
from cityhub.ngsild.registration import registration_index
from cityhub.ngsild.registration_mode import proxied_conflict
from cityhub.ngsild.registration_query import RegistrationQuery, matches_registration
from cityhub.store.base import Document, Transaction
from cityhub.store.database import Conn, Database, SqlConnection
from cityhub.store.registration_rows import RegistrationRows

T = TypeVar("T")


class CsourceHooks(Protocol):
    """Called by a registration store inside its write transactions, with the backend's
    :class:`~cityhub.store.base.Transaction` on them, as the entity store calls its tx hooks:
    a notification queued there commits, or rolls back, with the change that caused it
    (``cityhub.notify.csource`` implements it)."""

    def registration_changed(
        self, tx: Transaction, before: Document | None, after: Document | None
    ) -> None:
        """A registration was created (``before`` None), updated or deleted (``after`` None)."""

    def subscription_changed(
        self, tx: Transaction, before: Document | None, after: Document | None
    ) -> None:
        """A registration subscription was created (``before`` None) or updated."""

    def periodic_round(self, tx: Transaction, subscription: Document, first: bool) -> None:
        """A round of a ``timeInterval`` registration subscription is due."""


class CreationsHeard(Protocol):
    """Registration creations of the other processes sharing a backend, heard (PostgreSQL:
    ``cityhub.store.postgres.registration_watch``): while :attr:`live`, it calls each of
    :attr:`listeners` with a tenant that may hold registrations from now on (None: any)."""

    listeners: list[Callable[[str | None], None]]

    @property
    def live(self) -> bool:
        """Whether every other process's creation is heard now."""

    def announce(self, sql: SqlConnection, tenant: str) -> None:
        """Inside the transaction that creates a registration of ``tenant``: tell the others
        when it commits."""


def _expires(doc: Document) -> str | None:
    raw = doc.get("expiresAt")
    return canonical_datetime(raw) if isinstance(raw, str) else None


def _check_exclusive(rows: RegistrationRows, tenant: str, doc: Document) -> None:
    """Clause 4.3.6.3: exclusive registrations own their entity attributes (409 otherwise)."""
    if doc.get("mode") not in ("exclusive", "redirect"):
        return
    for held in rows.exclusive_registrations(tenant, doc["id"], now_iso()):
        if proxied_conflict(doc, held):
            raise AlreadyExists(
                f"the exclusive registration {held['id']} already holds these attributes of "
                "this entity; no other exclusive or redirect registration may cover them "
                "(clause 4.3.6.3)"
            )


class Registrations(Generic[Conn]):
    """Registrations (clauses 5.9, 5.10) and registration subscriptions (5.11) per tenant, on
    one backend: these rules, its rows.

    Args:
        db: the backend's store, which runs the row functions.
        sql: the backend's connection for the SQL written once (``RegistrationRows``).
    """

    def __init__(
        self, db: Database[Conn], sql: Callable[[Conn], SqlConnection], *, shared: bool = True
    ) -> None:
        self._db = db
        self._sql = sql
        #: tenants known to hold no registration, kept where no other process writes the
        #: store (``shared`` off) or where the others' creations are heard (:meth:`hear`):
        #: discovery there answers nothing without a read, which every retrieve and write asks
        #: for (distributed operations) on a hub that federates with no one. A creation takes
        #: its tenant out before and after its commit and moves ``_created``, so a read that
        #: overlapped it never marks the tenant; a creation heard from another process does
        #: the same when it is heard.
        self._shared = shared
        self._none: set[str] = set()
        self._created = 0
        self._heard: CreationsHeard | None = None
        #: called inside write transactions to queue notifications (None: none are sent)
        self.hooks: CsourceHooks | None = None
        #: called after a commit that queued notifications or changed a subscription (with
        #: True then: a periodic schedule may have changed)
        self.on_commit: list[Callable[[bool], None]] = []

    async def _write(self, fn: Callable[[RegistrationRows], T]) -> T:
        return await self._db.run_transaction(lambda conn: fn(RegistrationRows(self._sql(conn))))

    async def _read(self, fn: Callable[[RegistrationRows], T]) -> T:
        return await self._db.run_read(lambda conn: fn(RegistrationRows(self._sql(conn))))

    def _registration_changed(
        self, rows: RegistrationRows, tenant: str, before: Document | None, after: Document | None
    ) -> int:
        if self.hooks is None:
            return 0
        tx = rows.transaction(tenant)
        self.hooks.registration_changed(tx, before, after)
        return tx.queued

    def _subscription_changed(
        self, rows: RegistrationRows, tenant: str, before: Document | None, after: Document
    ) -> None:
        if self.hooks is not None:
            self.hooks.subscription_changed(rows.transaction(tenant), before, after)

    def _committed(self, queued: int, subscriptions: bool = False) -> None:
        if queued or subscriptions:
            for fn in self.on_commit:
                fn(subscriptions)

    def hear(self, heard: CreationsHeard) -> None:
        """Keep which tenants hold no registration on a shared backend too: ``heard`` tells
        of the other processes' creations (before the backend starts)."""
        self._heard = heard
        heard.listeners.append(self._creation_heard)

    def _creation_heard(self, tenant: str | None) -> None:
        if tenant is not None:
            self._held(tenant)
        else:
            self._created += 1
            self._none.clear()

    def _kept(self) -> bool:
        """Whether the tenants known to hold none can be trusted now."""
        return not self._shared or (self._heard is not None and self._heard.live)

    # ---- registrations (clauses 5.9.2-5.9.4, 5.10) --------------------------------------------

    async def create_registration(self, tenant: str, doc: Document) -> None:
        """Store a new registration; its tenant is created if needed (clause 4.14).

        Raises:
            AlreadyExists: the id is taken in the tenant, or an exclusive registration already
                holds its attributes (clause 4.3.6.3).
        """
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}

        def run(rows: RegistrationRows) -> int:
            rows.add_tenant(tenant, now)
            if not rows.insert_registration(tenant, doc, _expires(doc)):
                raise AlreadyExists(
                    f"a context source registration with id {doc['id']} already exists"
                )
            _check_exclusive(rows, tenant, doc)
            rows.index_registration(tenant, doc["id"], registration_index(doc))
            if self._heard is not None:
                self._heard.announce(rows.sql, tenant)
            return self._registration_changed(rows, tenant, None, doc)

        self._held(tenant)
        try:
            self._committed(await self._write(run))
        finally:
            self._held(tenant)

    async def get_registration(self, tenant: str, registration_id: str) -> Document | None:
        """The registration, or None."""
        return await self._read(lambda rows: rows.registration(tenant, registration_id))

    async def update_registration(
        self, tenant: str, registration_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read, ``change(doc, now)``, write, in one transaction (clause 5.9.3).

        Raises:
            ResourceNotFound: no such registration; whatever ``change`` raises (nothing is
                written then).
        """

        def run(rows: RegistrationRows) -> tuple[Document, int]:
            before = rows.registration(tenant, registration_id, lock=True)
            if before is None:
                raise ResourceNotFound(
                    f"there is no context source registration with id {registration_id}"
                )
            doc = change(dict(before), now_iso())
            _check_exclusive(rows, tenant, doc)
            rows.update_registration(tenant, registration_id, doc, _expires(doc))
            rows.index_registration(tenant, doc["id"], registration_index(doc))
            return doc, self._registration_changed(rows, tenant, before, doc)

        doc, queued = await self._write(run)
        self._committed(queued)
        return doc

    async def delete_registration(self, tenant: str, registration_id: str) -> bool:
        """Delete; False if missing."""

        def run(rows: RegistrationRows) -> tuple[bool, int]:
            before = rows.delete_registration(tenant, registration_id)
            rows.index_registration(tenant, registration_id, ())
            if before is None:
                return False, 0
            return True, self._registration_changed(rows, tenant, before, None)

        found, queued = await self._write(run)
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
        """Registrations answering a discovery query (clause 5.10.2), oldest first, expired
        ones left out: the page and, if ``count``, the total."""
        if tenant in self._none and self._kept():
            return [], 0 if count else None
        now = now_iso()
        created = self._created

        def run(rows: RegistrationRows) -> tuple[list[Document], int | None]:
            if query.needs_filter:
                found = rows.discover(tenant, query, now, None)
                docs = [d for d in found if matches_registration(d, query)]
                answer = docs[offset : offset + limit], len(docs) if count else None
            else:
                docs = rows.discover(tenant, query, now, (limit, offset))
                answer = docs, rows.count_discovered(tenant, query, now) if count else None
            if not docs and self._kept() and not rows.has_registrations(tenant):
                if created == self._created:
                    self._none.add(tenant)
            return answer

        return await self._read(run)

    def _held(self, tenant: str) -> None:
        """``tenant`` may hold a registration from now on."""
        self._created += 1
        self._none.discard(tenant)

    # ---- registration subscriptions (clauses 5.11.2-5.11.6) ----------------------------------

    async def create_subscription(self, tenant: str, doc: Document) -> None:
        """Raises AlreadyExists when the id is taken in the tenant."""
        now = now_iso()
        doc = {**doc, "createdAt": now, "modifiedAt": now}

        def run(rows: RegistrationRows) -> None:
            rows.add_tenant(tenant, now)
            if not rows.insert_subscription(tenant, doc):
                raise AlreadyExists(
                    f"a context source registration subscription with id {doc['id']} already exists"
                )
            self._subscription_changed(rows, tenant, None, doc)

        await self._write(run)
        self._committed(0, subscriptions=True)

    async def get_subscription(self, tenant: str, subscription_id: str) -> Document | None:
        """The registration subscription, or None."""
        return await self._read(lambda rows: rows.subscription(tenant, subscription_id))

    async def update_subscription(
        self, tenant: str, subscription_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read, ``change(doc, now)``, write, in one transaction (clause 5.11.3).

        Raises:
            ResourceNotFound: no such subscription.
        """

        def run(rows: RegistrationRows) -> Document:
            before = rows.subscription(tenant, subscription_id, lock=True)
            if before is None:
                raise ResourceNotFound(
                    f"there is no context source registration subscription with id "
                    f"{subscription_id}"
                )
            doc = change(dict(before), now_iso())
            rows.update_subscription(tenant, subscription_id, doc)
            self._subscription_changed(rows, tenant, before, doc)
            return doc

        doc = await self._write(run)
        self._committed(0, subscriptions=True)
        return doc

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Delete; False if missing."""
        return await self._write(lambda rows: rows.delete_subscription(tenant, subscription_id))

    async def query_subscriptions(
        self, tenant: str, *, limit: int, offset: int, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """The tenant's registration subscriptions, oldest first (clause 5.11.5)."""

        def run(rows: RegistrationRows) -> tuple[list[Document], int | None]:
            docs = rows.subscriptions(tenant, limit, offset)
            return docs, rows.count_subscriptions(tenant) if count else None

        return await self._read(run)

    # ---- notification status and periodic rounds (clause 5.11.7) -----------------------------

    async def update_subscription_status(
        self, tenant: str, subscription_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the subscription's ``notification`` by ``change(notification)`` (status
        members); ``modifiedAt`` stays. Nothing if it is gone."""

        def run(rows: RegistrationRows) -> None:
            doc = rows.subscription(tenant, subscription_id, lock=True)
            if doc is not None:
                doc["notification"] = change(doc.get("notification") or {})
                rows.update_subscription(tenant, subscription_id, doc)

        await self._write(run)

    async def run_periodic(self, now: float) -> float | None:
        """Run every due round of the ``timeInterval`` subscriptions (each queues its
        notification and moves its schedule on) in one transaction; when the next round is due
        (None: no such subscription). A worker that finds another running them returns
        ``now + 1`` and looks again then."""
        hooks = self.hooks
        if hooks is None:
            return None

        def run(rows: RegistrationRows) -> tuple[float | None, int]:
            if not rows.claim_periodic():
                return now + 1.0, 0
            upcoming: float | None = None
            queued = 0
            for tenant, doc, next_at in rows.periodic_subscriptions():
                due = next_at if next_at is not None else now
                if due <= now:
                    tx = rows.transaction(tenant)
                    hooks.periodic_round(tx, doc, next_at is None)
                    queued += tx.queued
                    due = now + float(doc["timeInterval"])
                    rows.schedule_round(tenant, doc["id"], due)
                upcoming = due if upcoming is None else min(upcoming, due)
            return upcoming, queued

        upcoming, queued = await self._write(run)
        self._committed(queued)
        return upcoming


#: what the API and the notifier hold, whatever the backend's connection
RegistrationStore = Registrations[Any]


__all__ = ["CsourceHooks", "RegistrationStore", "Registrations"]
