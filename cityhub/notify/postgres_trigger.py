"""The in-transaction half of notifications on PostgreSQL (DESIGN.md decisions 4 and 5;
clause 5.8.6): :class:`~cityhub.notify.trigger.NotificationTrigger`'s counterpart.

:meth:`PostgresNotificationTrigger.hook` is registered by the app as a tx hook of the
PostgreSQL store (``cityhub.store.postgres.wiring.install``): inside the write transaction of
every entity change it finds the subscriptions the change triggers and queues one outbox row
per notification (``cityhub.store.postgres.outbox.enqueue``), so the notification commits (or
rolls back) with the change. The payload is the one SQLite queues
(:func:`~cityhub.notify.trigger.notification_payload`).

The matching, caching and queueing are ``NotificationTrigger``'s; this class supplies the
PostgreSQL statements. Subscriptions are cached per tenant and per worker process; the cache
entry is used only while
``notify_version`` (bumped on every subscription change, whichever worker made it) and the
term-map generation it was built with still hold, so a subscription created through one worker
is honoured by the very next change committed on any worker.

Imported only when the app wires a PostgreSQL store (it needs the ``postgres`` extra).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cityhub.notify.matcher import Prepared, RowCheck, change_triggers
from cityhub.notify.trigger import NotificationTrigger
from cityhub.store.base import Change
from cityhub.store.postgres import outbox
from cityhub.store.postgres.bridge import SyncConnection


def row_check(conn: SyncConnection) -> RowCheck:
    """The matcher's test of q and scopeQ, run as SQL against the row the change just wrote
    (:func:`~cityhub.notify.matcher.change_triggers`)."""

    def check(sub: Prepared, change: Change) -> bool:
        return outbox.row_matches(conn, change.tenant, change.entity_id, sub.q, sub.scope_q)

    return check


class PostgresNotificationTrigger(NotificationTrigger):
    """The tx hook and its per-tenant subscription index, for one worker process, over the
    PostgreSQL outbox's SQL (:mod:`cityhub.store.postgres.outbox`)."""

    def _version(self, conn: SyncConnection) -> int:
        return outbox.subscriptions_version(conn)

    def _docs(self, conn: SyncConnection, tenant: str) -> list[str]:
        return outbox.subscription_docs(conn, tenant)

    def _triggered(
        self, conn: SyncConnection, sub: Prepared, change: Change, now: datetime
    ) -> bool:
        return change_triggers(sub, change, now, row_check(conn))

    def _throttle_pass(
        self, conn: SyncConnection, tenant: str, sub_id: str, now: float, period: float
    ) -> bool:
        return outbox.throttle_pass(conn, tenant, sub_id, now, period)

    def _enqueue(
        self,
        conn: SyncConnection,
        tenant: str,
        sub_id: str,
        payload: dict[str, Any],
        due_at: float,
    ) -> None:
        outbox.enqueue(conn, tenant, sub_id, payload, due_at)


__all__ = ["PostgresNotificationTrigger", "row_check"]
