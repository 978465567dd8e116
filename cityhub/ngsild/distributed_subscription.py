"""Distributed subscriptions (ETSI GS CIM 009 v1.9.1 clauses 5.8.1.4, 5.8.5.4 and 5.8.6):
what a local Subscription becomes at a context source, and which registrations take it.

Creating a Subscription that is not ``localOnly`` forwards "a reduced copy" of it to the source
of every matching registration that takes ``createSubscription`` (``federationOps`` holds it),
with this broker as the notification endpoint; the source notifies this broker, which relays
the Notification under the local subscription's id. With ``splitEntities`` the copy carries no
filter (q, geoQ, scopeQ): the notified fragments are merged with this broker's part of each
entity and filtered here (``cityhub.ngsild.split``).

Pure: the forwarding is ``cityhub.federation.subscriptions``'.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from cityhub.ngsild.registration_query import RegistrationQuery

Document = dict[str, Any]

#: where context sources send the notifications of the copies (this broker's extension path)
NOTIFY_PATH: Final = "/ngsi-ld/ex/remote-notify"
#: the operation a registration must take for a subscription to be forwarded (table 4.20-1)
OPERATION: Final = "createSubscription"
#: members of a local subscription its copy keeps as they are
_KEPT: Final = (
    "entities",
    "watchedAttributes",
    "notificationTrigger",
    "expiresAt",
    "throttling",
    "lang",
    "datasetId",
)
_FILTERS: Final = ("q", "geoQ", "scopeQ")
_TYPE_EXPRESSION: Final = frozenset(",;|()")


def new_remote_id() -> str:
    """A copy's id: random, so that only the source it was sent to can name it."""
    return f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"


def is_forwarded(doc: Document, local: bool = False) -> bool:
    """Whether a stored subscription is forwarded: not ``localOnly`` (clause 5.2.12), not
    made with ``local=true``, not periodic (``timeInterval``: a source notifies changes)."""
    return not (local or doc.get("localOnly") or doc.get("timeInterval"))


def registration_queries(doc: Document) -> list[RegistrationQuery]:
    """What discovery asks to find the registrations a subscription concerns: one query per
    entity selector (ids, a plain type, idPattern), each with the watched attributes; one
    with the watched attributes alone when it selects no entities."""
    attrs = tuple(doc.get("watchedAttributes") or ())
    queries = []
    for selector in doc.get("entities") or ():
        kind = selector.get("type")
        plain = isinstance(kind, str) and not (_TYPE_EXPRESSION & set(kind))
        queries.append(
            RegistrationQuery(
                ids=(selector["id"],) if selector.get("id") else (),
                types=(kind,) if plain else (),
                id_pattern=selector.get("idPattern"),
                attrs=attrs,
            )
        )
    return queries or [RegistrationQuery(attrs=attrs)]


def remote_copy(doc: Document, remote_id: str, notify_uri: str, split: bool) -> Document:
    """The reduced copy of local subscription ``doc`` (stored form: entity types and
    attribute names are IRIs, q and scopeQ text in its own @context, which the copy carries):
    its selection (entities, watched attributes, triggers, expiry, throttling), its filters
    unless ``split``, normalized JSON notifications to ``notify_uri``, and none of the
    subscriber's endpoint or receiver information."""
    copy: Document = {"id": remote_id, "type": "Subscription"}
    for key in _KEPT:
        if doc.get(key) is not None:
            copy[key] = doc[key]
    notification: Document = {
        "format": "normalized",
        "endpoint": {"uri": notify_uri, "accept": "application/json"},
    }
    attributes = (doc.get("notification") or {}).get("attributes")
    if split:
        copy["splitEntities"] = True
    else:
        for key in _FILTERS:
            if doc.get(key) is not None:
                copy[key] = doc[key]
        if attributes:
            notification["attributes"] = attributes
    copy["notification"] = notification
    return copy


__all__ = [
    "NOTIFY_PATH",
    "OPERATION",
    "is_forwarded",
    "new_remote_id",
    "registration_queries",
    "remote_copy",
]
