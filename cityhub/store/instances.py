"""Attribute instances as the temporal history keeps them (clause 5.7.3-5.7.4), the rules both
backends share: the number a value aggregates as, the stored ``observedAt``, the
members kept in columns rather than in the instance, instances by datasetId."""

from __future__ import annotations

from collections.abc import Sequence

from cityhub.ngsild.entity import Instance
from cityhub.ngsild.temporal import observed_time as observed_time  # re-exported

#: one history record of an instance: tenant, entity id, attribute, datasetId ("" for none),
#: instanceId ("": both backends make it from the row's ``seq``, ``compact.ID_PREFIX``),
#: observedAt, created, modified and deleted times (normalized text), the instance as JSON
#: text, the number it aggregates as (``cityhub.store.history.instance_row``)
InstanceRow = tuple[str, str, str, str, str, str | None, str, str, str | None, str, float | None]


def value_number(inst: Instance) -> float | None:
    """The number a Property instance's value stands for in aggregation (clause 4.5.19.1:
    booleans count as 1 and 0), else None."""
    if inst.get("type", "Property") != "Property" or "deletedAt" in inst:
        return None
    value = inst.get("value")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def strip_system(inst: Instance) -> Instance:
    """The instance without the members the history keeps in columns."""
    return {k: v for k, v in inst.items() if k not in ("createdAt", "modifiedAt", "instanceId")}


def by_dataset(instances: Sequence[Instance]) -> dict[str | None, Instance]:
    return {i.get("datasetId"): i for i in instances}
