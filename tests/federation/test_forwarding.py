"""Distributed reads through the API (ETSI GS CIM 009 v1.8.1 clause 4.3.6 registrations,
5.7.1.4 Retrieve Entity and 5.7.2.4 Query Entities forwarded, 6.3.17 NGSILD-Warning), on
both backends, against a context source played by an ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.settings import Settings
from tests.federation.support import BASE, REG, VEHICLE, Source, create, ok, prop, register, vehicle


def test_retrieve_reaches_an_inclusive_source_without_the_callers_credentials(
    client: TestClient, source: Source
) -> None:
    """Clause 5.7.1.4: an entity only a source holds is retrieved through the broker; the
    forwarded request names the entity, asks for JSON and carries Via, never the caller's
    Authorization (issue 23: a source never gets the caller's credentials)."""
    register(client)
    source.answer = ok(vehicle("A", speed=prop(42)))
    r = client.get(f"{BASE}/entities/{VEHICLE}A", headers={"Authorization": "Bearer caller-secret"})
    assert r.status_code == 200, r.text
    assert r.json()["speed"]["value"] == 42 and r.json()["type"] == "Vehicle"
    assert "NGSILD-Warning" not in r.headers
    (sent,) = source.requests
    assert sent.method == "GET" and sent.url.path == f"{BASE}/entities/{VEHICLE}A"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["via"].startswith("1.1 cityhub-")
    assert "authorization" not in sent.headers and "local" not in sent.url.params


def test_retrieve_merges_the_most_recent_instance_per_attribute(
    client: TestClient, source: Source
) -> None:
    """Clause 4.3.6.2: local and inclusive attributes merge; the later observedAt wins."""
    create(
        client,
        vehicle(
            "B",
            speed=prop(10, observedAt="2026-01-01T10:00:00Z"),
            fuel=prop(0.5, observedAt="2026-01-01T12:00:00Z"),
            plate=prop("local"),
        ),
    )
    register(client)
    source.answer = ok(
        vehicle(
            "B",
            speed=prop(80, observedAt="2026-01-01T11:00:00Z"),
            fuel=prop(0.1, observedAt="2026-01-01T09:00:00Z"),
            brandName=prop("remote"),
        )
    )
    got = client.get(f"{BASE}/entities/{VEHICLE}B").json()
    assert got["speed"]["value"] == 80  # the source's is newer
    assert got["fuel"]["value"] == 0.5  # the local one is newer
    assert got["plate"]["value"] == "local" and got["brandName"]["value"] == "remote"


def test_auxiliary_source_only_fills_gaps(client: TestClient, source: Source) -> None:
    """Clause 4.3.6.2 (auxiliary): a source's attribute is used only where the broker has
    none, however recent (ETSI D010_01_aux)."""
    create(client, vehicle("C", speed=prop(10, observedAt="2026-01-01T10:00:00Z")))
    register(client, mode="auxiliary")
    source.answer = ok(
        vehicle("C", speed=prop(99, observedAt="2027-01-01T00:00:00Z"), brandName=prop("aux"))
    )
    got = client.get(f"{BASE}/entities/{VEHICLE}C").json()
    assert got["speed"]["value"] == 10 and got["brandName"]["value"] == "aux"


def test_local_true_and_a_looping_via_ask_no_source(client: TestClient, source: Source) -> None:
    """``local=true`` (clause 6.3.18) and a request that went through this broker already
    (Via, loop detection) are answered locally."""
    create(client, vehicle("D", speed=prop(1)))
    register(client)
    source.answer = ok([vehicle("E", speed=prop(2))])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "local": "true"})
    assert [e["id"] for e in r.json()] == [VEHICLE + "D"]
    identity = client.app.state.federation.identity  # type: ignore[attr-defined]
    r = client.get(
        f"{BASE}/entities", params={"type": "Vehicle"}, headers={"Via": f"1.1 x, 1.1 {identity}"}
    )
    assert [e["id"] for e in r.json()] == [VEHICLE + "D"]
    # Table 6.3.17-1: 199 when "a registration loop has been detected"
    assert r.headers["NGSILD-Warning"].startswith('199 - "this request already went through')
    assert source.requests == []
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "local": "maybe"})
    assert r.status_code == 400 and "local" in r.json()["detail"]


