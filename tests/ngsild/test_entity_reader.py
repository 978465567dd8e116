"""The short road of reading entities that repeat themselves (``cityhub.ngsild.entity_reader``)
gives what the general road (``expand_entity``) gives, and refuses what it refuses with the
same error and detail, for both of its callers: a context source's answer (ETSI GS CIM 009
v1.8.1 clause 4.3.6.2: the broker merges the sources' entities, their ``modifiedAt`` kept)
and an IoT device's measure fragments (the agent's time of receipt given as already
checked). Clauses 4.5 and 5.2.4-5.2.6 say what a valid entity is. Checked on the usual
shapes, on random mutations of them and on generated fragments."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.errors import CityhubError
from cityhub.federation.reader import SourceReader, remote_entity
from cityhub.ngsild.context import build_term_map
from cityhub.ngsild.entity import expand_entity
from cityhub.ngsild.entity_reader import EntityReader

TERMS = build_term_map(None, {})
#: the IoT agent's time of receipt (valid; given to the reader as checked)
NOW = "2026-12-07T21:00:00.000000Z"
POINT = {"type": "Point", "coordinates": [127.1, 37.4]}


def _sensor(i: int) -> dict[str, Any]:
    """An entity as a context source answers it (normalized, system members included)."""
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:{i}",
        "type": "AirQualityObserved",
        "pm25": {
            "type": "Property",
            "value": i,
            "observedAt": "2026-12-07T03:00:00Z",
            "unitCode": "GQ",
            "modifiedAt": "2026-12-07T03:00:01.000000Z",
        },
        "location": {"type": "GeoProperty", "value": POINT},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{i}"},
        "status": {
            "type": "Property",
            "value": "ok",
            "datasetId": "urn:ngsi-ld:Dataset:a",
            "reason": {"type": "Property", "value": "fine", "observedAt": "2026-12-07T03:00:00Z"},
            "createdAt": "2026-12-07T03:00:00Z",
        },
    }


def _measure(i: int) -> dict[str, Any]:
    """A device's measure fragment as ``cityhub.iot.measures.fragments`` builds it: plain
    Properties with the time of receipt and units, a DateTime, a static GeoProperty and a
    Relationship."""
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:dev{i % 7}",
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": i * 0.5, "observedAt": NOW, "unitCode": "GQ"},
        "temperature": {"type": "Property", "value": 21, "observedAt": NOW, "unitCode": "CEL"},
        "status": {"type": "Property", "value": "on", "observedAt": NOW},
        "dateObserved": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": NOW},
            "observedAt": NOW,
        },
        "location": {"type": "GeoProperty", "value": POINT},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:dev{i % 7}"},
    }


class Caller:
    """One caller of the reader: how it makes one, and what the general road gives it."""

    def __init__(
        self,
        name: str,
        body: Callable[[int], dict[str, Any]],
        reader: Callable[[], EntityReader],
        general: Callable[[Any], Any],
        checked_time: str | None,
    ) -> None:
        self.name, self.body, self.reader = name, body, reader
        self.general, self.checked_time = general, checked_time

    def __repr__(self) -> str:
        return self.name


SOURCE = Caller(
    "source", _sensor, lambda: SourceReader(TERMS), lambda b: remote_entity(b, TERMS), None
)
DEVICE = Caller(
    "device", _measure, lambda: EntityReader(TERMS), lambda b: expand_entity(b, TERMS), NOW
)
CALLERS = [SOURCE, DEVICE]


def _outcome(read: Callable[[Any], Any], body: Any) -> Any:
    try:
        return read(copy.deepcopy(body))
    except CityhubError as exc:
        return (type(exc).__name__, exc.detail)


def _both(caller: Caller, reader: EntityReader, body: Any) -> tuple[Any, Any]:
    general = _outcome(caller.general, body)
    short = _outcome(lambda b: reader.entity(b, caller.checked_time), body)
    return general, short


@pytest.mark.parametrize("caller", CALLERS, ids=repr)
def test_the_usual_entities_read_as_the_general_road_reads_them(caller: Caller) -> None:
    """Normalized entities with Property, GeoProperty, Relationship, sub-attributes, DateTime
    values, datasetId, unitCode and (for a source) modifiedAt, kept for the merge (clause
    4.3.6.2) come out equal, and the short road took them (no fallback)."""
    reader = caller.reader()
    for i in range(20):
        body = caller.body(i)
        got = reader._short(copy.deepcopy(body), caller.checked_time)  # no detour
        assert got == caller.general(copy.deepcopy(body))
    pm25 = got["attrs"]["https://uri.etsi.org/ngsi-ld/default-context/pm25"][0]
    assert ("modifiedAt" in pm25) is (caller is SOURCE)


def _fragment(entity_id: str = "urn:ngsi-ld:T:1", entity_type: str = "T", **attrs: Any) -> Any:
    return {"id": entity_id, "type": entity_type, **attrs}


def _property(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


CASES = [
    # the plain measure
    _fragment(t=_property(3, observedAt=NOW)),
    _fragment(
        t=_property(2.5, unitCode="CEL", observedAt=NOW), s=_property("on"), b=_property(False)
    ),
    # the other shapes
    _fragment(location={"type": "GeoProperty", "value": POINT}),
    _fragment(r={"type": "Relationship", "object": "urn:ngsi-ld:X:1"}),
    _fragment(d=_property({"@type": "DateTime", "@value": NOW})),
    _fragment(t=_property(1, accuracy=_property(0.1))),
    _fragment(t=[_property(1), _property(2, datasetId="urn:ngsi-ld:d:1")]),
    _fragment(t=5),
    {**_fragment(t=_property(1)), "scope": "/Seongnam"},
    # refused, with the general road's words
    _fragment(location=_property(3)),
    _fragment(t=_property(3, observedAt="yesterday")),
    _fragment(t=_property(3, unitCode=7)),
    _fragment(t=_property(None)),
    _fragment(**{"bad name": _property(1)}),
    _fragment("not a uri", t=_property(1)),
    _fragment("not a uri", entity_type="bad type", t=_property(1)),
    _fragment(entity_type="", t=_property(1)),
    _fragment(t=_property(_property(1))),
    _fragment(r={"type": "Relationship", "object": "nope"}, location=_property(1)),
]


@pytest.mark.parametrize("caller", CALLERS, ids=repr)
@pytest.mark.parametrize("fragment", CASES)
def test_same_entity_or_same_error(caller: Caller, fragment: dict[str, Any]) -> None:
    reader = caller.reader()
    general, short = _both(caller, reader, fragment)
    assert short == general
    # and again, with the names, type, id and time remembered
    general, again = _both(caller, reader, fragment)
    assert again == general


#: replacements a mutation may put in place of any member's value
_ODD: list[Any] = [
    None,
    "",
    "not a uri",
    "urn:ngsi-ld:X:1",
    "2026-13-45T99:00:00Z",
    "2026-12-07T03:00:00Z",
    NOW,
    5,
    2.5,
    True,
    [],
    ["urn:ngsi-ld:X:1"],
    [{"type": "Property", "value": 1}, {"type": "Property", "value": 2, "datasetId": "urn:x:d"}],
    {},
    {"type": "Property"},
    {"type": "Property", "value": None},
    {"type": "Property", "value": 3, "observedAt": None},
    {"type": "LanguageProperty", "languageMap": {"en": "a"}},
    {"type": "Relationship", "object": []},
    {"type": "Relationship", "object": ["urn:ngsi-ld:X:1", "urn:ngsi-ld:X:2"]},
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1]}},
    {"type": "Property", "value": {"type": "Property", "value": 1}},
    {"type": "Property", "value": {"@type": "DateTime", "@value": NOW}},
    {"type": "Property", "value": 1, "object": "urn:x:y"},
    {"type": "Property", "value": 1, "unitCode": 7},
    {"type": "Property", "value": 1, "bad name": {"type": "Property", "value": 1}},
    {"type": "Vocab", "value": 1},
    {"type": "Point", "coordinates": [1, 2]},
]


def _mutate(body: Any, rng: random.Random) -> Any:
    """``body`` with one member (at any depth) replaced, removed or added."""
    body = copy.deepcopy(body)
    node = body
    while True:
        keys = list(node)
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, dict) and child and rng.random() < 0.6:
            node = child
            continue
        roll = rng.random()
        if roll < 0.6:
            node[key] = copy.deepcopy(rng.choice(_ODD))
        elif roll < 0.8:
            del node[key]
        else:
            node[rng.choice(["extra", "@id", "scope", "type", "value", "observedAt"])] = (
                copy.deepcopy(rng.choice(_ODD))
            )
        return body


@pytest.mark.parametrize("caller", CALLERS, ids=repr)
@pytest.mark.parametrize("seed", range(12))
def test_a_mutated_entity_reads_the_same_or_fails_the_same(caller: Caller, seed: int) -> None:
    """Random mutations (invalid values, other attribute types, arrays of instances, concise
    forms, missing members): both roads give the same entity or the same error and detail,
    with one reader across the whole sequence (its memory of names, types, ids and times must
    not leak a refusal into an acceptance)."""
    rng = random.Random(seed)
    reader = caller.reader()
    differing = []
    for i in range(300):
        body = _mutate(caller.body(i), rng)
        if rng.random() < 0.3:
            body = _mutate(body, rng)
        general, short = _both(caller, reader, body)
        if general != short:
            differing.append((body, general, short))
    assert not differing, differing[:3]


def test_a_remembered_time_does_not_let_a_bad_one_through() -> None:
    reader = EntityReader(TERMS)
    good = {"id": "urn:x:1", "type": "T", "t": {"type": "Property", "value": 1}}
    good["t"]["observedAt"] = "2026-01-01T00:00:00Z"
    bad = copy.deepcopy(good)
    bad["t"]["observedAt"] = "2026-13-01T00:00:00Z"
    assert reader.entity(good)["attrs"]
    with pytest.raises(CityhubError, match="observedAt"):
        reader.entity(bad)
    with pytest.raises(CityhubError, match="observedAt"):
        reader.entity(bad, checked_time=NOW)


def test_what_it_remembers_is_bounded() -> None:
    """A client inventing names, ids and times cannot grow the reader without bound."""
    from cityhub.ngsild import entity_reader

    reader = EntityReader(TERMS)
    for i in range(entity_reader._MAX_REMEMBERED + 10):
        reader.entity(
            {
                "id": f"urn:x:{i}",
                "type": f"T{i}",
                f"a{i}": {
                    "type": "Property",
                    "value": 1,
                    "observedAt": f"2026-01-01T00:00:{i % 60:02}Z",
                },
            }
        )
    for memo in (reader._names, reader._types, reader._ids, reader._times):
        assert 0 < len(memo) <= entity_reader._MAX_REMEMBERED


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
        "observedAt": st.sampled_from([NOW, "2026-12-07T21:00:00Z", "nope", 5, None]),
        "datasetId": st.sampled_from(["urn:ngsi-ld:d:1", "x y"]),
    },
)
FRAGMENTS = st.builds(
    lambda entity_id, entity_type, attrs: {"id": entity_id, "type": entity_type, **attrs},
    st.sampled_from(["urn:ngsi-ld:T:1", "urn:ngsi-ld:T:2", "nope", 5]),
    st.sampled_from(["T", "WeatherObserved", "bad type", ["T", "U"]]),
    st.dictionaries(
        st.sampled_from(["t", "h", "location", "x:y", "bad name", "observationSpace"]),
        INSTANCES | VALUES,
        max_size=3,
    ),
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(FRAGMENTS, min_size=1, max_size=4))
def test_any_fragment_same_as_the_general_road(fragments: list[dict[str, Any]]) -> None:
    """Generated device fragments, read one after another by one reader (what it remembers
    carries over), as the IoT agent reads them."""
    reader = EntityReader(TERMS)
    for fragment in fragments:
        general, short = _both(DEVICE, reader, fragment)
        assert short == general, fragment
