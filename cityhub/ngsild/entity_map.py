"""EntityMaps as data (ETSI GS CIM 009 v1.9.1 clauses 5.2.39, 5.5.14 and 5.14; first in
v1.8.1): which source holds which entity of a paged distributed query, kept so that the
query's later pages consider the same entities.

An EntityMap is ``{"id", "type": "EntityMap", "expiresAt", "entityMap": {entity id:
[registration id, or "@none" for this broker]}, "linkedMaps": {registration id: that
source's EntityMap id}}``. The broker creates it (``GET /entityMaps``, or ``entityMap=true``
on a query), a later request names it (``NGSILD-EntityMap`` header) and then only considers
the entities listed, dropping the ones that no longer match (clause 5.5.14). Clients may only
change ``expiresAt``; the broker bounds it (Table 6.4.3.2-1: "possibly overriding the
requested duration").

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from cityhub.errors import BadRequestData, InvalidRequest
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import parse_duration

TYPE: Final = "EntityMap"
#: the entityMap value naming this broker (clause 5.2.39)
LOCAL: Final = "@none"
#: how long a map lives unless the request suggests otherwise, and the most it may live
DEFAULT_LIFETIME: Final = timedelta(hours=1)
MAX_LIFETIME: Final = timedelta(days=1)
#: the members a client may not set (clause 5.14.2.4: output-only members are ignored)
_OUTPUT_ONLY: Final = frozenset({"id", "type", "entityMap", "linkedMaps", "@context"})
PATH: Final = "/ngsi-ld/v1/entityMaps/"


def lifetime(text: str | None) -> timedelta:
    """``entityMapLifetime`` (Table 6.4.3.2-1, an ISO 8601 duration) bounded to
    :data:`MAX_LIFETIME`; :data:`DEFAULT_LIFETIME` without one.

    Raises:
        BadRequestData: not an ISO 8601 duration, or zero.
    """
    if text is None:
        return DEFAULT_LIFETIME
    try:
        duration = parse_duration(text)
    except BadRequestData:
        raise BadRequestData(
            f"entityMapLifetime must be an ISO 8601 duration such as PT1H, got {text[:64]!r}"
        ) from None
    if duration.is_zero:
        raise BadRequestData("entityMapLifetime must be longer than zero")
    if duration.months:
        return MAX_LIFETIME
    return min(duration.exact, MAX_LIFETIME)


def new_map(
    map_id: str,
    now: datetime,
    life: timedelta,
    sources: Mapping[str, Sequence[str]],
    linked: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A new EntityMap: each entity id with the sources holding it, in the query's order."""
    return {
        "id": map_id,
        "type": TYPE,
        "expiresAt": format_datetime(now + life),
        "entityMap": {eid: list(regs) for eid, regs in sources.items()},
        "linkedMaps": dict(linked or {}),
    }


def expired(doc: Mapping[str, Any], now: datetime) -> bool:
    """Whether ``doc`` has expired (an expired map cannot be accessed, clause 5.5.14)."""
    return parse_datetime(doc["expiresAt"], "expiresAt") <= now


def update(doc: dict[str, Any], fragment: Any, now: datetime) -> dict[str, Any]:
    """Clause 5.14.2.4: ``doc`` with the fragment's ``expiresAt`` (bounded to
    :data:`MAX_LIFETIME` from ``now``); output-only members are ignored.

    Raises:
        BadRequestData: the fragment is not an object or its expiresAt not a DateTime.
    """
    if not isinstance(fragment, dict):
        raise InvalidRequest("the body must be a JSON object (an EntityMap fragment)")
    unknown = sorted(set(fragment) - _OUTPUT_ONLY - {"expiresAt"})
    if unknown:
        raise BadRequestData(
            f"an EntityMap fragment may only change expiresAt (clause 5.14.2), not {unknown[0]!r}"
        )
    if "expiresAt" not in fragment:
        return doc
    asked = parse_datetime(fragment["expiresAt"], "expiresAt", zone_required=True)
    return {**doc, "expiresAt": format_datetime(min(asked, now + MAX_LIFETIME))}


def candidates(doc: Mapping[str, Any], ids: Iterable[str] = ()) -> list[str]:
    """The entity ids ``doc`` lists, in its order, narrowed to ``ids`` when given."""
    wanted = set(ids)
    return [eid for eid in doc["entityMap"] if not wanted or eid in wanted]


def prune(doc: dict[str, Any], gone: Iterable[str]) -> dict[str, Any]:
    """``doc`` without the entities ``gone`` (they no longer match its query, 5.5.14)."""
    drop = set(gone)
    return {**doc, "entityMap": {k: v for k, v in doc["entityMap"].items() if k not in drop}}


def location(map_id: str) -> str:
    """The resource URI of map ``map_id`` (the ``NGSILD-EntityMap`` header, 6.34.3.1)."""
    return PATH + map_id


def id_of_location(value: str) -> str:
    """The map id an ``NGSILD-EntityMap`` header names (its resource URI, absolute or not,
    or the bare id)."""
    value = value.strip()
    at = value.find(PATH)
    return value[at + len(PATH) :] if at >= 0 else value


def view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What is served of a map (clause 5.2.39): nothing of its owner or its query."""
    return {k: doc[k] for k in ("id", "type", "expiresAt", "entityMap", "linkedMaps")}
