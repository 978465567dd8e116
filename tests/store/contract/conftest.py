"""The store contract suite: every test here runs on each backend (SQLite on a temporary file,
PostgreSQL/PostGIS on a schema of its own), through the store protocols, not HTTP, so that a
divergence between the backends fails a test. The ``store_url`` fixture (tests/conftest.py)
gives each backend in turn; a backend that cannot be had here is skipped with its reason.

:class:`Backend` opens a backend as ``cityhub.app`` does (``open_backend``: history hook,
outbox, subscriptions, registrations) and drives it from these synchronous tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from cityhub.settings import Settings
from cityhub.store.base import Store, Transaction
from cityhub.store.open import open_backend
from cityhub.store.outbox import OutboxQueue
from cityhub.store.registrations import RegistrationStore
from cityhub.store.retention import RetentionPolicy
from cityhub.store.subscriptions import SubscriptionStore
from cityhub.store.temporal import TemporalStore

T = TypeVar("T")


class Backend:
    """A started backend (store, history, outbox, subscriptions, registrations) and the event
    loop that drives it (the tests themselves are sync)."""

    def __init__(self, url: str, retention: RetentionPolicy | None = None) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        policy = retention or RetentionPolicy()
        settings = Settings(
            reader_threads=2,
            history_retention_days=policy.days,
            history_retention_by_tenant=", ".join(f"{t}={d}" for t, d in policy.by_tenant.items()),
        )
        self.backend = open_backend(url, settings)
        self.store: Store = self.backend.store
        self.temporal: TemporalStore = self.backend.temporal
        self.outbox: OutboxQueue = self.backend.outbox
        self.subscriptions: SubscriptionStore = self.backend.subscriptions
        self.registrations: RegistrationStore = self.backend.registrations
        self.run(self.backend.start())

    @property
    def name(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    def enqueue(self, tx: Transaction, sub_id: str, payload: dict[str, Any], due_at: float) -> None:
        """Queue a notification inside ``tx`` (as the notification trigger does)."""
        tx.enqueue(sub_id, payload, due_at)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.backend.close())
        self.loop.close()


@pytest.fixture
def backend(store_url: str) -> Iterator[Backend]:
    b = Backend(store_url)
    try:
        yield b
    finally:
        b.close()
