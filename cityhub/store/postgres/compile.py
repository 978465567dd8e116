"""Query trees to PostgreSQL: q (clause 4.9), scopeQ (4.19) and type queries (4.17).

The same semantics as ``cityhub.store.sqlite.compile``, over JSONB. Each ``compile_*`` function
returns a boolean SQL expression over one row of ``entities`` (alias ``e`` by default) and binds
its values through a shared :class:`~cityhub.store.postgres.params.Params`; nothing from a query
is written into the SQL text (values, JSON paths and regular expressions are all parameters).
Internal aliases start with ``q_``.

How a q term reads an entity (``attrs`` maps attribute IRIs to arrays of instances)::

    EXISTS (SELECT 1 FROM jsonb_array_elements(e.attrs -> $1) AS q_i(v)       -- any instance
            WHERE ... EXISTS (SELECT 1 FROM (<candidates>) AS q_c             -- any target value
                              WHERE CASE WHEN q_c.jt = 'number' THEN q_c.av::numeric > $2 ...))

The candidates are (JSON type, JSONB value) rows: the target itself when it is a scalar, its
elements when it is an array, every string of a languageMap, every object of an objectList.
Casts sit inside ``CASE`` so that a value of another JSON type is never cast (PostgreSQL does
not promise to evaluate ``AND`` left to right). Text compares byte-wise (``COLLATE "C"``), as
SQLite does; date-times compare as instants (``ngsild_datetime``, migration 1).

Regular expressions (``~=``, and the idPattern of a query) are checked with RE2 when they come
in (``cityhub.ngsild.regex``) and run as PostgreSQL regular expressions (POSIX ARE), rewritten
by ``cityhub.store.postgres.regex`` so that they match what RE2 matches; what PostgreSQL cannot
run (``\\pL``, flags inside the pattern) is refused with 400 when the query runs.
"""

from __future__ import annotations

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
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.regex import to_postgres

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


def compile_q(node: Node, params: Params, alias: str = "e") -> str:
    """A q tree as an SQL condition on the entity row ``alias``.

    Args:
        node: a tree from ``parse_q``, with names expanded (``expand_q``).
        params: receives the bound parameters.
        alias: the alias of the ``entities`` row in the enclosing query.

    Raises:
        BadRequestData: the tree asks for something that cannot be compared (a bad regular
            expression, a range of booleans, a list with an order operator).
    """
    return _logical(node, params, alias, _comparison)


def compile_scope_q(node: Node, params: Params, alias: str = "e") -> str:
    """A scopeQ tree as an SQL condition on ``alias.scopes`` (clause 4.19)."""
    return _logical(node, params, alias, _scope)


def compile_type_query(node: Node, params: Params, alias: str = "e") -> str:
    """A type query tree as an SQL condition using ``entity_types`` (clause 4.17)."""
    return _logical(node, params, alias, _type_name)


Leaf = Callable[[Node, Params, str], str]


def _logical(node: Node, params: Params, alias: str, leaf: Leaf) -> str:
    if not alias.isidentifier():
        raise ValueError(f"not an SQL alias: {alias!r}")
    if isinstance(node, And | Or):
        if not node.items:
            return "TRUE" if isinstance(node, And) else "FALSE"
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(_logical(item, params, alias, leaf) for item in node.items) + ")"
    return leaf(node, params, alias)


def json_array(expr: str) -> str:
    """``expr`` when it is a JSON array, else an empty one (so element functions never fail)."""
    return f"(CASE WHEN jsonb_typeof({expr}) = 'array' THEN {expr} ELSE '[]'::jsonb END)"


def _type_name(node: Node, params: Params, alias: str) -> str:
    if not isinstance(node, TypeName):
        raise TypeError(f"not a type query node: {node!r}")
    return (
        "EXISTS (SELECT 1 FROM entity_types AS q_t WHERE q_t.tenant = "
        f"{alias}.tenant AND q_t.id = {alias}.id AND q_t.type = {params.add(node.name)})"
    )


def _scope(node: Node, params: Params, alias: str) -> str:
    if not isinstance(node, ScopeQuery):
        raise TypeError(f"not a scopeQ node: {node!r}")
    levels = check_scope_pattern(node.pattern)
    each = (
        f"EXISTS (SELECT 1 FROM jsonb_array_elements_text({json_array(alias + '.scopes')}) q_s(s)"
    )
    if levels == ["#"]:
        return each + ")"
    if "+" not in levels and "#" not in levels:
        return each + f" WHERE q_s.s = {params.add(node.pattern)})"
    if "+" not in levels:
        prefix = node.pattern[:-2]
        return (
            each + f" WHERE q_s.s = {params.add(prefix)}"
            f" OR starts_with(q_s.s, {params.add(prefix + '/')}))"
        )
    tail = "(?:/.*)?" if levels[-1] == "#" else ""
    body = "".join("/[^/]+" if lv == "+" else "/" + regex.escape(lv) for lv in levels if lv != "#")
    return each + f" WHERE q_s.s ~ {params.add(f'^{body}{tail}$')})"


