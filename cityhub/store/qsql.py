"""Query trees to SQL, one walk for every backend: q (clause 4.9), scopeQ (4.19) and type
queries (4.17).

The walk decides what a tree means (which members of an instance a path reaches, which values
are candidates, which operator compares what, what is refused with BadRequestData); a
:class:`Dialect` says how one backend writes each piece of SQL and binds each value
(``cityhub.store.sqlite.compile`` over JSON text, ``cityhub.store.postgres.compile`` over
JSONB). Nothing from a query is ever written into the SQL text: values, JSON paths and regular
expressions are all bound. The walk binds in the order the pieces appear in the text, so a
dialect with positional ``?`` marks can append as it goes. Internal aliases start with ``q_``.

How a q term reads an entity (``attrs`` maps attribute IRIs to arrays of instances)::

    EXISTS (SELECT 1 FROM <instances of the attribute> AS q_i            -- any instance ...
            WHERE <q_i is an object> AND EXISTS (SELECT 1 FROM (<candidates>) AS q_c
                                                 WHERE <test on q_c.jt, q_c.av>))

The candidates are (JSON type ``jt``, value ``av``) rows: the target itself when it is a
scalar, its elements when it is an array, every string of a languageMap, every object of an
objectList.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

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
    ScopeQuery,
    TypeName,
    Value,
    ValueList,
)
from cityhub.ngsild.query.q import check_comparison
from cityhub.ngsild.query.scope import check_scope_pattern

_NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
#: Entity members q may compare at the top level, and the column holding each.
ENTITY_COLUMNS = {
    "id": "id",
    "@id": "id",
    "createdAt": "created_at",
    _NGSI_LD + "createdAt": "created_at",
    "modifiedAt": "modified_at",
    _NGSI_LD + "modifiedAt": "modified_at",
}
#: Members that hold an instance's value, one per attribute type (clause 4.5).
_VALUE_MEMBERS = ("value", "object", "vocab", "json", "valueList", "languageMap", "objectList")
SQL_OPS = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}

#: What a value compares as: ``number``, ``datetime``, ``text``, ``true`` or ``false``.
Kind = str


class Dialect(Protocol):
    """How one backend writes the pieces of a compiled query. ``q_i`` is the instance row,
    ``q_c`` the candidate row (``jt``: its JSON type, ``av``: its value)."""

    true: str  # the constant true condition
    false: str

    def bind(self, value: object) -> str:
        """Bind a text value; its placeholder."""

    def bind_scalar(self, kind: Kind, value: Scalar) -> str:
        """Bind a compared value of ``kind`` (number, datetime or text), as ``operand``
        compares it."""

    # -- scopeQ over ``<alias>.scopes``
    def scope_rows(self, alias: str) -> tuple[str, str]:
        """``EXISTS (SELECT 1 FROM <the scopes of alias>`` (left open) and its text column."""

    def starts_with(self, column: str, prefix: str) -> str: ...

    def whole_match(self, column: str, body: str) -> str:
        """``column`` matches the RE2 ``body`` from start to end."""

    # -- q terms
    def column_candidates(self, alias: str, column: str) -> str:
        """The candidate row of an entity column (id, createdAt, modifiedAt), as text."""

    def instance_rows(self, alias: str, attr: str) -> str:
        """``FROM`` item: the instances of ``attr`` as ``q_i`` (bound before what follows)."""

    instance_is_object: str

    def path(self, names: list[str]) -> object:
        """A path of keys inside an instance, in the dialect's bound form.

        Raises:
            BadRequestData: the backend cannot name this key.
        """

    def has_path(self, path: object) -> str: ...

    def direct_candidates(self, paths: list[object]) -> str:
        """The first of ``paths`` present: a scalar is one candidate, an array its
        elements, an object none."""

    def language_map_candidates(self, path: object) -> str: ...

    def object_list_candidates(self, path: object) -> str: ...

    no_candidates: str
    number_value_is_number: str  # the instance's ``value`` member is a JSON number
    number_value: str  # that member as a number

    def regex_test(self, pattern: str) -> str:
        """``q_c`` is text that the (checked) RE2 ``pattern`` matches."""

    def type_test(self, kind: Kind) -> str: ...

    def operand(self, kind: Kind) -> str:
        """``q_c.av`` as a value of ``kind`` compares."""

    def boolean_test(self, kind: Kind) -> str:
        """``q_c`` is the JSON literal ``kind`` (``true`` or ``false``)."""

    def guarded(self, type_test: str, test: str) -> str:
        """``test``, evaluated only when ``type_test`` holds."""

    def text_prefilter(self, alias: str, attr: str, node: Comparison) -> str | None:
        """A cheap necessary condition to test before the walk over candidates, if any."""


def compile_q(node: Node, d: Dialect, alias: str = "e") -> str:
    """A q tree as an SQL condition on the entity row ``alias``.

    Args:
        node: a tree from ``parse_q``, with names expanded (``expand_q``).
        d: the backend's dialect, holding the bound parameters.
        alias: the alias of the ``entities`` row in the enclosing query.

    Raises:
        BadRequestData: the tree asks for something that cannot be compared (a bad regular
            expression, a range of booleans, a list with an order operator, a key the backend
            cannot name).
    """
    return _logical(node, d, alias, _comparison)


def compile_scope_q(node: Node, d: Dialect, alias: str = "e") -> str:
    """A scopeQ tree as an SQL condition on ``alias.scopes`` (clause 4.19).

    ``/a/b`` matches that exact scope, ``/a/#`` the scope ``/a`` and everything below it, ``+``
    any one level, and ``/#`` any entity with at least one scope.
    """
    return _logical(node, d, alias, _scope)


def compile_type_query(node: Node, d: Dialect, alias: str = "e") -> str:
    """A type query tree as an SQL condition using ``entity_types`` (clause 4.17)."""
    return _logical(node, d, alias, _type_name)


Leaf = Callable[[Node, Dialect, str], str]


def _logical(node: Node, d: Dialect, alias: str, leaf: Leaf) -> str:
    if not alias.isidentifier():
        raise ValueError(f"not an SQL alias: {alias!r}")
    if isinstance(node, And | Or):
        if not node.items:
            return d.true if isinstance(node, And) else d.false
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(_logical(item, d, alias, leaf) for item in node.items) + ")"
    return leaf(node, d, alias)


def _type_name(node: Node, d: Dialect, alias: str) -> str:
    if not isinstance(node, TypeName):
        raise TypeError(f"not a type query node: {node!r}")
    return (
        "EXISTS (SELECT 1 FROM entity_types AS q_t WHERE q_t.tenant = "
        f"{alias}.tenant AND q_t.id = {alias}.id AND q_t.type = {d.bind(node.name)})"
    )


def _scope(node: Node, d: Dialect, alias: str) -> str:
    if not isinstance(node, ScopeQuery):
        raise TypeError(f"not a scopeQ node: {node!r}")
    levels = check_scope_pattern(node.pattern)
    each, column = d.scope_rows(alias)
    if levels == ["#"]:
        return each + ")"
    if "+" not in levels and "#" not in levels:
        return each + f" WHERE {column} = {d.bind(node.pattern)})"
    if "+" not in levels:
        prefix = node.pattern[:-2]
        return (
            each + f" WHERE {column} = {d.bind(prefix)} OR {d.starts_with(column, prefix + '/')})"
        )
    tail = r"(?:/.*)?" if levels[-1] == "#" else ""
    body = "".join("/[^/]+" if lv == "+" else "/" + regex.escape(lv) for lv in levels if lv != "#")
    return each + f" WHERE {d.whole_match(column, body + tail)})"


# -- q ------------------------------------------------------------------------------------------


def _comparison(node: Node, d: Dialect, alias: str) -> str:
    if not isinstance(node, Comparison):
        raise TypeError(f"not a q node: {node!r}")
    if node.op == ABSENT:  # "!attr": the negation of "attr exists"
        if node.value is not None:
            raise BadRequestData("q: '!' takes no value")
        return f"NOT {_comparison(Comparison(node.path), d, alias)}"
    check_comparison(node)
    path = node.path
    column = ENTITY_COLUMNS.get(path.attr)
    if column is not None:
        if path.sub or path.compound:
            raise BadRequestData(f"q: {path.attr} is an entity member and has no sub-paths")
        if node.op is None:
            return d.true
        return _apply(node, d, lambda: d.column_candidates(alias, column), lambda: d.true)
    rows = d.instance_rows(alias, path.attr)
    target = _Target(path, d)
    text = _may_match_text(node)
    fast = _numeric_fast_path(node, d)
    inner = _apply(node, d, lambda: target.candidates(text), target.exists)
    if fast:
        # most values are plain numbers: test them directly and walk the general candidate
        # set only for other shapes (arrays, typed values, json, valueList); same results
        inner = f"(CASE WHEN {d.number_value_is_number} THEN {fast} ELSE {inner} END)"
    found = f"EXISTS (SELECT 1 FROM {rows} WHERE {d.instance_is_object} AND {inner})"
    held = d.text_prefilter(alias, path.attr, node)
    return found if held is None else f"({held} AND {found})"


def _numeric_fast_path(node: Comparison, d: Dialect) -> str:
    """The direct test on a numeric ``value`` member for ``attr OP number`` (else "")."""
    path, value, op = node.path, node.value, node.op
    if path.sub or path.compound or op not in SQL_OPS:
        return ""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f"{d.number_value} {SQL_OPS[op]} {d.bind_scalar('number', value)}"


def _may_match_text(node: Comparison) -> bool:
    """Whether the term's test can hold for a text candidate (regex, text or date-time)."""
    if node.op in ("~=", "!~="):
        return True
    value = node.value
    items: tuple[object, ...]
    if isinstance(value, ValueList):
        items = tuple(value.items)
    elif isinstance(value, Range):
        items = (value.low, value.high)
    else:
        items = (value,)
    return any(not isinstance(i, bool | int | float) for i in items)


Fragment = Callable[[], str]


def _apply(node: Comparison, d: Dialect, candidates: Fragment, exists: Fragment) -> str:
    """The condition for one term, given SQL builders for its candidates and its existence."""
    op = node.op
    if op is None:
        return exists()
    negated = op in ("!=", "!~=")
    prefix = f"{exists()} AND NOT " if negated else ""
    rows = candidates()
    if op in ("~=", "!~="):
        assert isinstance(node.value, str)
        test = d.regex_test(str(node.value))
    else:
        assert node.value is not None
        test = _value_test("==" if op == "!=" else op, node.value, d)
    return f"({prefix}EXISTS (SELECT 1 FROM ({rows}) AS q_c WHERE {test}))"


class _Target:
    """Where a path's compared values live inside one instance (``q_i``), as bound paths."""

    def __init__(self, path: AttrPath, d: Dialect) -> None:
        self.d = d
        subs = list(path.sub)
        member = subs.pop() if subs and subs[-1] in MEMBER_NAMES else None
        for name in subs:
            if name in MEMBER_NAMES:
                raise BadRequestData(f"q: in {path}, {name} can only be the last name of the path")
        keys = list(path.compound)
        self.direct: list[object] = []  # paths whose value (scalar or array) is compared
        self.language_map: object | None = None  # a languageMap: every string compared
        self.object_list: object | None = None  # an objectList: every object compared
        members: tuple[str, ...] = _VALUE_MEMBERS
        if member in _VALUE_MEMBERS:
            members = (member,)
        elif member is not None:  # observedAt, unitCode, datasetId, ...
            members = ()
            self.direct.append(d.path([*subs, member, *keys]))
        for name in members:
            at = [*subs, name]
            if name == "languageMap" and not keys:
                self.language_map = d.path(at)
            elif name == "objectList":
                self.object_list = None if keys else d.path(at)  # its objects have no keys
            else:
                if name == "value" and not keys:  # a JSON-LD typed value: {"@value": ...}
                    self.direct.append(d.path([*at, "@value"]))
                self.direct.append(d.path([*at, *keys]))

    def exists(self) -> str:
        paths = [*self.direct, *(p for p in (self.language_map, self.object_list) if p)]
        if not paths:
            return self.d.false
        return "(" + " OR ".join(self.d.has_path(p) for p in paths) + ")"

    def candidates(self, text: bool = True) -> str:
        """``text=False`` leaves out languageMap and objectList, whose candidates are always
        text and so can never satisfy a numeric or boolean test (a cheaper, equal query)."""
        selects: list[str] = []
        if self.direct:
            selects.append(self.d.direct_candidates(self.direct))
        if self.language_map is not None and text:
            selects.append(self.d.language_map_candidates(self.language_map))
        if self.object_list is not None and text:
            selects.append(self.d.object_list_candidates(self.object_list))
        return " UNION ALL ".join(selects) if selects else self.d.no_candidates


def _value_test(op: str, value: Value, d: Dialect) -> str:
    """A condition on the candidate row ``q_c``."""
    if isinstance(value, ValueList):
        return "(" + " OR ".join(_value_test("==", item, d) for item in value.items) + ")"
    if isinstance(value, Range):
        kind = _kind(value.low)
        if kind != _kind(value.high) or kind in ("true", "false"):
            raise BadRequestData("q: a range needs two values of the same kind")
        type_test = d.type_test(kind)
        low, high = d.bind_scalar(kind, value.low), d.bind_scalar(kind, value.high)
        return d.guarded(type_test, f"{d.operand(kind)} BETWEEN {low} AND {high}")
    kind = _kind(value)
    if kind in ("true", "false"):
        return d.boolean_test(kind)
    type_test = d.type_test(kind)
    return d.guarded(type_test, f"{d.operand(kind)} {SQL_OPS[op]} {d.bind_scalar(kind, value)}")


def _kind(value: Scalar) -> Kind:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, DateTimeValue):
        return "datetime"
    if isinstance(value, str):
        return "text"
    raise BadRequestData(f"q: {value!r} is not a value q can compare")


__all__ = [
    "ENTITY_COLUMNS",
    "SQL_OPS",
    "Dialect",
    "Kind",
    "compile_q",
    "compile_scope_q",
    "compile_type_query",
]
