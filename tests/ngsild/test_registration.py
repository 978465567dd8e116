"""Registrations as data: ETSI GS CIM 009 v1.8.1 clauses 5.2.8-5.2.10, 5.9.2-5.9.3."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild import registration as reg
from cityhub.ngsild.context import build_term_map

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EX = "https://example.org/ns#"
TERMS = build_term_map([{"ex": EX, "Building": EX + "Building", "name": EX + "name"}], {})
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def body(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "urn:ngsi-ld:ContextSourceRegistration:1",
        "type": "ContextSourceRegistration",
        "information": [
            {
                "entities": [{"id": "urn:ngsi-ld:Building:1", "type": "Building"}],
                "propertyNames": ["name"],
                "relationshipNames": ["owner"],
            }
        ],
        "endpoint": "http://cs.example.org:1026",
    }
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


def expand(**extra: Any) -> dict[str, Any]:
    return reg.expand_registration(body(**extra), TERMS, NOW)


# 5.2.9 / 5.9.2: names are expanded on the way in, compacted on the way out
def test_registration_round_trip() -> None:
    doc = expand(myProp="v", status="ok")
    info = doc["information"][0]
    assert info["entities"][0]["type"] == EX + "Building"
    assert info["propertyNames"] == [EX + "name"]
    assert info["relationshipNames"] == [DEFAULT + "owner"]
    assert doc["properties"] == {DEFAULT + "myProp": "v"}
    assert "status" not in doc  # status members are the broker's (5.2.9)
    out = reg.compact_registration(doc, TERMS)
    assert out == {**body(), "myProp": "v", "mode": "inclusive", "operations": ["federationOps"]}


# 5.9.2: the broker assigns an id when there is none
def test_id_is_generated() -> None:
    doc = reg.expand_registration({k: v for k, v in body().items() if k != "id"}, TERMS, NOW)
    assert doc["id"].startswith("urn:ngsi-ld:ContextSourceRegistration:")


# 5.2.9 / 5.2.10 / 5.2.8: BadRequestData for content that breaks the data type
@pytest.mark.parametrize(
    "extra",
    [
        {"endpoint": None},
        {"endpoint": "not a uri"},
        {"information": None},
        {"information": []},
        {"information": [{}]},
        {"information": [{"entities": []}]},
        {"information": [{"entities": [{"id": "urn:x:1"}]}]},  # EntityInfo without type
        {"information": [{"entities": [{"type": "T", "idPattern": "("}]}]},
        {"information": [{"propertyNames": ["bad name"]}]},
        {"information": [{"colour": ["red"]}]},
        {"type": "Building"},
        {"id": "not-a-uri"},
        {"expiresAt": " 2035-01-01T00:00:00Z"},
        {"expiresAt": "2020-01-01T00:00:00Z"},  # in the past
        {"mode": "sometimes"},
        {"operations": ["fly"]},
        {"operations": []},
        {"observationInterval": {"endAt": "2020-01-01T00:00:00Z"}},
        {
            "managementInterval": {
                "startAt": "2021-01-01T00:00:00Z",
                "endAt": "2020-01-01T00:00:00Z",
            }
        },
        {"location": {"type": "Point"}},
        {"contextSourceInfo": [{"key": "k"}]},
        {"management": {"timeout": -1}},
        {"management": {"cooldown": 0}},
        {"management": {"cacheDuration": "bogus"}},
        {"management": {"cacheDuration": 300}},  # a duration is a string (clause 5.2.34)
        {"management": {"localOnly": "yes"}},
        {"management": "yes"},
        {"refreshRate": "soon"},
        {"myProp": None},
    ],
)
def test_invalid_registrations(extra: dict[str, Any]) -> None:
    b = body()
    b.update(extra)
    if extra.get("endpoint", 1) is None:
        del b["endpoint"]
    with pytest.raises(BadRequestData):
        reg.expand_registration(b, TERMS, NOW)


# 5.2.34 RegistrationManagementInfo: cacheDuration a duration (string), timeout and cooldown
# milliseconds > 0, localOnly a boolean (the fork's TP 5234_01_01 registers this one)
def test_management_members() -> None:
    management = {"cacheDuration": "PT5M", "cooldown": 500, "timeout": 3000, "localOnly": True}
    assert expand(management=management)["management"] == management


def test_type_is_mandatory() -> None:
    b = body()
    del b["type"]
    with pytest.raises(BadRequestData):
        reg.expand_registration(b, TERMS, NOW)


# 5.9.3: a fragment replaces members; null removes optional ones, never mandatory ones
def test_fragment_merge() -> None:
    doc = expand(expiresAt="2035-01-01T00:00:00Z", myProp=1)
    frag = reg.expand_registration_fragment(
        {"expiresAt": None, "endpoint": "http://new.org", "myProp": None}, TERMS, doc["id"], NOW
    )
    merged = reg.merge_registration(doc, frag, "2026-01-01T00:00:00.000000Z")
    assert "expiresAt" not in merged and "properties" not in merged
    assert merged["endpoint"] == "http://new.org"
    assert merged["modifiedAt"] == "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "fragment",
    [
        {"information": None},
        {"endpoint": None},
        {"type": "Building"},
        {"id": "urn:ngsi-ld:ContextSourceRegistration:other"},
        {},
    ],
)
def test_bad_fragments(fragment: dict[str, Any]) -> None:
    doc = expand()
    with pytest.raises(BadRequestData):
        frag = reg.expand_registration_fragment(fragment, TERMS, doc["id"], NOW)
        reg.merge_registration(doc, frag, "2026-01-01T00:00:00Z")
