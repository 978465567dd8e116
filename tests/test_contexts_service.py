"""ContextService: fetching (once, concurrently once, failures), caching, and the registry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from cityhub.contexts import CACHED, HOSTED, IMPLICITLY_CREATED, ContextService
from cityhub.errors import BadRequestData, LdContextNotAvailable, ResourceNotFound
from cityhub.ngsild.context import CORE_CONTEXT_URL, DEFAULT_VOCAB

BASE = "http://hub.example:1026"
REMOTE = "http://ctx.example/suite.jsonld"
NESTED = "http://ctx.example/nested.jsonld"
DOCS: dict[str, Any] = {
    REMOTE: {"@context": [NESTED, {"speed": "http://e.org/speed"}]},
    NESTED: {"@context": {"fuel": "http://e.org/fuel"}},
}


class Server:
    """A mock transport that answers from DOCS and counts requests per URL."""

    def __init__(
        self,
        docs: dict[str, Any] | None = None,
        handler: Callable[[httpx.Request], httpx.Response] | None = None,
    ) -> None:
        self.docs = dict(DOCS if docs is None else docs)
        self.calls: dict[str, int] = {}
        self.handler = handler

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.calls[url] = self.calls.get(url, 0) + 1
        await asyncio.sleep(0)  # let concurrent requests overlap
        if self.handler is not None:
            return self.handler(request)
        if url not in self.docs:
            return httpx.Response(404, text="not found")
        return httpx.Response(200, content=orjson.dumps(self.docs[url]))

    def service(self, **kwargs: Any) -> ContextService:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self))
        return ContextService(BASE, client=client, **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_core_context_needs_no_network() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        terms = await service.term_map(CORE_CONTEXT_URL)
        assert terms.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
        none = await service.term_map(None)
        assert none.expand("x") == DEFAULT_VOCAB + "x"

    run(go())
    assert server.calls == {}


def test_remote_contexts_are_fetched_once_and_nested_ones_followed() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        first = await service.term_map(REMOTE)
        assert first.expand("speed") == "http://e.org/speed"
        assert first.expand("fuel") == "http://e.org/fuel"
        assert await service.term_map(REMOTE) is first  # the same Link header hits the cache
        other = await service.term_map([REMOTE, {"extra": "http://e.org/extra"}])
        assert other.expand("fuel") == "http://e.org/fuel"
        assert other is await service.term_map([REMOTE, {"extra": "http://e.org/extra"}])
        assert {e["URL"]: e["kind"] for e in service.list_entries(details=True)} == {
            CORE_CONTEXT_URL: CACHED,
            REMOTE: CACHED,
            NESTED: CACHED,
        }

    run(go())
    assert server.calls == {REMOTE: 1, NESTED: 1}


def test_concurrent_first_requests_share_one_fetch() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        maps = await asyncio.gather(
            *(service.term_map([REMOTE, {"n": f"http://e.org/{i}"}]) for i in range(10))
        )
        assert {m.expand("speed") for m in maps} == {"http://e.org/speed"}

    run(go())
    assert server.calls == {REMOTE: 1, NESTED: 1}


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (lambda r: httpx.Response(404), "HTTP 404"),
        (lambda r: httpx.Response(500), "HTTP 500"),
        (lambda r: httpx.Response(200, content=b"<html>not json</html>"), "not JSON"),
        (lambda r: httpx.Response(200, content=b"[1, 2]"), '"@context"'),
        (lambda r: httpx.Response(200, content=b"x" * 5000), "larger than 1000"),
        (
            lambda r: httpx.Response(200, content=b"{}", headers={"content-length": "99999"}),
            "larger than 1000",
        ),
    ],
)
def test_fetch_failures_are_ld_context_not_available(
    handler: Callable[[httpx.Request], httpx.Response], message: str
) -> None:
    server = Server(handler=handler)

    async def go() -> None:
        service = server.service(max_bytes=1000)
        with pytest.raises(LdContextNotAvailable, match=message) as info:
            await service.term_map(REMOTE)
        assert REMOTE in info.value.detail
        assert info.value.status == 503

    run(go())


def test_timeout_and_connection_errors() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def go() -> None:
        with pytest.raises(LdContextNotAvailable, match="within 0.5 s"):
            await Server(handler=timeout).service(fetch_timeout=0.5).term_map(REMOTE)
        with pytest.raises(LdContextNotAvailable, match="ConnectError"):
            await Server(handler=refused).service().term_map(REMOTE)
        with pytest.raises(LdContextNotAvailable, match="only http"):
            await Server().service().term_map("ftp://ctx.example/x")

    run(go())


def test_a_failed_fetch_is_retried_next_time() -> None:
    server = Server(docs={})

    async def go() -> None:
        service = server.service()
        with pytest.raises(LdContextNotAvailable):
            await service.term_map(NESTED)
        server.docs[NESTED] = DOCS[NESTED]
        terms = await service.term_map(NESTED)
        assert terms.expand("fuel") == "http://e.org/fuel"

    run(go())
    assert server.calls == {NESTED: 2}


def test_malformed_contexts_are_bad_request_data() -> None:
    async def go() -> None:
        with pytest.raises(BadRequestData):
            await Server().service().term_map({"speed": 5})

    run(go())


def test_hosted_contexts_resolve_locally_by_url_or_relative_path() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        entry = await service.add_hosted({"@context": [REMOTE, {"A1": "urn:attr:A1"}]})
        assert entry.kind == HOSTED
        assert entry.url == f"{BASE}/ngsi-ld/v1/jsonldContexts/{entry.local_id}"
        for ref in (
            entry.url,
            f"/ngsi-ld/v1/jsonldContexts/{entry.local_id}",
            f"http://proxy.example/ngsi-ld/v1/ngsi-ld/v1/jsonldContexts/{entry.local_id}",
        ):
            terms = await service.term_map(ref)
            assert terms.expand("A1") == "urn:attr:A1"
            assert terms.expand("fuel") == "http://e.org/fuel"
        assert service.get_entry(entry.local_id).number_of_hits == 3
        assert service.list_entries(kind=HOSTED) == [entry.url]

    run(go())
    assert server.calls == {REMOTE: 1, NESTED: 1}


def test_hosted_context_is_validated_before_it_is_stored() -> None:
    async def go() -> None:
        service = Server().service()
        with pytest.raises(BadRequestData):
            await service.add_hosted({"@context": {"A1": 7}})
        with pytest.raises(BadRequestData):
            await service.add_hosted({"A1": "urn:attr:A1"})
        with pytest.raises(LdContextNotAvailable):
            await service.add_hosted({"@context": "http://ctx.example/missing"})
        assert service.list_entries(kind=HOSTED) == []

    run(go())


def test_implicit_entries_are_made_once_per_context() -> None:
    async def go() -> None:
        service = Server().service()
        value = [REMOTE, CORE_CONTEXT_URL]
        entry = await service.implicit_entry(value)
        assert entry.kind == IMPLICITLY_CREATED
        assert entry.document == {"@context": value}
        assert await service.implicit_entry(list(value)) == entry
        terms = await service.term_map(entry.url)
        assert terms.expand("speed") == "http://e.org/speed"
        assert service.list_entries(kind=IMPLICITLY_CREATED) == [entry.url]

    run(go())


def test_usage_is_counted_per_request() -> None:
    times = iter(datetime(2024, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(60))

    async def go() -> None:
        service = Server().service(clock=lambda: next(times))
        await service.term_map(REMOTE)
        await service.term_map(REMOTE)
        details = service.get_entry(REMOTE).details()
        assert details["numberOfHits"] == 2
        assert details["kind"] == CACHED
        assert details["lastUsage"].endswith("Z")
        nested = service.get_entry(NESTED, count_hit=True)
        assert nested.number_of_hits == 2  # the snapshot is taken before this use
        assert service.get_entry(NESTED).number_of_hits == 3

    run(go())


def test_delete_cached_refetches_on_next_use() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        await service.term_map(REMOTE)
        entry = service.get_entry(REMOTE)
        await service.delete_entry(entry.local_id)
        with pytest.raises(ResourceNotFound):
            service.get_entry(REMOTE)
        await service.term_map(REMOTE)

    run(go())
    assert server.calls == {REMOTE: 2, NESTED: 1}


def test_reload_refreshes_a_cached_context_and_keeps_it_on_failure() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        assert (await service.term_map(NESTED)).expand("fuel") == "http://e.org/fuel"
        server.docs[NESTED] = {"@context": {"fuel": "http://e.org/fuel2"}}
        await service.delete_entry(NESTED, reload=True)
        assert (await service.term_map(NESTED)).expand("fuel") == "http://e.org/fuel2"
        del server.docs[NESTED]
        with pytest.raises(LdContextNotAvailable):
            await service.delete_entry(NESTED, reload=True)
        assert service.get_entry(NESTED).kind == CACHED
        assert (await service.term_map(NESTED)).expand("fuel") == "http://e.org/fuel2"

    run(go())


def test_delete_rules_for_kinds_and_the_core() -> None:
    async def go() -> None:
        service = Server().service()
        hosted = await service.add_hosted({"@context": {"A1": "urn:attr:A1"}})
        implicit = await service.implicit_entry([{"B": "urn:b"}])
        with pytest.raises(BadRequestData):
            await service.delete_entry(hosted.local_id, reload=True)
        with pytest.raises(BadRequestData):
            await service.delete_entry(implicit.local_id, reload=True)
        with pytest.raises(BadRequestData):
            await service.delete_entry("unknown", reload=True)
        with pytest.raises(ResourceNotFound):
            await service.delete_entry("unknown")
        with pytest.raises(BadRequestData, match="core"):
            await service.delete_entry(CORE_CONTEXT_URL)
        await service.delete_entry(CORE_CONTEXT_URL, reload=True)  # built in: a no-op
        v16 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
        assert service.get_entry(v16).built_in
        await service.delete_entry(hosted.local_id)
        await service.delete_entry(implicit.url)
        assert service.list_entries(kind=HOSTED) == []
        assert service.list_entries(kind=IMPLICITLY_CREATED) == []
        # a deleted hosted context is no longer resolvable locally
        with pytest.raises(LdContextNotAvailable):
            await service.term_map(hosted.url)

    run(go())


def test_list_rejects_unknown_kinds() -> None:
    with pytest.raises(BadRequestData, match="kind"):
        ContextService(BASE).list_entries(kind="other")


def test_service_creates_and_closes_its_own_client() -> None:
    async def go() -> None:
        service = ContextService(BASE)
        await service.term_map(None)
        await service.aclose()

    run(go())


def test_references_into_the_hub_itself_are_not_fetched() -> None:
    server = Server()

    async def go() -> None:
        service = server.service()
        for value in ("", " x", "relative.jsonld", "/api/v1/context.jsonld", f"{BASE}/other"):
            with pytest.raises(BadRequestData):
                await service.term_map(value)
        with pytest.raises(LdContextNotAvailable, match="not \\(or no longer\\) registered"):
            await service.term_map(f"{BASE}/ngsi-ld/v1/jsonldContexts/urn:ngsi-ld:nothing")

    run(go())
    assert server.calls == {}
