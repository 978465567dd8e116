"""Notifications of registration subscriptions, end to end over HTTP on every backend: the API,
the in-transaction outbox, the dispatcher and a real receiver (ETSI GS CIM 009 v1.8.1 clause
5.11.7; CsourceNotification clause 5.3.2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_client
from tests.notify._receivers import HttpReceiver

REGS = "/ngsi-ld/v1/csourceRegistrations"
SUBS = "/ngsi-ld/v1/csourceSubscriptions"
SID = "urn:ngsi-ld:Subscription:csr-sub"
BUILDING_REG = "urn:ngsi-ld:ContextSourceRegistration:building"
BUS_REG = "urn:ngsi-ld:ContextSourceRegistration:bus"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


@pytest.fixture
def hub(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store_url) as c:
        yield c


def registration(rid: str, *types: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": t}]} for t in types],
        "endpoint": "http://cs.example.org:1026",
        **extra,
    }


def subscription(rx: HttpReceiver, *types: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": SID,
        "type": "Subscription",
        "entities": [{"type": t} for t in types],
        "notification": {"endpoint": {"uri": rx.url, "accept": "application/json"}},
        **extra,
    }


def created(response: Any) -> None:
    assert response.status_code in (201, 204), response.text


def status_after(hub: TestClient, key: str) -> dict[str, Any]:
    """The subscription's notification members once the dispatcher wrote ``key``."""
    deadline = time.monotonic() + 10
    while True:
        params: dict[str, Any] = hub.get(f"{SUBS}/{SID}").json()["notification"]
        if key in params or time.monotonic() > deadline:
            return params
        time.sleep(0.02)


def test_lifecycle_of_a_registration(hub: TestClient, receiver: HttpReceiver) -> None:
    created(hub.post(SUBS, json=subscription(receiver, "Building")))
    created(hub.post(REGS, json=registration(BUS_REG, "Bus")))  # matches nothing
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building", "Bus")))
    first = receiver.wait_for(1)[0]
    assert first.body["type"] == "ContextSourceNotification"
    assert first.body["subscriptionId"] == SID
    assert first.body["triggerReason"] == "newlyMatching"
    assert first.body["notifiedAt"].endswith("Z") and first.body["id"].startswith("urn:")
    [data] = first.body["data"]
    assert data["id"] == BUILDING_REG
    # only the RegistrationInfo relevant for the subscription, names compacted
    assert data["information"] == [{"entities": [{"type": "Building"}]}]
    assert "ngsi-ld-core-context" in first.headers["Link"]

    created(hub.patch(f"{REGS}/{BUILDING_REG}", json={"endpoint": "http://new.example.org"}))
    second = receiver.wait_for(2)[1].body
    assert second["triggerReason"] == "updated"
    assert second["data"][0]["endpoint"] == "http://new.example.org"

    change = {"information": [{"entities": [{"type": "Tram"}]}]}
    created(hub.patch(f"{REGS}/{BUILDING_REG}", json=change))
    third = receiver.wait_for(3)[2].body
    assert third["triggerReason"] == "noLongerMatching"
    assert third["data"][0]["id"] == BUILDING_REG

    created(
        hub.patch(
            f"{REGS}/{BUILDING_REG}", json={"information": [{"entities": [{"type": "Building"}]}]}
        )
    )
    assert receiver.wait_for(4)[3].body["triggerReason"] == "newlyMatching"
    assert hub.delete(f"{REGS}/{BUILDING_REG}").status_code == 204
    fifth = receiver.wait_for(5)[4].body
    assert fifth["triggerReason"] == "noLongerMatching" and fifth["data"][0]["id"] == BUILDING_REG
    assert len(receiver.quiet(0.3)) == 5  # the Bus registration never notified

    params = status_after(hub, "lastSuccess")
    assert params["timesSent"] == 5 and params["status"] == "ok"
    assert params["lastNotification"] and params["lastSuccess"]


def test_initial_notification_and_update_of_the_subscription(
    hub: TestClient, receiver: HttpReceiver
) -> None:
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    created(hub.post(REGS, json=registration(BUS_REG, "Bus")))
    created(hub.post(SUBS, json=subscription(receiver, "Building")))
    first = receiver.wait_for(1)[0].body
    assert first["triggerReason"] == "newlyMatching"
    assert [d["id"] for d in first["data"]] == [BUILDING_REG]
    # an update sends everything that matches now
    created(hub.patch(f"{SUBS}/{SID}", json={"entities": [{"type": "Bus"}, {"type": "Building"}]}))
    second = receiver.wait_for(2)[1].body
    assert second["triggerReason"] == "newlyMatching"
    assert [d["id"] for d in second["data"]] == [BUILDING_REG, BUS_REG]
    # status members survive a new notification member
    status_after(hub, "lastSuccess")
    endpoint = {"uri": receiver.url, "accept": "application/json"}
    created(hub.patch(f"{SUBS}/{SID}", json={"notification": {"endpoint": endpoint}}))
    receiver.wait_for(3)
    params = status_after(hub, "lastSuccess")
    assert params["timesSent"] >= 2


