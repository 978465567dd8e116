"""/ngsi-ld/v1/jsonldContexts, checked the way the ETSI jsonldContext tests (050-053) use it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from cityhub.api.jsonld_contexts import routes
from cityhub.contexts import ContextService
from cityhub.errors import CityhubError
from cityhub.ngsild.context import CORE_CONTEXT_URL

BASE = "http://hub.example:1026"
PATH = "/ngsi-ld/v1/jsonldContexts"
REMOTE = "http://ctx.example/context.jsonld"
MINIMAL = {"@context": {"A1": "urn:ngsi-ld:attributes:A1", "A2": "urn:ngsi-ld:attributes:A2"}}
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
DETAIL_KEYS = {
    "URL",
    "localId",
    "kind",
    "createdAt",
    "lastUsage",
    "numberOfHits",
    "extraInfo",
    "body",
    "expiresAt",
}


async def render(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CityhubError)
    return Response(
        orjson.dumps(exc.to_problem(request.url.path)),
        status_code=exc.status,
        media_type="application/problem+json",
    )


def remote(request: httpx.Request) -> httpx.Response:
    if str(request.url) == REMOTE:
        return httpx.Response(200, content=orjson.dumps({"@context": {"R": "urn:r"}}))
    return httpx.Response(404)


Check = Callable[[httpx.AsyncClient, ContextService], Awaitable[None]]


def run(check: Check) -> None:
    async def go() -> None:
        fetcher = httpx.AsyncClient(transport=httpx.MockTransport(remote))
        service = ContextService(BASE, client=fetcher)
        app = Starlette(routes=routes, exception_handlers={CityhubError: render})
        app.state.contexts = service
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await check(client, service)
        await fetcher.aclose()

    asyncio.run(go())


async def add(client: httpx.AsyncClient, document: Any = MINIMAL) -> str:
    response = await client.post(
        PATH, content=orjson.dumps(document), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.content == b""
    location = response.headers["Location"]
    assert location.startswith(PATH + "/urn:")
    return location


def local_id(location: str) -> str:
    return location.rsplit("/", 1)[1]


def test_add_then_serve_as_posted_and_with_details() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        location = await add(client)
        served = await client.get(location)
        assert served.status_code == 200
        assert served.headers["content-type"] == "application/json"
        assert served.json() == MINIMAL
        details = (await client.get(location, params={"details": "true"})).json()
        assert set(details) <= DETAIL_KEYS
        assert details["kind"] == "Hosted"
        assert details["localId"] == local_id(location)
        assert details["URL"] == BASE + location
        assert details["createdAt"].endswith("Z")
        assert details["numberOfHits"] == 1  # the plain GET above was a use
        served_ld = await client.get(location, headers={"Accept": "application/ld+json"})
        assert served_ld.headers["content-type"] == "application/ld+json"

    run(check)


def test_add_rejects_bad_payloads() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        headers = {"Content-Type": "application/json"}
        for body in (
            b'{"A1": "urn:a"}',
            b'{"A1": "urn:a" "A2": "urn:b"}',
            b"[]",
            b'{"@context": 5}',
        ):
            response = await client.post(PATH, content=body, headers=headers)
            assert response.status_code == 400
            assert response.json()["type"] == ERRORS + "InvalidRequest"
        response = await client.post(PATH, content=b'{"@context": {"A1": 5}}', headers=headers)
        assert response.status_code == 400
        assert response.json()["type"] == ERRORS + "BadRequestData"
        response = await client.post(
            PATH, content=orjson.dumps(MINIMAL), headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 415
        missing = {"@context": ["http://ctx.example/missing"]}
        response = await client.post(PATH, content=orjson.dumps(missing), headers=headers)
        assert response.status_code == 503
        assert response.json()["type"] == ERRORS + "LdContextNotAvailable"

    run(check)


def test_list_plain_detailed_and_by_kind() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        first = await add(client)
        second = await add(client, {"@context": [REMOTE]})
        listed = (await client.get(PATH)).json()
        assert [u for u in listed if u.endswith((first, second))] == [BASE + first, BASE + second]
        assert CORE_CONTEXT_URL in listed
        assert REMOTE in listed  # fetched while the second one was checked
        hosted = (await client.get(PATH, params={"kind": "Hosted"})).json()
        assert hosted == [BASE + first, BASE + second]
        cached = (await client.get(PATH, params={"details": "true", "kind": "Cached"})).json()
        assert {c["URL"] for c in cached} == {CORE_CONTEXT_URL, REMOTE}
        assert all(set(c) <= DETAIL_KEYS and c["kind"] == "Cached" for c in cached)
        implicit = (await client.get(PATH, params={"kind": "ImplicitlyCreated"})).json()
        assert implicit == []
        for params in (
            {"kind": "other"},
            {"details": "other"},
            {"details": "true", "kind": "other"},
        ):
            response = await client.get(PATH, params=params)
            assert response.status_code == 400
            assert response.json()["type"] == ERRORS + "BadRequestData"

    run(check)


def test_cached_contexts_are_served_by_url() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        await service.term_map(REMOTE)
        response = await client.get(f"{PATH}/{quote(REMOTE, safe='')}", params={"details": "true"})
        assert response.status_code == 200
        assert response.json()["kind"] == "Cached"
        assert (await client.get(f"{PATH}/{quote(REMOTE, safe='')}")).json() == {
            "@context": {"R": "urn:r"}
        }
        core = await client.get(
            f"{PATH}/{quote(CORE_CONTEXT_URL, safe='')}", params={"details": "true"}
        )
        assert core.status_code == 200 and core.json()["kind"] == "Cached"
        deleted = await client.delete(f"{PATH}/{quote(REMOTE, safe='')}")
        assert deleted.status_code == 204

    run(check)


def test_serve_unknown_is_404_and_accept_is_negotiated() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        response = await client.get(f"{PATH}/wrong_id_context", params={"details": "true"})
        assert response.status_code == 404
        assert response.json()["type"] == ERRORS + "ResourceNotFound"
        location = await add(client)
        response = await client.get(location, headers={"Accept": "text/html"})
        assert response.status_code == 406
        response = await client.get(PATH, headers={"Accept": "application/xml"})
        assert response.status_code == 406
        response = await client.get(location, headers={"Accept": "*/*"})
        assert response.status_code == 200

    run(check)


def test_delete_statuses() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        location = await add(client)
        core = f"{PATH}/{quote(CORE_CONTEXT_URL, safe='')}"
        cases: list[tuple[str, dict[str, str], int, str | None]] = [
            (f"{PATH}/wrong_id_context", {"reload": "true"}, 400, "BadRequestData"),
            (f"{PATH}/wrong_id_context", {"reload": "false"}, 404, "ResourceNotFound"),
            (f"{PATH}/wrong_id_context", {}, 404, "ResourceNotFound"),
            (f"{PATH}/wrong_id_context", {"reload": "xxx"}, 400, "BadRequestData"),
            (location, {"reload": "true"}, 400, "BadRequestData"),
            (core, {}, 400, "BadRequestData"),
            (core, {"reload": "false"}, 400, "BadRequestData"),
            (core, {"reload": "true"}, 204, None),
            (location, {}, 204, None),
            (location, {}, 404, "ResourceNotFound"),
        ]
        for url, params, status, error in cases:
            response = await client.delete(url, params=params)
            assert response.status_code == status, (url, params, response.text)
            if error is None:
                assert response.content == b""
            else:
                assert response.json()["type"] == ERRORS + error

    run(check)


def test_delete_with_reload_of_unreachable_cached_context_is_503_and_keeps_it() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        await service.term_map(REMOTE)
        entry = service.get_entry(REMOTE)
        service._client = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda request: httpx.Response(503))
        )
        response = await client.delete(
            f"{PATH}/{quote(REMOTE, safe='')}", params={"reload": "true"}
        )
        assert response.status_code == 503
        assert response.json()["type"] == ERRORS + "LdContextNotAvailable"
        kept = await client.get(f"{PATH}/{entry.local_id}", params={"details": "true"})
        assert kept.status_code == 200 and kept.json()["kind"] == "Cached"
        await service._client.aclose()

    run(check)


def test_implicit_context_is_listed_and_served() -> None:
    async def check(client: httpx.AsyncClient, service: ContextService) -> None:
        entry = await service.implicit_entry([REMOTE, {"B": "urn:b"}])
        listed = (await client.get(PATH, params={"kind": "ImplicitlyCreated"})).json()
        assert listed == [entry.url]
        details = (await client.get(f"{PATH}/{entry.local_id}", params={"details": "true"})).json()
        assert details["kind"] == "ImplicitlyCreated"
        response = await client.delete(f"{PATH}/{entry.local_id}", params={"reload": "true"})
        assert response.status_code == 400
        response = await client.delete(f"{PATH}/{entry.local_id}")
        assert response.status_code == 204

    run(check)
