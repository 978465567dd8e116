"""The PostgreSQL backend wired (``cityhub.store.open.open_backend`` with a ``postgresql://``
URL): an asyncpg pool, the schema from versioned migrations, several workers sharing one
database.
"""

from __future__ import annotations

from cityhub.settings import Settings
from cityhub.store.backend import Backend
from cityhub.store.history import record_change
from cityhub.store.iot import Iot
from cityhub.store.postgres.access import PostgresAccessStore
from cityhub.store.postgres.outbox import PostgresOutbox
from cityhub.store.postgres.publishing import PostgresPublishingStore
from cityhub.store.postgres.rows import PostgresRows
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.temporal import PostgresTemporalStore
from cityhub.store.postgres.work import PostgresWorkQueue
from cityhub.store.registrations import Registrations
from cityhub.store.subscriptions import Subscriptions
from cityhub.store.temporal import retention_policy


def open_postgres(url: str, settings: Settings) -> Backend:
    """The backend of the database at ``url``, not started (its pool holds twice as many
    connections as ``reader_threads``); with the ``history`` setting on, every entity change is
    recorded in its own transaction."""
    store = PostgresStore(url, pool_size=2 * settings.reader_threads)
    if settings.history:
        store.tx_hooks.append(record_change)
    outbox = PostgresOutbox(store)
    return Backend(
        store=store,
        temporal=PostgresTemporalStore(
            store,
            settings.temporal_instance_limit,
            retention_policy(settings),
            settings.history_prune_interval,
        ),
        subscriptions=Subscriptions(store, PostgresRows),
        registrations=Registrations(store, PostgresRows),
        outbox=outbox,
        schedule=outbox,
        iot=Iot(store, PostgresRows),
        work=PostgresWorkQueue(store),
        access=PostgresAccessStore(store),
        publishing=PostgresPublishingStore(store),
        _add_hook=store.tx_hooks.append,
    )


__all__ = ["open_postgres"]
