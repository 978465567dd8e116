"""Where context source registrations and registration subscriptions live (ETSI GS CIM 009
clauses 5.9-5.11): the protocol each backend implements (``store/sqlite/registrations.py``,
``store/postgres/registrations.py``) and the API and the notifier use, and the hooks a
registration store calls inside its write transactions (clause 5.11.7 notifications).

Documents are the internal forms of ``cityhub.ngsild.registration`` and
``cityhub.ngsild.csource_subscription``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cityhub.ngsild.registration_query import RegistrationQuery
from cityhub.store.base import Document, Transaction


class CsourceHooks(Protocol):
    """Called by a registration store inside its write transactions, with the backend's
    :class:`~cityhub.store.base.Transaction` on them, as the entity store calls its tx hooks:
    a notification queued there commits, or rolls back, with the change that caused it
    (``cityhub.notify.csource`` implements it)."""

    def registration_changed(
        self, tx: Transaction, before: Document | None, after: Document | None
    ) -> None:
        """A registration was created (``before`` None), updated or deleted (``after`` None)."""

    def subscription_changed(
        self, tx: Transaction, before: Document | None, after: Document | None
    ) -> None:
        """A registration subscription was created (``before`` None) or updated."""

    def periodic_round(self, tx: Transaction, subscription: Document, first: bool) -> None:
        """A round of a ``timeInterval`` registration subscription is due."""


class RegistrationStore(Protocol):
    """Registrations (clauses 5.9, 5.10) and registration subscriptions (5.11) per tenant."""

    #: called inside write transactions to queue notifications (None: none are sent)
    hooks: CsourceHooks | None
    #: called after a commit that queued notifications or changed a subscription (with True
    #: then: a periodic schedule may have changed)
    on_commit: list[Callable[[bool], None]]

    async def create_registration(self, tenant: str, doc: Document) -> None:
        """Store a new registration; its tenant is created if needed (clause 4.14).

        Raises:
            AlreadyExists: the id is taken in the tenant, or an exclusive registration already
                holds its attributes (clause 4.3.6.3).
        """

    async def get_registration(self, tenant: str, registration_id: str) -> Document | None:
        """The registration, or None."""

    async def update_registration(
        self, tenant: str, registration_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read, ``change(doc, now)``, write, in one transaction (clause 5.9.3).

        Raises:
            ResourceNotFound: no such registration; whatever ``change`` raises (nothing is
                written then).
        """

    async def delete_registration(self, tenant: str, registration_id: str) -> bool:
        """Delete; False if missing."""

    async def query_registrations(
        self,
        tenant: str,
        query: RegistrationQuery,
        *,
        limit: int,
        offset: int,
        count: bool = False,
    ) -> tuple[list[Document], int | None]:
        """Registrations answering a discovery query (clause 5.10.2), oldest first, expired
        ones left out: the page and, if ``count``, the total."""

    async def create_subscription(self, tenant: str, doc: Document) -> None:
        """Raises AlreadyExists when the id is taken in the tenant."""

    async def get_subscription(self, tenant: str, subscription_id: str) -> Document | None:
        """The registration subscription, or None."""

    async def update_subscription(
        self, tenant: str, subscription_id: str, change: Callable[[Document, str], Document]
    ) -> Document:
        """Read, ``change(doc, now)``, write, in one transaction (clause 5.11.3).

        Raises:
            ResourceNotFound: no such subscription.
        """

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Delete; False if missing."""

    async def query_subscriptions(
        self, tenant: str, *, limit: int, offset: int, count: bool = False
    ) -> tuple[list[Document], int | None]:
        """The tenant's registration subscriptions, oldest first (clause 5.11.5)."""

    async def update_subscription_status(
        self, tenant: str, subscription_id: str, change: Callable[[Document], Document]
    ) -> None:
        """Replace the subscription's ``notification`` by ``change(notification)`` (status
        members); ``modifiedAt`` stays. Nothing if it is gone."""

    async def run_periodic(self, now: float) -> float | None:
        """Run every due round of the ``timeInterval`` subscriptions; when the next round is
        due (None: no such subscription)."""


__all__ = ["CsourceHooks", "RegistrationStore"]
