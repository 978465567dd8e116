"""Subscription validation, expansion, merge and rendering (ETSI GS CIM 009 v1.8.1, clauses
5.2.12, 5.2.14, 5.2.15, 5.2.33, 5.8.1, 5.8.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.subscription import (
    expand_fragment,
    expand_merge_patch,
    expand_subscription,
    merge_subscription,
    render_subscription,
    subscription_status,
)

EX = "https://example.org/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
TERMS = build_term_map(
    {"Building": EX + "Building", "Tower": EX + "Tower", "name": EX + "name"}, {}
)
CORE = build_term_map(None, {})
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def sub(**members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:1",
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}},
    }
    body.update(members)
    return {k: v for k, v in body.items() if v is not None}


# 5.8.1: term to URI expansion of types and attribute names
def test_expansion_of_names() -> None:
    doc = expand_subscription(
        sub(
            watchedAttributes=["name", "speed"],
            notification={
                "attributes": ["name"],
                "endpoint": {"uri": "https://h/n", "accept": "application/ld+json"},
            },
            geoQ={"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": [1, 2]},
        ),
        TERMS,
        now=NOW,
    )
    assert doc["entities"] == [{"type": EX + "Building"}]
    assert doc["watchedAttributes"] == [EX + "name", DEFAULT + "speed"]
    assert doc["notification"]["attributes"] == [EX + "name"]
    assert "geoproperty" not in doc["geoQ"]


# 5.2.12: notificationTrigger defaults to attributeCreated, attributeUpdated
def test_default_trigger() -> None:
    doc = expand_subscription(sub(), TERMS, now=NOW)
    assert doc["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]


# 4.17 type queries in an EntitySelector (5.2.33)
def test_type_query_selector_round_trip() -> None:
    doc = expand_subscription(sub(entities=[{"type": "(Building|Tower);x"}]), TERMS, now=NOW)
    assert doc["entities"][0]["type"] == f"({EX}Building|{EX}Tower);{DEFAULT}x"
    shown = render_subscription(doc, TERMS, NOW)
    assert shown["entities"][0]["type"] == "(Building|Tower);x"


# 5.8.3: rendered with the reader's @context; without one the IRIs show
def test_render_compacts_with_the_readers_context() -> None:
    doc = expand_subscription(sub(watchedAttributes=["name"]), TERMS, now=NOW)
    assert render_subscription(doc, TERMS, NOW)["watchedAttributes"] == ["name"]
    shown = render_subscription(doc, CORE, NOW)
    assert shown["watchedAttributes"] == [EX + "name"]
    assert shown["entities"] == [{"type": EX + "Building"}]
    assert shown["status"] == "active"
    assert list(shown)[:2] == ["id", "type"]


@pytest.mark.parametrize(
    "members",
    [
        {"type": "Thing"},  # 5.2.12 type is "Subscription"
        {"id": "not-a-uri"},
        {"id": ""},
        {"entities": None},  # neither entities nor watchedAttributes
        {"entities": []},
        {"entities": [{"id": "urn:x:1"}]},  # 5.2.33: type is mandatory
        {"entities": [{"type": "Building", "idPattern": "("}]},
        {"entities": [{"type": "Building", "colour": "red"}]},
        {"watchedAttributes": ["name"], "timeInterval": 5},  # 5.2.12 restriction
        {"timeInterval": 10, "throttling": 30},  # ETSI 028_05_01
        {"throttling": -30},  # ETSI 028_05_02
        {"timeInterval": 0},
        {"isActive": "yes"},
        {"expiresAt": "2020-08-01T22:07:00Z"},  # in the past
        {"expiresAt": "tomorrow"},
        {"q": "name=="},
        {"scopeQ": "nope"},
        {"geoQ": {"georel": "near"}},
        {"notificationTrigger": ["entityExploded"]},
        {"notification": None},
        {"notification": {"format": "keyValues"}},  # 5.2.14: endpoint is mandatory
        {"notification": {"endpoint": {"accept": "application/json"}}},
        {"notification": {"endpoint": {"uri": "ftp://h/n"}}},
        {"notification": {"endpoint": {"uri": "http://h/n", "accept": "text/xml"}}},
        {"notification": {"endpoint": {"uri": "http://h", "receiverInfo": [{"key": 1}]}}},
        {"notification": {"endpoint": {"uri": "http://h"}, "format": "fancy"}},
        # 4.21: pick/omit (ETSI 028_08)
        {"notification": {"endpoint": {"uri": "http://h"}, "pick": ["id"], "omit": ["id"]}},
        {"notification": {"endpoint": {"uri": "http://h"}, "pick": ["id"], "attributes": ["x"]}},
        {"notification": {"endpoint": {"uri": "http://h"}, "omit": ["x"], "attributes": ["x"]}},
        {"jsonldContext": "unknownContext"},  # ETSI 028_07_01
        {"colour": "red"},  # not a member
    ],
)
def test_invalid_subscriptions(members: dict[str, Any]) -> None:
    body = sub()
    body.update(members)
    body = {k: v for k, v in body.items() if v is not None or k == "notification"}
    with pytest.raises(BadRequestData):
        expand_subscription(body, TERMS, now=NOW)


def test_read_only_members_are_ignored() -> None:
    doc = expand_subscription(
        sub(
            status="expired",
            notification={"endpoint": {"uri": "http://h/n"}, "timesSent": 9, "status": "ok"},
        ),
        TERMS,
        now=NOW,
    )
    assert "status" not in doc
    assert doc["notification"] == {"endpoint": {"uri": "http://h/n"}}


# 5.2.12 status: expired > paused > active
def test_status_derivation() -> None:
    assert subscription_status({}, NOW) == "active"
    assert subscription_status({"isActive": False}, NOW) == "paused"
    assert subscription_status({"isActive": True, "expiresAt": "2025-01-01T00:00:00Z"}, NOW) == (
        "expired"
    )
    assert subscription_status({"isActive": False, "expiresAt": "2027-01-01T00:00:00Z"}, NOW) == (
        "paused"
    )


# 5.8.2: members replaced, null removes, mandatory members stay
def test_merge_replaces_members_and_keeps_status_members() -> None:
    current = expand_subscription(sub(q="name==1"), TERMS, now=NOW)
    current["notification"]["timesSent"] = 3
    fragment = expand_fragment(
        {"q": None, "notification": {"endpoint": {"uri": "http://other/n"}}}, TERMS, now=NOW
    )
    merged = merge_subscription(current, fragment)
    assert "q" not in merged
    assert merged["notification"] == {"endpoint": {"uri": "http://other/n"}, "timesSent": 3}


@pytest.mark.parametrize(
    "fragment",
    [
        {"notification": {"format": "keyValues"}},  # ETSI 029_03: a whole NotificationParams
        {"notification": {"format": "keyValues", "endpoint": None}},  # ETSI 029_04
        {"notification": None},
        {"type": None},
        {"expiresAt": "2020-08-01T22:07:00Z"},  # ETSI 029_11
        {},
    ],
)
def test_invalid_fragments(fragment: dict[str, Any]) -> None:
    current = expand_subscription(sub(), TERMS, now=NOW)
    with pytest.raises(BadRequestData):
        merge_subscription(current, expand_fragment(fragment, TERMS, now=NOW))


def test_merge_checks_the_result() -> None:
    current = expand_subscription(sub(timeInterval=5), TERMS, now=NOW)
    with pytest.raises(BadRequestData):  # watchedAttributes with timeInterval
        merge_subscription(current, expand_fragment({"watchedAttributes": ["a"]}, TERMS, now=NOW))
    with pytest.raises(BadRequestData):  # nothing left to select entities with
        merge_subscription(current, expand_fragment({"entities": None}, TERMS, now=NOW))


# RFC 7396 merge-patch: notification merged member by member
def test_merge_patch_merges_notification() -> None:
    current = expand_subscription(
        sub(notification={"format": "keyValues", "endpoint": {"uri": "http://h/n"}}),
        TERMS,
        now=NOW,
    )
    patch = expand_merge_patch(
        {"notification": {"format": None, "endpoint": {"accept": "application/ld+json"}}},
        TERMS,
        now=NOW,
    )
    merged = merge_subscription(current, patch, deep=True)
    assert merged["notification"] == {
        "endpoint": {"uri": "http://h/n", "accept": "application/ld+json"}
    }
    with pytest.raises(BadRequestData):  # the endpoint uri cannot be removed
        expand_merge_patch({"notification": {"endpoint": {"uri": None}}}, TERMS, now=NOW)
    patch = expand_merge_patch({"notification": {"endpoint": None}}, TERMS, now=NOW)
    with pytest.raises(BadRequestData):
        merge_subscription(current, patch, deep=True)


_KEYS = [
    "type", "entities", "watchedAttributes", "notification", "endpoint", "uri", "accept", "q",
    "geoQ", "georel", "geometry", "coordinates", "timeInterval", "throttling", "expiresAt",
    "pick", "omit", "attributes", "format", "isActive", "receiverInfo", "key", "value",
    "temporalQ", "timerel", "timeAt", "id", "scopeQ", "notificationTrigger", "datasetId",
    "joinLevel", "jsonldContext", "lang",
]  # fmt: skip
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


# no body is an internal error: valid, or BadRequestData (5.8.1, 5.8.2)
@settings(max_examples=400, deadline=None)
@given(members=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=4), raw=_json)
def test_any_body_is_valid_or_bad_request_data(members: dict[str, Any], raw: Any) -> None:
    current = expand_subscription(sub(), TERMS, now=NOW)
    for body in (sub(**members), raw, {**members, "notification": raw}):
        for fn in (expand_subscription, expand_fragment, expand_merge_patch):
            try:
                out = fn(body, TERMS, now=NOW)
                if fn is not expand_subscription:
                    merged = merge_subscription(current, out, deep=fn is expand_merge_patch)
                    render_subscription(merged, TERMS, NOW)
                else:
                    render_subscription(out, TERMS, NOW)
            except BadRequestData:
                pass


# clause 5.2.12 timeInterval: a number > 0 (seconds); cityhub's floor is one second (issue 22:
# 1e-9 made one subscription flood its endpoint and keep a core busy)
@pytest.mark.parametrize("interval", [1e-9, 0.5, 0.999])
def test_time_interval_below_one_second_is_refused(interval: float) -> None:
    with pytest.raises(BadRequestData, match="timeInterval must be at least 1 second"):
        expand_subscription(sub(timeInterval=interval), TERMS, now=NOW)


def test_time_interval_of_one_second_is_accepted() -> None:
    assert expand_subscription(sub(timeInterval=1), TERMS, now=NOW)["timeInterval"] == 1
