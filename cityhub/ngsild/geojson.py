"""GeoJSON geometries (RFC 7946), as NGSI-LD GeoProperty values (clause 4.7).

An area must also be a valid one in the OGC Simple Features sense (as GEOS checks it): a
Polygon's rings do not cross themselves or each other, holes lie inside the shell, and the
polygons of a MultiPolygon do not overlap. RFC 7946 clause 3.1.6 makes a linear ring "the
boundary of a surface" with an inside to the left of its course, which a self-crossing ring
does not have: such a polygon has no agreed area, so what lies ``within`` it depends on the
software asked (GEOS' ``make_valid`` makes a bow-tie two triangles, other libraries an empty
or a filled shape). It is refused with the place where it goes wrong, as Orion-LD and
MongoDB do, rather than stored and answered in a way the client did not mean.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity

from cityhub.errors import BadRequestData

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def _position(p: Any, what: str) -> tuple[float, float]:
    if (
        not isinstance(p, list)
        or len(p) not in (2, 3)
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
    ):
        raise BadRequestData(f"{what}: a position must be [longitude, latitude], got {p!r}")
    lon, lat = float(p[0]), float(p[1])
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise BadRequestData(
            f"{what}: position {p!r} is out of range (longitude -180..180, "
            "latitude -90..90; GeoJSON puts longitude first)"
        )
    return lon, lat


def _line(coords: Any, what: str, minimum: int) -> None:
    if not isinstance(coords, list) or len(coords) < minimum:
        raise BadRequestData(f"{what}: needs at least {minimum} positions")
    for p in coords:
        _position(p, what)


def _polygon(coords: Any, what: str) -> None:
    if not isinstance(coords, list) or not coords:
        raise BadRequestData(f"{what}: a Polygon needs at least one linear ring")
    for ring in coords:
        _line(ring, what, 4)
        if ring[0] != ring[-1]:
            raise BadRequestData(
                f"{what}: a Polygon ring must be closed (first position equals the last)"
            )


def check_geometry(value: Any, what: str, *, area: bool = True) -> None:
    """Raise BadRequestData unless ``value`` is a GeoJSON geometry NGSI-LD accepts; with
    ``area=False`` only its shape is checked (see :func:`check_area`)."""
    if not isinstance(value, dict):
        raise BadRequestData(f"{what}: a GeoProperty value must be a GeoJSON geometry object")
    kind = value.get("type")
    coords = value.get("coordinates")
    if kind not in GEOMETRY_TYPES:
        raise BadRequestData(
            f"{what}: geometry type {kind!r} is not one of " + ", ".join(GEOMETRY_TYPES)
        )
    if coords is None:
        raise BadRequestData(f"{what}: the geometry has no coordinates")
    if kind == "Point":
        _position(coords, what)
    elif kind == "MultiPoint":
        _line(coords, what, 1)
    elif kind == "LineString":
        _line(coords, what, 2)
    elif kind == "MultiLineString":
        if not isinstance(coords, list) or not coords:
            raise BadRequestData(f"{what}: a MultiLineString needs at least one line")
        for line in coords:
            _line(line, what, 2)
    elif kind == "Polygon":
        _polygon(coords, what)
    else:
        if not isinstance(coords, list) or not coords:
            raise BadRequestData(f"{what}: a MultiPolygon needs at least one polygon")
        for poly in coords:
            _polygon(poly, what)
    if area:
        check_area(value, what)


def check_area(value: dict[str, Any], what: str) -> None:
    """Raise BadRequestData if a well-formed Polygon or MultiPolygon (one that passed
    :func:`check_geometry`) is not a valid area; other geometries pass."""
    if value["type"] not in ("Polygon", "MultiPolygon"):
        return
    try:
        geom = shape(value)
        valid = geom.is_valid
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise BadRequestData(f"{what}: the {value['type']} is not a valid area: {exc}") from exc
    if not valid:
        raise BadRequestData(
            f"{what}: the {value['type']} is not a valid area ({explain_validity(geom)}): its "
            "rings must not cross themselves or each other, holes must lie inside the outer "
            "ring, and the polygons of a MultiPolygon must not overlap (RFC 7946 clause 3.1.6, "
            "OGC Simple Features)"
        )
