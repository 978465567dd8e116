"""The demo city's building blocks: assets (one per entity) and the NGSI-LD attribute shapes
they are written with (normalized representation, core @context terms)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityhub.demo.clock import iso
from cityhub.demo.geography import District

#: what every synthetic entity says about where its values come from (DOMAIN.md section 6)
SYNTHETIC = "cityhub-simulator"
CITY = "seongnam"

Attribute = dict[str, Any]
Entity = dict[str, Any]


def entity_id(entity_type: str, gu_code: str, local_id: str) -> str:
    """``urn:ngsi-ld:<Type>:seongnam:<gu-code>:<local-id>`` (DOMAIN.md 6.4)."""
    return f"urn:ngsi-ld:{entity_type}:{CITY}:{gu_code}:{local_id}"


def area_id(district: District) -> str:
    """Districts are named by their 10-digit MOIS code."""
    return f"urn:ngsi-ld:AdministrativeArea:{CITY}:{district.code}"


def slug(english: str) -> str:
    """``Sinheung 2-dong`` -> ``sinheung2``: a local id from an English name."""
    text = re.sub(r"-(dong|gu|si)$", "", english.lower())
    return re.sub(r"[^a-z0-9]+", "", text)


def prop(value: Any, unit: str | None = None, at: datetime | None = None) -> Attribute:
    """A Property, with ``unitCode`` (UN/CEFACT) and ``observedAt`` when given."""
    attr: Attribute = {"type": "Property", "value": value}
    if unit is not None:
        attr["unitCode"] = unit
    if at is not None:
        attr["observedAt"] = iso(at)
    return attr


def date_time(t: datetime) -> Attribute:
    """A Property whose value is an NGSI-LD DateTime."""
    return {"type": "Property", "value": {"@type": "DateTime", "@value": iso(t)}}


def names(ko: str, en: str) -> Attribute:
    """A LanguageProperty with the Korean and English name."""
    return {"type": "LanguageProperty", "languageMap": {"ko": ko, "en": en}}


def rel(target: str) -> Attribute:
    return {"type": "Relationship", "object": target}


def geo(geometry: dict[str, Any]) -> Attribute:
    return {"type": "GeoProperty", "value": geometry}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


@dataclass
class Asset:
    """One entity of the demo city.

    Attributes:
        kind: what drives its readings (a key of ``cityhub.demo.readings.KINDS``); ``static``
            for entities that never change (districts, road segments, shelters without sensors).
        entity_type: the NGSI-LD (Smart Data Models) type.
        id: the entity id.
        name_ko: Korean name.
        name_en: English name.
        location: a GeoJSON geometry inside ``dong`` (the whole polygon for districts).
        dong: the dong it stands in (None for the city and gu).
        attrs: its static attributes, beyond name, location, dataProvider and references.
        params: what its pattern needs (a Road, Container, Lamp...); None when static.
        device: the id of the Device entity that measures it, if any.
    """

    kind: str
    entity_type: str
    id: str
    name_ko: str
    name_en: str
    location: dict[str, Any]
    dong: District | None
    attrs: dict[str, Attribute] = field(default_factory=dict)
    params: Any = None
    device: str | None = None
    data_provider: str = SYNTHETIC

    def static_entity(self) -> Entity:
        """The entity without readings, in the normalized representation."""
        entity: Entity = {
            "id": self.id,
            "type": self.entity_type,
            "name": names(self.name_ko, self.name_en),
            "location": geo(self.location),
            "dataProvider": prop(self.data_provider),
        }
        if self.dong is not None:
            entity["refAdministrativeArea"] = rel(area_id(self.dong))
        if self.device is not None:
            entity["refDevice"] = rel(self.device)
        entity.update(self.attrs)
        return entity
