"""End to end over HTTP: the hub's API, its dispatcher, and a real receiver on 127.0.0.1.

Each notificationTrigger (ETSI GS CIM 009 v1.8.1 clause 5.2.12), each filter (entities id /
idPattern / type, watchedAttributes, q, geoQ, scopeQ), each format (clause 5.2.14: normalized,
concise, keyValues), endpoint.accept (clause 7.2: Link header or inline @context), showChanges,
throttling and timeInterval (clause 5.8.6).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.ngsild.context import CORE_CONTEXT_URL
from cityhub.ngsild.names import NGSI_LD_NULL
from cityhub.settings import Settings
from tests.notify._receivers import HttpReceiver

E = "/ngsi-ld/v1/entities"
S = "/ngsi-ld/v1/subscriptions"
EID = "urn:ngsi-ld:AirQualityObserved:Jeongja"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(store=f"sqlite:///{tmp_path / 'hub.db'}", airquality_service=False))
    ) as c:
        yield c


def _sub(rx: HttpReceiver, **members: Any) -> dict[str, Any]:
    notification = members.pop("notification", {})
    endpoint = {"uri": rx.url, **notification.pop("endpoint", {})}
    return {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        **members,
        "notification": {**notification, "endpoint": endpoint},
    }


def _entity(eid: str = EID, pm25: float = 18, **extra: Any) -> dict[str, Any]:
    return {
        "id": eid,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": pm25},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.11, 37.37]},
        },
        **extra,
    }


def _subscribe(client: TestClient, body: dict[str, Any]) -> str:
    r = client.post(S, json=body)
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def _status_after_delivery(client: TestClient, sid: str) -> dict[str, Any]:
    """The notification status members once the dispatcher recorded its delivery (it writes
    them just after the receiver answered)."""
    deadline = time.monotonic() + 10
    while True:
        status: dict[str, Any] = client.get(f"{S}/{sid}").json()["notification"]
        if "lastSuccess" in status or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def _lifecycle(client: TestClient) -> None:
    """create, update pm25, append no2, delete no2, delete the entity."""
    assert client.post(E, json=_entity()).status_code == 201
    assert (
        client.patch(
            f"{E}/{EID}/attrs", json={"pm25": {"type": "Property", "value": 40}}
        ).status_code
        == 204
    )
    assert (
        client.post(
            f"{E}/{EID}/attrs", json={"no2": {"type": "Property", "value": 0.03}}
        ).status_code
        == 204
    )
    assert client.delete(f"{E}/{EID}/attrs/no2").status_code == 204
    assert client.delete(f"{E}/{EID}").status_code == 204


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ("entityCreated", 1),
        ("entityUpdated", 3),  # update, append, attribute delete
        ("entityDeleted", 1),
        ("attributeCreated", 2),  # the creation's attributes, then no2
        ("attributeUpdated", 1),
        ("attributeDeleted", 2),  # no2, then the entity's attributes
    ],
)
def test_each_trigger(
    client: TestClient, receiver: HttpReceiver, trigger: str, expected: int
) -> None:
    _subscribe(client, _sub(receiver, notificationTrigger=[trigger]))
    _lifecycle(client)
    receiver.wait_for(expected)
    got = receiver.quiet()
    assert len(got) == expected, [g.body["data"] for g in got]
    last = got[-1].body["data"][0]
    if trigger == "entityDeleted":
        assert set(last) == {"id", "type", "deletedAt"}  # ETSI 046_21_01
    if trigger == "attributeDeleted":
        first = got[0].body["data"][0]
        assert first["no2"] == {"type": "Property", "value": NGSI_LD_NULL}
        assert last["pm25"] == {"type": "Property", "value": NGSI_LD_NULL}
        assert "deletedAt" in last


def test_filters(client: TestClient, receiver: HttpReceiver) -> None:
    """Each subscription sees only the change its filter selects."""
    rx = receiver
    cases = {
        "by id": _sub(
            rx, entities=[{"id": "urn:ngsi-ld:AirQualityObserved:B", "type": "AirQualityObserved"}]
        ),
        "by idPattern": _sub(rx, entities=[{"idPattern": ".*:B$", "type": "AirQualityObserved"}]),
        "q": _sub(rx, q="pm25>50"),
        "q percent-encoded": _sub(rx, q="pm25%3E50"),
        "watched": _sub(rx, watchedAttributes=["no2"]),
        "geoQ": _sub(
            rx,
            geoQ={
                "georel": "near;maxDistance==1000",
                "geometry": "Point",
                "coordinates": [127.0, 37.5],
            },
        ),
        "scopeQ": _sub(rx, scopeQ="/Seongnam/Bundang"),
    }
    ids = {name: _subscribe(client, body) for name, body in cases.items()}
    # A matches nothing above; B matches every filter
    assert (
        client.post(E, json=_entity("urn:ngsi-ld:AirQualityObserved:A", pm25=10)).status_code == 201
    )
    b = _entity(
        "urn:ngsi-ld:AirQualityObserved:B",
        pm25=80,
        no2={"type": "Property", "value": 0.05},
        scope="/Seongnam/Bundang",
    )
    b["location"]["value"]["coordinates"] = [127.001, 37.501]
    assert client.post(E, json=b).status_code == 201
    receiver.wait_for(len(cases))
    got = receiver.quiet()
    by_sub = {g.body["subscriptionId"]: [d["id"] for d in g.body["data"]] for g in got}
    assert len(got) == len(cases)
    for name, sid in ids.items():
        assert by_sub.get(sid) == ["urn:ngsi-ld:AirQualityObserved:B"], name


@pytest.mark.parametrize(
    ("fmt", "pm25"),
    [
        ("normalized", {"type": "Property", "value": 18}),
        ("concise", 18),
        ("keyValues", 18),
        ("simplified", 18),
    ],
)
def test_formats(client: TestClient, receiver: HttpReceiver, fmt: str, pm25: Any) -> None:
    _subscribe(
        client,
        _sub(
            receiver,
            notificationTrigger=["entityCreated"],
            notification={"format": fmt, "attributes": ["pm25"]},
        ),
    )
    assert client.post(E, json=_entity()).status_code == 201
    (got,) = receiver.wait_for(1)
    assert got.body["data"] == [{"id": EID, "type": "AirQualityObserved", "pm25": pm25}]


def test_accept_json_sends_a_link_header(client: TestClient, receiver: HttpReceiver) -> None:
    _subscribe(client, _sub(receiver, notification={"endpoint": {"accept": "application/json"}}))
    assert client.post(E, json=_entity()).status_code == 201
    (got,) = receiver.wait_for(1)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Link"].startswith("<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context")
    assert "@context" not in got.body and "@context" not in got.body["data"][0]


def test_accept_ld_json_puts_the_context_inline(client: TestClient, receiver: HttpReceiver) -> None:
    _subscribe(client, _sub(receiver, notification={"endpoint": {"accept": "application/ld+json"}}))
    assert client.post(E, json=_entity()).status_code == 201
    (got,) = receiver.wait_for(1)
    assert got.headers["Content-Type"] == "application/ld+json"
    assert "Link" not in got.headers
    assert got.body["data"][0]["@context"] == CORE_CONTEXT_URL
    assert got.body["@context"] == CORE_CONTEXT_URL


def test_show_changes(client: TestClient, receiver: HttpReceiver) -> None:
    """previousValue beside a modified attribute only (ETSI 046_31), and on deletion (046_34)."""
    _subscribe(
        client,
        _sub(
            receiver,
            notificationTrigger=["attributeUpdated", "attributeDeleted"],
            notification={"showChanges": True},
        ),
    )
    assert (
        client.post(E, json=_entity(name={"type": "Property", "value": "Jeongja"})).status_code
        == 201
    )
    assert (
        client.patch(
            f"{E}/{EID}/attrs", json={"pm25": {"type": "Property", "value": 40}}
        ).status_code
        == 204
    )
    assert client.delete(f"{E}/{EID}/attrs/name").status_code == 204
    first, second = (g.body["data"][0] for g in receiver.wait_for(2))
    assert first["pm25"] == {"type": "Property", "value": 40, "previousValue": 18}
    assert first["name"] == {"type": "Property", "value": "Jeongja"}
    assert second["name"] == {"type": "Property", "value": NGSI_LD_NULL, "previousValue": "Jeongja"}


def test_throttling(client: TestClient, receiver: HttpReceiver) -> None:
    _subscribe(client, _sub(receiver, throttling=3600))
    assert client.post(E, json=_entity()).status_code == 201
    for v in (20, 21, 22):
        client.patch(f"{E}/{EID}/attrs", json={"pm25": {"type": "Property", "value": v}})
    receiver.wait_for(1)
    assert len(receiver.quiet()) == 1


def test_time_interval_sends_periodically(client: TestClient, receiver: HttpReceiver) -> None:
    assert client.post(E, json=_entity()).status_code == 201
    sid = _subscribe(client, _sub(receiver, timeInterval=1))
    got = receiver.wait_for(3)
    assert all(g.body["subscriptionId"].endswith(sid) for g in got)
    assert got[0].body["data"][0]["pm25"] == {"type": "Property", "value": 18}


def test_paused_subscription_sends_nothing(client: TestClient, receiver: HttpReceiver) -> None:
    sid = _subscribe(client, _sub(receiver, isActive=False))
    assert client.post(E, json=_entity()).status_code == 201
    assert receiver.quiet() == []
    assert client.get(f"{S}/{sid}").json()["status"] == "paused"
    assert client.patch(f"{S}/{sid}", json={"isActive": True}).status_code == 204
    client.patch(f"{E}/{EID}/attrs", json={"pm25": {"type": "Property", "value": 20}})
    (got,) = receiver.wait_for(1)
    assert got.body["subscriptionId"] == sid
    status = _status_after_delivery(client, sid)
    assert status["timesSent"] == 1 and status["status"] == "ok" and "lastSuccess" in status


def test_a_read_right_after_the_answer_sees_its_outcome(
    client: TestClient, receiver: HttpReceiver
) -> None:
    """ETSI 046_12_01: the receiver reads the subscription the moment it has answered; the
    read waits for the dispatcher to record that answer (clause 5.8.6: status ok,
    lastNotification, lastSuccess), with no polling."""
    sid = _subscribe(client, _sub(receiver))
    assert client.post(E, json=_entity()).status_code == 201
    receiver.wait_for(1)
    status = client.get(f"{S}/{sid}").json()["notification"]
    assert status["status"] == "ok" and status["timesSent"] == 1
    assert status["lastNotification"] and status["lastSuccess"]
