"""One validator per NGSI-LD concept (issue 15): each is defined in one module of the package,
and entity subscriptions and registration subscriptions both call it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cityhub.ngsild import csource_subscription as csub
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.subscription import new_subscription_id

PKG = Path(__file__).parent.parent.parent / "cityhub"
TERMS = build_term_map(None, {})


def _defining(definition: str) -> list[str]:
    return [str(f.relative_to(PKG)) for f in PKG.rglob("*.py") if definition in f.read_text()]


@pytest.mark.parametrize(
    "definition",
    [
        "def new_subscription_id(",
        "def subscription_status(",  # 5.2.12: active, paused, expired
        "def check_endpoint(",  # 5.2.15
        "def check_notification_params(",  # 5.2.14
        "def check_key_values(",  # 5.2.22
        "class TemporalQuery",  # 4.11, 5.2.21
        "def parse_temporal_query(",
        "def check_temporal_q(",
        "def subscription_q(",  # q/csf read percent-decoded, on the way in and by matchers
        "def check_geo_q(",  # 5.2.13
        "def expand_names(",
        "def check_future(",  # expiresAt
    ],
)
def test_defined_once(definition: str) -> None:
    assert len(_defining(definition)) == 1, _defining(definition)


# 5.8.1 / 5.11.2: the broker assigns "urn:ngsi-ld:Subscription:<uuid>" when the body has no id,
# for entity and registration subscriptions alike
def test_generated_subscription_ids() -> None:
    shape = re.compile(r"urn:ngsi-ld:Subscription:[0-9a-f-]{36}")
    assert shape.fullmatch(new_subscription_id())
    assert new_subscription_id() != new_subscription_id()
    body = {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}},
    }
    doc = csub.expand_csource_subscription(body, TERMS, datetime(2026, 1, 1, tzinfo=UTC))
    assert shape.fullmatch(doc["id"])