@pytest.mark.parametrize(
    ("answer", "code", "words"),
    [
        (lambda r: httpx.Response(500, text="boom"), "299", "answered HTTP 500"),
        (lambda r: httpx.Response(403, text="no"), "299", "answered HTTP 403"),
        (lambda r: httpx.Response(200, text="not json"), "111", "answered no JSON"),
        (lambda r: httpx.Response(200, json={"id": "nope"}), "111", "not valid NGSI-LD"),
        (lambda r: httpx.Response(200, json=vehicle("Z")), "111", "another entity"),
        (lambda r: httpx.Response(200, content=b"[" * 100), "111", "answered no JSON"),
    ],
)
def test_a_failing_source_is_a_warning_never_an_error(
    client: TestClient,
    source: Source,
    answer: Callable[[httpx.Request], httpx.Response],
    code: str,
    words: str,
) -> None:
    """Clause 6.3.17: the broker answers with what it has and an NGSILD-Warning; Table
    6.3.17-1 (v1.9.1): 299 when "an error response (such as 403 - Forbidden) was received
    from the registration endpoint", 111 when "although data was received from the
    registration endpoint within the specified timeout period, the payload of the response
    was invalid" (it is not incorporated)."""
    create(client, vehicle("F", speed=prop(1)))
    register(client)
    source.answer = answer
    r = client.get(f"{BASE}/entities/{VEHICLE}F")
    assert r.status_code == 200 and r.json()["speed"]["value"] == 1
    warning = r.headers["NGSILD-Warning"]
    assert warning.startswith(f"{code} 127.0.0.1:1026 ") and words in warning
    assert f"{REG}1" in warning


def test_a_source_that_never_answers_is_cut_off_at_its_timeout(
    client: TestClient, source: Source
) -> None:
    """A source never stalls the hub: after federation_timeout the broker answers without
    it (warn-code 199), for a query and for a retrieve of an entity only it holds (404)."""
    create(client, vehicle("G", speed=prop(1)))
    register(client)
    source.hang = True
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [VEHICLE + "G"]
    assert r.headers["NGSILD-Warning"].startswith("199 ")
    assert "did not answer within 0.5 s" in r.headers["NGSILD-Warning"]
    r = client.get(f"{BASE}/entities/{VEHICLE}H")
    assert r.status_code == 404 and r.headers["NGSILD-Warning"].startswith("199 ")


def test_a_source_outside_the_allowed_hosts_is_never_asked(
    client: TestClient, source: Source
) -> None:
    """No server-side request forgery: federation_allowed_hosts is loopback by default."""
    create(client, vehicle("I", speed=prop(1)))
    register(client, endpoint="http://169.254.169.254/latest")
    register(client, 2, endpoint="http://10.1.2.3:1026")
    r = client.get(f"{BASE}/entities/{VEHICLE}I")
    assert r.status_code == 200 and source.requests == []
    assert r.headers["NGSILD-Warning"].count("not on federation_allowed_hosts") == 2


def test_query_merges_sources_then_pages_and_counts(client: TestClient, source: Source) -> None:
    """Clause 5.7.2.4: the local and the sources' entities, each once, paged after the
    merge; the source is asked for offset + limit entities, normalized (the caller's
    keyValues is rendered here)."""
    create(client, vehicle("A1", speed=prop(1)))
    create(client, vehicle("B1", speed=prop(2)))
    register(client)
    remote = [vehicle("B1", brandName=prop("b")), vehicle("C1", speed=prop(3))]
    source.answer = ok(remote, count=2)
    r = client.get(
        f"{BASE}/entities",
        params={"type": "Vehicle", "limit": "2", "offset": "1", "count": "true"},
    )
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()] == [VEHICLE + "B1", VEHICLE + "C1"]
    assert set(r.json()[0]) >= {"speed", "brandName"}
    assert r.headers["NGSILD-Results-Count"] == "3"
    sent = source.requests[0].url.params
    assert sent["limit"] == "3" and sent["count"] == "true" and sent["type"] == "Vehicle"
    assert "offset" not in sent
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "options": "keyValues,sysAttrs"})
    assert {e["id"]: e.get("speed") for e in r.json()}[VEHICLE + "C1"] == 3
    assert source.requests[-1].url.params["options"] == "sysAttrs"


