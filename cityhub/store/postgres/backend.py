"""The PostgreSQL backend wired (``cityhub.store.open.open_backend`` with a ``postgresql://``
URL): an asyncpg pool, the schema from versioned migrations, several workers sharing one
database.
"""

from __future__ import annotations

from cityhub.settings import Settings
from cityhub.store.backend import Backend, wire
from cityhub.store.postgres.outbox import PostgresOutbox
from cityhub.store.postgres.rows import PostgresRows
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.temporal import PostgresTemporalStore
from cityhub.store.postgres.work import PostgresWorkQueue
from cityhub.store.retention import retention_policy


def open_postgres(url: str, settings: Settings) -> Backend:
    """The backend of the database at ``url``, not started (its pool holds twice as many
    connections as ``reader_threads``); with the ``history`` setting on, every entity change is
    recorded in its own transaction."""
    store = PostgresStore(url, pool_size=2 * settings.reader_threads)
    backend = wire(
        store,
        PostgresRows,
        temporal=PostgresTemporalStore(
            store,
            settings.temporal_instance_limit,
            retention_policy(settings),
            settings.history_prune_interval,
        ),
        outbox=PostgresOutbox(store),
        work=PostgresWorkQueue(store),
        history=settings.history,
        shared=True,
    )
    # which tenants hold no registration is kept, as on SQLite, once the other workers'
    # creations are heard (registration_watch.py): no query per request for it
    backend.registrations.hear(store.registration_watch)
    return backend


__all__ = ["open_postgres"]
