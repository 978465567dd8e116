"""Every route family is behind access control (issue 20 item 3): the IoT agent's
provisioning API (its tenant from ``Fiware-Service``), registrations, @contexts, while the IoT
agent's southbound routes keep their devices' own apikeys and liveness stays open."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.access.helpers import bearer, grant, key_id, make_key


def test_iot_provisioning_is_protected_and_devices_are_not(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    assert client.get("/iot/devices").status_code == 401
    assert client.get("/iot/devices", headers=admin).status_code == 200
    client.post("/admin/tenants", json={"name": "city1"}, headers=admin)
    key = make_key(client, admin, name="iot-reader", tenant="city1")
    grant(client, admin, tenant="city1", action="read", assignee={"key": key_id(key)})
    there = {**bearer(key), "Fiware-Service": "city1"}
    assert client.get("/iot/devices", headers=there).status_code == 200
    assert client.post("/iot/devices", json={"devices": []}, headers=there).status_code == 403
    # write on some entities is not enough: a provisioned device writes whatever entity its
    # provisioning names, so provisioning needs write on the whole tenant
    narrow = make_key(client, admin, name="iot-narrow", tenant="city1")
    grant(
        client,
        admin,
        tenant="city1",
        action="write",
        target={"type": "Streetlight"},
        assignee={"key": key_id(narrow)},
    )
    narrow_there = {**bearer(narrow), "Fiware-Service": "city1"}
    device = {"devices": [{"device_id": "d1", "entity_name": "urn:ngsi-ld:Building:1"}]}
    assert client.post("/iot/devices", json=device, headers=narrow_there).status_code == 403
    assert client.get("/iot/devices", headers=narrow_there).status_code == 403
    # the key acts in city1 only: the default tenant (no Fiware-Service) is refused
    assert client.get("/iot/devices", headers=bearer(key)).status_code == 403
    assert client.get("/iot/devices", headers={"Fiware-Service": "nowhere"}).status_code == 404
    # a device's measure is judged by the IoT agent (no such group), not refused as a caller
    measure = client.post("/iot/json?k=nokey&i=dev1", json={"t": 1})
    assert measure.status_code not in (401, 403), measure.text


def test_other_families(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    for method, path in (
        ("GET", "/ngsi-ld/v1/csourceRegistrations"),
        ("GET", "/ngsi-ld/v1/csourceSubscriptions"),
        ("POST", "/ngsi-ld/v1/jsonldContexts"),
        ("GET", "/ngsi-ld/v1/temporal/entities?type=X"),
        ("GET", "/ngsi-ld/v1/subscriptions"),
    ):
        assert client.request(method, path).status_code == 401, path
        assert client.request(method, path, headers=admin).status_code != 401, path
    for path in ("/health", "/", "/ngsi-ld/v1/jsonldContexts"):
        assert client.get(path).status_code == 200, path