# -- q ------------------------------------------------------------------------------------------

Fragment = Callable[[Params], str]
_NO_CANDIDATES = "SELECT NULL::text AS jt, NULL::jsonb AS av"


def _comparison(node: Node, params: Params, alias: str) -> str:
    if not isinstance(node, Comparison):
        raise TypeError(f"not a q node: {node!r}")
    _check_value(node)
    path = node.path
    column = _ENTITY_COLUMNS.get(path.attr)
    if column is not None:
        if path.sub or path.compound:
            raise BadRequestData(f"q: {path.attr} is an entity member and has no sub-paths")
        if node.op is None:
            return "TRUE"

        def entity_candidates(p: Params) -> str:
            return f"SELECT 'string'::text AS jt, to_jsonb({alias}.{column}) AS av"

        return _apply(node, params, entity_candidates, lambda p: "TRUE")
    instances = json_array(f"{alias}.attrs -> {params.add(path.attr)}")
    target = _Target(path)
    text = _may_match_text(node)
    inner = _apply(node, params, lambda p: target.candidates(p, text), target.exists)
    fast = _numeric_fast_path(node, params)
    if fast:
        # most values are plain numbers: test them directly and walk the general candidate
        # set only for other shapes (arrays, typed values, json, valueList); same results
        inner = (
            f"(CASE WHEN jsonb_typeof(q_i.v -> 'value') = 'number' THEN {fast} ELSE {inner} END)"
        )
    found = (
        f"EXISTS (SELECT 1 FROM jsonb_array_elements({instances}) AS q_i(v) "
        f"WHERE jsonb_typeof(q_i.v) = 'object' AND {inner})"
    )
    literal = _text_literal(node)
    if literal is None:
        return found
    # a necessary condition, cheap enough for the planner to test first: the attribute's JSON
    # holds the string (as a value, an array element, an @value, a languageMap entry or an
    # object); most rows fail it and never reach the walk over candidates
    held = f"strpos(({alias}.attrs -> {params.add(path.attr)})::text, {params.add(literal)}) > 0"
    return f"({held} AND {found})"


def _text_literal(node: Comparison) -> str | None:
    """For ``attr=="text"``: the string as it appears in PostgreSQL's JSON text output, when
    that is certain (no quote, backslash or control character, which are escaped, and not an
    unquoted date-time, which compares as an instant); else None."""
    value = node.value
    if node.op != "==" or not isinstance(value, str) or isinstance(value, DateTimeValue):
        return None
    if '"' in value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return None
    return f'"{value}"'


def _numeric_fast_path(node: Comparison, params: Params) -> str:
    """The direct test on a numeric ``value`` member for ``attr OP number`` (else "")."""
    path, value, op = node.path, node.value, node.op
    if path.sub or path.compound or op not in _SQL_OPS:
        return ""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f"(q_i.v -> 'value')::numeric {_SQL_OPS[op]} {params.add(_bound(value), 'numeric')}"


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


def _apply(node: Comparison, params: Params, candidates: Fragment, exists: Fragment) -> str:
    """The condition for one term, given SQL builders for its candidates and its existence."""
    op = node.op
    if op is None:
        return exists(params)
    negated = op in ("!=", "!~=")
    prefix = f"{exists(params)} AND NOT " if negated else ""
    rows = candidates(params)
    if op in ("~=", "!~="):
        assert isinstance(node.value, str)
        pattern = params.add(to_postgres(str(node.value)))
        test = f"(CASE WHEN q_c.jt = 'string' THEN (q_c.av #>> '{{}}') ~ {pattern} ELSE FALSE END)"
    else:
        assert node.value is not None
        test = _value_test("==" if op == "!=" else op, node.value, params)
    return f"({prefix}EXISTS (SELECT 1 FROM ({rows}) AS q_c WHERE {test}))"


