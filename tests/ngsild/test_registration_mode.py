"""Registration modes: ETSI GS CIM 009 v1.8.1 clause 4.3.6 (exclusive registrations, 4.3.6.3)."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import BadRequestData
from cityhub.ngsild import registration as reg
from cityhub.ngsild.registration_mode import proxied_conflict
from tests.ngsild.test_registration import EX, NOW, TERMS, body, expand


# 4.3.6.3: an exclusive registration names entity ids (no idPattern, no type-only) and attributes
@pytest.mark.parametrize(
    "info",
    [
        {"entities": [{"idPattern": ".*", "type": "Building"}], "propertyNames": ["name"]},
        {"entities": [{"type": "Building"}], "propertyNames": ["name"]},
        {"entities": [{"id": "urn:x:1", "type": "Building"}]},
        {"propertyNames": ["name"]},
    ],
)
def test_exclusive_needs_entity_ids_and_attributes(info: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData, match="4.3.6.3"):
        expand(mode="exclusive", information=[info])


def test_exclusive_valid_and_modes() -> None:
    assert expand(mode="exclusive")["mode"] == "exclusive"
    ops = ["queryEntity", "retrieveOps", "redirectionOps"]
    assert expand(mode="redirect", operations=ops)["operations"] == ops


# 4.3.6.3: an exclusive registration owns its attributes against other exclusive/redirect ones
def test_proxied_conflict() -> None:
    held = expand(mode="exclusive")
    other = reg.expand_registration(
        body(id="urn:ngsi-ld:ContextSourceRegistration:2", mode="redirect"), TERMS, NOW
    )
    assert proxied_conflict(other, held)
    assert not proxied_conflict(held, held)  # itself, on update
    inclusive = {**other, "mode": "inclusive"}
    assert not proxied_conflict(inclusive, held)
    elsewhere = {
        **other,
        "information": [{"entities": [{"id": "urn:x:9", "type": EX + "Building"}]}],
    }
    assert not proxied_conflict(elsewhere, held)
    other_attr = {**other, "information": [{**held["information"][0], "propertyNames": ["z"]}]}
    other_attr["information"][0].pop("relationshipNames")
    assert not proxied_conflict(other_attr, held)


# 4.3.6.3 (v1.8.1): "A redirect Context Source Registration ... It is possible to register (any
# combination of): a whole Entity by id or id pattern (without Attributes), Entities by Entity
# type only (with or without Attributes), Attributes only." Exclusive ones stay as narrow as the
# clause says (an entity id and Attributes; checked above): the ETSI _exc TPs that register
# attribute-less or type-only exclusive registrations contradict it and are refused.
@pytest.mark.parametrize(
    "info",
    [
        {"entities": [{"id": "urn:x:1", "type": "Building"}]},
        {"entities": [{"idPattern": "urn:x:.*", "type": "Building"}]},
        {"entities": [{"type": "Building"}]},
        {"entities": [{"type": "Building"}], "propertyNames": ["name"]},
        {"propertyNames": ["name"]},
    ],
)
def test_redirect_registers_whole_entities_types_or_attributes(info: dict[str, Any]) -> None:
    assert expand(mode="redirect", information=[info])["mode"] == "redirect"


def test_overlapping_redirect_registrations_are_allowed() -> None:
    """4.3.6.3: "Potentially multiple distinct redirect registrations can apply at the same
    time"; only an exclusive one excludes others."""
    one = expand(mode="redirect")
    two = {**one, "id": "urn:ngsi-ld:ContextSourceRegistration:2"}
    assert not proxied_conflict(two, one)
