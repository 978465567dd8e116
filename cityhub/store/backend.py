"""A backend: one database and everything the hub keeps in it, wired (DESIGN.md "the seam").

``cityhub.store.open.open_backend(url, settings)`` builds one for SQLite or PostgreSQL; the app
and the services see only the protocols it holds. A backend wires its own parts: the schema or
migrations, its derived indexes, the history it records in every entity write transaction
(the ``history`` setting) and its retention pruning. What a *service* does inside a write
transaction it hands in: :meth:`Backend.add_tx_hook` for entity changes,
:meth:`Backend.set_registration_hooks` for registration changes; both are called with the
backend's :class:`~cityhub.store.base.Transaction`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cityhub.store.access import Access, AccessStore
from cityhub.store.base import Store, TxHook
from cityhub.store.database import Database, SqlConnection
from cityhub.store.entity_maps import EntityMaps, EntityMapStore
from cityhub.store.history import record_change
from cityhub.store.iot import Iot, IotStore
from cityhub.store.outbox import OutboxQueue, PeriodicSchedule
from cityhub.store.publishing import Publishing, PublishingStore
from cityhub.store.registrations import CsourceHooks, Registrations, RegistrationStore
from cityhub.store.remote_subscriptions import RemoteSubscriptions, RemoteSubscriptionStore
from cityhub.store.subscriptions import Subscriptions, SubscriptionStore
from cityhub.store.temporal import TemporalStore
from cityhub.store.work import Work, WorkQueue


@dataclass(frozen=True)
class Backend:
    """The stores of one database. ``start()`` before use, ``close()`` at the end.

    Attributes:
        store: entities (the current state).
        temporal: history (temporal provision and consumption).
        subscriptions: entity subscriptions.
        registrations: context source registrations and their subscriptions.
        outbox: the delivery side of the notification outbox.
        schedule: when the periodic subscriptions' next rounds are due.
        iot: the IoT agent's config groups, devices and payload error counts.
        work: the worker side of the city services' work queue.
        access: managed tenants, API keys, permissions and the audit log (issue 20).
        publishing: the open data publishing rules (issue 19).
        entity_maps: the EntityMaps of paged distributed queries (clause 5.14).
        remote_subscriptions: the copies of subscriptions made at context sources (v1.9.1
            clause 5.8.1.4).
        shared: other processes may use the database at the same time (PostgreSQL: workers
            and machines), so what they must agree on lives in it (access control's quota
            counters); False when one process serves it (SQLite).
    """

    store: Store
    temporal: TemporalStore
    subscriptions: SubscriptionStore
    registrations: RegistrationStore
    outbox: OutboxQueue
    schedule: PeriodicSchedule
    iot: IotStore
    work: WorkQueue
    access: AccessStore
    publishing: PublishingStore
    entity_maps: EntityMapStore
    remote_subscriptions: RemoteSubscriptionStore
    shared: bool
    #: appends to the entity store's transaction hooks (after the backend's own)
    _add_hook: Callable[[TxHook], None]

    def add_tx_hook(self, hook: TxHook) -> None:
        """Run ``hook(tx, change)`` for every entity change, inside its write transaction,
        after the backend's own (history). Before :meth:`start`."""
        self._add_hook(hook)

    def set_registration_hooks(self, hooks: CsourceHooks) -> None:
        """Call ``hooks`` inside every registration and registration-subscription write
        transaction (clause 5.11.7 notifications)."""
        self.registrations.hooks = hooks

    async def start(self) -> None:
        """Open the database (schema, migrations), then the history (its upgrades, pruning)."""
        await self.store.start()
        try:
            await self.temporal.start()
        except BaseException:
            await self.store.close()
            raise

    async def close(self) -> None:
        await self.temporal.stop()
        await self.store.close()


class _Outbox(OutboxQueue, PeriodicSchedule, Protocol):
    pass


class _BackendStore(Store, Database[Any], Protocol):
    #: the hooks every entity write transaction calls, in order
    tx_hooks: list[TxHook]


def wire(
    store: _BackendStore,
    rows: type[SqlConnection],
    *,
    temporal: TemporalStore,
    outbox: _Outbox,
    work: Work[Any],
    history: bool,
    shared: bool,
) -> Backend:
    """A backend's parts wired the one way both backends share: the stores written once over
    ``rows`` (subscriptions, registrations, the IoT agent's, access control's, the publishing
    rules) beside the backend's own ``temporal``, ``outbox`` and ``work``; with ``history``
    on, every entity change is recorded in its own transaction, before the services' hooks;
    ``shared``: see :class:`Backend`."""
    if history:
        store.tx_hooks.append(record_change)
    return Backend(
        store=store,
        temporal=temporal,
        subscriptions=Subscriptions(store, rows),
        registrations=Registrations(store, rows, shared=shared),
        outbox=outbox,
        schedule=outbox,
        iot=Iot(store, rows),
        work=work,
        access=Access(store, rows),
        publishing=Publishing(store, rows),
        entity_maps=EntityMaps(store, rows),
        remote_subscriptions=RemoteSubscriptions(store, rows),
        shared=shared,
        _add_hook=store.tx_hooks.append,
    )


__all__ = ["Backend", "wire"]