class _Target:
    """Where a path's compared values live inside one instance (``q_i.v``), as key paths."""

    def __init__(self, path: AttrPath) -> None:
        subs = list(path.sub)
        member = subs.pop() if subs and subs[-1] in MEMBER_NAMES else None
        for name in subs:
            if name in MEMBER_NAMES:
                raise BadRequestData(f"q: in {path}, {name} can only be the last name of the path")
        keys = list(path.compound)
        self.direct: list[list[str]] = []  # paths whose value (scalar or array) is compared
        self.language_map: list[str] | None = None  # a languageMap: every string compared
        self.object_list: list[str] | None = None  # an objectList: every object compared
        members: tuple[str, ...] = _VALUE_MEMBERS
        if member in _VALUE_MEMBERS:
            members = (member,)
        elif member is not None:  # observedAt, unitCode, datasetId, ...
            members = ()
            self.direct.append([*subs, member, *keys])
        for name in members:
            at = [*subs, name]
            if name == "languageMap" and not keys:
                self.language_map = at
            elif name == "objectList":
                self.object_list = None if keys else at  # its objects have no keys
            else:
                if name == "value" and not keys:  # a JSON-LD typed value: {"@value": ...}
                    self.direct.append([*at, "@value"])
                self.direct.append([*at, *keys])

    def exists(self, params: Params) -> str:
        paths = [*self.direct, *filter(None, (self.language_map, self.object_list))]
        if not paths:
            return "FALSE"
        tests = (f"(q_i.v #> {params.add(p, 'text[]')}) IS NOT NULL" for p in paths)
        return "(" + " OR ".join(tests) + ")"

    def candidates(self, params: Params, text: bool = True) -> str:
        """``text=False`` leaves out languageMap and objectList, whose candidates are always
        text and so can never satisfy a numeric or boolean test (a cheaper, equal query)."""
        selects: list[str] = []
        if self.direct:
            found = ", ".join(f"q_i.v #> {params.add(p, 'text[]')}" for p in self.direct)
            # a scalar is one candidate, an array gives its elements, an object none
            selects.append(
                "SELECT jsonb_typeof(q_a.x) AS jt, q_a.x AS av "
                f"FROM (SELECT COALESCE({found}) AS t) AS q_v, jsonb_array_elements("
                "CASE jsonb_typeof(q_v.t) WHEN 'array' THEN q_v.t WHEN 'object' THEN '[]'::jsonb "
                "ELSE jsonb_build_array(q_v.t) END) AS q_a(x) WHERE q_v.t IS NOT NULL"
            )
        if self.language_map is not None and text:
            at = params.add(self.language_map, "text[]")
            selects.append(
                "SELECT 'string'::text, q_l.x FROM jsonb_path_query("
                f"q_i.v #> {at}, 'strict $.**') AS q_l(x) WHERE jsonb_typeof(q_l.x) = 'string'"
            )
        if self.object_list is not None and text:
            at = params.add(self.object_list, "text[]")
            selects.append(
                "SELECT 'string'::text, to_jsonb(q_o.x ->> 'object') FROM jsonb_array_elements("
                f"{json_array(f'q_i.v #> {at}')}) AS q_o(x) WHERE jsonb_typeof(q_o.x) = 'object'"
            )
        return " UNION ALL ".join(selects) if selects else _NO_CANDIDATES


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


def _value_test(op: str, value: Value, params: Params) -> str:
    """A condition on the candidate row ``q_c`` (its JSON type ``jt`` and value ``av``)."""
    if isinstance(value, ValueList):
        return "(" + " OR ".join(_value_test("==", item, params) for item in value.items) + ")"
    if isinstance(value, Range):
        kind = _kind(value.low)
        if kind != _kind(value.high) or kind in ("true", "false"):
            raise BadRequestData("q: a range needs two values of the same kind")
        low, high = (
            _operand_param(kind, value.low, params),
            _operand_param(kind, value.high, params),
        )
        return (
            f"(CASE WHEN {_type_test(kind)} THEN {_operand(kind)} BETWEEN {low} AND {high} "
            "ELSE FALSE END)"
        )
    kind = _kind(value)
    if kind in ("true", "false"):
        return f"(q_c.jt = 'boolean' AND q_c.av = '{kind}'::jsonb)"  # one of two literals
    bound = _operand_param(kind, value, params)
    test = f"{_operand(kind)} {_SQL_OPS[op]} {bound}"
    return f"(CASE WHEN {_type_test(kind)} THEN {test} ELSE FALSE END)"


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
    return "q_c.jt = 'number'" if kind == "number" else "q_c.jt = 'string'"


def _operand(kind: str) -> str:
    if kind == "number":
        return "(q_c.av)::numeric"
    if kind == "datetime":  # one instant, whatever offset either side was written in
        return "ngsild_datetime(q_c.av #>> '{}')"
    return "(q_c.av #>> '{}') COLLATE \"C\""


def _operand_param(kind: str, value: Scalar, params: Params) -> str:
    if kind == "number":
        return params.add(_bound(value), "numeric")
    if kind == "datetime":
        return f"ngsild_datetime({params.add(_bound(value))})"
    return params.add(_bound(value))


def _bound(value: Scalar) -> object:
    if isinstance(value, DateTimeValue):
        canonical = canonical_datetime(value)
        if canonical is None:
            raise BadRequestData(f"q: {value!r} is not a valid date-time")
        return canonical
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)  # numeric from its decimal text: exact for any int, repr for floats
    return str(value)  # plain str, whatever subclass the parser used


__all__ = ["compile_q", "compile_scope_q", "compile_type_query", "json_array"]
