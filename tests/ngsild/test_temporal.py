"""Pure temporal parsing and rendering: ETSI GS CIM 009 v1.8.1 clauses 4.5.7, 4.5.9, 4.5.19,
4.11, 6.3.7 and 6.3.10."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhub.errors import BadRequestData, InvalidRequest
from cityhub.ngsild.temporal import (
    Duration,
    TemporalProjection,
    TemporalQuery,
    TemporalRepresentation,
    expand_temporal_entity,
    latest_instances,
    null_instance,
    paginate,
    parse_duration,
    render_temporal_entity,
    representation_of,
    temporal_query_of,
)

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


class _Terms:
    """Default-context terms: enough for these tests, no context loading."""

    def expand(self, term: str) -> str:
        return term if ":" in term else DEFAULT + term

    def compact(self, iri: str) -> str:
        return iri[len(DEFAULT) :] if iri.startswith(DEFAULT) else iri


TERMS = _Terms()


def _inst(value: Any, t: str, seq: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Property",
        "value": value,
        "observedAt": t,
        "_time": t,
        "_display_time": t,
        "_seq": seq,
        "instanceId": f"urn:ngsi-ld:Instance:{seq}",
        **extra,
    }


# 4.11 temporal query language
def test_timerel_bounds() -> None:
    q = temporal_query_of({"timerel": "before", "timeAt": "2020-08-01T12:00:00Z"})
    assert q.bounds() == (None, "2020-08-01T12:00:00.000000Z")
    q = temporal_query_of({"timerel": "after", "timeAt": "2020-08-01T12:00:00+02:00"})
    assert q.bounds() == ("2020-08-01T10:00:00.000001Z", None)
    q = temporal_query_of(
        {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z", "endTimeAt": "2020-08-02T00:00Z"}
    )
    assert q.bounds() == ("2020-08-01T12:00:00.000000Z", "2020-08-02T00:00:00.000000Z")
    assert temporal_query_of({}).bounds() == (None, None)


@pytest.mark.parametrize(
    "params",
    [
        {"timerel": "after"},
        {"timerel": "during", "timeAt": "2020-08-01T12:00:00Z"},
        {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"},
        {"timeAt": "2020-08-01T12:00:00Z"},
        {"timerel": "after", "timeAt": "yesterday"},
        {"timerel": "between", "timeAt": "2020-08-02T00:00Z", "endTimeAt": "2020-08-01T00:00Z"},
        {"timeproperty": "expiresAt"},
        {"lastN": "0"},
        {"lastN": "-3"},
    ],
)
def test_bad_temporal_queries_are_bad_request_data(params: dict[str, str]) -> None:
    with pytest.raises(BadRequestData):
        temporal_query_of(params)


def test_timeproperty_and_last_n() -> None:
    q = temporal_query_of({"timeproperty": "modifiedAt", "lastN": "5"})
    assert (q.timeproperty, q.timeproperty_given, q.last_n) == ("modifiedAt", True, 5)
    assert temporal_query_of({}).timeproperty == "observedAt"


# 6.3.7 options and format
def test_representation_format_wins_over_options() -> None:
    rep = representation_of(
        {"format": "temporalValues", "options": "aggregatedValues", "aggrMethods": "sum"}
    )
    assert rep.format == "temporalValues"
    assert representation_of({"options": "temporalValues,sysAttrs"}).sys_attrs
    assert representation_of({"format": "simplified"}).format == "temporalValues"


@pytest.mark.parametrize(
    "params",
    [{"format": "invalidFormat"}, {"options": "invalidOptions"}, {"options": "temporalValues,x"}],
)
def test_unknown_format_or_option_is_invalid_request(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        representation_of(params)


def test_aggregated_needs_known_methods() -> None:
    with pytest.raises(BadRequestData):
        representation_of({"options": "aggregatedValues"})
    with pytest.raises(BadRequestData):
        representation_of({"options": "aggregatedValues", "aggrMethods": "median"})
    rep = representation_of(
        {"options": "aggregatedValues", "aggrMethods": "avg,max", "aggrPeriodDuration": "PT1H"}
    )
    assert rep.aggr_methods == ("avg", "max")
    assert rep.aggr_period == Duration(exact=timedelta(hours=1))


# 4.5.19 aggrPeriodDuration is an ISO 8601 duration
def test_durations() -> None:
    assert parse_duration("P1D") == Duration(exact=timedelta(days=1))
    assert parse_duration("P1Y2M") == Duration(months=14)
    assert parse_duration("PT1M30S").exact == timedelta(seconds=90)
    jan31 = datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_duration("P1M").add_to(jan31) == datetime(2024, 2, 29, tzinfo=UTC)
    for bad in ("P", "PT", "1H", "PT1H2", "P1DT"):
        with pytest.raises(BadRequestData):
            parse_duration(bad)


# 4.5.7 temporal entity bodies: attributes are arrays of instances, datasetIds may repeat
def test_expand_temporal_entity_and_latest_instances() -> None:
    body = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z"},
            {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z"},
            {
                "type": "Property",
                "value": 1,
                "observedAt": "2020-08-01T12:00:00Z",
                "datasetId": "urn:d",
            },
        ],
    }
    entity = expand_temporal_entity(body, TERMS)
    assert len(entity["attrs"][DEFAULT + "speed"]) == 3
    latest = latest_instances(entity["attrs"])[DEFAULT + "speed"]
    assert sorted(i["value"] for i in latest) == [1, 80]
    with pytest.raises(BadRequestData):
        expand_temporal_entity({"type": "Vehicle"}, TERMS)
    with pytest.raises(InvalidRequest):
        expand_temporal_entity({}, TERMS)


# 4.5.0 a deleted attribute is recorded as NGSI-LD Null with deletedAt
def test_null_instance_per_type() -> None:
    assert null_instance({"type": "Relationship", "object": "urn:x"}, "T")["object"] == (
        "urn:ngsi-ld:null"
    )
    lang = null_instance({"type": "LanguageProperty", "languageMap": {}, "datasetId": "urn:d"}, "T")
    assert lang == {
        "type": "LanguageProperty",
        "languageMap": {"@none": "urn:ngsi-ld:null"},
        "datasetId": "urn:d",
        "deletedAt": "T",
    }


HEAD = {"id": "urn:ngsi-ld:Vehicle:1", "type": [DEFAULT + "Vehicle"]}


def _history() -> dict[str, list[dict[str, Any]]]:
    return {
        DEFAULT + "speed": [
            _inst(120, "2020-08-01T12:03:00Z", 1),
            _inst(80, "2020-08-01T12:05:00Z", 2),
            _inst(100, "2020-08-01T13:07:00Z", 3),
        ]
    }


# 4.5.7 normalized temporal representation
def test_render_normalized() -> None:
    doc = render_temporal_entity(
        HEAD, _history(), TERMS, TemporalRepresentation(), TemporalProjection(), TemporalQuery()
    )
    assert doc["type"] == "Vehicle"
    assert doc["speed"][0] == {
        "type": "Property",
        "value": 120,
        "observedAt": "2020-08-01T12:03:00Z",
        "instanceId": "urn:ngsi-ld:Instance:1",
    }


# 4.5.9 simplified (temporalValues), one object per datasetId
def test_render_temporal_values_groups_datasets() -> None:
    history = _history()
    history[DEFAULT + "speed"].append(_inst(7, "2020-08-01T12:00:00Z", 4, datasetId="urn:d"))
    history[DEFAULT + "rel"] = [
        {"type": "Relationship", "object": "urn:p:1", "_time": "T1", "_display_time": "T1"}
    ]
    rep = TemporalRepresentation(format="temporalValues")
    doc = render_temporal_entity(HEAD, history, TERMS, rep, TemporalProjection(), TemporalQuery())
    default, dataset = doc["speed"]
    assert default["values"][0] == [120, "2020-08-01T12:03:00Z"]
    assert dataset == {
        "type": "Property",
        "datasetId": "urn:d",
        "values": [[7, "2020-08-01T12:00:00Z"]],
    }
    assert doc["rel"] == {"type": "Relationship", "objects": [["urn:p:1", "T1"]]}


# 4.5.19 aggregated temporal representation
def test_render_aggregated_values_by_hour() -> None:
    rep = TemporalRepresentation(
        format="aggregatedValues",
        aggr_methods=("avg", "max", "totalCount"),
        aggr_period=Duration(exact=timedelta(hours=1)),
    )
    doc = render_temporal_entity(
        HEAD, _history(), TERMS, rep, TemporalProjection(), TemporalQuery()
    )
    assert doc["speed"]["avg"] == [
        [100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
        [100.0, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
    ]
    assert doc["speed"]["max"][0][0] == 120.0
    assert doc["speed"]["totalCount"][0][0] == 2


def test_projection_pick_and_dataset() -> None:
    proj = TemporalProjection(pick={"id": None}, omit=None)
    doc = render_temporal_entity(
        HEAD, _history(), TERMS, TemporalRepresentation(), proj, TemporalQuery()
    )
    assert doc == {"id": "urn:ngsi-ld:Vehicle:1"}
    proj = TemporalProjection(dataset_ids=frozenset({"urn:other"}))
    doc = render_temporal_entity(
        HEAD, _history(), TERMS, TemporalRepresentation(), proj, TemporalQuery()
    )
    assert "speed" not in doc


# 6.3.10 pagination of instances: 206 with Content-Range
def test_paginate_oldest_first_and_last_n() -> None:
    history = _history()
    assert paginate([history], 3, TemporalQuery()) is None
    assert paginate([history], 2, TemporalQuery()) == (
        "date-time 2020-08-01T12:03:00Z-2020-08-01T12:05:00Z/*"
    )
    assert [i["value"] for i in history[DEFAULT + "speed"]] == [120, 80]
    history = _history()
    cut = paginate([history], 1, TemporalQuery(last_n=3))
    assert cut == "date-time 2020-08-01T13:07:00Z-2020-08-01T13:07:00Z/3"
    assert [i["value"] for i in history[DEFAULT + "speed"]] == [100]


def test_paginate_keeps_paged_out_attributes_empty() -> None:
    history = _history()
    history[DEFAULT + "late"] = [_inst(1, "2021-01-01T00:00:00Z", 9)]
    paginate([history], 3, TemporalQuery())
    doc = render_temporal_entity(
        HEAD, history, TERMS, TemporalRepresentation(), TemporalProjection(), TemporalQuery()
    )
    assert doc["late"] == []