def test_post_query_forwards_the_query_to_queryBatch_sources_only(  # noqa: N802
    client: TestClient, source: Source
) -> None:
    """Clause 5.7.2.4 via POST /entityOperations/query: forwarded as the same Query to a
    registration with queryBatch (federationOps); one with queryEntity only gets GETs."""
    register(client, operations=["queryEntity"])
    source.answer = ok([vehicle("Q1", speed=prop(1))])
    query = {"type": "Query", "entities": [{"type": "Vehicle"}]}
    r = client.post(f"{BASE}/entityOperations/query", json=query)
    assert r.status_code == 200 and r.json() == [] and source.requests == []
    assert [e["id"] for e in client.get(f"{BASE}/entities?type=Vehicle").json()] == [VEHICLE + "Q1"]
    register(client, 2, operations=["queryBatch"])
    source.requests.clear()
    r = client.post(f"{BASE}/entityOperations/query", json=query)
    assert [e["id"] for e in r.json()] == [VEHICLE + "Q1"]
    (sent,) = source.requests
    assert sent.method == "POST" and sent.url.path == f"{BASE}/entityOperations/query"
    assert json.loads(sent.content) == query
    assert sent.headers["content-type"] == "application/json"


def test_registration_tenant_and_context_source_info_become_headers(
    client: TestClient, source: Source
) -> None:
    """Clause 4.3.6.5 / 5.2.9: the registration's tenant and contextSourceInfo are sent to
    the source; contextSourceInfo cannot replace the headers the forwarding sets."""
    register(
        client,
        tenant="district",
        contextSourceInfo=[
            {"key": "X-Source-Key", "value": "abc"},
            {"key": "Via", "value": "forged"},
        ],
    )
    source.answer = ok([])
    client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    (sent,) = source.requests
    assert sent.headers["ngsild-tenant"] == "district"
    assert sent.headers["x-source-key"] == "abc"
    assert "forged" not in sent.headers["via"]


def test_a_query_is_forwarded_as_its_caller_wrote_it(client: TestClient, source: Source) -> None:
    """Without limit or offset the source pages by its own default; ids keep their colons
    (RFC 3986 allows them in a query); local paging and representation stay here."""
    register(client)
    source.answer = ok([])
    r = client.get(
        f"{BASE}/entities",
        params={"id": VEHICLE + "X", "type": "Vehicle", "format": "simplified", "pick": "id"},
    )
    assert r.status_code == 200 and r.json() == []
    (sent,) = source.requests
    assert sent.url.query == f"id={VEHICLE}X&type=Vehicle".encode()


def test_a_query_asks_a_source_only_for_the_entities_and_attributes_it_registers(
    client: TestClient, source: Source
) -> None:
    """Clause 4.3.6.1: "all constraints specified in the registration shall be respected",
    entity ids and attribute names among them: a registration naming entities by id is asked
    for those ids (the ones the caller asks for, when it does), one naming attributes for
    those attributes, in the caller's order with ``id`` before ``attrs``."""
    ids = [{"id": VEHICLE + "E1", "type": "Vehicle"}, {"id": VEHICLE + "E2", "type": "Vehicle"}]
    register(client, mode="exclusive", information=[{"entities": ids, "propertyNames": ["speed"]}])
    source.answer = ok([vehicle("E1", speed=prop(5))])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert [e["id"] for e in r.json()] == [VEHICLE + "E1"]
    assert r.json()[0]["speed"]["value"] == 5
    sent = source.requests[-1].url.query
    assert sent == f"type=Vehicle&id={VEHICLE}E1,{VEHICLE}E2&attrs=speed".encode()
    client.get(f"{BASE}/entities", params={"id": f"{VEHICLE}E2,{VEHICLE}Z", "type": "Vehicle"})
    assert source.requests[-1].url.query == f"id={VEHICLE}E2&type=Vehicle&attrs=speed".encode()
    # a registration by type is not narrowed by id
    register(client, 2)
    source.requests.clear()
    client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert sorted(r.url.query for r in source.requests) == [
        b"type=Vehicle",
        f"type=Vehicle&id={VEHICLE}E1,{VEHICLE}E2&attrs=speed".encode(),
    ]


