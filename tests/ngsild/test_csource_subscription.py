"""Registration subscriptions: ETSI GS CIM 009 v1.8.1 clauses 5.2.12, 5.11.2-5.11.6."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild import csource_subscription as csub
from cityhub.ngsild.subscription import subscription_status
from tests.ngsild.test_registration import EX, NOW, TERMS


# 5.2.12 (registration flavour) / 5.11.2
def subscription(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "urn:ngsi-ld:Subscription:1",
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "attributes": ["name"],
            "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"},
        },
    }
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


def test_subscription_round_trip_and_status() -> None:
    doc = csub.expand_csource_subscription(subscription(watchedAttributes=["name"]), TERMS, NOW)
    assert doc["entities"][0]["type"] == EX + "Building"
    assert doc["notification"]["attributes"] == [EX + "name"]
    out = csub.compact_csource_subscription(doc, TERMS, NOW)
    assert out == {**subscription(watchedAttributes=["name"]), "status": "active"}
    paused = {**doc, "isActive": False}
    assert csub.compact_csource_subscription(paused, TERMS, NOW)["status"] == "paused"
    expiring = {**doc, "expiresAt": "2026-06-01T00:00:00Z"}
    assert subscription_status(expiring, NOW) == "active"
    assert subscription_status(expiring, datetime(2027, 1, 1, tzinfo=UTC)) == "expired"


@pytest.mark.parametrize(
    "extra",
    [
        {"notification": None},
        {"type": "RandomType"},
        {"watchedAttributes": []},
        {"expiresAt": "2018-08-01T22:07:00Z"},
        {"q": "(broken"},
        {"geoQ": {"georel": "within"}},
        {"temporalQ": {"timerel": "before"}},
        {"timeInterval": 10, "watchedAttributes": ["name"]},
        {"entities": None},
        {"notification": {"format": "keyValues"}},
        {"notification": {"endpoint": {"uri": "nope"}}},
        {"isActive": "yes"},
        {"colour": "red"},
    ],
)
def test_invalid_subscriptions(extra: dict[str, Any]) -> None:
    b = subscription()
    b.update(extra)
    if "notification" in extra and extra["notification"] is None:
        del b["notification"]
    if "entities" in extra:
        del b["entities"]
    with pytest.raises(BadRequestData):
        csub.expand_csource_subscription(b, TERMS, NOW)


# 5.11.3: fragments replace members; type cannot be removed, notification must stay valid
def test_subscription_fragments() -> None:
    doc = csub.expand_csource_subscription(subscription(isActive=True), TERMS, NOW)
    frag = csub.expand_csource_subscription_fragment({"isActive": None}, TERMS, doc["id"], NOW)
    assert "isActive" not in csub.merge_csource_subscription(doc, frag, "t")
    for bad in (
        {"type": None},
        {"notification": {"format": "keyValues"}},
        {"notification": None},
    ):
        with pytest.raises(BadRequestData):
            csub.expand_csource_subscription_fragment(bad, TERMS, doc["id"], NOW)
