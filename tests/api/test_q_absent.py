"""``!attr`` in q: "the attribute does not exist" (ETSI GS CIM 009 v1.9.1 clause 4.9, the
negated existence term), on both backends, alone and inside ``;`` / ``|``, in GET and in
POST /entityOperations/query; ``!attr`` with a comparison is refused with a detail that says
what to write instead."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"


def _seed(client: TestClient) -> None:
    entities = [
        {
            "id": "urn:ngsi-ld:Alert:open",
            "type": "Alert",
            "severity": {"type": "Property", "value": "high"},
        },
        {
            "id": "urn:ngsi-ld:Alert:closed",
            "type": "Alert",
            "severity": {"type": "Property", "value": "high"},
            "validTo": {"type": "Property", "value": "2026-12-01T00:00:00Z"},
        },
        {"id": "urn:ngsi-ld:Alert:bare", "type": "Alert"},
    ]
    r = client.post(f"{API}/entityOperations/create", json=entities)
    assert r.status_code == 201, r.text


def _ids(client: TestClient, q: str) -> set[str]:
    r = client.get(f"{API}/entities", params={"type": "Alert", "q": q})
    assert r.status_code == 200, r.text
    return {e["id"] for e in r.json()}


def test_absent_attributes(client: TestClient) -> None:
    _seed(client)
    assert _ids(client, "!validTo") == {"urn:ngsi-ld:Alert:open", "urn:ngsi-ld:Alert:bare"}
    assert _ids(client, "!validTo;severity") == {"urn:ngsi-ld:Alert:open"}
    assert _ids(client, "!severity|validTo") == {
        "urn:ngsi-ld:Alert:bare",
        "urn:ngsi-ld:Alert:closed",
    }
    assert _ids(client, '!validTo;severity=="high"') == {"urn:ngsi-ld:Alert:open"}
    assert _ids(client, "!id") == set()  # an entity member always exists
    r = client.get(f"{API}/entities", params={"type": "Alert", "q": "!validTo", "count": "true"})
    assert r.headers["NGSILD-Results-Count"] == "2"
    r = client.post(
        f"{API}/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "Alert"}], "q": "!validTo;!severity"},
    )
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Alert:bare"]


def test_absent_takes_no_comparison(client: TestClient) -> None:
    r = client.get(f"{API}/entities", params={"type": "Alert", "q": "!validTo==1"})
    assert r.status_code == 400
    body = r.json()
    assert body["type"].endswith("/BadRequestData")
    assert "!name, or name!=value" in body["detail"]