@pytest.mark.parametrize("bad", ["two words", "a,b", "ü", "x" * 101])
def test_a_federation_id_that_cannot_be_a_via_name_is_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="federation_id"):
        create_app(Settings(store=f"sqlite:///{tmp_path / 'f.db'}", federation_id=bad))


def test_an_allowed_host_that_is_no_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="federation_allowed_hosts"):
        create_app(Settings(store=f"sqlite:///{tmp_path / 'f.db'}", federation_allowed_hosts="a b"))


def test_a_source_that_keeps_failing_is_skipped_for_a_cool_down_then_tried_again(
    client: TestClient, source: Source
) -> None:
    """Issue 23 (a source never stalls the hub), clause 6.3.17: after
    federation_breaker_failures failures in a row the source is not asked (the answer comes
    at once, with a warning saying so) until federation_breaker_cooldown has passed; then one
    request tries it, and an answer closes the breaker."""
    now = [1000.0]
    breakers = client.app.state.federation.breakers  # type: ignore[attr-defined]
    breakers.threshold, breakers.cooldown, breakers.clock = 2, 30.0, lambda: now[0]
    create(client, vehicle("K", speed=prop(1)))
    register(client)
    source.answer = lambda r: httpx.Response(503)
    for _ in range(2):
        r = client.get(f"{BASE}/entities/{VEHICLE}K")
        assert r.status_code == 200 and "answered HTTP 503" in r.headers["NGSILD-Warning"]
    r = client.get(f"{BASE}/entities/{VEHICLE}K")
    assert r.status_code == 200 and len(source.requests) == 2
    assert "failed 2 times in a row" in r.headers["NGSILD-Warning"]
    assert r.headers["NGSILD-Warning"].startswith("199 ")
    source.answer = ok(vehicle("K", brandName=prop("back")))
    now[0] += 31
    r = client.get(f"{BASE}/entities/{VEHICLE}K")
    assert r.json()["brandName"]["value"] == "back" and "NGSILD-Warning" not in r.headers
    r = client.get(f"{BASE}/entities/{VEHICLE}K")
    assert len(source.requests) == 4 and "NGSILD-Warning" not in r.headers


def test_a_new_or_changed_registration_closes_its_endpoints_breaker(
    client: TestClient, source: Source
) -> None:
    """Issue 23 (a source that times out repeatedly is skipped) against the ETSI suite's
    pattern (one mock endpoint for every test, which never answers requests it has no stub
    for): a registration created or changed for an endpoint is judged on its own answers,
    so a breaker the endpoint's earlier failures opened closes; other endpoints' do not."""
    breakers = client.app.state.federation.breakers  # type: ignore[attr-defined]
    breakers.threshold, breakers.cooldown = 2, 3600.0
    create(client, vehicle("T", speed=prop(1)))
    register(client)
    source.hang = True
    for _ in range(2):  # the mock holds the request: each read waits out the timeout
        r = client.get(f"{BASE}/entities/{VEHICLE}T")
        assert r.status_code == 200 and "did not answer within" in r.headers["NGSILD-Warning"]
    r = client.get(f"{BASE}/entities/{VEHICLE}T")
    assert "failed 2 times in a row" in r.headers["NGSILD-Warning"] and len(source.requests) == 2
    breakers.failed("http://[::1]:1026")
    breakers.failed("http://[::1]:1026")
    source.hang = False
    source.answer = ok(vehicle("T", brandName=prop("stub")))
    register(client, 2)  # the next test's registration, same endpoint
    r = client.get(f"{BASE}/entities/{VEHICLE}T")
    assert r.json()["brandName"]["value"] == "stub" and "NGSILD-Warning" not in r.headers
    assert len(source.requests) == 4  # both registrations' sources asked
    assert not breakers.allow("http://[::1]:1026")  # another endpoint keeps its record
    for _ in range(2):
        breakers.failed("http://127.0.0.1:1026")
    r = client.patch(f"{BASE}/csourceRegistrations/{REG}1", json={"tenant": None})
    assert r.status_code == 204, r.text
    r = client.get(f"{BASE}/entities/{VEHICLE}T")
    assert "NGSILD-Warning" not in r.headers and len(source.requests) == 6


