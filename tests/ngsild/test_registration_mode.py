"""Registration modes: ETSI GS CIM 009 v1.8.1 clause 4.3.6 (exclusive registrations, 4.3.6.3)."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild import registration as reg
from cityhub.ngsild.registration_mode import proxied_conflict
from tests.ngsild.test_registration import EX, NOW, TERMS, body, expand


# 5.9.2.4 / 5.9.3.4 raise BadRequestData only for clause 5.2.9's data types (mode: one of four
# values); of an exclusive registration they check Conflicts. 4.3.6.3 calls groups of entities
# "not supported" for it; the ETSI _exc test purposes register them and expect 201: accepted,
# holding the registered attributes (every one when none is named) of each matching entity.
@pytest.mark.parametrize(
    "info",
    [
        {"entities": [{"idPattern": ".*", "type": "Building"}], "propertyNames": ["name"]},
        {"entities": [{"type": "Building"}], "propertyNames": ["name"]},
        {"entities": [{"id": "urn:x:1", "type": "Building"}]},
        {"propertyNames": ["name"]},
    ],
)
def test_exclusive_may_register_groups_of_entities_or_whole_entities(
    info: dict[str, Any],
) -> None:
    assert expand(mode="exclusive", information=[info])["mode"] == "exclusive"


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


def _csr(rid: str, mode: str, info: dict[str, Any]) -> dict[str, Any]:
    return {"id": rid, "mode": mode, "information": [info]}


# 4.3.6.3: "Once an exclusive Context Source Registration has been created, no further
# exclusive or redirect Context Source Registrations can be created for that same combination
# of Entity ID and Attributes" - for exclusive registrations of groups of entities too.
@pytest.mark.parametrize(
    ("held", "wanted", "conflict"),
    [
        # a pattern against an id it matches, and one it does not
        (
            {"entities": [{"idPattern": "urn:x:.*", "type": "T"}], "propertyNames": ["a"]},
            {"entities": [{"id": "urn:x:1", "type": "T"}], "propertyNames": ["a", "b"]},
            True,
        ),
        (
            {"entities": [{"idPattern": "urn:x:.*", "type": "T"}], "propertyNames": ["a"]},
            {"entities": [{"id": "urn:y:1", "type": "T"}], "propertyNames": ["a"]},
            False,
        ),
        # another type, other attributes: no overlap
        (
            {"entities": [{"type": "T"}], "propertyNames": ["a"]},
            {"entities": [{"type": "U"}], "propertyNames": ["a"]},
            False,
        ),
        (
            {"entities": [{"type": "T"}], "propertyNames": ["a"]},
            {"entities": [{"type": "T"}], "propertyNames": ["b"]},
            False,
        ),
        # no attribute names: every attribute
        (
            {"entities": [{"id": "urn:x:1", "type": "T"}]},
            {"entities": [{"id": "urn:x:1", "type": "T"}], "relationshipNames": ["r"]},
            True,
        ),
        # attributes only: of any entity
        (
            {"propertyNames": ["a"]},
            {"entities": [{"idPattern": "urn:z:.*", "type": "V"}]},
            True,
        ),
        # two patterns cannot be compared: taken to meet
        (
            {"entities": [{"idPattern": "urn:x:.*", "type": "T"}]},
            {"entities": [{"idPattern": "urn:x:1.*", "type": "T"}]},
            True,
        ),
    ],
)
def test_exclusive_groups_exclude_overlapping_proxied_registrations(
    held: dict[str, Any], wanted: dict[str, Any], conflict: bool
) -> None:
    existing = _csr("urn:r:1", "exclusive", held)
    for mode in ("exclusive", "redirect"):
        assert proxied_conflict(_csr("urn:r:2", mode, wanted), existing) is conflict
    assert not proxied_conflict(_csr("urn:r:2", "inclusive", wanted), existing)
    assert not proxied_conflict(_csr("urn:r:2", "auxiliary", wanted), existing)
