"""api/routing.py: the indexed router picks the route Starlette's would, and the request's
parameter and header lookups answer as Starlette's do."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import BaseRoute, Match

from cityhub.api.routing import ApiRequest, IndexedRouter
from cityhub.app import create_app
from cityhub.settings import Settings

API = "/ngsi-ld/v1"
PATHS = [
    "/health",
    f"{API}/entities",
    f"{API}/entities/urn:ngsi-ld:X:1",
    f"{API}/entities/urn:ngsi-ld:X:1/attrs",
    f"{API}/entities/urn:ngsi-ld:X:1/attrs/speed",
    f"{API}/entities/urn:with/slashes/attrs/speed",  # {entity_id:path} takes slashes
    f"{API}/entities/urn:with/slashes",
    f"{API}/entities/attrs",
    f"{API}/entityOperations/upsert",
    f"{API}/entityOperations/nothing",
    f"{API}/types",
    f"{API}/types/Streetlight",
    f"{API}/attributes/speed",
    f"{API}/jsonldContexts/abc",
    f"{API}/subscriptions/urn:ngsi-ld:Subscription:1",
    f"{API}/csourceRegistrations/urn:x",
    f"{API}/csourceSubscriptions",
    f"{API}/temporal/entities",
    f"{API}/temporal/entities/urn:x/attrs/speed/urn:i",
    f"{API}/temporal/entities/urn:x/attrs/speed",
    f"{API}/temporal/entities/urn:x",
    f"{API}/temporal/entityOperations/query",
    f"{API}/nowhere",
    f"{API}/",
    "/other",
]
METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "BREW"]


def _starlette_choice(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def test_the_indexed_router_picks_starlettes_route_for_every_method_and_path(
    tmp_path: Any,
) -> None:
    app = create_app(Settings(store=f"sqlite:///{tmp_path / 'r.db'}"))
    router = app.router
    assert isinstance(router, IndexedRouter)
    checked = 0
    for method in METHODS:
        for path in PATHS:
            scope = {"type": "http", "method": method, "path": path, "root_path": ""}
            expected = _starlette_choice(router.routes, scope)
            found = router.full_match(dict(scope))
            if found is None:  # Starlette's own loop runs: fine when nothing was skipped
                assert expected is None or not path.startswith(router.prefix), (method, path)
            else:
                assert found[0] is expected, (method, path)
                checked += 1
    assert checked > 40  # most pairs above do reach a handler


def test_query_params_and_headers_answer_like_starlettes() -> None:
    request = ApiRequest(
        {
            "type": "http",
            "query_string": b"type=A,B&limit=3&q=",
            "headers": [(b"link", b"<http://x>"), (b"accept", b"a"), (b"accept", b"b")],
        }
    )
    params = request.query_params
    assert params.get("type") == "A,B" and params["type"] == "A,B"
    assert params.getlist("type") == ["A,B"]
    assert params.get("q") == "" and params.get("attrs") is None and params.get("x", "d") == "d"
    assert "limit" in params and "attrs" not in params
    headers = request.headers
    assert headers.get("Accept") == "a" and headers["accept"] == "a"  # first value
    assert headers.get("ngsild-tenant") is None and headers.get("x", "d") == "d"
    assert (
        ApiRequest({"type": "http", "query_string": b"", "headers": []}).query_params.get("type")
        is None
    )


def test_query_strings_parse_as_starlettes() -> None:
    """FastQueryParams unquotes only fields with ``%`` or ``+``; every query string it accepts
    gives the pairs Starlette's QueryParams gives (urllib's parse_qsl, blank values kept) for
    its text read as UTF-8, and it refuses exactly the ones whose meaning Starlette would
    change unseen: a malformed or non-UTF-8 escape, a repeated name, non-UTF-8 bytes (see
    FastQueryParams). Escapes, plus signs, blank fields, non-ASCII bytes and random mixtures
    of them."""
    import random
    import re
    from urllib.parse import unquote_to_bytes

    from starlette.datastructures import QueryParams

    from cityhub.api.params import FastQueryParams
    from cityhub.errors import InvalidRequest

    def refused(raw: bytes) -> bool:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return True
        names = []
        for field in text.split("&"):
            if not field:
                continue
            for part in field.partition("=")[::2]:
                if "%" in part and re.search(r"%(?![0-9A-Fa-f]{2})", part):
                    return True
                try:
                    unquote_to_bytes(part.replace("+", " ")).decode()
                except UnicodeDecodeError:
                    return True
            names.append(unquote_to_bytes(field.partition("=")[0].replace("+", " ")).decode())
        return len(set(names)) != len(names)

    cases = [
        b"",
        b"&&",
        b"a&b=&=c&&d",
        b"a&b=&=c&&d==e&a",
        b"type=Street%20light&q=a%3D%3D1+2",
        b"x=%E2%82%AC&y=%zz&z=%&w=%4",
        b"x=%E2%82%AC&y=%C3",
        b"k+e=v+v&%2B=%2b",
        b"k+e=v&k%20e=w",
        "city=성남&name=caf\u00e9".encode(),
        b"name=caf\xe9",
        b"georel=near%3BmaxDistance%3D%3D2000&coordinates=%5B127.1%2C37.4%5D&limit=20",
    ]
    rng = random.Random(4)
    alphabet = [b"a", b"=", b"&", b"%", b"+", b"2", b"F", b"%41", b"%E2%82", b"\xc3\xa9", b" "]
    cases += [b"".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(500)]
    accepted = 0
    for raw in cases:
        if refused(raw):
            with pytest.raises(InvalidRequest):
                FastQueryParams(raw)
            continue
        accepted += 1
        fast, starlette = FastQueryParams(raw), QueryParams(raw.decode())
        assert fast.multi_items() == starlette.multi_items(), raw
        assert dict(fast) == dict(starlette), raw
        assert FastQueryParams(raw.decode()).multi_items() == starlette.multi_items()
    assert accepted > 100
