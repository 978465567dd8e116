"""Ids over HTTP, on both backends (issue 22 item 2).

Ids are URIs, and URIs include IRIs (ETSI GS CIM 009 V1.8.1 clause 5.2.1, Annex A), so Korean
ids are normal; an id that is not one is BadRequestData before anything is written (the
behaviour of each operation, e.g. clause 5.6.1.4). ``Location`` carries the id as one
percent-encoded path segment (RFC 3986 sections 2.1, 3.3; RFC 3987 section 3.1), and every id
the hub accepts round-trips: create, Location, retrieve, update, delete, notification.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cityhub.ngsild.ids import is_id
from tests.notify._receivers import HttpReceiver

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
V1 = "/ngsi-ld/v1"
E = V1 + "/entities"
KOREAN = "urn:ngsi-ld:T2:성남시-정자동-🚗"
KOREAN_SEGMENT = (
    "urn:ngsi-ld:T2:%EC%84%B1%EB%82%A8%EC%8B%9C-%EC%A0%95%EC%9E%90%EB%8F%99-%F0%9F%9A%97"
)


def _entity(eid: str, kind: str = "T2", value: Any = 1) -> dict[str, Any]:
    return {"id": eid, "type": kind, "p": {"type": "Property", "value": value}}


def _problem(response: Any, status: int = 400, kind: str = "BadRequestData") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == ERR + kind, body
    detail: str = body["detail"]
    return detail


def _location(response: Any) -> str:
    assert response.status_code == 201, response.text
    raw = dict(response.headers.raw)[b"Location"]
    assert raw.isascii()
    return raw.decode("ascii")


# ---- the reproductions -----------------------------------------------------------------


def test_korean_id_answers_201_with_an_ascii_location(client: TestClient) -> None:
    r = client.post(E, json=_entity(KOREAN))
    assert _location(r) == f"{E}/{KOREAN_SEGMENT}"
    got = client.get(_location(r))
    assert got.status_code == 200 and got.json()["id"] == KOREAN
    assert client.post(E, json=_entity(KOREAN)).status_code == 409  # stored once


def test_korean_subscription_id(client: TestClient) -> None:
    sid = "urn:ngsi-ld:Subscription:성남-대기질-🚨"
    body = {
        "id": sid,
        "type": "Subscription",
        "entities": [{"type": "T2"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:18299/notify"}},
    }
    loc = _location(client.post(V1 + "/subscriptions", json=body))
    assert loc.startswith(V1 + "/subscriptions/urn:ngsi-ld:Subscription:%EC%84%B1")
    assert client.get(loc).json()["id"] == sid
    assert client.patch(loc, json={"description": "대기질"}).status_code == 204
    assert client.delete(loc).status_code == 204
    assert client.get(loc).status_code == 404


def test_korean_temporal_entity(client: TestClient) -> None:
    body = {
        "id": KOREAN,
        "type": "T2",
        "p": [{"type": "Property", "value": 1, "observedAt": "2026-11-01T09:00:00Z"}],
    }
    loc = _location(client.post(V1 + "/temporal/entities", json=body))
    assert loc == f"{V1}/temporal/entities/{KOREAN_SEGMENT}"
    got = client.get(loc)
    assert got.status_code == 200 and got.json()["id"] == KOREAN
    assert client.delete(loc).status_code == 204


def test_korean_registration_and_csource_subscription_ids(client: TestClient) -> None:
    rid = "urn:ngsi-ld:ContextSourceRegistration:분당구#1"
    reg = {
        "id": rid,
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "T2"}]}],
        "endpoint": "http://cs.example.org:1026",
    }
    loc = _location(client.post(V1 + "/csourceRegistrations", json=reg))
    assert "%23" in loc and client.get(loc).json()["id"] == rid
    assert client.delete(loc).status_code == 204
    csid = "urn:ngsi-ld:Subscription:분당구?x"
    csub = {
        "id": csid,
        "type": "Subscription",
        "entities": [{"type": "T2"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:18299/notify"}},
    }
    loc = _location(client.post(V1 + "/csourceSubscriptions", json=csub))
    assert "%3F" in loc and client.get(loc).json()["id"] == csid
    assert client.delete(loc).status_code == 204


def test_an_id_with_nul_is_refused_before_anything_is_written(client: TestClient) -> None:
    detail = _problem(client.post(E, json=_entity("urn:ngsi-ld:T2:a\x00b", kind="Nul")))
    assert "'urn:ngsi-ld:T2:a\\x00b'" in detail and "control character (U+0000)" in detail
    assert client.get(E, params={"type": "Nul"}).json() == []
    sub = {
        "id": "urn:ngsi-ld:Subscription:\x00",
        "type": "Subscription",
        "entities": [{"type": "Nul"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:18299/notify"}},
    }
    _problem(client.post(V1 + "/subscriptions", json=sub))
    assert client.get(V1 + "/subscriptions").json() == []


@pytest.mark.parametrize(
    "eid",
    [
        "urn:x:a#b",
        "urn:x:a?b",
        "urn:x:a%2Fb",
        "urn:x:a/b",
        "urn:x:a/attrs/b",  # with a raw '/', DELETE would name attribute b of urn:x:a
        "urn:x:a/attrs",
        "urn:x:a%25",
        "https://example.org/things/1?x=1#here",
    ],
)
def test_reserved_characters_round_trip(client: TestClient, eid: str) -> None:
    loc = _location(client.post(E, json=_entity(eid)))
    assert client.get(loc).json()["id"] == eid
    patch = client.patch(loc + "/attrs", json={"p": {"type": "Property", "value": 2}})
    assert patch.status_code == 204, patch.text
    got = client.get(loc, params={"options": "keyValues"}).json()
    assert got == {"id": eid, "type": "T2", "p": 2}
    assert client.post(loc + "/attrs", json={"q": {"type": "Property", "value": 3}}).status_code
    assert client.delete(loc + "/attrs/q").status_code == 204
    assert client.delete(loc).status_code == 204
    assert client.get(loc).status_code == 404


def test_percent_encoded_path_ids_are_decoded_once(client: TestClient) -> None:
    """A path segment is decoded exactly once: %23, %3F and %2F are the characters # ? /,
    and %252F is the three characters %2F (RFC 3986 section 2.4)."""
    for eid in ("urn:x:a#b", "urn:x:a?b", "urn:x:a/b", "urn:x:a%2Fb"):
        assert client.post(E, json=_entity(eid)).status_code == 201
    assert client.get(E + "/urn:x:a%23b").json()["id"] == "urn:x:a#b"
    assert client.get(E + "/urn:x:a%3Fb").json()["id"] == "urn:x:a?b"
    assert client.get(E + "/urn:x:a%2Fb").json()["id"] == "urn:x:a/b"
    assert client.get(E + "/urn:x:a/b").json()["id"] == "urn:x:a/b"
    assert client.get(E + "/urn:x:a%252Fb").json()["id"] == "urn:x:a%2Fb"
    assert client.get(E + "/urn%3Ax%3Aa%23b").json()["id"] == "urn:x:a#b"


def test_a_path_whose_octets_are_not_utf8_is_400(client: TestClient) -> None:
    detail = _problem(client.get(E + "/urn:x:%FF"))
    assert "not UTF-8" in detail


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", E, _entity("urn:x:a b")),
        ("POST", E, _entity("no-scheme")),
        ("POST", V1 + "/temporal/entities", _entity("urn:x:a\x00b")),
        ("POST", E, {**_entity("urn:x:1"), "r": {"type": "Relationship", "object": "urn:x:\x00"}}),
        (
            "POST",
            E,
            {**_entity("urn:x:1"), "p": {"type": "Property", "value": 1, "datasetId": "a b"}},
        ),
        (
            "POST",
            V1 + "/subscriptions",
            {
                "type": "Subscription",
                "entities": [{"id": "urn:x:a\u202eb", "type": "T2"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:18299/notify"}},
            },
        ),
        (
            "POST",
            V1 + "/csourceRegistrations",
            {
                "id": "urn:x:%zz",
                "type": "ContextSourceRegistration",
                "information": [{"entities": [{"type": "T2"}]}],
                "endpoint": "http://cs.example.org:1026",
            },
        ),
        ("GET", E + "/urn:x:a%00b", None),
        ("GET", E + "/urn:x:a%20b", None),
        ("PATCH", E + "/not-a-uri/attrs", {"p": 1}),
        ("DELETE", V1 + "/subscriptions/urn:x:%01", None),
        ("GET", V1 + "/temporal/entities/urn:x:a%0Ab", None),
    ],
)
def test_ids_that_are_not_uris_are_bad_request_data_everywhere(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    detail = _problem(client.request(method, path, json=body))
    assert "must be a URI" in detail


def test_query_parameter_ids_are_checked(client: TestClient) -> None:
    detail = _problem(client.get(E, params={"id": "urn:x:1,urn:x:a\x00b"}))
    assert "control character" in detail
    assert client.post(E, json=_entity(KOREAN)).status_code == 201
    found = client.get(E, params={"id": KOREAN, "type": "T2"}).json()
    assert [e["id"] for e in found] == [KOREAN]


def test_batch_reports_a_bad_id_per_entity(client: TestClient) -> None:
    r = client.post(
        V1 + "/entityOperations/upsert",
        json=[_entity(KOREAN), _entity("urn:x:a\x00b"), _entity("urn:x:a#b")],
    )
    assert r.status_code == 207, r.text
    body = r.json()
    assert sorted(body["success"]) == sorted([KOREAN, "urn:x:a#b"])
    [error] = body["errors"]
    assert error["entityId"] == "urn:x:a\x00b"
    assert "control character (U+0000)" in error["error"]["detail"]
    r = client.post(V1 + "/entityOperations/delete", json=[KOREAN, "urn:x:\x01"])
    assert r.status_code == 207 and r.json()["success"] == [KOREAN]


# ---- every id the hub accepts round-trips (hypothesis) ---------------------------------

_VALID_PIECES = st.one_of(
    st.sampled_from(list("aZ09-._~!$&'()*+,;=:@/?")),
    st.sampled_from(["%2F", "%23", "%3F", "%25", "%20", "%e2%82%ac", "/attrs", "/attrs/x"]),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
    st.sampled_from(["성남시", "정자동", "🚗", "🧑\u200d💻", "é", "ß", "東京"]),
)
_HOSTILE_PIECES = st.sampled_from(
    [" ", "\x00", "\t", "\u3000", "\u202e", "%", "%zz", "#", "[", "]", "<", '"', "\\", "\ud800"]
)
_IDS = st.tuples(
    st.lists(_VALID_PIECES, min_size=1, max_size=10),
    st.lists(_HOSTILE_PIECES, max_size=1),
    st.randoms(use_true_random=False),
).map(lambda t: "urn:ngsi-ld:T:" + "".join(_shuffled(t[0] + t[1], t[2])))


def _shuffled(parts: list[str], rnd: Any) -> list[str]:
    rnd.shuffle(parts)
    return parts


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(eid=_IDS)
def test_every_accepted_id_round_trips(
    client: TestClient, receiver: HttpReceiver, eid: str
) -> None:
    """create -> Location -> retrieve -> update -> notification -> delete, or a 400 that
    leaves nothing behind; on both backends."""
    subs = client.get(V1 + "/subscriptions").json()
    if not subs:
        body = {
            "type": "Subscription",
            "entities": [{"type": "RoundTrip"}],
            "notificationTrigger": ["entityCreated"],
            "notification": {"endpoint": {"uri": receiver.url}},
        }
        assert client.post(V1 + "/subscriptions", json=body).status_code == 201
    body = json.dumps(_entity(eid, kind="RoundTrip"))  # \ud800 goes out as an escape
    r = client.post(E, content=body, headers={"Content-Type": "application/json"})
    if not is_id(eid):
        assert r.status_code == 400, r.text  # BadRequestData, or InvalidRequest for bad JSON
        assert r.json()["detail"]
        assert client.get(E, params={"type": "RoundTrip"}).json() == []
        return
    loc = _location(r)
    assert loc.startswith(E + "/")
    got = client.get(loc)
    assert got.status_code == 200 and got.json()["id"] == eid
    if "," not in eid:  # id= is a comma-separated list (clause 6.4.3.2)
        assert [e["id"] for e in client.get(E, params={"id": eid, "type": "RoundTrip"}).json()] == [
            eid
        ]
    patch = client.patch(loc + "/attrs", json={"p": {"type": "Property", "value": 2}})
    assert patch.status_code == 204, patch.text
    assert client.get(loc, params={"options": "keyValues"}).json()["p"] == 2
    history = client.get(V1 + "/temporal/entities/" + loc.rsplit("/", 1)[1])
    assert history.status_code == 200 and history.json()["id"] == eid
    notified = _notification_for(receiver, eid)
    assert notified["data"][0]["id"] == eid
    assert client.delete(loc).status_code == 204
    assert client.get(loc).status_code == 404


def _notification_for(receiver: HttpReceiver, eid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for got in receiver.received:
            if any(d.get("id") == eid for d in got.body.get("data", [])):
                return got.body
        receiver.wait_for(len(receiver.received) + 1, timeout=deadline - time.monotonic())
    raise AssertionError(f"no notification for {eid!r}")
