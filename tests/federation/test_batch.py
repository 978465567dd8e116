"""Distributed batch operations (ETSI GS CIM 009 v1.8.1 clause 4.3.6; the distributed
behaviour of 5.6.7.4 create, 5.6.8.4 upsert, 5.6.9.4 update, 5.6.10.4 delete, 5.6.20.4 merge):
each entity splits as its single-entity operation would, each source gets one batch with its
parts, and the answer is one BatchOperationResult. Both backends, mock sources."""

from __future__ import annotations

import json

import httpx
from starlette.testclient import TestClient

from tests.federation.support import BASE, REG, VEHICLE, Source, create, prop, register, vehicle

BATCH = f"{BASE}/entityOperations"
OPS = ["redirectionOps", "createBatch", "upsertBatch", "updateBatch", "deleteBatch", "mergeBatch"]


def local_ids(client: TestClient) -> list[str]:
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "local": "true"})
    return sorted(e["id"] for e in r.json())


def exclusive(client: TestClient, suffix: str, n: int = 1) -> None:
    info = {"entities": [{"id": VEHICLE + suffix, "type": "Vehicle"}], "propertyNames": ["speed"]}
    register(client, n, mode="exclusive", information=[info], operations=OPS)


def test_batch_create_sends_one_batch_per_source_and_creates_here(
    client: TestClient, source: Source
) -> None:
    """5.6.7.4 with an inclusive registration: the source gets both entities in one
    request (ETSI D012_01_inc: one stub hit), the broker creates them too: 201, the ids."""
    register(client, operations=OPS)
    source.answer = lambda r: httpx.Response(201, json=[VEHICLE + "B1", VEHICLE + "B2"])
    batch = [vehicle("B1", speed=prop(1)), vehicle("B2", speed=prop(2))]
    r = client.post(f"{BATCH}/create", json=batch)
    assert r.status_code == 201, r.text
    assert r.json() == [VEHICLE + "B1", VEHICLE + "B2"]
    (sent,) = source.requests
    assert sent.url.path == f"{BATCH}/create" and json.loads(sent.content) == batch
    assert local_ids(client) == [VEHICLE + "B1", VEHICLE + "B2"]


def test_an_exclusive_attribute_goes_to_its_source_only(client: TestClient, source: Source) -> None:
    """5.6.9.4 / 4.3.6.3: in a batch update the attribute an exclusive registration covers
    goes to its source, the rest is updated here; the other entity stays here alone."""
    create(client, vehicle("B3", brandName=prop("a")))
    create(client, vehicle("B4", brandName=prop("a")))
    exclusive(client, "B3")
    source.answer = lambda r: httpx.Response(204)
    batch = [
        {"id": VEHICLE + "B3", "speed": prop(9), "brandName": prop("b")},
        {"id": VEHICLE + "B4", "brandName": prop("c")},
    ]
    r = client.post(f"{BATCH}/update", json=batch)
    assert r.status_code == 204, r.text
    (sent,) = source.requests
    assert json.loads(sent.content) == [{"id": VEHICLE + "B3", "speed": prop(9)}]
    got = client.get(f"{BASE}/entities/{VEHICLE}B3", params={"local": "true"}).json()
    assert "speed" not in got and got["brandName"]["value"] == "b"
    client.post(f"{BATCH}/update", json=batch[:1], params={"options": "noOverwrite"})
    assert source.requests[-1].url.params["options"] == "noOverwrite"


def test_a_source_failing_some_entities_is_a_207_naming_them(
    client: TestClient, source: Source
) -> None:
    """5.6.10.4: the source's 207 BatchOperationResult is read per entity; an entity is a
    success only when every part of it succeeded; the failed part names its registration."""
    create(client, vehicle("B5"))
    create(client, vehicle("B6"))
    register(client, operations=OPS)
    source.answer = lambda r: httpx.Response(
        207,
        json={
            "success": [VEHICLE + "B5"],
            "errors": [{"entityId": VEHICLE + "B6", "error": {"status": 404, "title": "gone"}}],
        },
    )
    r = client.post(f"{BATCH}/delete", json=[VEHICLE + "B5", VEHICLE + "B6"])
    assert r.status_code == 207, r.text
    assert r.json()["success"] == [VEHICLE + "B5"]
    (error,) = r.json()["errors"]
    assert error["entityId"] == VEHICLE + "B6" and error["registrationId"] == f"{REG}1"
    assert error["error"]["status"] == 404
    assert local_ids(client) == []
    assert json.loads(source.requests[0].content) == [VEHICLE + "B5", VEHICLE + "B6"]


