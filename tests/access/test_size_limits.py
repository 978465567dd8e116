"""Request and response size limits per caller (issue 20 item 4): a tenant's maxRequestBytes
and maxResponseBytes, else the hub's caller_max_request_bytes and caller_max_response_bytes,
for every caller but a hub administrator. Over the request limit: 413 before the route reads
the body (declared or streamed); over the response limit: 403 TooManyResults (ETSI GS CIM 009
table 6.3.2-1) instead of the answer. On both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.access.helpers import bearer, grant, key_id, make_key, sensor
from tests.conftest import make_client

ENTITIES = "/ngsi-ld/v1/entities"
AQ = "urn:ngsi-ld:AirQualityObserved"


@pytest.fixture
def limited(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store_url, caller_max_response_bytes=600) as c:
        yield c


def _writer(client: TestClient, admin: dict[str, str], tenant: str = "") -> dict[str, str]:
    key = make_key(client, admin, name="app", tenant=tenant or None)
    grant(client, admin, tenant=tenant, action="write", assignee={"key": key_id(key)})
    headers = bearer(key)
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    return headers


def test_a_tenants_callers_send_at_most_its_max_request_bytes(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    settings = {"maxRequestBytes": 300}
    created = client.post(
        "/admin/tenants", json={"name": "city1", "settings": settings}, headers=admin
    )
    assert created.status_code == 201, created.text
    app = _writer(client, admin, "city1")
    small = sensor(f"{AQ}:1")
    assert client.post(ENTITIES, json=small, headers=app).status_code == 201
    big = sensor(f"{AQ}:2", note={"type": "Property", "value": "x" * 400})
    refused = client.post(ENTITIES, json=big, headers=app)
    assert refused.status_code == 413, refused.text
    assert "maxRequestBytes" in refused.json()["detail"]
    # sent without a Content-Length (chunked): counted as it arrives
    body = refused.request.content

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    streamed = client.post(
        ENTITIES, content=chunks(), headers={**app, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text
    assert client.get(f"{ENTITIES}/{AQ}:2", headers=app).status_code == 404  # nothing written
    # a hub administrator is not limited
    admin_there = {**admin, "NGSILD-Tenant": "city1"}
    assert client.post(ENTITIES, json=big, headers=admin_there).status_code == 201
    bad = client.patch(
        "/admin/tenants/city1", json={"settings": {"maxRequestBytes": -1}}, headers=admin
    )
    assert bad.status_code == 400


def test_an_answer_over_the_callers_limit_is_too_many_results(limited: TestClient) -> None:
    client = limited
    admin = bearer(make_key(client, name="ops", admin=True))
    app = _writer(client, admin)
    batch = [sensor(f"{AQ}:{i}") for i in range(20)]
    created = client.post("/ngsi-ld/v1/entityOperations/create", json=batch, headers=app)
    assert created.status_code == 201, created.text
    everything = f"{ENTITIES}?type=AirQualityObserved&limit=20"
    refused = client.get(everything, headers=app)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("TooManyResults")
    assert "smaller page" in refused.json()["detail"]
    page = client.get(f"{ENTITIES}?type=AirQualityObserved&limit=2", headers=app)
    assert page.status_code == 200 and len(page.json()) == 2
    assert len(client.get(everything, headers=admin).json()) == 20
    # a tenant's own limit overrides the hub's
    client.post(
        "/admin/tenants", json={"name": "big", "settings": {"maxResponseBytes": 0}}, headers=admin
    )
    there = _writer(client, admin, "big")
    assert (
        client.post("/ngsi-ld/v1/entityOperations/create", json=batch, headers=there).status_code
        == 201
    )
    assert len(client.get(everything, headers=there).json()) == 20
