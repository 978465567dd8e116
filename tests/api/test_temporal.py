"""Temporal routes: ETSI GS CIM 009 v1.8.1 clauses 5.6.11-5.6.16 (provision), 5.7.3-5.7.4
(consumption), 4.11 (temporal query), HTTP binding 6.18-6.22 and 6.24."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings

T = "/ngsi-ld/v1/temporal/entities"
E = "/ngsi-ld/v1/entities"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
VID = "urn:ngsi-ld:Vehicle:1"


def _app(tmp_path: Path, instance_limit: int = 1000) -> Starlette:
    app = create_app(Settings(store=f"sqlite:///{tmp_path / 'test.db'}"))
    app.state.temporal.instance_limit = instance_limit
    return app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as c:
        yield c


def vehicle(eid: str = VID, **attrs: Any) -> dict[str, Any]:
    return {
        "id": eid,
        "type": "Vehicle",
        **(
            attrs
            or {
                "speed": [
                    {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z"},
                    {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z"},
                    {"type": "Property", "value": 100, "observedAt": "2020-08-01T12:07:00Z"},
                ],
                "fuelLevel": [
                    {"type": "Property", "value": 67, "observedAt": "2020-08-01T12:03:00Z"},
                    {"type": "Property", "value": 53, "observedAt": "2020-08-01T13:05:00Z"},
                    {
                        "type": "Property",
                        "value": 40,
                        "observedAt": "2020-08-01T14:07:00Z",
                        "datasetId": "urn:ngsi-ld:Dataset:fuel",
                    },
                ],
            }
        ),
    }


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == ERR + kind and body["title"]
    return body


def values(doc: dict[str, Any], name: str) -> list[Any]:
    return [i.get("value", i.get("object")) for i in doc[name]]


# 5.6.11 Create or Update Temporal Representation of an Entity
def test_create_then_update_temporal_entity(client: TestClient) -> None:
    r = client.post(T, json=vehicle())
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{T}/{VID}"
    update = vehicle(
        speed=[
            {"type": "Property", "value": 121, "observedAt": "2020-08-01T12:03:00Z"},
            {"type": "Property", "value": 90, "observedAt": "2020-08-01T12:09:00Z"},
        ]
    )
    assert client.post(T, json=update).status_code == 204
    doc = client.get(f"{T}/{VID}").json()
    # an instance with the same observedAt (and datasetId) is replaced, not duplicated
    assert values(doc, "speed") == [121, 80, 100, 90]
    assert all(i["instanceId"].startswith("urn:ngsi-ld:Instance:") for i in doc["speed"])
    assert len({i["instanceId"] for i in doc["speed"] + doc["fuelLevel"]}) == 7


def test_create_makes_the_entity_from_the_latest_instances(client: TestClient) -> None:
    client.post(T, json=vehicle())
    current = client.get(f"{E}/{VID}").json()
    assert current["speed"]["value"] == 100
    assert {i["value"] for i in current["fuelLevel"]} == {53, 40}


def test_create_rejects_bad_bodies(client: TestClient) -> None:
    problem(
        client.post(T, content=b"{", headers={"content-type": "application/json"}),
        400,
        "InvalidRequest",
    )
    problem(client.post(T, json={"type": "Vehicle"}), 400, "BadRequestData")
    problem(client.post(T, json=vehicle("invalidId")), 400, "BadRequestData")
    bad = vehicle(speed=[{"type": "Property", "value": 1, "observedAt": "noon"}])
    problem(client.post(T, json=bad), 400, "BadRequestData")


# 6.3.4 media types on the temporal routes
def test_media_types(client: TestClient) -> None:
    r = client.post(T, content=b"<x/>", headers={"content-type": "application/xml"})
    assert r.status_code == 415
    params = {"type": "Vehicle", "timerel": "after", "timeAt": "2020-08-01T12:05:00Z"}
    for accept in ("application/xml", "application/geo+json"):
        assert client.get(T, params=params, headers={"accept": accept}).status_code == 406
    client.post(T, json=vehicle())
    r = client.get(T, params=params, headers={"accept": "*/*"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "link" in r.headers
    r = client.get(f"{T}/{VID}", headers={"accept": "application/ld+json"})
    assert r.json()["@context"]


# 5.7.3 Retrieve Temporal Evolution of an Entity
def test_retrieve_errors(client: TestClient) -> None:
    problem(client.get(f"{T}/invalidUri"), 400, "BadRequestData")
    problem(client.get(f"{T}/urn:ngsi-ld:Vehicle:nope"), 404, "ResourceNotFound")
    client.post(T, json=vehicle())
    problem(client.get(f"{T}/{VID}", params={"attrs": "unknown"}), 404, "ResourceNotFound")
    problem(client.get(f"{T}/{VID}", params={"pick": "unknown"}), 404, "ResourceNotFound")
    problem(
        client.get(f"{T}/{VID}", params={"pick": "speed", "omit": "speed"}), 400, "BadRequestData"
    )
    problem(client.get(f"{T}/{VID}", params={"timerel": "after"}), 400, "BadRequestData")


# 4.11 timerel before / after / between
@pytest.mark.parametrize(
    ("params", "speeds", "fuel"),
    [
        ({"timerel": "after", "timeAt": "2020-08-01T12:05:00Z"}, [100], [53, 40]),
        ({"timerel": "before", "timeAt": "2020-08-01T12:05:00Z"}, [120], [67]),
        (
            {
                "timerel": "between",
                "timeAt": "2020-08-01T12:05:00Z",
                "endTimeAt": "2020-08-01T13:05:00Z",
            },
            [80, 100],
            [],
        ),
    ],
)
def test_timerel(
    client: TestClient, params: dict[str, str], speeds: list[int], fuel: list[int]
) -> None:
    client.post(T, json=vehicle())
    doc = client.get(f"{T}/{VID}", params=params).json()
    assert values(doc, "speed") == speeds
    assert values(doc, "fuelLevel") == fuel if fuel else "fuelLevel" not in doc


# 6.18.3.2 lastN
def test_last_n(client: TestClient) -> None:
    client.post(T, json=vehicle())
    doc = client.get(f"{T}/{VID}", params={"lastN": "2"}).json()
    assert values(doc, "speed") == [80, 100]
    assert values(doc, "fuelLevel") == [53, 40]


# 4.5.9 temporalValues; 6.3.7 format wins over options
def test_temporal_values(client: TestClient) -> None:
    client.post(T, json=vehicle())
    doc = client.get(f"{T}/{VID}", params={"options": "temporalValues", "attrs": "speed"}).json()
    assert doc["speed"] == {
        "type": "Property",
        "values": [
            [120, "2020-08-01T12:03:00Z"],
            [80, "2020-08-01T12:05:00Z"],
            [100, "2020-08-01T12:07:00Z"],
        ],
    }
    assert "fuelLevel" not in doc
    r = client.get(
        f"{T}/{VID}",
        params={"format": "temporalValues", "options": "aggregatedValues", "aggrMethods": "sum"},
    )
    assert "values" in r.json()["speed"]
    problem(client.get(f"{T}/{VID}", params={"format": "bogus"}), 400, "InvalidRequest")


# 4.5.19 aggregatedValues
def test_aggregated_values(client: TestClient) -> None:
    client.post(T, json=vehicle())
    params = {"options": "aggregatedValues", "aggrMethods": "avg,max", "aggrPeriodDuration": "PT1H"}
    doc = client.get(f"{T}/{VID}", params=params).json()
    assert doc["speed"]["avg"] == [[100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]]
    assert doc["speed"]["max"] == [[120.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]]
    problem(client.get(f"{T}/{VID}", params={"options": "aggregatedValues"}), 400, "BadRequestData")


def _sensor(client: TestClient) -> None:
    body = vehicle(
        "urn:ngsi-ld:Sensor:1",
        temperature=[
            {"type": "Property", "value": 10, "observedAt": "2024-01-01T00:00:00Z"},
            {"type": "Property", "value": 20, "observedAt": "2024-01-01T00:30:00Z"},
            {"type": "Property", "value": 40, "observedAt": "2024-01-01T02:10:00Z"},
        ],
    )
    body["type"] = "Sensor"
    assert client.post(T, json=body).status_code == 201


# 4.5.19: every method, computed by hand; the empty period between two is listed
def test_aggregated_every_method_with_an_empty_period(client: TestClient) -> None:
    _sensor(client)
    methods = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"
    params = {"options": "aggregatedValues", "aggrMethods": methods, "aggrPeriodDuration": "PT1H"}
    doc = client.get(f"{T}/urn:ngsi-ld:Sensor:1", params=params).json()
    periods = [
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],  # 10, 20
        ["2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"],  # nothing
        ["2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z"],  # 40
    ]
    expected = {
        "totalCount": [2, 0, 1],
        "distinctCount": [2, 0, 1],
        "sum": [30.0, None, 40.0],
        "avg": [15.0, None, 40.0],
        "min": [10.0, None, 40.0],
        "max": [20.0, None, 40.0],
        "stddev": [5.0, None, 0.0],  # population: sqrt(((10-15)² + (20-15)²) / 2)
        "sumsq": [500.0, None, 1600.0],
    }
    assert doc["temperature"] == {
        "type": "Property",
        **{m: [[v, *p] for v, p in zip(vs, periods, strict=True)] for m, vs in expected.items()},
    }


# 4.5.19.1: PT0S (or no aggrPeriodDuration) is one period over the query's time range
def test_aggregated_whole_range_of_a_between_query(client: TestClient) -> None:
    _sensor(client)
    params = {
        "options": "aggregatedValues",
        "aggrMethods": "sum",
        "aggrPeriodDuration": "PT0S",
        "timerel": "between",
        "timeAt": "2023-12-31T00:00:00Z",
        "endTimeAt": "2024-01-02T00:00:00Z",
    }
    doc = client.get(f"{T}/urn:ngsi-ld:Sensor:1", params=params).json()
    assert doc["temperature"]["sum"] == [[70.0, "2023-12-31T00:00:00Z", "2024-01-02T00:00:00Z"]]
    params["aggrPeriodDuration"] = "P1D"  # the grid starts at timeAt
    doc = client.get(f"{T}/urn:ngsi-ld:Sensor:1", params=params).json()
    assert doc["temperature"]["sum"] == [[70.0, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]]


# 5.7.4 with aggregatedValues, multi-instance attributes (one object per datasetId)
def test_aggregated_query_entities(client: TestClient) -> None:
    client.post(T, json=vehicle())
    params = {
        "type": "Vehicle",
        "options": "aggregatedValues",
        "aggrMethods": "totalCount",
        "attrs": "fuelLevel",
    }
    (doc,) = client.get(T, params=params).json()
    assert doc["fuelLevel"] == [
        {"type": "Property", "totalCount": [[2, "2020-08-01T12:03:00Z", "2020-08-01T13:05:00Z"]]},
        {
            "type": "Property",
            "datasetId": "urn:ngsi-ld:Dataset:fuel",
            "totalCount": [[1, "2020-08-01T14:07:00Z", "2020-08-01T14:07:00Z"]],
        },
    ]
    problem(client.get(T, params={**params, "aggrPeriodDuration": "P1X"}), 400, "BadRequestData")


# history written by the entity API, in the same transaction (DESIGN.md decisions 2 and 4)
def test_entity_api_changes_are_recorded(client: TestClient) -> None:
    body = {"id": VID, "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
    assert client.post(E, json=body).status_code == 201
    client.patch(f"{E}/{VID}/attrs", json={"speed": {"type": "Property", "value": 2}})
    client.post(f"{E}/{VID}/attrs", json={"name": {"type": "Property", "value": "bus"}})
    doc = client.get(f"{T}/{VID}", params={"options": "sysAttrs"}).json()
    assert values(doc, "speed") == [1, 2]
    assert values(doc, "name") == ["bus"]  # unchanged speed was not recorded again
    assert all("createdAt" in i and "modifiedAt" in i for i in doc["speed"])


# 4.5.0 / 5.6.5: deleting an attribute records NGSI-LD Null with deletedAt
def test_deleted_attribute_is_recorded_with_deleted_at(client: TestClient) -> None:
    client.post(T, json=vehicle())
    assert client.delete(f"{E}/{VID}/attrs/speed").status_code == 204
    doc = client.get(f"{T}/{VID}", params={"timeproperty": "deletedAt"}).json()
    assert list(doc) == ["id", "type", "speed"]
    (marker,) = doc["speed"]
    assert marker["value"] == "urn:ngsi-ld:null" and marker["deletedAt"]


# 5.6.6: an entity deleted from the current state keeps its history
def test_deleted_entity_stays_in_history(client: TestClient) -> None:
    client.post(E, json={"id": VID, "type": "Vehicle", "speed": {"type": "Property", "value": 1}})
    assert client.delete(f"{E}/{VID}").status_code == 204
    doc = client.get(f"{T}/{VID}").json()
    assert doc["deletedAt"]
    assert [i["value"] for i in doc["speed"]] == [1, "urn:ngsi-ld:null"]
    found = client.get(T, params={"type": "Vehicle"}).json()
    assert [d["id"] for d in found] == [VID]


# q and scopeQ of a temporal query test the entity's current state, or its last one once
# deleted; the temporal entity's system times are the entity's
def test_query_filters_on_the_current_or_last_state(client: TestClient) -> None:
    body = {"id": VID, "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
    client.post(E, json=body)
    client.patch(f"{E}/{VID}/attrs", json={"speed": {"type": "Property", "value": 50}})
    q = {"type": "Vehicle", "q": "speed>10", "options": "sysAttrs"}
    (doc,) = client.get(T, params=q).json()
    current = client.get(f"{E}/{VID}", params={"options": "sysAttrs"}).json()
    assert doc["modifiedAt"] == current["modifiedAt"] != current["createdAt"]
    assert client.get(T, params={"type": "Vehicle", "q": "speed<10"}).json() == []
    client.post(E, json={"id": "urn:ngsi-ld:Vehicle:2", "type": "Vehicle", "scope": "/a"})
    client.patch(f"{E}/urn:ngsi-ld:Vehicle:2/attrs", json={"scope": "/b"})
    found = client.get(T, params={"type": "Vehicle", "scopeQ": "/b"}).json()
    assert [d["id"] for d in found] == ["urn:ngsi-ld:Vehicle:2"]
    assert client.delete(f"{E}/{VID}").status_code == 204
    assert [d["id"] for d in client.get(T, params={"type": "Vehicle", "q": "speed>10"}).json()] == [
        VID
    ]


# 5.6.12 Add Attributes to Temporal Representation of an Entity
def test_append_attributes(client: TestClient) -> None:
    client.post(T, json=vehicle())
    extra = {"added": [{"type": "Property", "value": 5, "observedAt": "2020-08-01T12:00:00Z"}]}
    assert client.post(f"{T}/{VID}/attrs", json=extra).status_code == 204
    assert values(client.get(f"{T}/{VID}").json(), "added") == [5]
    problem(client.post(f"{T}/urn:ngsi-ld:Vehicle:nope/attrs", json=extra), 404, "ResourceNotFound")
    problem(client.post(f"{T}/invalid/attrs", json=extra), 400, "BadRequestData")


# 5.6.13 Delete Attribute from Temporal Representation of an Entity
def test_delete_attribute_history(client: TestClient) -> None:
    client.post(T, json=vehicle())
    assert client.delete(f"{T}/{VID}/attrs/fuelLevel").status_code == 204
    assert values(client.get(f"{T}/{VID}").json(), "fuelLevel") == [40]
    r = client.delete(
        f"{T}/{VID}/attrs/fuelLevel", params={"datasetId": "urn:ngsi-ld:Dataset:fuel"}
    )
    assert r.status_code == 204
    assert "fuelLevel" not in client.get(f"{T}/{VID}").json()
    assert client.delete(f"{T}/{VID}/attrs/speed", params={"deleteAll": "true"}).status_code == 204
    problem(client.delete(f"{T}/{VID}/attrs/speed"), 404, "ResourceNotFound")
    problem(client.delete(f"{T}/{VID}/attrs/invalid(Name"), 400, "BadRequestData")


# 5.6.14 Modify Attribute instance; 5.6.15 Delete Attribute instance
def test_modify_and_delete_instance(client: TestClient) -> None:
    client.post(T, json=vehicle())
    first = client.get(f"{T}/{VID}").json()["speed"][0]
    fragment = {"type": "Property", "value": 129, "observedAt": "2020-08-01T12:03:00Z"}
    url = f"{T}/{VID}/attrs/speed/{first['instanceId']}"
    assert client.patch(url, json=fragment).status_code == 204
    after = client.get(f"{T}/{VID}").json()["speed"][0]
    assert after["value"] == 129 and after["instanceId"] == first["instanceId"]
    problem(
        client.patch(f"{T}/{VID}/attrs/speed/urn:ngsi-ld:Instance:x", json=fragment),
        404,
        "ResourceNotFound",
    )
    problem(client.patch(f"{T}/{VID}/attrs/speed/invalidId", json=fragment), 400, "BadRequestData")
    assert client.patch(f"{T}/{VID}/attrs/speed", json=fragment).status_code == 405
    assert client.delete(url).status_code == 204
    assert values(client.get(f"{T}/{VID}").json(), "speed") == [80, 100]
    problem(client.delete(url), 404, "ResourceNotFound")


# 5.6.16 Delete Temporal Representation of an Entity
def test_delete_temporal_entity(client: TestClient) -> None:
    client.post(T, json=vehicle())
    assert client.delete(f"{T}/{VID}").status_code == 204
    problem(client.get(f"{T}/{VID}"), 404, "ResourceNotFound")
    assert client.get(f"{E}/{VID}").status_code == 404
    problem(client.delete(f"{T}/{VID}"), 404, "ResourceNotFound")
    problem(client.delete(f"{T}/invalidId"), 400, "BadRequestData")
    assert client.delete(T).status_code == 405


# 5.7.4 Query Temporal Evolution of Entities
def test_query(client: TestClient) -> None:
    client.post(T, json=vehicle())
    client.post(T, json=vehicle("urn:ngsi-ld:Vehicle:2"))
    bus = vehicle("urn:ngsi-ld:Bus:1")
    bus["type"] = "Bus"
    client.post(T, json=bus)
    problem(
        client.get(T, params={"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}),
        400,
        "BadRequestData",
    )
    problem(client.get(T, params={"id": VID}), 400, "BadRequestData")
    r = client.get(T, params={"type": "Vehicle", "count": "true", "limit": "1"})
    assert r.headers["ngsild-results-count"] == "2" and len(r.json()) == 1
    after = {"type": "Vehicle,Bus", "timerel": "after", "timeAt": "2020-08-01T14:00:00Z"}
    docs = client.get(T, params=after).json()
    assert {d["id"] for d in docs} == {VID, "urn:ngsi-ld:Vehicle:2", "urn:ngsi-ld:Bus:1"}
    assert all(list(d) == ["id", "type", "fuelLevel"] for d in docs)
    late = {"type": "Vehicle", "timerel": "after", "timeAt": "2021-01-01T00:00:00Z"}
    assert client.get(T, params=late).json() == []  # entities with no instance in the window
    docs = client.get(T, params={"type": "Vehicle", "q": "speed>90", "attrs": "speed"}).json()
    assert len(docs) == 2 and all(set(d) == {"id", "type", "speed"} for d in docs)
    docs = client.get(T, params={"type": "Vehicle", "datasetId": "urn:ngsi-ld:Dataset:fuel"}).json()
    assert all(list(d) == ["id", "type", "fuelLevel"] for d in docs)


# clause 5.7.4 with a geo-query (clause 4.10; ETSI 021_09): near a point, within a polygon
def test_query_with_a_geo_query(client: TestClient) -> None:
    for eid, lon in ((VID, 127.10), ("urn:ngsi-ld:Vehicle:far", 127.30)):
        body = vehicle(eid)
        body["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [lon, 37.4]},
        }
        assert client.post(T, json=body).status_code == 201
        # the temporal API writes history; the entity API makes the current location
        assert client.post(
            E, json={"id": eid, "type": "Vehicle", "location": body["location"]}
        ).status_code in (201, 409)
    window = {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z", "type": "Vehicle"}
    near = {
        **window,
        "georel": "near;maxDistance==1000",
        "geometry": "Point",
        "coordinates": "[127.1,37.4]",
    }
    r = client.get(T, params=near)
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()] == [VID]
    ring = "[[[127.05,37.35],[127.15,37.35],[127.15,37.45],[127.05,37.45],[127.05,37.35]]]"
    within = {**window, "georel": "within", "geometry": "Polygon", "coordinates": ring}
    r = client.get(T, params=within)
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()] == [VID]


# 5.7.4 via POST /temporal/entityOperations/query (HTTP 6.24)
def test_query_via_post(client: TestClient) -> None:
    client.post(T, json=vehicle())
    body = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {"timerel": "before", "timeAt": "2020-08-01T12:04:00Z"},
    }
    r = client.post("/ngsi-ld/v1/temporal/entityOperations/query", json=body)
    assert r.status_code == 200, r.text
    (doc,) = r.json()
    assert values(doc, "speed") == [120] and values(doc, "fuelLevel") == [67]
    bad = {"type": "Query", "temporalQ": {"timerel": "before"}, "entities": [{"type": "Vehicle"}]}
    problem(
        client.post("/ngsi-ld/v1/temporal/entityOperations/query", json=bad), 400, "BadRequestData"
    )


# 6.3.10: more instances than the hub returns at once → 206 Partial Content + Content-Range
def test_instance_pagination(tmp_path: Path) -> None:
    with TestClient(_app(tmp_path, instance_limit=4), raise_server_exceptions=False) as client:
        client.post(T, json=vehicle())
        r = client.get(f"{T}/{VID}")
        assert r.status_code == 206
        assert r.headers["content-range"] == (
            "date-time 2020-08-01T12:03:00Z-2020-08-01T12:07:00Z/*"
        )
        assert len(r.json()["speed"]) + len(r.json()["fuelLevel"]) == 4
        r = client.get(f"{T}/{VID}", params={"lastN": "3"})
        assert r.status_code == 206 and r.headers["content-range"].endswith("/3")


# the first and last representable instants: answers, never a 500
@pytest.mark.parametrize("period", ["PT1S", "P1M", "P1M1D", "P9999Y", "P99999999D"])
def test_aggregation_at_the_ends_of_time(client: TestClient, period: str) -> None:
    times = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
    body = vehicle(speed=[{"type": "Property", "value": 1, "observedAt": t} for t in times])
    assert client.post(T, json=body).status_code == 201
    params = {
        "options": "aggregatedValues",
        "aggrMethods": "totalCount",
        "aggrPeriodDuration": period,
    }
    r = client.get(f"{T}/{VID}", params=params)
    assert r.status_code in (200, 206), r.text
    counts = r.json()["speed"]["totalCount"]
    together = period in ("P9999Y", "P99999999D")  # one period holds both instants
    assert counts[0][0] == (2 if together else 1) and counts[0][1] == "0001-01-01T00:00:00Z"


# 6.3.10 in the aggregated representation: a period counts as an instance
def test_aggregated_pagination(tmp_path: Path) -> None:
    with TestClient(_app(tmp_path, instance_limit=2), raise_server_exceptions=False) as client:
        _sensor(client)
        params = {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "PT1H"}
        r = client.get(f"{T}/urn:ngsi-ld:Sensor:1", params=params)
        assert r.status_code == 206
        assert r.headers["content-range"] == "date-time 2024-01-01T00:00:00Z-2024-01-01T02:00:00Z/*"
        assert [v for v, _, _ in r.json()["temperature"]["sum"]] == [30.0, None]


# the history setting: off, the entity API's changes are not recorded; the temporal API works
def test_history_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path / 'off.db'}", history=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = {"id": VID, "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
        assert client.post(E, json=body).status_code == 201
        assert client.get(f"{T}/{VID}").status_code == 404
        assert client.post(T, json=vehicle("urn:ngsi-ld:Vehicle:2")).status_code == 201
        assert len(client.get(f"{T}/urn:ngsi-ld:Vehicle:2").json()["speed"]) == 3
    # on again: the entities made meanwhile get their history from their next change
    on = Settings(store=settings.store)
    with TestClient(create_app(on), raise_server_exceptions=False) as client:
        client.patch(f"{E}/{VID}/attrs", json={"speed": {"type": "Property", "value": 2}})
        assert values(client.get(f"{T}/{VID}").json(), "speed") == [2]


def test_bad_retention_setting_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'r.db'}", history_retention_by_tenant="city1:30"
    )
    with pytest.raises(ValueError, match="history_retention_by_tenant"):
        create_app(settings)


# tenants keep separate histories (clause 4.20)
def test_tenant_history(client: TestClient) -> None:
    h = {"NGSILD-Tenant": "city1"}
    assert client.post(T, json=vehicle(), headers=h).status_code == 201
    assert client.get(f"{T}/{VID}", headers=h).status_code == 200
    assert client.get(f"{T}/{VID}").status_code == 404
    problem(client.get(f"{T}/{VID}", headers={"NGSILD-Tenant": "nope"}), 404, "NonexistentTenant")


# time-range reads use the series key, then the rows clustered on (series, time)
def test_history_reads_use_the_index(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app, raise_server_exceptions=False):
        query = TemporalQuery(timerel="after", time_at="2020-01-01T00:00:00.000000Z")
        plan = asyncio.run(app.state.temporal.explain_history("", VID, query))
    # the entity's series by their key, then one range of each one's rows (no scan)
    assert any("history_series_key" in step for step in plan), plan
    assert any("SEARCH r USING PRIMARY KEY (series=? AND at>?)" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
