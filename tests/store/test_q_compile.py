"""q, scopeQ and type queries compiled to SQLite and run on a dozen entities (clauses 4.9, 4.17,
4.19), on exactly the store's schema."""

from __future__ import annotations

import json
import sqlite3
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.query import expand_q, expand_types, parse_q, parse_scope_q, parse_type_query
from cityhub.ngsild.query.ast import AttrPath, Comparison, Node, Range, ScopeQuery, TypeName
from cityhub.store.sqlite.compile import (
    compile_q,
    compile_scope_q,
    compile_type_query,
    register_functions,
)
from tests.store.q_cases import (
    COMPARISON_CASES,
    COMPOUND_CASES,
    DATETIME_MEMBER_CASES,
    ENTITIES,
    ETSI_CASES,
    EX,
    INJECTION_CASES,
    LOGICAL_CASES,
    PATH_CASES,
    RANGE_AND_LIST_CASES,
    REGEX_CASES,
    SCOPE_CASES,
    TYPE_CASES,
    expand,
)

SCHEMA = """
CREATE TABLE entities (
  tenant TEXT NOT NULL, id TEXT NOT NULL,
  types TEXT NOT NULL,
  scopes TEXT,
  created_at TEXT NOT NULL, modified_at TEXT NOT NULL,
  attrs TEXT NOT NULL,
  PRIMARY KEY (tenant, id));
CREATE TABLE entity_types (tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (tenant, type, id));
"""


@cache
def database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    register_functions(conn)
    conn.executescript(SCHEMA)
    for number, (types, scopes, attrs) in ENTITIES.items():
        eid = f"urn:E:{number}"
        stamp = f"2024-01-{number:02d}T00:00:00.000000Z"
        conn.execute(
            "INSERT INTO entities (tenant, id, types, scopes, created_at, modified_at, attrs) "
            "VALUES ('t', ?, ?, ?, ?, ?, ?)",
            (
                eid,
                json.dumps([EX + t for t in types]),
                json.dumps(scopes) if scopes else None,
                stamp,
                stamp,
                json.dumps({expand(name): value for name, value in attrs.items()}),
            ),
        )
        for t in types:
            conn.execute("INSERT INTO entity_types VALUES ('t', ?, ?)", (EX + t, eid))
    # a tenant of its own, to check that type queries stay in the row's tenant
    conn.execute(
        "INSERT INTO entities (tenant, id, types, scopes, created_at, modified_at, attrs) "
        "VALUES ('other', 'urn:E:1', '[]', NULL, 'x', 'x', '{}')",
    )
    return conn


def select(where: str, params: list[object]) -> set[int]:
    sql = f"SELECT id FROM entities AS e WHERE e.tenant = 't' AND {where}"
    return {int(row[0].rsplit(":", 1)[1]) for row in database().execute(sql, params)}


def q_ids(text: str) -> set[int]:
    params: list[object] = []
    return select(compile_q(expand_q(parse_q(text), expand), params), params)


