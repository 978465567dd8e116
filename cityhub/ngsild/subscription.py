"""Subscriptions as data (ETSI GS CIM 009 v1.8.1, clauses 5.2.12 Subscription, 5.2.14
NotificationParams, 5.2.15 Endpoint, 5.2.33 EntitySelector; operations 5.8.1-5.8.2).

Pure: no I/O. A client's body is validated and turned into the internal form, in which every
attribute name and entity type is a full IRI (clause 5.8.1: "term to URI expansion"):

- ``entities[*].type`` (a name or a type query, clause 4.17), ``watchedAttributes``,
  ``notification.attributes``, ``notification.pick``/``omit`` and ``geoQ.geoproperty`` are
  expanded with the request's @context;
- ``q``, ``scopeQ`` and ``csf`` are validated and kept as sent; ``q`` is read again with the
  subscription's remembered ``@context`` (internal member) by whoever evaluates it;
- read-only members (``status``, ``notification.timesSent`` ...) are ignored on input.

:func:`render_subscription` goes back: names compacted with the reader's @context and the
read-only ``status`` derived (clause 5.2.12: ``expired`` once ``expiresAt`` has passed, else
``paused`` when ``isActive`` is false, else ``active``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.datetime import check_datetime, check_future, parse_datetime
from cityhub.ngsild.entity import expand_names
from cityhub.ngsild.names import check_name, check_uri
from cityhub.ngsild.notification_params import (
    check_notification_params,
    check_notification_restrictions,
    compact_notification,
    merge_notification,
)
from cityhub.ngsild.query.geo import GeoQuery, parse_geo_query
from cityhub.ngsild.query.q import parse_q
from cityhub.ngsild.query.scope import parse_scope_q
from cityhub.ngsild.query.types import parse_type_query
from cityhub.ngsild.temporal import check_temporal_q

Subscription = dict[str, Any]

SUBSCRIPTION_TYPE: Final = "Subscription"
#: clause 5.2.12: the default when a subscription names no notificationTrigger
DEFAULT_TRIGGERS: Final = ("attributeCreated", "attributeUpdated")
TRIGGERS: Final = frozenset(
    {
        "entityCreated",
        "entityUpdated",
        "entityDeleted",
        "attributeCreated",
        "attributeUpdated",
        "attributeDeleted",
    }
)
#: Members a client may not remove with null in an update (clause 5.8.2).
MANDATORY: Final = frozenset({"type", "notification"})
#: Internal members, never rendered.
#: ``_owner``: who made it, when access control was on (cityhub.access.control.owner_of)
INTERNAL: Final = frozenset({"@context", "createdAt", "modifiedAt", "_owner"})

#: Members the hub sets (clause 5.2.12); ignored on input.
READ_ONLY: Final = frozenset({"status", "createdAt", "modifiedAt"})
_TYPE_NAME = re.compile(r"[^<>\"'=;()\\{}\[\]&?,|\s]+")
_LANG = re.compile(r"^[A-Za-z0-9\-*,;=. ]+$")

Checker = Callable[[Any, TermMap], Any]


def new_subscription_id() -> str:
    """A fresh id, ``urn:ngsi-ld:Subscription:<uuid4>`` (clauses 5.8.1 and 5.11.2: the broker
    assigns one when the client gives none); entity and registration subscriptions share it."""
    return f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"


# ---- members -----------------------------------------------------------------------------


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequestData(f"{what} must be a non-empty string, got {value!r}")
    return value


def _positive(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadRequestData(f"{what} must be a number greater than 0 (seconds), got {value!r}")
    return value


#: The shortest periodic notification interval accepted, in seconds. Clause 5.2.12 asks only
#: for a number greater than 0; without a floor, ``timeInterval: 1e-9`` made one request keep a
#: core busy sending to someone else's endpoint (issue 22).
MIN_TIME_INTERVAL = 1.0


def _time_interval(value: Any) -> int | float:
    seconds = _positive(value, "timeInterval")
    if seconds < MIN_TIME_INTERVAL:
        raise BadRequestData(
            f"timeInterval must be at least {MIN_TIME_INTERVAL:g} second, got {value!r}: "
            "cityhub sends periodic notifications at most once a second per subscription"
        )
    return seconds


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequestData(f"{what} must be true or false, got {value!r}")
    return value


def _array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{what} must be a non-empty array, got {value!r}")
    return value


def map_type_selection(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to every type name of a type selection (a name or a clause 4.17 query)."""
    if not any(c in text for c in ",;|()"):
        return fn(text)  # one name (an IRI may hold characters a query name may not)
    return _TYPE_NAME.sub(lambda m: fn(m.group(0)), text)


