"""q, scopeQ and type queries compiled to SQLite and run on a dozen entities (clauses 4.9, 4.17,
4.19), on exactly the store's schema."""

from __future__ import annotations

import json
import sqlite3
from functools import cache
from typing import Any

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

EX = "https://ex.org/"
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


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def rel(obj: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj, **members}


# number -> (types, scopes, attributes by term); terms become EX + term, as an @context would
ENTITIES: dict[int, tuple[list[str], list[str] | None, dict[str, list[dict[str, Any]]]]] = {
    1: (
        ["Building"],
        ["/Madrid/Gardens/ParqueNorte"],
        {
            "name": [prop("Pisa Tower")],
            "airQualityLevel": [prop(6, unitCode="C62", observedAt="2020-10-10T16:40:00.000Z")],
            "almostFull": [prop(True)],
        },
    ),
    2: (
        ["Building"],
        None,
        {
            "name": [prop("Pisa Tower")],
            # stored with an offset: it is 16:40Z
            "airQualityLevel": [prop(7, unitCode="C62", observedAt="2023-10-10T18:40:00+02:00")],
            "almostFull": [prop(False)],
            "locatedIn": [rel("urn:ngsi-ld:City:Pisa")],
        },
    ),
    3: (
        ["Building", "Home"],
        ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"],
        {
            "name": [prop("Eiffel Tower")],
            "airQualityLevel": [prop(4, observedAt="2020-09-09T16:40:00Z")],
            "almostFull": [prop(False)],
        },
    ),
    4: (
        ["Vehicle"],
        None,
        {
            "airQualityLevel": [prop("6")],  # a string, never a number
            "speed": [
                prop(50, datasetId="urn:ds:gps"),
                prop(120, datasetId="urn:ds:radar"),
            ],
        },
    ),
    5: (
        ["Street"],
        None,
        {
            "street": [
                {
                    "type": "LanguageProperty",
                    "languageMap": {"en": "Main Street", "fr": "Rue Principale"},
                }
            ],
            "alias": [{"type": "LanguageProperty", "languageMap": {"en": ["Big Road", "Highway"]}}],
            "category": [{"type": "VocabProperty", "vocab": EX + "Commercial"}],
        },
    ),
    6: (
        ["Building"],
        ["/a_b/c%d"],
        {
            "address": [
                prop({"streetAddress": "Calle Mayor 1", "city": {"name": "Madrid", "zip": "28001"}})
            ],
            "tags": [prop(["red", "green"])],
        },
    ),
    7: (
        ["Device"],
        None,
        {
            "config": [{"type": "JsonProperty", "json": {"mode": "eco", "levels": [1, 2]}}],
            "readings": [{"type": "ListProperty", "valueList": [1.5, 2.5, 3.5]}],
        },
    ),
    8: (
        ["Vehicle"],
        None,
        {
            "neighbours": [
                {
                    "type": "ListRelationship",
                    "objectList": [{"object": "urn:A"}, {"object": "urn:B"}],
                }
            ],
            "owners": [rel(["urn:P:1", "urn:P:2"])],
        },
    ),
    9: (
        ["Device"],
        None,
        {
            "temperature": [
                prop(
                    21.5,
                    **{
                        EX + "providedBy": rel("urn:Sensor:1", **{EX + "since": prop(2019)}),
                        EX + "accuracy": prop(0.5, observedAt="2024-05-01T09:00:00Z"),
                    },
                )
            ],
            "dateObserved": [prop("2024-05-01T09:00:00Z")],
            "birth": [prop({"@type": "DateTime", "@value": "2001-02-03T04:05:06Z"})],
        },
    ),
    10: (
        ["Thing"],
        None,
        {
            "https://ex.org/v1.2/ns#level": [prop(3)],
            "note": [prop("x') OR 1=1 --")],
            "it's": [prop("quote")],
        },
    ),
    11: (["Thing"], None, {}),
    12: (
        ["Thing"],
        None,
        {
            "name": [prop(5)],
            "flag": [prop(1)],
            "empty": [prop([])],
            "almostFull": [prop("true")],
        },
    ),
}


def _expand(term: str) -> str:
    return term if ":" in term else EX + term


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
                json.dumps({_expand(name): value for name, value in attrs.items()}),
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
    return select(compile_q(expand_q(parse_q(text), _expand), params), params)


