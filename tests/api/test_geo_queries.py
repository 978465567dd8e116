"""Geo-queries through the API (ETSI GS CIM 009 v1.8.1 clause 4.10, 6.4.3.2 GET /entities).

A geo-query without ``orderBy`` walks the spatial index first and stops once the page is full;
these check that paging, ``count``, multi-instance GeoProperties and the other filters still
give exactly the set the predicate defines.
"""

from __future__ import annotations

import json
import math
import random

from starlette.testclient import TestClient

from cityhub.ngsild.query.geo import haversine_m

API = "/ngsi-ld/v1/entities"


def point(lon: float, lat: float) -> dict[str, object]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def load(client: TestClient) -> dict[str, tuple[float, float]]:
    rng = random.Random(3)
    where: dict[str, tuple[float, float]] = {}
    batch = []
    for i in range(120):
        lon, lat = 127.10 + rng.random() * 0.02, 37.40 + rng.random() * 0.02
        kind = "Streetlight" if i % 3 else "AirQualityObserved"
        eid = f"urn:ngsi-ld:{kind}:{i}"
        where[eid] = (lon, lat)
        batch.append({"id": eid, "type": kind, "n": {"type": "Property", "value": i}})
        batch[-1]["location"] = point(lon, lat)
    r = client.post(f"{API.rsplit('/', 1)[0]}/entityOperations/create", json=batch)
    assert r.status_code == 201, r.text
    return where


def pages(client: TestClient, query: str, limit: int) -> list[str]:
    ids: list[str] = []
    offset = 0
    while True:
        r = client.get(f"{API}?{query}&limit={limit}&offset={offset}")
        assert r.status_code == 200, r.text
        got = [e["id"] for e in r.json()]
        ids.extend(got)
        if len(got) < limit:
            return ids
        offset += limit


def test_paging_a_within_query_returns_each_match_once(client: TestClient) -> None:
    where = load(client)
    box = [[127.105, 37.405], [127.115, 37.405], [127.115, 37.415], [127.105, 37.415]]
    ring = json.dumps([[*box, box[0]]])
    query = f"type=Streetlight&georel=within&geometry=Polygon&coordinates={ring}"
    expected = {
        eid
        for eid, (lon, lat) in where.items()
        if "Streetlight" in eid and 127.105 < lon < 127.115 and 37.405 < lat < 37.415
    }
    assert 10 < len(expected) < 80
    for limit in (1, 7, 100):
        ids = pages(client, query, limit)
        assert len(ids) == len(set(ids)) and set(ids) == expected
    r = client.get(f"{API}?{query}&count=true&limit=3")
    assert r.headers["NGSILD-Results-Count"] == str(len(expected)) and len(r.json()) == 3


def test_near_with_q_and_a_multi_instance_location(client: TestClient) -> None:
    where = load(client)
    # a second location instance near the first: the entity still appears once
    eid = "urn:ngsi-ld:Streetlight:1"
    lon, lat = where[eid]
    extra = dict(point(lon + 0.0001, lat), datasetId="urn:ngsi-ld:Dataset:gps")
    assert client.post(f"{API}/{eid}/attrs", json={"location": extra}).status_code == 204
    query = (
        f"type=Streetlight&q=n<60&georel=near;maxDistance==800&geometry=Point"
        f"&coordinates=[{lon},{lat}]"
    )
    ids = pages(client, query, 5)
    assert len(ids) == len(set(ids)) and eid in ids
    for other in ids:
        assert "Streetlight" in other and int(other.rsplit(":", 1)[1]) < 60
    r = client.get(f"{API}?{query}&count=true&limit=0")
    assert r.headers["NGSILD-Results-Count"] == str(len(ids))


def test_order_by_still_orders_a_geo_query(client: TestClient) -> None:
    load(client)
    query = (
        "type=Streetlight&georel=near;maxDistance==5000&geometry=Point"
        "&coordinates=[127.11,37.41]&orderBy=n&limit=100"
    )
    r = client.get(f"{API}?{query}")
    assert r.status_code == 200
    values = [e["n"]["value"] for e in r.json()]
    assert values == sorted(values) and len(values) == 80


