"""The GeoJSON representation with a projection (issue 22, item 8), on both backends.

ETSI GS CIM 009 v1.8.1 clause 4.5.16 (and 6.3.15): a Feature's ``geometry`` is the value of
the GeoProperty named by ``geometryProperty`` (default ``location``), ``properties`` the
entity's attributes as the request selects them. ``attrs``, ``pick`` and ``omit`` select the
properties only: a query for ``attrs=pm25`` still draws each station where it stands (so
Orion-LD, whose editor wrote the clause, reads it: FIWARE/context.Orion-LD#728). Before, every
such Feature had ``"geometry": null``.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

E = "/ngsi-ld/v1/entities"
QUERY = "/ngsi-ld/v1/entityOperations/query"
GEO = {"Accept": "application/geo+json"}
S1 = "urn:ngsi-ld:AirQualityObserved:seongnam:jeongja"
S2 = "urn:ngsi-ld:AirQualityObserved:seongnam:sinheung"
NOWHERE = "urn:ngsi-ld:AirQualityObserved:seongnam:unplaced"
AREA = [[[127.10, 37.35], [127.12, 37.35], [127.12, 37.37], [127.10, 37.37], [127.10, 37.35]]]


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def station(eid: str, pm25: int, where: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": eid,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": pm25, "unitCode": "GQ"},
        "name": {"type": "Property", "value": eid.rsplit(":", 1)[-1]},
    }
    if where is not None:
        body["location"] = {"type": "GeoProperty", "value": where}
        body["observationSpace"] = {
            "type": "GeoProperty",
            "value": {"type": "Polygon", "coordinates": AREA},
        }
    return body


@pytest.fixture
def city(client: TestClient) -> TestClient:
    for body in (
        station(S1, 38, point(127.1083, 37.3660)),
        station(S2, 12, point(127.1486, 37.4410)),
        station(NOWHERE, 20, None),
    ):
        assert client.post(E, json=body).status_code == 201
    return client


def features(r: Any) -> dict[str, dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection"
    return {f["id"]: f for f in body["features"]}


@pytest.mark.parametrize(
    "projection",
    [
        {"attrs": "pm25"},
        {"pick": "id,type,pm25"},
        {"omit": "location,name,observationSpace"},
        {"attrs": "pm25", "options": "keyValues"},
        {"attrs": "pm25", "format": "concise"},
    ],
)
def test_a_query_keeps_its_geometry_whatever_the_projection(
    city: TestClient, projection: dict[str, str]
) -> None:
    found = features(city.get(E, params={"type": "AirQualityObserved", **projection}, headers=GEO))
    assert found[S1]["geometry"] == point(127.1083, 37.3660)
    assert found[S2]["geometry"] == point(127.1486, 37.4410)
    assert found[NOWHERE]["geometry"] is None  # no location: null, as RFC 7946 clause 3.2 allows
    for feature in found.values():  # the properties are what the projection selected
        assert set(feature["properties"]) == {"type", "pm25"}, feature


def test_retrieve_keeps_its_geometry(city: TestClient) -> None:
    r = city.get(f"{E}/{S1}", params={"attrs": "pm25"}, headers=GEO)
    assert r.status_code == 200, r.text
    feature = r.json()
    assert feature["type"] == "Feature" and feature["id"] == S1
    assert feature["geometry"] == point(127.1083, 37.3660)
    assert feature["properties"] == {
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": 38, "unitCode": "GQ"},
    }
    r = city.get(f"{E}/{S1}", params={"pick": "pm25"}, headers=GEO)
    assert r.json()["geometry"] == point(127.1083, 37.3660)
    assert r.json()["properties"] == {"pm25": {"type": "Property", "value": 38, "unitCode": "GQ"}}


def test_post_query_keeps_its_geometry(city: TestClient) -> None:
    body = {"type": "Query", "entities": [{"type": "AirQualityObserved"}], "attrs": ["pm25"]}
    found = features(city.post(QUERY, json=body, headers=GEO))
    assert found[S1]["geometry"] == point(127.1083, 37.3660)
    assert found[NOWHERE]["geometry"] is None
    assert set(found[S2]["properties"]) == {"type", "pm25"}


def test_the_geometry_property_names_the_geometry_not_the_properties(city: TestClient) -> None:
    params = {"type": "AirQualityObserved", "attrs": "pm25", "geometryProperty": "observationSpace"}
    found = features(city.get(E, params=params, headers=GEO))
    assert found[S1]["geometry"] == {"type": "Polygon", "coordinates": AREA}
    assert set(found[S1]["properties"]) == {"type", "pm25"}
    one = {"pick": "name", "geometryProperty": "observationSpace"}
    r = city.get(f"{E}/{S1}", params=one, headers=GEO)
    assert r.json()["geometry"] == {"type": "Polygon", "coordinates": AREA}
    assert r.json()["properties"] == {"name": {"type": "Property", "value": "jeongja"}}
    # a name that is no GeoProperty of the entity: null (ETSI 018_05_04), not an error
    params["geometryProperty"] = "name"
    assert all(
        f["geometry"] is None for f in features(city.get(E, params=params, headers=GEO)).values()
    )


def test_a_selected_geometry_is_rendered_as_before(city: TestClient) -> None:
    """When the projection keeps the geometry attribute it is both the geometry and a
    property, as without a projection (018_05_02)."""
    r = city.get(E, params={"type": "AirQualityObserved", "attrs": "pm25,location"}, headers=GEO)
    found = features(r)
    assert found[S1]["geometry"] == point(127.1083, 37.3660)
    assert found[S1]["properties"]["location"] == {
        "type": "GeoProperty",
        "value": point(127.1083, 37.3660),
    }


def test_a_geometry_property_that_is_no_name_is_refused(city: TestClient) -> None:
    r = city.get(E, params={"type": "AirQualityObserved", "geometryProperty": "a b"}, headers=GEO)
    assert r.status_code == 400 and "geometryProperty" in r.json()["detail"], r.text
