"""Distributed subscriptions (ETSI GS CIM 009 v1.9.1 clauses 5.8.1.4, 5.8.5.4 and 5.8.6): a
Subscription is forwarded as a reduced copy to the sources of the matching registrations
that take createSubscription, its deletion follows with the mapped id, and the sources'
notifications are relayed to the local subscriber under the local id (merged with this
hub's part of each entity and filtered again with splitEntities). Both backends; the source
is an httpx.MockTransport, the local subscriber a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.federation.support import BASE, VEHICLE, Source, create, prop, register, vehicle
from tests.notify._receivers import HttpReceiver

SUBS = f"{BASE}/subscriptions"
NOTIFY = "/ngsi-ld/ex/remote-notify"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as rx:
        yield rx


def _accepting(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(201, headers={"Location": "/ngsi-ld/v1/subscriptions/x"})
    return httpx.Response(204)


def _subscribe(client: TestClient, rx: HttpReceiver, **members: Any) -> str:
    body = {
        "id": "urn:ngsi-ld:Subscription:local",
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": rx.url}},
        **members,
    }
    r = client.post(SUBS, json=body)
    assert r.status_code == 201, r.text
    return str(body["id"])


def _copies(source: Source) -> list[dict[str, Any]]:
    return [
        json.loads(r.content) for r in source.requests if r.method == "POST" and r.url.path == SUBS
    ]


def test_a_subscription_is_forwarded_as_a_reduced_copy_and_its_deletion_follows(
    client: TestClient, source: Source, receiver: HttpReceiver
) -> None:
    """5.8.1.4: the copy selects what the subscription selects, keeps its q, notifies this
    hub (never the subscriber's endpoint); 5.8.5.4: the delete names the copy's id."""
    register(client)
    source.answer = _accepting
    local = _subscribe(client, receiver, q="speed>50", watchedAttributes=["speed"])
    (copy,) = _copies(source)
    assert copy["id"].startswith("urn:ngsi-ld:Subscription:") and copy["id"] != local
    assert copy["q"] == "speed>50" and copy["watchedAttributes"] == [
        "https://uri.etsi.org/ngsi-ld/default-context/speed"
    ]
    assert copy["notification"]["endpoint"]["uri"].endswith(NOTIFY)
    assert receiver.url not in json.dumps(copy) and "splitEntities" not in copy
    sent = source.requests[-1]
    assert sent.headers["via"].startswith("1.1 cityhub-")
    r = client.delete(f"{SUBS}/{local}")
    assert r.status_code == 204 and "NGSILD-Warning" not in r.headers
    deleted = source.requests[-1]
    assert deleted.method == "DELETE" and deleted.url.path == f"{SUBS}/{copy['id']}"
    assert client.post(NOTIFY, json={"subscriptionId": copy["id"], "data": []}).status_code == 404


def test_what_is_not_forwarded(client: TestClient, source: Source, receiver: HttpReceiver) -> None:
    """localOnly (5.2.12), local=true (6.3.18), a registration that does not take
    createSubscription, one for other entities: no copy is sent."""
    register(client, 1)
    register(client, 2, operations=["retrieveOps"])
    register(client, 3, information=[{"entities": [{"type": "Bus"}]}])
    source.answer = _accepting
    _subscribe(client, receiver, id="urn:ngsi-ld:Subscription:a", localOnly=True)
    r = client.post(
        f"{SUBS}?local=true",
        json={
            "id": "urn:ngsi-ld:Subscription:b",
            "type": "Subscription",
            "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": {"uri": receiver.url}},
        },
    )
    assert r.status_code == 201
    assert _copies(source) == []
    _subscribe(client, receiver, id="urn:ngsi-ld:Subscription:c")
    assert len(_copies(source)) == 1  # registration 1 only
    assert source.requests[-1].url.host == "127.0.0.1"


def test_a_source_that_refuses_the_copy_keeps_nothing(
    client: TestClient, source: Source, receiver: HttpReceiver
) -> None:
    """The copy is sent after the subscriber has its 201 (a source never delays it, and the
    fork's 5814_01 answers the copy only then); one a source refuses is forgotten."""
    register(client)
    source.answer = lambda r: httpx.Response(500, json={"detail": "no"})
    r = client.post(
        SUBS,
        json={
            "type": "Subscription",
            "entities": [{"type": "Vehicle"}],
            "notification": {"endpoint": {"uri": receiver.url}},
        },
    )
    assert r.status_code == 201 and "NGSILD-Warning" not in r.headers
    (copy,) = _copies(source)
    assert client.post(NOTIFY, json={"subscriptionId": copy["id"], "data": []}).status_code == 404
    source.requests.clear()
    assert client.delete(r.headers["Location"]).status_code == 204
    assert source.requests == []  # nothing was made there, nothing to delete


def test_a_sources_notification_reaches_the_subscriber_under_the_local_id(
    client: TestClient, source: Source, receiver: HttpReceiver
) -> None:
    """5.8.6: the notified entity, rendered as the local subscription asks (keyValues)."""
    register(client)
    source.answer = _accepting
    local = _subscribe(
        client, receiver, notification={"endpoint": {"uri": receiver.url}, "format": "keyValues"}
    )
    (copy,) = _copies(source)
    notified = {
        "id": "urn:ngsi-ld:Notification:1",
        "type": "Notification",
        "subscriptionId": copy["id"],
        "notifiedAt": "2026-12-08T00:00:00Z",
        "data": [vehicle("R", speed=prop(77))],
    }
    assert client.post(NOTIFY, json=notified).status_code == 200
    (got,) = receiver.wait_for(1)
    assert got.body["subscriptionId"] == local
    assert got.body["data"] == [{"id": VEHICLE + "R", "type": "Vehicle", "speed": 77}]


def test_split_entities_merges_the_fragment_with_the_local_part_and_filters_again(
    client: TestClient, source: Source, receiver: HttpReceiver
) -> None:
    """The fork's 5814_01_02: the copy carries no q and says splitEntities; the fragment
    (speed) merged with the local part (brandName) passes q and is relayed whole; a fragment
    that fails q once merged is dropped."""
    register(client)
    source.answer = _accepting
    local = _subscribe(client, receiver, q='speed>50;brandName=="Tesla"', splitEntities=True)
    (copy,) = _copies(source)
    assert "q" not in copy and copy["splitEntities"] is True
    create(client, vehicle("Split", brandName=prop("Tesla")))
    receiver.quiet(0.3)  # the local create itself does not match q
    fragment = {"subscriptionId": copy["id"], "data": [vehicle("Split", speed=prop(99))]}
    assert client.post(NOTIFY, json=fragment).status_code == 200
    (got,) = receiver.wait_for(1)
    assert got.body["subscriptionId"] == local
    (entity,) = got.body["data"]
    assert entity["brandName"]["value"] == "Tesla" and entity["speed"]["value"] == 99
    slow = {"subscriptionId": copy["id"], "data": [vehicle("Split", speed=prop(10))]}
    assert client.post(NOTIFY, json=slow).status_code == 200
    assert len(receiver.quiet(0.5)) == 1  # still only the first


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"data": []},
        {"subscriptionId": 5, "data": []},
        {"subscriptionId": "urn:x", "data": "x"},
        {"subscriptionId": "urn:x", "data": [1]},
    ],
)
def test_a_malformed_notification_is_a_400(client: TestClient, body: Any) -> None:
    r = client.post(NOTIFY, json=body)
    assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData")


