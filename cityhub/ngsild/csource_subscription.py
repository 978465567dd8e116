"""Registration subscriptions as data (ETSI GS CIM 009 v1.8.1 clause 5.2.12, the registration
flavour of ``Subscription``; operations 5.11.2-5.11.6).

Pure: validation, term expansion, PATCH merging, status and rendering. Stored documents keep the
entity types of ``entities`` (EntityInfo, clause 5.2.8), ``watchedAttributes`` and
``notification.attributes`` as IRIs; every other member is kept as the client sent it.
Which registrations a subscription is notified of is :mod:`cityhub.ngsild.csource_notification`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import check_future
from cityhub.ngsild.entity_info import check_entity_infos, compact_entity_infos
from cityhub.ngsild.names import check_uri
from cityhub.ngsild.notification_params import (
    check_notification_params,
    compact_notification,
    merge_notification,
)
from cityhub.ngsild.registration_query import registration_temporal_query
from cityhub.ngsild.subscription import (
    READ_ONLY,
    check_geo_q,
    check_member,
    check_subscription,
    new_subscription_id,
    subscription_status,
)
from cityhub.ngsild.temporal import check_temporal_q

SUBSCRIPTION_TYPE: Final = "Subscription"
_SUBSCRIPTION_MEMBERS = frozenset(
    """id type subscriptionName description entities watchedAttributes timeInterval q geoQ csf
    isActive notification expiresAt throttling temporalQ scopeQ lang jsonldContext""".split()
)


def _subscription_member(key: str, value: Any, terms: TermMap, now: datetime) -> Any:
    """One member, checked as an entity subscription's is (ngsild/subscription.py) except
    where the flavours differ: ``entities`` are EntityInfo (clause 5.2.8, no type queries),
    ``notification`` carries registrations, ``geoQ`` is kept as sent (its names are expanded
    with ``_terms`` when matched) and ``temporalQ`` must apply to registrations."""
    if key == "entities":
        return check_entity_infos(value, terms, "entities")
    if key == "notification":
        return check_notification_params(value, terms, csource=True)
    if key == "geoQ":
        check_geo_q(value)
        return value
    if key == "temporalQ":
        registration_temporal_query(check_temporal_q(value))
        return dict(value)
    if key == "expiresAt":
        return check_future(value, "expiresAt", now)
    return check_member(key, value, terms)


def _expand_subscription_members(
    body: dict[str, Any], terms: TermMap, now: datetime, *, fragment: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("@context", "id") or key in READ_ONLY:
            continue
        if key == "type":
            if value != SUBSCRIPTION_TYPE:
                raise BadRequestData(f"type must be {SUBSCRIPTION_TYPE!r}, got {value!r}")
            continue
        if key not in _SUBSCRIPTION_MEMBERS:
            raise BadRequestData(f"{key!r} is not a member of a Subscription (clause 5.2.12)")
        if value is None and fragment and key != "notification":
            out[key] = None
        else:
            out[key] = _subscription_member(key, value, terms, now)
    return out


def expand_csource_subscription(body: Any, terms: TermMap, now: datetime) -> dict[str, Any]:
    """A registration subscription body (clauses 5.2.12, 5.11.2) → stored form.

    The request's @context is kept (``_context``) for whoever evaluates ``q`` later.

    Raises:
        BadRequestData: the body is not a valid Subscription.
    """
    if not isinstance(body, dict):
        raise BadRequestData("a Subscription must be a JSON object")
    if "type" not in body:
        raise BadRequestData(f"a Subscription needs type {SUBSCRIPTION_TYPE!r}")
    sub_id = check_uri(body["id"], "id") if "id" in body else new_subscription_id()
    doc: dict[str, Any] = {"id": sub_id, "type": SUBSCRIPTION_TYPE}
    doc.update(_expand_subscription_members(body, terms, now, fragment=False))
    check_subscription(doc)
    doc["_context"] = terms.context_value
    return doc


def expand_csource_subscription_fragment(
    body: Any, terms: TermMap, subscription_id: str, now: datetime
) -> dict[str, Any]:
    """A PATCH body (clause 5.11.3): members to set, ``None`` for members to remove."""
    if not isinstance(body, dict):
        raise BadRequestData("the update of a subscription must be a JSON object")
    if "id" in body and body["id"] != subscription_id:
        raise BadRequestData(f"the body's id {body['id']!r} differs from the URL's")
    if "type" in body and body["type"] is None:
        raise BadRequestData("type is mandatory and cannot be removed")
    fragment = _expand_subscription_members(body, terms, now, fragment=True)
    if not fragment:
        raise BadRequestData("the update names no member of the subscription to change")
    return fragment


def merge_csource_subscription(
    doc: dict[str, Any], fragment: dict[str, Any], modified_at: str
) -> dict[str, Any]:
    merged = dict(doc)
    for key, value in fragment.items():
        if value is None:
            merged.pop(key, None)
        elif key == "notification":
            merged[key] = merge_notification(doc.get(key) or {}, value)
        elif key == "_terms":
            merged[key] = {**(doc.get(key) or {}), **value}
        else:
            merged[key] = value
    check_subscription(merged)
    merged["modifiedAt"] = modified_at
    return merged


def compact_csource_subscription(
    doc: dict[str, Any], terms: TermMap, now: datetime, *, sys_attrs: bool = False
) -> dict[str, Any]:
    """The stored form → a client's view, with the computed ``status``."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "entities":
            out[key] = compact_entity_infos(value, terms)
        elif key == "watchedAttributes":
            out[key] = [terms.compact(v) for v in value]
        elif key == "notification":
            out[key] = compact_notification(value, terms.compact)
        elif key.startswith("_") or (key in ("createdAt", "modifiedAt") and not sys_attrs):
            continue
        else:
            out[key] = value
    out["status"] = subscription_status(doc, now)
    return out