def run(cases: list[tuple[str, set[int]]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("q", "expected"), cases, ids=[c[0] for c in cases])


# -- clause 4.9: the ETSI suite's q expressions, on the ETSI buildings (019_07, 019_09) -----------


@run(
    [
        ("airQualityLevel==6", {1}),
        ('name=="Eiffel Tower"', {3}),
        ('name=="Pisa Tower";almostFull==false', {2}),
        ('name=="Pisa Tower"|almostFull==false', {1, 2, 3}),
        ('(name=="Pisa Tower"|name=="Eiffel Tower");almostFull==false', {2, 3}),
        ("airQualityLevel==4", {3}),
        ("airQualityLevel>=4;airQualityLevel<7", {1, 3}),
        ("locatedIn==urn:ngsi-ld:City:Pisa", {2}),
        ("locatedIn==urn:ngsi-ld:City:Paris", set()),
        ("locatedIn==urn:ngsi-ld:City:Pisa|locatedIn==urn:ngsi-ld:City:Paris", {2}),
    ]
)
def test_etsi_queries(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: comparisons; numbers only with numbers, strings only with strings ----------------


@run(
    [
        ("airQualityLevel>5", {1, 2}),
        ("airQualityLevel<=4", {3}),
        ('airQualityLevel=="6"', {4}),
        ('airQualityLevel>"5"', {4}),
        ("airQualityLevel!=6", {2, 3, 4}),
        ("almostFull==true", {1}),
        ("almostFull!=true", {2, 3, 12}),
        ('almostFull=="true"', {12}),
        ("flag==true", set()),
        ("flag==1", {12}),
        ("name==5", {12}),
        ("name==5.0", {12}),
        ('name>"P"', {1, 2}),
        ("temperature==21.5", {9}),
        ("temperature>21", {9}),
    ]
)
def test_comparisons(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: ranges (inclusive) and value lists -----------------------------------------------


@run(
    [
        ("airQualityLevel==4..6", {1, 3}),
        ("airQualityLevel!=4..6", {2, 4}),
        ("readings==2..3", {7}),
        ("readings==4..5", set()),
        ('name=="A".."F"', {3}),
        ("airQualityLevel==4,7", {2, 3}),
        ("airQualityLevel!=4,7", {1, 4}),
        ('name=="Pisa Tower","Eiffel Tower"', {1, 2, 3}),
        ('name==5,"Eiffel Tower"', {3, 12}),
        ("airQualityLevel.observedAt==2020-01-01T00:00:00Z..2020-12-31T00:00:00Z", {1, 3}),
    ]
)
def test_ranges_and_lists(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: regular expressions --------------------------------------------------------------


@run(
    [
        ('name~="^Pisa"', {1, 2}),
        ('name~="(?i)eiffel"', {3}),
        ("name~=Tower$", {1, 2, 3}),
        ('name!~="^Pisa"', {3, 12}),
        ('street~="^Main"', {5}),
        ("locatedIn~=Pisa", {2}),
        ('missing!~="x"', set()),
    ]
)
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


@run(
    [
        ('airQualityLevel.unitCode=="C62"', {1, 2}),
        ("airQualityLevel.observedAt>2021-01-01T00:00:00Z", {2}),
        ("airQualityLevel.observedAt==2023-10-10T16:40:00Z", {2}),
        ("airQualityLevel.observedAt==2023-10-10T18:40:00.000+02:00", {2}),
        ("airQualityLevel.observedAt<2020-10-01T00:00:00Z", {3}),
        ("airQualityLevel.observedAt", {1, 2, 3}),
        ("speed.datasetId==urn:ds:radar", {4}),
        ("speed>100", {4}),
        ("speed<60", {4}),
        ("speed>200", set()),
        ("speed!=50", {4}),
        ("temperature.providedBy==urn:Sensor:1", {9}),
        ("temperature.providedBy", {9}),
        ("temperature.accuracy<1", {9}),
        ("temperature.accuracy.observedAt==2024-05-01T11:00:00+02:00", {9}),
        ("temperature.providedBy.since==2019", {9}),
        ("temperature.nothere", set()),
        ("temperature.value==21.5", {9}),
        ("https://ex.org/v1.2/ns#level==3", {10}),
        ("https://ex.org/v1.2/ns#level.observedAt", set()),
    ]
)
def test_paths(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: compound values ([key]), arrays, relationships, languageMaps ---------------------


@run(
    [
        ('address[city][name]=="Madrid"', {6}),
        ('address[streetAddress]~="Mayor"', {6}),
        ("address[city]", {6}),
        ("address[country]", set()),
        ('address[city]=="Madrid"', set()),
        ('address=="Madrid"', set()),
        ('config[mode]=="eco"', {7}),
        ("config[levels]==2", {7}),
        ('tags=="red"', {6}),
        ('tags!="blue"', {6}),
        ('tags!="red"', set()),
        ("owners==urn:P:2", {8}),
        ("neighbours==urn:B", {8}),
        ("neighbours==urn:C", set()),
        ("empty", {12}),
        ("neighbours.objectList[x]", set()),
        ("neighbours.objectList", {8}),
        ('street.languageMap[fr]~="^Rue"', {5}),
        ('airQualityLevel.type=="Property"', {1, 2, 3, 4}),
        ("empty==1", set()),
        ('street=="Rue Principale"', {5}),
        ('street[fr]=="Rue Principale"', {5}),
        ('street[en]=="Rue Principale"', set()),
        ("street[en]", {5}),
        ("street[de]", set()),
        ('alias=="Highway"', {5}),
        ('alias[en]=="Highway"', {5}),
        ('category=="https://ex.org/Commercial"', {5}),
        ("category==https://ex.org/Commercial", {5}),
    ]
)
def test_compound_values_and_attribute_kinds(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: date-times compare in UTC; existence; entity members -----------------------------


@run(
    [
        ("dateObserved>2024-01-01T00:00:00Z", {9}),
        ("dateObserved==2024-05-01T11:00:00+02:00", {9}),
        ('dateObserved=="2024-05-01T09:00:00Z"', {9}),
        ("birth<2002-01-01T00:00:00Z", {9}),
        ("name>2000-01-01T00:00:00Z", set()),
        ("locatedIn", {2}),
        ("almostFull", {1, 2, 3, 12}),
        ("createdAt>2024-01-10T00:00:00Z", {11, 12}),
        ("modifiedAt<2024-01-02T00:00:00Z", {1}),
        ("https://uri.etsi.org/ngsi-ld/createdAt==2024-01-03T00:00:00Z", {3}),
        ("id==urn:E:3", {3}),
        ("createdAt", set(range(1, 13))),
    ]
)
def test_datetimes_existence_and_entity_members(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- clause 4.9: logical operators -----------------------------------------------------------------


@run(
    [
        ("locatedIn|owners|street", {2, 5, 8}),
        ("almostFull;airQualityLevel>4", {1, 2}),
        ("almostFull;airQualityLevel>4|speed", {1, 2, 4}),
        ("almostFull;(airQualityLevel>4|speed)", {1, 2}),
        ("((name==5))", {12}),
    ]
)
def test_logical_operators(q: str, expected: set[int]) -> None:
    assert q_ids(q) == expected


# -- injection: query text only ever reaches SQLite as bound parameters ----------------------------


@run(
    [
        ('note=="x\') OR 1=1 --"', {10}),
        ('name=="x\') OR 1=1 --"', set()),
        ('name=="\\" OR 1=1 --"', set()),
        ('name=="\'; DROP TABLE entities; --"', set()),
    ]
)
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
        expand_q(parse_q('evil_attr[evil_key]=="evil_value";b~=evil_rx'), _expand), params
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


@pytest.mark.parametrize(
    ("scope_q", "expected"),
    [
        ("/Madrid/Gardens/ParqueNorte", {1, 3}),
        ("/Madrid/+/ParqueNorte", {1, 3}),
        ("/CompanyA/#", {3}),
        ("/#", {1, 3, 6}),
        ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", {3}),
        ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", {1, 3}),
        ("/Madrid", set()),
        ("/Madrid/#", {1, 3}),
        ("/Madrid/Gardens/ParqueNorte/#", {1, 3}),
        ("/+", set()),
        ("/+/+/+", {1, 3}),
        ("/+/#", {1, 3, 6}),
        ("/CompanyA/+/UnitC", {3}),
        ("/a_b/#", {6}),
        ("/aXb/#", set()),
        ("/a_b/c%d", {6}),
        ("/a_b/cXd", set()),
        ("(/Madrid/#;/CompanyA/#)|/a_b/+", {3, 6}),
    ],
)
def test_scope_queries(scope_q: str, expected: set[int]) -> None:
    params: list[object] = []
    assert select(compile_scope_q(parse_scope_q(scope_q), params), params) == expected


def test_an_invalid_scope_tree_is_refused() -> None:
    with pytest.raises(BadRequestData, match="a scope starts with '/'"):
        compile_scope_q(ScopeQuery("Madrid"), [])


# -- clause 4.17: type queries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_q", "expected"),
    [
        ("Building", {1, 2, 3, 6}),
        ("Building;Home", {3}),
        ("(Building;Home)|Vehicle", {3, 4, 8}),
        ("Building,Street", {1, 2, 3, 5, 6}),
        ("Nothing", set()),
        ("Thing;Building", set()),
    ],
)
def test_type_queries(type_q: str, expected: set[int]) -> None:
    params: list[object] = []
    tree = expand_types(parse_type_query(type_q), _expand)
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
        tree: Node = expand_q(parse_q(text), _expand)
        params: list[object] = []
        select(compile_q(tree, params), params)
    except BadRequestData:
        pass


def test_the_largest_query_the_parser_accepts_runs() -> None:
    text = "(" * 32 + "|".join(f"speed.datasetId==urn:ds:{i}" for i in range(200)) + ")" * 32
    assert q_ids(text) == set()
