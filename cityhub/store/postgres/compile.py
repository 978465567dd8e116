"""Query trees to PostgreSQL: q (clause 4.9), scopeQ (4.19) and type queries (4.17), by the
shared walk of ``cityhub.store.qsql`` with the JSONB dialect below, so the semantics are the
SQLite backend's by construction (tests/store/contract runs the same cases on both).

Values bind through a shared :class:`~cityhub.store.postgres.params.Params`. A candidate row
``q_c`` is (JSON type, JSONB value). Casts sit inside ``CASE`` so that a value of another JSON
type is never cast (PostgreSQL does not promise to evaluate ``AND`` left to right). Text
compares byte-wise (``COLLATE "C"``), as SQLite does; date-times compare as instants
(``ngsild_datetime``, migration 1).

Regular expressions (``~=``, and the idPattern of a query) are checked with RE2 when they come
in (``cityhub.ngsild.regex``) and run as PostgreSQL regular expressions (POSIX ARE), rewritten
by ``cityhub.store.postgres.regex`` so that they match what RE2 matches; what PostgreSQL cannot
run (``\\pL``, flags inside the pattern) is refused with 400 when the query runs.
"""

from __future__ import annotations

from cityhub.errors import BadRequestData
from cityhub.ngsild.query.ast import Comparison, DateTimeValue, Node, Scalar, canonical_datetime
from cityhub.store import qsql
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.regex import to_postgres


def compile_q(node: Node, params: Params, alias: str = "e") -> str:
    """A q tree as an SQL condition on the entity row ``alias`` (``qsql.compile_q``)."""
    return qsql.compile_q(node, PostgresDialect(params), alias)


def compile_scope_q(node: Node, params: Params, alias: str = "e") -> str:
    """A scopeQ tree as an SQL condition on ``alias.scopes`` (clause 4.19)."""
    return qsql.compile_scope_q(node, PostgresDialect(params), alias)


def compile_type_query(node: Node, params: Params, alias: str = "e") -> str:
    """A type query tree as an SQL condition using ``entity_types`` (clause 4.17)."""
    return qsql.compile_type_query(node, PostgresDialect(params), alias)


def json_array(expr: str) -> str:
    """``expr`` when it is a JSON array, else an empty one (so element functions never fail)."""
    return f"(CASE WHEN jsonb_typeof({expr}) = 'array' THEN {expr} ELSE '[]'::jsonb END)"


class PostgresDialect:
    """``qsql.Dialect`` for PostgreSQL's JSONB: binds through ``Params`` (``$n::cast``)."""

    true = "TRUE"
    false = "FALSE"
    instance_is_object = "jsonb_typeof(q_i.v) = 'object'"
    no_candidates = "SELECT NULL::text AS jt, NULL::jsonb AS av"
    number_value_is_number = "jsonb_typeof(q_i.v -> 'value') = 'number'"
    number_value = "(q_i.v -> 'value')::numeric"

    def __init__(self, params: Params) -> None:
        self.params = params

    def bind(self, value: object) -> str:
        return self.params.add(value)

    def bind_scalar(self, kind: qsql.Kind, value: Scalar) -> str:
        if kind == "number":
            # numeric from its decimal text: exact for any int, repr for floats
            return self.params.add(str(value), "numeric")
        if isinstance(value, DateTimeValue):
            canonical = canonical_datetime(value)
            if canonical is None:
                raise BadRequestData(f"q: {value!r} is not a valid date-time")
            return f"ngsild_datetime({self.params.add(canonical)})"
        return self.params.add(str(value))  # plain str, whatever subclass the parser used

    def scope_rows(self, alias: str) -> tuple[str, str]:
        scopes = json_array(alias + ".scopes")
        return f"EXISTS (SELECT 1 FROM jsonb_array_elements_text({scopes}) q_s(s)", "q_s.s"

    def starts_with(self, column: str, prefix: str) -> str:
        return f"starts_with({column}, {self.params.add(prefix)})"

    def whole_match(self, column: str, body: str) -> str:
        return f"{column} ~ {self.params.add(f'^{body}$')}"

    def column_candidates(self, alias: str, column: str) -> str:
        return f"SELECT 'string'::text AS jt, to_jsonb({alias}.{column}) AS av"

    def instance_rows(self, alias: str, attr: str) -> str:
        instances = json_array(f"{alias}.attrs -> {self.params.add(attr)}")
        return f"jsonb_array_elements({instances}) AS q_i(v)"

    def path(self, names: list[str]) -> object:
        return names

    def has_path(self, path: object) -> str:
        return f"(q_i.v #> {self.params.add(path, 'text[]')}) IS NOT NULL"

    def direct_candidates(self, paths: list[object]) -> str:
        found = ", ".join(f"q_i.v #> {self.params.add(p, 'text[]')}" for p in paths)
        return (
            "SELECT jsonb_typeof(q_a.x) AS jt, q_a.x AS av "
            f"FROM (SELECT COALESCE({found}) AS t) AS q_v, jsonb_array_elements("
            "CASE jsonb_typeof(q_v.t) WHEN 'array' THEN q_v.t WHEN 'object' THEN '[]'::jsonb "
            "ELSE jsonb_build_array(q_v.t) END) AS q_a(x) WHERE q_v.t IS NOT NULL"
        )

    def language_map_candidates(self, path: object) -> str:
        at = self.params.add(path, "text[]")
        return (
            "SELECT 'string'::text AS jt, q_l.x AS av FROM jsonb_path_query("
            f"q_i.v #> {at}, 'strict $.**') AS q_l(x) WHERE jsonb_typeof(q_l.x) = 'string'"
        )

    def object_list_candidates(self, path: object) -> str:
        at = self.params.add(path, "text[]")
        return (
            "SELECT 'string'::text AS jt, to_jsonb(q_o.x ->> 'object') AS av FROM "
            f"jsonb_array_elements({json_array(f'q_i.v #> {at}')}) AS q_o(x) "
            "WHERE jsonb_typeof(q_o.x) = 'object'"
        )

    def regex_test(self, pattern: str) -> str:
        bound = self.params.add(to_postgres(pattern))
        return f"(CASE WHEN q_c.jt = 'string' THEN (q_c.av #>> '{{}}') ~ {bound} ELSE FALSE END)"

    def type_test(self, kind: qsql.Kind) -> str:
        return "q_c.jt = 'number'" if kind == "number" else "q_c.jt = 'string'"

    def operand(self, kind: qsql.Kind) -> str:
        if kind == "number":
            return "(q_c.av)::numeric"
        if kind == "datetime":  # one instant, whatever offset either side was written in
            return "ngsild_datetime(q_c.av #>> '{}')"
        return "(q_c.av #>> '{}') COLLATE \"C\""

    def boolean_test(self, kind: qsql.Kind) -> str:
        return f"(q_c.jt = 'boolean' AND q_c.av = '{kind}'::jsonb)"  # one of two literals

    def guarded(self, type_test: str, test: str) -> str:
        return f"(CASE WHEN {type_test} THEN {test} ELSE FALSE END)"

    def text_prefilter(self, alias: str, attr: str, node: Comparison) -> str | None:
        """For ``attr=="text"``: the attribute's JSON holds the string (as a value, an array
        element, an @value, a languageMap entry or an object); most rows fail this cheap test
        and never reach the walk over candidates."""
        literal = _text_literal(node)
        if literal is None:
            return None
        return (
            f"strpos(({alias}.attrs -> {self.params.add(attr)})::text, "
            f"{self.params.add(literal)}) > 0"
        )


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


__all__ = ["PostgresDialect", "compile_q", "compile_scope_q", "compile_type_query", "json_array"]
