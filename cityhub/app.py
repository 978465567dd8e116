"""``create_app``: wiring only. Nothing happens at import time; tests build as many apps as
they like."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from cityhub.api import (
    batch,
    entities,
    health,
    jsonld_contexts,
    registrations,
    subscriptions,
    temporal,
    types,
)
from cityhub.api.front import Hub
from cityhub.api.problem import (
    handle_cityhub_error,
    handle_http_exception,
)
from cityhub.api.routing import IndexedRouter
from cityhub.contexts import ContextService
from cityhub.errors import CityhubError
from cityhub.notify.csource import CsourceNotifier
from cityhub.notify.dispatcher import Dispatcher
from cityhub.notify.matcher import TermMaps
from cityhub.notify.periodic import PeriodicNotifier
from cityhub.notify.trigger import NotificationTrigger
from cityhub.settings import Settings
from cityhub.store.base import Store
from cityhub.store.open import open_store
from cityhub.store.outbox import OutboxQueue, PeriodicSchedule
from cityhub.store.sqlite.outbox import SqliteOutbox
from cityhub.store.sqlite.registrations import SqliteRegistrationStore
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.subscriptions import SqliteSubscriptionStore
from cityhub.store.subscriptions import SubscriptionStore
from cityhub.store.temporal import parse_retention


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    contexts: ContextService | None = None,
) -> Starlette:
    """The cityhub ASGI application.

    Args:
        settings: the hub's settings (defaults when None).
        store: a store to use instead of opening ``settings.store`` (tests pass one).
        contexts: a @context service to use instead of a new one (tests inject fetchers).
    """
    settings = settings or Settings()
    the_store = (
        store
        if store is not None
        else open_store(settings.store, settings.reader_threads, settings.sqlite_mmap_mb)
    )
    the_term_maps = TermMaps()
    the_trigger = NotificationTrigger(the_term_maps)
    the_queue: OutboxQueue
    the_schedule: PeriodicSchedule
    the_temporal: Any
    the_history: Any = None  # SQLite: history migrations and retention pruning to start
    the_registrations: Any
    the_subscriptions: SubscriptionStore
    if isinstance(the_store, SqliteStore):
        # components install their in-transaction hooks before the store starts (the store
        # creates every table itself: cityhub/store/sqlite/migrations)
        the_temporal = the_history = temporal.install(
            the_store,
            instance_limit=settings.temporal_instance_limit,
            record=settings.history,
            retention=parse_retention(
                settings.history_retention_days, settings.history_retention_by_tenant
            ),
            prune_interval=settings.history_prune_interval,
        )
        the_store.tx_hooks.append(the_trigger.hook)  # same transaction
        the_queue = the_schedule = SqliteOutbox(the_store)
        the_subscriptions = SqliteSubscriptionStore(the_store)
        the_registrations = SqliteRegistrationStore(the_store)
    else:  # PostgreSQL: its schema comes from versioned migrations (cityhub.store.postgres)
        from cityhub.store.postgres import wiring

        parts = wiring.install(
            the_store,
            notification_hook=the_trigger.hook,  # same tx
            instance_limit=settings.temporal_instance_limit,
            record=settings.history,
            retention=parse_retention(
                settings.history_retention_days, settings.history_retention_by_tenant
            ),
            prune_interval=settings.history_prune_interval,
        )
        the_queue, the_subscriptions = parts.outbox, parts.subscriptions
        the_schedule = parts.outbox  # periodic rounds: one worker moves each on
        the_temporal = the_history = parts.temporal
        the_registrations = parts.registrations
    # notifications of registration subscriptions, queued in the registration transactions
    the_registrations.hooks = CsourceNotifier()
    the_contexts = contexts or ContextService(
        public_base=settings.base_url,
        fetch_timeout=settings.context_fetch_timeout,
        max_bytes=settings.context_max_bytes,
    )
    the_dispatcher = Dispatcher(
        the_store,
        the_subscriptions,
        the_contexts,
        the_term_maps,
        max_attempts=settings.notification_max_attempts,
        max_delay=settings.notification_retry_max_delay,
        queue=the_queue,
        registrations=the_registrations,
        periodic=PeriodicNotifier(the_store, the_subscriptions, the_term_maps, the_schedule),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await the_store.start()
        if the_history is not None:
            await the_history.start()
        await the_dispatcher.start()
        try:
            yield
        finally:
            await the_dispatcher.stop()
            if the_history is not None:
                await the_history.stop()
            await the_store.close()
            await the_contexts.aclose()

    routes = [
        *health.routes,
        *entities.routes,
        *batch.routes,
        *types.routes,
        *jsonld_contexts.routes,
        *subscriptions.routes,
        *registrations.routes,
        *temporal.routes,
    ]
    app = Hub(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            CityhubError: handle_cityhub_error,
            HTTPException: handle_http_exception,
        },
    )
    # the same routes, tried by method and first segment (api/routing.py)
    app.router = IndexedRouter(routes, prefix="/ngsi-ld/v1/", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = the_store
    app.state.temporal = the_temporal
    app.state.subscriptions = the_subscriptions
    app.state.notifier = the_dispatcher
    app.state.registrations = the_registrations
    app.state.contexts = the_contexts
    logging.getLogger("cityhub").setLevel(settings.log_level.upper())
    return app
