"""Measures sent as NGSI entities (iotagent-json docs/usermanual.md "NGSI-v2 and NGSI-LD
Measure reporting"): a device or group whose ``payloadType`` is ``ngsiv2`` or ``ngsild`` sends
entities instead of plain measures, and each entity's attributes are its measures.

- An entity, an array of entities (each a group of measures, as a multimeasure), or an
  NGSI-v2 batch update (``{"actionType": ..., "entities": [...]}``).
- ``id`` and ``type`` are measures too (the entity written is the device's: they become
  ``measure_id`` and ``measure_type``, ``cityhub.iot.measures``).
- An attribute's value is its ``value`` (an NGSI-LD Relationship's ``object``); its ``type``
  types an attribute the provisioning does not (``Relationship``, ``GeoProperty`` and the
  NGSI-v2 types); its other members (NGSI-v2 ``metadata``, NGSI-LD sub-properties such as
  ``unitCode``) are its metadata. A member given as a plain value (key-values) is the value.
- ``@context`` and the members the broker sets (``createdAt``, ``modifiedAt``...) are not
  measures; an NGSI-LD attribute's ``observedAt`` (the first one) is the group's timestamp,
  as an NGSI-v2 entity's ``TimeInstant`` is (unless the device or group says ``timestamp``
  false).
"""

from __future__ import annotations

from typing import Any, Final

from cityhub.iot.errors import WrongSyntax
from cityhub.iot.json_measures import MAX_MEASURES
from cityhub.iot.ultralight import MAX_GROUPS, MeasureGroup

NGSIV2: Final = "ngsiv2"
NGSILD: Final = "ngsild"
#: members of an NGSI-LD attribute that are the broker's, not the device's metadata
_SYSTEM: Final = frozenset(
    {"observedAt", "createdAt", "modifiedAt", "deletedAt", "datasetId", "instanceId"}
)
_LD_TYPES: Final = {"property": "", "geoproperty": "geo:json", "relationship": "Relationship"}


def _ld_attribute(name: str, raw: dict[str, Any], group: MeasureGroup) -> None:
    kind = str(raw.get("type") or "")
    group.values[name] = raw.get("object") if kind.lower() == "relationship" else raw.get("value")
    if kind.lower() in _LD_TYPES:
        group.types[name] = _LD_TYPES[kind.lower()]
    if group.timestamp is None and isinstance(raw.get("observedAt"), str):
        group.timestamp = raw["observedAt"]  # the device's observation
    meta = {}
    for key, sub in raw.items():
        if key in ("type", "value", "object") or key in _SYSTEM:
            continue
        meta[key] = {"value": sub.get("value") if isinstance(sub, dict) and "value" in sub else sub}
    if meta:
        group.metadata[name] = meta


def _v2_attribute(name: str, raw: dict[str, Any], group: MeasureGroup) -> None:
    group.values[name] = raw.get("value")
    if isinstance(raw.get("type"), str):
        group.types[name] = raw["type"]
    metadata = raw.get("metadata")
    if isinstance(metadata, dict) and metadata:
        group.metadata[name] = {
            k: (m if isinstance(m, dict) and "value" in m else {"value": m})
            for k, m in metadata.items()
        }


def entity_group(entity: Any, kind: str) -> MeasureGroup:
    """The measures of one entity.

    Raises:
        WrongSyntax: not a JSON object, or more than ``MAX_MEASURES`` members.
    """
    if not isinstance(entity, dict) or not entity:
        raise WrongSyntax(
            f"an {kind} measure payload is an entity (a JSON object), got {str(entity)[:80]}"
        )
    if len(entity) > MAX_MEASURES:
        raise WrongSyntax(
            f"an entity of the payload has {len(entity)} members; at most {MAX_MEASURES}"
        )
    group = MeasureGroup()
    for name, raw in entity.items():
        if name == "@context":
            continue
        if name in ("id", "type") or not isinstance(raw, dict):
            group.values[name] = raw
        elif kind == NGSILD:
            _ld_attribute(name, raw, group)
        else:
            _v2_attribute(name, raw, group)
    return group


def entity_measures(groups: list[MeasureGroup], kind: str) -> list[MeasureGroup]:
    """The groups of measures of a message whose groups are entities (``kind`` ``ngsiv2``
    or ``ngsild``): one group per entity.

    Raises:
        WrongSyntax: an entity that is not an object, a batch whose ``entities`` is not an
            array, or more than ``MAX_GROUPS`` entities.
    """
    entities: list[Any] = []
    for group in groups:
        body = group.values
        if kind == NGSIV2 and "actionType" in body and "entities" in body:
            if not isinstance(body["entities"], list):
                raise WrongSyntax("an NGSI-v2 batch's entities must be an array")
            entities.extend(body["entities"])
        else:
            entities.append(body)
    if not entities or len(entities) > MAX_GROUPS:
        raise WrongSyntax(f"the payload has {len(entities)} entities; 1 to {MAX_GROUPS}")
    out = []
    for entity in entities:
        group = entity_group(entity, kind)
        if group.values:
            out.append(group)
    return out


__all__ = ["NGSILD", "NGSIV2", "entity_group", "entity_measures"]
