"""Node types of the NGSI-LD query languages (clauses 4.9 q, 4.17 type query, 4.19 scopeQ).

All nodes are frozen dataclasses, so trees are hashable and compare by value. ``And`` and ``Or``
are shared by the three languages; the leaves differ: ``Comparison`` (q), ``TypeName`` (type
query) and ``ScopeQuery`` (scopeQ).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeAlias

#: Members of an attribute instance a q path may name after a dot (``speed.observedAt``).
#: They are kept as they are by ``expand_q``; every other dotted name is a sub-attribute.
MEMBER_NAMES = frozenset(
    {
        "type", "value", "object", "languageMap", "vocab", "json", "valueList", "objectList",
        "datasetId", "observedAt", "unitCode", "createdAt", "modifiedAt", "deletedAt",
        "instanceId", "objectType", "lang",
    }
)  # fmt: skip

#: Members of the entity itself that q may name at the top level; never expanded.
ENTITY_MEMBERS = frozenset({"id", "createdAt", "modifiedAt"})


class DateTimeValue(str):
    """An unquoted ISO 8601 date-time in q (``observedAt>2024-01-01T00:00:00Z``)."""

    __slots__ = ()


class DateValue(str):
    """An unquoted ISO 8601 date in q (``birthday==2001-02-03``)."""

    __slots__ = ()


class TimeValue(str):
    """An unquoted ISO 8601 time in q (``opens<08:30:00Z``)."""

    __slots__ = ()


class UriValue(str):
    """An unquoted URI in q (``locatedIn==urn:ngsi-ld:City:Pisa``); equals the same text."""

    __slots__ = ()


Scalar: TypeAlias = str | int | float | bool


@dataclass(frozen=True)
class Range:
    """``low..high``, inclusive at both ends (clause 4.9)."""

    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class ValueList:
    """``v1,v2,...``: the target equals one of the items (clause 4.9)."""

    items: tuple[Scalar, ...]


Value: TypeAlias = Scalar | Range | ValueList


@dataclass(frozen=True)
class AttrPath:
    """The left side of a query term.

    ``a.b.c`` is attribute ``a`` with ``sub`` ``("b", "c")``: sub-attributes, where the last one may
    be an instance member such as ``observedAt``. ``a[x][y]`` has ``compound`` ``("x", "y")``:
    keys into a compound value, or a language tag into a LanguageProperty's languageMap.
    """

    attr: str
    sub: tuple[str, ...] = ()
    compound: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ".".join((self.attr, *self.sub)) + "".join(f"[{k}]" for k in self.compound)


#: the operator of a negated existence term, ``!attr`` (clause 4.9)
ABSENT = "!"


@dataclass(frozen=True)
class Comparison:
    """A q term. ``op`` and ``value`` are both None for "the attribute exists"; ``op`` is
    :data:`ABSENT` (and ``value`` None) for "the attribute does not exist" (``!attr``)."""

    path: AttrPath
    op: str | None = None
    value: Value | None = None


@dataclass(frozen=True)
class TypeName:
    """A leaf of a type query (clause 4.17): the entity has this type."""

    name: str


@dataclass(frozen=True)
class ScopeQuery:
    """A leaf of a scopeQ (clause 4.19): ``/a/b``, ``/a/#`` (subtree), ``/+/b`` (one level)."""

    pattern: str


@dataclass(frozen=True)
class And:
    """All items hold (``;``)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one item holds (``|``; ``,`` in type queries and scopeQ)."""

    items: tuple[Node, ...]


Node: TypeAlias = And | Or | Comparison | TypeName | ScopeQuery


def expand_q(node: Node, expand: Callable[[str], str]) -> Node:
    """A copy of a q tree with attribute and sub-attribute names expanded to IRIs.

    Args:
        node: a tree from ``parse_q``.
        expand: maps a term or CURIE to a full IRI (the caller's resolved @context).

    Returns:
        The same tree with ``attr`` and each ``sub`` element passed through ``expand``, except
        instance member names (``observedAt``, ``unitCode``, ...) after a dot and the entity
        members ``id``, ``createdAt`` and ``modifiedAt`` at the top. Compound keys stay as sent.
    """
    if isinstance(node, And | Or):
        return type(node)(tuple(expand_q(item, expand) for item in node.items))
    if isinstance(node, Comparison):
        path = node.path
        attr = path.attr if path.attr in ENTITY_MEMBERS else expand(path.attr)
        sub = tuple(s if s in MEMBER_NAMES else expand(s) for s in path.sub)
        return replace(node, path=AttrPath(attr, sub, path.compound))
    return node


def has_pattern(node: Node | None) -> bool:
    """Whether a q tree holds a ``~=`` or ``!~=`` term (a caller's regular expression)."""
    if isinstance(node, And | Or):
        return any(has_pattern(item) for item in node.items)
    return isinstance(node, Comparison) and node.op in ("~=", "!~=")


def expand_types(node: Node, expand: Callable[[str], str]) -> Node:
    """A copy of a type query tree with every type name expanded through ``expand``."""
    if isinstance(node, And | Or):
        return type(node)(tuple(expand_types(item, expand) for item in node.items))
    if isinstance(node, TypeName):
        return TypeName(expand(node.name))
    return node


_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)


def canonical_datetime(text: str) -> str | None:
    """An ISO 8601 date-time in the one form cityhub compares: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    A date-time without an offset is taken as UTC. Returns None for anything that is not a
    date-time (and never raises, because SQLite calls it on stored values).
    """
    if not isinstance(text, str):
        return None
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, offset = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        tz = UTC
        if offset and offset != "Z":
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or "0"))
            tz = timezone(sign * delta)
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or "0"),
            micro,
            tzinfo=tz,
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


__all__ = [
    "ABSENT",
    "ENTITY_MEMBERS",
    "MEMBER_NAMES",
    "And",
    "AttrPath",
    "Comparison",
    "DateTimeValue",
    "DateValue",
    "Node",
    "Or",
    "Range",
    "Scalar",
    "ScopeQuery",
    "TimeValue",
    "TypeName",
    "UriValue",
    "Value",
    "ValueList",
    "canonical_datetime",
    "expand_q",
    "expand_types",
    "has_pattern",
]
