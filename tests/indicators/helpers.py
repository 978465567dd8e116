"""A small city for indicator tests: two gu, each of two square dong (0.01 degree, about 1 km
on a side) with known populations and zones, and sensors at known places."""

from __future__ import annotations

from typing import Any

CITY = "urn:ngsi-ld:AdministrativeArea:test:city"
GU = {
    "west": "urn:ngsi-ld:AdministrativeArea:test:west",
    "east": "urn:ngsi-ld:AdministrativeArea:test:east",
}
#: dong: (gu, x0, population, zone)
DONG = {
    "a": ("west", 0, 1000, "old-downtown"),
    "b": ("west", 1, 3000, "old-downtown"),
    "c": ("east", 2, 2000, "new-town-1990s"),
    "d": ("east", 3, 4000, "new-town-1990s"),
}
LON0, LAT0, SIDE = 127.0, 37.0, 0.01


def dong_id(name: str) -> str:
    return f"urn:ngsi-ld:AdministrativeArea:test:{name}"


def square(x0: float, x1: float) -> dict[str, Any]:
    lon0, lon1 = LON0 + x0 * SIDE, LON0 + x1 * SIDE
    ring = [[lon0, LAT0], [lon1, LAT0], [lon1, LAT0 + SIDE], [lon0, LAT0 + SIDE], [lon0, LAT0]]
    return {"type": "Polygon", "coordinates": [ring]}


def centre(name: str) -> tuple[float, float]:
    x0 = DONG[name][1]
    return (LON0 + (x0 + 0.5) * SIDE, LAT0 + 0.5 * SIDE)


def prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


def area_entities(with_parents: bool = True, older: bool = False) -> list[dict[str, Any]]:
    """The city, its two gu and four dong, normalized NGSI-LD (core @context)."""
    out: list[dict[str, Any]] = [
        {
            "id": CITY,
            "type": "AdministrativeArea",
            "name": {"type": "LanguageProperty", "languageMap": {"en": "Test city", "ko": "시"}},
            "administrativeLevel": prop("city"),
            "location": {"type": "GeoProperty", "value": square(0, 4)},
        }
    ]
    for gu, x in (("west", 0), ("east", 2)):
        entity = {
            "id": GU[gu],
            "type": "AdministrativeArea",
            "name": {"type": "LanguageProperty", "languageMap": {"en": f"{gu}-gu"}},
            "administrativeLevel": prop("gu"),
            "location": {"type": "GeoProperty", "value": square(x, x + 2)},
        }
        if with_parents:
            entity["refParentArea"] = {"type": "Relationship", "object": CITY}
        out.append(entity)
    for name, (gu, x0, population, zone) in DONG.items():
        entity = {
            "id": dong_id(name),
            "type": "AdministrativeArea",
            "name": {"type": "LanguageProperty", "languageMap": {"en": f"{name}-dong"}},
            "administrativeLevel": prop("dong"),
            "population": prop(population),
            "cityhubZone": prop(zone),
            "location": {"type": "GeoProperty", "value": square(x0, x0 + 1)},
        }
        if older:
            entity["populationAged65Plus"] = prop(population // 10)
        if with_parents:
            entity["refParentArea"] = {"type": "Relationship", "object": GU[gu]}
        out.append(entity)
    return out


def point(name: str, dx: float = 0.0) -> dict[str, Any]:
    lon, lat = centre(name)
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon + dx, lat]}}
