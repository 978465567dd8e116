"""Notifications of registration subscriptions (clause 5.11.7; CsourceNotification 5.3.2): the
in-transaction half.

:class:`CsourceNotifier` is handed to the registration store
(``cityhub.store.registrations.RegistrationStore.hooks``), which calls it inside the transaction
of every registration created, updated or deleted and of every registration subscription created
or updated, with that transaction (``cityhub.store.base.Transaction``, as the entity store
calls the entity notification trigger). It matches with the pure
:mod:`cityhub.ngsild.csource_notification` and queues one outbox row per notification, so a
notification commits, or rolls back, with its change (DESIGN.md decision 4). The
:class:`~cityhub.notify.dispatcher.Dispatcher` delivers the rows like entity notifications
(retries, status members), compacting the registrations with the subscription's @context.

- a registration change notifies every active subscription it matched before or matches now:
  ``newlyMatching``, ``updated`` or ``noLongerMatching`` (``data``: the registration as it is
  now, or as it was for ``noLongerMatching``), subject to ``throttling``;
- creating or updating a subscription sends every registration it matches now
  (``newlyMatching``), when there is one;
- a subscription with ``timeInterval`` is not change-driven: each round (the first one at once)
  sends every registration it matches, none included (``data`` empty), ``newlyMatching`` in the
  first round and ``updated`` after.

Registration subscriptions are read from the transaction each time (registrations change
rarely; there is no cache to keep coherent across workers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cityhub.ngsild import csource_notification as cn
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.datetime import format_datetime
from cityhub.notify.trigger import new_notification_id
from cityhub.store.base import Transaction

log = logging.getLogger("cityhub.notify")

Document = dict[str, Any]


def throttle_key(subscription_id: str) -> str:
    """The throttling record of a registration subscription (apart from entity ones, which
    may use the same id)."""
    return f"csource {subscription_id}"


class CsourceNotifier:
    """The registration store's :class:`~cityhub.store.base.CsourceHooks`.

    Args:
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._core = build_term_map(None, {})

    def _prepare(self, doc: Document) -> cn.CsourceSelector | None:
        try:
            return cn.prepare(doc, self._core.expand)
        except Exception:  # a subscription that cannot be read must not block writes
            log.exception("registration subscription %s could not be prepared", doc.get("id"))
            return None

    def _queue(
        self, tx: Transaction, sel: cn.CsourceSelector, data: list[Document], reason: str
    ) -> None:
        now_s = self.clock()
        stamp = format_datetime(datetime.fromtimestamp(now_s, UTC))
        payload = cn.notification_payload(new_notification_id(), sel.id, data, reason, stamp)
        tx.enqueue(sel.id, payload, now_s)

    def registration_changed(
        self, tx: Transaction, before: Document | None, after: Document | None
    ) -> None:
        """Notify the subscriptions the change concerns (inside its transaction)."""
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        for doc in tx.registration_subscriptions():
            sel = self._prepare(doc)
            if sel is None or sel.time_interval is not None or not sel.active(now):
                continue
            old, new = cn.matching_view(before, sel), cn.matching_view(after, sel)
            reason = cn.trigger_reason(old, new)
            if reason is None:
                continue
            if sel.throttling is not None and not tx.throttle_pass(
                throttle_key(sel.id), now_s, sel.throttling
            ):
                continue
            view = new if new is not None else old
            assert view is not None
            self._queue(tx, sel, [view], reason)

    def _matching(self, tx: Transaction, sel: cn.CsourceSelector) -> list[Document]:
        views = (cn.matching_view(r, sel) for r in tx.registrations())
        return [v for v in views if v is not None]

    def subscription_changed(
        self, tx: Transaction, before: Document | None, after: Document | None
    ) -> None:
        """The notification of a subscription just created or updated: every registration it
        matches (none is sent when nothing matches; periodic ones wait for their round)."""
        if after is None:
            return
        sel = self._prepare(after)
        now = datetime.fromtimestamp(self.clock(), UTC)
        if sel is None or sel.time_interval is not None or not sel.active(now):
            return
        views = self._matching(tx, sel)
        if views:
            self._queue(tx, sel, views, cn.NEWLY_MATCHING)

    def periodic_round(self, tx: Transaction, subscription: Document, first: bool) -> None:
        """One round of a ``timeInterval`` subscription: every registration it matches, if
        any."""
        sel = self._prepare(subscription)
        if sel is None or not sel.active(datetime.fromtimestamp(self.clock(), UTC)):
            return
        # sent even when nothing matches (``data`` empty): clause 5.11.2.4 sends "all matching
        # Context Source Registrations ... periodically ... independent of any changes to the
        # set", and a periodic subscriber gets no noLongerMatching, so an empty round is how it
        # learns that the last matching registration is gone (ETSI 047_01)
        self._queue(tx, sel, self._matching(tx, sel), cn.NEWLY_MATCHING if first else cn.UPDATED)


__all__ = ["CsourceNotifier", "throttle_key"]
