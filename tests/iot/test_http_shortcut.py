"""A measure's short road over HTTP (``cityhub.api.iot_measures.measure_shortcut``, tried by
``cityhub.api.front.ApiFront`` before the router): for every request it takes it answers as
the routes do (status, headers, body, what is written and what is counted), and it leaves to
them every request it does not take. The same request is sent both ways: plainly (the short
road) and with one character of the apikey percent-escaped (the routes: the short road reads
no escapes), which names the same group."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.api import iot_measures
from tests.iot._support import APIKEY, UL, entity, errors, provision_group

ESCAPED = "%" + format(ord(APIKEY[0]), "02X") + APIKEY[1:]  # the same apikey, escaped
THING = "urn:ngsi-ld:Thing:motion001"

#: (path, query after k=...&, body, content type): what a device sends
REQUESTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("/iot/json", "i=motion001", b'{"t": 21, "h": 40}', {}),
    ("/iot/json", "i=motion001&t=2030-01-01T00:00:00Z", b'[{"t": 1}, {"t": 2}]', {}),
    ("/iot/d", "i=motion001", b"t|15|h|70", UL),
    ("/iot/d", "i=motion001&t=2030-01-02T00:00:00Z", b"t|16#t|17", UL),
    # refused: malformed, wrong types, not UTF-8, an unknown group, an odd device id
    ("/iot/json", "i=motion001", b'{"t": 21', {}),
    ("/iot/json", "i=motion001", b"[1, 2]", {}),
    (
        "/iot/json",
        "i=motion001",
        b'{"t": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}',
        {},
    ),
    ("/iot/d", "i=motion001", b"t|15|h", UL),
    ("/iot/d", "i=motion001", b"t|\xff\xfe", UL),
    ("/iot/json", "i=bad%20device", b'{"t": 1}', {}),
    ("/iot/json", "i=", b'{"t": 1}', {}),
    ("/iot/json", "i=motion001&t=yesterday", b'{"t": 1}', {}),
    # a device's answers to a command (UltraLight): no command of that name
    ("/iot/d", "i=motion001", b"motion001@ping|pong", UL),
]


def _counted(client: TestClient) -> int:
    """Refused payloads counted so far, every kind, in the group's tenant and the default."""
    rows = errors(client) + client.get("/iot/errors").json()["errors"]
    return sum(int(e["count"]) for e in rows)


def _send(client: TestClient, path: str, apikey: str, query: str, body: bytes, headers: Any) -> Any:
    r = client.post(f"{path}?k={apikey}&{query}", content=body, headers=headers)
    kept = {k: v for k, v in r.headers.items() if k not in ("date", "server")}
    return r.status_code, kept, r.content


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r[0]}?{r[1]} {r[2][:12]!r}")
def test_the_short_road_answers_as_the_routes(
    client: TestClient, request_: tuple[str, str, bytes, dict[str, str]], monkeypatch: Any
) -> None:
    provision_group(client)
    path, query, body, headers = request_
    taken: list[str] = []
    shortcut = iot_measures.measure_shortcut

    async def counted(scope: Any, receive: Any, send: Any) -> bool:
        try:
            answered = await shortcut(scope, receive, send)
        except Exception:
            taken.append("short")  # it took the request, and refused it
            raise
        taken.append("short" if answered else "route")
        return answered

    client.app.middleware_stack.shortcuts[path] = counted  # type: ignore[attr-defined]
    before = _counted(client)
    short = _send(client, path, APIKEY, query, body, headers)
    counted_short = _counted(client) - before
    thing_short = entity(client, THING)
    route = _send(client, path, ESCAPED, query, body, headers)
    counted_route = _counted(client) - before - counted_short
    plain = "%" not in query and query != "i="  # the short road reads no escapes, needs i
    assert taken == ["short" if plain else "route", "route"]
    assert short == route
    assert counted_short == counted_route
    if short[0] == 200 and thing_short is not None:
        thing_route = entity(client, THING)
        assert thing_route is not None
        assert thing_route.keys() == thing_short.keys()


def test_the_short_road_leaves_other_requests_to_the_routes(client: TestClient) -> None:
    """getCmd, GET, a parameter given twice, another parameter: the routes answer them as
    before (the short road read nothing of them)."""
    provision_group(client)
    url = f"/iot/json?k={APIKEY}&i=motion001"
    r = client.post(url + "&getCmd=1", json={"t": 5})
    assert r.status_code == 200 and r.json() == {}
    assert entity(client, THING)["temperature"]["value"] == 5  # type: ignore[index]
    r = client.post(url + "&i=other", json={"t": 6})
    assert r.status_code == 400 and "once" in r.json()["detail"]
    assert client.get(url).status_code == 400  # GET /iot/json only polls
    r = client.post(f"/iot/json?k={APIKEY}", json={"t": 7})
    assert r.status_code == 400 and r.json()["name"] == "MISSING_CONFIG_PARAMS"
    assert entity(client, THING)["temperature"]["value"] == 5  # type: ignore[index]


def test_a_payload_over_the_limit_is_refused_and_counted(tmp_path: Any) -> None:
    from tests.conftest import make_client

    with make_client(tmp_path, max_body_bytes=1000) as client:
        provision_group(client)
        big = b'{"t": "' + b"x" * 1000 + b'"}'
        short = _send(client, "/iot/json", APIKEY, "i=motion001", big, {})
        route = _send(client, "/iot/json", ESCAPED, "i=motion001", big, {})
        assert short == route and short[0] == 413
        assert [(e["kind"], e["count"]) for e in errors(client)] == [("too_large", 2)]
        assert entity(client, THING) is None


def test_the_hub_refuses_a_shortcut_that_would_skip_access_control() -> None:
    from cityhub.api.front import Hub

    with pytest.raises(ValueError, match="skips access control"):
        Hub(routes=[], shortcuts={"/ngsi-ld/v1/entities": iot_measures.measure_shortcut})
