"""Query Temporal Evolution of Entities (clause 5.7.4) over an entity that has been deleted:
its history stays in the temporal store, and a query whose q matches that history finds it
on both backends alike. SQLite used to drive such a q by the value index of *current*
entities, which holds no row of a deleted entity, and answered [] where PostgreSQL (and the
same query without the index) answered the entity."""

from __future__ import annotations

from starlette.testclient import TestClient

T1 = "urn:ngsi-ld:T:1"
ENTITY = {
    "id": T1,
    "type": "T",
    "name": {"type": "Property", "value": "x"},
    "n": {"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"},
}
AFTER = "timerel=after&timeAt=2020-01-01T00:00:00Z"


def ids(client: TestClient, query: str) -> list[str]:
    answer = client.get(f"/ngsi-ld/v1/temporal/entities?{query}&{AFTER}")
    assert answer.status_code == 200, answer.text
    return [e["id"] for e in answer.json()]


def test_a_deleted_entitys_history_answers_a_q_equality(client: TestClient) -> None:
    assert client.post("/ngsi-ld/v1/entities", json=ENTITY).status_code == 201
    queries = ('type=T&q=name=="x"', "type=T&q=n==1", "type=T", 'q=name=="x"')
    before = {q: ids(client, q) for q in queries}
    assert all(found == [T1] for found in before.values())
    assert client.delete(f"/ngsi-ld/v1/entities/{T1}").status_code == 204
    assert client.get(f"/ngsi-ld/v1/entities/{T1}").status_code == 404
    for q in queries:
        assert ids(client, q) == [T1], q
    # a q the history does not match still finds nothing
    assert ids(client, 'type=T&q=name=="y"') == []
