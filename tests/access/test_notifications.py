"""A notification never carries what its owner may not read (issue 20 item 3): a subscription
made while access control is on remembers who made it; what triggers it, what a periodic round
selects and what a delivery carries (linked entities too) are narrowed to what that owner may
read at the time, and a revoked owner's subscription stops notifying. Only its owner (or an
administrator) sees, changes or deletes a subscription. The dashboard's live feed is narrowed
per caller in the same way. HTTP receivers on both backends, MQTT against a real Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from starlette.testclient import TestClient

from cityhub.access.control import Access
from cityhub.access.permissions import Identity
from cityhub.dashboard.feed import ChangeFeed, Subscriber
from cityhub.store.base import Change
from tests.access.helpers import DEFAULT, bearer, grant, key_id, make_key, sensor
from tests.notify._receivers import MOSQUITTO, NO_MOSQUITTO, HttpReceiver, Received, mosquitto

ENTITIES = "/ngsi-ld/v1/entities"
SUBS = "/ngsi-ld/v1/subscriptions"
AQ = "urn:ngsi-ld:AirQualityObserved"
PARKING = "urn:ngsi-ld:OnStreetParking"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


def _app_key(client: TestClient, admin: dict[str, str], *grants: dict[str, Any]) -> dict[str, str]:
    key = make_key(client, admin, name="app")
    for doc in grants:
        grant(client, admin, **doc, assignee={"key": key_id(key)})
    return bearer(key)


def _hub(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """An administrator and an app that may read air quality (not parking) and subscribe."""
    admin = bearer(make_key(client, name="ops", admin=True))
    app = _app_key(
        client,
        admin,
        {"action": "read", "target": {"type": "AirQualityObserved"}},
        {"action": "subscribe"},
    )
    return admin, app


def _subscribe(client: TestClient, who: dict[str, str], uri: str, **members: Any) -> str:
    body = {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}, {"type": "OnStreetParking"}],
        "notification": {"endpoint": {"uri": uri}},
        **members,
    }
    response = client.post(SUBS, json=body, headers=who)
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[1]


def _upsert(client: TestClient, admin: dict[str, str], *entities: dict[str, Any]) -> None:
    response = client.post(
        "/ngsi-ld/v1/entityOperations/upsert", json=list(entities), headers=admin
    )
    assert response.status_code in (201, 204), response.text


def _notified(received: list[Received]) -> list[str]:
    return sorted(e["id"] for r in received for e in r.body["data"])


def test_changes_notify_only_what_the_owner_may_read(
    client: TestClient, receiver: HttpReceiver
) -> None:
    admin, app = _hub(client)
    _subscribe(client, app, receiver.url)
    _upsert(client, admin, sensor(f"{PARKING}:1", "OnStreetParking"))
    _upsert(client, admin, sensor(f"{AQ}:1"))
    receiver.wait_for(1)
    _upsert(client, admin, sensor(f"{PARKING}:2", "OnStreetParking"))
    assert client.delete(f"{ENTITIES}/{PARKING}:1", headers=admin).status_code == 204
    assert _notified(receiver.received) == [f"{AQ}:1"]
    # the administrator's own subscription of the same entities hears every change
    _subscribe(client, admin, receiver.url + "/ops")
    _upsert(client, admin, sensor(f"{PARKING}:3", "OnStreetParking"))
    ops = receiver.wait_for(2)[-1]
    assert ops.path == "/notify/ops" and ops.body["data"][0]["id"] == f"{PARKING}:3"
    assert _notified(receiver.quiet(0.3)) == [f"{AQ}:1", f"{PARKING}:3"]


def test_a_revoked_owner_is_notified_no_more(client: TestClient, receiver: HttpReceiver) -> None:
    admin, app = _hub(client)
    _subscribe(client, app, receiver.url)
    _upsert(client, admin, sensor(f"{AQ}:1"))
    receiver.wait_for(1)
    app_id = app["Authorization"].split("_")[1]
    assert client.delete(f"/admin/keys/{app_id}", headers=admin).status_code == 204
    _upsert(client, admin, sensor(f"{AQ}:2"))
    assert _notified(receiver.quiet(0.5)) == [f"{AQ}:1"]


def test_permissions_are_read_at_delivery_time(client: TestClient, receiver: HttpReceiver) -> None:
    """A notification queued while the owner could read the entity, delivered after its
    permission went: not sent (the dispatcher asks again when it delivers)."""
    admin, app = _hub(client)
    sid = _subscribe(client, app, receiver.url)
    dispatcher = client.app.state.notifier  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(dispatcher.stop)  # nothing is delivered for now
    _upsert(client, admin, sensor(f"{AQ}:1"))
    for p in client.get("/admin/permissions", headers=admin).json():
        response = client.delete(f"/admin/permissions/{p['id']}", headers=admin)
        assert response.status_code == 204
    client.portal.call(dispatcher.run_once)
    assert receiver.quiet(0.3) == []
    status = client.get(f"{SUBS}/{sid}", headers=admin).json()["notification"]
    assert "timesSent" not in status  # dropped, not sent and not failed


def test_a_periodic_round_selects_what_the_owner_may_read(
    client: TestClient, receiver: HttpReceiver
) -> None:
    admin, app = _hub(client)
    _upsert(
        client,
        admin,
        sensor(f"{AQ}:1"),
        sensor(f"{AQ}:2"),
        sensor(f"{PARKING}:1", "OnStreetParking"),
    )
    _subscribe(client, app, receiver.url, timeInterval=3600)
    first = receiver.wait_for(1)[0]
    assert sorted(e["id"] for e in first.body["data"]) == [f"{AQ}:1", f"{AQ}:2"]


def test_linked_entities_are_those_the_owner_may_read(
    client: TestClient, receiver: HttpReceiver
) -> None:
    admin, app = _hub(client)
    _upsert(
        client,
        admin,
        sensor(f"{PARKING}:1", "OnStreetParking"),
        sensor(f"{AQ}:9"),
    )
    _subscribe(
        client,
        app,
        receiver.url,
        entities=[{"type": "AirQualityObserved"}],
        notification={"endpoint": {"uri": receiver.url}, "join": "flat", "joinLevel": 1},
    )
    near = {"type": "Relationship", "object": f"{PARKING}:1"}
    linked = {"type": "Relationship", "object": f"{AQ}:9"}
    _upsert(client, admin, sensor(f"{AQ}:1", nearParking=near, nextSensor=linked))
    body = receiver.wait_for(1)[0].body
    assert sorted(e["id"] for e in body["data"]) == [f"{AQ}:1", f"{AQ}:9"]


def test_only_the_owner_sees_a_subscription(client: TestClient, receiver: HttpReceiver) -> None:
    admin, app = _hub(client)
    other = _app_key(client, admin, {"action": "subscribe"})
    mine = _subscribe(client, app, receiver.url)
    theirs = _subscribe(client, other, receiver.url)
    listed = client.get(f"{SUBS}?count=true", headers=app)
    assert [s["id"] for s in listed.json()] == [mine]
    assert listed.headers["NGSILD-Results-Count"] == "1"
    assert client.get(f"{SUBS}/{theirs}", headers=app).status_code == 404
    # another app cannot point someone else's subscription at its own endpoint
    patch = {"notification": {"endpoint": {"uri": "http://127.0.0.1:9/stolen"}}}
    assert client.patch(f"{SUBS}/{theirs}", json=patch, headers=app).status_code == 404
    assert client.delete(f"{SUBS}/{theirs}", headers=app).status_code == 404
    assert client.patch(f"{SUBS}/{mine}", json={"throttling": 5}, headers=app).status_code == 204
    everyone = client.get(f"{SUBS}?count=true", headers=admin)
    assert everyone.headers["NGSILD-Results-Count"] == "2"
    assert "_owner" not in everyone.text  # the owner is the hub's, never shown
    assert client.delete(f"{SUBS}/{theirs}", headers=admin).status_code == 204


@pytest.mark.skipif(MOSQUITTO is None, reason=NO_MOSQUITTO)
def test_mqtt_notifications_are_narrowed_too(client: TestClient, tmp_path: Path) -> None:
    admin, app = _hub(client)
    with mosquitto(tmp_path) as port:
        _subscribe(client, app, f"mqtt://127.0.0.1:{port}/city/app")

        async def receive() -> list[dict[str, Any]]:
            async with aiomqtt.Client("127.0.0.1", port) as mqtt:
                await mqtt.subscribe("city/app", qos=1)
                await asyncio.to_thread(
                    _upsert,
                    client,
                    admin,
                    sensor(f"{PARKING}:1", "OnStreetParking"),
                )
                await asyncio.to_thread(_upsert, client, admin, sensor(f"{AQ}:1"))
                async with asyncio.timeout(10):
                    async for message in mqtt.messages:
                        assert isinstance(message.payload, bytes)
                        return [orjson.loads(message.payload)]
            return []

        messages = asyncio.run(receive())
    assert [e["id"] for e in messages[0]["body"]["data"]] == [f"{AQ}:1"]


# ---- the dashboard's live feed ---------------------------------------------------------


def _change(eid: str, kind: str) -> Change:
    after = {"id": eid, "type": [DEFAULT + kind], "attrs": {}}
    return Change("entityUpdated", "", eid, None, after)


def _reader_of(kind: str) -> Access:
    docs = ({"action": "read", "target": {"type": DEFAULT + kind}, "assignee": {"key": "k1"}},)
    return Access(Identity(key_id="k1"), "", True, False, docs)


def test_the_feed_tells_a_screen_only_what_its_caller_may_read() -> None:
    async def run() -> None:
        feed = ChangeFeed()
        narrowed = feed.subscribe("", _reader_of("AirQualityObserved").reads)
        everything = feed.subscribe("")
        feed.on_commit(
            [_change(f"{AQ}:1", "AirQualityObserved"), _change(f"{PARKING}:1", "OnStreetParking")]
        )
        assert list(narrowed.pending) == [f"{AQ}:1"]
        assert list(everything.pending) == [f"{AQ}:1", f"{PARKING}:1"]

    asyncio.run(run())


def test_the_feed_ends_when_its_caller_is_refused_and_narrows_on_recheck() -> None:
    async def run() -> None:
        feed = ChangeFeed()
        sub = feed.subscribe("")
        allowed = [True]

        async def recheck(s: Subscriber) -> bool:
            s.reads = _reader_of("AirQualityObserved").reads
            return allowed[0]

        stream = feed.stream(sub, keepalive=5, recheck=recheck)
        assert b"hello" in await anext(stream)
        feed.on_commit([_change(f"{AQ}:1", "AirQualityObserved")])
        assert f"{AQ}:1".encode() in await anext(stream)
        feed.on_commit([_change(f"{PARKING}:1", "OnStreetParking")])
        assert f"{PARKING}:1" not in sub.pending  # the recheck narrowed the screen
        allowed[0] = False
        feed.on_commit([_change(f"{AQ}:2", "AirQualityObserved")])
        with pytest.raises(StopAsyncIteration):
            await anext(stream)

    asyncio.run(run())


def test_the_feed_of_a_tenant_needs_read_in_that_tenant(client: TestClient) -> None:
    admin = bearer(make_key(client, name="ops", admin=True))
    assert client.post("/admin/tenants", json={"name": "city1"}, headers=admin).status_code == 201
    assert client.post("/admin/tenants", json={"name": "city2"}, headers=admin).status_code == 201
    key = make_key(client, admin, name="city1-app", tenant="city1")
    grant(client, admin, tenant="city1", action="read", assignee={"key": key_id(key)})
    # the feed's tenant is its parameter (an EventSource sends no headers): a key of city1
    # is refused city2's feed, whatever header it sends
    refused = client.get(
        "/dashboard/feed?tenant=city2", headers={**bearer(key), "NGSILD-Tenant": "city1"}
    )
    assert refused.status_code == 403, refused.text
    assert client.get("/dashboard/feed?tenant=city1").status_code == 401
    assert client.get("/dashboard/feed?tenant=nowhere", headers=admin).status_code == 404