def test_multi_typed_entities_match_any_of_their_types(client: TestClient) -> None:
    body = {"id": "urn:ngsi-ld:Thing:multi", "type": ["Streetlight", "Device"]}
    body["location"] = point(127.11, 37.41)
    body["name"] = {"type": "Property", "value": "pole 7"}
    assert client.post(API, json=body).status_code == 201
    near = "georel=near;maxDistance==100&geometry=Point&coordinates=[127.11,37.41]"
    for kind in ("Device", "Streetlight", "Device,Camera"):
        for query in (near, 'q=name=="pole 7"'):
            r = client.get(f"{API}?type={kind}&{query}")
            assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Thing:multi"], (kind, query)
    r = client.get(f"{API}?type=Camera&{near}")
    assert r.json() == []
    # the index holds a box per type: asked for both types, or for none, it still comes once
    for kind in ("Streetlight,Device", "Device,Streetlight", "(Streetlight|Device)"):
        r = client.get(f"{API}?type={kind}&{near}&count=true")
        assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Thing:multi"], kind
        assert r.headers["NGSILD-Results-Count"] == "1", kind
    r = client.get(f"{API}?{near}&count=true")
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Thing:multi"]
    assert r.headers["NGSILD-Results-Count"] == "1"


def test_index_driven_areas_agree_with_the_exact_plan(client: TestClient) -> None:
    """Within/intersects an area with a hole, and a MultiPolygon: the default plan (R*Tree
    first, no exact test inside the area's inscribed square) finds what the exact plan finds
    (orderBy forces the latter); points on edges and in the hole included."""
    batch = []
    grid = [127.100 + k * 0.001 for k in range(21)]
    for i, lon in enumerate(grid):
        for j, lat in enumerate(37.400 + k * 0.001 for k in range(21)):
            eid = f"urn:ngsi-ld:Streetlight:g{i}-{j}"
            batch.append({"id": eid, "type": "Streetlight", "location": point(lon, lat)})
    for start in range(0, len(batch), 200):
        r = client.post("/ngsi-ld/v1/entityOperations/create", json=batch[start : start + 200])
        assert r.status_code == 201, r.text
    outer = [[127.102, 37.402], [127.118, 37.402], [127.118, 37.418], [127.102, 37.418]]
    hole = [[127.108, 37.408], [127.112, 37.408], [127.112, 37.412], [127.108, 37.412]]
    polygon = json.dumps([[*outer, outer[0]], [*hole, hole[0]]])
    # apart from outer: a MultiPolygon's polygons must not overlap (OGC; cityhub.ngsild.geojson)
    other = [[127.080, 37.380], [127.101, 37.380], [127.101, 37.405], [127.080, 37.405]]
    multi = json.dumps([[[*outer, outer[0]], [*hole, hole[0]]], [[*other, other[0]]]])
    for georel in ("within", "intersects"):
        for geometry, coordinates in (("Polygon", polygon), ("MultiPolygon", multi)):
            query = (
                f"type=Streetlight&georel={georel}&geometry={geometry}&coordinates={coordinates}"
            )
            fast = set(pages(client, query, 50))
            r = client.get(f"{API}?{query}&orderBy=id&limit=1000")
            exact = {e["id"] for e in r.json()}
            assert fast == exact and 150 < len(exact) < 441, (georel, geometry, len(exact))


