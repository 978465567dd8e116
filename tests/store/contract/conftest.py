"""The store contract suite: every test here runs on each backend (SQLite on a temporary file,
PostgreSQL/PostGIS on a schema of its own), through the store protocols, not HTTP, so that a
divergence between the backends fails a test. The ``store_url`` fixture (tests/conftest.py)
gives each backend in turn; a backend that cannot be had here is skipped with its reason.

:class:`Backend` wires a store's parts the way ``cityhub.app`` does today (history hook,
outbox, subscriptions, registrations); it is the one place of this suite that names a backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from cityhub.store.base import Store, Transaction
from cityhub.store.open import open_store
from cityhub.store.outbox import OutboxQueue
from cityhub.store.registrations import RegistrationStore
from cityhub.store.subscriptions import SubscriptionStore
from cityhub.store.temporal import RetentionPolicy, TemporalStore

T = TypeVar("T")


class Backend:
    """A started store with its history, outbox, subscriptions and registrations, and the event
    loop that drives them (the tests themselves are sync)."""

    def __init__(self, url: str, retention: RetentionPolicy | None = None) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        store = open_store(url, reader_threads=2)
        self.store: Store = store
        self.temporal: TemporalStore
        self.outbox: OutboxQueue
        self.subscriptions: SubscriptionStore
        self.registrations: RegistrationStore
        if self.name == "sqlite":
            from cityhub.api.temporal import install
            from cityhub.store.sqlite import outbox
            from cityhub.store.sqlite.registrations import SqliteRegistrationStore
            from cityhub.store.sqlite.store import SqliteStore
            from cityhub.store.sqlite.subscriptions import SqliteSubscriptionStore

            assert isinstance(store, SqliteStore)
            self.temporal = install(store, retention=retention)
            self.outbox = outbox.SqliteOutboxQueue(store)
            self.subscriptions = SqliteSubscriptionStore(store)
            self.registrations = SqliteRegistrationStore(store)
            self._enqueue: Any = outbox.enqueue
        else:
            from cityhub.store.postgres import outbox as pg_outbox
            from cityhub.store.postgres import wiring

            parts = wiring.install(store, retention=retention)
            self.temporal = parts.temporal
            self.outbox = parts.outbox
            self.subscriptions = parts.subscriptions
            self.registrations = parts.registrations
            self._enqueue = pg_outbox.enqueue
        self.run(self.store.start())
        self.run(self.temporal.start())

    @property
    def name(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    def enqueue(self, tx: Transaction, sub_id: str, payload: dict[str, Any], due_at: float) -> None:
        """Queue a notification inside ``tx`` (as the notification trigger does)."""
        self._enqueue(tx.conn, tx.tenant, sub_id, payload, due_at)  # type: ignore[attr-defined]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.temporal.stop())
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture
def backend(store_url: str) -> Iterator[Backend]:
    b = Backend(store_url)
    try:
        yield b
    finally:
        b.close()
