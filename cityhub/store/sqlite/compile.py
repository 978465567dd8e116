"""Query trees to SQLite: q (clause 4.9), scopeQ (4.19) and type queries (4.17), by the shared
walk of ``cityhub.store.qsql`` with the SQLite dialect below (JSON text read with ``json_each``,
``json_tree`` and ``->``; JSON paths, values and regular expressions bound as ``?``).

Each ``compile_*`` function returns a boolean SQL expression over one row of ``entities``
(alias ``e`` by default) and appends its bound parameters to ``params`` in the order of the
``?`` marks. A candidate row ``q_c`` is (SQLite JSON type, SQL value).
"""

from __future__ import annotations

import sqlite3

from cityhub.errors import BadRequestData
from cityhub.ngsild import regex
from cityhub.ngsild.query.ast import Comparison, DateTimeValue, Node, Scalar, canonical_datetime
from cityhub.store import qsql

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
    """A q tree as an SQL condition on the entity row ``alias`` (``qsql.compile_q``);
    ``params`` receives the bound parameters, in order."""
    return qsql.compile_q(node, SqliteDialect(params), alias)


def compile_scope_q(node: Node, params: list[object], alias: str = "e") -> str:
    """A scopeQ tree as an SQL condition on ``alias.scopes`` (clause 4.19)."""
    return qsql.compile_scope_q(node, SqliteDialect(params), alias)


def compile_type_query(node: Node, params: list[object], alias: str = "e") -> str:
    """A type query tree as an SQL condition using ``entity_types`` (clause 4.17)."""
    return qsql.compile_type_query(node, SqliteDialect(params), alias)


class SqliteDialect:
    """``qsql.Dialect`` for SQLite: binds by appending to ``params`` (``?`` marks)."""

    true = "(1)"
    false = "(0)"
    instance_is_object = "q_i.type = 'object'"
    no_candidates = "SELECT NULL AS jt, NULL AS av"
    number_value_is_number = "json_type(q_i.value, '$.value') IN ('integer', 'real')"
    number_value = "json_extract(q_i.value, '$.value')"

    def __init__(self, params: list[object]) -> None:
        self.params = params

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def bind_scalar(self, kind: qsql.Kind, value: Scalar) -> str:
        return self.bind(_bound(value))

    def scope_rows(self, alias: str) -> tuple[str, str]:
        return f"EXISTS (SELECT 1 FROM json_each({alias}.scopes) AS q_s", "q_s.value"

    def starts_with(self, column: str, prefix: str) -> str:
        return f"substr({column}, 1, {self.bind(len(prefix))}) = {self.bind(prefix)}"

    def whole_match(self, column: str, body: str) -> str:
        pattern = rf"\A{body}\z"
        return f"{_REGEXP}({self.bind(pattern)}, {column})"

    def column_candidates(self, alias: str, column: str) -> str:
        return f"SELECT 'text' AS jt, {alias}.{column} AS av"

    def instance_rows(self, alias: str, attr: str) -> str:
        return f"json_each({alias}.attrs, {self.bind('$' + _key(attr))}) AS q_i"

    def path(self, names: list[str]) -> object:
        return "$" + "".join(_key(name) for name in names)

    def has_path(self, path: object) -> str:
        return f"json_type(q_i.value, {self.bind(path)}) IS NOT NULL"

    def direct_candidates(self, paths: list[object]) -> str:
        found = ", ".join(f"q_i.value -> {self.bind(p)}" for p in paths)
        return (
            f"SELECT q_a.type AS jt, q_a.atom AS av FROM (SELECT COALESCE({found}, NULL) AS t)"
            " AS q_v, json_each(q_v.t) AS q_a WHERE json_type(q_v.t) <> 'object'"
        )

    def language_map_candidates(self, path: object) -> str:
        return (
            "SELECT q_l.type AS jt, q_l.atom AS av FROM json_tree(q_i.value, "
            f"{self.bind(path)}) AS q_l WHERE q_l.type = 'text'"
        )

    def object_list_candidates(self, path: object) -> str:
        return (
            "SELECT 'text' AS jt, q_o.value ->> '$.object' AS av FROM json_each(q_i.value, "
            f"{self.bind(path)}) AS q_o WHERE q_o.type = 'object'"
        )

    def regex_test(self, pattern: str) -> str:
        return f"q_c.jt = 'text' AND {_REGEXP}({self.bind(pattern)}, q_c.av)"

    def type_test(self, kind: qsql.Kind) -> str:
        return "q_c.jt IN ('integer', 'real')" if kind == "number" else "q_c.jt = 'text'"

    def operand(self, kind: qsql.Kind) -> str:
        # date-times compare in one canonical UTC form, whatever offset either side had
        return f"{_DATETIME}(q_c.av)" if kind == "datetime" else "q_c.av"

    def boolean_test(self, kind: qsql.Kind) -> str:
        return f"q_c.jt = '{kind}'"  # kind is one of two literals, never query text

    def guarded(self, type_test: str, test: str) -> str:
        return f"({type_test} AND {test})"

    def text_prefilter(self, alias: str, attr: str, node: Comparison) -> str | None:
        return None  # the q index (qindex.py) answers equality terms before this runs


def _key(name: str) -> str:
    """One step of a JSON path, for a name SQLite can address (it has no escapes in paths)."""
    if not name or any(char in '"\\' or char < " " for char in name):
        raise BadRequestData(
            f"q: the name {name!r} cannot be queried (quote, backslash or control character)"
        )
    return f'."{name}"'


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


__all__ = [
    "SqliteDialect",
    "compile_q",
    "compile_scope_q",
    "compile_type_query",
    "register_functions",
]
