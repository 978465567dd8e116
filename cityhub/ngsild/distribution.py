"""Distributed writes as data (ETSI GS CIM 009 v1.8.1 clause 4.3.6, the distributed behaviour of
each provision operation in clause 5.6, e.g. 5.6.1.4 Create Entity and 5.6.2.4 Update
Attributes): which part of a write each matching registration receives, and what is left for
this broker.

The order is the spec's: the attributes an **exclusive** registration covers go to its source
and are removed from the write; then those the **redirect** registrations cover go to each of
them (all of them: redirect registrations may overlap) and are removed too; what remains goes
to the matching **inclusive** registrations *and* is written here. An **auxiliary**
registration never receives a write (clause 4.3.6.2: it serves consumption only). A
proxied (exclusive or redirect) registration that does not take the operation is a part that
fails with Conflict; an inclusive one that does not take it is left out.

Pure: no I/O. ``cityhub.federation`` sends the parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cityhub.ngsild import regex
from cityhub.ngsild.federation import allows

#: The provision operations that address one entity (clause 4.20, table 4.20-1).
ENTITY_OPERATIONS: Final = frozenset(
    {"createEntity", "deleteEntity", "mergeEntity", "replaceEntity"}
)
#: A registration that covers every attribute of the entity (no propertyNames or
#: relationshipNames in the matching RegistrationInfo).
ALL: Final = None


@dataclass(frozen=True)
class Part:
    """What one registration receives: ``attrs`` (attribute IRIs) of the write, or every one
    (``None``) for an operation on the whole entity; ``supported`` is False for a proxied
    registration whose ``operations`` do not include the operation (the part fails with
    Conflict)."""

    registration: dict[str, Any]
    attrs: frozenset[str] | None
    supported: bool = True

    @property
    def registration_id(self) -> str:
        return str(self.registration["id"])


@dataclass
class Plan:
    """A write's parts, and what this broker does itself: ``local`` is False when proxied
    registrations took the whole write, ``local_attrs`` the attributes left to write here."""

    parts: list[Part] = field(default_factory=list)
    local: bool = True
    local_attrs: frozenset[str] = frozenset()


def _entity_matches(info: dict[str, Any], entity_id: str, types: Sequence[str]) -> bool:
    """Clause 5.12: an EntityInfo matches an entity of id ``entity_id`` (and of ``types`` when
    they are known; unknown types match any)."""
    if types and info.get("type") not in types:
        return False
    if "id" in info:
        return bool(info["id"] == entity_id)
    if "idPattern" in info:
        return regex.search(info["idPattern"], entity_id)
    return True


def coverage(
    doc: dict[str, Any], entity_id: str, types: Sequence[str]
) -> frozenset[str] | None | Literal[False]:
    """The attributes of the entity registration ``doc`` covers: a set of IRIs, :data:`ALL`
    (None) for every attribute, or False when it does not cover the entity (clause 5.12)."""
    names: set[str] = set()
    for info in doc.get("information", ()):
        entities = info.get("entities")
        if entities is not None and not any(_entity_matches(e, entity_id, types) for e in entities):
            continue
        info_names = {*info.get("propertyNames", ()), *info.get("relationshipNames", ())}
        if not info_names:
            if entities is None:
                continue  # an empty RegistrationInfo is refused at registration
            return ALL
        names |= info_names
    return frozenset(names) if names else False


def _mode(doc: dict[str, Any]) -> str:
    return str(doc.get("mode", "inclusive"))


def plan_write(
    docs: Iterable[dict[str, Any]],
    operation: str,
    entity_id: str,
    types: Sequence[str],
    attrs: Iterable[str],
) -> Plan:
    """The parts of a write of ``operation`` on entity ``entity_id`` (of ``types`` when known)
    touching ``attrs`` (none for a whole-entity operation such as delete), over the matching
    registrations ``docs`` (clause 5.6.x.4 distributed behaviour, 4.3.6)."""
    wanted = frozenset(attrs)
    whole = not wanted  # an operation on the entity itself, not on attributes
    left = set(wanted)
    plan = Plan()
    taken_whole = False
    candidates = [d for d in docs if _mode(d) != "auxiliary"]
    for mode in ("exclusive", "redirect"):
        taken: set[str] = set()
        for doc in candidates:
            if _mode(doc) != mode:
                continue
            covered = coverage(doc, entity_id, types)
            if covered is False:
                continue
            if whole:
                part_attrs: frozenset[str] | None = None
            else:
                part_attrs = frozenset(left if covered is ALL else left & covered)
                if not part_attrs:
                    continue
            plan.parts.append(Part(doc, part_attrs, allows(doc, operation)))
            if covered is ALL:
                taken_whole = True
                taken |= left
            elif part_attrs is not None:
                taken |= part_attrs
        left -= taken
    for doc in candidates:
        if _mode(doc) != "inclusive" or not allows(doc, operation):
            continue
        covered = coverage(doc, entity_id, types)
        if covered is False:
            continue
        if whole:
            plan.parts.append(Part(doc, None))
            continue
        part = frozenset(left if covered is ALL else left & covered)
        if part:
            plan.parts.append(Part(doc, part))
    plan.local_attrs = frozenset(left)
    plan.local = not taken_whole and (bool(left) or whole)
    return plan
