"""The layout builder: a fixed-seed generator for places, and the one way assets (with their
Device) are added."""

from __future__ import annotations

import random
from typing import Any

from cityhub.demo import sites
from cityhub.demo.geography import District, Geography
from cityhub.demo.model import Asset, Attribute, entity_id, point, prop, rel
from cityhub.demo.readings import DeviceParams

LAYOUT_SEED = 1973  # Seongnam-si was founded in 1973


class Builder:
    def __init__(self, geography: Geography) -> None:
        self.geo = geography
        self.rng = random.Random(LAYOUT_SEED)
        self.assets: list[Asset] = []

    def where(self, dong_ko: str, landmark: str | None = None) -> tuple[District, dict[str, Any]]:
        """A dong and a point in it: the landmark when it lies in the dong, else a random one."""
        dong = self.geo.dong(dong_ko)
        near = None
        if landmark is not None:
            lm = sites.LANDMARKS[landmark]
            near = (lm.lon, lm.lat)
        p = self.geo.place(near, dong, self.rng)
        return dong, point(p.x, p.y)

    def add(
        self,
        kind: str,
        entity_type: str,
        local_id: str,
        dong: District,
        location: dict[str, Any],
        names: tuple[str, str],
        attrs: dict[str, Attribute] | None = None,
        params: Any = None,
        device: tuple[list[str], bool] | None = None,
    ) -> Asset:
        """Add an asset.

        Args:
            kind: a key of ``cityhub.demo.readings.KINDS``, or ``static``.
            entity_type: its NGSI-LD type.
            local_id: the last part of its id (unique within its gu and type).
            dong: the dong it stands in.
            location: its GeoJSON geometry.
            names: its Korean and English names.
            attrs: static attributes.
            params: what its pattern needs.
            device: (controlledProperty, battery powered) to give it a Device entity.
        """
        ko, en = names
        the_id = entity_id(entity_type, dong.gu_code, local_id)
        device_id = None
        if device is not None:
            device_id = entity_id("Device", dong.gu_code, local_id)
            controlled, battery = device
            meter = "electricityConsumption" in controlled
            role_ko, role_en, category = (
                ("전력량계", "electricity meter", "meter")
                if meter
                else ("제어기", "controller", "actuator")
                if "light" in controlled
                else ("센서", "sensor", "sensor")
            )
            self.assets.append(
                Asset(
                    kind="device",
                    entity_type="Device",
                    id=device_id,
                    name_ko=f"{ko} {role_ko}",
                    name_en=f"{en} {role_en}",
                    location=location,
                    dong=dong,
                    attrs={
                        "controlledProperty": prop(controlled),
                        "category": prop([category]),
                        "deviceState": prop("ok"),
                        "controlledAsset": rel(the_id),
                    },
                    params=DeviceParams(device_id, battery),
                )
            )
        asset = Asset(
            kind=kind,
            entity_type=entity_type,
            id=the_id,
            name_ko=ko,
            name_en=en,
            location=location,
            dong=dong,
            attrs=attrs or {},
            params=params,
            device=device_id,
        )
        self.assets.append(asset)
        return asset