def test_sources_are_asked_in_parallel(client: TestClient, source: Source) -> None:
    """Issue 23 (fan-out in parallel): two sources that each answer only once the other has
    been asked both answer; asked one after the other, the first would wait out its
    timeout."""
    register(client)
    register(client, 2, endpoint="http://[::1]:1026")
    both = asyncio.Barrier(2)

    async def meet(request: httpx.Request) -> httpx.Response:
        source.requests.append(request)
        async with asyncio.timeout(2):
            await both.wait()
        return httpx.Response(200, json=[vehicle("P" + str(request.url.host), speed=prop(1))])

    client.app.state.federation._transport = httpx.MockTransport(meet)  # type: ignore[attr-defined]
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 200 and "NGSILD-Warning" not in r.headers, r.headers
    assert len(r.json()) == 2 and len(source.requests) == 2


def test_context_source_info_may_ask_for_the_callers_value(
    client: TestClient, source: Source
) -> None:
    """Clause 4.3.6.5: a contextSourceInfo value urn:ngsi-ld:request forwards the caller's
    value of that key (the only way a caller's credentials reach a source: the registration
    says so); absent from the caller's request, nothing is sent."""
    register(
        client,
        contextSourceInfo=[
            {"key": "Authorization", "value": "urn:ngsi-ld:request"},
            {"key": "X-Absent", "value": "urn:ngsi-ld:request"},
        ],
    )
    source.answer = ok([])
    client.get(
        f"{BASE}/entities", params={"type": "Vehicle"}, headers={"Authorization": "Bearer c"}
    )
    (sent,) = source.requests
    assert sent.headers["authorization"] == "Bearer c" and "x-absent" not in sent.headers


def _hosted(client: TestClient, terms: dict[str, str]) -> str:
    r = client.post(f"{BASE}/jsonldContexts", json={"@context": terms})
    assert r.status_code == 201, r.text
    return str(r.headers["Location"])