def test_nothing_matching_sends_nothing(hub: TestClient, receiver: HttpReceiver) -> None:
    created(hub.post(REGS, json=registration(BUS_REG, "Bus")))
    created(hub.post(SUBS, json=subscription(receiver, "Building")))
    created(hub.patch(f"{REGS}/{BUS_REG}", json={"endpoint": "http://other.example.org"}))
    assert hub.delete(f"{REGS}/{BUS_REG}").status_code == 204
    assert receiver.quiet(0.5) == []


def test_paused_subscription_is_silent(hub: TestClient, receiver: HttpReceiver) -> None:
    created(hub.post(SUBS, json=subscription(receiver, "Building", isActive=False)))
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    assert receiver.quiet(0.5) == []
    created(hub.patch(f"{SUBS}/{SID}", json={"isActive": True}))  # now it sends what matches
    assert receiver.wait_for(1)[0].body["triggerReason"] == "newlyMatching"


def test_watched_attributes_geo_and_temporal_filters(
    hub: TestClient, receiver: HttpReceiver
) -> None:
    body = subscription(
        receiver,
        "Building",
        watchedAttributes=["name"],
        geoQ={
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": [-8.52, 41.2],
        },
        temporalQ={"timerel": "after", "timeAt": "2020-06-01T22:07:00Z"},
    )
    created(hub.post(SUBS, json=body))
    interval = {"startAt": "2020-08-01T22:07:00Z", "endAt": "2021-08-01T21:07:00Z"}
    here = {"type": "Point", "coordinates": [-8.521, 41.2]}
    far = {"type": "Point", "coordinates": [2.35, 48.85]}
    names = [{"entities": [{"type": "Building"}], "propertyNames": ["name", "height"]}]
    other = [{"entities": [{"type": "Building"}], "propertyNames": ["height"]}]
    cases = {
        "urn:ngsi-ld:ContextSourceRegistration:ok": (names, here, interval),
        "urn:ngsi-ld:ContextSourceRegistration:far": (names, far, interval),
        "urn:ngsi-ld:ContextSourceRegistration:attr": (other, here, interval),
        "urn:ngsi-ld:ContextSourceRegistration:old": (
            names,
            here,
            {"startAt": "2019-01-01T00:00:00Z", "endAt": "2019-02-01T00:00:00Z"},
        ),
    }
    for rid, (information, location, observed) in cases.items():
        reg = {
            **registration(rid),
            "information": information,
            "location": location,
            "observationInterval": observed,
        }
        created(hub.post(REGS, json=reg))
    received = receiver.wait_for(1)
    assert len(receiver.quiet(0.5)) == 1
    assert received[0].body["data"][0]["id"] == "urn:ngsi-ld:ContextSourceRegistration:ok"


def test_q_on_csource_properties_with_the_subscriptions_context(
    hub: TestClient, receiver: HttpReceiver
) -> None:
    context = {"brand": "https://example.org/ns#brand"}
    body = {**subscription(receiver, "Building", q="brand==%22acme%22"), "@context": [context]}
    created(hub.post(SUBS, json=body, headers={"Content-Type": "application/ld+json"}))
    for rid, brand in (("urn:ngsi-ld:ContextSourceRegistration:a", "acme"), (BUS_REG, "other")):
        reg = {**registration(rid, "Building"), "brand": brand, "@context": [context]}
        created(hub.post(REGS, json=reg, headers={"Content-Type": "application/ld+json"}))
    [only] = receiver.wait_for(1)
    assert len(receiver.quiet(0.5)) == 1
    assert only.body["data"][0]["id"] == "urn:ngsi-ld:ContextSourceRegistration:a"
    assert only.body["data"][0]["brand"] == "acme"  # compacted with the subscription's context


def test_unreachable_endpoint_records_the_failure(hub: TestClient, receiver: HttpReceiver) -> None:
    receiver.up = False
    created(hub.post(SUBS, json=subscription(receiver, "Building")))
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    params = status_after(hub, "lastFailure")
    assert params["status"] == "failed" and params["timesSent"] >= 1
    assert params["timesFailed"] >= 1 and params["lastNotification"]


