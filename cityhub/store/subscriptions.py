"""Where subscriptions live (ETSI GS CIM 009 clauses 5.8.1-5.8.5): the protocol each backend
implements (``store/sqlite/subscriptions.py``, ``store/postgres/subscriptions.py``) and
``cityhub.subscriptions`` and ``cityhub.notify`` use.

A subscription is stored as its document, the internal form of ``cityhub.ngsild.subscription``.
The notification status members the hub maintains (``timesSent``, ``lastSuccess`` ...) are
kept apart from the document (:meth:`SubscriptionStore.update_status`) and merged into its
``notification`` on every read, so a delivery does not count as a change of the subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cityhub.store.base import Document


class SubscriptionStore(Protocol):
    """Subscriptions per tenant."""

    #: called (on the event loop) after a create, update or delete committed: the
    #: notification dispatcher listens here, since these writes carry no entity change
    on_commit: list[Callable[[], None]]

    async def create(self, tenant: str, doc: Document) -> None:
        """Store a new subscription (``doc["id"]`` set); its tenant is created if new.

        Raises:
            AlreadyExists: the tenant has a subscription with this id.
        """

    async def get(self, tenant: str, sub_id: str) -> Document | None:
        """The subscription, or None."""

    async def query(
        self, tenant: str, limit: int, offset: int = 0, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """A page of subscriptions in creation order, and the total when ``count``."""

    async def update(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> Document | None:
        """Replace a subscription by ``change(current)`` atomically; None if missing.
        ``change`` runs inside the transaction: quick, no I/O."""

    async def update_status(
        self, tenant: str, sub_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the notification status members by ``change(current)`` (clause 5.2.14
        ``timesSent``, ``lastNotification`` ...) atomically; nothing for a missing
        subscription."""

    async def delete(self, tenant: str, sub_id: str) -> bool:
        """Delete; False if missing."""

    async def all(self) -> list[tuple[str, Document]]:
        """Every subscription of every tenant, as (tenant, document) (for the notifier)."""


__all__ = ["SubscriptionStore"]
