"""Hostile input, property-based: whatever a device or a provisioning script sends, the parsers
and the mapping answer with a value or one of the agent's errors (a clear 4xx), never another
exception; expressions stay bounded in time."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import CityhubError
from cityhub.iot.expression_functions import TRANSFORMS
from cityhub.iot.expressions import Evaluator, ExpressionError, parse
from cityhub.iot.measures import Mapping, fragments
from cityhub.iot.ultralight import MeasureGroup, parse_ultralight

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None)
TOKENS = st.sampled_from(
    [
        "a", "b", "value", "1", "2.5", "'x'", '"y"', "true", "null", "+", "-", "*", "/", "//",
        "%", "^", "==", "!=", "<", ">=", "&&", "||", "!", "?", ":", "(", ")", "[", "]", "{",
        "}", ",", ".", "|", "trim", "split(',')", "toisodate", "in", " ", "9^9^9", "'a'*9",
    ]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(
    st.text(max_size=300)
    | st.lists(st.sampled_from(["t", "|", "#", "1", "2026-01-01T00:00:00Z", "", " ", "x"])).map(
        "".join
    )
)
def test_ultralight_parses_or_says_why(payload: str) -> None:
    try:
        groups = parse_ultralight(payload)
    except CityhubError as exc:
        assert exc.status == 400 and exc.detail
        return
    assert groups and all(g.values for g in groups)


@SETTINGS
@given(
    st.lists(TOKENS, max_size=40).map("".join),
    st.dictionaries(st.sampled_from(["a", "b", "value"]), JSON),
)
def test_expressions_parse_and_evaluate_or_say_why(text: str, context: dict[str, Any]) -> None:
    try:
        tree = parse(text)
    except CityhubError as exc:
        assert exc.status == 400
        return
    started = time.monotonic()
    try:
        Evaluator(TRANSFORMS).evaluate(tree, context)
    except ExpressionError:
        pass
    assert time.monotonic() - started < 1.0


@SETTINGS
@given(
    st.dictionaries(st.text(min_size=1, max_size=12), JSON, min_size=1, max_size=6),
    st.sampled_from(["Number", "Boolean", "geo:json", "geo:point", "Relationship", "Text", "X"]),
    st.booleans(),
)
def test_measures_map_or_say_why(values: dict[str, Any], kind: str, text: bool) -> None:
    mapping = Mapping(
        entity_id="urn:ngsi-ld:Thing:d1",
        entity_type="Thing",
        attributes=[{"object_id": next(iter(values)), "name": "mapped", "type": kind}],
    )
    try:
        out = fragments(mapping, MeasureGroup(values=values), "2026-01-01T00:00:00Z", text=text)
    except CityhubError as exc:
        assert exc.status == 400 and exc.detail
        return
    assert out and out[0]["id"] == "urn:ngsi-ld:Thing:d1"
