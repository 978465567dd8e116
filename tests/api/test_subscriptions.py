"""Subscription routes: ETSI GS CIM 009 v1.8.1 clauses 5.8.1-5.8.5, HTTP binding 6.10-6.11."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.contexts import ContextService
from cityhub.settings import Settings

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
SUBS = "/ngsi-ld/v1/subscriptions"
CTX_URL = "http://contexts.example/ctx.jsonld"
EX = "https://example.org/"
LINK = {"Link": f'<{CTX_URL}>; rel="http://www.w3.org/ns/json-ld#context"'}
CTX_DOC = {
    "@context": {"Building": EX + "Building", "Vehicle": EX + "Vehicle", "name": EX + "name"}
}


def _remote(request: httpx.Request) -> httpx.Response:
    if str(request.url) == CTX_URL:
        return httpx.Response(200, json=CTX_DOC)
    return httpx.Response(404)


def _app(tmp_path: Path, store_url: str | None = None) -> Any:
    settings = Settings(store=store_url or f"sqlite:///{tmp_path / 't.db'}")
    fetcher = httpx.AsyncClient(transport=httpx.MockTransport(_remote))
    app = create_app(settings, contexts=ContextService(settings.base_url, client=fetcher))
    return app


@pytest.fixture
def client(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path, store_url), raise_server_exceptions=False) as c:
        yield c


def problem(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if kind is not None:
        assert body["type"] == ERR + kind
    assert body["title"] and body["detail"]
    return body


def sub(sid: str | None = "urn:ngsi-ld:Subscription:1", **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"},
        },
    }
    if sid is not None:
        body["id"] = sid
    body.update(members)
    return body


def create(client: TestClient, body: dict[str, Any], **headers: str) -> str:
    r = client.post(SUBS, json=body, headers={**LINK, **headers})
    assert r.status_code == 201, r.text
    return str(r.headers["location"])


# 5.8.1 Create Subscription, 6.10.3.1: 201 + Location; 5.8.3 Retrieve (6.11.3.1)
def test_create_then_retrieve(client: TestClient) -> None:
    loc = create(client, sub(watchedAttributes=["name"]))
    assert loc == SUBS + "/urn:ngsi-ld:Subscription:1"
    r = client.get(loc, headers=LINK)
    assert r.status_code == 200
    assert CTX_URL in r.headers["link"]
    assert r.json() == {
        **sub(watchedAttributes=["name"]),
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
        "status": "active",
    }
    r = client.get(loc)  # no @context: the names are IRIs
    assert r.json()["entities"] == [{"type": EX + "Building"}]
    assert r.json()["watchedAttributes"] == [EX + "name"]


def test_generated_id_and_ld_json(client: TestClient) -> None:
    body = {**sub(None), "@context": CTX_URL}
    r = client.post(SUBS, json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    assert loc.startswith(SUBS + "/urn:ngsi-ld:Subscription:")
    r = client.get(loc, headers={**LINK, "Accept": "application/ld+json"})
    assert r.headers["content-type"].startswith("application/ld+json")
    assert r.json()["@context"] == CTX_URL
    assert r.json()["entities"] == [{"type": "Building"}]
    assert "link" not in r.headers


# 5.8.1: AlreadyExists on a taken id
def test_taken_id_is_409(client: TestClient) -> None:
    create(client, sub())
    problem(client.post(SUBS, json=sub(), headers=LINK), 409, "AlreadyExists")


# 5.8.1 / 6.3.5: malformed JSON is InvalidRequest, bad content BadRequestData, 415 media types
def test_create_errors(client: TestClient) -> None:
    bad_json = client.post(SUBS, content=b'{"id":,}', headers={"Content-Type": "application/json"})
    problem(bad_json, 400, "InvalidRequest")
    problem(client.post(SUBS, json={}), 400, "BadRequestData")
    problem(client.post(SUBS, json=[sub()]), 400, "BadRequestData")
    problem(client.post(SUBS, json=sub("invalidId")), 400, "BadRequestData")
    problem(client.post(SUBS, json=sub(throttling=-30)), 400, "BadRequestData")
    xml = client.post(SUBS, content=b"<a/>", headers={"Content-Type": "application/xml"})
    assert xml.status_code == 415
    assert client.get(SUBS).json() == []  # nothing was stored


# 5.2.12 jsonldContext: must be a URI (400) that can be retrieved (503)
def test_jsonld_context_member(client: TestClient) -> None:
    problem(client.post(SUBS, json=sub(jsonldContext="unknownContext")), 400, "BadRequestData")
    r = client.post(SUBS, json=sub(jsonldContext="http://contexts.example/missing.jsonld"))
    problem(r, 503, "LdContextNotAvailable")
    loc = create(client, sub(jsonldContext=CTX_URL))
    assert client.get(loc).json()["jsonldContext"] == CTX_URL


# 5.13.2: an inline @context is registered as ImplicitlyCreated and named by jsonldContext
def test_inline_context_becomes_implicitly_created(client: TestClient) -> None:
    inline = {"Building": EX + "Building"}
    body = {**sub(), "@context": [inline, CTX_URL]}
    r = client.post(SUBS, json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    url = client.get(r.headers["location"]).json()["jsonldContext"]
    assert "/ngsi-ld/v1/jsonldContexts/" in url
    served = client.get("/ngsi-ld/v1/jsonldContexts/" + url.rsplit("/", 1)[1])
    assert served.status_code == 200
    assert served.json()["@context"] == [inline, CTX_URL]
    kinds = client.get("/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated").json()
    assert url in kinds


# 5.8.3: errors of Retrieve
def test_retrieve_errors(client: TestClient) -> None:
    problem(client.get(SUBS + "/InvalidUri"), 400, "BadRequestData")
    problem(client.get(SUBS + "/urn:ngsi-ld:Subscription:unknown"), 404, "ResourceNotFound")
    create(client, sub())
    r = client.get(SUBS + "/urn:ngsi-ld:Subscription:1", headers={"Accept": "text/xml"})
    assert r.status_code == 406


# 5.8.2 Update Subscription (6.11.3.2): 204, members replaced, names expanded
def test_update_expands_with_the_request_context(client: TestClient) -> None:
    loc = create(client, sub(timeInterval=5))
    fragment = {"type": "Subscription", "entities": [{"type": "Vehicle"}]}
    r = client.patch(loc, json=fragment, headers=LINK)
    assert r.status_code == 204 and r.content == b""
    assert client.get(loc, headers=LINK).json()["entities"] == [{"type": "Vehicle"}]
    assert client.get(loc).json()["entities"] == [{"type": EX + "Vehicle"}]
    assert client.get(loc).json()["timeInterval"] == 5


# 5.8.2: isActive and expiresAt drive status (active | paused | expired)
def test_update_status(client: TestClient) -> None:
    loc = create(client, sub(isActive=False))
    assert client.get(loc).json()["status"] == "paused"
    assert client.patch(loc, json={"isActive": True}).status_code == 204
    assert client.get(loc).json()["status"] == "active"
    r = client.patch(loc, json={"isActive": False, "expiresAt": "2100-01-01T00:00:00Z"})
    assert r.status_code == 204
    body = client.get(loc).json()
    assert body["status"] == "paused" and body["expiresAt"] == "2100-01-01T00:00:00Z"
    r = client.patch(loc, json={"expiresAt": "2020-08-01T22:07:00Z"})
    problem(r, 400, "BadRequestData")


# 5.8.2: errors of Update
def test_update_errors(client: TestClient) -> None:
    fragment = {"notification": {"endpoint": {"uri": "http://h/n"}}}
    problem(client.patch(SUBS + "/InvalidUri", json=fragment), 400, "BadRequestData")
    problem(client.patch(SUBS + "/urn:ngsi-ld:Subscription:x", json=fragment), 404)
    assert client.patch(SUBS, json=fragment).status_code == 405
    loc = create(client, sub())
    before = client.get(loc).json()
    xml = client.patch(loc, content=b"<a/>", headers={"Content-Type": "application/xml"})
    assert xml.status_code == 415
    problem(client.patch(loc, json={"notification": {"format": "keyValues"}}), 400)
    problem(client.patch(loc, json={"notification": {"endpoint": None}}), 400)
    problem(client.patch(loc, json={"id": "urn:ngsi-ld:Subscription:2"}), 400)
    problem(client.patch(loc, json={"watchedAttributes": ["a"], "timeInterval": 3}), 400)
    assert client.get(loc).json() == before  # nothing was changed


# RFC 7396 merge-patch: the notification member is merged
def test_merge_patch(client: TestClient) -> None:
    loc = create(client, sub())
    r = client.patch(
        loc,
        content=b'{"notification": {"format": null, "endpoint": {"uri": "http://h/2"}}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    assert client.get(loc).json()["notification"] == {
        "endpoint": {"uri": "http://h/2", "accept": "application/json"}
    }


# 5.8.4 Query Subscriptions (6.10.3.2): paging, count, prev/next links
def test_query_paging(client: TestClient) -> None:
    ids = [f"urn:ngsi-ld:Subscription:{i}" for i in range(3)]
    for sid in ids:
        create(client, sub(sid))
    r = client.get(SUBS, headers=LINK)
    assert [s["id"] for s in r.json()] == ids
    assert CTX_URL in r.headers["link"]
    r = client.get(SUBS + "?limit=1&offset=1&count=true", headers={"Accept": "application/ld+json"})
    assert [s["id"] for s in r.json()] == ids[1:2]
    assert r.headers["NGSILD-Results-Count"] == "3"
    assert sorted(r.headers["link"].split(",")) == [
        f'<{SUBS}?limit=1&offset=0>;rel="prev";type="application/ld+json"',
        f'<{SUBS}?limit=1&offset=2>;rel="next";type="application/ld+json"',
    ]
    r = client.get(SUBS + "?limit=1&offset=2", headers={"Accept": "application/ld+json"})
    assert r.headers["link"] == f'<{SUBS}?limit=1&offset=1>;rel="prev";type="application/ld+json"'
    assert (
        r.json()[0]["@context"]
        == "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    )
    problem(client.get(SUBS + "?limit=0"), 400, "BadRequestData")
    r = client.get(SUBS + "?limit=0&count=true")
    assert r.json() == [] and r.headers["NGSILD-Results-Count"] == "3"


# 5.8.5 Delete Subscription (6.11.3.3)
def test_delete(client: TestClient) -> None:
    loc = create(client, sub())
    assert client.delete(loc).status_code == 204
    problem(client.get(loc), 404, "ResourceNotFound")
    problem(client.delete(loc), 404, "ResourceNotFound")
    problem(client.delete(SUBS + "/InvalidUri"), 400, "BadRequestData")
    assert client.delete(SUBS).status_code == 405


# 5.5.9 / 4.5.x tenants: a subscription belongs to its tenant; the first write creates it
def test_tenants(client: TestClient) -> None:
    problem(client.get(SUBS, headers={"NGSILD-Tenant": "t1"}), 404, "NonexistentTenant")
    r = client.post(SUBS, json=sub(), headers={**LINK, "NGSILD-Tenant": "t1"})
    assert r.status_code == 201 and r.headers["NGSILD-Tenant"] == "t1"
    assert len(client.get(SUBS, headers={"NGSILD-Tenant": "t1"}).json()) == 1
    assert client.get(SUBS).json() == []
    problem(client.get(r.headers["location"]), 404, "ResourceNotFound")
    create(client, sub())  # the same id in another tenant is another subscription
