"""What a backend provides for context source registrations (clauses 5.9-5.11):
:class:`RegistrationRows`, its rows without a rule (``store/sqlite/registrations.py``,
``store/postgres/registrations.py``), on which ``cityhub.store.registrations.Registrations``
runs the rules; and the SQL of discovery written once (:func:`registration_where`), with a
:class:`DiscoveryDialect` per backend.

Discovery by entity type, id, idPattern and attribute names (clause 5.10.2) is answered in SQL
through side tables with one row per RegistrationInfo (``i``), per EntityInfo (``e``) and per
attribute name (``a``), so that "type and attribute in the same RegistrationInfo" is a join
and not a scan of documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.store.base import Document, Transaction

#: a RegistrationInfo's rows (``cityhub.ngsild.registration.registration_index``): its number,
#: its EntityInfos and its attribute names (None: any)
IndexRow = tuple[int, list[Document] | None, list[str] | None]


class QueuingTransaction(Transaction, Protocol):
    #: notifications this transaction queued
    queued: int


class DiscoveryDialect(Protocol):
    """How a backend writes the pieces of :func:`registration_where`, binding each value as
    it goes (in the order the pieces appear in the text)."""

    def bind(self, value: str) -> str:
        """Bind a text value; its placeholder."""

    def one_of(self, column: str, values: Sequence[str]) -> str: ...

    def pattern_matches_one_of(self, column: str, values: Sequence[str]) -> str:
        """The stored idPattern in ``column`` matches one of ``values``."""

    def matches(self, column: str, pattern: str) -> str:
        """``column`` matches a caller's RE2 ``pattern`` (checked)."""

    def later(self, column: str, time: str) -> str:
        """``column``, a canonical date-time, is after ``time`` (compared byte-wise)."""

    def flag(self, column: str) -> str:
        """A boolean column as a condition."""


def registration_where(tenant: str, query: RegistrationQuery, now: str, d: DiscoveryDialect) -> str:
    """The WHERE clause on ``csource_registrations r`` for the SQL part of a discovery query:
    the tenant's unexpired registrations with a RegistrationInfo (``i``) that has an EntityInfo
    (``e``) of the types, ids and idPattern, and the attributes (``a``)."""
    clauses = [
        f"r.tenant = {d.bind(tenant)}",
        f"(r.expires_at IS NULL OR {d.later('r.expires_at', now)})",
    ]
    entity_tests: list[str] = []
    if query.types:
        entity_tests.append(d.one_of("e.type", query.types))
    if query.ids:
        entity_tests.append(
            f"({d.one_of('e.entity_id', query.ids)} OR (e.entity_id IS NULL AND "
            f"(e.id_pattern IS NULL OR {d.pattern_matches_one_of('e.id_pattern', query.ids)})))"
        )
    if query.id_pattern is not None:
        entity_tests.append(
            f"(e.entity_id IS NULL OR {d.matches('e.entity_id', query.id_pattern)})"
        )
    info_tests: list[str] = []
    if entity_tests:
        info_tests.append(
            f"({d.flag('i.any_entity')} OR EXISTS (SELECT 1 FROM csource_registration_entities e "
            "WHERE e.tenant = i.tenant AND e.registration_id = i.registration_id "
            f"AND e.info = i.info AND {' AND '.join(entity_tests)}))"
        )
    if query.attrs:
        info_tests.append(
            f"({d.flag('i.any_attribute')} OR EXISTS (SELECT 1 FROM csource_registration_attrs a "
            "WHERE a.tenant = i.tenant AND a.registration_id = i.registration_id "
            f"AND a.info = i.info AND {d.one_of('a.name', query.attrs)}))"
        )
    if info_tests:
        clauses.append(
            "EXISTS (SELECT 1 FROM csource_registration_infos i WHERE i.tenant = r.tenant "
            f"AND i.registration_id = r.id AND {' AND '.join(info_tests)})"
        )
    return " AND ".join(clauses)


class RegistrationRows(Protocol):
    """A backend's registration and registration-subscription rows on one connection, inside
    the caller's transaction (or read): only SQL, no rule. Registrations come oldest first."""

    def transaction(self, tenant: str) -> QueuingTransaction:
        """The backend's Transaction on this connection (what the hooks are called with)."""

    def add_tenant(self, tenant: str, now: str) -> None:
        """The tenant's row, if it has none yet."""

    def insert_registration(self, tenant: str, doc: Document, expires_at: str | None) -> bool:
        """A new registration row; False (and nothing written) when the id is taken."""

    def registration(
        self, tenant: str, registration_id: str, lock: bool = False
    ) -> Document | None:
        """``lock``: no other writer changes it before this transaction ends."""

    def update_registration(
        self, tenant: str, registration_id: str, doc: Document, expires_at: str | None
    ) -> None: ...

    def delete_registration(self, tenant: str, registration_id: str) -> Document | None:
        """Delete the row; the document it held, or None."""

    def index_registration(
        self, tenant: str, registration_id: str, rows: Iterable[IndexRow]
    ) -> None:
        """Replace the registration's side-table rows (discovery) by ``rows``."""

    def exclusive_registrations(self, tenant: str, other_than: str, now: str) -> list[Document]:
        """The tenant's unexpired exclusive registrations but ``other_than``; a backend whose
        writers run at once holds the tenant's exclusive registrations until this transaction
        ends, so that two conflicting ones are never both accepted."""

    def discover(
        self, tenant: str, query: RegistrationQuery, now: str, page: tuple[int, int] | None
    ) -> list[Document]:
        """The registrations :func:`registration_where` selects; ``page``: (limit, offset)."""

    def count_discovered(self, tenant: str, query: RegistrationQuery, now: str) -> int: ...

    def insert_subscription(self, tenant: str, doc: Document) -> bool:
        """A new registration subscription row; False when the id is taken."""

    def subscription(
        self, tenant: str, subscription_id: str, lock: bool = False
    ) -> Document | None:
        """``lock``: as for :meth:`registration`."""

    def update_subscription(self, tenant: str, subscription_id: str, doc: Document) -> None: ...

    def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Delete the subscription and its schedule; False if there was none."""

    def subscriptions(self, tenant: str, limit: int, offset: int) -> list[Document]: ...

    def count_subscriptions(self, tenant: str) -> int: ...

    def claim_periodic(self) -> bool:
        """Whether this transaction may run the periodic rounds (False: another worker is
        running them)."""

    def periodic_subscriptions(self) -> list[tuple[str, Document, float | None]]:
        """(tenant, subscription, its next round or None) of every ``timeInterval``
        subscription, oldest first."""

    def schedule_round(self, tenant: str, subscription_id: str, next_at: float) -> None: ...


__all__ = [
    "DiscoveryDialect",
    "IndexRow",
    "QueuingTransaction",
    "RegistrationRows",
    "registration_where",
]
