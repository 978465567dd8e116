"""The store protocol every backend implements, the query/result types it speaks, and
:class:`BaseStore`, what both backends' stores share.

Write operations run a function inside one transaction (``await store.write(tenant, fn)``): the
function gets a :class:`Transaction` and does its reads and writes through it, so the NGSI-LD
semantics live once in ``cityhub.ngsild.ops`` and the backends only move rows.

The seam (DESIGN.md): what a service does inside a write transaction, it does through the same
:class:`Transaction`, never a raw connection. A service registers a :data:`TxHook`, which the
store calls with the transaction for every change it makes (a notification trigger queues
outbox rows there); a registration store calls its hooks with the transaction of each
registration change. So a rule is written once and runs, and commits or rolls back, in the
change's own transaction on every backend.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cityhub.errors import StoreUnavailable
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.query.geo import GeoQuery
from cityhub.store.availability import Availability, StoreHealth

if TYPE_CHECKING:
    from cityhub.store.instances import InstanceRow

T = TypeVar("T")
Document = dict[str, Any]  # a stored JSON document (subscription, registration, payload)


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
    type_query: Node | None = None  # an AST when the type query uses ; | or parentheses
    attrs: tuple[str, ...] = ()  # entity must have at least one of these
    q: Node | None = None
    scope_q: Node | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False
    order_by: tuple[OrderItem, ...] = ()
    geo: GeoQuery | None = None  # its geoproperty expanded
    #: access control (issue 20): None, no condition; else the entity must also match at
    #: least one of these selectors (each of ids, id_pattern, types, scope_q; an empty tuple
    #: matches nothing), so counts and pages hold only what the caller may read
    permitted: tuple[EntityQuery, ...] | None = None


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


#: what :meth:`Store.add_shared_listener` calls: ``(tenant, changes)``. ``changes`` None: the
#: tenant changed more than can be named (read it again); ``tenant`` None as well: any tenant
#: may have changed unheard (the store lost touch with the other processes for a while).
SharedListener = Callable[[str | None, "list[Change] | None"], None]


def entity_stub(entity_id: str, types: Sequence[str], scopes: Sequence[str]) -> Entity:
    """What a change of another process says of its entity: id, types and scopes (enough to
    tell who may read it), not its attributes."""
    stub: Entity = {"id": entity_id, "type": list(types)}
    if scopes:
        stub["scope"] = list(scopes)
    return stub


class Transaction(Protocol):
    """One write transaction of one tenant: its entity rows, and the rows services read and
    write beside them in the same transaction (subscriptions, registrations, the outbox,
    history)."""

    tenant: str
    changes: list[Change]

    # ---- entities ----------------------------------------------------------------------

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

    def matches(self, entity_id: str, q: Node | None = None, scope_q: Node | None = None) -> bool:
        """Whether the entity, as this transaction wrote it, matches ``q`` and ``scopeQ``
        (expanded ASTs; None: no condition), with the meaning they have in a query.

        Raises:
            BadRequestData: the backend cannot run the expression (the transaction stays
                usable).
        """

    # ---- subscriptions and registrations, as services read them mid-transaction ---------
    def subscriptions_version(self) -> int:
        """A number that grows with every change of any subscription (caches key on it)."""

    def subscriptions(self) -> list[Document]:
        """The tenant's subscriptions (their stored documents), oldest first."""

    def registrations(self) -> list[Document]:
        """The tenant's context source registrations that have not expired, oldest first."""

    def registration_subscriptions(self) -> list[Document]:
        """The tenant's registration subscriptions (clause 5.11), oldest first."""

    # ---- the notification outbox (DESIGN.md decision 4) -----------------------------------
    def enqueue(self, subscription_id: str, payload: Document, due_at: float) -> None:
        """Queue a notification of the tenant's subscription: it is delivered (from
        ``due_at``, seconds since the epoch) once this transaction commits, and never if it
        rolls back."""

    def throttle_pass(self, key: str, now: float, period: float) -> bool:
        """True, and ``now`` recorded, when ``period`` seconds have passed since ``key`` (a
        subscription's throttling record) last passed; several workers agree on one pass."""

    def move_periodic_round(self, subscription_id: str, previous: float | None, at: float) -> bool:
        """Move a periodic subscription's next round from ``previous`` (None: its first) to
        ``at``; False, and nothing done, when another process moved it first."""

    # ---- history rows (the rules that write them: cityhub.store.history) ------------------
    #: False while the temporal API writes the history of its own changes (``recording_off``)
    recording_history: bool

    def add_history_instances(self, rows: Sequence[InstanceRow]) -> None:
        """Append attribute instances (``history.instance_row``) to the tenant's history."""

    def write_history_head(
        self, entity: Entity, attrs: Mapping[str, Any], created_at: str, now: str
    ) -> None:
        """Create or replace the entity's temporal head (types, scopes, times, ``attrs``)."""

    def keep_history_head(self, entity: Entity, now: str) -> None:
        """The entity changed neither types nor scopes: its head must exist afterwards."""

    def close_history_head(self, before: Entity, now: str) -> None:
        """The entity was deleted at ``now``: its head keeps its last types, scopes and
        attributes."""

    # ---- the city services' work queue (cityhub/store/work.py) ------------------------------
    def enqueue_work(self, service: str, key: str | None, payload: Document, due_at: float) -> None:
        """Queue a work item of ``service`` for the tenant: claimable (from ``due_at``) once
        this transaction commits, never if it rolls back (nor if the savepoint it was queued
        in does); an unclaimed item of the same ``key`` absorbs it (see
        ``cityhub.store.work``). The rows are written when the transaction's function
        returns, one per service and key, together."""

    def finish_work(self, item_id: int, token: str) -> None:
        """Remove a claimed work item (held under the lease ``token``) with this
        transaction: a service's result and the end of the work that asked for it commit
        together (or neither does). An item whose lease another worker took over stays."""


