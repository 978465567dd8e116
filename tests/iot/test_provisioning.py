"""The provisioning API, as iotagent-node-lib's doc/api.md "API Routes" defines it, on both
backends: groups (and /iot/services), devices, status codes and FIWARE's error names."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.iot._support import APIKEY, H, group, provision_group


def test_group_round_trip_and_services_alias(client: TestClient) -> None:
    provision_group(client)
    listed = client.get("/iot/groups", headers=H).json()
    assert listed["count"] == 1
    (g,) = listed["groups"]
    assert g["apikey"] == APIKEY and g["resource"] == "/iot/d" and g["entity_type"] == "Thing"
    assert g["service"] == "openiot" and g["subservice"] == "/"
    assert g["attributes"][0]["metadata"]["unitCode"]["value"] == "CEL"
    # the older name answers with the older key
    old = client.get("/iot/services", headers=H).json()
    assert old["count"] == 1 and old["services"][0]["apikey"] == APIKEY
    r = client.post(
        "/iot/services", json={"services": [group(apikey="other", resource="/iot/json")]}, headers=H
    )
    assert r.status_code == 201
    assert client.get("/iot/groups", headers=H).json()["count"] == 2


def test_group_duplicate_is_409_duplicate_group(client: TestClient) -> None:
    provision_group(client)
    r = client.post("/iot/groups", json={"groups": [group()]}, headers={"Fiware-Service": "x"})
    assert r.status_code == 409
    assert r.json()["name"] == "DUPLICATE_GROUP" and r.json()["status"] == 409
    # all or nothing: a body whose second group is a duplicate creates neither
    r = client.post("/iot/groups", json={"groups": [group(apikey="fresh"), group()]}, headers=H)
    assert r.status_code == 409
    assert client.get("/iot/groups", headers=H).json()["count"] == 1


def test_group_update_and_delete(client: TestClient) -> None:
    provision_group(client)
    q = f"?apikey={APIKEY}&resource=/iot/d"
    r = client.put(
        "/iot/groups" + q, json={"entity_type": "Sensor", "autoprovision": False}, headers=H
    )
    assert r.status_code == 204, r.text
    (g,) = client.get("/iot/groups", headers=H).json()["groups"]
    assert g["entity_type"] == "Sensor" and g["autoprovision"] is False
    assert g["attributes"][0]["name"] == "temperature"  # untouched fields stay
    r = client.put("/iot/groups?apikey=nope&resource=/iot/d", json={}, headers=H)
    assert r.status_code == 404 and r.json()["name"] == "DEVICE_GROUP_NOT_FOUND"
    r = client.delete("/iot/groups?apikey=" + APIKEY, headers=H)
    assert r.status_code == 400 and r.json()["name"] == "MISSING_CONFIG_PARAMS"
    assert client.delete("/iot/groups" + q, headers=H).status_code == 204
    assert client.get("/iot/groups", headers=H).json() == {"count": 0, "groups": []}
    assert client.delete("/iot/groups" + q, headers=H).status_code == 404


def test_group_validation_errors_are_wrong_syntax(client: TestClient) -> None:
    bad = [
        {"groups": [{"resource": "/iot/d"}]},  # no apikey
        {"groups": [group(apikey="a/b")]},  # a topic separator in the apikey
        {"groups": [group(attributes=[{"name": "t"}])]},  # no type
        {"groups": [group(attributes="t")]},
        {"groups": [group(autoprovision="yes")]},
        {"groups": []},
        {"services": [group()]},  # /iot/groups takes "groups"
        [group()],
    ]
    for body in bad:
        r = client.post("/iot/groups", json=body, headers=H)
        assert r.status_code == 400, body
        assert r.json()["name"] == "WRONG_SYNTAX", r.json()
        assert r.json()["detail"]
    r = client.post(
        "/iot/groups",
        json={
            "groups": [group(attributes=[{"name": "f", "type": "Number", "expression": "a +* 2"}])]
        },
        headers=H,
    )
    assert r.status_code == 400 and r.json()["name"] == "INVALID_EXPRESSION"
    r = client.post(
        "/iot/groups", content=b"{nope", headers={**H, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert client.get("/iot/groups", headers=H).json()["count"] == 0


def test_fiware_service_is_the_tenant_and_service_path_filters(client: TestClient) -> None:
    provision_group(client)
    r = client.post(
        "/iot/groups",
        json={"groups": [group(apikey="k2")]},
        headers={"Fiware-Service": "openiot", "Fiware-ServicePath": "/bundang"},
    )
    assert r.status_code == 201
    assert client.get("/iot/groups", headers={"Fiware-Service": "other"}).json()["count"] == 0
    assert client.get("/iot/groups", headers={"Fiware-Service": "openiot"}).json()["count"] == 2
    star = {"Fiware-Service": "openiot", "Fiware-ServicePath": "/*"}
    assert client.get("/iot/groups", headers=star).json()["count"] == 2
    one = client.get(
        "/iot/groups", headers={"Fiware-Service": "openiot", "Fiware-ServicePath": "/bundang"}
    )
    assert [g["apikey"] for g in one.json()["groups"]] == ["k2"]
    r = client.get("/iot/groups", headers={"Fiware-Service": "bad service!"})
    assert r.status_code == 400 and r.json()["name"] == "WRONG_SYNTAX"


def test_device_round_trip(client: TestClient) -> None:
    provision_group(client)
    body = {
        "devices": [
            {
                "device_id": "motion001",
                "entity_name": "urn:ngsi-ld:Motion:001",
                "entity_type": "Motion",
                "apikey": APIKEY,
                "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}],
                "static_attributes": [
                    {"name": "refStore", "type": "Relationship", "value": "urn:ngsi-ld:Store:001"}
                ],
            },
            {"device_id": "lamp001"},
        ]
    }
    r = client.post("/iot/devices", json=body, headers=H)
    assert r.status_code == 201 and r.json() == {}
    listed = client.get("/iot/devices", headers=H).json()
    assert listed["count"] == 2
    d = client.get("/iot/devices/motion001", headers=H).json()
    assert d["entity_name"] == "urn:ngsi-ld:Motion:001" and d["service_path"] == "/"
    assert d["static_attributes"][0]["value"] == "urn:ngsi-ld:Store:001"
    lamp = client.get("/iot/devices/lamp001", headers=H).json()
    assert lamp["entity_name"] == "urn:ngsi-ld:Thing:lamp001"  # its type: the default
    r = client.put(
        "/iot/devices/lamp001", json={"entity_type": "Lamp", "device_id": "x"}, headers=H
    )
    assert r.status_code == 204
    lamp = client.get("/iot/devices/lamp001", headers=H).json()
    assert lamp["entity_type"] == "Lamp" and lamp["device_id"] == "lamp001"
    page = client.get("/iot/devices?limit=1&offset=1", headers=H).json()
    assert page["count"] == 2 and [d["device_id"] for d in page["devices"]] == ["lamp001"]
    assert client.delete("/iot/devices/lamp001", headers=H).status_code == 204
    r = client.get("/iot/devices/lamp001", headers=H)
    assert r.status_code == 404 and r.json()["name"] == "DEVICE_NOT_FOUND"
    assert client.delete("/iot/devices/lamp001", headers=H).status_code == 404
    assert client.put("/iot/devices/lamp001", json={}, headers=H).status_code == 404


def test_device_duplicates_and_bad_ids(client: TestClient) -> None:
    r = client.post("/iot/devices", json={"devices": [{"device_id": "d1"}]}, headers=H)
    assert r.status_code == 201
    r = client.post("/iot/devices", json={"devices": [{"device_id": "d1"}]}, headers=H)
    assert r.status_code == 409 and r.json()["name"] == "DUPLICATE_DEVICE_ID"
    # another service may use the same id
    r = client.post(
        "/iot/devices", json={"devices": [{"device_id": "d1"}]}, headers={"Fiware-Service": "b"}
    )
    assert r.status_code == 201
    for bad in (
        {"device_id": "a#b"},
        {"device_id": ""},
        {"device_id": 7},
        {"entity_type": "X"},
        # an NGSI-LD entity id is a URI (clause 4.5.1): refused here, not at every measure
        {"device_id": "d2", "entity_name": "Sensor01"},
        {"device_id": "d2", "entity_name": "urn:ngsi-ld:Thing:a b"},
        {
            "device_id": "d2",
            "attributes": [{"name": "t", "type": "Number", "entity_name": "other"}],
        },
    ):
        r = client.post("/iot/devices", json={"devices": [bad]}, headers=H)
        assert r.status_code == 400 and r.json()["name"] == "WRONG_SYNTAX", bad
    assert client.get("/iot/devices", headers=H).json()["count"] == 1


def test_about(client: TestClient) -> None:
    about = client.get("/iot/about").json()
    assert {"libVersion", "port", "baseRoot", "version"} <= set(about)
    assert about["connections"]["mqtt"]["configured"] is False


def test_op_delete(client: TestClient) -> None:
    """POST /iot/op/delete (doc/api.md "Batch Operations"): 204, or 404 when one device was
    not there, the others deleted all the same."""
    devices = [{"device_id": f"d{n}", "apikey": APIKEY} for n in range(3)]
    assert client.post("/iot/devices", json={"devices": devices}, headers=H).status_code == 201
    body = {"devices": [{"deviceId": "d0", "apikey": APIKEY}, {"deviceId": "d1", "apikey": APIKEY}]}
    assert client.post("/iot/op/delete", json=body, headers=H).status_code == 204
    body = {"devices": [{"deviceId": "d2", "apikey": APIKEY}, {"deviceId": "d9", "apikey": APIKEY}]}
    r = client.post("/iot/op/delete", json=body, headers=H)
    assert r.status_code == 404 and r.json()["name"] == "DEVICE_NOT_FOUND"
    assert client.get("/iot/devices", headers=H).json()["count"] == 0
    r = client.post("/iot/op/delete", json={"devices": [{"id": "x"}]}, headers=H)
    assert r.status_code == 400 and r.json()["name"] == "WRONG_SYNTAX"
