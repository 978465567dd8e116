"""The members entity and registration subscriptions share (ETSI GS CIM 009 v1.8.1 clause
5.2.12) are checked once (ngsild/subscription.py), on both backends. Before issue 15 the
registration flavour had its own checks for each."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
SUBS = "/ngsi-ld/v1/subscriptions"
CSUBS = "/ngsi-ld/v1/csourceSubscriptions"
REGS = "/ngsi-ld/v1/csourceRegistrations"
CORE = "https://uri.etsi.org/ngsi-ld/default-context/"


def sub(**members: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}},
        **members,
    }


def bad_request(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == ERR + "BadRequestData" and problem["title"]
    assert all(w in problem["detail"] for w in words), problem["detail"]


# 5.2.12: lang is a language tag and the names are not blank, for both kinds (registration
# subscriptions took any non-empty string)
@pytest.mark.parametrize("path", [SUBS, CSUBS])
def test_shared_member_checks(client: TestClient, path: str) -> None:
    bad_request(client.post(path, json=sub(lang="<en>")), "lang")
    bad_request(client.post(path, json=sub(subscriptionName="   ")), "subscriptionName")
    bad_request(client.post(path, json=sub(timesSent=3)), "timesSent", "5.2.12")
    r = client.post(path, json=sub(lang="ko,en", watchedAttributes=["name", "name"]))
    assert r.status_code == 201, r.text
    shown = client.get(r.headers["Location"]).json()
    assert shown["lang"] == "ko,en" and shown["watchedAttributes"] == ["name"]


# a subscription's q is read percent-decoded by the matchers; the check on the way in reads
# the same text (entity subscriptions checked the raw text: a q the matcher could run was
# refused, and one it read otherwise was accepted)
@pytest.mark.parametrize("path", [SUBS, CSUBS])
def test_q_is_checked_as_the_matcher_reads_it(client: TestClient, path: str) -> None:
    r = client.post(path, json=sub(q="name==%22a%20b%22"))
    assert r.status_code == 201, r.text
    assert client.get(r.headers["Location"]).json()["q"] == "name==%22a%20b%22"
    bad_request(client.post(path, json=sub(q="name%3D%3D")), "q")


# 5.2.10: propertyNames/relationshipNames are checked like watchedAttributes, duplicates dropped
def test_registration_names(client: TestClient) -> None:
    registration = {
        "type": "ContextSourceRegistration",
        "information": [{"propertyNames": ["name", "name"]}],
        "endpoint": "http://cs.example.org:1026",
    }
    r = client.post(REGS, json=registration)
    assert r.status_code == 201, r.text
    assert client.get(r.headers["Location"]).json()["information"] == [{"propertyNames": ["name"]}]