def test_periodic_subscription(hub: TestClient, receiver: HttpReceiver) -> None:
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    created(hub.post(SUBS, json=subscription(receiver, "Building", timeInterval=1)))
    first, second = receiver.wait_for(2, timeout=15)[:2]
    assert first.body["triggerReason"] == "newlyMatching"
    assert second.body["triggerReason"] == "updated"
    assert [d["id"] for d in second.body["data"]] == [BUILDING_REG]
    # a periodic subscription is not driven by changes
    assert hub.delete(f"{SUBS}/{SID}").status_code == 204
    count = len(receiver.quiet(0.2))
    created(hub.patch(f"{REGS}/{BUILDING_REG}", json={"endpoint": "http://new.example.org"}))
    assert len(receiver.quiet(1.5)) == count


def test_a_periodic_round_is_sent_when_nothing_matches(
    hub: TestClient, receiver: HttpReceiver
) -> None:
    """Clause 5.11.2.4: with timeInterval, a CsourceNotification "with all matching Context
    Source Registrations shall be sent periodically, initially on subscription and when the
    time interval ... is reached, independent of any changes to the set": an empty set too
    (ETSI 047_01). Without it a periodic subscriber, who gets no noLongerMatching, would keep
    the last registration it was sent after it was deleted."""
    created(hub.post(SUBS, json=subscription(receiver, "Building", timeInterval=1)))
    first = receiver.wait_for(1, timeout=15)[0]
    assert first.body["type"] == "ContextSourceNotification"
    assert first.body["triggerReason"] == "newlyMatching" and first.body["data"] == []
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    assert hub.delete(f"{REGS}/{BUILDING_REG}").status_code == 204
    # a round queued before the delete may still arrive with it; one of the next three cannot
    start = len(receiver.received)
    later = [receiver.wait_for(n + 1, timeout=15)[n].body for n in range(start, start + 3)]
    assert {"triggerReason": "updated", "data": []}.items() <= later[-1].items()
    assert status_after(hub, "lastSuccess")["status"] == "ok"


def test_scope_q_selects_the_registrations_notified(
    hub: TestClient, receiver: HttpReceiver
) -> None:
    """Clause 5.11.2.4: "If present, the Scope query (as mandated by clause 4.19) is matched
    against the scope property" of the registration (it was ignored before)."""
    created(hub.post(SUBS, json=subscription(receiver, "Building", scopeQ="/Seongnam/#")))
    created(hub.post(REGS, json=registration(BUS_REG, "Building", scope="/Seoul/Jongno")))
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building", scope="/Seongnam/Jeongja")))
    (only,) = receiver.wait_for(1)
    assert [d["id"] for d in only.body["data"]] == [BUILDING_REG]
    created(hub.patch(f"{REGS}/{BUILDING_REG}", json={"scope": "/Seoul"}))
    moved = receiver.wait_for(2)[1].body
    assert moved["triggerReason"] == "noLongerMatching"
    assert len(receiver.quiet(0.5)) == 2  # the Seoul registration never matched


def test_throttling(hub: TestClient, receiver: HttpReceiver) -> None:
    created(hub.post(SUBS, json=subscription(receiver, "Building", throttling=60)))
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    receiver.wait_for(1)
    created(hub.patch(f"{REGS}/{BUILDING_REG}", json={"endpoint": "http://new.example.org"}))
    assert len(receiver.quiet(0.5)) == 1


def test_queued_notifications_survive_a_restart(
    tmp_path: Path, store_url: str, receiver: HttpReceiver
) -> None:
    receiver.up = False  # the first process never manages to deliver
    with make_client(tmp_path, store_url) as first:
        created(first.post(SUBS, json=subscription(receiver, "Building")))
        created(first.post(REGS, json=registration(BUILDING_REG, "Building")))
        deadline = time.monotonic() + 10
        while not receiver.refused and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.refused >= 1
    receiver.up = True
    with make_client(tmp_path, store_url):  # the outbox row is still there: delivered now
        [note] = receiver.wait_for(1, timeout=15)
    assert note.body["type"] == "ContextSourceNotification"
    assert note.body["data"][0]["id"] == BUILDING_REG


def test_a_read_right_after_the_answer_sees_its_outcome(
    hub: TestClient, receiver: HttpReceiver
) -> None:
    """ETSI 047_05: the receiver reads the subscription the moment it has answered; the read
    waits for the dispatcher to record that answer (clause 5.11.7: status ok, lastSuccess)."""
    created(hub.post(SUBS, json=subscription(receiver, "Building")))
    created(hub.post(REGS, json=registration(BUILDING_REG, "Building")))
    receiver.wait_for(1)
    params = hub.get(f"{SUBS}/{SID}").json()["notification"]
    assert params["status"] == "ok" and params["timesSent"] == 1 and params["lastSuccess"]
