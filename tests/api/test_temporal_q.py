"""One temporal query (ETSI GS CIM 009 v1.8.1 clause 4.11, data type TemporalQuery 5.2.21) for
the temporal API, discovery (5.10.2) and both kinds of subscription (5.2.12), on both backends.
Before issue 15 there were two TemporalQuery classes and three checks that disagreed."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
SUBS = "/ngsi-ld/v1/subscriptions"
CSUBS = "/ngsi-ld/v1/csourceSubscriptions"
REGS = "/ngsi-ld/v1/csourceRegistrations"
T1, T2 = "2020-08-01T12:00:00Z", "2020-08-02T12:00:00Z"


def sub(temporal_q: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "temporalQ": temporal_q,
        "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}},
    }


def bad_request(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == ERR + "BadRequestData" and problem["title"]
    assert all(w in problem["detail"] for w in words), problem["detail"]


# 5.2.21: timeproperty is observedAt, createdAt, modifiedAt or deletedAt, and endTimeAt comes
# after timeAt; entity subscriptions stored any name and any order
@pytest.mark.parametrize("path", [SUBS, CSUBS])
def test_subscription_temporal_q_is_a_temporal_query(client: TestClient, path: str) -> None:
    good = {"timerel": "between", "timeAt": T1, "endTimeAt": T2, "timeproperty": "modifiedAt"}
    r = client.post(path, json=sub(good))
    assert r.status_code == 201, r.text
    assert client.get(r.headers["Location"]).json()["temporalQ"] == good
    bad_request(
        client.post(path, json=sub({"timerel": "before", "timeAt": T1, "timeproperty": "name"})),
        "temporalQ.timeproperty",
    )
    bad_request(
        client.post(path, json=sub({"timerel": "between", "timeAt": T2, "endTimeAt": T1})),
        "temporalQ.endTimeAt",
    )


# 5.10.2: a registration records no deletedAt; an entity subscription may ask for it
def test_deleted_at_only_where_it_applies(client: TestClient) -> None:
    deleted = {"timerel": "before", "timeAt": T1, "timeproperty": "deletedAt"}
    assert client.post(SUBS, json=sub(deleted)).status_code == 201
    bad_request(client.post(CSUBS, json=sub(deleted)), "deletedAt", "registrations")
    r = client.get(REGS, params={"type": "Building", "timerel": "before", "timeAt": T1,
                                 "timeproperty": "deletedAt"})  # fmt: skip
    bad_request(r, "deletedAt")


# discovery checks timeproperty like the temporal API does (it ignored a bad one without
# timerel) and takes a temporal query in any offset
def test_discovery_temporal_parameters(client: TestClient) -> None:
    bad_request(client.get(REGS, params={"type": "Building", "timeproperty": "x"}), "timeproperty")
    bad_request(client.get(REGS, params={"type": "Building", "timeAt": T1}), "timerel")
    registration = {
        "id": "urn:ngsi-ld:ContextSourceRegistration:t",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Building"}]}],
        "endpoint": "http://cs.example.org:1026",
        "observationInterval": {"startAt": "2020-08-01T21:00:00+09:00"},  # 12:00Z
    }
    assert client.post(REGS, json=registration).status_code == 201
    found = client.get(REGS, params={"timerel": "before", "timeAt": "2020-08-01T13:00:01+01:00"})
    assert [r["id"] for r in found.json()] == [registration["id"]]
    found = client.get(REGS, params={"timerel": "before", "timeAt": "2020-08-01T13:00:00+01:00"})
    assert found.json() == []
