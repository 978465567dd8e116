"""api/front.py, the one layer every request meets before its route: trailing slashes,
unknown URL parameters (clause 6.3.20), and every exception turned into ProblemDetails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from cityhub.api.front import ApiFront, Hub
from tests.conftest import entity, make_client

API = "/ngsi-ld/v1"


def _problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(kind) and body["title"] and body["detail"], body
    return body


def test_a_trailing_slash_is_the_same_resource_and_keeps_the_body(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        assert client.post(f"{API}/entities/", json=entity()).status_code == 201
        got = client.get(f"{API}/entities/urn:ngsi-ld:AirQualityObserved:1/")
        assert got.status_code == 200 and got.json()["id"] == "urn:ngsi-ld:AirQualityObserved:1"


def test_unknown_url_parameters_are_named_in_the_error(tmp_path: Path) -> None:
    # clause 6.3.20: a parameter the API does not define is 400 InvalidRequest
    with make_client(tmp_path) as client:
        body = _problem(
            client.get(f"{API}/entities", params={"type": "T", "limt": "5", "zz": "1"}),
            400,
            "InvalidRequest",
        )
        assert "limt, zz" in body["detail"]
        assert client.get("/health", params={"anything": "1"}).status_code == 200


def test_unknown_parameter_names_are_found_as_by_decoding_every_name() -> None:
    """unknown_parameters decodes only names with ``%`` or ``+``; the answer must be that of
    decoding every name (``unquote_plus`` of the raw name read as latin-1), for escaped known
    names, blank names, bare ``=``, non-ASCII bytes and random mixtures."""
    import random
    from urllib.parse import unquote_plus

    from cityhub.api.front import KNOWN_PARAMETERS, unknown_parameters

    def by_decoding(query: bytes) -> list[str]:
        names = {
            unquote_plus(p.split(b"=", 1)[0].decode("latin-1")) for p in query.split(b"&") if p
        }
        return sorted(names - KNOWN_PARAMETERS)

    parts = [b"type", b"ty%70e", b"q", b"x", b"a+b", b"=", b"&", b"limit", b"%", b"l+imit"]
    parts += [b"georel", b"=v", b"\xc3\xa9", b"%2B"]
    rng = random.Random(3)
    queries = [b"".join(rng.choice(parts) for _ in range(rng.randrange(8))) for _ in range(2000)]
    for query in [b"", b"&&", b"ty%70e=1&x=2&x=3", *queries]:
        assert unknown_parameters(query) == by_decoding(query), query


def test_routing_errors_are_problem_details(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        _problem(client.get(f"{API}/nowhere"), 404, "ResourceNotFound")
        response = client.post(f"{API}/types")
        _problem(response, 405, "InvalidRequest")  # the spec has no type of its own for 405
        assert "GET" in response.headers["allow"]
        _problem(client.get(f"{API}/entities/urn:ngsi-ld:X:404"), 404, "ResourceNotFound")


def test_an_unexpected_exception_is_a_logged_500_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with make_client(tmp_path) as client:
        store = client.app.state.store  # type: ignore[attr-defined]

        async def broken(*_: Any, **__: Any) -> None:
            raise RuntimeError("disk on fire")

        store.get_entity = broken
        body = _problem(client.get(f"{API}/entities/urn:ngsi-ld:X:1"), 500, "InternalError")
        assert "RuntimeError" in body["detail"] and "Nothing was changed" in body["detail"]
        assert any("disk on fire" in (r.exc_text or "") for r in caplog.records)


def test_the_hub_has_one_middleware_layer() -> None:
    app = Hub(routes=[])
    assert isinstance(app.build_middleware_stack(), ApiFront)
    with pytest.raises(TypeError):
        Hub(routes=[], middleware=[Middleware(ApiFront, handlers={})]).build_middleware_stack()
    with TestClient(Hub(routes=[]), raise_server_exceptions=False) as client:
        assert client.get("/x").status_code == 404
