"""The SQLite backend wired (``cityhub.store.open.open_backend`` with a ``sqlite:///`` URL): one
file, one writer thread, every part of the hub in it (entities, history, subscriptions,
registrations, the notification outbox).
"""

from __future__ import annotations

from cityhub.settings import Settings
from cityhub.store.backend import Backend, wire
from cityhub.store.retention import retention_policy
from cityhub.store.sqlite.outbox import SqliteOutbox
from cityhub.store.sqlite.rows import SqliteRows
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.temporal import SqliteTemporalStore
from cityhub.store.work import Work


def open_sqlite(path: str, settings: Settings) -> Backend:
    """The backend of the SQLite file at ``path`` (``:memory:`` too), not started.

    The store brings its schema up to date when it starts (its numbered migrations); with the
    ``history`` setting on, every entity change is recorded in its own transaction.
    """
    store = SqliteStore(
        path, reader_threads=settings.reader_threads, mmap_mb=settings.sqlite_mmap_mb
    )
    return wire(
        store,
        SqliteRows,
        temporal=SqliteTemporalStore(
            store,
            settings.temporal_instance_limit,
            retention_policy(settings),
            settings.history_prune_interval,
            record=settings.history,
        ),
        outbox=SqliteOutbox(store),
        work=Work(store, SqliteRows, one_process=True),
        history=settings.history,
        shared=False,
    )


__all__ = ["open_sqlite"]
