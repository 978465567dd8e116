"""Endpoint (ETSI GS CIM 009 v1.8.1 clause 5.2.15): where and how notifications are sent, the
``endpoint`` of a subscription's NotificationParams (clause 5.2.14), for entity and registration
subscriptions alike.

Members: ``uri`` (mandatory), ``accept`` (the MIME type of the payload), ``timeout`` (how long,
in milliseconds, before a notification is taken as failed; the system may override it),
``cooldown`` (after a failure, the milliseconds to wait before notifying the endpoint again),
``receiverInfo`` and ``notifierInfo`` (arrays of KeyValuePair, clause 5.2.22).

Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Any, Final
from urllib.parse import urlsplit

from cityhub.errors import BadRequestData
from cityhub.ngsild.key_value_pair import check_key_values
from cityhub.ngsild.names import check_uri

ACCEPTS: Final = frozenset({"application/json", "application/ld+json", "application/geo+json"})
#: the bindings the hub can notify through (HTTP, clause 7; MQTT, annex)
ENDPOINT_SCHEMES: Final = ("http://", "https://", "mqtt://", "mqtts://")
MEMBERS: Final = frozenset({"uri", "accept", "timeout", "cooldown", "receiverInfo", "notifierInfo"})


def _milliseconds(value: Any, what: str) -> int | float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or value <= 0
    ):
        raise BadRequestData(
            f"{what} must be a number greater than 0 (milliseconds), got {value!r}"
        )
    return value


def _reachable(uri: str, what: str) -> str:
    """``uri`` when it names a host (and a valid port): ``http://``, ``http://:80/x`` or
    ``http://h:99999`` would be stored and then fail every notification."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError as exc:
        raise BadRequestData(f"{what} {uri!r} is not a valid URL: {exc}") from None
    if not parts.hostname:
        raise BadRequestData(f"{what} {uri!r} names no host to send notifications to")
    return uri


def check_endpoint(
    value: Any, what: str = "notification.endpoint", *, partial: bool = False
) -> dict[str, Any]:
    """An Endpoint as a client sends it.

    Args:
        value: the member as sent.
        what: its name for error details.
        partial: a merge-patch (RFC 7396): ``uri`` may be missing and a null removes a member
            (kept as ``None``); ``uri`` itself cannot be removed.

    Returns:
        The endpoint, its KeyValuePair arrays copied.

    Raises:
        BadRequestData: a member is unknown, null (outside a merge-patch) or malformed, or
            ``uri`` is missing or not an http(s):// or mqtt(s):// URI.
    """
    if not isinstance(value, dict):
        raise BadRequestData(f"{what} must be an object with at least uri")
    unknown = set(value) - MEMBERS
    if unknown:
        raise BadRequestData(
            f"{what} has unknown members {', '.join(sorted(unknown))}; an Endpoint has "
            + ", ".join(sorted(MEMBERS))
            + " (clause 5.2.15)"
        )
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if raw is None:
            if not partial or key == "uri":
                raise BadRequestData(f"{what}.{key} cannot be null")
            out[key] = None
        elif key == "uri":
            uri = check_uri(raw, f"{what}.uri")
            if not uri.lower().startswith(ENDPOINT_SCHEMES):
                raise BadRequestData(
                    f"{what}.uri must be an http(s):// or mqtt(s):// URI, got {uri!r}"
                )
            out[key] = _reachable(uri, f"{what}.uri")
        elif key == "accept":
            if not isinstance(raw, str) or raw not in ACCEPTS:
                raise BadRequestData(
                    f"{what}.accept must be one of {', '.join(sorted(ACCEPTS))}, got {raw!r}"
                )
            out[key] = raw
        elif key in ("timeout", "cooldown"):
            out[key] = _milliseconds(raw, f"{what}.{key}")
        else:
            out[key] = check_key_values(raw, f"{what}.{key}")
    if not partial and "uri" not in out:
        raise BadRequestData(f"{what}.uri is mandatory (clause 5.2.15)")
    return out
