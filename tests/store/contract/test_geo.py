"""Geo-queries (clause 4.10) through ``Store.query_entities``, the same on every backend (the
SQLite R*Tree passes and PostGIS), on points, a line and polygons, with known answers.

At latitude 37.4, 0.01 degree of longitude is about 884 m."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild.query import expand_q, parse_q
from cityhub.ngsild.query.geo import GeoQuery, expand_geo, parse_geo_query
from cityhub.store.base import EntityQuery, OrderItem, Transaction
from tests.store.contract.conftest import Backend

EX = "https://ex.org/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
T = "geo"


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


SHAPES: dict[str, dict[str, Any]] = {
    "P1": {"type": "Point", "coordinates": [127.10, 37.40]},
    "P2": {"type": "Point", "coordinates": [127.11, 37.40]},  # 884 m east of P1
    "P3": {"type": "Point", "coordinates": [127.13, 37.40]},  # 2.65 km east of P1
    "P4": {"type": "Point", "coordinates": [127.20, 37.45]},
    "A1": {"type": "Polygon", "coordinates": box(127.095, 37.395, 127.115, 37.405)},
    "A2": {"type": "Polygon", "coordinates": box(127.19, 37.44, 127.21, 37.46)},
    "L1": {"type": "LineString", "coordinates": [[127.12, 37.397], [127.12, 37.403]]},  # 1.77 km
}
AREA = str(box(127.09, 37.39, 127.14, 37.41)).replace(" ", "")
STRIP = str(box(127.105, 37.39, 127.118, 37.41)).replace(" ", "")


def _entity(name: str, shape: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:{kind}:{name}",
        "type": [EX + kind],
        "createdAt": "2024-01-01T00:00:00Z",
        "modifiedAt": "2024-01-01T00:00:00Z",
        "attrs": {
            LOCATION: [{"type": "GeoProperty", "value": shape}],
            EX + "kind": [{"type": "Property", "value": shape["type"]}],
        },
    }


@pytest.fixture
def placed(backend: Backend) -> Backend:
    def fn(tx: Transaction) -> None:
        for name, shape in SHAPES.items():
            tx.insert(_entity(name, shape, "Place"))
        # the same shapes under another type and another GeoProperty only
        other = _entity("P1", SHAPES["P1"], "Other")
        other["attrs"] = {EX + "place": other["attrs"][LOCATION]}
        tx.insert(other)

    backend.run(backend.store.write(T, fn))
    return backend


def geo(georel: str, geometry: str, coordinates: str, prop: str | None = None) -> GeoQuery:
    parsed = parse_geo_query(georel, geometry, coordinates, prop)
    assert parsed is not None
    return expand_geo(parsed, lambda n: LOCATION if n == "location" else EX + n)


def names(b: Backend, query: EntityQuery) -> set[str]:
    return {e["id"].rsplit(":", 1)[1] for e in b.run(b.store.query_entities(T, query)).entities}


CASES = [
    (("near;maxDistance==1000", "Point", "[127.10,37.40]"), {"P1", "P2", "A1"}),
    (("near;maxDistance==2000", "Point", "[127.10,37.40]"), {"P1", "P2", "A1", "L1"}),
    (("near;minDistance==2000", "Point", "[127.10,37.40]"), {"P3", "P4", "A2"}),
    (("near;minDistance==1000", "Point", "[127.10,37.40]"), {"P3", "P4", "A2", "L1"}),
    (("within", "Polygon", AREA), {"P1", "P2", "P3", "A1", "L1"}),
    (("intersects", "Polygon", AREA), {"P1", "P2", "P3", "A1", "L1"}),
    (("disjoint", "Polygon", AREA), {"P4", "A2"}),
    (("contains", "Point", "[127.205,37.455]"), {"A2"}),
    (("intersects", "Point", "[127.205,37.455]"), {"A2"}),
    (("equals", "Point", "[127.11,37.40]"), {"P2"}),
    (("overlaps", "Polygon", STRIP), {"A1"}),
    (("within", "Polygon", STRIP), {"P2"}),
    (("intersects", "LineString", "[[127.0,37.40],[127.105,37.40]]"), {"P1", "A1"}),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_georel(placed: Backend, query: tuple[str, str, str], expected: set[str]) -> None:
    g = geo(*query)
    assert names(placed, EntityQuery(geo=g, limit=100)) == expected
    assert names(placed, EntityQuery(types=(EX + "Place",), geo=g, limit=100)) == expected
    result = placed.run(placed.store.query_entities(T, EntityQuery(geo=g, count=True, limit=1)))
    assert result.count == len(expected)


def test_another_geoproperty_and_other_types(placed: Backend) -> None:
    g = geo("near;maxDistance==10", "Point", "[127.10,37.40]", "place")
    assert names(placed, EntityQuery(geo=g)) == {"P1"}
    assert names(placed, EntityQuery(types=(EX + "Place",), geo=g)) == set()
    g = geo("near;maxDistance==10", "Point", "[127.10,37.40]")
    assert names(placed, EntityQuery(types=(EX + "Other",), geo=g)) == set()


def test_geo_with_q_and_paging(placed: Backend) -> None:
    g = geo("within", "Polygon", AREA)
    q = expand_q(parse_q('kind=="Point"'), lambda n: EX + n)
    assert names(placed, EntityQuery(geo=g, q=q)) == {"P1", "P2", "P3"}
    order = (OrderItem("id"),)
    pages = [
        names(placed, EntityQuery(geo=g, order_by=order, limit=2, offset=o)) for o in (0, 2, 4)
    ]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert set().union(*pages) == {"P1", "P2", "P3", "A1", "L1"}


def test_the_index_follows_saves_and_deletes(placed: Backend) -> None:
    b = placed
    moved = _entity("P4", {"type": "Point", "coordinates": [127.101, 37.40]}, "Place")
    b.run(b.store.write(T, lambda tx: tx.save(moved, tx.get(moved["id"]))))
    near = geo("near;maxDistance==200", "Point", "[127.10,37.40]")
    assert names(b, EntityQuery(geo=near)) == {"P1", "P4", "A1"}
    assert names(b, EntityQuery(geo=geo("contains", "Point", "[127.20,37.45]"))) == {"A2"}
    b.run(b.store.write(T, lambda tx: tx.delete("urn:ngsi-ld:Place:A1")))
    assert names(b, EntityQuery(geo=near)) == {"P1", "P4"}
    assert names(b, EntityQuery(geo=near, types=(EX + "Place",))) == {"P1", "P4"}
