"""The PostgreSQL parts of the hub's services, as ``cityhub.app`` wires them.

The store knows nothing of the services above it: what they do inside a write transaction (the
notification trigger, ``cityhub.notify.trigger``) is handed in as a tx hook.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityhub.store.base import TxHook
from cityhub.store.postgres.history import record_change
from cityhub.store.postgres.outbox import PostgresOutbox
from cityhub.store.postgres.registrations import PostgresRegistrationStore
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.subscriptions import PostgresSubscriptionStore
from cityhub.store.postgres.temporal import PostgresTemporalStore
from cityhub.store.temporal import RetentionPolicy


@dataclass(frozen=True)
class PostgresComponents:
    subscriptions: PostgresSubscriptionStore
    outbox: PostgresOutbox
    temporal: PostgresTemporalStore
    registrations: PostgresRegistrationStore


def install(
    store: object,
    *,
    notification_hook: TxHook | None = None,
    instance_limit: int = 1000,
    record: bool = True,
    retention: RetentionPolicy | None = None,
    prune_interval: float = 3600.0,
) -> PostgresComponents:
    """Give ``store`` its transaction hooks (history, then ``notification_hook``, which queues
    notifications in the outbox) and build the stores the services use. Call before
    ``store.start()``; start ``temporal`` after it.

    Args:
        notification_hook: the service layer's in-transaction notification trigger
            (``cityhub.notify.trigger.NotificationTrigger.hook``); None queues no
            notification of entity changes.
        instance_limit, record, retention, prune_interval: as for the SQLite history
            (``cityhub.api.temporal.install``).

    Raises:
        ValueError: ``store`` is not a :class:`PostgresStore`.
    """
    if not isinstance(store, PostgresStore):
        raise ValueError(f"not a store cityhub knows how to wire: {type(store).__name__}")
    if record:
        store.tx_hooks.append(record_change)
    if notification_hook is not None:
        store.tx_hooks.append(notification_hook)
    return PostgresComponents(
        subscriptions=PostgresSubscriptionStore(store),
        outbox=PostgresOutbox(store),
        temporal=PostgresTemporalStore(store, instance_limit, retention, prune_interval),
        registrations=PostgresRegistrationStore(store),
    )


__all__ = ["PostgresComponents", "install"]
