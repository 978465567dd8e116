"""Subscription management (ETSI GS CIM 009 v1.8.1, clauses 5.8.1-5.8.5): ids, the
subscription's @context, and the read-modify-write of updates. Validation and rendering are the
pure ``cityhub.ngsild.subscription``; storage is any
:class:`~cityhub.store.subscriptions.SubscriptionStore`.

Notification delivery is not here: it reads the stored documents (``@context``,
``jsonldContext``, the expanded names) and maintains the ``notification`` status members.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cityhub.contexts import ContextService
from cityhub.errors import ResourceNotFound
from cityhub.ngsild.context import CORE_CONTEXT_URL
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.subscription import Subscription, merge_subscription, new_subscription_id
from cityhub.store.subscriptions import SubscriptionStore

Document = dict[str, Any]


def now() -> datetime:
    return datetime.now(UTC)


def _is_url(context_value: Any) -> bool:
    return (
        context_value is None
        or isinstance(context_value, str)
        or (
            isinstance(context_value, list)
            and len(context_value) == 1
            and isinstance(context_value[0], str)
        )
    )


async def context_url(contexts: ContextService, context_value: Any) -> str:
    """A dereferenceable URL for the @context a subscription was made with (clause 5.2.12
    ``jsonldContext``): the URL itself, or for an inline or compound @context the URL of an
    ImplicitlyCreated entry the hub serves (clause 5.13.2)."""
    if context_value is None:
        return CORE_CONTEXT_URL
    if _is_url(context_value):
        return str(context_value if isinstance(context_value, str) else context_value[0])
    entry = await contexts.implicit_entry(context_value)
    return entry.url


async def create_subscription(
    store: SubscriptionStore,
    contexts: ContextService,
    tenant: str,
    sub: Subscription,
    context_value: Any,
    owner: Document | None = None,
) -> str:
    """Store a validated subscription (from ``expand_subscription``); returns its id.
    ``owner``: who made it (access control): its notifications carry only what the owner
    may read when they are delivered.

    Raises:
        AlreadyExists: the id is taken in this tenant.
        BadRequestData / LdContextNotAvailable: ``jsonldContext`` cannot be used.
    """
    doc = dict(sub)
    doc.setdefault("id", new_subscription_id())
    if "jsonldContext" in doc:
        await contexts.term_map(doc["jsonldContext"])  # 503 when it cannot be retrieved
    elif not _is_url(context_value):
        # an inline or compound @context gets a URL the notifier (and the client) can use
        doc["jsonldContext"] = await context_url(contexts, context_value)
    doc["@context"] = context_value
    if owner is not None:
        doc["_owner"] = owner
    doc["createdAt"] = doc["modifiedAt"] = now_iso()
    await store.create(tenant, doc)
    return str(doc["id"])


async def update_subscription(
    store: SubscriptionStore,
    contexts: ContextService,
    tenant: str,
    sub_id: str,
    fragment: dict[str, Any],
    context_value: Any,
    *,
    deep: bool = False,
) -> Document:
    """Apply an update fragment (from ``expand_fragment``) to a stored subscription.

    A fragment that sets ``q`` also makes its request's @context the one ``q`` is read with.

    Raises:
        ResourceNotFound: no such subscription.
        BadRequestData: the result is not a valid subscription.
    """
    if fragment.get("jsonldContext") is not None:
        await contexts.term_map(fragment["jsonldContext"])
    stamp = now_iso()

    def change(current: Document) -> Document:
        merged = merge_subscription(current, fragment, deep=deep)
        if fragment.get("q") is not None:
            merged["@context"] = context_value
        merged["modifiedAt"] = stamp
        return merged

    updated = await store.update(tenant, sub_id, change)
    if updated is None:
        raise ResourceNotFound(f"there is no subscription with id {sub_id}")
    return updated


__all__ = [
    "context_url",
    "create_subscription",
    "now",
    "update_subscription",
]
