"""The districts indicators are computed for, read from a tenant's ``AdministrativeArea``
entities (their own geometry, so any city's boundaries work). Pure: shapely, no I/O.

What an area entity may carry, by attribute name (any @context: names are matched by their
local part, as the alert engine matches them):

- ``location`` (GeoProperty, a Polygon or MultiPolygon): required; an area without one is left
  out (counted in :attr:`AreaMap.skipped`).
- ``administrativeLevel`` (``dong``, ``gu``, ``city``...): shown on the KPI entities.
- ``refParentArea`` (Relationship): the area it belongs to. Without it, the smallest larger
  area containing it is taken.
- ``population`` (number of residents); without it ``electors`` stands in (the demo's
  placeholder, DOMAIN.md section 5), and the KPI entities say which (``populationSource``).
- ``populationAged65Plus``: older residents (shelter capacity per older resident).
- ``populationUnder15``: children; with the older residents, the sensitive groups whose PM2.5
  exposure is counted apart (DOMAIN.md section 6.2 item 1).
- ``cityhubZone`` (or ``zone``): the group of the gap comparison (DOMAIN.md section 3.3).
- ``area`` (km²); without it the area is computed from the geometry.

Sensors are placed in the *leaf* areas (those no other area belongs to, the dong of a city of
gu and dong) by their location; a parent area's indicators are its leaves' together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid

from cityhub.indicators.names import attribute, local_name, number_of, plain_value

#: metres per degree of latitude (for areas in km² when the entity gives none)
_M_PER_DEG = 111_320.0


@dataclass
class Area:
    """One district."""

    id: str
    level: str
    name: dict[str, str]
    geometry: BaseGeometry
    population: float | None
    population_source: str
    older_population: float | None
    zone: str | None
    area_km2: float
    young_population: float | None = None
    parent_ref: str | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @cached_property
    def centre(self) -> tuple[float, float]:
        p = self.geometry.representative_point()
        return (p.x, p.y)


def _geometry(entity: Mapping[str, Any]) -> BaseGeometry | None:
    for iri, instances in entity.get("attrs", {}).items():
        if local_name(iri) != "location":
            continue
        for inst in instances:
            value = inst.get("value")
            if inst.get("type") != "GeoProperty" or not isinstance(value, dict):
                continue
            if value.get("type") not in ("Polygon", "MultiPolygon"):
                continue
            try:
                geom = shape(value)
            except (ValueError, TypeError, AttributeError, KeyError):
                return None
            if not geom.is_valid:
                geom = make_valid(geom)
            return None if geom.is_empty else geom
    return None


def _km2(geom: BaseGeometry) -> float:
    lat = geom.centroid.y
    scale = _M_PER_DEG * _M_PER_DEG * math.cos(math.radians(lat)) / 1e6
    return float(geom.area * scale)


def area_of(entity: Mapping[str, Any]) -> Area | None:
    """An area entity as an :class:`Area` (None: it has no polygon)."""
    geom = _geometry(entity)
    if geom is None:
        return None
    population = number_of(plain_value(attribute(entity, "population")))
    source = "population"
    if population is None:
        population = number_of(plain_value(attribute(entity, "electors")))
        source = "electors" if population is not None else "none"
    if population is not None and population <= 0:
        population, source = None, "none"
    older = number_of(plain_value(attribute(entity, "populationAged65Plus")))
    if older is not None and older <= 0:
        older = None
    young = number_of(plain_value(attribute(entity, "populationUnder15")))
    if young is not None and young < 0:
        young = None
    zone = plain_value(attribute(entity, "cityhubZone")) or plain_value(attribute(entity, "zone"))
    level = plain_value(attribute(entity, "administrativeLevel"))
    area = number_of(plain_value(attribute(entity, "area")))
    names = attribute(entity, "name") or {}
    name: dict[str, str] = {}
    if isinstance(names.get("languageMap"), dict):
        name = {k: str(v) for k, v in names["languageMap"].items() if isinstance(v, str)}
    elif isinstance(names.get("value"), str):
        name = {"": names["value"]}
    parent = attribute(entity, "refParentArea")
    return Area(
        id=str(entity["id"]),
        level=level if isinstance(level, str) else "",
        name=name,
        geometry=geom,
        population=population,
        population_source=source,
        older_population=older,
        zone=zone if isinstance(zone, str) and zone else None,
        area_km2=area if area is not None and area > 0 else _km2(geom),
        young_population=young,
        parent_ref=parent.get("object")
        if parent and isinstance(parent.get("object"), str)
        else None,
    )


class AreaMap:
    """A tenant's areas as a hierarchy, and where a point lies in it."""

    def __init__(self, areas: Iterable[Area], skipped: int = 0) -> None:
        self.areas = {a.id: a for a in areas}
        self.skipped = skipped
        for a in self.areas.values():
            a.parent, a.children = None, []
        ordered = sorted(self.areas.values(), key=lambda a: a.area_km2)
        for a in ordered:
            ref = a.parent_ref
            if ref is not None and ref in self.areas and ref != a.id:
                a.parent = ref
                continue
            # the smallest larger area that holds this one's representative point
            point = Point(a.centre)
            for bigger in ordered:
                if bigger.area_km2 > a.area_km2 and bigger.geometry.contains(point):
                    a.parent = bigger.id
                    break
        for a in self.areas.values():  # no cycles: a parent chain that comes back is cut
            seen = {a.id}
            p = a.parent
            while p is not None:
                if p in seen:
                    a.parent = None
                    break
                seen.add(p)
                p = self.areas[p].parent
        for a in ordered:
            if a.parent is not None:
                self.areas[a.parent].children.append(a.id)
        self.leaves = [a for a in ordered if a.is_leaf]
        self._tree = STRtree([a.geometry for a in self.leaves])

    def leaf_at(self, lon: float, lat: float) -> Area | None:
        """The leaf area a point lies in (the first found on a shared border), None outside."""
        point = Point(lon, lat)
        for index in self._tree.query(point, predicate="intersects"):
            return self.leaves[int(index)]
        return None

    def ancestors(self, area_id: str) -> list[str]:
        out = []
        p = self.areas[area_id].parent
        while p is not None:
            out.append(p)
            p = self.areas[p].parent
        return out

    def bottom_up(self) -> list[Area]:
        """Every area, children before their parents."""
        depth = {a: len(self.ancestors(a)) for a in self.areas}
        return sorted(self.areas.values(), key=lambda a: -depth[a.id])


def area_map(entities: Iterable[Mapping[str, Any]]) -> AreaMap:
    areas, skipped = [], 0
    for entity in entities:
        area = area_of(entity)
        if area is None:
            skipped += 1
        else:
            areas.append(area)
    return AreaMap(areas, skipped)


__all__ = ["Area", "AreaMap", "area_map", "area_of"]
