"""Batches and discovery naming many entity ids (ETSI GS CIM 009 v1.8.1 clause 5.6.7-5.6.10
batch operations, 5.7.6 query of registrations with ``id``): the registrations they match are
found however many ids there are. Before, each id added one regular-expression test joined by
OR, and SQLite refused a statement of about 500 ids ("Expression tree is too large (maximum
depth 1000)"): a 500 to any batch upsert of 500 entities, whether or not a registration
existed."""

from __future__ import annotations

from starlette.testclient import TestClient

BASE = "/ngsi-ld/v1"
N = 1000  # the default batch_max_entities


def entities(n: int) -> list[dict[str, object]]:
    return [
        {"id": f"urn:ngsi-ld:Sensor:{i}", "type": "Sensor", "n": {"type": "Property", "value": i}}
        for i in range(n)
    ]


def test_a_batch_of_many_entities_is_not_refused(client: TestClient) -> None:
    for kind in ("create", "upsert", "update"):
        response = client.post(f"{BASE}/entityOperations/{kind}", json=entities(N))
        assert response.status_code in (201, 204), (kind, response.text[:300])
    response = client.get(f"{BASE}/entities", params={"type": "Sensor", "count": "true"})
    assert response.headers["NGSILD-Results-Count"] == str(N)
    delete = [f"urn:ngsi-ld:Sensor:{i}" for i in range(N)]
    assert client.post(f"{BASE}/entityOperations/delete", json=delete).status_code == 204


def test_registrations_matching_many_ids_by_pattern_are_found(client: TestClient) -> None:
    registration = {
        "id": "urn:ngsi-ld:ContextSourceRegistration:odd",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"idPattern": ".*:Sensor:999$", "type": "Sensor"}]}],
        "endpoint": "http://127.0.0.1:9/",
    }
    assert client.post(f"{BASE}/csourceRegistrations", json=registration).status_code == 201
    ids = ",".join(f"urn:ngsi-ld:Sensor:{i}" for i in range(N))
    response = client.get(f"{BASE}/csourceRegistrations", params={"id": ids, "type": "Sensor"})
    assert response.status_code == 200, response.text[:300]
    assert [r["id"] for r in response.json()] == ["urn:ngsi-ld:ContextSourceRegistration:odd"]
    few = ",".join(f"urn:ngsi-ld:Sensor:{i}" for i in range(N - 1))
    response = client.get(f"{BASE}/csourceRegistrations", params={"id": few, "type": "Sensor"})
    assert response.status_code == 200, response.text[:300]
    assert response.json() == []
