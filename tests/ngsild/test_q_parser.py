"""The q parser (ETSI GS CIM 009 v1.8.1, clause 4.9) and ``expand_q``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.query import expand_q, parse_q
from cityhub.ngsild.query.ast import (
    And,
    AttrPath,
    Comparison,
    DateTimeValue,
    DateValue,
    Node,
    Or,
    Range,
    TimeValue,
    UriValue,
    ValueList,
)


def term(attr: str, op: str | None = None, value: object = None, **path: tuple[str, ...]) -> Node:
    return Comparison(AttrPath(attr, **path), op, value)  # type: ignore[arg-type]


# -- clause 4.9: every q expression the ETSI conformance suite sends (019_07, 019_09, 021_08,
#    037_10, 060_03_02, 046_05) -----------------------------------------------------------------

ETSI = [
    ("airQualityLevel==6", term("airQualityLevel", "==", 6)),
    ('name=="Eiffel Tower"', term("name", "==", "Eiffel Tower")),
    (
        'name=="Pisa Tower";almostFull==false',
        And((term("name", "==", "Pisa Tower"), term("almostFull", "==", False))),
    ),
    (
        'name=="Pisa Tower"|almostFull==false',
        Or((term("name", "==", "Pisa Tower"), term("almostFull", "==", False))),
    ),
    (
        '(name=="Pisa Tower"|name=="Eiffel Tower");almostFull==false',
        And(
            (
                Or((term("name", "==", "Pisa Tower"), term("name", "==", "Eiffel Tower"))),
                term("almostFull", "==", False),
            )
        ),
    ),
    ("airQualityLevel==4", term("airQualityLevel", "==", 4)),
    (
        "airQualityLevel>=4;airQualityLevel<7",
        And((term("airQualityLevel", ">=", 4), term("airQualityLevel", "<", 7))),
    ),
    ("locatedIn==urn:ngsi-ld:City:Pisa", term("locatedIn", "==", "urn:ngsi-ld:City:Pisa")),
    (
        "locatedIn==urn:ngsi-ld:City:Pisa|locatedIn==urn:ngsi-ld:City:Paris",
        Or(
            (
                term("locatedIn", "==", "urn:ngsi-ld:City:Pisa"),
                term("locatedIn", "==", "urn:ngsi-ld:City:Paris"),
            )
        ),
    ),
    ("speed>90", term("speed", ">", 90)),
    ('csourceProperty1=="aValue"', term("csourceProperty1", "==", "aValue")),
    ('name=="Eiffel%20Tower"', term("name", "==", "Eiffel%20Tower")),
    ("invalidQuery", term("invalidQuery")),
]


@pytest.mark.parametrize(("text", "tree"), ETSI, ids=[t for t, _ in ETSI])
def test_etsi_expressions(text: str, tree: Node) -> None:
    assert parse_q(text) == tree


def test_etsi_invalid_query_is_bad_request_data() -> None:  # 037_03_02
    with pytest.raises(BadRequestData, match=r"'\(' is never closed at position 1"):
        parse_q("(invalidQuery")


# -- clause 4.9: precedence and grouping (";" binds tighter than "|") ------------------------------


def test_and_binds_tighter_than_or() -> None:
    assert parse_q("a;b|c;d") == Or((And((term("a"), term("b"))), And((term("c"), term("d")))))


def test_parentheses_override_precedence() -> None:
    assert parse_q("a;(b|c)") == And((term("a"), Or((term("b"), term("c")))))


def test_same_operator_groups_are_flattened() -> None:
    assert parse_q("(a;b);c") == And((term("a"), term("b"), term("c")))
    assert parse_q("((a))") == term("a")


def test_spaces_around_tokens_are_ignored() -> None:
    assert parse_q(' a == "x y" ; ( b | c ) ') == And(
        (term("a", "==", "x y"), Or((term("b"), term("c"))))
    )


# -- clause 4.9: operators and values -----------------------------------------------------------


@pytest.mark.parametrize("op", ["==", "!=", ">", ">=", "<", "<="])
def test_comparison_operators(op: str) -> None:
    assert parse_q(f"a{op}5") == term("a", op, 5)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a==-3", -3),
        ("a==2.5", 2.5),
        ("a==-1.5e3", -1500.0),
        ("a==.5", 0.5),
        ("a==true", True),
        ("a==false", False),
        ('a==""', ""),
        ('a=="say \\"hi\\""', 'say "hi"'),
        ('a=="back\\\\slash"', "back\\slash"),
        ('a=="semi;colon|pipe)paren"', "semi;colon|pipe)paren"),
        ("a==99999999999999999999", 1e20),
    ],
)
def test_scalar_values(text: str, value: object) -> None:
    parsed = parse_q(text)
    assert isinstance(parsed, Comparison)
    assert parsed.value == value
    assert type(parsed.value) is type(value)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("a>2024-05-01T09:00:00Z", DateTimeValue),
        ("a>2024-05-01T09:00:00.123456789+02:00", DateTimeValue),
        ("a>2024-05-01T09:00", DateTimeValue),
        ("a>2024-05-01", DateValue),
        ("a<08:30:00Z", TimeValue),
        ("a<08:30", TimeValue),
        ("a==urn:ngsi-ld:City:Pisa", UriValue),
        ("a==https://example.org/x?y=1#z", UriValue),
    ],
)
def test_unquoted_tokens_keep_their_kind(text: str, kind: type) -> None:
    parsed = parse_q(text)
    assert isinstance(parsed, Comparison)
    assert type(parsed.value) is kind
    assert parsed.value == text[len("a") + len(str(parsed.op)) :]


def test_quoted_datetime_stays_a_plain_string() -> None:
    parsed = parse_q('a=="2024-05-01T09:00:00Z"')
    assert isinstance(parsed, Comparison)
    assert type(parsed.value) is str


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a==1..10", Range(1, 10)),
        ("a!=1.5..2", Range(1.5, 2)),
        ('a=="a".."m"', Range("a", "m")),
        (
            "a==2020-01-01T00:00:00Z..2021-01-01T00:00:00Z",
            Range(DateTimeValue("2020-01-01T00:00:00Z"), DateTimeValue("2021-01-01T00:00:00Z")),
        ),
        ("a==1,2,3", ValueList((1, 2, 3))),
        ('a!="x","y"', ValueList(("x", "y"))),
        ("a==urn:a,urn:b", ValueList((UriValue("urn:a"), UriValue("urn:b")))),
    ],
)
def test_ranges_and_lists(text: str, value: object) -> None:
    parsed = parse_q(text)
    assert isinstance(parsed, Comparison)
    assert parsed.value == value


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('brandName~="(?i)mercedes"', "(?i)mercedes"),
        ("brandName~=(?i)merc(a|b).*", "(?i)merc(a|b).*"),
        ("brandName!~=^B[;|]x", "^B[;|]x"),
        ('brandName~="\\d+"', "\\d+"),
        ("brandName~=a\\)b", "a\\)b"),
    ],
)
def test_regular_expressions(text: str, pattern: str) -> None:
    parsed = parse_q(text)
    assert isinstance(parsed, Comparison)
    assert parsed.op in ("~=", "!~=")
    assert parsed.value == pattern


def test_unquoted_regex_stops_at_logical_operators_and_closing_parenthesis() -> None:
    assert parse_q("(a~=x(y|z);b)|c") == Or(
        (And((term("a", "~=", "x(y|z)"), term("b"))), term("c"))
    )


# -- clause 4.9: attribute paths (dots into sub-attributes and members, brackets into compound
#    values and languageMaps), with terms, CURIEs and IRIs -----------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("temperature", AttrPath("temperature")),
        ("ex:temp", AttrPath("ex:temp")),
        ("a.b.c", AttrPath("a", ("b", "c"))),
        ("a.observedAt", AttrPath("a", ("observedAt",))),
        ("address[city][zip]", AttrPath("address", (), ("city", "zip"))),
        ("street[en]", AttrPath("street", (), ("en",))),
        ("a.b[x]", AttrPath("a", ("b",), ("x",))),
        ("a[key with space]", AttrPath("a", (), ("key with space",))),
        ("https://ex.org/temp", AttrPath("https://ex.org/temp")),
        ("http://ex.org/ns#temp.observedAt", AttrPath("http://ex.org/ns#temp", ("observedAt",))),
        ("https://ex.org/v1.2/temp.unitCode", AttrPath("https://ex.org/v1.2/temp", ("unitCode",))),
        ("https://ex.org/a.ex:b.c", AttrPath("https://ex.org/a", ("ex:b", "c"))),
        ("https://ex.org/a.https://ex.org/b", AttrPath("https://ex.org/a", ("https://ex.org/b",))),
        ("https://ex.org:8080/a[x]", AttrPath("https://ex.org:8080/a", (), ("x",))),
        ("urn:ngsi-ld:attr.observedAt", AttrPath("urn:ngsi-ld:attr", ("observedAt",))),
    ],
)
def test_attribute_paths(text: str, path: AttrPath) -> None:
    assert parse_q(text) == Comparison(path)
    assert parse_q(text + "==1") == Comparison(path, "==", 1)


def test_names_with_bang_and_tilde_that_are_not_operators() -> None:
    assert parse_q("a!b==1") == term("a!b", "==", 1)
    assert parse_q("a~b~=x") == term("a~b", "~=", "x")


# -- clause 4.9: errors are BadRequestData with a position a person can act on ---------------------


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("a==1)", "q: unexpected ')' at position 5 in 'a==1)'"),
        ("", "q: the query is empty at position 1"),
        ("(a", "'(' is never closed at position 1"),
        ("a;", "unexpected end of text at position 3"),
        ("|a", "unexpected '|' at position 1"),
        ("()", "unexpected ')' at position 2"),
        ("a=1", "'=' is not an operator at position 2 in 'a=1'; compare with '=='"),
        ("a==Mercedes", "'Mercedes' is not a number"),
        ("a==", "unexpected end of text at position 4"),
        ('a=="open', "string is never closed"),
        ("a[x", "'[' is never closed at position 2"),
        ("a[]", "empty key"),
        ("a[x].b", "a '.' path cannot follow"),
        ("a..b", "empty name"),
        ("a.", "empty name"),
        ("a>true", "a boolean can only be compared with == or !="),
        ("a>urn:x", "a URI can only be compared with == or !="),
        ("a>1..2", "a range needs == or !="),
        ("a<1,2", "a list of values needs == or !="),
        ('a==1.."z"', "a range needs two numbers"),
        ("a==true..false", "a range needs two numbers"),
        ("a~=(", "invalid regular expression '('"),
        ("a~=", "unexpected end of text"),
        ("a==2024-13-01T00:00:00Z", "not a valid ISO 8601 date-time"),
        ("a==1e999", "out of range"),
        ("a b", "unexpected 'b'"),
        ('a"b', "unexpected '\"'"),
        ("a==1;;b", "unexpected ';'"),
        ("(" * 40 + "a" + ")" * 40, "nested deeper than 32"),
        (";".join(["a"] * 201), "more than 200 terms"),
    ],
)
def test_errors(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_q(text)
    assert detail in info.value.detail


def test_long_queries_are_shortened_in_the_detail() -> None:
    with pytest.raises(BadRequestData) as info:
        parse_q("a==" + "1" * 500 + ")")
    assert len(info.value.detail) < 300


# -- robustness: any text gives a tree or BadRequestData, never another exception -----------------

_Q_ALPHABET = 'abxy019.,:/#[]()";|=!<>~-+TZ\\ e?'


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=_Q_ALPHABET, max_size=40)))
def test_any_text_parses_or_is_bad_request_data(text: str) -> None:
    try:
        parse_q(text)
    except BadRequestData as exc:
        assert exc.detail.startswith("q: ")


# -- expand_q: names become IRIs through the caller's @context, members and keys stay ------------

EX = "https://ex.org/"


def _expand(name: str) -> str:
    return name if ":" in name else EX + name


def test_expand_q_expands_attributes_and_sub_attributes() -> None:
    tree = parse_q("a.b.observedAt==1;(c[en]|d.unitCode);ex:e.datasetId")
    assert expand_q(tree, _expand) == And(
        (
            Comparison(AttrPath(EX + "a", (EX + "b", "observedAt")), "==", 1),
            Or(
                (
                    Comparison(AttrPath(EX + "c", (), ("en",))),
                    Comparison(AttrPath(EX + "d", ("unitCode",))),
                )
            ),
            Comparison(AttrPath("ex:e", ("datasetId",))),
        )
    )


def test_expand_q_keeps_entity_members() -> None:
    tree = parse_q("createdAt>2024-01-01T00:00:00Z;id==urn:x;modifiedAt")
    assert expand_q(tree, _expand) == tree


def test_expand_q_keeps_every_member_name_after_a_dot() -> None:
    members = ["observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "value", "lang"]
    for member in members:
        assert expand_q(parse_q(f"a.{member}"), _expand) == Comparison(
            AttrPath(EX + "a", (member,))
        )


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("9007199254740993", 2**53 + 1),
        ("9223372036854775807", 2**63 - 1),
        ("18446744073709551615", 2**64 - 1),
        ("-9223372036854775808", -(2**63)),
        ("18446744073709551616", float(2**64)),  # past what the hub stores exactly
        ("1" * 30, float("1" * 30)),
    ],
)
def test_integers_are_kept_exactly_in_the_64_bit_range(literal: str, value: object) -> None:
    """q compares the integers the hub stores exactly (-2^63 .. 2^64-1) as integers; 19- and
    20-digit ones were read as floats and matched nothing (issue 22 item 7)."""
    node = parse_q(f"p=={literal}")
    assert isinstance(node, Comparison)
    assert node.value == value and type(node.value) is type(value)


def test_negated_existence() -> None:  # clause 4.9 (v1.9.1): "!attr", the attribute is absent
    assert parse_q("!validTo") == term("validTo", "!")
    assert parse_q("!a.b;c") == And((term("a", "!", sub=("b",)), term("c")))
    with pytest.raises(BadRequestData, match="takes no comparison"):
        parse_q("!a>1")
