"""From entities (the store's internal form) to what a rule observes.

Rules name types and attributes by local name, so an entity written with Smart Data Models'
@context, the core one or a city's own is watched alike: an entity is a rule's source when one
of its type IRIs ends in the rule's ``entityType``, and an attribute is found by the local
name of its IRI (the instance without ``datasetId`` first). Pure functions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from cityhub.alerts.episode import Observation
from cityhub.alerts.rules import Rule
from cityhub.errors import BadRequestData
from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.plain import LocalNames, local_name, plain_value

Entity = Mapping[str, Any]
#: IRI -> local name, remembered: an evaluation asks it of every attribute of the entity once
#: per rule of its type
_LOCAL = LocalNames()


def has_type(entity: Entity, type_name: str) -> bool:
    local = _LOCAL
    return any(local[t] == type_name for t in entity.get("type", ()))


def instance(entity: Entity, name: str) -> dict[str, Any] | None:
    """The attribute ``name``'s instance (the default one, else the first)."""
    local = _LOCAL
    for iri, instances in entity.get("attrs", {}).items():
        if local[iri] == name and instances:
            default = next((i for i in instances if "datasetId" not in i), None)
            found = default if default is not None else instances[0]
            return found if isinstance(found, dict) else None
    return None


def epoch(text: Any) -> float | None:
    """An NGSI-LD date-time as seconds since the epoch; None when it is not one."""
    if not isinstance(text, str):
        return None
    return _epoch(text)


@functools.lru_cache(maxsize=4096)
def _epoch(text: str) -> float | None:
    # an evaluation asks it of the same few times once per rule of the entity's type
    try:
        return parse_datetime(text, "time").timestamp()
    except BadRequestData:
        return None


def instance_time(inst: Mapping[str, Any] | None, entity: Entity) -> float | None:
    """When an instance was observed: ``observedAt``, else when it was written."""
    if inst is not None:
        for member in ("observedAt", "modifiedAt", "createdAt"):
            at = epoch(inst.get(member))
            if at is not None:
                return at
    return epoch(entity.get("modifiedAt"))


def observe(rule: Rule, before: Entity | None, after: Entity) -> Observation | None:
    """What the change ``before`` -> ``after`` of one entity tells ``rule``: its current
    reading, with the one before when the change brought it; None when the entity is not the
    rule's type or has no such reading."""
    if not has_type(after, rule.entity_type):
        return None
    if rule.kind == "deviceOffline":
        at = report_time(rule, after)
        if at is None or (before is not None and report_time(rule, before) == at):
            return None
        return Observation(source=after["id"], at=at)
    assert rule.attribute is not None
    now = instance(after, rule.attribute)
    if now is None:
        return None
    old = instance(before, rule.attribute) if before is not None else None
    if old == now:
        # the attribute did not change, but its reading may not have been evaluated yet (the
        # work of the write that brought it coalesced with this one): observe it again, with
        # no predecessor; a reading already applied is late for the state machine
        old = None
    at = instance_time(now, after)
    if at is None:
        return None
    previous_at = instance_time(old, before) if old is not None and before is not None else None
    return Observation(
        source=after["id"],
        at=at,
        value=plain_value(now),
        threshold=_other(after, rule.threshold_attribute),
        ratio_value=_other(after, rule.ratio_attribute),
        previous_value=plain_value(old),
        previous_at=previous_at,
    )


def _other(entity: Entity, name: str | None) -> Any:
    return plain_value(instance(entity, name)) if name is not None else None


def report_time(rule: Rule, entity: Entity) -> float | None:
    """When the entity last reported: the rule's ``reportAttribute`` (its DateTime value, else
    its ``observedAt``), else the latest ``observedAt`` of any attribute, else
    ``modifiedAt``."""
    if rule.report_attribute is not None:
        inst = instance(entity, rule.report_attribute)
        if inst is not None:
            at = epoch(plain_value(inst))
            return at if at is not None else instance_time(inst, entity)
    latest = max(_observed_times(entity.get("attrs", {}).values()), default=None)
    return latest if latest is not None else epoch(entity.get("modifiedAt"))


def _observed_times(attrs: Iterable[Any]) -> Iterable[float]:
    for instances in attrs:
        for inst in instances if isinstance(instances, list) else ():
            at = epoch(inst.get("observedAt")) if isinstance(inst, dict) else None
            if at is not None:
                yield at


def display_name(entity: Entity | None) -> dict[str, str]:
    """The entity's ``name`` per language ({"ko": ..., "en": ...}), or {} without one."""
    if entity is None:
        return {}
    value = plain_value(instance(entity, "name"))
    if isinstance(value, str):
        return {"en": value, "ko": value}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
    return {}


__all__ = [
    "display_name",
    "epoch",
    "has_type",
    "instance",
    "instance_time",
    "local_name",
    "observe",
    "plain_value",
    "report_time",
]
