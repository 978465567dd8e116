"""The geo-query parser and exact predicates (ETSI GS CIM 009 v1.8.1, clause 4.10; RFC 7946)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from cityhub.errors import BadRequestData
from cityhub.ngsild.query.geo import (
    GeoQuery,
    distance_m,
    expand_geo,
    geojson_shape,
    haversine_m,
    matches,
    parse_geo_query,
    relate,
    search_bbox,
)

LOC = "https://uri.etsi.org/ngsi-ld/location"
SQUARE = [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]
SQUARE_WITH_HOLE = [*SQUARE, [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]


def geom(kind: str, coordinates: object) -> dict[str, object]:
    return {"type": kind, "coordinates": coordinates}


# -- clause 4.10: the URL form (coordinates as JSON text) and the geoQ form (JSON arrays) ---------


def test_nothing_given_is_no_query() -> None:
    assert parse_geo_query(None, None, None, None) is None
    assert parse_geo_query("", "", "", "") is None


@pytest.mark.parametrize(
    ("georel", "rel", "max_d", "min_d"),
    [
        ("near;maxDistance==15000", "near", 15000.0, None),
        ("near;minDistance==15000", "near", None, 15000.0),
        ("near;maxDistance==2000.5", "near", 2000.5, None),
        ("near;maxDistance==0", "near", 0.0, None),
        ("near;minDistance==10;maxDistance==100", "near", 100.0, 10.0),
        ("within", "within", None, None),
        ("contains", "contains", None, None),
        ("intersects", "intersects", None, None),
        ("disjoint", "disjoint", None, None),
        ("overlaps", "overlaps", None, None),
        ("equals", "equals", None, None),
    ],
)
def test_georels(georel: str, rel: str, max_d: float | None, min_d: float | None) -> None:
    q = parse_geo_query(georel, "Polygon", str(SQUARE), None)
    assert q is not None
    assert (q.georel, q.max_distance, q.min_distance) == (rel, max_d, min_d)
    assert q.geoproperty == "location"


def test_url_text_and_geoq_array_give_the_same_query() -> None:
    text = parse_geo_query("near;maxDistance==2000", "Point", "[-8.52, 41.2]", "location")
    body = parse_geo_query("near;maxDistance==2000", "Point", [-8.52, 41.2], "location")
    assert text == body
    assert text is not None and hash(text) == hash(body)
    assert text.geometry_json() == {"type": "Point", "coordinates": [-8.52, 41.2]}


@pytest.mark.parametrize(
    ("kind", "coordinates"),
    [
        ("Point", [13.3986, 52.5547]),
        ("Point", [13.3986, 52.5547, 35.0]),
        ("MultiPoint", [[1, 2], [3, 4]]),
        ("LineString", [[1, 2], [3, 4]]),
        ("MultiLineString", [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]),
        ("Polygon", SQUARE),
        ("Polygon", SQUARE_WITH_HOLE),
        ("MultiPolygon", [SQUARE, [[[20, 20], [30, 20], [30, 30], [20, 20]]]]),
        # 019_11_03 repeats its first position: consecutive duplicates are valid
        (
            "Polygon",
            [
                [
                    [13.3844376, 52.5356966],
                    [13.3844376, 52.5356966],
                    [13.381691, 52.5123012],
                    [13.4235764, 52.5100027],
                    [13.4331894, 52.5273425],
                    [13.3844376, 52.5356966],
                ]
            ],
        ),
    ],
)
def test_every_geometry_type(kind: str, coordinates: list[object]) -> None:
    q = parse_geo_query("intersects", kind, str(coordinates), None)
    assert q is not None and q.geometry == kind
    assert shape(q.geometry_json()).geom_type == kind


def test_geoproperty_is_kept_as_a_name_until_expanded() -> None:
    q = parse_geo_query("within", "Polygon", SQUARE, "observationSpace")
    assert q is not None and q.geoproperty == "observationSpace"
    assert expand_geo(q, lambda n: "https://ex.org/" + n).geoproperty == (
        "https://ex.org/observationSpace"
    )


# -- clause 4.10 errors: every one is BadRequestData (019_03_04 expects it for georel=invalid) --

BAD = [
    # (georel, geometry, coordinates, geoproperty, words the detail must contain)
    ("invalid", "Point", "[-8.503,41.202]", "location", "unknown georel"),
    ("Within", "Polygon", str(SQUARE), None, "unknown georel"),
    ("near", "Point", "[1,2]", None, "needs a distance"),
    ("near;maxDistance=2000", "Point", "[1,2]", None, "double =="),
    ("near;maxDistance==-1", "Point", "[1,2]", None, "negative"),
    ("near;maxDistance==abc", "Point", "[1,2]", None, "number of metres"),
    ("near;maxDistance==nan", "Point", "[1,2]", None, "number of metres"),
    ("near;maxDistance==1;maxDistance==2", "Point", "[1,2]", None, "twice"),
    ("near;minDistance==200;maxDistance==100", "Point", "[1,2]", None, "larger"),
    ("within;maxDistance==5", "Polygon", str(SQUARE), None, "no modifiers"),
    ("within", "Circle", "[1,2]", None, "unknown geometry"),
    ("within", "polygon", str(SQUARE), None, "case-sensitive: Polygon"),
    ("within", "Polygon", "[[0,0],[1,1]", None, "not a JSON array"),
    ("within", "Polygon", "1,2", None, "not a JSON array"),
    ("within", "Polygon", '{"a": 1}', None, "not a JSON array"),
    ("intersects", "Point", "[200, 10]", None, "out of range"),
    ("intersects", "Point", "[10, 95]", None, "out of range"),
    ("intersects", "Point", "[1]", None, "[longitude, latitude]"),
    ("intersects", "Point", "[true, 1]", None, "[longitude, latitude]"),
    ("intersects", "LineString", "[[1, 2]]", None, "at least 2"),
    ("within", "Polygon", "[[[0,0],[1,0],[1,1]]]", None, "at least 4"),
    ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", None, "closed"),
    ("within", "Polygon", "[1, 2]", None, "not a valid Polygon"),
    ("within", "Point", "[1, 2]", None, "use equals"),
    ("overlaps", "Point", "[1, 2]", None, "never overlaps"),
    ("within", None, str(SQUARE), None, "geometry missing"),
    (None, "Point", "[1,2]", None, "georel missing"),
    ("within", "Polygon", None, None, "coordinates missing"),
    (None, None, None, "location", "without a geo-query"),
    ("intersects", "Point", "[1,2]", "bad name", "character"),
]


@pytest.mark.parametrize(("georel", "geometry", "coordinates", "geoproperty", "words"), BAD)
def test_bad_geo_queries(
    georel: str | None,
    geometry: str | None,
    coordinates: str | None,
    geoproperty: str | None,
    words: str,
) -> None:
    with pytest.raises(BadRequestData) as err:
        parse_geo_query(georel, geometry, coordinates, geoproperty)
    assert words in err.value.detail


def test_geoq_members_must_be_strings() -> None:
    for args in [(5, "Point", [1, 2], None), ("equals", ["Point"], [1, 2], None)]:
        with pytest.raises(BadRequestData, match="must be a string"):
            parse_geo_query(*args)  # type: ignore[arg-type]
    with pytest.raises(BadRequestData, match="geoproperty must be a string"):
        parse_geo_query("equals", "Point", [1, 2], {"a": 1})  # type: ignore[arg-type]


def test_geoq_coordinates_must_be_an_array() -> None:
    with pytest.raises(BadRequestData, match="must be a JSON array"):
        parse_geo_query("intersects", "Point", {"lon": 1}, None)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=30)),
    st.one_of(st.none(), st.text(max_size=15)),
    st.one_of(st.none(), st.text(max_size=40)),
)
def test_the_parser_only_ever_raises_bad_request_data(
    georel: str | None, geometry: str | None, coordinates: str | None
) -> None:
    try:
        parse_geo_query(georel, geometry, coordinates, None)
    except BadRequestData:
        pass


# -- the exact predicates (clause 4.10), OGC semantics: boundaries, holes ------------------------


def shp(kind: str, coordinates: object) -> Any:
    return geojson_shape(geom(kind, coordinates))


@pytest.mark.parametrize(
    ("point", "within", "intersects"),
    [
        ([5, 2], True, True),  # interior
        ([0, 5], False, True),  # on the boundary: not within, but intersects
        ([0, 0], False, True),  # a vertex
        ([5, 5], False, False),  # inside the hole
        ([4, 5], False, True),  # on the hole's ring
        ([11, 5], False, False),  # outside
    ],
)
def test_points_and_a_polygon_with_a_hole(
    point: list[float], within: bool, intersects: bool
) -> None:
    target = shp("Point", point)
    poly = shp("Polygon", SQUARE_WITH_HOLE)
    assert relate("within", target, poly) is within
    assert relate("contains", poly, target) is within  # contains is the converse of within
    assert relate("intersects", target, poly) is intersects
    assert relate("disjoint", target, poly) is (not intersects)


def test_equals_is_topological() -> None:
    a = shp("Polygon", SQUARE)
    rotated = shp("Polygon", [[[10, 0], [10, 10], [0, 10], [0, 0], [10, 0]]])
    clockwise = shp("Polygon", [[[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]])
    assert relate("equals", a, rotated) and relate("equals", a, clockwise)
    assert relate("equals", shp("Point", [1, 2]), shp("Point", [1.0, 2.0]))
    assert not relate("equals", shp("Point", [1, 2]), shp("Point", [1, 2.000001]))


def test_overlaps_needs_shared_interior_and_no_containment() -> None:
    a = shp("Polygon", SQUARE)
    b = shp("Polygon", [[[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]])
    inner = shp("Polygon", [[[1, 1], [2, 1], [2, 2], [1, 1]]])
    touching = shp("Polygon", [[[10, 0], [20, 0], [20, 10], [10, 0]]])
    assert relate("overlaps", a, b)
    assert not relate("overlaps", a, inner)  # contained: not an overlap
    assert not relate("overlaps", a, a)  # equal: not an overlap
    assert not relate("overlaps", a, touching)  # boundaries only
    assert relate("intersects", a, touching)


def test_lines() -> None:
    line = shp("LineString", [[0, 0], [10, 10]])
    assert relate("intersects", line, shp("LineString", [[0, 10], [10, 0]]))
    assert relate(
        "within", line, shp("Polygon", [[[-1, -1], [11, -1], [11, 11], [-1, 11], [-1, -1]]])
    )
    # lying along the boundary (the triangle's hypotenuse is y = x) is not within
    assert not relate("within", line, shp("Polygon", [[[-1, -1], [11, -1], [11, 11], [-1, -1]]]))
    assert relate("contains", line, shp("Point", [5, 5]))
    assert not relate("contains", line, shp("Point", [0, 0]))  # an end point is its boundary
    multi = shp("MultiLineString", [[[0, 0], [1, 0]], [[5, 5], [6, 6]]])
    assert relate("intersects", multi, shp("Point", [5.5, 5.5]))


def test_multi_geometries() -> None:
    mp = shp("MultiPoint", [[1, 1], [20, 20]])
    assert relate("intersects", mp, shp("Polygon", SQUARE))
    assert not relate("within", mp, shp("Polygon", SQUARE))
    mpoly = shp("MultiPolygon", [SQUARE, [[[20, 20], [30, 20], [30, 30], [20, 20]]]])
    assert relate("contains", mpoly, shp("Point", [25, 22]))


def test_matches_reads_stored_values() -> None:
    q = parse_geo_query("within", "Polygon", SQUARE, None)
    assert q is not None
    assert matches(q, geom("Point", [5, 1]))
    assert not matches(q, {"type": "Point"})  # no coordinates
    assert not matches(q, "not a geometry")
    assert geojson_shape({"type": "GeometryCollection", "geometries": []}) is None


@pytest.mark.parametrize(
    ("kind", "coordinates", "why"),
    [
        ("Polygon", [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]], "Self-intersection[1 1]"),
        # the ETSI suite's 019_11_06 reference polygon: its first edges cross near its start
        (
            "Polygon",
            [
                [
                    [13.3023834, 52.4903066],
                    [13.3027267, 52.4905156],
                    [13.2745743, 52.465632],
                    [13.3343124, 52.4185447],
                    [13.4311295, 52.47107],
                    [13.3023834, 52.4903066],
                ]
            ],
            "Self-intersection",
        ),  # fmt: skip
        ("Polygon", [SQUARE[0], [[20, 20], [21, 20], [21, 21], [20, 20]]], "Hole lies outside"),
        ("Polygon", [[[0, 0], [1, 1], [2, 2], [0, 0]]], "Self-intersection"),  # no area
        ("MultiPolygon", [SQUARE, [[[5, 5], [15, 5], [15, 15], [5, 5]]]], "Self-intersection"),
    ],
)
def test_an_invalid_reference_area_is_refused(kind: str, coordinates: Any, why: str) -> None:
    """RFC 7946 clause 3.1.6 (a linear ring bounds a surface), OGC Simple Features validity:
    an area without an agreed inside is a 400 naming the place, not a repaired guess."""
    for form in (coordinates, orjson.dumps(coordinates).decode()):  # geoQ array, URL text
        with pytest.raises(BadRequestData) as err:
            parse_geo_query("within", kind, form, None)
        assert "not a valid area" in err.value.detail and why in err.value.detail


def test_a_self_crossing_stored_polygon_is_repaired_not_fatal() -> None:
    bowtie = shp("Polygon", [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]])
    assert bowtie is not None and bowtie.is_valid
    assert relate("intersects", bowtie, shp("Point", [0.5, 1]))


# -- near: distances on the sphere (clause 4.10 "metres") ---------------------------------------


def test_haversine_known_distances() -> None:
    # one degree of latitude on a 6371.0088 km sphere
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195.08, rel=1e-6)
    # Berlin airport to the test suite's reference point (019_10_02)
    assert haversine_m(13.509818, 52.363457, 13.388930, 52.534473) == pytest.approx(
        20_706, rel=1e-3
    )
    assert haversine_m(0, 89.99, 180, 89.99) == pytest.approx(2_223.9, rel=1e-3)
    assert haversine_m(179.99, 0, -179.99, 0) == pytest.approx(2_223.9, rel=1e-3)


def test_distance_to_shapes_in_a_city() -> None:
    # a point 1 km north of an east-west line at Seoul's latitude
    lat = 37.55
    line = shp("LineString", [[126.9, lat], [127.1, lat]])
    north = shp("Point", [127.0, lat + 1000 / 111_195.08])
    assert distance_m(north, line) == pytest.approx(1000, rel=1e-3)
    # a point 2 km east of a square's east edge
    dlon = 2000 / (111_195.08 * math.cos(math.radians(lat)))
    square = shp("Polygon", [[[126.9, 37.5], [127.0, 37.5], [127.0, 37.6], [126.9, 37.5]]])
    east = shp("Point", [127.0 + dlon, 37.55])
    assert distance_m(east, square) == pytest.approx(2000, rel=5e-3)
    assert distance_m(shp("Point", [126.95, 37.52]), square) == 0.0


@pytest.mark.parametrize(
    ("georel", "point", "expected"),
    [
        ("near;maxDistance==2343", [13.3986, 52.5547], True),
        ("near;maxDistance==2342", [13.3986, 52.5547], False),
        ("near;minDistance==2342", [13.3986, 52.5547], True),
        ("near;minDistance==2343", [13.3986, 52.5547], False),
        ("near;minDistance==1000;maxDistance==3000", [13.3986, 52.5547], True),
        ("near;maxDistance==0", [13.38893, 52.534473], True),
    ],
)
def test_near_bounds_are_inclusive(georel: str, point: list[float], expected: bool) -> None:
    # the two points are 2,342.27 m apart
    q = parse_geo_query(georel, "Point", "[13.388930, 52.534473]", None)
    assert q is not None
    assert matches(q, geom("Point", point)) is expected


# -- search_bbox: the box every match must meet ---------------------------------------------------


def test_no_box_for_disjoint_and_min_distance() -> None:
    for georel in ("disjoint", "near;minDistance==10"):
        q = parse_geo_query(georel, "Point", "[1, 2]", None)
        assert q is not None and search_bbox(q) is None


def test_box_of_topological_georels_is_the_reference_box() -> None:
    q = parse_geo_query("within", "Polygon", SQUARE, None)
    assert q is not None and search_bbox(q) == (0, 10, 0, 10)


def test_near_box_reaches_every_pole_side_longitude() -> None:
    q = parse_geo_query("near;maxDistance==3000", "Point", "[0, 89.99]", None)
    assert q is not None
    box = search_bbox(q)
    assert box is not None
    assert box[:2] == (-180.0, 180.0) and box[3] == 90.0
    assert box[2] == pytest.approx(89.963, abs=1e-3)
    assert matches(q, geom("Point", [180, 89.99]))  # 2.2 km away across the pole


def test_near_box_across_the_antimeridian_covers_all_longitudes() -> None:
    q = parse_geo_query("near;maxDistance==5000", "Point", "[179.99, 0]", None)
    assert q is not None
    box = search_bbox(q)
    assert box is not None and box[:2] == (-180.0, 180.0)
    assert matches(q, geom("Point", [-179.99, 0]))


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(-170, 170),
    lat=st.floats(-85, 85),
    bearing=st.floats(0, 2 * math.pi),
    distance=st.floats(1, 50_000),
)
def test_near_box_never_drops_a_match(
    lon: float, lat: float, bearing: float, distance: float
) -> None:
    # a point exactly `distance` metres away (spherical destination formula) is inside the box
    d = distance / 6_371_008.8
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    lon2, lat2 = math.degrees(l2), math.degrees(p2)
    q = GeoQuery("near", "Point", (lon, lat), LOC, max_distance=distance)
    box = search_bbox(q)
    assert box is not None
    assert box[0] <= lon2 <= box[1] and box[2] <= lat2 <= box[3]
    assert haversine_m(lon, lat, lon2, lat2) == pytest.approx(distance, rel=1e-6, abs=1e-6)
    assert relate("near", Point(lon2, lat2), Point(lon, lat), distance * 1.000001, None)
