"""NotificationParams (ETSI GS CIM 009 v1.8.1 clause 5.2.14): what a subscription's
notifications carry and where they go, for entity subscriptions (clause 5.8) and registration
subscriptions (clause 5.11) alike.

A registration subscription's notifications carry registrations, not entities
(CsourceNotification, clause 5.3.2), so the members that shape entities (``pick``, ``omit``,
``join``, ``joinLevel``) do not apply to it and are refused there rather than ignored.

Pure: no I/O. Attribute names (``attributes``, ``pick``, ``omit``) are expanded to IRIs on the
way in and compacted on the way out; the status members the hub maintains are ignored on input
and survive an update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild.context import TermMap
from cityhub.ngsild.endpoint import check_endpoint
from cityhub.ngsild.entity import expand_names
from cityhub.ngsild.projection import parse_projection

FORMATS: Final = frozenset({"normalized", "concise", "keyValues", "simplified"})
#: Members the hub maintains (clause 5.2.14); clients cannot set them.
NOTIFICATION_STATUS: Final = (
    "timesSent",
    "timesFailed",
    "lastNotification",
    "lastSuccess",
    "lastFailure",
    "status",
)
#: The members a client may set on an entity subscription's notification.
MEMBERS: Final = frozenset(
    {"attributes", "sysAttrs", "format", "showChanges", "endpoint", "pick", "omit", "join"}
    | {"joinLevel"}
)
#: ... and on a registration subscription's (clause 5.11.2).
CSOURCE_MEMBERS: Final = frozenset({"attributes", "sysAttrs", "format", "showChanges", "endpoint"})
#: ``pick``/``omit`` names that are entity members, not attributes (clause 4.21)
_ENTITY_MEMBERS = ("id", "type", "scope")


def _projection(value: Any, terms: TermMap, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise BadRequestData(f"{what} must be a non-empty array, got {value!r}")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise BadRequestData(f"{what} must hold strings, got {item!r}")
        for name in parse_projection(item, what):
            out.append(name if name in _ENTITY_MEMBERS else terms.expand(name))
    return list(dict.fromkeys(out))


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequestData(f"{what} must be true or false, got {value!r}")
    return value


def _member(key: str, raw: Any, terms: TermMap, partial: bool) -> Any:
    what = f"notification.{key}"
    if key == "attributes":
        return expand_names(raw, terms, what)
    if key in ("sysAttrs", "showChanges"):
        return _bool(raw, what)
    if key == "format":
        if not isinstance(raw, str) or raw not in FORMATS:
            raise BadRequestData(
                f"{what} must be normalized, concise, keyValues or simplified, got {raw!r}"
            )
        return raw
    if key == "endpoint":
        return check_endpoint(raw, partial=partial)
    if key in ("pick", "omit"):
        return _projection(raw, terms, what)
    if key == "join":
        if not isinstance(raw, str) or raw not in ("inline", "flat", "@none"):
            raise BadRequestData(f"{what} must be inline, flat or @none: {raw!r}")
        return raw
    # joinLevel
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise BadRequestData(f"{what} must be an integer >= 1: {raw!r}")
    return raw


def check_notification_params(
    value: Any, terms: TermMap, *, partial: bool = False, csource: bool = False
) -> dict[str, Any]:
    """NotificationParams as a subscriber sends them, names expanded with ``terms``.

    Args:
        value: the ``notification`` member as sent.
        terms: the request's term map.
        partial: a merge-patch (RFC 7396): nulls are kept (they remove members) and the
            endpoint may be missing or partial; otherwise a null is the same as leaving the
            member out.
        csource: the notification of a registration subscription (clause 5.11.2).

    Raises:
        BadRequestData: a member is unknown, malformed, or ``endpoint`` is missing.
    """
    if not isinstance(value, dict):
        raise BadRequestData("notification must be an object with at least an endpoint")
    allowed = CSOURCE_MEMBERS if csource else MEMBERS
    unknown = set(value) - allowed - set(NOTIFICATION_STATUS)
    if unknown:
        kind = "a registration subscription's notification" if csource else "notification"
        raise BadRequestData(
            f"{kind} has unknown members {', '.join(sorted(unknown))}; it takes "
            + ", ".join(sorted(allowed))
            + " (clause 5.2.14)"
        )
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if key in NOTIFICATION_STATUS:
            continue  # read-only, maintained by the hub
        if raw is None:
            if partial:
                out[key] = None
            continue
        out[key] = _member(key, raw, terms, partial)
    if not partial and "endpoint" not in out:
        raise BadRequestData("notification.endpoint is mandatory (clause 5.2.14)")
    return out


def check_notification_restrictions(notification: dict[str, Any]) -> None:
    """Restrictions between members (clauses 5.2.14, 4.21): ``attributes`` goes with neither
    ``pick`` nor ``omit``, and no name is both picked and omitted.

    Raises:
        BadRequestData: a restriction is not met.
    """
    pick, omit = notification.get("pick"), notification.get("omit")
    if notification.get("attributes") and (pick or omit):
        raise BadRequestData(
            "notification.attributes cannot be combined with pick or omit; use pick alone"
        )
    if pick and omit and set(pick) & set(omit):
        both = sorted(set(pick) & set(omit))
        raise BadRequestData(f"notification.pick and omit both name {', '.join(both)}")


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_notification(
    current: dict[str, Any], new: dict[str, Any], *, deep: bool = False
) -> dict[str, Any]:
    """The notification after an update: ``new`` replaces ``current`` (clauses 5.8.2, 5.11.3),
    or with ``deep`` (merge-patch) is merged into it member by member; either way the status
    members the hub keeps outlive it.

    Raises:
        BadRequestData: the result has no ``endpoint.uri``.
    """
    merged = _deep_merge(current, new) if deep else dict(new)
    for key in NOTIFICATION_STATUS:
        if key in current:
            merged[key] = current[key]
    if "uri" not in (merged.get("endpoint") or {}):
        raise BadRequestData("notification.endpoint.uri is mandatory (clause 5.2.15)")
    return merged


def compact_notification(value: dict[str, Any], compact: Callable[[str], str]) -> dict[str, Any]:
    """A stored notification as a client reads it: attribute names compacted."""
    out = dict(value)
    if "attributes" in out:
        out["attributes"] = [compact(a) for a in out["attributes"]]
    for key in ("pick", "omit"):
        if key in out:
            out[key] = [n if n in _ENTITY_MEMBERS else compact(n) for n in out[key]]
    return out