def test_a_notification_of_an_unknown_copy_is_a_404(client: TestClient) -> None:
    r = client.post(NOTIFY, json={"subscriptionId": "urn:ngsi-ld:Subscription:guess", "data": []})
    assert r.status_code == 404


def test_an_invalid_notified_entity_is_a_400(
    client: TestClient, source: Source, receiver: HttpReceiver
) -> None:
    register(client)
    source.answer = _accepting
    _subscribe(client, receiver)
    (copy,) = _copies(source)
    bad = {"subscriptionId": copy["id"], "data": [{"id": "not a uri", "type": "Vehicle"}]}
    r = client.post(NOTIFY, json=bad)
    assert r.status_code == 400
    assert receiver.quiet(0.3) == []


def test_a_registration_made_later_gets_a_copy_and_takes_it_away_when_deleted(
    client: TestClient, source: Source, receiver: HttpReceiver
) -> None:
    """Registrations come and go after a subscription (what 5.8.1.4's Context Source
    Registration Subscription is for): a new matching registration that takes
    createSubscription gets a copy; a deleted one's copy is deleted at its source."""
    source.answer = _accepting
    local = _subscribe(client, receiver, q="speed>50")
    assert _copies(source) == []
    register(client, 7, information=[{"entities": [{"type": "Bus"}]}])  # another type
    register(client, 8, operations=["retrieveOps"])  # does not take subscriptions
    assert _copies(source) == []
    register(client, 9)
    (copy,) = _copies(source)
    assert copy["q"] == "speed>50" and copy["notification"]["endpoint"]["uri"].endswith(NOTIFY)
    source.requests.clear()
    r = client.delete(f"{BASE}/csourceRegistrations/urn:ngsi-ld:ContextSourceRegistration:src9")
    assert r.status_code == 204
    (deleted,) = source.requests
    assert deleted.method == "DELETE" and deleted.url.path == f"{SUBS}/{copy['id']}"
    source.requests.clear()
    assert client.delete(f"{SUBS}/{local}").status_code == 204
    assert source.requests == []  # nothing left to delete
