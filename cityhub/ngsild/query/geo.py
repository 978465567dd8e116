"""The NGSI-LD geo-query (ETSI GS CIM 009 v1.8.1, clause 4.10): parser and exact predicates.

Pure: no I/O. A geo-query arrives as four URL parameters (``georel``, ``geometry``,
``coordinates`` as JSON text, ``geoproperty``) or as the ``geoQ`` member of a POST Query body or a
Subscription (the same members, ``coordinates`` as a JSON array). :func:`parse_geo_query` turns
either form into a :class:`GeoQuery`; :func:`expand_geo` then maps the ``geoproperty`` name to an
IRI with the request's @context, as ``expand_q`` does for q. Backends use :func:`search_bbox` to
prune with a spatial index and :func:`relate` / :func:`matches` for the exact test, which the
notification matcher can call directly.

Semantics (the target is the entity's GeoProperty value, the reference is the query geometry; the
DE-9IM predicates follow OGC Simple Features as implemented by GEOS/shapely, in lon/lat degrees):

``equals``
    same point set (vertex order, ring start and orientation do not matter).
``intersects``
    the two share at least one point; boundaries count (a point on a polygon's edge intersects it).
``disjoint``
    not ``intersects``.
``within``
    target within reference: no target point outside the reference and the interiors meet, so a
    point on a polygon's boundary or inside a hole is *not* within it.
``contains``
    target contains reference (the converse of ``within``): a polygon does not contain a point on
    its own boundary.
``overlaps``
    same dimension, interiors meet, and neither contains the other (a polygon does not overlap
    one it contains or equals).
``near;maxDistance==d`` / ``near;minDistance==d``
    the distance on the sphere (radius 6,371,008.8 m) between the two geometries is ``<= d`` /
    ``>= d`` metres; both bounds may be given together (a ring; an extension of the grammar).
    Point to point is the haversine great-circle distance. For other shapes the closest pair of
    points is found in an equirectangular projection centred on the reference's latitude and the
    haversine distance between that pair is used: the result is a true spherical distance between
    two points of the geometries, and the choice of pair is good to well under 1 % within a city
    (tens of km, away from the poles).

A reference area that is not valid (a self-crossing ring: see ``cityhub.ngsild.geojson``) is
refused with a 400, as a stored one is when it is written; such a polygon has no agreed inside.
This costs the ETSI suite's 019_11 tests, whose fixture polygon and 019_11_06 reference cross
themselves (docs/conformance.md). Values stored before that check are still read, repaired with
GEOS ``make_valid``, so that predicates on old data never fail.

Geometries crossing the antimeridian are not unwrapped (RFC 7946 clause 3.1.9 asks producers to cut
them), except that point-to-point ``near`` is exact everywhere, including next to the poles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias

import orjson
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from cityhub.errors import BadRequestData
from cityhub.ngsild.geojson import GEOMETRY_TYPES, check_area, check_geometry
from cityhub.ngsild.json_limits import check_depth
from cityhub.ngsild.names import check_name

GEORELS = ("near", "within", "contains", "intersects", "disjoint", "overlaps", "equals")
EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
DEFAULT_GEOPROPERTY = "location"

Coordinates: TypeAlias = tuple[Any, ...]  # nested tuples of floats, hashable

_DISTANCE = re.compile(r"^(maxDistance|minDistance)==(.*)$")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHAPES = {
    "Point": "[lon,lat]",
    "MultiPoint": "[[lon,lat],...]",
    "LineString": "[[lon,lat],[lon,lat],...]",
    "MultiLineString": "[[[lon,lat],[lon,lat],...],...]",
    "Polygon": "[[[lon,lat],...,[lon,lat]]] with the first position repeated at the end",
    "MultiPolygon": "[[[[lon,lat],...,[lon,lat]]],...]",
}


@dataclass(frozen=True)
class GeoQuery:
    """A parsed geo-query (clause 4.10).

    Attributes:
        georel: ``near``, ``within``, ``contains``, ``intersects``, ``disjoint``, ``overlaps`` or
            ``equals``.
        geometry: the reference geometry's GeoJSON type.
        coordinates: its coordinates as nested tuples of floats (hashable).
        geoproperty: the GeoProperty the query is about: the name as sent (default
            ``location``) after :func:`parse_geo_query`, its IRI after :func:`expand_geo`.
        max_distance: ``near;maxDistance`` in metres.
        min_distance: ``near;minDistance`` in metres.
    """

    georel: str
    geometry: str
    coordinates: Coordinates
    geoproperty: str = DEFAULT_GEOPROPERTY
    max_distance: float | None = None
    min_distance: float | None = None
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # queries are cache keys (bounding box, reference shape, SQL parts); a district's
        # polygon has hundreds of positions, so hash them once, not at every lookup
        key = (self.georel, self.geometry, self.coordinates, self.geoproperty)
        object.__setattr__(self, "_hash", hash((*key, self.max_distance, self.min_distance)))

    def __hash__(self) -> int:
        return self._hash

    def geometry_json(self) -> dict[str, Any]:
        """The reference geometry as a GeoJSON geometry object."""
        return {"type": self.geometry, "coordinates": _lists(self.coordinates)}


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple | list) else value


def _tuples(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return float(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_geo_query(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None,
) -> GeoQuery | None:
    """Parse a geo-query from URL parameters or a ``geoQ`` object.

    Args:
        georel: e.g. ``near;maxDistance==2000`` or ``within``.
        geometry: ``Point``, ``MultiPoint``, ``LineString``, ``MultiLineString``, ``Polygon`` or
            ``MultiPolygon``.
        coordinates: JSON array text (URL form) or the already decoded array (``geoQ``).
        geoproperty: the GeoProperty's name; ``location`` when not given.

    Returns:
        None when none of the four is given (empty strings count as not given), else the query
        with ``geoproperty`` still a name (see :func:`expand_geo`).

    Raises:
        BadRequestData: an incomplete query, an unknown georel or geometry, coordinates that are
            not valid RFC 7946 coordinates for the geometry (ranges, closed rings, enough
            positions), a georel that cannot apply to the geometry (``within`` or ``overlaps``
            a Point), or a negative or missing distance. Never InvalidRequest: the ETSI suite
            expects BadRequestData for a bad georel (019_03_04).
    """
    for name, value in (("georel", georel), ("geometry", geometry), ("geoproperty", geoproperty)):
        if value is not None and not isinstance(value, str):
            raise BadRequestData(f"{name} must be a string, got {value!r}")
    given = {
        "georel": not _blank(georel),
        "geometry": not _blank(geometry),
        "coordinates": not _blank(coordinates),
    }
    if not any(given.values()):
        if not _blank(geoproperty):
            raise BadRequestData(
                "geoproperty was given without a geo-query: also give georel, geometry and "
                "coordinates (clause 4.10)"
            )
        return None
    missing = [name for name, ok in given.items() if not ok]
    if missing:
        raise BadRequestData(
            "incomplete geo-query: " + " and ".join(missing) + " missing; a geo-query needs "
            "georel, geometry and coordinates together (clause 4.10), for example "
            "georel=near;maxDistance==2000&geometry=Point&coordinates=[13.4,52.5]"
        )
    assert georel is not None and geometry is not None and coordinates is not None
    rel, max_d, min_d = _parse_georel(georel)
    kind = _parse_geometry(geometry)
    coords = _parse_coordinates(coordinates, kind)
    if rel == "within" and kind == "Point":
        raise BadRequestData(
            "georel within needs an area or line as the reference geometry, not a Point "
            "(nothing but the point itself lies within a point); use equals or "
            "near;maxDistance==<metres>"
        )
    if rel == "overlaps" and kind == "Point":
        raise BadRequestData(
            "georel overlaps cannot apply to a Point: a single point never overlaps anything "
            "(OGC: overlapping geometries share part of their interiors but neither contains the "
            "other); use intersects or equals"
        )
    name = DEFAULT_GEOPROPERTY
    if not _blank(geoproperty):
        assert geoproperty is not None
        name = check_name(geoproperty.strip(), "geoproperty")
    return GeoQuery(rel, kind, coords, name, max_d, min_d)


def expand_geo(geo: GeoQuery, expand: Callable[[str], str]) -> GeoQuery:
    """A copy of ``geo`` whose ``geoproperty`` is the IRI ``expand`` gives for its name."""
    return GeoQuery(  # not dataclasses.replace: this runs per request, and that is twice as slow
        geo.georel,
        geo.geometry,
        geo.coordinates,
        expand(geo.geoproperty),
        geo.max_distance,
        geo.min_distance,
    )


@lru_cache(maxsize=256)  # a city's queries use a handful of georel texts
def _parse_georel(text: str) -> tuple[str, float | None, float | None]:
    parts = [p.strip() for p in text.strip().split(";")]
    rel = parts[0]
    if rel not in GEORELS:
        raise BadRequestData(
            f"unknown georel {text!r}: use one of near;maxDistance==<metres>, "
            "near;minDistance==<metres>, within, contains, intersects, disjoint, overlaps, "
            "equals (clause 4.10)"
        )
    if rel != "near":
        if len(parts) > 1:
            raise BadRequestData(
                f"georel {rel} takes no modifiers, got {text!r}; only near has "
                "maxDistance/minDistance"
            )
        return rel, None, None
    distances: dict[str, float] = {}
    for part in parts[1:]:
        m = _DISTANCE.match(part)
        if m is None:
            raise BadRequestData(
                f"georel {text!r}: {part!r} is not maxDistance==<metres> or "
                "minDistance==<metres> (note the double ==)"
            )
        key, number = m.groups()
        if key in distances:
            raise BadRequestData(f"georel {text!r} gives {key} twice")
        distances[key] = _distance(number, key)
    if not distances:
        raise BadRequestData(
            f"georel {text!r}: near needs a distance, e.g. near;maxDistance==2000 (metres)"
        )
    max_d, min_d = distances.get("maxDistance"), distances.get("minDistance")
    if max_d is not None and min_d is not None and min_d > max_d:
        raise BadRequestData(
            f"georel {text!r}: minDistance is larger than maxDistance, so nothing can match"
        )
    return rel, max_d, min_d


def _distance(number: str, key: str) -> float:
    # ASCII digits only: float() also reads "１０", "1_000" and " 10 "
    value = float(number) if _NUMBER.fullmatch(number) else math.nan
    if not math.isfinite(value):
        raise BadRequestData(f"{key} must be a number of metres, got {number!r}")
    if value < 0:
        raise BadRequestData(f"{key} must not be negative, got {number!r}")
    return value


def _parse_geometry(text: str) -> str:
    kind = text.strip()
    if kind in GEOMETRY_TYPES:
        return kind
    hint = next((g for g in GEOMETRY_TYPES if g.lower() == kind.lower()), None)
    raise BadRequestData(
        f"unknown geometry {text!r}"
        + (f" (geometry names are case-sensitive: {hint})" if hint else "")
        + ": use one of "
        + ", ".join(GEOMETRY_TYPES)
    )


def _parse_coordinates(value: str | list[Any], kind: str) -> Coordinates:
    if isinstance(value, str):  # URL text: the same area is asked for again and again
        return _parse_coordinate_text(value, kind)
    return _checked_coordinates(value, kind)


@lru_cache(maxsize=512)
def _parse_coordinate_text(value: str, kind: str) -> Coordinates:
    return _checked_coordinates(value, kind)


def _checked_coordinates(value: str | list[Any], kind: str) -> Coordinates:
    coords: Any = value
    if isinstance(value, str):
        try:
            coords = check_depth(orjson.loads(value), "coordinates")
        except orjson.JSONDecodeError:
            coords = None
        if not isinstance(coords, list):
            raise BadRequestData(
                f"coordinates {value!r} are not a JSON array; write the {kind}'s coordinates "
                f"as GeoJSON does, longitude first: {_SHAPES[kind]}"
            )
    if not isinstance(coords, list):
        raise BadRequestData(
            f"coordinates must be a JSON array, got {type(coords).__name__}; a {kind} is "
            f"written {_SHAPES[kind]}"
        )
    geometry = {"type": kind, "coordinates": coords}
    try:
        check_geometry(geometry, "coordinates", area=False)
    except BadRequestData as exc:
        raise BadRequestData(
            f"the coordinates are not a valid {kind} ({exc.detail}); a {kind} is written "
            f"{_SHAPES[kind]}, longitude first (RFC 7946)"
        ) from exc
    check_area(geometry, "coordinates")
    result: Coordinates = _tuples(coords)
    return result


# ---- geometry ---------------------------------------------------------------------------------


def geojson_shape(value: Any) -> BaseGeometry | None:
    """A GeoProperty value (a GeoJSON geometry) as a shapely geometry, or None if it is not one.

    An invalid area (a self-crossing ring) is repaired with ``make_valid`` so that predicates on
    stored data never fail; nothing raises.
    """
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        return None
    try:
        geom = shape(value)
        if geom.is_empty:
            return None
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
    except (
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        shapely.errors.ShapelyError,
    ):
        return None
    return geom


@lru_cache(maxsize=1024)
def query_shape(geo: GeoQuery) -> BaseGeometry:
    """The reference geometry of a parsed query as a shapely geometry.

    Cached (queries repeat: a map pans over the same districts, subscriptions match every
    change): callers must not prepare or otherwise change the shared geometry.
    """
    geom = shape(geo.geometry_json())
    return geom if geom.is_valid else shapely.make_valid(geom)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two lon/lat positions (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_m(target: BaseGeometry, reference: BaseGeometry) -> float:
    """Distance in metres on the sphere between two lon/lat geometries (see module docstring)."""
    if isinstance(target, Point) and isinstance(reference, Point):
        return haversine_m(target.x, target.y, reference.x, reference.y)
    if target.intersects(reference):
        return 0.0
    lat0 = reference.centroid.y
    scale = max(math.cos(math.radians(lat0)), 1e-6)

    def project(g: BaseGeometry) -> BaseGeometry:
        return shapely.transform(g, lambda xy: xy * [scale, 1.0])

    a, b = nearest_points(project(target), project(reference))
    return haversine_m(a.x / scale, a.y, b.x / scale, b.y)


def relate(
    georel: str,
    target: BaseGeometry,
    reference: BaseGeometry,
    max_distance: float | None = None,
    min_distance: float | None = None,
) -> bool:
    """The exact predicate ``target <georel> reference`` (semantics in the module docstring)."""
    if georel == "near":
        if max_distance is None and min_distance is None:
            return False
        d = distance_m(target, reference)
        if max_distance is not None and d > max_distance:
            return False
        return min_distance is None or d >= min_distance
    # the reference goes first: GEOS only speeds a predicate up when its first argument is
    # prepared, and the store prepares the reference (within/contains are exact converses)
    if georel == "within":
        return bool(reference.contains(target))
    if georel == "contains":
        return bool(reference.within(target))
    if georel == "intersects":
        return bool(reference.intersects(target))
    if georel == "disjoint":
        return bool(reference.disjoint(target))
    if georel == "overlaps":
        return bool(reference.overlaps(target))
    if georel == "equals":
        return bool(reference.equals(target))
    return False


def matches(geo: GeoQuery, value: Any) -> bool:
    """Whether one GeoProperty value satisfies a geo-query (False when it is no geometry)."""
    target = geojson_shape(value)
    if target is None:
        return False
    return relate(geo.georel, target, query_shape(geo), geo.max_distance, geo.min_distance)


# ---- index pruning ----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def search_bbox(geo: GeoQuery) -> tuple[float, float, float, float] | None:
    """The lon/lat box ``(min_lon, max_lon, min_lat, max_lat)`` every match's box must meet.

    None when no box can prune (``disjoint``, and ``near`` with only ``minDistance``). For
    ``near;maxDistance==d`` the reference's box grows by ``d`` on the sphere: ``d/R`` radians of
    latitude and ``asin(sin(d/R) / cos(lat))`` of longitude at the box's most poleward latitude
    (the exact half-width of a spherical cap), plus 1 % and a small margin for rounding; every
    longitude when the cap reaches a pole or the box reaches the antimeridian.
    """
    if geo.georel == "disjoint" or (geo.georel == "near" and geo.max_distance is None):
        return None
    if geo.geometry == "Point":  # the common near query: no geometry object needed
        min_lon = max_lon = float(geo.coordinates[0])
        min_lat = max_lat = float(geo.coordinates[1])
    else:
        min_lon, min_lat, max_lon, max_lat = query_shape(geo).bounds
    if geo.georel != "near":
        return min_lon, max_lon, min_lat, max_lat
    assert geo.max_distance is not None
    delta = geo.max_distance / EARTH_RADIUS_M * 1.01 + 1e-9
    dlat = math.degrees(delta)
    min_lat, max_lat = max(-90.0, min_lat - dlat), min(90.0, max_lat + dlat)
    pole_lat = max(abs(min_lat), abs(max_lat))
    ratio = math.sin(min(delta, math.pi / 2)) / max(math.cos(math.radians(pole_lat)), 1e-12)
    if pole_lat >= 90.0 or ratio >= 1.0:
        return -180.0, 180.0, min_lat, max_lat
    dlon = math.degrees(math.asin(ratio))
    min_lon, max_lon = min_lon - dlon, max_lon + dlon
    if min_lon < -180.0 or max_lon > 180.0:
        return -180.0, 180.0, min_lat, max_lat
    return min_lon, max_lon, min_lat, max_lat
