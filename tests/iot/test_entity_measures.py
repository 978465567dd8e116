"""Measures sent as NGSI-v2 or NGSI-LD entities (iotagent-json docs/usermanual.md "NGSI-v2 and
NGSI-LD Measure reporting": a device or group with ``payloadType`` ``ngsiv2`` or ``ngsild``;
the examples below are the manual's shapes), on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.iot.entity_measures import entity_measures
from cityhub.iot.errors import WrongSyntax
from cityhub.iot.ultralight import MeasureGroup
from tests.iot._support import APIKEY, H, entity, errors, provision_group

SPOT = {
    "id": "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3",
    "type": "ParkingSpot",
    "status": {"type": "Property", "value": "free", "observedAt": "2018-09-21T12:00:00Z"},
    "category": {"type": "Property", "value": ["onstreet"]},
    "refParkingSite": {
        "type": "Relationship",
        "object": "urn:ngsi-ld:ParkingSite:santander:daoiz_velarde_1_5",
    },
    "width": {"type": "Property", "value": 2.5, "unitCode": "MTR"},
    "location": {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [-3.80356167695194, 43.46296641666926]},
    },
    "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
}


def test_the_measures_of_entities() -> None:
    [group] = entity_measures([MeasureGroup(values=SPOT)], "ngsild")
    assert group.values["id"] == SPOT["id"] and group.values["type"] == "ParkingSpot"
    assert group.values["refParkingSite"] == "urn:ngsi-ld:ParkingSite:santander:daoiz_velarde_1_5"
    assert group.types == {
        "status": "",
        "category": "",
        "refParkingSite": "Relationship",
        "width": "",
        "location": "geo:json",
    }
    assert group.metadata == {"width": {"unitCode": {"value": "MTR"}}}
    assert group.timestamp == "2018-09-21T12:00:00Z" and "@context" not in group.values
    batch = {
        "actionType": "append",
        "entities": [
            {"id": "E1", "type": "T", "a": {"type": "Number", "value": 1}},
            {"id": "E2", "type": "T", "a": {"type": "Number", "value": 2, "metadata": {}}},
        ],
    }
    groups = entity_measures([MeasureGroup(values=batch)], "ngsiv2")
    assert [g.values["a"] for g in groups] == [1, 2] and groups[0].types["a"] == "Number"
    too_many = {"id": "E", **{f"a{n}": n for n in range(2000)}}
    for bad in (
        {"actionType": "append", "entities": {}},
        {"actionType": "x", "entities": [1]},
        {"actionType": "x", "entities": [{"a": 1}] * 1001},
        {"actionType": "x", "entities": [too_many]},
    ):
        with pytest.raises(WrongSyntax):
            entity_measures([MeasureGroup(values=bad)], "ngsiv2")


def _post(client: TestClient, body: Any) -> int:
    r = client.post(f"/iot/json?k={APIKEY}&i=spot3", json=body)
    return r.status_code


def test_ngsild_entities_as_measures(client: TestClient) -> None:
    provision_group(client, resource="/iot/json", entity_type="ParkingSpot", payloadType="ngsild")
    assert _post(client, SPOT) == 200
    e = entity(client, "urn:ngsi-ld:ParkingSpot:spot3")
    assert e is not None
    assert e["status"]["value"] == "free"
    assert e["status"]["observedAt"] == "2018-09-21T12:00:00Z"  # the device's observation
    assert e["refParkingSite"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:ParkingSite:santander:daoiz_velarde_1_5",
        "observedAt": "2018-09-21T12:00:00Z",
    }
    assert e["location"]["type"] == "GeoProperty"
    assert e["width"]["value"] == 2.5 and e["width"]["unitCode"] == "MTR"
    assert e["measure_id"]["value"] == SPOT["id"]
    assert e["measure_type"]["value"] == "ParkingSpot"
    # an entity that is not an object: refused, counted, nothing written
    assert _post(client, [SPOT, 3]) == 400
    assert {row["kind"] for row in errors(client)} == {"malformed_payload"}


def test_ngsiv2_batch_as_measures(client: TestClient) -> None:
    provision_group(client, resource="/iot/json", entity_type="Room", payloadType="ngsiv2")
    batch = {
        "actionType": "append",
        "entities": [
            {
                "id": "Room1",
                "type": "Room",
                "temperature": {
                    "type": "Number",
                    "value": 21.5,
                    "metadata": {"unitCode": {"type": "Text", "value": "CEL"}},
                },
                "TimeInstant": {"type": "DateTime", "value": "2023-11-17T11:59:22.661Z"},
            }
        ],
    }
    r = client.post(f"/iot/json?k={APIKEY}&i=room1", json=batch, headers=H)
    assert r.status_code == 200, r.text
    e = entity(client, "urn:ngsi-ld:Room:room1")
    assert e is not None
    assert e["temperature"]["value"] == 21.5 and e["temperature"]["unitCode"] == "CEL"
    assert e["temperature"]["observedAt"] == "2023-11-17T11:59:22.661Z"
    assert e["measure_id"]["value"] == "Room1"