def run(cases: list[tuple[str, set[int]]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("q", "expected"), cases, ids=[c[0] for c in cases])


# -- clause 4.9: the ETSI suite's q expressions, on the ETSI buildings (019_07, 019_09) -----------


@run(ETSI_CASES)
def test_etsi_queries(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: comparisons; numbers only with numbers, strings only with strings ----------------


@run(COMPARISON_CASES)
def test_comparisons(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: ranges (inclusive) and value lists -----------------------------------------------


@run(RANGE_AND_LIST_CASES)
def test_ranges_and_lists(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: regular expressions --------------------------------------------------------------


@run(REGEX_CASES)
def test_regular_expressions(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


def test_a_bad_regular_expression_is_refused_when_compiling() -> None:
    tree = Comparison(AttrPath(EX + "name"), "~=", "(unclosed")
    with pytest.raises(BadRequestData, match="invalid regular expression"):
        compile_q(tree, [])


def test_the_regexp_function_never_raises() -> None:
    conn = database()
    assert conn.execute("SELECT ngsild_q_regexp('(', 'x')").fetchone() == (0,)
    assert conn.execute("SELECT ngsild_q_regexp('a', 5)").fetchone() == (0,)
    assert conn.execute("SELECT ngsild_q_regexp(NULL, 'a')").fetchone() == (0,)
    assert conn.execute("SELECT ngsild_q_datetime('nope'), ngsild_q_datetime(3)").fetchone() == (
        None,
        None,
    )


# -- clause 4.9: dot paths into members and sub-attributes; several instances (datasetId) --------


@run(PATH_CASES)
def test_paths(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: compound values ([key]), arrays, relationships, languageMaps ---------------------


@run(COMPOUND_CASES)
def test_compound_values_and_attribute_kinds(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: date-times compare in UTC; existence; entity members -----------------------------


@run(DATETIME_MEMBER_CASES)
def test_datetimes_existence_and_entity_members(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: logical operators -----------------------------------------------------------------


@run(LOGICAL_CASES)
def test_logical_operators(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- injection: query text only ever reaches SQLite as bound parameters ----------------------------


@run(INJECTION_CASES)
def test_injection_attempts_match_nothing_harmful(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected
    assert database().execute("SELECT count(*) FROM entities").fetchone() == (13,)


def test_a_quote_in_a_name_is_refused_by_the_parser_and_harmless_in_sql() -> None:
    with pytest.raises(BadRequestData, match='unexpected "\'"'):
        parse_q("it's==1")  # clause 4.6.2 forbids ' in names
    params: list[object] = []
    tree = Comparison(AttrPath(EX + "it's"), "==", "quote")
    assert select(compile_q(tree, params), params) == {10}


def test_no_query_text_is_written_into_the_sql() -> None:
    params: list[object] = []
    sql = compile_q(
        expand_q(parse_q('evil_attr[evil_key]=="evil_value";b~=evil_rx'), expand), params
    )
    assert "evil" not in sql
    assert "'" not in sql.replace("'object'", "").replace("'text'", "").replace(
        "'integer', 'real'", ""
    ).replace("'$.object'", "")
    assert sql.count("?") == len(params)


@pytest.mark.parametrize("name", ['a"b', "a\\b", "a\nb"])
def test_names_json_paths_cannot_hold_are_refused(name: str) -> None:
    with pytest.raises(BadRequestData, match="cannot be queried"):
        compile_q(Comparison(AttrPath(name)), [])
    with pytest.raises(BadRequestData, match="cannot be queried"):
        compile_q(Comparison(AttrPath("a", (), (name,))), [])


def test_trees_the_parser_would_refuse_are_refused_by_the_compiler_too() -> None:
    for tree in [
        Comparison(AttrPath("a"), ">", True),
        Comparison(AttrPath("a"), ">", Range(1, 2)),
        Comparison(AttrPath("a"), "==", Range(1, "z")),
        Comparison(AttrPath("a"), "=", 1),
        Comparison(AttrPath("a"), "==", None),
        Comparison(AttrPath("a", ("observedAt", "b"))),
        Comparison(AttrPath("createdAt", ("b",))),
    ]:
        with pytest.raises(BadRequestData):
            compile_q(tree, [])


# -- clause 4.19: scopeQ (the ETSI suite's 019_01_06 cases first) ----------------------------------


@pytest.mark.parametrize(("scope_q", "expected"), SCOPE_CASES)
def test_scope_queries(scope_q: str, expected: set[int]) -> None:
    params: list[object] = []
    assert select(compile_scope_q(parse_scope_q(scope_q), params), params) == expected


def test_an_invalid_scope_tree_is_refused() -> None:
    with pytest.raises(BadRequestData, match="a scope starts with '/'"):
        compile_scope_q(ScopeQuery("Madrid"), [])


# -- clause 4.17: type queries ---------------------------------------------------------------------


@pytest.mark.parametrize(("type_q", "expected"), TYPE_CASES)
def test_type_queries(type_q: str, expected: set[int]) -> None:
    params: list[object] = []
    tree = expand_types(parse_type_query(type_q), expand)
    assert select(compile_type_query(tree, params), params) == expected


def test_type_queries_stay_in_the_rows_tenant() -> None:
    params: list[object] = []
    where = compile_type_query(TypeName(EX + "Building"), params)
    rows = database().execute(f"SELECT tenant, id FROM entities AS e WHERE {where}", params)
    assert ("other", "urn:E:1") not in set(rows)


def test_another_alias() -> None:
    params: list[object] = []
    where = compile_q(parse_q(f"{EX}name==5"), params, alias="row")
    found = database().execute(f"SELECT id FROM entities AS row WHERE {where}", params)
    assert [r[0] for r in found] == ["urn:E:12"]


# -- robustness: whatever parses also compiles and runs ------------------------------------------

_Q_ALPHABET = 'abn.[]()";|=!<>~,019:/#-TZe '


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_Q_ALPHABET, max_size=30))
def test_any_parsed_q_compiles_and_runs(text: str) -> None:
    try:
        tree: Node = expand_q(parse_q(text), expand)
        params: list[object] = []
        select(compile_q(tree, params), params)
    except BadRequestData:
        pass


def test_the_largest_query_the_parser_accepts_runs() -> None:
    text = "(" * 32 + "|".join(f"speed.datasetId==urn:ds:{i}" for i in range(200)) + ")" * 32
    assert q_ids(text) == set()
