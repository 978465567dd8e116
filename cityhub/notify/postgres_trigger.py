"""The in-transaction half of notifications on PostgreSQL (DESIGN.md decisions 4 and 5;
clause 5.8.6): :class:`~cityhub.notify.trigger.NotificationTrigger`'s counterpart.

:meth:`PostgresNotificationTrigger.hook` is registered by the app as a tx hook of the
PostgreSQL store (``cityhub.store.postgres.wiring.install``): inside the write transaction of
every entity change it finds the subscriptions the change triggers and queues one outbox row
per notification (``cityhub.store.postgres.outbox.enqueue``), so the notification commits (or
rolls back) with the change. The payload is the one SQLite queues
(:func:`~cityhub.notify.trigger.notification_payload`).

Subscriptions are cached per tenant and per worker process; the cache entry is used only while
``notify_version`` (bumped on every subscription change, whichever worker made it) and the
term-map generation it was built with still hold, so a subscription created through one worker
is honoured by the very next change committed on any worker.

Imported only when the app wires a PostgreSQL store (it needs the ``postgres`` extra).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from cityhub.notify.index import SubscriptionIndex
from cityhub.notify.matcher import Prepared, RowCheck, TermMaps, change_triggers, prepare
from cityhub.notify.trigger import notification_payload
from cityhub.store.base import Change
from cityhub.store.postgres import outbox
from cityhub.store.postgres.bridge import SyncConnection


def row_check(conn: SyncConnection) -> RowCheck:
    """The matcher's test of q and scopeQ, run as SQL against the row the change just wrote
    (:func:`~cityhub.notify.matcher.change_triggers`)."""

    def check(sub: Prepared, change: Change) -> bool:
        return outbox.row_matches(conn, change.tenant, change.entity_id, sub.q, sub.scope_q)

    return check


class PostgresNotificationTrigger:
    """The tx hook and its per-tenant subscription index, for one worker process.

    Args:
        term_maps: the @context cache the matcher reads q with (the dispatcher fills it).
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(
        self, term_maps: TermMaps | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.term_maps = term_maps if term_maps is not None else TermMaps()
        self.clock = clock
        self._cache: dict[str, tuple[int, int, SubscriptionIndex]] = {}

    def index(self, conn: SyncConnection, tenant: str) -> SubscriptionIndex:
        """The tenant's subscriptions, prepared and indexed, from the cache while current."""
        version = outbox.subscriptions_version(conn)
        generation = self.term_maps.generation
        cached = self._cache.get(tenant)
        if cached is not None and cached[0] == version and cached[1] == generation:
            return cached[2]
        prepared: list[Prepared] = []
        for doc in outbox.subscription_docs(conn, tenant):
            try:
                prepared.append(prepare(tenant, orjson.loads(doc), self.term_maps))
            except Exception:  # a subscription that cannot be read must not block writes
                continue
        index = SubscriptionIndex(prepared)
        self._cache[tenant] = (version, generation, index)
        return index

    def hook(self, conn: SyncConnection, change: Change) -> None:
        """The tx hook: queue a notification for every subscription ``change`` triggers."""
        index = self.index(conn, change.tenant)
        if not len(index):
            return
        candidates = index.candidates(change.before, change.after)
        if not candidates:
            return
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        check = row_check(conn)
        for sub in candidates:
            if not change_triggers(sub, change, now, check):
                continue
            if sub.throttling is not None and not outbox.throttle_pass(
                conn, sub.tenant, sub.id, now_s, sub.throttling
            ):
                continue
            payload = notification_payload(sub.id, change, now)
            outbox.enqueue(conn, change.tenant, sub.id, payload, now_s)


__all__ = ["PostgresNotificationTrigger", "row_check"]
