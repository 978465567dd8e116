"""Attribute instances as the temporal history keeps them (clause 5.7.3-5.7.4), the rules both
backends share: instance ids, the number a value aggregates as, the stored ``observedAt``, the
members kept in columns rather than in the instance, instances by datasetId."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

from cityhub.ngsild.entity import Instance
from cityhub.ngsild.temporal import observed_time as observed_time  # re-exported

#: one history record of an instance: tenant, entity id, attribute, datasetId ("" for none),
#: instanceId, observedAt, created, modified and deleted times (normalized text), the instance
#: as JSON text, the number it aggregates as (``cityhub.store.history.instance_row``)
InstanceRow = tuple[str, str, str, str, str, str | None, str, str, str | None, str, float | None]

_random = random.Random()  # instance ids need uniqueness, not secrecy
_id_lock = threading.Lock()


def new_instance_id() -> str:
    """A URN holding a UUID of the version 7 layout: milliseconds since the epoch, then 74
    random bits (RFC 9562), so ids sort by creation time."""
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        bits = _random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((bits >> 62) << 64) | (0b10 << 62) | (bits & (2**62 - 1))
    h = f"{value:032x}"
    return f"urn:ngsi-ld:Instance:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
