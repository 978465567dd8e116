"""q (clause 4.9) over an entity in memory: the same answers as the SQL the stores compile
(``cityhub.store.qsql``), for entities no store holds as one row: an entity merged from the
answers of several context sources (clause 5.7.2.4, split entities), a notified fragment
merged with the local entity (clause 5.8.6).

The entity is in the internal form (``cityhub.ngsild.entity``: ``attrs`` maps attribute IRIs
to arrays of instances). The rules are those of the SQL walk, one for one:

- a term holds when **any instance** of the attribute satisfies it;
- the compared values of an instance are its *candidates*: the first value member present
  (``value``, preferring a JSON-LD ``{"@value": ...}`` inside it, then ``object``, ``vocab``,
  ``json``, ``valueList``) gives itself when it is a scalar (null included), its elements
  when it is an array, nothing when it is an object; every string of a ``languageMap`` (at
  any depth); the ``object`` of every member of an ``objectList``. ``a.b.c`` walks
  sub-attributes (each one instance), and a last name that is an instance member
  (``observedAt``, ``unitCode``, ...) compares that member; ``[k]`` keys walk into objects
  only, never into arrays;
- a number compares with JSON numbers, text (quoted strings, dates, times, URIs) with JSON
  strings code point by code point, a date-time with JSON strings read as instants
  (``canonical_datetime``), ``true``/``false`` with the JSON literals; other pairs never
  hold;
- ``!=`` and ``!~=`` hold when the target exists and **no** candidate equals (matches) the
  value; ``!attr`` when no instance has the target;
- ``id``, ``createdAt`` and ``modifiedAt`` at the top are the entity's own members.

Everything the SQL walk refuses with BadRequestData is refused here too, when the matcher is
made (before any entity is read), so a hostile q is a 400 whichever road it takes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, Final

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.query.ast import (
    ABSENT,
    MEMBER_NAMES,
    And,
    AttrPath,
    Comparison,
    DateTimeValue,
    Node,
    Or,
    Range,
    Scalar,
    ValueList,
    canonical_datetime,
)
from cityhub.ngsild.query.q import check_comparison

Entity = dict[str, Any]
#: a compiled q: whether an entity (internal form) matches
Matcher = Callable[[Entity], bool]

_NGSI_LD: Final = "https://uri.etsi.org/ngsi-ld/"
#: entity members q compares at the top level (``cityhub.store.qsql.ENTITY_COLUMNS``)
_ENTITY_MEMBERS: Final = {
    "id": "id",
    "@id": "id",
    "createdAt": "createdAt",
    _NGSI_LD + "createdAt": "createdAt",
    "modifiedAt": "modifiedAt",
    _NGSI_LD + "modifiedAt": "modifiedAt",
}
_VALUE_MEMBERS: Final = (
    "value",
    "object",
    "vocab",
    "json",
    "valueList",
    "languageMap",
    "objectList",
)
_ORDER: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_MISSING: Final = object()

#: a test on one candidate value
_Test = Callable[[Any], bool]


def q_matcher(node: Node) -> Matcher:
    """A q tree (names expanded, ``expand_q``) as a function of an entity.

    Raises:
        BadRequestData: the tree asks for what cannot be compared (the same refusals as the
            SQL compilers: a bad regular expression, a range of booleans or of two kinds, a
            list or a boolean with an order operator, an instance member in the middle of a
            path, a path under ``id``/``createdAt``/``modifiedAt``).
    """
    if isinstance(node, And):
        parts = [q_matcher(item) for item in node.items]
        return lambda entity: all(part(entity) for part in parts)
    if isinstance(node, Or):
        parts = [q_matcher(item) for item in node.items]
        return lambda entity: any(part(entity) for part in parts)
    if isinstance(node, Comparison):
        return _comparison(node)
    raise BadRequestData(f"q: {node!r} is not a q term")


def q_matches(node: Node, entity: Entity) -> bool:
    """Whether ``entity`` matches q tree ``node`` (see :func:`q_matcher`)."""
    return q_matcher(node)(entity)


def _comparison(node: Comparison) -> Matcher:
    if node.op == ABSENT:
        if node.value is not None:
            raise BadRequestData("q: '!' takes no value")
        exists = _comparison(Comparison(node.path))
        return lambda entity: not exists(entity)
    check_comparison(node)
    path = node.path
    member = _ENTITY_MEMBERS.get(path.attr)
    if member is not None:
        if path.sub or path.compound:
            raise BadRequestData(f"q: {path.attr} is an entity member and has no sub-paths")
        if node.op is None:
            return lambda entity: True
        term = _term(node)
        return lambda entity: term(_always, [entity.get(member)])
    target = _Target(path)
    term = _term(node)
    attr = path.attr

    def matches(entity: Entity) -> bool:
        instances = (entity.get("attrs") or {}).get(attr)
        if not isinstance(instances, list):
            return False
        for instance in instances:
            if isinstance(instance, dict) and term(
                partial(target.exists, instance), target.values(instance)
            ):
                return True
        return False

    return matches


def _always() -> bool:
    return True


def _term(node: Comparison) -> Callable[[Callable[[], bool], Iterable[Any]], bool]:
    """``(whether the target exists, its candidates) -> holds`` for one term (the
    existence is asked only when the term needs it)."""
    op = node.op
    if op is None:
        return lambda exists, candidates: exists()
    value = node.value
    if op in ("~=", "!~="):
        pattern = str(value)

        def matches(candidate: Any) -> bool:
            return type(candidate) is str and regex.search(pattern, candidate)

        test: _Test = matches
    else:
        assert value is not None
        test = _value_test("==" if op == "!=" else op, value)
    if op in ("!=", "!~="):
        return lambda exists, candidates: exists() and not any(test(c) for c in candidates)
    return lambda exists, candidates: any(test(c) for c in candidates)


class _Target:
    """Where a path's compared values live inside one instance (``qsql._Target``)."""

    __slots__ = ("direct", "language_map", "object_list")

    def __init__(self, path: AttrPath) -> None:
        subs = list(path.sub)
        member = subs.pop() if subs and subs[-1] in MEMBER_NAMES else None
        for name in subs:
            if name in MEMBER_NAMES:
                raise BadRequestData(f"q: in {path}, {name} can only be the last name of the path")
        keys = list(path.compound)
        self.direct: list[tuple[str, ...]] = []
        self.language_map: tuple[str, ...] | None = None
        self.object_list: tuple[str, ...] | None = None
        members: tuple[str, ...] = _VALUE_MEMBERS
        if member in _VALUE_MEMBERS:
            members = (member,)
        elif member is not None:
            members = ()
            self.direct.append((*subs, member, *keys))
        for name in members:
            at = (*subs, name)
            if name == "languageMap" and not keys:
                self.language_map = at
            elif name == "objectList":
                self.object_list = None if keys else at
            else:
                if name == "value" and not keys:
                    self.direct.append((*at, "@value"))
                self.direct.append((*at, *keys))

    def exists(self, instance: dict[str, Any]) -> bool:
        paths = [*self.direct, *(p for p in (self.language_map, self.object_list) if p)]
        return any(_at(instance, p) is not _MISSING for p in paths)

    def values(self, instance: dict[str, Any]) -> Iterator[Any]:
        for path in self.direct:  # the first present one (SQL's COALESCE)
            found = _at(instance, path)
            if found is _MISSING:
                continue
            if isinstance(found, list):
                yield from found
            elif not isinstance(found, dict):
                yield found
            break
        if self.language_map is not None:
            found = _at(instance, self.language_map)
            if found is not _MISSING:
                yield from _strings(found)
        if self.object_list is not None:
            found = _at(instance, self.object_list)
            if isinstance(found, list):
                for item in found:
                    if isinstance(item, dict) and type(item.get("object")) is str:
                        yield item["object"]


