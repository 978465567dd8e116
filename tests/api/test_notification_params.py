"""One Endpoint and NotificationParams for entity and registration subscriptions (ETSI GS CIM
009 v1.8.1 clauses 5.2.14, 5.2.15, 5.2.22; operations 5.8.1 and 5.11.2), on both backends.
Before issue 15 the two kinds of subscription checked them with two copies that disagreed."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
SUBS = "/ngsi-ld/v1/subscriptions"
CSUBS = "/ngsi-ld/v1/csourceSubscriptions"
REGS = "/ngsi-ld/v1/csourceRegistrations"
URI = "http://localhost:1111/notify"


def body(**notification: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": URI}, **notification},
    }


def bad_request(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == ERR + "BadRequestData" and problem["title"]
    assert all(w in problem["detail"] for w in words), problem["detail"]


# 5.2.15: timeout and cooldown (milliseconds) are Endpoint members; entity subscriptions
# answered 400 to them while registration subscriptions took them
@pytest.mark.parametrize("path", [SUBS, CSUBS])
def test_timeout_and_cooldown_are_kept(client: TestClient, path: str) -> None:
    endpoint = {"uri": URI, "timeout": 1500, "cooldown": 60000}
    r = client.post(path, json=body(endpoint=endpoint))
    assert r.status_code == 201, r.text
    shown = client.get(r.headers["Location"]).json()
    assert shown["notification"]["endpoint"] == endpoint
    bad_request(client.post(path, json=body(endpoint={"uri": URI, "cooldown": 0})), "cooldown")


# 5.2.15: a registration subscription's endpoint must be one the hub can notify (http(s),
# mqtt(s)); before, any URI was stored and every notification then failed
@pytest.mark.parametrize("path", [SUBS, CSUBS])
def test_endpoint_uri_needs_a_binding(client: TestClient, path: str) -> None:
    r = client.post(path, json=body(endpoint={"uri": "urn:ngsi-ld:Endpoint:1"}))
    bad_request(r, "notification.endpoint.uri", "http(s)://")


# 5.2.22: receiverInfo is an array of KeyValuePair, which may be empty and whose values may be
# empty strings (entity subscriptions refused the first, registration ones the second)
@pytest.mark.parametrize("path", [SUBS, CSUBS])
def test_receiver_info(client: TestClient, path: str) -> None:
    for info in ([], [{"key": "x-tag", "value": ""}]):
        r = client.post(path, json=body(endpoint={"uri": URI, "receiverInfo": info}))
        assert r.status_code == 201, r.text
    bad_request(
        client.post(path, json=body(endpoint={"uri": URI, "receiverInfo": [{"key": ""}]})),
        "receiverInfo",
    )


# 5.3.2: registration subscriptions are notified of registrations; pick/omit/join shape
# entities and are refused there with a detail that says so (5.2.14)
def test_entity_shaping_members_refused_for_registration_subscriptions(
    client: TestClient,
) -> None:
    assert client.post(SUBS, json=body(pick=["name"])).status_code == 201
    bad_request(client.post(CSUBS, json=body(pick=["name"])), "pick", "registration")


# 5.2.22: a registration's contextSourceInfo is KeyValuePair too, checked by the same rules
def test_context_source_info(client: TestClient) -> None:
    registration = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Building"}]}],
        "endpoint": "http://cs.example.org:1026",
        "contextSourceInfo": [{"key": "x-tag", "value": ""}],
    }
    r = client.post(REGS, json=registration)
    assert r.status_code == 201, r.text
    assert client.get(r.headers["Location"]).json()["contextSourceInfo"] == [
        {"key": "x-tag", "value": ""}
    ]
    bad = {**registration, "contextSourceInfo": [{"key": "", "value": "v"}]}
    bad_request(client.post(REGS, json=bad), "contextSourceInfo")
