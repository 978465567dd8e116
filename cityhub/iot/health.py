"""Each device as a Smart Data Models ``Device`` entity (``urn:ngsi-ld:Device:<device_id>``):
``deviceState``, ``dateLastValueReported`` and ``controlledAsset`` (the entity its measures
update).

The Device entity is written with a measure, in the measure's own transaction, at most once
per ``refresh_seconds`` per device (the first measure always): so ``dateLastValueReported`` is
at most that much behind, and a device sending every second does not double the hub's writes.
Payloads refused are counted in the store (``IotStore.count_errors``), not here.
"""

from __future__ import annotations

import time

from cityhub.ngsild.entity import Entity, Terms, expand_entity
from cityhub.store.base import Document


def device_entity_id(device_id: str) -> str:
    return f"urn:ngsi-ld:Device:{device_id}"


class DeviceHealth:
    """Decides when a device's ``Device`` entity is due, and builds its fragment."""

    def __init__(self, refresh_seconds: float = 60.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._written: dict[tuple[str, str, str], float] = {}

    def _key(self, tenant: str, device: Document) -> tuple[str, str, str]:
        return (tenant, device["device_id"], device.get("apikey") or "")

    def fragments(
        self, tenant: str, device: Document, asset_id: str, received: str, terms: Terms
    ) -> list[Entity]:
        """The Device entity's fragment when it is due, else nothing."""
        last = self._written.get(self._key(tenant, device))
        if last is not None and time.monotonic() - last < self.refresh_seconds:
            return []
        fragment: Document = {
            "id": device_entity_id(device["device_id"]),
            "type": "Device",
            "deviceState": {"type": "Property", "value": "ok"},
            "dateLastValueReported": {
                "type": "Property",
                "value": {"@type": "DateTime", "@value": received},
            },
        }
        if asset_id != fragment["id"]:
            fragment["controlledAsset"] = {"type": "Relationship", "object": asset_id}
        return [expand_entity(fragment, terms)]

    def reported(self, tenant: str, device: Document) -> None:
        """A measure of the device was committed (with its Device entity when it was due)."""
        key = self._key(tenant, device)
        if key not in self._written or (
            time.monotonic() - self._written[key] >= self.refresh_seconds
        ):
            if len(self._written) > 100_000:
                self._written.clear()
            self._written[key] = time.monotonic()


__all__ = ["DeviceHealth", "device_entity_id"]
