"""Helpers of the IoT agent tests: FIWARE-style headers, a group, an entity read."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

SERVICE = "openiot"
H = {"Fiware-Service": SERVICE, "Fiware-ServicePath": "/"}
LD = {"NGSILD-Tenant": SERVICE}
APIKEY = "4jggokgpepnvsb2uv4s40d59ov"
UL = {"Content-Type": "text/plain"}


def group(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apikey": APIKEY,
        "resource": "/iot/d",
        "entity_type": "Thing",
        "attributes": [
            {
                "object_id": "t",
                "name": "temperature",
                "type": "Number",
                "metadata": {"unitCode": {"type": "Text", "value": "CEL"}},
            }
        ],
    }
    body.update(extra)
    return body


def provision_group(client: TestClient, **extra: Any) -> None:
    r = client.post("/iot/groups", json={"groups": [group(**extra)]}, headers=H)
    assert r.status_code == 201, r.text


def entity(client: TestClient, eid: str) -> dict[str, Any] | None:
    r = client.get(f"/ngsi-ld/v1/entities/{eid}", headers=LD)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def errors(client: TestClient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/iot/errors", headers=H).json()["errors"]
    return rows