def test_a_silent_source_fails_its_entities_with_a_warning(
    client: TestClient, source: Source
) -> None:
    """6.3.17: a source that does not answer: its entities fail (504), NGSILD-Warning."""
    register(client, mode="redirect", operations=OPS)
    source.hang = True
    r = client.post(f"{BATCH}/upsert", json=[vehicle("B7", speed=prop(1))])
    assert r.status_code == 207, r.text
    assert r.json()["errors"][0]["error"]["status"] == 504
    assert r.headers["NGSILD-Warning"].startswith("199 ")
    assert local_ids(client) == []  # a redirect registration's entity is never kept here


def test_without_the_batch_operation_nothing_is_sent(client: TestClient, source: Source) -> None:
    """Table 4.20-2: redirectionOps holds no batch operation; an inclusive registration with
    it alone is not sent batches, a redirect one is a Conflict for its entities."""
    register(client, operations=["redirectionOps"])
    r = client.post(f"{BATCH}/create", json=[vehicle("B8")])
    assert r.status_code == 201 and source.requests == []
    register(client, 2, mode="redirect", operations=["redirectionOps"])
    r = client.post(f"{BATCH}/merge", json=[{"id": VEHICLE + "B8", "speed": prop(3)}])
    assert r.status_code == 207, r.text
    assert r.json()["errors"][0]["error"]["status"] == 409
    assert source.requests == []


def test_an_upsert_held_by_redirect_sources_is_created_only_when_a_source_says_so(
    client: TestClient, source: Source
) -> None:
    """5.6.8.4: upsert answers 201 with the ids created, 204 when none was; an entity only
    redirect sources hold is created when its source answered 201 (the ids its array
    names, or all of them without one), not whenever it is missing here."""
    pattern = [{"entities": [{"idPattern": f"{VEHICLE}U.*", "type": "Vehicle"}]}]
    register(client, mode="redirect", information=pattern, operations=OPS)
    batch = [vehicle("U1", speed=prop(1)), vehicle("U2", speed=prop(2))]
    source.answer = lambda r: httpx.Response(204)
    r = client.post(f"{BATCH}/upsert", json=batch)
    assert r.status_code == 204, r.text
    assert local_ids(client) == []
    source.answer = lambda r: httpx.Response(201, json=[VEHICLE + "U2"])
    r = client.post(f"{BATCH}/upsert", json=batch)
    assert r.status_code == 201 and r.json() == [VEHICLE + "U2"]
    source.answer = lambda r: httpx.Response(201)
    r = client.post(f"{BATCH}/create", json=batch)
    assert r.status_code == 201 and r.json() == [VEHICLE + "U1", VEHICLE + "U2"]


def test_a_batch_with_one_context_url_is_forwarded_as_json_with_a_link(
    client: TestClient, source: Source
) -> None:
    """6.3.5: a forwarded batch whose entities all carry the same @context URL goes as
    application/json with that @context in Link and no @context members (one Link for the
    whole batch); entities with different @contexts stay JSON-LD."""
    register(client, operations=OPS)
    source.answer = lambda r: httpx.Response(201)
    core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    batch = [{**vehicle(f"C{n}", speed=prop(n)), "@context": [core]} for n in (1, 2)]
    r = client.post(f"{BATCH}/create", json=batch, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    sent = source.requests[-1]
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["link"].startswith(f"<{core}>")
    assert json.loads(sent.content) == [vehicle(f"C{n}", speed=prop(n)) for n in (1, 2)]
    other = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld"
    mixed = [{**vehicle("C3"), "@context": core}, {**vehicle("C4"), "@context": other}]
    r = client.post(f"{BATCH}/create", json=mixed, headers={"Content-Type": "application/ld+json"})
    sent = source.requests[-1]
    assert sent.headers["content-type"] == "application/ld+json" and "link" not in sent.headers
    assert json.loads(sent.content) == mixed
