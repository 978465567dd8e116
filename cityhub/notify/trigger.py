"""The in-transaction half of notifications (DESIGN.md decision 4; clause 5.8.6).

:meth:`NotificationTrigger.hook` is registered by the app as a store tx hook: it runs inside
the transaction of every entity change, with that transaction (``cityhub.store.base.Transaction``,
on whichever backend), asks the matcher which subscriptions the change triggers and queues one
outbox row per notification (``Transaction.enqueue``), so the notification commits, or rolls
back, with the change. It holds no SQL: reading the subscriptions, testing q and scopeQ against
the row just written, throttling and queueing are the transaction's.

A row's ``payload`` is the Notification (clause 5.3.1) with ``data`` still in the internal form
(full IRIs, every attribute) and, under ``previous``, the former instances of the attributes the
change touched: the dispatcher renders it with the subscription's @context and
``notification`` parameters when it delivers (that may need @context documents fetched
asynchronously, so a context briefly unavailable delays a notification rather than failing the
client's write), and needs ``previous`` for deleted attributes and ``showChanges``.

Subscriptions are read through the same transaction and kept per tenant in a
:class:`~cityhub.notify.index.SubscriptionIndex`, used while the subscriptions' version (and
the term-map cache generation) it was built with still holds; the version grows with every
subscription change, whichever process made it, and a transaction reads it once, so with
several workers a subscription created through one is honoured by the next transaction on any.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cityhub.access.control import AccessControl
from cityhub.ngsild.datetime import format_datetime
from cityhub.notify.index import SubscriptionIndex
from cityhub.notify.matcher import Prepared, TermMaps, prepare, triggered
from cityhub.store.base import Change, Transaction

log = logging.getLogger("cityhub.notify")


def new_notification_id() -> str:
    """A fresh Notification id (clause 5.3.1), ``urn:ngsi-ld:Notification:<uuid4>``."""
    return f"urn:ngsi-ld:Notification:{uuid.uuid4()}"


def previous_attributes(change: Change) -> dict[str, Any]:
    """The former instances of every attribute the change modified or removed."""
    if change.before is None or change.after is None:
        return {}
    old, new = change.before["attrs"], change.after["attrs"]
    return {name: insts for name, insts in old.items() if new.get(name) != insts}


def notification_payload(sub_id: str, change: Change, now: datetime) -> dict[str, Any]:
    """The outbox payload of one notification of ``change`` (internal form, not rendered)."""
    entity = change.after if change.after is not None else change.before
    data = dict(entity or {"id": change.entity_id, "type": [], "attrs": {}})
    if change.after is None:
        data["deletedAt"] = format_datetime(now)
    payload: dict[str, Any] = {
        "id": new_notification_id(),
        "type": "Notification",
        "subscriptionId": sub_id,
        "notifiedAt": format_datetime(now),
        "data": [data],
        "trigger": change.kind,
    }
    previous = previous_attributes(change)
    if previous:
        payload["previous"] = {change.entity_id: previous}
    return payload


class NotificationTrigger:
    """The tx hook and its per-tenant subscription index (one per process and store).

    Args:
        term_maps: the @context cache the matcher reads q with (the dispatcher fills it).
        clock: seconds since the epoch (tests pass a fake).
        owners: access control: a subscription with an owner is triggered only by entities
            its owner may read (this worker's copy of the permissions; the dispatcher checks
            again with the current one when it delivers).
    """

    def __init__(
        self,
        term_maps: TermMaps | None = None,
        clock: Callable[[], float] = time.time,
        owners: AccessControl | None = None,
    ) -> None:
        self.term_maps = term_maps if term_maps is not None else TermMaps()
        self.clock = clock
        self.owners = owners
        self._cache: dict[str, tuple[int, int, SubscriptionIndex]] = {}

    def index(self, tx: Transaction) -> SubscriptionIndex:
        """The tenant's subscriptions, prepared and indexed, from the cache while current."""
        tenant = tx.tenant
        version = tx.subscriptions_version()
        generation = self.term_maps.generation
        cached = self._cache.get(tenant)
        if cached is not None and cached[0] == version and cached[1] == generation:
            return cached[2]
        prepared: list[Prepared] = []
        for doc in tx.subscriptions():
            try:
                prepared.append(prepare(tenant, doc, self.term_maps))
            except Exception:  # a subscription that cannot be read must not block writes
                log.exception("a stored subscription of tenant %r could not be prepared", tenant)
        index = SubscriptionIndex(prepared)
        self._cache[tenant] = (version, generation, index)
        return index

    def hook(self, tx: Transaction, change: Change) -> None:
        """The tx hook: queue a notification for every subscription ``change`` triggers."""
        index = self.index(tx)
        if not len(index):
            return
        candidates = index.candidates(change.before, change.after)
        if not candidates:
            return
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        for sub in candidates:
            if not triggered(tx, sub, change, now):
                continue
            if not self._owner_reads(tx.tenant, sub, change):
                continue
            if sub.throttling is not None and not tx.throttle_pass(sub.id, now_s, sub.throttling):
                continue
            tx.enqueue(sub.id, notification_payload(sub.id, change, now), now_s)

    def _owner_reads(self, tenant: str, sub: Prepared, change: Change) -> bool:
        """Whether the subscription's owner may read the changed entity (True for a
        subscription made while access control was off, or before a copy was read)."""
        owner = sub.doc.get("_owner")
        if owner is None or self.owners is None:
            return True
        access = self.owners.owner_access_cached(tenant, owner)
        entity = change.after if change.after is not None else change.before
        return access is None or entity is None or access.reads(entity)


__all__ = [
    "NotificationTrigger",
    "new_notification_id",
    "notification_payload",
    "previous_attributes",
]
