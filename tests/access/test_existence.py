"""An entity a caller may not read does not exist for it (issue 20 item 3): no answer tells
it apart from an id nothing holds, on every route that names an entity, on both backends.

- Retrieve, update, delete, temporal reads and writes by id (clauses 5.7.1, 5.6.2-5.6.6,
  5.6.12-5.6.16, 5.7.3): 404 ResourceNotFound with the very detail an absent id gets.
- Create (clause 5.6.1: AlreadyExists, 409, "if an entity with the same id already exists")
  and its batch and temporal forms: a 409 would say that a hidden entity exists. An id held by
  an entity the caller may not write is refused as any entity outside its permissions is: 403
  with the same detail (docs/access.md says what a caller narrowed by type can still infer).
- An entity the caller may read but not write: 403 on a write (it knows it exists), not 404.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.access.helpers import bearer, grant, key_id, make_key, seed, sensor

V1 = "/ngsi-ld/v1"
HIDDEN = "urn:ngsi-ld:OnStreetParking:2"
ABSENT = "urn:ngsi-ld:OnStreetParking:99"
AQ = "urn:ngsi-ld:AirQualityObserved"


@pytest.fixture
def hub(client: TestClient) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    """An admin, and a writer of AirQualityObserved only (it may not see the parking spots)."""
    admin = bearer(make_key(client, name="ops", admin=True))
    seed(client, admin)
    key = make_key(client, admin, name="writer")
    grant(
        client,
        admin,
        action="write",
        target={"type": "AirQualityObserved"},
        assignee={"key": key_id(key)},
    )
    return client, admin, bearer(key)


def _problem(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["type"], body["detail"].replace(HIDDEN, "<id>")


def _same(client: TestClient, who: dict[str, str], method: str, path: str, **kw: Any) -> None:
    """The answer about the hidden entity equals the answer about an absent id."""
    hidden = client.request(method, path.format(id=HIDDEN), headers=who, **kw)
    absent = client.request(method, path.format(id=ABSENT), headers=who, **kw)
    assert hidden.status_code == 404, hidden.text
    status, kind, detail = _problem(absent)
    assert _problem(hidden) == (status, kind, detail.replace(ABSENT, "<id>")), (
        hidden.text,
        absent.text,
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/entities/{id}", None),
        ("PATCH", "/entities/{id}", {"pm25": {"type": "Property", "value": 2}}),
        ("PUT", "/entities/{id}", {"type": "AirQualityObserved"}),
        ("DELETE", "/entities/{id}", None),
        ("POST", "/entities/{id}/attrs", {"pm25": {"type": "Property", "value": 2}}),
        ("PATCH", "/entities/{id}/attrs", {"pm25": {"type": "Property", "value": 2}}),
        ("PATCH", "/entities/{id}/attrs/pm25", {"value": 2}),
        ("DELETE", "/entities/{id}/attrs/pm25", None),
        ("GET", "/temporal/entities/{id}", None),
        ("DELETE", "/temporal/entities/{id}", None),
        ("DELETE", "/temporal/entities/{id}/attrs/pm25", None),
        (
            "POST",
            "/temporal/entities/{id}/attrs",
            {"pm25": [{"type": "Property", "value": 3, "observedAt": "2026-01-01T00:00:00Z"}]},
        ),
    ],
)
def test_a_hidden_entity_answers_as_an_absent_one(
    hub: tuple[TestClient, dict[str, str], dict[str, str]],
    method: str,
    path: str,
    body: Any,
) -> None:
    client, admin, writer = hub
    kw = {"json": body} if body is not None else {}
    _same(client, writer, method, V1 + path, **kw)
    # and nothing was changed
    assert client.get(f"{V1}/entities/{HIDDEN}", headers=admin).json()["pm25"]["value"] == 1


def _outside(client: TestClient, writer: dict[str, str]) -> tuple[int, str, str]:
    """The answer to creating an entity outside the writer's targets (a fresh id)."""
    fresh = client.post(f"{V1}/entities", json=sensor(ABSENT, "OnStreetParking"), headers=writer)
    assert fresh.status_code == 403, fresh.text
    status, kind, detail = _problem(fresh)
    return status, kind, detail.replace(ABSENT, "<id>")