def _at(instance: Any, path: tuple[str, ...]) -> Any:
    """The JSON value at ``path`` (object keys only), or ``_MISSING``."""
    for name in path:
        if not isinstance(instance, dict) or name not in instance:
            return _MISSING
        instance = instance[name]
    return instance


def _strings(node: Any) -> Iterator[str]:
    """Every string in ``node``, at any depth (a languageMap's texts)."""
    if type(node) is str:
        yield node
    elif isinstance(node, dict):
        for child in node.values():
            yield from _strings(child)
    elif isinstance(node, list):
        for child in node:
            yield from _strings(child)


def _value_test(op: str, value: Any) -> _Test:
    if isinstance(value, ValueList):
        tests = [_value_test("==", item) for item in value.items]
        return lambda candidate: any(test(candidate) for test in tests)
    if isinstance(value, Range):
        kind = _kind(value.low)
        if kind != _kind(value.high) or kind in ("true", "false"):
            raise BadRequestData("q: a range needs two values of the same kind")
        low, high = _operand(kind, value.low), _operand(kind, value.high)
        read = _reader(kind)

        def between(candidate: Any) -> bool:
            got = read(candidate)
            return got is not None and low <= got <= high

        return between
    kind = _kind(value)
    if kind in ("true", "false"):
        wanted = kind == "true"
        return lambda candidate: type(candidate) is bool and candidate is wanted
    compare, bound, read = _ORDER[op], _operand(kind, value), _reader(kind)

    def test(candidate: Any) -> bool:
        got = read(candidate)
        return got is not None and bool(compare(got, bound))

    return test


def _kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, DateTimeValue):
        return "datetime"
    if isinstance(value, str):
        return "text"
    raise BadRequestData(f"q: {value!r} is not a value q can compare")


def _operand(kind: str, value: Scalar) -> Any:
    if kind == "datetime":
        canonical = canonical_datetime(str(value))
        if canonical is None:
            raise BadRequestData(f"q: {value!r} is not a valid date-time")
        return canonical
    if kind == "text":
        return str(value)
    return value


def _reader(kind: str) -> Callable[[Any], Any]:
    """A candidate as ``kind`` compares it, or None when it is of another JSON type."""
    if kind == "number":
        return lambda c: c if type(c) is int or type(c) is float else None
    if kind == "datetime":
        return lambda c: canonical_datetime(c) if type(c) is str else None
    return lambda c: c if type(c) is str else None


__all__ = ["Matcher", "q_matcher", "q_matches"]
