"""Registration modes (ETSI GS CIM 009 v1.8.1 clause 4.3.6): ``inclusive`` (the default),
``exclusive``, ``redirect`` and ``auxiliary``, and the rules an exclusive registration brings
(clause 4.3.6.3): it names each entity by id and the attributes it owns, and once it exists no
further exclusive or redirect registration may cover the same attributes of the same entity.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex

MODES: Final = ("inclusive", "exclusive", "redirect", "auxiliary")


def check_exclusive(doc: dict[str, Any]) -> None:
    """An exclusive registration names each entity by id, without idPattern, and lists the
    attributes it owns (clause 4.3.6.3).

    Raises:
        BadRequestData: ``doc`` is exclusive and one of its RegistrationInfo does not.
    """
    if doc.get("mode") != "exclusive":
        return
    for pos, info in enumerate(doc["information"]):
        label = f"information[{pos}]"
        entities = info.get("entities")
        if not entities or any("id" not in e or "idPattern" in e for e in entities):
            raise BadRequestData(
                f"an exclusive registration names each entity by id, without idPattern "
                f"(clause 4.3.6.3); {label} does not"
            )
        if not info.get("propertyNames") and not info.get("relationshipNames"):
            raise BadRequestData(
                f"an exclusive registration lists the attributes it owns (clause 4.3.6.3); "
                f"{label} has no propertyNames or relationshipNames"
            )


def _covers(info: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether ``other`` (any RegistrationInfo) covers an attribute of an entity ``info`` (an
    exclusive one: entity ids and attribute names) names."""
    ids = [e["id"] for e in info.get("entities", ())]
    names = {*info.get("propertyNames", ()), *info.get("relationshipNames", ())}
    other_names = {*other.get("propertyNames", ()), *other.get("relationshipNames", ())}
    if other_names and not other_names & names:
        return False
    if "entities" not in other:
        return True
    for entity in other["entities"]:
        if "id" in entity:
            if entity["id"] in ids:
                return True
        elif "idPattern" not in entity or any(regex.search(entity["idPattern"], i) for i in ids):
            return True
    return False


def proxied_conflict(new: dict[str, Any], existing: dict[str, Any]) -> bool:
    """Clause 4.3.6.3: once an exclusive registration exists, no further exclusive or redirect
    registration may cover the same attributes of the same entity."""
    if existing.get("mode") != "exclusive" or new.get("mode") not in ("exclusive", "redirect"):
        return False
    if new["id"] == existing["id"]:
        return False
    return any(
        _covers(held, wanted) for held in existing["information"] for wanted in new["information"]
    )
