"""Distributed writes through the API (ETSI GS CIM 009 v1.8.1 clause 4.3.6 modes, the
distributed behaviour of 5.6.1.4 Create Entity, 5.6.2.4 Update Attributes, 5.6.3.4 Append
Attributes, 5.6.4.4 Partial Attribute Update, 5.6.5.4 Delete Attribute, 5.6.6.4 Delete Entity,
5.6.17.4 Merge Entity, 5.6.18.4 Replace Entity; 6.3.17 NGSILD-Warning), on both backends,
against context sources played by an ``httpx.MockTransport``."""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.federation.support import BASE, REG, VEHICLE, Source, create, prop, register, vehicle

SPEED = "https://uri.etsi.org/ngsi-ld/default-context/speed"


def answering(status: int, body: Any = None) -> Any:
    return lambda r: (
        httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    )


def local(client: TestClient, suffix: str) -> httpx.Response:
    return client.get(f"{BASE}/entities/{VEHICLE}{suffix}", params={"local": "true"})


def sent_body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def exclusive(client: TestClient, suffix: str, n: int = 1, **members: Any) -> None:
    """Clause 4.3.6.3: an exclusive registration names the entity by id and its attributes."""
    info = {"entities": [{"id": VEHICLE + suffix, "type": "Vehicle"}], "propertyNames": ["speed"]}
    register(
        client, n, mode="exclusive", information=[info], operations=["redirectionOps"], **members
    )


