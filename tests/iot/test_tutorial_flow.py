"""The flow of FIWARE's NGSI-LD IoT agent tutorials, as a provisioning script runs it (written
here from the documented API, not copied): a service group on /iot/services, devices with
protocol, transport, timezone, a static Relationship and a command, UltraLight measures on
/iot/d, the entities read back through NGSI-LD with the tenant, a command sent by updating its
attribute to " " as the tutorials do, and the device's answer."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.iot._support import LD, UL, entity
from tests.iot.test_commands import Device
from tests.iot.test_mqtt import wait_for

HEADERS = {"fiware-service": "openiot", "fiware-servicepath": "/"}
KEY = "4jggokgpepnvsb2uv4s40d59ov"


def test_tutorial_flow(client: TestClient) -> None:
    r = client.post(
        "/iot/services",
        json={
            "services": [
                {
                    "apikey": KEY,
                    "cbroker": "http://orion:1026",
                    "entity_type": "Device",
                    "resource": "/iot/d",
                    "attributes": [
                        {"object_id": "bpm", "type": "Property", "name": "heartRate",
                         "metadata": {"unitCode": {"type": "Text", "value": "5K"}}},
                    ],
                }
            ]
        },
        headers=HEADERS,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    with Device().running() as bell_device:
        bell_device.reply = b"bell001@ring| ring OK"
        devices = [
            {
                "device_id": "motion001",
                "entity_name": "urn:ngsi-ld:Device:motion001",
                "entity_type": "Device",
                "protocol": "PDI-IoTA-UltraLight",
                "transport": "HTTP",
                "timezone": "Europe/Berlin",
                "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}],
                "static_attributes": [
                    {"name": "controlledAsset", "type": "Relationship",
                     "value": "urn:ngsi-ld:Building:store001"}
                ],
            },
            {
                "device_id": "bell001",
                "entity_name": "urn:ngsi-ld:Device:bell001",
                "entity_type": "Device",
                "protocol": "PDI-IoTA-UltraLight",
                "transport": "HTTP",
                "endpoint": bell_device.url,
                "commands": [{"name": "ring", "type": "command"}],
            },
        ]  # fmt: skip
        r = client.post("/iot/devices", json={"devices": devices}, headers=HEADERS)
        assert r.status_code == 201, r.text
        assert client.get("/iot/devices", headers=HEADERS).json()["count"] == 2

        r = client.post(f"/iot/d?k={KEY}&i=motion001", content="c|3", headers=UL)
        assert r.status_code == 200, r.text
        motion = entity(client, "urn:ngsi-ld:Device:motion001")
        assert motion is not None
        assert motion["count"]["value"] == 3
        assert motion["controlledAsset"]["object"] == "urn:ngsi-ld:Building:store001"
        assert motion["deviceState"]["value"] == "ok"  # the device reports on its own entity

        r = client.patch(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:bell001/attrs/ring",
            json={"type": "Property", "value": " "},
            headers=LD,
        )
        assert r.status_code == 204, r.text
        wait_for(
            lambda: entity(client, "urn:ngsi-ld:Device:bell001")["ring_status"]["value"] == "OK"
        )  # type: ignore[index]
        bell = entity(client, "urn:ngsi-ld:Device:bell001")
        assert bell is not None and bell["ring_info"]["value"] == " ring OK"
        assert bell_device.received == [("text/plain", b"bell001@ring| ")]
