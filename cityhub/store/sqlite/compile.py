"""Query trees to SQLite: q (clause 4.9), scopeQ (4.19) and type queries (4.17).

Each ``compile_*`` function returns a boolean SQL expression over one row of ``entities`` (alias
``e`` by default) and appends its bound parameters to ``params`` in the order of the ``?`` marks.
Nothing from a query is ever written into the SQL text: values, JSON paths and regular
expressions are all parameters. Internal aliases start with ``q_``.

How a q term reads an entity (``attrs`` maps attribute IRIs to arrays of instances)::

    EXISTS (SELECT 1 FROM json_each(e.attrs, '$."<attr>"') AS q_i      -- any instance ...
            WHERE ... EXISTS (SELECT 1 FROM (<candidates>) AS q_c      -- ... any target value
                              WHERE q_c.jt = 'integer' ... AND q_c.av > ?))

The candidates are (JSON type, SQL value) rows: the target itself when it is a scalar, its
elements when it is an array, every string of a languageMap, every object of an objectList.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.query.ast import (
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
    UriValue,
    Value,
    ValueList,
    canonical_datetime,
)
from cityhub.ngsild.query.scope import check_scope_pattern

_NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
#: Entity members q may compare at the top level, and the column holding each.
_ENTITY_COLUMNS = {
    "id": "id",
    "@id": "id",
    "createdAt": "created_at",
    _NGSI_LD + "createdAt": "created_at",
    "modifiedAt": "modified_at",
    _NGSI_LD + "modifiedAt": "modified_at",
}
#: Members that hold an instance's value, one per attribute type (clause 4.5).
_VALUE_MEMBERS = ("value", "object", "vocab", "json", "valueList", "languageMap", "objectList")
_SQL_OPS = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_REGEXP = "ngsild_q_regexp"
_DATETIME = "ngsild_q_datetime"


def register_functions(conn: sqlite3.Connection) -> None:
    """Add the SQL functions compiled queries call; the store does this on every connection."""
    conn.create_function(_REGEXP, 2, _regexp, deterministic=True)
    conn.create_function(_DATETIME, 1, _datetime, deterministic=True)


def _regexp(pattern: object, text: object) -> int:
    # RE2, linear in the text (cityhub.ngsild.regex); never raises: an exception inside
    # SQLite aborts the whole statement
    return int(isinstance(pattern, str) and regex.search(pattern, text))


def _datetime(text: object) -> str | None:
    return canonical_datetime(text) if isinstance(text, str) else None


def compile_q(node: Node, params: list[object], alias: str = "e") -> str:
    """A q tree as an SQL condition on the entity row ``alias``.

    Args:
        node: a tree from ``parse_q``, with names expanded (``expand_q``).
        params: receives the bound parameters, in order.
        alias: the alias of the ``entities`` row in the enclosing query.

    Returns:
        A parenthesised boolean SQL expression.

    Raises:
        BadRequestData: the tree asks for something that cannot be compared (a bad regular
            expression, a range of booleans, a key SQLite's JSON paths cannot name).
    """
    return _logical(node, params, alias, _comparison)


def compile_scope_q(node: Node, params: list[object], alias: str = "e") -> str:
    """A scopeQ tree as an SQL condition on ``alias.scopes`` (clause 4.19).

    ``/a/b`` matches that exact scope, ``/a/#`` the scope ``/a`` and everything below it, ``+``
    any one level, and ``/#`` any entity with at least one scope.
    """
    return _logical(node, params, alias, _scope)


def compile_type_query(node: Node, params: list[object], alias: str = "e") -> str:
    """A type query tree as an SQL condition using ``entity_types`` (clause 4.17)."""
    return _logical(node, params, alias, _type_name)


Leaf = Callable[[Node, list[object], str], str]


def _logical(node: Node, params: list[object], alias: str, leaf: Leaf) -> str:
    if not alias.isidentifier():
        raise ValueError(f"not an SQL alias: {alias!r}")
    if isinstance(node, And | Or):
        if not node.items:
            return "(1)" if isinstance(node, And) else "(0)"
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(_logical(item, params, alias, leaf) for item in node.items) + ")"
    return leaf(node, params, alias)


def _type_name(node: Node, params: list[object], alias: str) -> str:
    if not isinstance(node, TypeName):
        raise TypeError(f"not a type query node: {node!r}")
    params.append(node.name)
    return (
        "EXISTS (SELECT 1 FROM entity_types AS q_t WHERE q_t.tenant = "
        f"{alias}.tenant AND q_t.id = {alias}.id AND q_t.type = ?)"
    )


def _scope(node: Node, params: list[object], alias: str) -> str:
    if not isinstance(node, ScopeQuery):
        raise TypeError(f"not a scopeQ node: {node!r}")
    levels = check_scope_pattern(node.pattern)
    each = f"EXISTS (SELECT 1 FROM json_each({alias}.scopes) AS q_s"
    if levels == ["#"]:
        return each + ")"
    if "+" not in levels and "#" not in levels:
        params.append(node.pattern)
        return each + " WHERE q_s.value = ?)"
    if "+" not in levels:
        prefix = node.pattern[:-2]
        params.extend((prefix, len(prefix) + 1, prefix + "/"))
        return each + " WHERE q_s.value = ? OR substr(q_s.value, 1, ?) = ?)"
    tail = r"(?:/.*)?" if levels[-1] == "#" else ""
    body = "".join("/[^/]+" if lv == "+" else "/" + regex.escape(lv) for lv in levels if lv != "#")
    params.append(rf"\A{body}{tail}\z")
    return each + f" WHERE {_REGEXP}(?, q_s.value))"


# -- q ------------------------------------------------------------------------------------------


def _comparison(node: Node, params: list[object], alias: str) -> str:
    if not isinstance(node, Comparison):
        raise TypeError(f"not a q node: {node!r}")
    _check_value(node)
    path = node.path
    column = _ENTITY_COLUMNS.get(path.attr)
    if column is not None:
        if path.sub or path.compound:
            raise BadRequestData(f"q: {path.attr} is an entity member and has no sub-paths")
        if node.op is None:
            return "(1)"

        def entity_candidates(p: list[object]) -> str:
            return f"SELECT 'text' AS jt, {alias}.{column} AS av"

        return _apply(node, params, entity_candidates, lambda p: "1")
    params.append("$" + _key(path.attr))
    target = _Target(path)
    text = _may_match_text(node)
    fast = _numeric_fast_path(node, params)
    inner = _apply(node, params, lambda p: target.candidates(p, text), target.exists)
    if fast:
        # most values are plain numbers: test them directly and walk the general candidate
        # set only for other shapes (arrays, typed values, json, valueList); same results
        inner = f"(CASE WHEN {_NUMBER_VALUE} THEN {fast} ELSE {inner} END)"
    return (
        f"EXISTS (SELECT 1 FROM json_each({alias}.attrs, ?) AS q_i "
        f"WHERE q_i.type = 'object' AND {inner})"
    )


Fragment = Callable[[list[object]], str]


_NUMBER_VALUE = "json_type(q_i.value, '$.value') IN ('integer', 'real')"


def _numeric_fast_path(node: Comparison, params: list[object]) -> str:
    """The direct test on a numeric ``value`` member for ``attr OP number`` (else "")."""
    path, value, op = node.path, node.value, node.op
    if path.sub or path.compound or op not in _SQL_OPS:
        return ""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    params.append(_bound(value))
    return f"json_extract(q_i.value, '$.value') {_SQL_OPS[op]} ?"


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


def _apply(node: Comparison, params: list[object], candidates: Fragment, exists: Fragment) -> str:
    """The condition for one term, given SQL builders for its candidates and its existence."""
    op = node.op
    if op is None:
        return exists(params)
    negated = op in ("!=", "!~=")
    prefix = f"{exists(params)} AND NOT " if negated else ""
    rows = candidates(params)
    if op in ("~=", "!~="):
        assert isinstance(node.value, str)
        params.append(node.value)
        test = f"q_c.jt = 'text' AND {_REGEXP}(?, q_c.av)"
    else:
        assert node.value is not None
        test = _value_test("==" if op == "!=" else op, node.value, params)
    return f"({prefix}EXISTS (SELECT 1 FROM ({rows}) AS q_c WHERE {test}))"


class _Target:
    """Where a path's compared values live inside one instance (``q_i.value``)."""

    def __init__(self, path: AttrPath) -> None:
        subs = list(path.sub)
        member = subs.pop() if subs and subs[-1] in MEMBER_NAMES else None
        for name in subs:
            if name in MEMBER_NAMES:
                raise BadRequestData(f"q: in {path}, {name} can only be the last name of the path")
        base = "$" + "".join(_key(name) for name in subs)
        keys = "".join(_key(key) for key in path.compound)
        self.direct: list[str] = []  # paths whose value (scalar or array) is compared
        self.language_map: str | None = None  # path of a languageMap, every string compared
        self.object_list: str | None = None  # path of an objectList, every object compared
        members: tuple[str, ...] = _VALUE_MEMBERS
        if member in _VALUE_MEMBERS:
            members = (member,)
        elif member is not None:  # observedAt, unitCode, datasetId, ...
            members = ()
            self.direct.append(base + _key(member) + keys)
        for name in members:
            at = base + _key(name)
            if name == "languageMap" and not keys:
                self.language_map = at
            elif name == "objectList":
                self.object_list = None if keys else at  # its objects have no keys
            else:
                if name == "value" and not keys:  # a JSON-LD typed value: {"@value": ...}
                    self.direct.append(at + _key("@value"))
                self.direct.append(at + keys)

    def exists(self, params: list[object]) -> str:
        paths = [*self.direct, *filter(None, (self.language_map, self.object_list))]
        if not paths:
            return "(0)"
        params.extend(paths)
        return "(" + " OR ".join("json_type(q_i.value, ?) IS NOT NULL" for _ in paths) + ")"

    def candidates(self, params: list[object], text: bool = True) -> str:
        """``text=False`` leaves out languageMap and objectList, whose candidates are always
        text and so can never satisfy a numeric or boolean test (a cheaper, equal query)."""
        selects: list[str] = []
        if self.direct:
            params.extend(self.direct)
            found = ", ".join("q_i.value -> ?" for _ in self.direct)
            target = f"COALESCE({found}, NULL)"
            # a scalar is one candidate, an array gives its elements, an object none
            selects.append(
                f"SELECT q_a.type AS jt, q_a.atom AS av FROM (SELECT {target} AS t) AS q_v, "
                "json_each(q_v.t) AS q_a WHERE json_type(q_v.t) <> 'object'"
            )
        if self.language_map is not None and text:
            params.append(self.language_map)
            selects.append(
                "SELECT q_l.type, q_l.atom FROM json_tree(q_i.value, ?) AS q_l "
                "WHERE q_l.type = 'text'"
            )
        if self.object_list is not None and text:
            params.append(self.object_list)
            selects.append(
                "SELECT 'text', q_o.value ->> '$.object' FROM json_each(q_i.value, ?) AS q_o "
                "WHERE q_o.type = 'object'"
            )
        return " UNION ALL ".join(selects) if selects else "SELECT NULL AS jt, NULL AS av"


def _key(name: str) -> str:
    """One step of a JSON path, for a name SQLite can address (it has no escapes in paths)."""
    if not name or any(char in '"\\' or char < " " for char in name):
        raise BadRequestData(
            f"q: the name {name!r} cannot be queried (quote, backslash or control character)"
        )
    return f'."{name}"'


def _check_value(node: Comparison) -> None:
    op, value = node.op, node.value
    if op is None:
        if value is not None:
            raise BadRequestData("q: a value needs an operator")
        return
    if op in ("~=", "!~="):
        if not isinstance(value, str):
            raise BadRequestData(f"q: {op} needs a regular expression")
        regex.compile_pattern(value, f"q ({op})")
        return
    if op not in ("==", "!=", *_SQL_OPS):
        raise BadRequestData(f"q: unknown operator {op!r}")
    if value is None:
        raise BadRequestData(f"q: {op} needs a value")
    if isinstance(value, Range | ValueList) and op not in ("==", "!="):
        raise BadRequestData(f"q: ranges and lists need == or !=, not {op}")
    if op not in ("==", "!=") and isinstance(value, bool | UriValue):
        raise BadRequestData(f"q: {value!r} can only be compared with == or !=")


def _value_test(op: str, value: Value, params: list[object]) -> str:
    """A condition on the candidate row ``q_c`` (its JSON type ``jt`` and value ``av``)."""
    if isinstance(value, ValueList):
        return "(" + " OR ".join(_value_test("==", item, params) for item in value.items) + ")"
    if isinstance(value, Range):
        kind = _kind(value.low)
        if kind != _kind(value.high) or kind in ("true", "false"):
            raise BadRequestData("q: a range needs two values of the same kind")
        target = _operand(kind)
        params.extend((_bound(value.low), _bound(value.high)))
        return f"({_type_test(kind)} AND {target} BETWEEN ? AND ?)"
    kind = _kind(value)
    if kind in ("true", "false"):
        return f"q_c.jt = '{kind}'"  # kind is one of two literals, never query text
    params.append(_bound(value))
    return f"({_type_test(kind)} AND {_operand(kind)} {_SQL_OPS[op]} ?)"


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


def _type_test(kind: str) -> str:
    return "q_c.jt IN ('integer', 'real')" if kind == "number" else "q_c.jt = 'text'"


def _operand(kind: str) -> str:
    # date-times compare in one canonical UTC form, whatever offset either side was written in
    return f"{_DATETIME}(q_c.av)" if kind == "datetime" else "q_c.av"


def _bound(value: Scalar) -> object:
    if isinstance(value, DateTimeValue):
        canonical = canonical_datetime(value)
        if canonical is None:
            raise BadRequestData(f"q: {value!r} is not a valid date-time")
        return canonical
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)  # SQLite integers have 64 bits; its JSON reads larger ones as REAL
    if isinstance(value, str):
        return str(value)  # plain str, whatever subclass the parser used
    return value


__all__ = ["compile_q", "compile_scope_q", "compile_type_query", "register_functions"]
