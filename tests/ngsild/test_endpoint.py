"""Endpoint (ETSI GS CIM 009 v1.8.1 clause 5.2.15) and KeyValuePair (clause 5.2.22)."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild.endpoint import check_endpoint
from cityhub.ngsild.key_value_pair import check_key_values

URI = "http://localhost:1111/notify"


# 5.2.15: timeout and cooldown are Endpoint members (numbers of milliseconds, greater than 0);
# the core @context (v1.8) defines both terms, as clause 5.2.1 asks of every member. Entity
# subscriptions refused them while registration subscriptions took them (issue 15).
def test_timeout_and_cooldown_are_endpoint_members() -> None:
    endpoint = {"uri": URI, "accept": "application/json", "timeout": 500, "cooldown": 2.5}
    assert check_endpoint(endpoint) == endpoint


@pytest.mark.parametrize("value", [0, -1, "10", True, None, [], float("inf"), float("nan")])
@pytest.mark.parametrize("member", ["timeout", "cooldown"])
def test_timeout_and_cooldown_are_positive_numbers(member: str, value: Any) -> None:
    with pytest.raises(BadRequestData, match=f"notification.endpoint.{member}"):
        check_endpoint({"uri": URI, member: value})


@pytest.mark.parametrize(
    "endpoint",
    [
        {},  # uri is mandatory
        {"accept": "application/json"},
        {"uri": "not a uri"},
        {"uri": "urn:ngsi-ld:Thing:1"},  # a URI, but no binding the hub notifies through
        {"uri": "ftp://h/n"},
        {"uri": URI, "accept": "text/xml"},
        {"uri": URI, "colour": "red"},
        {"uri": URI, "receiverInfo": [{"key": 1, "value": "v"}]},
        {"uri": URI, "notifierInfo": "MQTT-Version=mqtt5.0"},
        "http://h/n",
        None,
    ],
)
def test_invalid_endpoints(endpoint: Any) -> None:
    with pytest.raises(BadRequestData):
        check_endpoint(endpoint)


@pytest.mark.parametrize("uri", [URI, "https://h:8443/n", "mqtt://broker/topic", "MQTTS://b/t"])
def test_notification_bindings(uri: str) -> None:
    assert check_endpoint({"uri": uri})["uri"] == uri


# RFC 7396 merge-patch of an endpoint: nulls remove members, uri may be absent but not removed
def test_partial_endpoint() -> None:
    assert check_endpoint({"accept": None, "timeout": 10}, partial=True) == {
        "accept": None,
        "timeout": 10,
    }
    with pytest.raises(BadRequestData, match="uri cannot be null"):
        check_endpoint({"uri": None}, partial=True)
    with pytest.raises(BadRequestData, match="cannot be null"):
        check_endpoint({"uri": URI, "accept": None})


# 5.2.22: an array of {key, value}; the data types give the array no minimum and the value no
# minimum length (registrations refused an empty value, subscriptions an empty array; issue 15)
def test_key_value_pairs() -> None:
    pairs = [{"key": "Authorization", "value": "Bearer x"}, {"key": "x-empty", "value": ""}]
    assert check_key_values(pairs, "receiverInfo") == pairs
    assert check_key_values([], "receiverInfo") == []


@pytest.mark.parametrize(
    "value",
    [
        {"key": "k", "value": "v"},
        [{"key": "", "value": "v"}],
        [{"key": "k"}],
        [{"key": "k", "value": 1}],
        [{"key": "k", "value": "v", "extra": "x"}],
        ["k=v"],
    ],
)
def test_invalid_key_value_pairs(value: Any) -> None:
    with pytest.raises(BadRequestData, match="receiverInfo"):
        check_key_values(value, "receiverInfo")


# 5.2.15: uri is where notifications go, so it must name a host (and a port in 0-65535). Such
# URIs used to be stored and then failed every notification.
@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://", "names no host"),
        ("https://:8080/notify", "names no host"),
        ("mqtt:///topic", "names no host"),
        ("http://h:99999/notify", "not a valid URL"),
    ],
)
def test_uri_must_name_a_host(uri: str, why: str) -> None:
    with pytest.raises(BadRequestData, match=why):
        check_endpoint({"uri": uri})


@pytest.mark.parametrize("uri", ["http://[::1]:80/n", "mqtt://broker/topic", "https://h/n"])
def test_uri_with_a_host_is_accepted(uri: str) -> None:
    assert check_endpoint({"uri": uri})["uri"] == uri