def test_a_registrations_json_ld_context_rewrites_what_is_forwarded(
    client: TestClient, source: Source
) -> None:
    """Clause 4.3.6.6: with contextSourceInfo "jsonldContext", the broker compacts payload and
    query parameters with that @context, forwards with it (Link) and "application/json",
    without any @context member; the source's answer is read in it."""
    mine = _hosted(client, {"speed": "https://car.example/speed"})
    theirs = _hosted(client, {"velocidad": "https://car.example/speed"})
    link = {"Link": f'<{mine}>; rel="http://www.w3.org/ns/json-ld#context"'}
    register(
        client,
        operations=["federationOps", "updateOps"],
        contextSourceInfo=[{"key": "jsonldContext", "value": theirs}],
    )
    source.answer = ok([vehicle("J1", velocidad=prop(7))])
    r = client.get(
        f"{BASE}/entities",
        params={"type": "Vehicle", "attrs": "speed", "q": "speed>3"},
        headers=link,
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["speed"]["value"] == 7
    sent = source.requests[-1]
    assert sent.url.params["attrs"] == "velocidad" and sent.url.params["q"] == "velocidad>3"
    assert sent.headers["link"].startswith(f"<{theirs}>")
    assert "jsonldcontext" not in sent.headers
    source.answer = lambda request: httpx.Response(204)
    r = client.patch(
        f"{BASE}/entities/{VEHICLE}J1/attrs",
        json={"speed": prop(9), "@context": mine},
        headers={"Content-Type": "application/ld+json"},
    )
    assert r.status_code in (204, 207), r.text
    sent = source.requests[-1]
    assert sent.method == "PATCH"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["link"].startswith(f"<{theirs}>")
    assert json.loads(sent.content) == {"velocidad": prop(9)}


def test_registered_accept_and_content_type_steer_the_forwarded_request(
    client: TestClient, source: Source
) -> None:
    """Clause 4.3.6.6: "accept" is the format the source is asked for; "contentType"
    application/ld+json sends the @context inside the payload instead of a Link."""
    info = [
        {"key": "accept", "value": "application/ld+json"},
        {"key": "contentType", "value": "application/ld+json"},
    ]
    register(client, operations=["redirectionOps"], contextSourceInfo=info)
    source.answer = ok(vehicle("K1", speed=prop(1)))
    r = client.get(f"{BASE}/entities/{VEHICLE}K1")
    assert r.status_code == 200 and r.json()["speed"]["value"] == 1
    assert source.requests[-1].headers["accept"] == "application/ld+json"
    source.answer = lambda request: httpx.Response(201)
    r = client.post(f"{BASE}/entities", json=vehicle("K2", speed=prop(2)))
    assert r.status_code == 201, r.text
    sent = source.requests[-1]
    assert sent.headers["content-type"] == "application/ld+json" and "link" not in sent.headers
    assert "@context" in json.loads(sent.content)
    assert "contenttype" not in sent.headers


@pytest.mark.parametrize("bad", ["not a url", "urn:x:y", "http://127.0.0.1:9/none.jsonld"])
def test_a_json_ld_context_that_cannot_be_had_is_a_warning(
    client: TestClient, source: Source, bad: str
) -> None:
    """Clause 4.3.6.6 / 6.3.17: a registration whose jsonldContext cannot be used is not asked
    (the request could not be compacted for it): a 299 warning naming it; the other sources
    still answer (never a 500)."""
    register(client, 2, contextSourceInfo=[{"key": "jsonldContext", "value": bad}])
    register(client, 3)
    source.answer = ok([vehicle("W1", speed=prop(1))])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [VEHICLE + "W1"]
    assert "299" in r.headers["NGSILD-Warning"] and bad in r.headers["NGSILD-Warning"]
    assert len(source.requests) == 1


def test_a_query_answer_with_an_invalid_entity_is_not_incorporated(
    client: TestClient, source: Source
) -> None:
    """Clause 6.3.17: "invalid non-NGSI-LD payloads shall be rejected and not incorporated
    into the overall response": a source's array with one entity that is not NGSI-LD gives
    none of its entities, the local ones and warning 111 (Table 6.3.17-1, v1.9.1)."""
    create(client, vehicle("Q1", speed=prop(1)))
    register(client)
    source.answer = ok([vehicle("Q2", speed=prop(2)), {"id": "not a uri", "type": "Vehicle"}])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.status_code == 200
    assert [e["id"] for e in r.json()] == [VEHICLE + "Q1"]
    assert r.headers["NGSILD-Warning"].startswith("111 127.0.0.1:1026 ")


def test_a_context_source_filter_narrows_the_sources_a_query_asks(
    client: TestClient, source: Source
) -> None:
    """Query Entities' ``csf`` (Context Source filter, a q over the registrations' own
    members and CSource properties, clause 4.9) chooses which matching registrations the
    distributed query asks (clause 5.7.2.4): a filter the registration does not meet leaves
    its source out, one it meets asks it; a csf that is not a valid q is a 400."""
    create(client, vehicle("S1", speed=prop(1)))
    register(client, sourceType="sensor")
    source.answer = ok([vehicle("S2", speed=prop(2))])
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "csf": 'sourceType=="archive"'})
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [VEHICLE + "S1"]
    assert source.requests == []
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "csf": 'sourceType=="sensor"'})
    assert {e["id"] for e in r.json()} == {VEHICLE + "S1", VEHICLE + "S2"}
    assert len(source.requests) == 1
    r = client.get(f"{BASE}/entities", params={"type": "Vehicle", "csf": "sourceType=="})
    assert r.status_code == 400
