"""The scopeQ parser (clause 4.19) and the type query parser (clause 4.17), and ``expand_types``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.query import expand_types, parse_scope_q, parse_type_query
from cityhub.ngsild.query.ast import And, Or, ScopeQuery, TypeName

# -- clause 4.19: scopeQ; the ETSI suite's expressions (019_01_06) first --------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("/Madrid/Gardens/ParqueNorte", ScopeQuery("/Madrid/Gardens/ParqueNorte")),
        ("/Madrid/+/ParqueNorte", ScopeQuery("/Madrid/+/ParqueNorte")),
        ("/CompanyA/#", ScopeQuery("/CompanyA/#")),
        ("/#", ScopeQuery("/#")),
        (
            "/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC",
            And(
                (
                    ScopeQuery("/Madrid/Gardens/ParqueNorte"),
                    ScopeQuery("/CompanyA/OrganizationB/UnitC"),
                )
            ),
        ),
        (
            "/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC",
            Or(
                (
                    ScopeQuery("/Madrid/Gardens/ParqueNorte"),
                    ScopeQuery("/CompanyA/OrganizationB/UnitC"),
                )
            ),
        ),
        ("/a|/b", Or((ScopeQuery("/a"), ScopeQuery("/b")))),
        (
            "(/a;/b)|/+/c/#",
            Or((And((ScopeQuery("/a"), ScopeQuery("/b"))), ScopeQuery("/+/c/#"))),
        ),
        ("/Île-de-France/zone_1.2", ScopeQuery("/Île-de-France/zone_1.2")),
    ],
)
def test_scope_queries(text: str, tree: object) -> None:
    assert parse_scope_q(text) == tree


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "scopeQ: the query is empty"),
        ("Madrid", "a scope starts with '/'"),
        ("/", "a level between two '/' is empty"),
        ("/a//b", "a level between two '/' is empty"),
        ("/a/", "a level between two '/' is empty"),
        ("/#/a", "'#' can only be the last level"),
        ("/a+/b", "'+' must be a whole level"),
        ("/a#", "'#' and '+' must be a whole level"),
        ("/a?b", "scopes may not contain"),
        ("/a;", "unexpected end of text at position 4"),
        ("(/a", "'(' is never closed at position 1"),
        ("/a)", "unexpected ')' at position 3"),
    ],
)
def test_scope_errors(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_scope_q(text)
    assert detail in info.value.detail


# -- clause 4.17: type queries (',' and '|' are OR, ';' is AND, parentheses group) ----------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("Building", TypeName("Building")),
        ("Building,Vehicle", Or((TypeName("Building"), TypeName("Vehicle")))),
        ("Bus|Vehicle", Or((TypeName("Bus"), TypeName("Vehicle")))),
        ("Building;Home", And((TypeName("Building"), TypeName("Home")))),
        (
            "(Building;Home)|Vehicle",
            Or((And((TypeName("Building"), TypeName("Home"))), TypeName("Vehicle"))),
        ),
        (
            "A;B|C;D",
            Or((And((TypeName("A"), TypeName("B"))), And((TypeName("C"), TypeName("D"))))),
        ),
        (
            "https://ngsi-ld-test-suite/context#Building",
            TypeName("https://ngsi-ld-test-suite/context#Building"),
        ),
        ("ex:Building,ex:Home", Or((TypeName("ex:Building"), TypeName("ex:Home")))),
    ],
)
def test_type_queries(text: str, tree: object) -> None:
    assert parse_type_query(text) == tree


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "type: the query is empty"),
        ("A,", "unexpected end of text at position 3"),
        (",A", "unexpected ',' at position 1"),
        ("(A|B", "'(' is never closed at position 1"),
        ("A)", "unexpected ')' at position 2"),
        ("A B", "unexpected 'B'"),
        ("A=B", "unexpected '='"),
        ("()", "unexpected ')' at position 2"),
    ],
)
def test_type_query_errors(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_type_query(text)
    assert detail in info.value.detail


def test_expand_types() -> None:
    tree = parse_type_query("(Building;ex:Home)|https://x.org/V")
    expanded = expand_types(tree, lambda t: t if ":" in t else "https://ex.org/" + t)
    assert expanded == Or(
        (
            And((TypeName("https://ex.org/Building"), TypeName("ex:Home"))),
            TypeName("https://x.org/V"),
        )
    )


# -- robustness: any text gives a tree or BadRequestData, never another exception -----------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="/#+ab;,|()? ", max_size=30)))
def test_any_text_is_a_scope_query_or_bad_request_data(text: str) -> None:
    try:
        parse_scope_q(text)
    except BadRequestData as exc:
        assert exc.detail.startswith("scopeQ: ")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="ab:#/;,|() =", max_size=30)))
def test_any_text_is_a_type_query_or_bad_request_data(text: str) -> None:
    try:
        parse_type_query(text)
    except BadRequestData as exc:
        assert exc.detail.startswith("type: ")
