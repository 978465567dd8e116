"""Permissions (issue 20 item 3) in Stellio's shape, enforced on the route families: reads
are narrowed in the store query (counts, pages and ``count=true`` never show what the caller
may not read), single entities outside the caller's targets are 404 as if absent, writes
outside them are refused (per entity in a batch's 207), and the actions are separate."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.access.helpers import DEFAULT, bearer, grant, key_id, make_key, seed, sensor

ENTITIES = "/ngsi-ld/v1/entities"
AQ = "urn:ngsi-ld:AirQualityObserved"
PARKING = "urn:ngsi-ld:OnStreetParking"


@pytest.fixture
def hub(client: TestClient) -> tuple[TestClient, dict[str, str]]:
    admin = bearer(make_key(client, name="ops", admin=True))
    seed(client, admin)
    return client, admin


def _reader(client: TestClient, admin: dict[str, str], **target: Any) -> dict[str, str]:
    key = make_key(client, admin, name="reader")
    doc: dict[str, Any] = {"action": "read", "assignee": {"key": key_id(key)}}
    if target:
        doc["target"] = target
    grant(client, admin, **doc)
    return bearer(key)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(e["id"] for e in response.json())


def test_a_caller_cannot_count_what_it_cannot_read(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = hub
    reader = _reader(client, admin, type="AirQualityObserved")
    everything = f"{ENTITIES}?type=AirQualityObserved,OnStreetParking&count=true"
    all_of_it = client.get(everything, headers=admin)
    assert all_of_it.headers["NGSILD-Results-Count"] == "5"
    mine = client.get(everything, headers=reader)
    assert _ids(mine) == [f"{AQ}:{i}" for i in range(3)]
    assert mine.headers["NGSILD-Results-Count"] == "3"
    # paging: no page holds a parking spot, the count does not move
    page = client.get(everything + "&limit=2&offset=2", headers=reader)
    assert _ids(page) == [f"{AQ}:2"] and page.headers["NGSILD-Results-Count"] == "3"
    only_count = client.get(f"{ENTITIES}?type=OnStreetParking&count=true&limit=0", headers=reader)
    assert only_count.headers["NGSILD-Results-Count"] == "0"
    # a q or idPattern that would match the hidden entities finds nothing
    assert (
        _ids(client.get(f"{ENTITIES}?idPattern=Parking&type=OnStreetParking", headers=reader)) == []
    )
    posted = client.post(
        "/ngsi-ld/v1/entityOperations/query?count=true",
        json={"type": "Query", "entities": [{"type": "OnStreetParking"}]},
        headers=reader,
    )
    assert _ids(posted) == [] and posted.headers["NGSILD-Results-Count"] == "0"


def test_single_entities_outside_the_targets_are_absent(
    hub: tuple[TestClient, dict[str, str]],
) -> None:
    client, admin = hub
    reader = _reader(client, admin, type="AirQualityObserved")
    assert client.get(f"{ENTITIES}/{AQ}:1", headers=reader).status_code == 200
    hidden = client.get(f"{ENTITIES}/{PARKING}:1", headers=reader)
    missing = client.get(f"{ENTITIES}/{PARKING}:404", headers=reader)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(":1", "") == missing.json()["detail"].replace(":404", "")
    # temporal: the same
    assert (
        client.get(f"/ngsi-ld/v1/temporal/entities/{PARKING}:1", headers=reader).status_code == 404
    )
    history = client.get("/ngsi-ld/v1/temporal/entities?type=OnStreetParking", headers=reader)
    assert history.status_code == 200 and history.json() == []


def test_linked_entities_outside_the_targets_are_not_joined(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    spot = sensor(f"{AQ}:9", refParking={"type": "Relationship", "object": f"{PARKING}:9"})
    client.post(
        "/ngsi-ld/v1/entityOperations/create",
        json=[spot, sensor(f"{PARKING}:9", "OnStreetParking")],
        headers=admin,
    )
    reader = _reader(client, admin, type="AirQualityObserved")
    flat = client.get(f"{ENTITIES}/{AQ}:9?join=flat", headers=reader)
    assert flat.status_code == 200
    assert isinstance(flat.json(), dict)  # the entity alone: the parking spot is not joined
    joined = client.get(f"{ENTITIES}/{AQ}:9?join=flat", headers=admin).json()
    assert sorted(e["id"] for e in joined) == [f"{AQ}:9", f"{PARKING}:9"]
    query = client.get(f"{ENTITIES}?type=AirQualityObserved&id={AQ}:9&join=flat", headers=reader)
    assert [e["id"] for e in query.json()] == [f"{AQ}:9"]


@pytest.mark.parametrize(
    ("target", "visible"),
    [
        ({"id": f"{PARKING}:2"}, [f"{PARKING}:2"]),
        ({"idPattern": "Parking:1$"}, [f"{PARKING}:1"]),
        ({"type": f"{DEFAULT}OnStreetParking"}, [f"{PARKING}:1", f"{PARKING}:2"]),
        ({"scope": "/Seongnam/#"}, [f"{PARKING}:1"]),
    ],
)
def test_every_target_kind_narrows_in_the_store(
    hub: tuple[TestClient, dict[str, str]], target: dict[str, str], visible: list[str]
) -> None:
    client, admin = hub
    reader = _reader(client, admin, **target)
    found = client.get(
        f"{ENTITIES}?type=OnStreetParking,AirQualityObserved&count=true", headers=reader
    )
    assert _ids(found) == visible
    assert found.headers["NGSILD-Results-Count"] == str(len(visible))


def test_summaries_need_the_whole_tenant(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = hub
    narrow = _reader(client, admin, type="AirQualityObserved")
    wide = _reader(client, admin)
    for path in (
        "/ngsi-ld/v1/types",
        "/ngsi-ld/v1/attributes",
        "/ngsi-ld/v1/types/OnStreetParking",
    ):
        assert client.get(path, headers=narrow).status_code == 403, path
        assert client.get(path, headers=wide).status_code == 200, path


def test_writes_outside_the_targets_are_refused(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = hub
    key = make_key(client, admin, name="writer")
    grant(
        client,
        admin,
        action="write",
        target={"type": "AirQualityObserved"},
        assignee={"key": key_id(key)},
    )
    writer = bearer(key)
    assert client.post(ENTITIES, json=sensor(f"{AQ}:7"), headers=writer).status_code == 201
    refused = client.post(ENTITIES, json=sensor(f"{PARKING}:7", "OnStreetParking"), headers=writer)
    assert refused.status_code == 403
    patch = {"pm25": {"type": "Property", "value": 99}}
    assert client.patch(f"{ENTITIES}/{AQ}:1/attrs", json=patch, headers=writer).status_code == 204
    hidden = client.patch(f"{ENTITIES}/{PARKING}:1/attrs", json=patch, headers=writer)
    assert hidden.status_code == 404
    assert client.delete(f"{ENTITIES}/{PARKING}:2", headers=writer).status_code == 404
    # the parking spots are untouched
    spot = client.get(f"{ENTITIES}/{PARKING}:1", headers=admin).json()
    assert spot["pm25"]["value"] == 1
    # a batch: the allowed ones go ahead, the others are per-entity errors
    batch = client.post(
        "/ngsi-ld/v1/entityOperations/upsert",
        json=[
            sensor(f"{AQ}:1"),
            sensor(f"{PARKING}:1", "OnStreetParking"),
            sensor(f"{AQ}:8", "OnStreetParking"),
        ],
        headers=writer,
    )
    assert batch.status_code == 207, batch.text
    assert batch.json()["success"] == [f"{AQ}:1"]
    assert {e["entityId"] for e in batch.json()["errors"]} == {f"{PARKING}:1", f"{AQ}:8"}
    deleted = client.post(
        "/ngsi-ld/v1/entityOperations/delete", json=[f"{AQ}:2", f"{PARKING}:2"], headers=writer
    )
    assert deleted.status_code == 207
    assert client.get(f"{ENTITIES}/{PARKING}:2", headers=admin).status_code == 200
    assert client.get(f"{ENTITIES}/{AQ}:2", headers=admin).status_code == 404
    # purge narrowed to the writer's targets
    purge = client.delete(f"{ENTITIES}?type=OnStreetParking,AirQualityObserved", headers=writer)
    assert purge.status_code == 204
    left = client.get(f"{ENTITIES}?type=OnStreetParking,AirQualityObserved", headers=admin)
    assert _ids(left) == [f"{PARKING}:1", f"{PARKING}:2"]
    # write implies read; read does not imply write
    assert client.get(f"{ENTITIES}?type=OnStreetParking", headers=writer).json() == []


def test_actions_are_separate(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = hub
    reader = _reader(client, admin)
    assert client.post(ENTITIES, json=sensor("urn:x:r"), headers=reader).status_code == 403
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
    }
    assert (
        client.post("/ngsi-ld/v1/subscriptions", json=subscription, headers=reader).status_code
        == 403
    )
    assert client.get("/ngsi-ld/v1/subscriptions", headers=reader).status_code == 403
    key = make_key(client, admin, name="sub")
    grant(client, admin, action="subscribe", assignee={"key": key_id(key)})
    made = client.post("/ngsi-ld/v1/subscriptions", json=subscription, headers=bearer(key))
    assert made.status_code == 201, made.text
    assert client.post("/admin/tenants", json={"name": "x"}, headers=reader).status_code == 403


def test_public_and_authenticated_assignees(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = hub
    assert client.get(f"{ENTITIES}/{AQ}:1").status_code == 401
    grant(client, admin, action="read", target={"type": "AirQualityObserved"}, assignee="public")
    assert client.get(f"{ENTITIES}/{AQ}:1").status_code == 200
    assert client.get(f"{ENTITIES}/{PARKING}:1").status_code == 404
    assert client.post(ENTITIES, json=sensor("urn:x:p")).status_code == 401
    nobody = bearer(make_key(client, admin, name="nobody"))
    assert client.get(f"{ENTITIES}/{PARKING}:1", headers=nobody).status_code == 404
    grant(client, admin, action="read", assignee="authenticated")
    assert client.get(f"{ENTITIES}/{PARKING}:1", headers=nobody).status_code == 200
    assert client.get(f"{ENTITIES}/{PARKING}:1").status_code == 404


def test_permissions_are_per_tenant(hub: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = hub
    client.post("/admin/tenants", json={"name": "city2"}, headers=admin)
    seed(client, admin, tenant="city2")
    key = make_key(client, admin, name="c2", tenant="city2")
    grant(client, admin, tenant="city2", action="read", assignee={"key": key_id(key)})
    listed = client.get("/admin/permissions?tenant=city2", headers=admin).json()
    assert len(listed) == 1 and listed[0]["tenant"] == "city2"
    assert client.get("/admin/permissions", headers=admin).json() == []
    there = {**bearer(key), "NGSILD-Tenant": "city2"}
    assert len(client.get(f"{ENTITIES}?type=OnStreetParking", headers=there).json()) == 2
    pid = listed[0]["id"]
    assert client.delete(f"/admin/permissions/{pid}?tenant=city2", headers=admin).status_code == 204
    assert client.get(f"{ENTITIES}?type=OnStreetParking", headers=there).status_code == 403


@pytest.mark.parametrize(
    "doc",
    [
        {"action": "own", "assignee": "public"},
        {"action": "read"},
        {"action": "read", "assignee": {"key": ""}},
        {"action": "read", "assignee": "everyone"},
        {"action": "read", "assignee": "public", "target": {"idPattern": "(?=x)"}},
        {"action": "read", "assignee": "public", "target": {"scope": "no-slash"}},
        {"action": "read", "assignee": "public", "target": {"type": "A", "id": "urn:x"}},
        {"action": "read", "assignee": "public", "target": {"colour": "red"}},
        {"action": "read", "assignee": "public", "extra": 1},
        {"action": "read", "assignee": "public", "tenant": "../x"},
    ],
)
def test_bad_permissions_are_400(
    hub: tuple[TestClient, dict[str, str]], doc: dict[str, Any]
) -> None:
    client, admin = hub
    response = client.post("/admin/permissions", json=doc, headers=admin)
    assert response.status_code == 400, response.text