def _entity_selector(value: Any, terms: TermMap, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData(f"{where} must be an EntitySelector object (id, idPattern, type)")
    unknown = set(value) - {"id", "idPattern", "type"}
    if unknown:
        raise BadRequestData(
            f"{where} has unknown members {', '.join(sorted(unknown))}; an EntitySelector "
            "has id, idPattern and type (clause 5.2.33)"
        )
    if "type" not in value:
        raise BadRequestData(f"{where} needs a type (clause 5.2.33)")
    raw_type = _string(value["type"], f"{where}.type")
    if any(c in raw_type for c in ",;|()"):
        parse_type_query(raw_type)  # validates; names are expanded in place below
    else:
        check_name(raw_type, f"{where}.type")
    out: dict[str, Any] = {}
    if "id" in value:
        out["id"] = check_uri(value["id"], f"{where}.id")
    if "idPattern" in value:
        pattern = _string(value["idPattern"], f"{where}.idPattern")
        regex.compile_pattern(pattern, f"{where}.idPattern")
        out["idPattern"] = pattern
    out["type"] = map_type_selection(raw_type, terms.expand)
    return out


def _entities(value: Any, terms: TermMap) -> list[dict[str, Any]]:
    items = _array(value, "entities")
    return [_entity_selector(v, terms, f"entities[{i}]") for i, v in enumerate(items)]


def _triggers(value: Any, terms: TermMap) -> list[str]:
    items = _array(value, "notificationTrigger")
    unknown = [v for v in items if not isinstance(v, str) or v not in TRIGGERS]
    if unknown:
        raise BadRequestData(
            f"unknown notificationTrigger {unknown!r}; use any of " + ", ".join(sorted(TRIGGERS))
        )
    return list(dict.fromkeys(items))


def subscription_q(text: str) -> str:
    """A subscription's q (or csf) as the grammar reads it: percent-decoded like a URL's. The
    check on the way in and the matchers read the same text."""
    return unquote(text) if "%" in text else text


def _q(value: Any, terms: TermMap) -> str:
    parse_q(subscription_q(_string(value, "q")))
    return str(value)


def _scope_q(value: Any, terms: TermMap) -> str:
    parse_scope_q(_string(value, "scopeQ"))
    return str(value)


def _csf(value: Any, terms: TermMap) -> str:
    parse_q(subscription_q(_string(value, "csf")))  # clause 4.9: csf uses the q grammar
    return str(value)


def check_geo_q(value: Any) -> GeoQuery:
    """A ``geoQ`` member (clause 5.2.13 GeoQuery: georel, geometry, coordinates, optionally
    geoproperty), as entity and registration subscriptions take it; names not yet expanded.

    Raises:
        BadRequestData: not such an object, or not a valid geo-query (clause 4.10).
    """
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be an object with georel, geometry and coordinates")
    unknown = set(value) - {"georel", "geometry", "coordinates", "geoproperty"}
    if unknown:
        raise BadRequestData(f"geoQ has unknown members {', '.join(sorted(unknown))}")
    for key in ("georel", "geometry", "geoproperty"):
        if key in value and not isinstance(value[key], str):
            raise BadRequestData(f"geoQ.{key} must be a string, got {value[key]!r}")
    coordinates = value.get("coordinates")
    if coordinates is not None and not isinstance(coordinates, list | str):
        raise BadRequestData("geoQ.coordinates must be a JSON array of coordinates")
    geo = parse_geo_query(
        value.get("georel"), value.get("geometry"), coordinates, value.get("geoproperty")
    )
    if geo is None:
        raise BadRequestData("geoQ needs georel, geometry and coordinates (clause 4.10)")
    return geo


def _geo_q(value: Any, terms: TermMap) -> dict[str, Any]:
    geo = check_geo_q(value)
    out = {k: value[k] for k in ("georel", "geometry", "coordinates") if k in value}
    if value.get("geoproperty"):
        out["geoproperty"] = terms.expand(geo.geoproperty)
    return out


def _temporal_q(value: Any, terms: TermMap) -> dict[str, Any]:
    check_temporal_q(value)
    return dict(value)


def _lang(value: Any, terms: TermMap) -> str:
    if not isinstance(value, str) or not _LANG.match(value):
        raise BadRequestData(f"lang must be a language tag such as en or ko, got {value!r}")
    return value


def _dataset_ids(value: Any, terms: TermMap) -> list[str]:
    return [v if v == "@none" else check_uri(v, "datasetId") for v in _array(value, "datasetId")]


def _expires_at(value: Any, terms: TermMap) -> str:
    return check_datetime(value, "expiresAt")


_MEMBERS: dict[str, Checker] = {
    "subscriptionName": lambda v, t: _string(v, "subscriptionName"),
    "description": lambda v, t: _string(v, "description"),
    "entities": _entities,
    "watchedAttributes": lambda v, t: expand_names(v, t, "watchedAttributes"),
    "notificationTrigger": _triggers,
    "timeInterval": lambda v, t: _time_interval(v),
    "q": _q,
    "geoQ": _geo_q,
    "scopeQ": _scope_q,
    "csf": _csf,
    "temporalQ": _temporal_q,
    "isActive": lambda v, t: _bool(v, "isActive"),
    "expiresAt": _expires_at,
    "throttling": lambda v, t: _positive(v, "throttling"),
    "lang": _lang,
    "datasetId": _dataset_ids,
    "localOnly": lambda v, t: _bool(v, "localOnly"),
    # v1.9.1 5.8.1.4 / 5.8.6: the entities may be split across context sources
    "splitEntities": lambda v, t: _bool(v, "splitEntities"),
    "jsonldContext": lambda v, t: check_uri(v, "jsonldContext"),
}


def check_member(key: str, value: Any, terms: TermMap) -> Any:
    """One member of a Subscription (clause 5.2.12) other than ``type`` and ``notification``,
    checked and, where it holds names, expanded with ``terms``: the checks entity and
    registration subscriptions share (``expiresAt`` is also checked against the time, with
    :func:`cityhub.ngsild.datetime.check_future`).

    Raises:
        KeyError: ``key`` is not such a member.
        BadRequestData: the value is not valid for it.
    """
    return _MEMBERS[key](value, terms)


# ---- whole subscriptions -----------------------------------------------------------------


def _members(
    body: dict[str, Any], terms: TermMap, *, partial: bool, now: datetime
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in body.items():
        if key in ("id", "@context") or key in READ_ONLY:
            continue
        if key == "type":
            if raw != SUBSCRIPTION_TYPE:
                raise BadRequestData(f'type must be "Subscription", got {raw!r}')
            out[key] = raw
        elif key == "notification":
            if raw is None:
                if partial:
                    raise BadRequestData("notification is mandatory; it cannot be removed")
                continue
            out[key] = check_notification_params(raw, terms)
        elif key not in _MEMBERS:
            raise BadRequestData(
                f"{key!r} is not a member of a Subscription (clause 5.2.12); known members: "
                + ", ".join(sorted({"id", "type", "notification", *_MEMBERS}))
            )
        elif raw is None:
            if partial:
                out[key] = None  # removes the member
        else:
            out[key] = _MEMBERS[key](raw, terms)
    if out.get("expiresAt") is not None:
        check_future(out["expiresAt"], "expiresAt", now)
    return out


def check_subscription(sub: Subscription) -> None:
    """Restrictions between members of a whole subscription (clause 5.2.12).

    Raises:
        BadRequestData: a restriction is not met.
    """
    if sub.get("type") != SUBSCRIPTION_TYPE:
        raise BadRequestData('a subscription needs "type": "Subscription"')
    if "notification" not in sub:
        raise BadRequestData("a subscription needs a notification member (clause 5.2.12)")
    if not sub.get("entities") and not sub.get("watchedAttributes"):
        raise BadRequestData(
            "a subscription needs entities or watchedAttributes (or both) (clause 5.2.12)"
        )
    if "timeInterval" in sub and "watchedAttributes" in sub:
        raise BadRequestData(
            "timeInterval (periodic notification) and watchedAttributes cannot be used together"
        )
    if "timeInterval" in sub and "throttling" in sub:
        raise BadRequestData("timeInterval and throttling cannot be used together")
    check_notification_restrictions(sub["notification"])


def expand_subscription(body: Any, terms: TermMap, *, now: datetime) -> Subscription:
    """A Create Subscription body (clause 5.8.1) in the internal form, without ``id`` when the
    client gave none (the caller generates it).

    Raises:
        BadRequestData: a member is missing, malformed or not allowed with another one.
    """
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object (a Subscription, clause 5.2.12)")
    if "type" not in body:
        raise BadRequestData('a subscription needs "type": "Subscription"')
    sub: Subscription = {}
    if "id" in body:
        sub["id"] = check_uri(body["id"], "the subscription id")
    sub.update(_members(body, terms, partial=False, now=now))
    sub.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    check_subscription(sub)
    return sub


def expand_fragment(body: Any, terms: TermMap, *, now: datetime) -> dict[str, Any]:
    """An Update Subscription fragment (clause 5.8.2): the members it sets, expanded; ``None``
    for members it removes. ``notification`` is a complete NotificationParams.

    Raises:
        BadRequestData: a member is malformed, or the fragment removes a mandatory member.
    """
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object (a Subscription fragment)")
    fragment = _members(body, terms, partial=True, now=now)
    if not fragment and not body:
        raise BadRequestData("the fragment is empty; give the members to change")
    return fragment


def expand_merge_patch(body: Any, terms: TermMap, *, now: datetime) -> dict[str, Any]:
    """Like :func:`expand_fragment` for ``application/merge-patch+json`` (RFC 7396):
    ``notification`` (and its ``endpoint``) may be partial, with nulls removing members."""
    if isinstance(body, dict) and isinstance(body.get("notification"), dict):
        rest = {k: v for k, v in body.items() if k != "notification"}
        fragment = expand_fragment(rest, terms, now=now) if rest else {}
        fragment["notification"] = check_notification_params(
            body["notification"], terms, partial=True
        )
        return fragment
    return expand_fragment(body, terms, now=now)


def merge_subscription(
    current: Subscription, fragment: dict[str, Any], *, deep: bool = False
) -> Subscription:
    """Apply an update fragment (clause 5.8.2): each member replaces the one of the same name,
    ``None`` removes it; with ``deep`` (merge-patch) ``notification`` is merged member by member.
    The hub's notification status members survive either way.

    Raises:
        BadRequestData: the result breaks a restriction of clause 5.2.12.
    """
    merged = dict(current)
    for key, value in fragment.items():
        if value is None:
            if key in MANDATORY:
                raise BadRequestData(f"{key} is mandatory; it cannot be removed")
            merged.pop(key, None)
        elif key == "notification":
            merged[key] = merge_notification(current.get("notification", {}), value, deep=deep)
        else:
            merged[key] = value
    check_subscription(merged)
    return merged


# ---- status and rendering ----------------------------------------------------------------


def subscription_status(sub: Subscription, now: datetime) -> str:
    """``expired`` once expiresAt has passed, else ``paused`` if not isActive, else ``active``."""
    expires = sub.get("expiresAt")
    if expires is not None and parse_datetime(expires, "expiresAt") <= now:
        return "expired"
    if sub.get("isActive") is False:
        return "paused"
    return "active"


def render_subscription(sub: Subscription, terms: TermMap, now: datetime) -> dict[str, Any]:
    """The subscription as a client sees it, names compacted with ``terms`` (clause 5.8.3)."""
    compact = terms.compact
    out: dict[str, Any] = {"id": sub.get("id"), "type": sub.get("type", SUBSCRIPTION_TYPE)}
    for key, value in sub.items():
        if key in INTERNAL:
            continue
        if key == "entities":
            out[key] = [
                {**e, "type": map_type_selection(e["type"], compact)} if "type" in e else dict(e)
                for e in value
            ]
        elif key == "watchedAttributes":
            out[key] = [compact(a) for a in value]
        elif key == "geoQ" and "geoproperty" in value:
            out[key] = {**value, "geoproperty": compact(value["geoproperty"])}
        elif key == "notification":
            out[key] = compact_notification(value, compact)
        else:
            out[key] = value
    out["status"] = subscription_status(sub, now)
    return out


__all__ = [
    "DEFAULT_TRIGGERS",
    "TRIGGERS",
    "Subscription",
    "check_geo_q",
    "check_member",
    "check_subscription",
    "expand_fragment",
    "expand_merge_patch",
    "expand_subscription",
    "map_type_selection",
    "merge_subscription",
    "new_subscription_id",
    "render_subscription",
    "subscription_q",
    "subscription_status",
]
