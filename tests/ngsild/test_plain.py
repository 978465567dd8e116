"""``plain_value`` (cityhub.ngsild.plain): an instance's value as plain JSON, for the readers
of stored entities (the city services, open data) and, with ``written=True``, for an attribute
as a client writes it in an update, normalized or concise (ETSI GS CIM 009 clause 4.5: the
value member of each attribute type; 4.5.1 the concise form), as the IoT agent sends it to a
device's lazy attribute."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.ngsild.plain import plain_value

NOW = "2026-12-08T01:00:00Z"
POINT = {"type": "Point", "coordinates": [127.1, 37.4]}

#: a bare value: the readers of stored entities are given instances only
_NOT_AN_INSTANCE = object()
#: (instance, its plain value for a stored entity's reader, for an update's)
CASES: list[tuple[Any, Any, Any]] = [
    ({"type": "Property", "value": 21.5}, 21.5, 21.5),
    ({"type": "Property", "value": {"@type": "DateTime", "@value": NOW}}, NOW, NOW),
    ({"type": "Relationship", "object": "urn:ngsi-ld:X:1"}, "urn:ngsi-ld:X:1", "urn:ngsi-ld:X:1"),
    ({"type": "LanguageProperty", "languageMap": {"en": "a"}}, {"en": "a"}, {"en": "a"}),
    ({"type": "VocabProperty", "vocab": "urn:v"}, "urn:v", "urn:v"),
    ({"type": "JsonProperty", "json": {"a": [1]}}, {"a": [1]}, {"a": [1]}),
    ({"type": "GeoProperty", "value": POINT}, POINT, POINT),
    # a ListProperty has no plain value for the stored entities' readers (as before)
    ({"type": "ListProperty", "valueList": [1, 2]}, None, [1, 2]),
    ({"valueList": [1, 2]}, None, [1, 2]),
    # concise forms
    ({"value": 3}, 3, 3),
    ({"object": "urn:ngsi-ld:X:2"}, "urn:ngsi-ld:X:2", "urn:ngsi-ld:X:2"),
    (POINT, None, POINT),
    (7, _NOT_AN_INSTANCE, 7),
    (None, None, None),
    ({"type": "Property"}, None, {"type": "Property"}),
]


@pytest.mark.parametrize(("instance", "stored", "written"), CASES)
def test_plain_value(instance: Any, stored: Any, written: Any) -> None:
    assert plain_value(instance, written=True) == written
    if stored is not _NOT_AN_INSTANCE:
        assert plain_value(instance) == stored
