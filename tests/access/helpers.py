"""Helpers of the access control tests: keys made through the admin API, permissions, and
entities of two types (the one a caller may read, the one it may not)."""

from __future__ import annotations

import functools
from typing import Any

from starlette.testclient import TestClient

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(client: TestClient, auth: dict[str, str] | None = None, **body: Any) -> str:
    """A key made through POST /admin/keys (open while nothing is configured)."""
    body.setdefault("name", "test")
    response = client.post("/admin/keys", json=body, headers=auth or {})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def bootstrap_admin(client: TestClient) -> dict[str, str]:
    """An administrator's key made as ``cityhub keys create --admin`` makes it (on the app's
    own store), for hubs that are closed from the start (an OIDC issuer configured)."""
    control = client.app.state.access  # type: ignore[attr-defined]
    assert client.portal is not None
    text, _ = client.portal.call(functools.partial(control.create_key, "", "ops", admin=True))
    return bearer(text)


def grant(client: TestClient, admin: dict[str, str], **doc: Any) -> str:
    response = client.post("/admin/permissions", json=doc, headers=admin)
    assert response.status_code == 201, response.text
    permission_id: str = response.json()["id"]
    return permission_id


def key_id(key: str) -> str:
    return key.split("_")[1]


def sensor(eid: str, kind: str = "AirQualityObserved", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": eid, "type": kind, "pm25": {"type": "Property", "value": 1}}
    body.update(extra)
    return body


def seed(client: TestClient, admin: dict[str, str], tenant: str = "") -> None:
    """Three air-quality sensors and two parking spots (one scoped /Seongnam/Bundang)."""
    headers = dict(admin)
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    entities = [sensor(f"urn:ngsi-ld:AirQualityObserved:{i}") for i in range(3)]
    entities += [
        sensor("urn:ngsi-ld:OnStreetParking:1", "OnStreetParking", scope="/Seongnam/Bundang"),
        sensor("urn:ngsi-ld:OnStreetParking:2", "OnStreetParking"),
    ]
    response = client.post("/ngsi-ld/v1/entityOperations/create", json=entities, headers=headers)
    assert response.status_code == 201, response.text
