"""How a write splits over registrations (cityhub.ngsild.distribution; ETSI GS CIM 009 v1.8.1
clause 4.3.6 modes, the distributed behaviour of clauses 5.6.x.4, table 4.20-2 groups)."""

from __future__ import annotations

from typing import Any

from cityhub.ngsild.distribution import coverage, plan_write
from cityhub.ngsild.federation import allows

V = "urn:ngsi-ld:Vehicle:1"
VEHICLE = "https://example.org/Vehicle"
SPEED = "https://example.org/speed"
BRAND = "https://example.org/brandName"


def reg(
    n: int, mode: str = "inclusive", ops: tuple[str, ...] = ("redirectionOps",), **info: Any
) -> Any:
    information = info or {"entities": [{"type": VEHICLE}]}
    return {"id": f"urn:r:{n}", "mode": mode, "operations": list(ops), "information": [information]}


def test_operation_groups_follow_table_4_20_2() -> None:
    """redirectionOps holds the entity writes and reads, updateOps only updates, and no
    group but an explicit list holds the batch operations."""
    assert allows({"operations": ["redirectionOps"]}, "createEntity")
    assert allows({"operations": ["redirectionOps"]}, "queryEntity")
    assert allows({"operations": ["updateOps"]}, "updateEntity")
    assert not allows({"operations": ["updateOps"]}, "createEntity")
    assert not allows({}, "createEntity")  # federationOps: consumption only
    assert not allows({"operations": ["redirectionOps"]}, "createBatch")
    assert allows({"operations": ["createBatch"]}, "createBatch")


def test_coverage_by_id_pattern_type_and_attributes() -> None:
    """Clause 5.12: an EntityInfo matches by id, idPattern or type; attribute names narrow it."""
    by_id = reg(1, entities=[{"id": V, "type": VEHICLE}], propertyNames=[SPEED])
    assert coverage(by_id, V, [VEHICLE]) == frozenset({SPEED})
    assert coverage(by_id, "urn:ngsi-ld:Vehicle:2", [VEHICLE]) is False
    pattern = reg(2, entities=[{"idPattern": "Vehicle:[0-9]", "type": VEHICLE}])
    assert coverage(pattern, V, []) is None  # every attribute
    assert coverage(reg(3), V, ["https://example.org/Bus"]) is False
    assert coverage(reg(3), V, []) is None  # the type is not known: any matches


def test_exclusive_then_redirect_take_their_attributes_inclusive_gets_the_rest() -> None:
    """Clause 5.6.2.4: exclusive first, then redirect, removed from the local write; the
    inclusive registration receives what is left, which is written here too."""
    exc = reg(1, "exclusive", entities=[{"id": V, "type": VEHICLE}], propertyNames=[SPEED])
    red = reg(2, "redirect", propertyNames=[SPEED, BRAND])
    inc = reg(3)
    aux = reg(4, "auxiliary")
    plan = plan_write([inc, red, exc, aux], "updateEntity", V, [VEHICLE], [SPEED, BRAND, "x"])
    assert [(p.registration_id, p.attrs) for p in plan.parts] == [
        ("urn:r:1", frozenset({SPEED})),
        ("urn:r:2", frozenset({BRAND})),
        ("urn:r:3", frozenset({"x"})),
    ]
    assert plan.local and plan.local_attrs == frozenset({"x"})


def test_a_proxied_registration_without_the_operation_is_a_failing_part() -> None:
    """Clause 5.6.2.4: Conflict for a proxied registration that does not take the operation;
    an inclusive one that does not is simply not asked."""
    exc = reg(
        1,
        "exclusive",
        ("retrieveOps",),
        entities=[{"id": V, "type": VEHICLE}],
        propertyNames=[SPEED],
    )
    plan = plan_write([exc, reg(2, ops=("retrieveOps",))], "updateEntity", V, [], [SPEED, BRAND])
    assert [(p.registration_id, p.supported) for p in plan.parts] == [("urn:r:1", False)]
    assert plan.local_attrs == frozenset({BRAND})


def test_a_whole_entity_redirect_leaves_nothing_here() -> None:
    """Clause 4.3.6.3: a redirect registration without attributes holds the whole entity; an
    operation on the entity (delete) goes to every such source and not here."""
    plan = plan_write([reg(1, "redirect"), reg(2, "redirect")], "deleteEntity", V, [], [])
    assert [p.attrs for p in plan.parts] == [None, None] and not plan.local
    plan = plan_write([reg(1, "redirect")], "createEntity", V, [VEHICLE], [SPEED])
    assert not plan.local and plan.parts[0].attrs == frozenset({SPEED})
    plan = plan_write([reg(1)], "deleteEntity", V, [], [])
    assert plan.local and plan.parts[0].attrs is None