def test_create_goes_to_an_inclusive_source_and_here(client: TestClient, source: Source) -> None:
    """5.6.1.4 / 4.3.6.2: an inclusive registration gets the create, the broker creates the
    entity too; the forwarded request carries no caller credentials."""
    register(client, operations=["redirectionOps"])
    source.answer = answering(201)
    body = vehicle("W1", speed=prop(10), brandName=prop("b"))
    r = client.post(f"{BASE}/entities", json=body, headers={"Authorization": "Bearer secret"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(VEHICLE + "W1")
    (sent,) = source.requests
    assert sent.method == "POST" and sent.url.path == f"{BASE}/entities"
    assert sent_body(sent) == body and "authorization" not in sent.headers
    assert local(client, "W1").json()["speed"]["value"] == 10


def test_create_gives_an_exclusive_registrations_attributes_to_its_source_only(
    client: TestClient, source: Source
) -> None:
    """5.6.1.4 / 4.3.6.3: the attributes an exclusive registration covers go to its source and
    are removed from the local create; the rest is created here."""
    exclusive(client, "W2")
    source.answer = answering(201)
    r = client.post(f"{BASE}/entities", json=vehicle("W2", speed=prop(10), brandName=prop("local")))
    assert r.status_code == 201, r.text
    (sent,) = source.requests
    assert sent_body(sent) == vehicle("W2", speed=prop(10))
    got = local(client, "W2").json()
    assert "speed" not in got and got["brandName"]["value"] == "local"


def test_a_create_an_exclusive_source_takes_whole_is_not_made_here(
    client: TestClient, source: Source
) -> None:
    """5.6.1.4: nothing is left for the broker (ETSI D001_01_exc: 201, no local entity)."""
    exclusive(client, "W3")
    source.answer = answering(201)
    r = client.post(f"{BASE}/entities", json=vehicle("W3", speed=prop(10)))
    assert r.status_code == 201, r.text
    assert local(client, "W3").status_code == 404


def test_a_source_that_refuses_the_create_is_a_partial_success(
    client: TestClient, source: Source
) -> None:
    """5.6.1.4: the source's error makes a partial success, 207 with a BatchOperationResult
    naming the registration (ETSI D001_03_01); created here as well. When the entity already
    exists here too, both parts fail: 207 with both errors (D001_03_02)."""
    register(client, operations=["redirectionOps"])
    source.answer = answering(409, {"type": "x", "title": "Already exists", "status": 409})
    r = client.post(f"{BASE}/entities", json=vehicle("W4", speed=prop(1)))
    assert r.status_code == 207, r.text
    assert r.json()["success"] == [VEHICLE + "W4"]
    (error,) = r.json()["errors"]
    assert error["registrationId"] == f"{REG}1" and error["error"]["status"] == 409
    assert local(client, "W4").status_code == 200
    r = client.post(f"{BASE}/entities", json=vehicle("W4", speed=prop(1)))
    assert r.status_code == 207
    assert [e["error"]["status"] for e in r.json()["errors"]] == [409, 409]
    assert r.json()["success"] == []


def test_the_only_part_failing_is_the_sources_error(client: TestClient, source: Source) -> None:
    """5.6.1.4: when a proxied source holds the whole write, its error is the answer."""
    exclusive(client, "W5")
    source.answer = answering(409, {"type": "x", "title": "Already exists", "status": 409})
    r = client.post(f"{BASE}/entities", json=vehicle("W5", speed=prop(1)))
    assert r.status_code == 409 and r.json()["title"] == "Already exists"


def test_update_attributes_split_between_an_exclusive_source_and_here(
    client: TestClient, source: Source
) -> None:
    """5.6.2.4: the exclusive registration's attribute goes to its source, the others are
    updated here; a source that fails makes a 207 UpdateResult whose notUpdated names the
    registration."""
    create(client, vehicle("W6", brandName=prop("old")))
    exclusive(client, "W6")
    source.answer = answering(204)
    patch = {"speed": prop(50), "brandName": prop("new")}
    r = client.patch(f"{BASE}/entities/{VEHICLE}W6/attrs", json=patch)
    assert r.status_code == 204, r.text
    (sent,) = source.requests
    assert sent.method == "PATCH" and sent.url.path == f"{BASE}/entities/{VEHICLE}W6/attrs/"
    assert sent_body(sent) == {"speed": prop(50)}
    got = local(client, "W6").json()
    assert got["brandName"]["value"] == "new" and "speed" not in got
    source.answer = answering(500)
    r = client.patch(f"{BASE}/entities/{VEHICLE}W6/attrs", json=patch)
    assert r.status_code == 207, r.text
    (missing,) = r.json()["notUpdated"]
    assert missing["attributeName"] == SPEED and missing["registrationId"] == f"{REG}1"
    assert "brandName" in r.json()["updated"][0]


def test_a_proxied_registration_without_the_operation_is_a_conflict(
    client: TestClient, source: Source
) -> None:
    """5.6.2.4: an exclusive registration that does not take updateEntity: its part fails
    with Conflict and nothing is sent to it; the rest is still updated here (207)."""
    create(client, vehicle("W7", brandName=prop("old")))
    exclusive(client, "W7")
    client.patch(
        f"{BASE}/csourceRegistrations/{REG}1", json={"operations": ["retrieveOps"]}
    ).raise_for_status()
    r = client.patch(
        f"{BASE}/entities/{VEHICLE}W7/attrs",
        json={"speed": prop(50), "brandName": prop("new")},
    )
    assert r.status_code == 207, r.text
    assert "updateEntity" in r.json()["notUpdated"][0]["reason"]
    assert source.requests == []
    r = client.patch(f"{BASE}/entities/{VEHICLE}W7/attrs", json={"speed": prop(50)})
    assert r.status_code == 409 and "operations" in r.json()["detail"]


def test_auxiliary_and_retrieve_only_registrations_receive_no_write(
    client: TestClient, source: Source
) -> None:
    """4.3.6.2: an auxiliary registration serves consumption only; an inclusive one without
    the operation (federationOps by default) is left out."""
    register(client, mode="auxiliary", operations=["redirectionOps"])
    register(client, 2)
    create(client, vehicle("W8", speed=prop(1)))
    r = client.patch(f"{BASE}/entities/{VEHICLE}W8/attrs", json={"speed": prop(2)})
    assert r.status_code == 204
    assert client.delete(f"{BASE}/entities/{VEHICLE}W8").status_code == 204
    assert source.requests == []


def test_redirect_registrations_take_the_whole_entity_away_from_the_broker(
    client: TestClient, source: Source
) -> None:
    """4.3.6.3: a redirect registration by type without attributes holds whole entities
    outside the broker: every matching redirect source gets the write (they may overlap),
    none is done here, and no local "not found" spoils the answer."""
    register(client, mode="redirect", operations=["redirectionOps"])
    register(client, 2, mode="redirect", operations=["redirectionOps"], endpoint="http://[::1]:9")
    source.answer = answering(201)
    r = client.post(f"{BASE}/entities", json=vehicle("W9", speed=prop(1)))
    assert r.status_code == 201, r.text
    assert sorted(q.url.host for q in source.requests) == ["127.0.0.1", "::1"]
    assert local(client, "W9").status_code == 404
    source.requests.clear()
    source.answer = answering(204)
    r = client.delete(f"{BASE}/entities/{VEHICLE}W9", params={"type": "Vehicle"})
    assert r.status_code == 204, r.text
    assert [q.method for q in source.requests] == ["DELETE", "DELETE"]


def test_delete_entity_here_and_at_the_source_partial(client: TestClient, source: Source) -> None:
    """5.6.6.4 (ETSI D002_02_01): deleted here, the source answers 404: 207 with its error."""
    create(client, vehicle("WA", speed=prop(1)))
    register(client, operations=["redirectionOps"])
    source.answer = answering(404)
    r = client.delete(f"{BASE}/entities/{VEHICLE}WA")
    assert r.status_code == 207, r.text
    assert r.json()["errors"][0]["error"]["status"] == 404
    assert local(client, "WA").status_code == 404


def test_a_silent_source_is_a_warning_and_a_partial_success(
    client: TestClient, source: Source
) -> None:
    """6.3.17: a source that does not answer within federation_timeout is a failed part and
    an NGSILD-Warning; the broker's own part is done."""
    create(client, vehicle("WB", brandName=prop("a")))
    register(client, operations=["redirectionOps"])
    source.hang = True
    r = client.post(f"{BASE}/entities/{VEHICLE}WB/attrs", json={"brandName": prop("b")})
    assert r.status_code == 207, r.text
    assert r.headers["NGSILD-Warning"].startswith("199 127.0.0.1:1026")
    assert r.json()["notUpdated"][0]["registrationId"] == f"{REG}1"
    assert local(client, "WB").json()["brandName"]["value"] == "b"


def test_append_merge_replace_and_attribute_writes_are_forwarded(
    client: TestClient, source: Source
) -> None:
    """5.6.3.4 (noOverwrite forwarded), 5.6.17.4, 5.6.18.4, 5.6.4.4, 5.6.19.4, 5.6.5.4: each
    goes to the exclusive source of the attribute with the caller's path and parameters."""
    create(client, vehicle("WC", brandName=prop("a")))
    exclusive(client, "WC")
    source.answer = answering(204)
    eid = VEHICLE + "WC"
    calls = [
        client.post(
            f"{BASE}/entities/{eid}/attrs",
            params={"options": "noOverwrite"},
            json={"speed": prop(1)},
        ),
        client.patch(f"{BASE}/entities/{eid}", json={"speed": prop(2)}),
        client.put(f"{BASE}/entities/{eid}", json={"type": "Vehicle", "speed": prop(3)}),
        client.patch(f"{BASE}/entities/{eid}/attrs/speed", json={"value": 4}),
        client.put(f"{BASE}/entities/{eid}/attrs/speed", json=prop(5)),
        client.delete(f"{BASE}/entities/{eid}/attrs/speed", params={"deleteAll": "true"}),
    ]
    assert [c.status_code for c in calls] == [204] * 6, [c.text for c in calls]
    seen = [(q.method, q.url.path.removeprefix(BASE), dict(q.url.params)) for q in source.requests]
    assert seen == [
        ("POST", f"/entities/{eid}/attrs/", {"options": "noOverwrite"}),
        ("PATCH", f"/entities/{eid}", {}),
        ("PUT", f"/entities/{eid}", {}),
        ("PATCH", f"/entities/{eid}/attrs/speed", {}),
        ("PUT", f"/entities/{eid}/attrs/speed", {}),
        ("DELETE", f"/entities/{eid}/attrs/speed", {"deleteAll": "true"}),
    ]
    assert sent_body(source.requests[2]) == {"type": "Vehicle", "speed": prop(3)}
    got = local(client, "WC").json()
    assert got["brandName"]["value"] == "a" and "speed" not in got


def test_local_true_writes_here_only(client: TestClient, source: Source) -> None:
    """6.3.18: local=true is not forwarded, for writes as for reads."""
    register(client, operations=["redirectionOps"])
    r = client.post(f"{BASE}/entities", params={"local": "true"}, json=vehicle("WD"))
    assert r.status_code == 201 and source.requests == []


def test_reads_reach_an_exclusive_source_and_its_attributes_win(
    client: TestClient, source: Source
) -> None:
    """4.3.6.3: the registered attributes of a proxied registration are the source's; a copy
    the broker still holds (from before the registration) loses, however recent. A query is
    forwarded asking only for the registration's attributes (4.3.6.1: the distributed request
    respects the registration)."""
    newer = prop(1, observedAt="2030-01-01T00:00:00Z")
    create(client, vehicle("WE", speed=newer, brandName=prop("here")))
    exclusive(client, "WE")
    source.answer = lambda r: (
        httpx.Response(200, json=vehicle("WE", speed=prop(99)))
        if "/entities/" in r.url.path
        else httpx.Response(200, json=[vehicle("WE", speed=prop(99))])
    )
    got = client.get(f"{BASE}/entities/{VEHICLE}WE").json()
    assert got["speed"]["value"] == 99 and got["brandName"]["value"] == "here"
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert [e["speed"]["value"] for e in r.json()] == [99]
    assert source.requests[-1].url.params["attrs"] == "speed"


def test_purge_goes_to_the_sources_of_the_type_and_runs_here(
    client: TestClient, source: Source
) -> None:
    """5.6.21.4: Purge Entities goes, as the caller asked it, to the registrations of the type
    that take purgeEntity (ETSI D017_01_inc) and purges here too; a source's failure is a 207
    naming it; local=true purges here only."""
    create(client, vehicle("WF", speed=prop(1)))
    register(client, operations=["redirectionOps"])
    register(client, 2, mode="auxiliary", operations=["redirectionOps"])
    source.answer = answering(204)
    r = client.delete(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 204, r.text
    (sent,) = source.requests
    assert sent.method == "DELETE" and dict(sent.url.params) == {"type": "Vehicle"}
    assert local(client, "WF").status_code == 404
    source.answer = answering(500)
    r = client.delete(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 207 and r.json()["errors"][0]["registrationId"] == f"{REG}1"
    r = client.delete(f"{BASE}/entities", params={"type": "Vehicle", "local": "true"})
    assert r.status_code == 204 and len(source.requests) == 2