def test_index_driven_near_agrees_with_the_exact_plan(client: TestClient) -> None:
    """near;maxDistance a Point: the first pass reads a box inside the circle and tests only the
    non-point geometries in it (store/sqlite/geo.py ``near_inner_box``); the answer must be the
    set haversine gives, at the equator, in the south, and at 60 degrees north; points just inside
    and just outside the circle, and a LineString crossing it, included."""
    rng = random.Random(11)
    for cx, cy in ((127.11, 37.41), (0.0, 0.001), (-47.9, -15.8), (10.75, 59.91)):
        batch, where = [], {}
        tag = f"{cx}_{cy}".replace("-", "m")
        for i in range(200):
            # polar spread around the centre: many points near the 1 km circle
            dist = 1000 * (0.2 + 1.6 * rng.random())
            bearing = rng.random() * 6.283185307
            dlat = dist * 0.000008993 * math.cos(bearing)
            dlon = dist * 0.000008993 * math.sin(bearing)
            dlon /= math.cos(math.radians(cy))
            lon, lat = cx + dlon, cy + dlat
            eid = f"urn:ngsi-ld:Streetlight:n{tag}-{i}"
            where[eid] = (lon, lat)
            batch.append({"id": eid, "type": "Streetlight", "location": point(lon, lat)})
        line = {"type": "LineString", "coordinates": [[cx - 0.05, cy], [cx + 0.05, cy + 0.0001]]}
        # small areas: one inside the circle's inner box (the first pass takes it untested),
        # one 1.5 km out (no pass may take it)
        d = 0.0005
        for name, (ax, ay) in (("small-in", (cx, cy)), ("small-out", (cx, cy + 0.0135))):
            corners = [[ax, ay], [ax + d, ay], [ax + d, ay + d], [ax, ay + d], [ax, ay]]
            shape = {"type": "Polygon", "coordinates": [corners]}
            batch.append(
                {
                    "id": f"urn:ngsi-ld:Streetlight:{name}{tag}",
                    "type": "Streetlight",
                    "location": {"type": "GeoProperty", "value": shape},
                }
            )
        batch.append(
            {
                "id": f"urn:ngsi-ld:Streetlight:line{tag}",
                "type": "Streetlight",
                "location": {"type": "GeoProperty", "value": line},
            }
        )
        r = client.post("/ngsi-ld/v1/entityOperations/create", json=batch)
        assert r.status_code == 201, r.text
        query = (
            f"type=Streetlight&georel=near;maxDistance==1000&geometry=Point&coordinates=[{cx},{cy}]"
        )
        fast = set(pages(client, query, 30))
        r = client.get(f"{API}?{query}&orderBy=id&limit=1000")
        exact = {e["id"] for e in r.json()}
        by_haversine = {
            eid for eid, (lon, lat) in where.items() if haversine_m(lon, lat, cx, cy) <= 1000
        }
        assert f"urn:ngsi-ld:Streetlight:line{tag}" in exact  # the line passes the centre
        shapes = {f"urn:ngsi-ld:Streetlight:line{tag}", f"urn:ngsi-ld:Streetlight:small-in{tag}"}
        assert fast == exact == by_haversine | shapes, (cx, cy)
        assert 40 < len(by_haversine) < 160