def test_creating_a_hidden_id_is_refused_as_outside_the_permissions(
    hub: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    """Clause 5.6.1's AlreadyExists (409) would confirm the hidden entity."""
    client, admin, writer = hub
    refused = _outside(client, writer)
    # the payload is of a type the writer may write; the id is held by what it may not see
    created = client.post(f"{V1}/entities", json=sensor(HIDDEN), headers=writer)
    assert _problem(created) == refused, created.text
    # a temporal create (clause 5.6.11) neither confirms it nor adds to its history
    temporal = {
        "id": HIDDEN,
        "type": "AirQualityObserved",
        "pm25": [{"type": "Property", "value": 7, "observedAt": "2026-01-01T00:00:00Z"}],
    }
    posted = client.post(f"{V1}/temporal/entities", json=temporal, headers=writer)
    assert _problem(posted) == refused, posted.text
    history = client.get(f"{V1}/temporal/entities/{HIDDEN}", headers=admin).json()
    values = history["pm25"] if isinstance(history["pm25"], list) else [history["pm25"]]
    assert 7 not in [v["value"] for v in values]
    # an entity the writer may see still answers AlreadyExists
    mine = client.post(f"{V1}/entities", json=sensor(f"{AQ}:1"), headers=writer)
    assert mine.status_code == 409


@pytest.mark.parametrize("operation", ["create", "upsert"])
def test_a_batch_tells_a_hidden_id_from_none_other(
    hub: tuple[TestClient, dict[str, str], dict[str, str]], operation: str
) -> None:
    client, admin, writer = hub
    refused = _outside(client, writer)
    batch = [sensor(HIDDEN), sensor(f"{AQ}:new")]
    response = client.post(f"{V1}/entityOperations/{operation}", json=batch, headers=writer)
    assert response.status_code == 207, response.text
    result = response.json()
    assert result["success"] == [f"{AQ}:new"]
    [error] = result["errors"]
    assert error["entityId"] == HIDDEN
    problem = error["error"]
    assert (problem["status"], problem["type"], problem["detail"].replace(HIDDEN, "<id>")) == (
        refused
    )
    stored = client.get(f"{V1}/entities/{HIDDEN}", headers=admin).json()
    assert stored["type"] == "OnStreetParking"


def test_a_batch_update_or_delete_of_a_hidden_id_answers_as_an_absent_one(
    hub: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, _, writer = hub
    for operation, items in (
        ("update", [sensor(HIDDEN), sensor(ABSENT)]),
        ("delete", [HIDDEN, ABSENT]),
    ):
        response = client.post(f"{V1}/entityOperations/{operation}", json=items, headers=writer)
        assert response.status_code == 207, response.text
        errors = {e["entityId"]: e["error"] for e in response.json()["errors"]}
        hidden, absent = errors[HIDDEN], errors[ABSENT]
        assert hidden["type"] == absent["type"]
        assert hidden["detail"].replace(HIDDEN, "<id>") == absent["detail"].replace(ABSENT, "<id>")


def test_what_a_caller_may_read_but_not_write_is_forbidden_not_absent(
    hub: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, admin, _ = hub
    key = make_key(client, admin, name="both")
    grant(client, admin, action="read", assignee={"key": key_id(key)})
    grant(
        client,
        admin,
        action="write",
        target={"type": "AirQualityObserved"},
        assignee={"key": key_id(key)},
    )
    caller = bearer(key)
    assert client.get(f"{V1}/entities/{HIDDEN}", headers=caller).status_code == 200
    patched = client.patch(
        f"{V1}/entities/{HIDDEN}/attrs", json={"pm25": {"value": 5}}, headers=caller
    )
    assert patched.status_code == 403, patched.text
    assert "but not write" in patched.json()["detail"]
    # it may read the entity, so AlreadyExists tells it nothing new
    again = client.post(f"{V1}/entities", json=sensor(HIDDEN), headers=caller)
    assert again.status_code in (403, 409), again.text


def test_the_history_of_a_deleted_hidden_entity_stays_hidden(
    hub: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    """A deleted entity's temporal representation stays (clause 5.6.6 deletes the entity, not
    its history): the writer may not read it by id, nor find it in a temporal query."""
    client, admin, writer = hub
    assert client.delete(f"{V1}/entities/{HIDDEN}", headers=admin).status_code == 204
    assert client.get(f"{V1}/temporal/entities/{HIDDEN}", headers=admin).status_code == 200
    _same(client, writer, "GET", V1 + "/temporal/entities/{id}")
    found = client.get(
        f"{V1}/temporal/entities?type=OnStreetParking,AirQualityObserved", headers=writer
    )
    assert found.status_code == 200, found.text
    assert HIDDEN not in [e["id"] for e in found.json()]
