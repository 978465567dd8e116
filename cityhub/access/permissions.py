"""Permissions in the shape Stellio's users know: an action, a target, an assignee.

A permission document::

    {"action": "read" | "write" | "subscribe" | "admin",
     "target": {"id": IRI} | {"idPattern": regex} | {"type": IRI or name} | {"scope": scopeQ},
               (absent: every entity of the tenant)
     "assignee": {"key": key id} | {"subject": sub} | {"claim": name, "value": text}
                 | "authenticated" | "public"}

``admin`` implies ``write`` and ``subscribe``; ``write`` implies ``read`` (as Stellio's
``canAdmin`` > ``canWrite`` > ``canRead``). A ``type`` given as a name (no ``:``) is read with
the NGSI-LD default vocabulary (``https://uri.etsi.org/ngsi-ld/default-context/``), as an
entity type without a user @context is; give the full IRI for types of other @contexts.
A claim name may be a dotted path (Keycloak's ``realm_access.roles``); a claim holding a list
matches when the list holds the value.

A caller's targets for one action become an :class:`~cityhub.store.base.EntityQuery`
condition (``permitted``): each target one selector the backends already compile (ids,
idPattern, types, scopeQ), so filtering happens in the store query and counts and pages never
show what the caller may not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cityhub.errors import BadRequestData
from cityhub.ngsild.query.scope import parse_scope_q, scope_q_matches
from cityhub.ngsild.regex import compile_pattern, search
from cityhub.store.base import EntityQuery

ACTIONS = ("read", "write", "subscribe", "admin")
IMPLIED = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "subscribe": frozenset({"subscribe"}),
    "admin": frozenset(ACTIONS),
}
DEFAULT_VOCABULARY = "https://uri.etsi.org/ngsi-ld/default-context/"
_TARGET_KINDS = ("id", "idPattern", "type", "scope")


@dataclass(frozen=True)
class Target:
    """What a permission covers: ``kind`` one of id, idPattern, type, scope, or "" (all)."""

    kind: str = ""
    value: str = ""

    def selector(self) -> EntityQuery:
        """The entities of this target, as a query condition (every name expanded)."""
        if self.kind == "id":
            return EntityQuery(ids=(self.value,))
        if self.kind == "idPattern":
            return EntityQuery(id_pattern=self.value)
        if self.kind == "type":
            return EntityQuery(types=(self.value,))
        return EntityQuery(scope_q=parse_scope_q(self.value))

    def covers(self, entity_id: str, types: Iterable[str], scopes: Iterable[str]) -> bool:
        """Whether an entity (not stored yet: a create's payload) is of this target, with the
        meaning the store query gives the selector."""
        if self.kind == "":
            return True
        if self.kind == "id":
            return entity_id == self.value
        if self.kind == "idPattern":
            return search(self.value, entity_id)
        if self.kind == "type":
            return self.value in types
        return scope_q_matches(parse_scope_q(self.value), tuple(scopes))


ALL = Target()


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise BadRequestData(f"permission {what} must be non-empty text (at most 2048 chars)")
    return value


def check_permission(doc: Any) -> dict[str, Any]:
    """A permission document, checked and normalised (a type name expanded).

    Raises:
        BadRequestData: what is wrong with it.
    """
    if not isinstance(doc, dict):
        raise BadRequestData("a permission is a JSON object {action, target?, assignee}")
    unknown = sorted(set(doc) - {"action", "target", "assignee"})
    if unknown:
        raise BadRequestData(f"unknown permission member(s) {', '.join(unknown)}")
    action = doc.get("action")
    if action not in ACTIONS:
        raise BadRequestData(f"permission action must be one of {', '.join(ACTIONS)}")
    out: dict[str, Any] = {"action": action}
    target = doc.get("target")
    if target is not None:
        if (
            not isinstance(target, dict)
            or len(target) != 1
            or next(iter(target)) not in (_TARGET_KINDS)
        ):
            raise BadRequestData(
                "permission target is one of {id}, {idPattern}, {type}, {scope} "
                "(absent: every entity of the tenant)"
            )
        kind, value = next(iter(target.items()))
        value = _text(value, f"target {kind}")
        if kind == "idPattern":
            compile_pattern(value, "target idPattern")
        elif kind == "scope":
            parse_scope_q(value)
        elif kind == "type" and ":" not in value:
            value = DEFAULT_VOCABULARY + value
        out["target"] = {kind: value}
    assignee = doc.get("assignee")
    if assignee in ("authenticated", "public"):
        out["assignee"] = assignee
    elif isinstance(assignee, dict) and set(assignee) == {"key"}:
        out["assignee"] = {"key": _text(assignee["key"], "assignee key")}
    elif isinstance(assignee, dict) and set(assignee) == {"subject"}:
        out["assignee"] = {"subject": _text(assignee["subject"], "assignee subject")}
    elif isinstance(assignee, dict) and set(assignee) == {"claim", "value"}:
        out["assignee"] = {
            "claim": _text(assignee["claim"], "assignee claim"),
            "value": _text(assignee["value"], "assignee value"),
        }
    else:
        raise BadRequestData(
            'permission assignee is {key}, {subject}, {claim, value}, "authenticated" or "public"'
        )
    return out


def target_of(doc: Mapping[str, Any]) -> Target:
    target = doc.get("target")
    if not target:
        return ALL
    kind, value = next(iter(target.items()))
    return Target(kind, value)


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


@dataclass(frozen=True)
class Identity:
    """Who calls: ``key_id`` for an API key, ``subject`` and ``claims`` for a token; neither
    for an anonymous caller."""

    key_id: str | None = None
    subject: str | None = None
    claims: Mapping[str, Any] | None = None

    @property
    def authenticated(self) -> bool:
        return self.key_id is not None or self.subject is not None

    @property
    def name(self) -> str:
        """How the audit log and error details name the caller (never a secret)."""
        if self.key_id is not None:
            return f"key:{self.key_id}"
        if self.subject is not None:
            return f"sub:{self.subject}"
        return "anonymous"


def assigned(assignee: Any, who: Identity) -> bool:
    """Whether a (checked) assignee names this caller."""
    if assignee == "public":
        return True
    if assignee == "authenticated":
        return who.authenticated
    if not isinstance(assignee, Mapping):
        return False
    if "key" in assignee:
        return who.key_id is not None and assignee["key"] == who.key_id
    if "subject" in assignee:
        return who.subject is not None and assignee["subject"] == who.subject
    if "claim" in assignee and who.claims is not None:
        value = _claim(who.claims, assignee["claim"])
        if isinstance(value, list):
            return assignee["value"] in value
        return bool(value == assignee["value"])
    return False


#: every entity of the tenant (an action granted without a target)
UNRESTRICTED: tuple[Target, ...] | None = None


def targets_for(
    docs: Iterable[Mapping[str, Any]], who: Identity, action: str
) -> tuple[Target, ...] | None:
    """The targets of ``action`` that ``docs`` (the tenant's permissions) give ``who``: None
    for every entity, else a tuple (empty: none)."""
    found: list[Target] = []
    for doc in docs:
        if action not in IMPLIED[doc["action"]] or not assigned(doc["assignee"], who):
            continue
        target = target_of(doc)
        if target == ALL:
            return UNRESTRICTED
        if target not in found:
            found.append(target)
    return tuple(found)


def permitted_selectors(targets: tuple[Target, ...] | None) -> tuple[EntityQuery, ...] | None:
    """The ``EntityQuery.permitted`` condition of these targets (None: no condition)."""
    if targets is None:
        return None
    return tuple(t.selector() for t in targets)


__all__ = [
    "ACTIONS",
    "ALL",
    "DEFAULT_VOCABULARY",
    "IMPLIED",
    "UNRESTRICTED",
    "Identity",
    "Target",
    "assigned",
    "check_permission",
    "permitted_selectors",
    "target_of",
    "targets_for",
]
