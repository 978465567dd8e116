"""Registration modes (ETSI GS CIM 009 v1.8.1 clause 4.3.6): ``inclusive`` (the default),
``exclusive``, ``redirect`` and ``auxiliary``, and the rule proxied registrations bring
(clause 4.3.6.3): once an exclusive registration exists, no further exclusive or redirect
registration may cover the same attributes of the same entities.

What an exclusive registration may name: clause 4.3.6.3 says it "shall define both" an entity
id and Attributes ("an id pattern or Entity type defining a group of entities is not supported
for exclusive registrations"), but the operations' own validation (5.9.2.4 Register, 5.9.3.4
Update) raises BadRequestData only for the data types and restrictions of clause 5.2.9 (where
``mode`` is only one of the four values) and for ``contextSourceInfo``; of exclusive
registrations they check only the Conflict rules. The ETSI conformance suite registers
exclusive registrations by ``idPattern`` and without attribute names and expects 201 (its
``_exc`` test purposes). cityhub accepts them with the meaning the clause gives a proxied
registration: the registered attributes (every attribute when none is named) of every
matching entity are held by that single source, and no other exclusive or redirect
registration may cover them.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Final

from cityhub.ngsild import regex

MODES: Final = ("inclusive", "exclusive", "redirect", "auxiliary")


def _names(info: dict[str, Any]) -> frozenset[str] | None:
    """The attribute names a RegistrationInfo registers, None for every attribute."""
    names = {*info.get("propertyNames", ()), *info.get("relationshipNames", ())}
    return frozenset(names) if names else None


def _entities_overlap(one: dict[str, Any], two: dict[str, Any]) -> bool:
    """Whether two EntityInfo (clause 5.2.8) may select a common entity: their types agree
    and their ids meet (an id against an id or idPattern; two idPatterns, which cannot be
    compared, are taken to meet)."""
    if one.get("type") and two.get("type") and one["type"] != two["type"]:
        return False
    if "id" in one and "id" in two:
        return bool(one["id"] == two["id"])
    if "id" in one and "idPattern" in two:
        return regex.search(two["idPattern"], one["id"])
    if "id" in two and "idPattern" in one:
        return regex.search(one["idPattern"], two["id"])
    return True


def _infos_overlap(held: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether two RegistrationInfo (clause 5.2.10) cover an attribute of a common entity."""
    held_names, wanted_names = _names(held), _names(wanted)
    if held_names is not None and wanted_names is not None and not held_names & wanted_names:
        return False
    if "entities" not in held or "entities" not in wanted:
        return True  # attributes of any entity
    return any(_entities_overlap(a, b) for a in held["entities"] for b in wanted["entities"])


def proxied_conflict(new: dict[str, Any], existing: dict[str, Any]) -> bool:
    """Clause 4.3.6.3: once an exclusive registration exists, no further exclusive or redirect
    registration may cover the same attributes of the same entities."""
    if existing.get("mode") != "exclusive" or new.get("mode") not in ("exclusive", "redirect"):
        return False
    if new["id"] == existing["id"]:
        return False
    return any(
        _infos_overlap(held, wanted)
        for held in existing["information"]
        for wanted in new["information"]
    )
