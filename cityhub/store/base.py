"""The store protocol every backend implements, and the query/result types it speaks.

Write operations run a function inside one transaction (``await store.write(tenant, fn)``): the
function gets a :class:`Transaction` and does its reads and writes through it, so the NGSI-LD
semantics live once in ``cityhub.ngsild.ops`` and the backends only move rows.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cityhub.ngsild.entity import Entity

T = TypeVar("T")


@dataclass(frozen=True)
class OrderItem:
    """One ``orderBy`` key: ``id``/``type``/``createdAt``/``modifiedAt`` or an attribute IRI,
    a path into sub-attributes or members (``observedAt``...), and the direction."""

    name: str
    path: tuple[str, ...] = ()
    descending: bool = False


@dataclass(frozen=True)
class EntityQuery:
    """Clause 5.7.2 Query Entities, with every name already expanded to an IRI.

    ``type_query``, ``q`` and ``scope_q`` are ASTs from ``cityhub.ngsild.query``.
    """

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: tuple[str, ...] = ()  # plain list of types (OR), the common indexed case
    type_query: Any = None  # an AST when the type query uses ; | or parentheses
    attrs: tuple[str, ...] = ()  # entity must have at least one of these
    q: Any = None
    scope_q: Any = None
    limit: int = 20
    offset: int = 0
    count: bool = False
    order_by: tuple[OrderItem, ...] = ()
    geo: Any = None  # a cityhub.ngsild.query.geo.GeoQuery with its geoproperty expanded


@dataclass
class QueryResult:
    entities: list[Entity] = field(default_factory=list)
    count: int | None = None


@dataclass(frozen=True)
class Change:
    """A committed change, for subscribers (notifications, history, dashboard)."""

    kind: str  # entityCreated | entityUpdated | entityDeleted
    tenant: str
    entity_id: str
    before: Entity | None
    after: Entity | None


class Transaction(Protocol):
    """Row operations inside one write transaction of one tenant."""

    tenant: str
    changes: list[Change]

    def get(self, entity_id: str) -> Entity | None: ...

    def insert(self, entity: Entity) -> None:
        """Raises AlreadyExists when the id is taken."""

    def save(self, entity: Entity, before: Entity | None = None) -> None: ...

    def delete(self, entity_id: str) -> bool: ...

    def ids_of_types(self, types: list[str]) -> list[str]: ...

    def query_ids(self, query: EntityQuery) -> list[str]:
        """Ids of every entity the query matches, ignoring limit and offset."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception inside rolls back only what it did."""


class Store(Protocol):
    """What the API and the services need from storage."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T: ...

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None: ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult: ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def type_attribute_rows(
        self, tenant: str, type_iri: str | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        """(type IRI, attribute IRI or None, attribute type or None), one row per entity and
        attribute instance, of every entity or of those of ``type_iri``: the raw material of
        /types and /attributes. Reads every such entity: not for the plain type list."""

    async def entity_types(self, tenant: str) -> list[str]:
        """The distinct entity type IRIs of the tenant (the plain type list, clause 5.7.5),
        from the type index alone."""

    def add_listener(self, fn: Callable[[list[Change]], Any]) -> None: ...

    async def count_by_type(self, tenant: str, type_iri: str) -> int:
        """How many entities of the tenant have this type."""


@dataclass(frozen=True)
class OutboxRow:
    """A queued notification as a backend's outbox hands it to the dispatcher."""

    id: int
    tenant: str
    subscription_id: str
    payload: dict[str, Any]
    attempts: int
    created_at: str


class OutboxQueue(Protocol):
    """The delivery side of a store's notification outbox (DESIGN.md decision 4): claimed rows
    are leased, so that each attempt of a notification is made by one dispatcher only."""

    async def claim(self, now: float, limit: int, lease: float) -> list[OutboxRow]:
        """Up to ``limit`` rows due at ``now``, leased for ``lease`` seconds."""

    async def ack(self, row_id: int) -> None:
        """The notification was delivered: remove it."""

    async def fail(self, row_id: int, error: str, due_at: float | None) -> None:
        """An attempt failed: retry at ``due_at`` (seconds since the epoch), or give up."""

    async def next_due(self) -> float | None:
        """When the earliest row is due, None when there is none."""

    async def subscriptions_version(self) -> int:
        """A number that grows with every change of any subscription."""


class CsourceTx(Protocol):
    """What registration-subscription notifications (clause 5.11.7) need inside the write
    transaction of a registration store; each backend implements it on its connection, so a
    notification commits, or rolls back, with the change that caused it."""

    tenant: str

    def subscriptions(self) -> list[dict[str, Any]]:
        """The tenant's registration subscriptions, oldest first."""

    def registrations(self) -> list[dict[str, Any]]:
        """The tenant's registrations that have not expired, oldest first."""

    def enqueue(self, subscription_id: str, payload: dict[str, Any], due_at: float) -> None:
        """Queue one notification in the outbox."""

    def throttle_pass(self, key: str, now: float, period: float) -> bool:
        """True (and ``now`` recorded) when ``period`` seconds passed since ``key`` last sent."""


class CsourceHooks(Protocol):
    """Called by a registration store inside its write transactions (``cityhub.notify.csource``
    implements it)."""

    def registration_changed(
        self, tx: CsourceTx, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        """A registration was created (``before`` None), updated or deleted (``after`` None)."""

    def subscription_changed(
        self, tx: CsourceTx, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        """A registration subscription was created (``before`` None) or updated."""

    def periodic_round(self, tx: CsourceTx, subscription: dict[str, Any], first: bool) -> None:
        """A round of a ``timeInterval`` registration subscription is due."""
