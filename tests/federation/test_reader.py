"""The short road of reading a source's entities (``cityhub.federation.reader``) gives what
the general road gives (ETSI GS CIM 009 v1.8.1 clause 4.3.6.2: the broker merges the
sources' entities; clauses 4.5 and 5.2.4-5.2.6: what a valid entity is), and refuses what
it refuses, on the shapes a source answers and on random mutations of them."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from cityhub.errors import CityhubError
from cityhub.federation.reader import SourceReader, remote_entity
from cityhub.ngsild.context import build_term_map

TERMS = build_term_map(None, {})


def _sensor(i: int) -> dict[str, Any]:
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
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.1, 37.4]},
        },
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{i}"},
        "status": {
            "type": "Property",
            "value": "ok",
            "datasetId": "urn:ngsi-ld:Dataset:a",
            "reason": {"type": "Property", "value": "fine", "observedAt": "2026-12-07T03:00:00Z"},
            "createdAt": "2026-12-07T03:00:00Z",
        },
    }


#: replacements a mutation may put in place of any member's value
_ODD: list[Any] = [
    None,
    "",
    "not a uri",
    "urn:ngsi-ld:X:1",
    "2026-13-45T99:00:00Z",
    "2026-12-07T03:00:00Z",
    5,
    [],
    ["urn:ngsi-ld:X:1"],
    [{"type": "Property", "value": 1}, {"type": "Property", "value": 2, "datasetId": "urn:x:d"}],
    {},
    {"type": "Property"},
    {"type": "Property", "value": None},
    {"type": "LanguageProperty", "languageMap": {"en": "a"}},
    {"type": "Relationship", "object": []},
    {"type": "Relationship", "object": ["urn:ngsi-ld:X:1", "urn:ngsi-ld:X:2"]},
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1]}},
    {"type": "Property", "value": {"type": "Property", "value": 1}},
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


def _general(body: Any) -> Any:
    try:
        return remote_entity(copy.deepcopy(body), TERMS)
    except CityhubError as exc:
        return type(exc)


def _short(reader: SourceReader, body: Any) -> Any:
    try:
        return reader.entity(copy.deepcopy(body))
    except CityhubError as exc:
        return type(exc)


def test_a_sources_usual_entities_read_as_the_general_road_reads_them() -> None:
    """Normalized entities with Property, GeoProperty, Relationship, sub-attributes,
    datasetId, unitCode and modifiedAt (kept for the merge, clause 4.3.6.2) come out equal,
    and the short road took them (no fallback)."""
    reader = SourceReader(TERMS)
    for i in range(20):
        body = _sensor(i)
        got = reader._short(copy.deepcopy(body))  # the short road itself, no detour
        assert got == remote_entity(copy.deepcopy(body), TERMS)
    assert got["attrs"]["https://uri.etsi.org/ngsi-ld/default-context/pm25"][0]["modifiedAt"]


@pytest.mark.parametrize("seed", range(16))
def test_a_mutated_entity_reads_the_same_or_fails_the_same(seed: int) -> None:
    """Random mutations (invalid values, other attribute types, arrays of instances, concise
    forms, missing members): both roads give the same entity or the same error class, with
    one reader across the whole answer (its memory of names and times must not leak a
    refusal into an acceptance)."""
    rng = random.Random(seed)
    reader = SourceReader(TERMS)
    differing = []
    for i in range(300):
        body = _mutate(_sensor(i), rng)
        if rng.random() < 0.3:
            body = _mutate(body, rng)
        general, short = _general(body), _short(reader, body)
        if general != short:
            differing.append((body, general, short))
    assert not differing, differing[:3]
