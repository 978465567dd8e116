"""cityhub/ngsild/json_limits.py: nesting depth and integer range of client JSON."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityhub.errors import BadRequestData
from cityhub.ngsild.json_limits import (
    MAX_INTEGER,
    MAX_JSON_DEPTH,
    MIN_INTEGER,
    check_depth,
    check_integers,
    text_depth,
)

json_documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=3), inner, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def nested(levels: int, leaf: object = 1) -> object:
    """``levels`` objects deep: nested(1) is {"a": leaf}."""
    value = leaf
    for i in range(levels):
        value = {"a": value} if i % 2 else [value]
    return value


def test_the_limit_is_inclusive() -> None:
    assert check_depth(nested(MAX_JSON_DEPTH), "x") is not None
    with pytest.raises(BadRequestData) as info:
        check_depth(nested(MAX_JSON_DEPTH + 1), "entity urn:x:1")
    detail = info.value.detail
    assert detail.startswith("entity urn:x:1 nests JSON objects and arrays more than 64 levels")
    assert "at most 64 are accepted" in detail


def test_the_detail_names_where() -> None:
    body = {"id": "urn:x:1", "pm25": {"type": "Property", "value": nested(200)}}
    with pytest.raises(BadRequestData) as info:
        check_depth(body, "the entity")
    assert "(at pm25.value.a[0]...)" in info.value.detail


def test_scalars_and_shallow_documents_pass() -> None:
    for value in (1, "x", None, [], {}, [[1, 2], {"a": [3]}]):
        assert check_depth(value, "x") == value


def test_the_parsers_deepest_document_is_checked_without_recursion() -> None:
    deepest = orjson.loads(b"[" * 1024 + b"]" * 1024)  # orjson's own limit
    with pytest.raises(BadRequestData):
        check_depth(deepest, "the body")


@given(json_documents)
def test_text_depth_is_the_depth_of_the_parsed_document(doc: object) -> None:
    text = orjson.dumps(doc)
    assert text_depth(text, stop=1000) == _depth(doc)
    assert text_depth(orjson.dumps(doc, option=orjson.OPT_INDENT_2), stop=1000) == _depth(doc)


def test_text_depth_ignores_brackets_in_strings() -> None:
    assert text_depth(b'{"a": "[[[{{{", "b": "\\"]]]\\\\", "c": ["}"]}') == 2
    assert text_depth(b"[[[[]]]]", stop=2) == 3  # counts one past stop, then stops
    assert text_depth(b"1") == 0 and text_depth(b'"[["') == 0


@pytest.mark.parametrize(
    "number", [0, 2**53 + 1, 2**63 - 1, 2**63, MAX_INTEGER, MIN_INTEGER, -(2**53) - 1]
)
def test_64_bit_integers_are_kept(number: int) -> None:
    raw = b'{"p": {"value": %d}}' % number
    check_integers(raw)
    assert orjson.loads(raw)["p"]["value"] == number  # and the parser keeps them exactly


@pytest.mark.parametrize(
    ("literal", "where"),
    [
        (b"18446744073709551616", "p.value"),  # 2^64
        (b"-9223372036854775809", "p.value"),  # -2^63 - 1
        (b"123456789012345678901234567890", "p.value"),
        (b"9" * 5000, "p.value"),  # past int()'s 4300-digit guard
    ],
)
def test_longer_integers_are_refused(literal: bytes, where: str) -> None:
    raw = b'{"p": {"value": ' + literal + b"}}"
    with pytest.raises(BadRequestData) as info:
        check_integers(raw, "the entity")
    detail = info.value.detail
    assert f"(at {where})" in detail and "outside the range kept exactly" in detail
    assert len(detail) < 400


def test_long_digit_runs_elsewhere_are_not_integers() -> None:
    check_integers(b'{"id": "urn:x:12345678901234567890123", "v": 1.2345678901234567890123}')
    check_integers(b'{"v": 1e400}')  # not an integer literal (the parser refuses infinity)
    check_integers(b'[{"a": [1, 2, 18446744073709551615]}]')


def test_the_path_names_a_batch_entity() -> None:
    raw = b'[{"id": "urn:x:1"}, {"id": "urn:x:2", "n": {"value": [1, 99999999999999999999]}}]'
    with pytest.raises(BadRequestData) as info:
        check_integers(raw)
    assert "(at [1].n.value[1])" in info.value.detail
