"""Batch operations: clauses 5.6.7-5.6.10 and 5.6.20 (HTTP 6.14-6.19, 6.31)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import entity

OPS = "/ngsi-ld/v1/entityOperations"


def test_create_reports_each_entity(client: TestClient) -> None:
    r = client.post(OPS + "/create", json=[entity("urn:a:1"), entity("urn:a:2")])
    assert r.status_code == 201, r.text
    assert r.json() == ["urn:a:1", "urn:a:2"]
    r = client.post(
        OPS + "/create", json=[entity("urn:a:1"), entity("urn:a:3"), {"id": "bad", "type": "T"}]
    )
    assert r.status_code == 207
    body = r.json()
    assert body["success"] == ["urn:a:3"]
    assert {e["entityId"] for e in body["errors"]} == {"urn:a:1", "bad"}
    assert client.get("/ngsi-ld/v1/entities/urn:a:3").status_code == 200


def test_upsert_update_merge_delete(client: TestClient) -> None:
    client.post(OPS + "/create", json=[entity("urn:a:1")])
    r = client.post(OPS + "/upsert", json=[entity("urn:a:1", pm25=5), entity("urn:a:2")])
    assert r.status_code == 201 and r.json() == ["urn:a:2"]
    assert client.get("/ngsi-ld/v1/entities/urn:a:1").json()["pm25"]["value"] == 5
    r = client.post(OPS + "/upsert", json=[entity("urn:a:1", pm25=6)])
    assert r.status_code == 204
    r = client.post(OPS + "/update", json=[{"id": "urn:a:1", "no2": 1}])
    assert r.status_code == 204, r.text
    r = client.post(OPS + "/merge", json=[{"id": "urn:a:1", "no2": 2}, {"id": "urn:a:9", "x": 1}])
    assert r.status_code == 207
    assert r.json()["success"] == ["urn:a:1"]
    r = client.post(OPS + "/delete", json=["urn:a:1", "urn:a:2"])
    assert r.status_code == 204
    r = client.post(OPS + "/delete", json=["urn:a:1"])
    assert r.status_code == 207


def test_query_post(client: TestClient) -> None:
    client.post(OPS + "/create", json=[entity(f"urn:a:{i}", pm25=i) for i in range(4)])
    r = client.post(
        OPS + "/query",
        json={"type": "Query", "entities": [{"type": "AirQualityObserved"}], "q": "pm25>=2"},
    )
    assert r.status_code == 200, r.text
    assert sorted(e["id"] for e in r.json()) == ["urn:a:2", "urn:a:3"]


def test_bad_batches(client: TestClient) -> None:
    for body in ({}, [], "x"):
        r = client.post(OPS + "/create", json=body)
        assert r.status_code == 400, body
