"""NotificationParams (ETSI GS CIM 009 v1.8.1 clause 5.2.14), for entity subscriptions (5.8)
and registration subscriptions (5.11) alike."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.notification_params import (
    check_notification_params,
    compact_notification,
    merge_notification,
)

EX = "https://example.org/"
TERMS = build_term_map({"name": EX + "name"}, {})
ENDPOINT = {"uri": "http://localhost:1111/notify"}


def test_names_expanded_and_compacted() -> None:
    raw = {"attributes": ["name", "name"], "format": "keyValues", "endpoint": ENDPOINT}
    for csource in (False, True):
        checked = check_notification_params(raw, TERMS, csource=csource)
        assert checked["attributes"] == [EX + "name"]
        assert compact_notification(checked, TERMS.compact)["attributes"] == ["name"]


# 5.2.14: the status members are the hub's; a null member is the same as leaving it out
# (registration subscriptions refused a null format or attributes; issue 15)
@pytest.mark.parametrize("csource", [False, True])
def test_status_members_and_nulls_ignored(csource: bool) -> None:
    raw = {"endpoint": ENDPOINT, "timesSent": 3, "status": "ok", "format": None}
    assert check_notification_params(raw, TERMS, csource=csource) == {"endpoint": ENDPOINT}


# 5.3.2: a registration subscription is notified of registrations, not entities: the members
# that shape entities are refused there, not silently ignored
@pytest.mark.parametrize(
    "member", [{"pick": ["name"]}, {"omit": ["name"]}, {"join": "flat"}, {"joinLevel": 2}]
)
def test_entity_shaping_members_only_for_entity_subscriptions(member: dict[str, Any]) -> None:
    raw = {"endpoint": ENDPOINT, **member}
    assert set(check_notification_params(raw, TERMS)) == {"endpoint", *member}
    with pytest.raises(BadRequestData, match="registration subscription's notification"):
        check_notification_params(raw, TERMS, csource=True)


@pytest.mark.parametrize(
    "raw",
    [
        {"format": "keyValues"},  # endpoint is mandatory
        {"endpoint": ENDPOINT, "attributes": []},
        {"endpoint": ENDPOINT, "attributes": ["bad name"]},
        {"endpoint": ENDPOINT, "sysAttrs": "yes"},
        {"endpoint": ENDPOINT, "format": "fancy"},
        {"endpoint": ENDPOINT, "createdAt": "2020-01-01T00:00:00Z"},  # not a member
        {"endpoint": {"uri": "urn:x:1"}},
        [ENDPOINT],
    ],
)
@pytest.mark.parametrize("csource", [False, True])
def test_invalid_notification_params(raw: Any, csource: bool) -> None:
    with pytest.raises(BadRequestData):
        check_notification_params(raw, TERMS, csource=csource)


# 5.8.2 / 5.11.3: a new notification replaces the old, the status members outlive it;
# merge-patch (RFC 7396) merges member by member; endpoint.uri stays mandatory
def test_merge_notification() -> None:
    current = {"format": "keyValues", "endpoint": ENDPOINT, "timesSent": 4}
    new = {"endpoint": {"uri": "http://other/n"}}
    assert merge_notification(current, new) == {**new, "timesSent": 4}
    patch = {"format": None, "endpoint": {"accept": "application/ld+json"}}
    assert merge_notification(current, patch, deep=True) == {
        "endpoint": {**ENDPOINT, "accept": "application/ld+json"},
        "timesSent": 4,
    }
    with pytest.raises(BadRequestData, match="uri is mandatory"):
        merge_notification(current, {"endpoint": None}, deep=True)
