"""The agent's fragment expander (``cityhub/iot/expansion.py``) against the API's
``expand_entity`` (ETSI GS CIM 009 clause 4.5 attribute types, 5.2.4-5.2.6 the entity): the
same internal form for every fragment it takes, and the same error (class and detail) for
every one it refuses, whatever it remembered from the fragments before."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import CityhubError
from cityhub.iot.expansion import FragmentExpander
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.entity import expand_entity

TERMS = build_term_map(None, {})
NOW = "2026-12-07T21:00:00.000000Z"


def _outcome(expand: Any, fragment: dict[str, Any]) -> Any:
    try:
        return expand(fragment)
    except CityhubError as exc:
        return (type(exc).__name__, exc.detail)


def _both(expander: FragmentExpander, fragment: dict[str, Any]) -> tuple[Any, Any]:
    api = _outcome(lambda f: expand_entity(f, TERMS), copy.deepcopy(fragment))
    agent = _outcome(lambda f: expander.expand(f, NOW), copy.deepcopy(fragment))
    return api, agent


def _fragment(entity_id: str = "urn:ngsi-ld:T:1", entity_type: str = "T", **attrs: Any) -> Any:
    return {"id": entity_id, "type": entity_type, **attrs}


def _property(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


POINT = {"type": "Point", "coordinates": [1, 2]}
CASES = [
    # the plain measure: taken as it is
    _fragment(t=_property(3, observedAt=NOW)),
    _fragment(
        t=_property(2.5, unitCode="CEL", observedAt=NOW), s=_property("on"), b=_property(False)
    ),
    # the other shapes: through expand_attribute
    _fragment(location={"type": "GeoProperty", "value": POINT}),
    _fragment(r={"type": "Relationship", "object": "urn:ngsi-ld:X:1"}),
    _fragment(d=_property({"@type": "DateTime", "@value": NOW})),
    _fragment(t=_property(1, accuracy=_property(0.1))),
    # refused, with the API's words
    _fragment(location=_property(3)),
    _fragment(t=_property(3, observedAt="yesterday")),
    _fragment(t=_property(3, unitCode=7)),
    _fragment(t=_property(None)),
    _fragment(**{"bad name": _property(1)}),
    _fragment("not a uri", t=_property(1)),
    _fragment(entity_type="", t=_property(1)),
    _fragment(t=_property(_property(1))),
]


@pytest.mark.parametrize("fragment", CASES)
def test_same_entity_or_same_error_as_the_api(fragment: dict[str, Any]) -> None:
    expander = FragmentExpander(TERMS)
    api, agent = _both(expander, fragment)
    assert agent == api
    # and again, with the names, type, id and time remembered
    api, again = _both(expander, fragment)
    assert again == api


def test_a_remembered_time_does_not_let_a_bad_one_through() -> None:
    expander = FragmentExpander(TERMS)
    good = _fragment(t=_property(1, observedAt="2026-01-01T00:00:00Z"))
    bad = _fragment(t=_property(1, observedAt="2026-13-01T00:00:00Z"))
    assert expander.expand(good)["attrs"]
    with pytest.raises(CityhubError, match="observedAt"):
        expander.expand(bad)


MEMBERS = ["type", "value", "object", "unitCode", "observedAt", "datasetId", "accuracy"]
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from([NOW, "2026-02-30T00:00:00Z", "urn:ngsi-ld:X:1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from([*MEMBERS, "@value", "@type", "coordinates"]), inner, max_size=4
        )
    ),
    max_leaves=8,
)
INSTANCES = st.fixed_dictionaries(
    {"type": st.sampled_from(["Property", "Relationship", "GeoProperty", "Other"])},
    optional={
        "value": VALUES,
        "object": VALUES,
        "unitCode": VALUES,
        "observedAt": st.sampled_from([NOW, "2026-12-07T21:00:00Z", "nope", 5]),
        "datasetId": st.sampled_from(["urn:ngsi-ld:d:1", "x y"]),
    },
)
FRAGMENTS = st.builds(
    lambda entity_id, entity_type, attrs: {"id": entity_id, "type": entity_type, **attrs},
    st.sampled_from(["urn:ngsi-ld:T:1", "urn:ngsi-ld:T:2", "nope"]),
    st.sampled_from(["T", "WeatherObserved", "bad type"]),
    st.dictionaries(
        st.sampled_from(["t", "h", "location", "x:y", "bad name", "observationSpace"]),
        INSTANCES | VALUES,
        max_size=3,
    ),
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(FRAGMENTS, min_size=1, max_size=4))
def test_any_fragment_same_as_the_api(fragments: list[dict[str, Any]]) -> None:
    expander = FragmentExpander(TERMS)  # one per sequence: what it remembers carries over
    for fragment in fragments:
        api, agent = _both(expander, fragment)
        assert agent == api, fragment