def test_index_driven_queries_keep_tenants_and_geoproperties_apart(client: TestClient) -> None:
    """The R*Tree's key dimension is the (tenant, GeoProperty) pair (store/sqlite/geo.py): at
    one place, entities of two tenants with two GeoProperties each; every default-order query
    (near a point, within, and near an area, which tests every candidate exactly) sees only
    its tenant's rows of its GeoProperty, as the exact plan (orderBy) does; a GeoProperty no
    entity has (no key) matches nothing."""
    square = [[127.10, 37.40], [127.12, 37.40], [127.12, 37.42], [127.10, 37.42], [127.10, 37.40]]
    for tenant in ("city1", "city2"):
        batch = []
        for i in range(12):
            lon, lat = 127.105 + i * 0.0007, 37.405 + i * 0.0007
            entity = {"id": f"urn:ngsi-ld:Camera:{tenant}-{i}", "type": "Camera"}
            if i % 3:
                entity["location"] = point(lon, lat)
            if i % 2:
                entity["observationSpace"] = point(lon + 0.0001, lat)
            batch.append(entity)
        r = client.post(
            "/ngsi-ld/v1/entityOperations/create", json=batch, headers={"NGSILD-Tenant": tenant}
        )
        assert r.status_code == 201, r.text
    queries = {
        "near": "georel=near;maxDistance==5000&geometry=Point&coordinates=[127.11,37.41]",
        "within": f"georel=within&geometry=Polygon&coordinates={json.dumps([square])}",
        # near an area: no box inside is known to match, so both passes test exactly
        "near an area": (
            f"georel=near;maxDistance==2000&geometry=Polygon&coordinates={json.dumps([square])}"
        ),
    }
    for tenant in ("city1", "city2"):
        headers = {"NGSILD-Tenant": tenant}
        for prop, kept in (("location", lambda i: i % 3), ("observationSpace", lambda i: i % 2)):
            expected = {f"urn:ngsi-ld:Camera:{tenant}-{i}" for i in range(12) if kept(i)}
            for name, geo in queries.items():
                query = f"type=Camera&{geo}&geoproperty={prop}"
                fast = client.get(f"{API}?{query}&limit=100", headers=headers)
                exact = client.get(f"{API}?{query}&limit=100&orderBy=id", headers=headers)
                assert {e["id"] for e in fast.json()} == expected, (tenant, prop, name)
                assert {e["id"] for e in exact.json()} == expected, (tenant, prop, name)
        r = client.get(f"{API}?type=Camera&{queries['near']}&geoproperty=nowhere", headers=headers)
        assert r.status_code == 200 and r.json() == []


def test_changing_an_entitys_types_moves_it_between_type_filtered_geo_queries(
    client: TestClient,
) -> None:
    """The geo index keeps the entity's type on its rows; a replace that changes only the types
    (clause 5.6.18) must still be seen by type-filtered geo-queries."""
    eid = "urn:ngsi-ld:Thing:retyped"
    body = {"id": eid, "type": "Streetlight", "location": point(127.11, 37.41)}
    assert client.post(API, json=body).status_code == 201
    near = "georel=near;maxDistance==100&geometry=Point&coordinates=[127.11,37.41]"

    def found(kind: str) -> bool:
        r = client.get(f"{API}?type={kind}&{near}")
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()] == [eid]

    assert found("Streetlight") and not found("Camera")
    both = {"type": ["Streetlight", "Camera"], "location": point(127.11, 37.41)}
    assert client.put(f"{API}/{eid}", json=both).status_code == 204
    assert found("Streetlight") and found("Camera")
    camera = {"type": "Camera", "location": point(127.11, 37.41)}
    assert client.put(f"{API}/{eid}", json=camera).status_code == 204
    assert found("Camera") and not found("Streetlight")


def test_long_query_strings_are_parsed_once_and_shared() -> None:
    """A district polygon's query string is parsed once (api/params.py parsed_query, used by
    the ApiRequest every route hands its handler); the parsed parameters are immutable and
    the same for every request with that string."""
    from urllib.parse import urlencode

    from cityhub.api.routing import ApiRequest

    ring = [[127.1 + i * 0.001, 37.4 + (i % 7) * 0.001] for i in range(60)]
    ring.append(ring[0])
    raw = urlencode(
        {"type": "Streetlight", "georel": "within", "geometry": "Polygon", "coordinates": [ring]}
    ).encode()

    def request(query: bytes) -> ApiRequest:
        return ApiRequest({"type": "http", "query_string": query, "headers": []})

    first, second = request(raw), request(raw)
    params = first.query_params
    assert params is second.query_params and params["geometry"] == "Polygon"
    assert json.loads(params["coordinates"].replace("'", '"')) == [ring]
    assert first.query_params is params  # later reads in the same request share it
    short = request(b"type=Streetlight&limit=3")
    assert short.query_params["limit"] == "3" and short.query_params.get("attrs") is None
    assert "limit" in short.query_params and "attrs" not in short.query_params