#: a service's in-transaction hook: called with the transaction for every change it makes
TxHook = Callable[[Transaction, Change], None]


class Store(Protocol):
    """What the API and the services need from storage."""

    #: whether the store can serve now, and why not (``store/availability.py``)
    availability: Availability

    async def start(self) -> None:
        """Open the store. Raises StoreUnavailable, with one sentence for the operator, when
        it cannot be opened or written."""

    async def check(self) -> StoreHealth:
        """The store's condition (for ``/health``); while it cannot serve, it tries a small
        write first (at most once a second), so that it recovers without client writes."""

    async def close(self) -> None: ...

    async def write(self, tenant: str, fn: Callable[[Transaction], T]) -> T: ...

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None: ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult: ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def list_tenants(self) -> list[str]:
        """The names of the tenants that have data, but the default tenant ("")."""

    async def type_attribute_rows(
        self, tenant: str, type_iri: str | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        """(type IRI, attribute IRI or None, attribute type or None), one row per entity and
        attribute instance, of every entity or of those of ``type_iri``: the raw material of
        /types and /attributes. Reads every such entity: not for the plain type list."""

    async def entity_types(self, tenant: str) -> list[str]:
        """The distinct entity type IRIs of the tenant (the plain type list, clause 5.7.5),
        from the type index alone."""

    def add_listener(self, fn: Callable[[list[Change]], None]) -> None:
        """Call ``fn`` (on the event loop) with the changes of every committed write."""

    def add_shared_listener(self, fn: SharedListener) -> None:
        """Call ``fn`` (on the event loop) with the changes every process sharing the store
        commits, this one's included (those with their entities; another process's carry
        only :func:`entity_stub`). Register before ``start()``."""

    async def count_by_type(self, tenant: str, type_iri: str) -> int:
        """How many entities of the tenant have this type."""


class BaseStore(ABC):
    """What both backends' stores share: the transaction hooks, the listeners of commits, and
    the health check that probes with a small write while the store cannot serve."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[list[Change]], None]] = []
        #: run inside the write transaction for every change, after the backend's derived
        #: indexes, with the transaction and the Change (history, then the services' hooks)
        self.tx_hooks: list[TxHook] = []
        #: whether the store can serve now (a full disk, a read-only database: faults.py)
        self.availability = Availability()

    @abstractmethod
    async def _probe(self) -> None:
        """A write that changes nothing a client sees."""

    async def check(self) -> StoreHealth:
        """The store's condition; while it cannot serve, a small write first (at most once
        per ``availability.probe_interval``), so that it recovers without client writes."""
        if self.availability.probe_due():
            with contextlib.suppress(StoreUnavailable):
                await self._probe()
        return self.availability.health()

    def add_listener(self, fn: Callable[[list[Change]], None]) -> None:
        self._listeners.append(fn)

    def add_shared_listener(self, fn: SharedListener) -> None:
        """A store no other process writes (SQLite): this process's commits are all."""
        self.add_listener(lambda changes: by_tenant(fn, changes))

    def _committed(self, changes: list[Change]) -> None:
        for listener in self._listeners:
            listener(changes)


def by_tenant(fn: SharedListener, changes: list[Change]) -> None:
    """``fn`` called once per tenant of ``changes``."""
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.tenant, []).append(change)
    for tenant, some in grouped.items():
        fn(tenant, some)
