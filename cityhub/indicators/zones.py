"""A city's own grouping of districts for the gap (issue 16 deliverable 4): which zone each
district is in, when the ``cityhubZone`` of the area entities (DOMAIN.md section 3.3) is not the
grouping a city wants (its own old downtown, a redevelopment plan, a ward map). Pure.

A mapping is an ``IndicatorZoneMapping`` entity of the tenant, written through the NGSI-LD API
like the ``AlertRule`` entities (so it is data of the tenant: listed, patched, deleted, with
its history; no second storage): its ``zones`` Property is an object from zone names to the
ids of the ``AdministrativeArea`` entities in them::

    {"id": "urn:ngsi-ld:IndicatorZoneMapping:default", "type": "IndicatorZoneMapping",
     "zones": {"type": "Property", "value": {
        "old-downtown": ["urn:ngsi-ld:AdministrativeArea:seongnam:4113153000", ...],
        "new-town": ["urn:ngsi-ld:AdministrativeArea:seongnam:4113565000", ...]}}}

``GET /indicators/gap?zones=<id>`` compares by it; the mapping ``...:default``, when the tenant
has one, is used without the parameter. A district the mapping does not list is left out of
the comparison. :func:`validate_zone_mapping_change`, a transaction hook, refuses a mapping
that is not one before it is stored (a 400 ProblemDetails, or a per-entity error in a batch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cityhub.errors import BadRequestData
from cityhub.indicators.names import iri, local_name, plain_value
from cityhub.store.base import Change, Transaction

MAPPING_TYPE = iri("IndicatorZoneMapping")
MAPPING_PREFIX = "urn:ngsi-ld:IndicatorZoneMapping:"
DEFAULT_MAPPING = MAPPING_PREFIX + "default"
#: a zone's name (the gap's ``reference`` takes the same)
ZONE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_ZONES = 64
MAX_AREAS = 10_000
#: what a mapping entity may carry besides ``zones``
_IGNORED = frozenset({"name", "description"})


def is_mapping(entity: Mapping[str, Any] | None) -> bool:
    return entity is not None and any(
        local_name(t) == "IndicatorZoneMapping" for t in entity.get("type", ())
    )


def zones_of(entity: Mapping[str, Any]) -> dict[str, str]:
    """The mapping an ``IndicatorZoneMapping`` entity states: area id -> zone.

    Raises:
        BadRequestData: what is wrong with it, and what it should be.
    """
    eid = entity.get("id")
    found: Any = None
    for key, instances in entity.get("attrs", {}).items():
        name = local_name(key)
        if name == "zones":
            kind = instances[0].get("type") if len(instances) == 1 else None
            if kind not in ("Property", "JsonProperty") or "datasetId" in instances[0]:
                raise BadRequestData(f"{eid}: zones must be one Property (no datasetId)")
            found = plain_value(instances[0])
        elif name not in _IGNORED:
            raise BadRequestData(
                f"{eid}: an IndicatorZoneMapping has zones (and a name, a description), not {name}"
            )
    example = '{"old-downtown": ["urn:ngsi-ld:AdministrativeArea:..."], "new-town": [...]}'
    if not isinstance(found, dict) or not found:
        raise BadRequestData(
            f"{eid}: zones must be an object from zone names to lists of AdministrativeArea "
            f"ids, e.g. {example}"
        )
    if len(found) > MAX_ZONES:
        raise BadRequestData(f"{eid}: at most {MAX_ZONES} zones, got {len(found)}")
    out: dict[str, str] = {}
    for zone, areas in found.items():
        if not ZONE_NAME.fullmatch(zone):
            raise BadRequestData(
                f"{eid}: zone name {zone[:80]!r} must be 1-64 letters, digits or _ . : -"
            )
        if not isinstance(areas, list) or not areas:
            raise BadRequestData(
                f"{eid}: zone {zone} must list the ids of its AdministrativeArea entities"
            )
        for area in areas:
            if not isinstance(area, str) or not 3 <= len(area) <= 256 or ":" not in area:
                raise BadRequestData(
                    f"{eid}: zone {zone} lists {str(area)[:80]!r}, not an entity id (a URI)"
                )
            if area in out and out[area] != zone:
                raise BadRequestData(
                    f"{eid}: {area} is in zones {out[area]} and {zone}: a district is in one"
                )
            out[area] = zone
            if len(out) > MAX_AREAS:
                raise BadRequestData(f"{eid}: at most {MAX_AREAS} districts")
    return out


def validate_zone_mapping_change(tx: Transaction, change: Change) -> None:
    """The transaction hook that refuses an invalid ``IndicatorZoneMapping`` before it is
    stored."""
    if change.after is not None and is_mapping(change.after):
        zones_of(change.after)


__all__ = [
    "DEFAULT_MAPPING",
    "MAPPING_PREFIX",
    "MAPPING_TYPE",
    "ZONE_NAME",
    "is_mapping",
    "validate_zone_mapping_change",
    "zones_of",
]
