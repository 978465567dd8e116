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

from cityhub.store.access import AccessStore
from cityhub.store.base import Store, TxHook
from cityhub.store.iot import IotStore
from cityhub.store.outbox import OutboxQueue, PeriodicSchedule
from cityhub.store.publishing import PublishingStore
from cityhub.store.registrations import CsourceHooks, RegistrationStore
from cityhub.store.subscriptions import SubscriptionStore
from cityhub.store.temporal import TemporalStore
from cityhub.store.work import WorkQueue


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


__all__ = ["Backend"]
