"""Deep JSON and long integers over HTTP, on both backends (issue 22 items 3 and 7).

A document nests at most MAX_JSON_DEPTH (64) levels of objects and arrays; deeper is 400
BadRequestData naming the limit and where (a batch reports it for that entity, in its 207).
Integers in the 64-bit range (-2^63 .. 2^64-1) are kept exactly everywhere, 2^53 + 1 included;
longer ones are 400 naming where. cityhub/ngsild/json_limits.py says why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from cityhub.ngsild.json_limits import MAX_JSON_DEPTH
from tests.notify._receivers import HttpReceiver

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
V1 = "/ngsi-ld/v1"
E = V1 + "/entities"
JSON = {"Content-Type": "application/json"}


def deep_text(levels: int) -> str:
    """A JSON value of ``levels`` nested arrays and objects, as text (the encoders of the test
    side cannot write a thousand levels either)."""
    opened = "".join('{"a":' if i % 2 else "[" for i in range(levels))
    closed = "".join("}" if i % 2 else "]" for i in reversed(range(levels)))
    return opened + "1" + closed


def _post(client: TestClient, path: str, text: str, method: str = "POST") -> Any:
    return client.request(method, path, content=text.encode(), headers=JSON)


def _problem(response: Any, status: int = 400, kind: str = "BadRequestData") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == ERR + kind, body
    detail: str = body["detail"]
    return detail


def _entity_text(eid: str, value: str) -> str:
    return f'{{"id": "{eid}", "type": "Deep", "p": {{"type": "Property", "value": {value}}}}}'


# ---- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH - 1, 252, 1000])
def test_a_deep_value_is_400_naming_the_limit(client: TestClient, levels: int) -> None:
    """The issue's reproduction (252 levels answered 500); MAX_JSON_DEPTH - 1 levels of value
    are one past the limit once the entity and the attribute object are counted."""
    detail = _problem(_post(client, E, _entity_text("urn:x:deep", deep_text(levels))))
    assert f"more than {MAX_JSON_DEPTH} levels deep (at p.value[0].a...)" in detail
    assert client.get(E + "/urn:x:deep").status_code == 404


def test_deep_sub_attributes_are_400(client: TestClient) -> None:
    sub = '{"type": "Property", "value": 1}'
    for _ in range(300):
        sub = '{"type": "Property", "value": 1, "s": ' + sub + "}"
    body = '{"id": "urn:x:deep", "type": "Deep", "p": ' + sub + "}"
    assert "(at p.s.s.s...)" in _problem(_post(client, E, body))


ROUTES = [
    ("POST", E, _entity_text("urn:x:1", deep_text(252))),
    ("PATCH", E + "/urn:x:shallow", '{"p": ' + deep_text(252) + "}"),
    ("PUT", E + "/urn:x:shallow", _entity_text("urn:x:shallow", deep_text(252))),
    ("POST", E + "/urn:x:shallow/attrs", '{"q": ' + deep_text(252) + "}"),
    ("PATCH", E + "/urn:x:shallow/attrs", '{"p": ' + deep_text(252) + "}"),
    ("PATCH", E + "/urn:x:shallow/attrs/p", '{"value": ' + deep_text(252) + "}"),
    ("PATCH", E + "/urn:x:shallow/attrs/p", '{"unitCode": ' + deep_text(252) + "}"),
    ("PUT", E + "/urn:x:shallow/attrs/p", '{"value": ' + deep_text(252) + "}"),
    (
        "POST",
        V1 + "/temporal/entities",
        '{"id": "urn:x:t", "type": "Deep", "p": [{"type": "Property", "value": '
        + deep_text(252)
        + "}]}",
    ),
    (
        "POST",
        V1 + "/subscriptions",
        '{"type": "Subscription", "entities": [{"type": "Deep"}], "notification": '
        '{"endpoint": {"uri": "http://127.0.0.1:18299/n"}}, "description": ' + deep_text(252) + "}",
    ),
    (
        "POST",
        V1 + "/csourceRegistrations",  # a CSource property is kept as sent (clause 5.2.9)
        '{"type": "ContextSourceRegistration", "information": [{"entities": [{"type": "Deep"}]}],'
        ' "endpoint": "http://cs.example.org:1026", "extra": ' + deep_text(252) + "}",
    ),
    ("POST", V1 + "/jsonldContexts", '{"@context": {"a": ' + deep_text(252) + "}}"),
    (
        "POST",
        V1 + "/entityOperations/query",
        '{"type": "Query", "entities": [{"type": "Deep"}], "q": ' + deep_text(252) + "}",
    ),
]


@pytest.mark.parametrize(("method", "path", "text"), ROUTES)
def test_every_route_refuses_deep_json_before_writing(
    client: TestClient, method: str, path: str, text: str
) -> None:
    shallow = _entity_text("urn:x:shallow", "1")
    assert _post(client, E, shallow).status_code == 201
    detail = _problem(_post(client, path, text, method))
    assert f"at most {MAX_JSON_DEPTH} are accepted" in detail
    got = client.get(E + "/urn:x:shallow", params={"options": "keyValues"}).json()
    assert got == {"id": "urn:x:shallow", "type": "Deep", "p": 1}  # unchanged
    assert client.get(V1 + "/subscriptions").json() == []
    assert client.get(V1 + "/csourceRegistrations", params={"type": "Deep"}).json() == []


@pytest.mark.parametrize("levels", [252, 1000])
def test_a_batch_reports_a_deep_entity_as_that_entitys_error(
    client: TestClient, levels: int
) -> None:
    body = (
        "[" + _entity_text("urn:x:ok", "1") + ", " + _entity_text("urn:x:deep", deep_text(levels))
    )
    r = _post(client, V1 + "/entityOperations/upsert", body + "]")
    assert r.status_code == 207, r.text
    result = r.json()
    assert result["success"] == ["urn:x:ok"]
    [error] = result["errors"]
    assert error["entityId"] == "urn:x:deep"
    assert f"at most {MAX_JSON_DEPTH} are accepted" in error["error"]["detail"]
    assert client.get(E + "/urn:x:ok").status_code == 200
    assert client.get(E + "/urn:x:deep").status_code == 404


def test_deep_coordinates_in_a_geo_query_are_400(client: TestClient) -> None:
    """The geo-query's coordinates are JSON in the query string: a thousand nested arrays
    answered 500 (the error message's repr recursed)."""
    params = {
        "type": "Deep",
        "georel": "near;maxDistance==10",
        "geometry": "Point",
        "coordinates": "[" * 1000 + "1" + "]" * 1000,
    }
    assert f"at most {MAX_JSON_DEPTH} are accepted" in _problem(client.get(E, params=params))


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


def _subscribe(client: TestClient, receiver: HttpReceiver) -> None:
    sub = {
        "type": "Subscription",
        "entities": [{"type": "Deep"}],
        "notification": {"endpoint": {"uri": receiver.url}},
    }
    assert client.post(V1 + "/subscriptions", json=sub).status_code == 201


def _notified(receiver: HttpReceiver, eid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        for got in list(receiver.received):
            for doc in got.body.get("data", []):
                if doc.get("id") == eid:
                    return dict(doc)
        assert time.monotonic() < deadline, f"no notification for {eid}"
        receiver.wait_for(len(receiver.received) + 1, timeout=deadline - time.monotonic())


def test_the_deepest_accepted_entity_goes_everywhere(
    client: TestClient, receiver: HttpReceiver
) -> None:
    """At the limit (entity 1, attribute 2, value 3..64) every stored and sent form of the
    entity still encodes: retrieve in each format, query, GeoJSON, linked entities inlined,
    temporal history, batch upsert, notifications."""
    _subscribe(client, receiver)
    value = deep_text(MAX_JSON_DEPTH - 2)
    text = (
        '{"id": "urn:x:deepest", "type": "Deep", "p": {"type": "Property", "value": '
        + value
        + ', "observedAt": "2026-11-01T09:00:00Z"},'
        ' "location": {"type": "GeoProperty",'
        ' "value": {"type": "Point", "coordinates": [127.1, 37.4]}},'
        ' "next": {"type": "Relationship", "object": "urn:x:deepest"}}'
    )
    assert _post(client, E, text).status_code == 201
    expected = orjson.loads(value)
    for fmt in ("normalized", "concise", "keyValues"):
        got = client.get(E + "/urn:x:deepest", params={"format": fmt})
        assert got.status_code == 200, got.text
    assert client.get(E + "/urn:x:deepest", params={"options": "keyValues"}).json()["p"] == expected
    query = client.get(E, params={"type": "Deep", "join": "inline", "joinLevel": "8"})
    assert query.status_code == 200 and query.json()[0]["p"]["value"] == expected
    geo = client.get(E, params={"type": "Deep"}, headers={"Accept": "application/geo+json"})
    assert geo.status_code == 200, geo.text
    for options in ("", "temporalValues", "sysAttrs"):
        history = client.get(V1 + "/temporal/entities/urn:x:deepest", params={"options": options})
        assert history.status_code == 200, history.text
    assert _notified(receiver, "urn:x:deepest")["p"]["value"] == expected
    batch = _post(client, V1 + "/entityOperations/upsert", "[" + text.replace("deepest", "b") + "]")
    assert batch.status_code in (201, 204), batch.text
    assert _notified(receiver, "urn:x:b")["p"]["value"] == expected


# ---- integers ------------------------------------------------------------------------------

KEPT = [2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**53) - 1]


def test_64_bit_integers_are_kept_exactly_everywhere(
    client: TestClient, receiver: HttpReceiver
) -> None:
    """JSON numbers have no range (RFC 8259 section 6); the hub keeps every 64-bit integer
    exactly: as a Property value, in a JsonProperty, a ListProperty and a sub-attribute,
    through retrieve, temporal history and notifications, and q compares them exactly."""
    _subscribe(client, receiver)
    for i, n in enumerate(KEPT):
        eid = f"urn:x:int{i}"
        text = (
            f'{{"id": "{eid}", "type": "Deep", "p": {{"type": "Property", "value": {n},'
            f' "s": {{"type": "Property", "value": {n}}}}},'
            f' "j": {{"type": "JsonProperty", "json": {{"n": {n}}}}},'
            f' "l": {{"type": "ListProperty", "valueList": [{n}]}}}}'
        )
        assert _post(client, E, text).status_code == 201
        got = orjson.loads(client.get(E + "/" + eid).content)
        assert got["p"]["value"] == n and got["p"]["s"]["value"] == n
        assert got["j"]["json"] == {"n": n} and got["l"]["valueList"] == [n]
        history = orjson.loads(
            client.get(
                V1 + "/temporal/entities/" + eid, params={"options": "temporalValues"}
            ).content
        )
        assert history["p"]["values"][0][0] == n
        assert _notified(receiver, eid)["p"]["value"] == n
        found = client.get(E, params={"type": "Deep", "q": f"p=={n}"}).json()
        assert [e["id"] for e in found] == [eid], n


@pytest.mark.parametrize("literal", ["18446744073709551616", "-9223372036854775809", "1" * 40])
def test_longer_integers_are_400_naming_where(client: TestClient, literal: str) -> None:
    detail = _problem(_post(client, E, _entity_text("urn:x:big", literal)))
    assert "(at p.value)" in detail and "outside the range kept exactly" in detail
    assert client.get(E + "/urn:x:big").status_code == 404
    batch = "[" + _entity_text("urn:x:ok", "1") + ", " + _entity_text("urn:x:big", literal) + "]"
    detail = _problem(_post(client, V1 + "/entityOperations/upsert", batch))
    assert "(at [1].p.value)" in detail
    assert client.get(E + "/urn:x:ok").status_code == 404  # nothing of the batch was written
