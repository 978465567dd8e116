"""/csourceRegistrations and /csourceSubscriptions: ETSI GS CIM 009 v1.8.1 clauses 5.9-5.11,
HTTP binding 6.8-6.9 and 6.12-6.13."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import DEFAULT

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
REGS = "/ngsi-ld/v1/csourceRegistrations"
SUBS = "/ngsi-ld/v1/csourceSubscriptions"
EX = "https://example.org/ns#"
INLINE = {"Building": EX + "Building", "name": EX + "name"}
LD = {"Content-Type": "application/ld+json"}


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == ERR + kind and body["title"] and body["detail"]
    return body


def csr(rid: str = "urn:ngsi-ld:ContextSourceRegistration:1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "type": "ContextSourceRegistration",
        "information": [
            {
                "entities": [{"id": "urn:ngsi-ld:Building:1", "type": "Building"}],
                "propertyNames": ["name"],
            }
        ],
        "endpoint": "http://cs.example.org:1026",
    }
    body.update(extra)
    return body


def sub(sid: str = "urn:ngsi-ld:Subscription:1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sid,
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}},
    }
    body.update(extra)
    return body


# 5.9.2 / 6.8.3.1: POST → 201 + Location; 5.10.1 GET by id
def test_register_and_retrieve(client: TestClient) -> None:
    r = client.post(REGS, json=csr())
    assert r.status_code == 201 and r.text == ""
    assert r.headers["Location"] == REGS + "/urn:ngsi-ld:ContextSourceRegistration:1"
    assert b"Location" in [k for k, _ in r.headers.raw]
    r = client.get(REGS + "/urn:ngsi-ld:ContextSourceRegistration:1")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert "ngsi-ld-core-context" in r.headers["link"]
    assert r.json() == {**csr(), "mode": "inclusive", "operations": ["federationOps"]}


# 6.3.5: @context inline for ld+json; names expanded on input, compacted with the reader's
def test_names_follow_the_context(client: TestClient) -> None:
    body = {**csr(), "@context": [INLINE]}
    assert client.post(REGS, json=body, headers=LD).status_code == 201
    r = client.get(REGS + "/urn:ngsi-ld:ContextSourceRegistration:1")
    info = r.json()["information"][0]
    assert info["entities"][0]["type"] == EX + "Building"
    assert info["propertyNames"] == [EX + "name"]
    r = client.get(
        REGS + "/urn:ngsi-ld:ContextSourceRegistration:1",
        headers={"Accept": "application/ld+json"},
    )
    assert r.headers["content-type"] == "application/ld+json" and "link" not in r.headers
    assert r.json()["@context"]


# 6.3.5: the @context rules of bodies, as on the entity routes
def test_context_rules(client: TestClient) -> None:
    problem(client.post(REGS, json={**csr(), "@context": [INLINE]}), 400, "BadRequestData")
    problem(client.post(REGS, json=csr(), headers=LD), 400, "BadRequestData")
    link = f'<{DEFAULT}x>; rel="http://www.w3.org/ns/json-ld#context"'
    r = client.post(REGS, json={**csr(), "@context": [INLINE]}, headers={**LD, "Link": link})
    problem(r, 400, "BadRequestData")


# 6.3.4: 415, 406, InvalidRequest for bodies that are not JSON
def test_media_types_and_syntax(client: TestClient) -> None:
    r = client.post(REGS, content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    r = client.get(REGS + "?type=Building", headers={"Accept": "application/xml"})
    assert r.status_code == 406
    r = client.get(REGS + "?type=Building", headers={"Accept": "application/geo+json"})
    assert r.status_code == 406
    bad = b'{"type": "ContextSourceRegistration",,}'
    problem(
        client.post(REGS, content=bad, headers={"Content-Type": "application/json"}),
        400,
        "InvalidRequest",
    )
    assert client.post(REGS, json=csr()).status_code == 201
    # no Content-Type at all: a broken body is still a syntax error
    r = client.patch(REGS + "/urn:ngsi-ld:ContextSourceRegistration:1", content=bad)
    problem(r, 400, "InvalidRequest")
    r = client.patch(REGS + "/urn:ngsi-ld:ContextSourceRegistration:1", content=b"{}")
    assert r.status_code == 415


# 5.9.2: BadRequestData for content (5.2.9), AlreadyExists for a taken id
def test_register_errors(client: TestClient) -> None:
    no_endpoint = {k: v for k, v in csr().items() if k != "endpoint"}
    problem(client.post(REGS, json=no_endpoint), 400, "BadRequestData")
    problem(client.post(REGS, json=csr(information=[])), 400, "BadRequestData")
    problem(client.post(REGS, json=csr(information=None)), 400, "BadRequestData")
    problem(client.post(REGS, json=csr(expiresAt="2018-11-29T14:53:15Z")), 400, "BadRequestData")
    problem(client.post(REGS, json=csr(endpoint="nope")), 400, "BadRequestData")
    problem(client.post(REGS, json=[csr()]), 400, "BadRequestData")
    assert client.post(REGS, json=csr()).status_code == 201
    problem(client.post(REGS, json=csr()), 409, "AlreadyExists")


# 4.3.6.3: a second exclusive or redirect registration for the same entity attributes is refused
def test_exclusive_registrations_own_their_attributes(client: TestClient) -> None:
    assert client.post(REGS, json=csr(mode="exclusive")).status_code == 201
    other = csr("urn:ngsi-ld:ContextSourceRegistration:2", mode="redirect")
    problem(client.post(REGS, json=other), 409, "AlreadyExists")
    assert client.post(REGS, json={**other, "mode": "inclusive"}).status_code == 201
    r = client.patch(REGS + "/urn:ngsi-ld:ContextSourceRegistration:2", json={"mode": "exclusive"})
    problem(r, 409, "AlreadyExists")


# 5.9.2.4 checks an exclusive registration for Conflicts only (4.3.6.3's groups of entities, which
# the ETSI _exc test purposes register, are accepted): one by idPattern owns its attribute of
# every matching entity against later exclusive or redirect registrations
def test_exclusive_registration_by_id_pattern(client: TestClient) -> None:
    group = [{"entities": [{"idPattern": "urn:ngsi-ld:Vehicle:.*", "type": "Vehicle"}]}]
    held = csr(mode="exclusive", information=[{**group[0], "propertyNames": ["speed"]}])
    assert client.post(REGS, json=held).status_code == 201
    one = [{"entities": [{"id": "urn:ngsi-ld:Vehicle:7", "type": "Vehicle"}]}]
    other = csr("urn:ngsi-ld:ContextSourceRegistration:2", mode="redirect", information=one)
    problem(client.post(REGS, json=other), 409, "AlreadyExists")
    elsewhere = [{"entities": [{"id": "urn:ngsi-ld:Bus:7", "type": "Vehicle"}]}]
    assert client.post(REGS, json={**other, "information": elsewhere}).status_code == 201
    whole = csr("urn:ngsi-ld:ContextSourceRegistration:3", mode="exclusive", information=group)
    problem(client.post(REGS, json=whole), 409, "AlreadyExists")


# 5.9.2: the server assigns an id when none is given
def test_register_without_id(client: TestClient) -> None:
    body = {k: v for k, v in csr().items() if k != "id"}
    r = client.post(REGS, json=body)
    assert r.status_code == 201
    rid = r.headers["Location"].rsplit("/", 1)[1]
    assert client.get(f"{REGS}/{rid}").json()["id"] == rid


# 5.9.3: PATCH replaces members, null removes optional ones
def test_update_registration(client: TestClient) -> None:
    url = REGS + "/urn:ngsi-ld:ContextSourceRegistration:1"
    client.post(REGS, json=csr(expiresAt="2035-11-29T14:53:15Z"))
    r = client.patch(url, json={"endpoint": "http://my.new.csource.org:1026", "expiresAt": None})
    assert r.status_code == 204 and r.text == ""
    body = client.get(url).json()
    assert body["endpoint"] == "http://my.new.csource.org:1026" and "expiresAt" not in body
    r = client.get(url + "?options=sysAttrs").json()
    assert r["modifiedAt"] > r["createdAt"]
    problem(client.patch(url, json={"information": None}), 400, "BadRequestData")
    problem(client.patch(url, json={"type": "building"}), 400, "BadRequestData")
    problem(
        client.patch(REGS + "/invalidURI", json={"endpoint": "http://x"}), 400, "BadRequestData"
    )
    r = client.patch(
        REGS + "/urn:ngsi-ld:ContextSourceRegistration:9", json={"endpoint": "http://x"}
    )
    problem(r, 404, "ResourceNotFound")
    assert client.patch(REGS, json={"endpoint": "http://x"}).status_code == 405


# 5.9.4 / 5.10.1: DELETE, then 404; invalid ids are BadRequestData
def test_delete_registration(client: TestClient) -> None:
    url = REGS + "/urn:ngsi-ld:ContextSourceRegistration:1"
    client.post(REGS, json=csr())
    assert client.delete(url).status_code == 204
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.delete(url), 404, "ResourceNotFound")
    problem(client.delete(REGS + "/invalidURI"), 400, "BadRequestData")
    problem(client.get(REGS + "/invalidURI"), 400, "BadRequestData")
    assert client.delete(REGS).status_code == 405


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"].rsplit(":", 1)[1] for r in response.json()]


# 5.10.2: discovery by type, attrs (in the same RegistrationInfo), id, idPattern
def test_discovery(client: TestClient) -> None:
    client.post(REGS, json=csr("urn:ngsi-ld:ContextSourceRegistration:1"))
    client.post(
        REGS,
        json=csr(
            "urn:ngsi-ld:ContextSourceRegistration:2",
            information=[
                {"entities": [{"idPattern": ".*downtown$", "type": "Parking"}]},
                {"entities": [{"type": "Building"}], "propertyNames": ["height"]},
            ],
        ),
    )
    client.post(
        REGS,
        json=csr("urn:ngsi-ld:ContextSourceRegistration:3", information=[{"propertyNames": ["x"]}]),
    )
    assert _ids(client.get(REGS + "?type=Building")) == ["1", "2", "3"]
    assert _ids(client.get(REGS + "?type=Building&attrs=name")) == ["1"]
    assert _ids(client.get(REGS + "?type=Parking&attrs=name")) == ["2"]
    assert _ids(client.get(REGS + "?attrs=x")) == ["2", "3"]
    assert _ids(client.get(REGS + "?type=Parking,Car")) == ["2", "3"]
    assert _ids(client.get(REGS + "?type=Parking|Car")) == ["2", "3"]
    assert _ids(client.get(REGS + "?type=Parking&id=urn:p:uptown")) == ["3"]
    assert _ids(client.get(REGS + "?type=Parking&id=urn:p:downtown")) == ["2", "3"]
    assert _ids(client.get(REGS + "?id=urn:ngsi-ld:Building:1&attrs=name")) == ["1"]
    assert _ids(client.get(REGS + "?id=urn:ngsi-ld:Building:7&attrs=height")) == ["2"]
    assert _ids(client.get(REGS + "?type=Building&idPattern=^urn:ngsi-ld:B")) == ["1", "2", "3"]
    assert _ids(client.get(REGS + "?type=Building&idPattern=^urn:x")) == ["2", "3"]
    # the SQL answer and the pure matcher agree (q=endpoint holds for every registration and
    # sends the query through matches_registration)
    for query in (
        "type=Building&attrs=name",
        "type=Parking&id=urn:p:downtown",
        "id=urn:ngsi-ld:Building:7&attrs=height",
        "type=Building&idPattern=^urn:x",
        "attrs=x",
    ):
        plain = _ids(client.get(f"{REGS}?{query}"))
        assert _ids(client.get(f"{REGS}?{query}&q=endpoint")) == plain, query


# 5.10.2: at least one filter; syntax errors of id, q, geo and temporal queries are 400
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?id=invalidUri",
        "?q=(invalidQuery",
        "?georel=within",
        "?timerel=before",
        "?type=Building&idPattern=(",
        "?type=A;B",
        "?type=Building&limit=-5",
    ],
)
def test_discovery_errors(client: TestClient, query: str) -> None:
    problem(client.get(REGS + query), 400, "BadRequestData")


# 5.10.2: q/csf on CSource properties, geo-query on location, temporal on intervals
def test_discovery_filters(client: TestClient) -> None:
    client.post(REGS, json=csr(csourceProperty1="aValue"))
    client.post(
        REGS,
        json=csr(
            "urn:ngsi-ld:ContextSourceRegistration:2",
            location={"type": "Point", "coordinates": [-8.521, 41.2]},
            observationInterval={
                "startAt": "2020-08-01T22:07:00Z",
                "endAt": "2021-08-01T21:07:00Z",
            },
        ),
    )
    assert _ids(client.get(REGS + '?q=csourceProperty1=="aValue"')) == ["1"]
    assert _ids(client.get(REGS + '?csf=csourceProperty1=="other"')) == []
    geo = "?georel=near;maxDistance==2000&geometry=Point&coordinates=[-8.503,41.202]"
    assert _ids(client.get(REGS + geo)) == ["2"]
    t = "?type=Building&timerel=before&timeAt=2021-08-01T22:00:00Z"
    assert _ids(client.get(REGS + t)) == ["2"]
    assert _ids(client.get(REGS + t + "&timeproperty=modifiedAt")) == []


# 5.10.2.4: "If present, the Scope query (as mandated by clause 4.19) is matched against the
# scope property" (ignored before; fork TP 51024_01_02)
def test_discovery_by_scope(client: TestClient) -> None:
    reg = "urn:ngsi-ld:ContextSourceRegistration:"
    client.post(REGS, json=csr(reg + "1", scope="/Madrid/Centro"))
    client.post(REGS, json=csr(reg + "2", scope=["/Berlin", "/Madrid/Norte/Park"]))
    client.post(REGS, json=csr(reg + "3"))  # no scope: no scopeQ matches it
    assert _ids(client.get(REGS + "?type=Building&scopeQ=/Madrid/%23")) == ["1", "2"]
    assert _ids(client.get(REGS + "?scopeQ=/Madrid/%2B")) == ["1"]  # scopeQ alone is a filter
    assert _ids(client.get(REGS + "?scopeQ=/Berlin;/Madrid/%23")) == ["2"]
    assert _ids(client.get(REGS + "?scopeQ=/%23")) == ["1", "2"]
    assert _ids(client.get(REGS + "?type=Building&scopeQ=/Seoul")) == []
    problem(client.get(REGS + "?type=Building&scopeQ=Madrid"), 400, "BadRequestData")


# 5.5.9 / 6.3.13: limit, offset, count and prev/next links
def test_discovery_paging(client: TestClient) -> None:
    for n in range(1, 4):
        client.post(REGS, json=csr(f"urn:ngsi-ld:ContextSourceRegistration:{n}"))
    r = client.get(REGS + "?type=Building&limit=1&offset=1&count=true")
    assert _ids(r) == ["2"] and r.headers["NGSILD-Results-Count"] == "3"
    links = r.headers.get_list("link")
    assert f'<{REGS}?type=Building&count=true&limit=1&offset=0>;rel="prev"' in links[1]
    assert f'<{REGS}?type=Building&count=true&limit=1&offset=2>;rel="next"' in links[2]
    r = client.get(REGS + "?type=Building&limit=5")
    assert _ids(r) == ["1", "2", "3"] and len(r.headers.get_list("link")) == 1
    problem(client.get(REGS + "?type=Building&limit=5000"), 403, "TooManyResults")


# 4.14 / 6.3.14: NGSILD-Tenant scopes registrations; reads in unknown tenants are 404
def test_tenants(client: TestClient) -> None:
    t1 = {"NGSILD-Tenant": "t1"}
    r = client.post(REGS, json=csr(), headers=t1)
    assert r.status_code == 201 and r.headers["NGSILD-Tenant"] == "t1"
    url = REGS + "/urn:ngsi-ld:ContextSourceRegistration:1"
    assert client.get(url, headers=t1).status_code == 200
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.get(url, headers={"NGSILD-Tenant": "t2"}), 404, "NonexistentTenant")
    assert _ids(client.get(REGS + "?type=Building", headers=t1)) == ["1"]
    assert _ids(client.get(REGS + "?type=Building")) == []


# 5.11.2 / 5.11.4: registration subscriptions, status computed
def test_subscription_crud(client: TestClient) -> None:
    r = client.post(SUBS, json=sub(), headers=LD | {"Content-Type": "application/json"})
    assert r.status_code == 201 and r.headers["Location"] == SUBS + "/urn:ngsi-ld:Subscription:1"
    url = SUBS + "/urn:ngsi-ld:Subscription:1"
    assert client.get(url).json() == {**sub(), "status": "active"}
    problem(client.post(SUBS, json=sub()), 409, "AlreadyExists")
    client.post(SUBS, json=sub("urn:ngsi-ld:Subscription:2", isActive=False))
    body = client.get(SUBS + "/urn:ngsi-ld:Subscription:2").json()
    assert body["isActive"] is False and body["status"] == "paused"
    # 5.11.3: members replaced
    new = {"notification": {"endpoint": {"uri": "http://my.second.endpoint.org/notify"}}}
    assert client.patch(url, json=new).status_code == 204
    assert client.get(url).json()["notification"] == new["notification"]
    problem(client.patch(url, json={"type": None}), 400, "BadRequestData")
    problem(
        client.patch(url, json={"notification": {"format": "keyValues"}}), 400, "BadRequestData"
    )
    problem(client.patch(SUBS + "/invalidUri", json=new), 400, "BadRequestData")
    problem(client.patch(SUBS + "/urn:ngsi-ld:Subscription:9", json=new), 404, "ResourceNotFound")
    # 5.11.5: query with paging
    r = client.get(SUBS + "?limit=1&count=true")
    assert len(r.json()) == 1 and r.headers["NGSILD-Results-Count"] == "2"
    problem(client.get(SUBS + "?limit=2&offset=-3"), 400, "BadRequestData")
    # 5.11.6
    assert client.delete(url).status_code == 204
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.delete(url), 404, "ResourceNotFound")
    problem(client.delete(SUBS + "/invalidUri"), 400, "BadRequestData")


# 5.11.2: BadRequestData per clause 5.2.12
@pytest.mark.parametrize(
    "extra",
    [
        {"type": "RandomType"},
        {"watchedAttributes": []},
        {"expiresAt": "2018-08-01T22:07:00Z"},
        {"notification": {"format": "keyValues"}},
    ],
)
def test_subscription_errors(client: TestClient, extra: dict[str, Any]) -> None:
    problem(client.post(SUBS, json=sub(**extra)), 400, "BadRequestData")
    no_notification = {k: v for k, v in sub().items() if k != "notification"}
    problem(client.post(SUBS, json=no_notification), 400, "BadRequestData")


# a client that pastes the Location header after the collection URL still finds its resource
def test_location_pasted_as_id(client: TestClient) -> None:
    location = client.post(SUBS, json=sub()).headers["Location"]
    assert client.get(SUBS + "/" + location).status_code == 200
    assert client.delete(SUBS + "/" + location).status_code == 204
