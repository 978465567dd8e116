"""Pure temporal parsing and rendering: ETSI GS CIM 009 v1.8.1 clauses 4.5.7, 4.5.9, 4.5.19,
4.11, 6.3.7 and 6.3.10."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import orjson
import pytest

from cityhub.errors import BadRequestData, InvalidRequest
from cityhub.ngsild import aggregation
from cityhub.ngsild.aggregation import AggregationQuery, PeriodStats, Series, format_time
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.duration import Duration, parse_duration
from cityhub.ngsild.entity import expand_instance
from cityhub.ngsild.names import NGSI_LD
from cityhub.ngsild.temporal import (
    TemporalQuery,
    TemporalRepresentation,
    aggregation_query_of,
    check_temporal_q,
    expand_temporal_entity,
    latest_instances,
    null_instance,
    representation_of,
    temporal_query_of,
)
from cityhub.ngsild.temporal_render import (
    TemporalProjection,
    paginate,
    render_aggregated_entities,
    render_temporal_entity,
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


# 5.2.21: the temporalQ member of a subscription (5.2.12) is a TemporalQuery object: timerel
# and timeAt mandatory, endTimeAt with between and later, timeproperty one of four; the same
# check as the URL parameters (entity subscriptions took any name as timeproperty and an
# endTimeAt before timeAt; issue 15)
def test_temporal_q_member() -> None:
    tq = check_temporal_q({"timerel": "after", "timeAt": "2020-08-01T12:00:00+02:00"})
    assert (tq.timerel, tq.time_at, tq.timeproperty) == (
        "after",
        "2020-08-01T10:00:00.000000Z",
        "observedAt",
    )
    tq = check_temporal_q(
        {"timerel": "before", "timeAt": "2020-08-01T12:00:00Z", "timeproperty": "deletedAt"}
    )
    assert tq.timeproperty == "deletedAt"


@pytest.mark.parametrize(
    "value",
    [
        {"timeAt": "2020-08-01T12:00:00Z"},  # timerel is mandatory in the data type
        {"timerel": "", "timeAt": "2020-08-01T12:00:00Z"},
        {"timerel": "before"},
        {"timerel": 1, "timeAt": "2020-08-01T12:00:00Z"},
        {"timerel": "before", "timeAt": 1596283200},
        {"timerel": "between", "timeAt": "2020-08-02T00:00:00Z"},
        {"timerel": "between", "timeAt": "2020-08-02T00:00Z", "endTimeAt": "2020-08-01T00:00Z"},
        {"timerel": "before", "timeAt": "2020-08-01T12:00:00Z", "timeproperty": "name"},
        {"timerel": "before", "timeAt": "2020-08-01T12:00:00Z", "lastN": 3},
        ["before", "2020-08-01T12:00:00Z"],
    ],
)
def test_bad_temporal_q_member(value: Any) -> None:
    with pytest.raises(BadRequestData, match="temporalQ"):
        check_temporal_q(value)


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


def _expanded_or_error(call: Any) -> Any:
    try:
        return ("ok", orjson.dumps(call()))
    except (BadRequestData, InvalidRequest) as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("seed", range(5))
def test_expand_temporal_entity_makes_of_each_instance_what_expand_instance_makes(
    seed: int,
) -> None:
    """Clauses 5.6.11-5.6.12, 4.5: a temporal body's instances are expanded and checked as
    ``expand_instance`` does one (plain numeric Properties take a shorter road: the same
    instance, members in the same order, and the same error for a bad observedAt, a value
    of another kind, a geo attribute name or an extra member)."""
    rnd = random.Random(seed)
    times = ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.5Z", "2025-01-01T09:00:00+09:00"]
    times += ["2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "yesterday", "", 7, None]
    values = [1, -0.0, 2.5, 10**18, True, "x", None, [1], {"a": 1}, {"@value": 1}]
    for _ in range(300):
        item: Any = {"type": rnd.choice(["Property", "Property", "Relationship", 3])}
        item["value"] = rnd.choice(values)
        if rnd.random() < 0.9:
            item["observedAt"] = rnd.choice(times)
        if rnd.random() < 0.1:
            item["unitCode"] = rnd.choice(["GQ", 3])
        if rnd.random() < 0.1:
            item = dict(reversed(list(item.items())))
        if rnd.random() < 0.05:
            item = rnd.choice([5, [item], None])
        name = rnd.choice(["speed", NGSI_LD + "location", "speed"])
        iri = TERMS.expand(name)
        one = _expanded_or_error(partial(expand_instance, iri, item, TERMS, label=name))
        body = {name: [item, item]}
        many = _expanded_or_error(
            lambda body=body, iri=iri: expand_temporal_entity(
                body, TERMS, need_id=False, need_type=False
            )["attrs"][iri][1]
        )
        assert many == one, item


@pytest.mark.parametrize("seed", range(5))
def test_latest_instances_is_the_last_listed_of_the_latest_time(seed: int) -> None:
    """Clause 5.6.11 (what a temporal entity says the entity is now): per datasetId, the
    instance of the latest observedAt (compared as instants: 09:00+09:00 is 00:00Z), of
    those the one listed last; no observedAt counts as earliest; datasetIds in the order
    they first appear."""
    rnd = random.Random(seed)
    times = ["2025-01-01T00:00:00Z", "2025-01-01T09:00:00+09:00", "2025-01-01T00:00:00.5Z"]
    times += ["2025-01-01T01:00:00.000Z", "2024-12-31T23:00:00-02:00"]
    instances: list[dict[str, Any]] = []
    for i in range(rnd.randrange(1, 40)):
        inst: dict[str, Any] = {"type": "Property", "value": i}
        if rnd.random() < 0.8:
            inst["observedAt"] = rnd.choice(times)
        if rnd.random() < 0.4:
            inst["datasetId"] = rnd.choice(["urn:d:1", "urn:d:2"])
        instances.append(inst)

    def instant(inst: dict[str, Any]) -> datetime:
        if "observedAt" not in inst:
            return datetime.min.replace(tzinfo=UTC)
        return datetime.fromisoformat(inst["observedAt"].replace("Z", "+00:00"))

    expected: dict[Any, tuple[datetime, int]] = {}
    for pos, inst in enumerate(instances):
        key = inst.get("datasetId")
        if key not in expected or (instant(inst), pos) >= expected[key]:
            expected[key] = (instant(inst), pos)
    got = latest_instances({"p": instances})["p"]
    assert got == [instances[pos] for _, pos in expected.values()]


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
        HEAD, _history(), TERMS, TemporalRepresentation(), TemporalProjection()
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
    doc = render_temporal_entity(HEAD, history, TERMS, rep, TemporalProjection())
    default, dataset = doc["speed"]
    assert default["values"][0] == [120, "2020-08-01T12:03:00Z"]
    assert dataset == {
        "type": "Property",
        "datasetId": "urn:d",
        "values": [[7, "2020-08-01T12:00:00Z"]],
    }
    assert doc["rel"] == {"type": "Relationship", "objects": [["urn:p:1", "T1"]]}


# 4.5.19 aggregated temporal representation: what the store computed, laid out per period
def _series(*periods: PeriodStats, origin: str = "2020-08-01T12:03:00.000000Z") -> Series:
    first, last = min(p.index for p in periods), max(p.index for p in periods)
    return Series("Property", None, origin, list(periods), first, last)


def _stats(index: int, *values: float) -> PeriodStats:
    return PeriodStats(
        index=index,
        total=len(values),
        distinct=len(set(values)),
        n_numbers=len(values),
        sum_numbers=float(sum(values)),
        sumsq_numbers=float(sum(v * v for v in values)),
        min_number=float(min(values)),
        max_number=float(max(values)),
    )


def _aggregated(
    methods: tuple[str, ...], period: str | None, *series: Series, limit: int = 1000, **kw: Any
) -> tuple[dict[str, Any], str | None]:
    rep = TemporalRepresentation(format="aggregatedValues", aggr_methods=methods)
    agg = AggregationQuery(methods, parse_duration(period) if period else None, **kw)
    docs, content_range = render_aggregated_entities(
        [(HEAD, {DEFAULT + "speed": list(series)})], TERMS, rep, TemporalProjection(), agg, limit
    )
    return docs[0], content_range


def test_render_aggregated_values_with_an_empty_period() -> None:
    doc, cut = _aggregated(
        ("avg", "max", "totalCount"), "PT1H", _series(_stats(0, 120, 80), _stats(2, 100))
    )
    assert cut is None
    assert doc["speed"] == {
        "type": "Property",
        "avg": [
            [100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
            [None, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
            [100.0, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"],
        ],
        "max": [
            [120.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
            [None, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
            [100.0, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"],
        ],
        "totalCount": [
            [2, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
            [0, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
            [1, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"],
        ],
    }


def test_render_aggregated_whole_range_and_datasets() -> None:
    stats = replace(_stats(0, 1, 2, 3), last_time="2020-08-01T18:00:00.000000Z")
    other = Series("Property", "urn:d", "2020-08-01T12:00:00.000000Z", [_stats(0, 7)])
    doc, _ = _aggregated(("sum",), None, _series(stats), other)
    assert doc["speed"] == [
        {"type": "Property", "sum": [[6.0, "2020-08-01T12:03:00Z", "2020-08-01T18:00:00Z"]]},
        {
            "type": "Property",
            "datasetId": "urn:d",
            "sum": [[7.0, "2020-08-01T12:00:00Z", "2020-08-01T12:00:00Z"]],
        },
    ]
    # with between, the whole-range period is the query's range
    doc, _ = _aggregated(("sum",), None, _series(stats), range_end="2020-08-02T00:00:00.000000Z")
    assert doc["speed"]["sum"] == [[6.0, "2020-08-01T12:03:00Z", "2020-08-02T00:00:00Z"]]


def test_render_aggregated_calendar_months() -> None:
    doc, _ = _aggregated(
        ("totalCount",),
        "P1M",
        _series(_stats(0, 1), _stats(1, 1), origin="2024-01-31T12:00:00.000000Z"),
    )
    assert doc["speed"]["totalCount"] == [
        [1, "2024-01-31T12:00:00Z", "2024-02-29T12:00:00Z"],
        [1, "2024-02-29T12:00:00Z", "2024-03-31T12:00:00Z"],
    ]


# 6.3.10 paging: in the aggregated representation a period counts as an instance
def test_render_aggregated_pages_periods() -> None:
    series = _series(_stats(0, 1), _stats(3, 2))
    doc, cut = _aggregated(("sum",), "PT1H", series, limit=2)
    assert cut == "date-time 2020-08-01T12:03:00Z-2020-08-01T14:03:00Z/*"
    assert [v for v, _, _ in doc["speed"]["sum"]] == [1.0, None]
    # the store cut the series short (max_periods): still a partial response
    cut_short = Series("Property", None, "2020-08-01T12:03:00.000000Z", [_stats(0, 1)], 0, 9)
    doc, cut = _aggregated(("sum",), "PT1H", cut_short, limit=5, max_periods=5)
    assert cut == "date-time 2020-08-01T12:03:00Z-2020-08-01T17:03:00Z/*"
    assert [v for v, _, _ in doc["speed"]["sum"]] == [1.0, None, None, None, None]


def _page_by_merging(
    histories: list[dict[str, list[Series]]], query: AggregationQuery, limit: int
) -> tuple[Any, str | None]:
    """Clause 6.3.10 paging written plainly: every series' periods merged by start time
    (ties in series order), the first ``limit`` kept, each series' in time order."""
    tagged = []
    for n, history in enumerate(histories):
        for i, found in enumerate(history.values()):
            for j, series in enumerate(found):
                for period in aggregation._periods(series, query):
                    tagged.append((period.start, (n, i, j), period))
    if query.newest_first:
        taken = sorted(tagged, key=lambda t: t[0], reverse=True)
    else:
        taken = sorted(tagged, key=lambda t: t[0])
    truncated = len(taken) > limit or any(
        query.period is not None and s.periods and aggregation._bounds(s, query)[2]
        for h in histories
        for found in h.values()
        for s in found
    )
    taken = taken[:limit]
    laid = [
        {
            iri: [
                (s, sorted((p for _, w, p in taken if w == (n, i, j)), key=lambda p: p.start))
                for j, s in enumerate(found)
            ]
            for i, (iri, found) in enumerate(h.items())
        }
        for n, h in enumerate(histories)
    ]
    if not truncated or not taken:
        return laid, None
    first, last = min(p.start for _, _, p in taken), max(p.end for _, _, p in taken)
    if query.newest_first:
        first, last = last, first
    return laid, f"date-time {format_time(first)}-{format_time(last)}/*"


@pytest.mark.parametrize("seed", range(30))
def test_page_periods_keeps_the_oldest_or_newest_periods_of_all_series(seed: int) -> None:
    """Clause 6.3.10: in the aggregated representation a page holds at most ``limit``
    periods over every series of every entity, the oldest (the newest with lastN), each
    series' in time order; a page that holds them all (the common case, taken without
    merging) is the same as one chosen by merging."""
    rnd = random.Random(seed)
    origins = ["2020-08-01T12:03:00.000000Z", "2020-08-01T12:33:00.000000Z"]
    histories = []
    for _ in range(rnd.randrange(1, 4)):
        history: dict[str, list[Series]] = {}
        for attr in ("a", "b")[: rnd.randrange(1, 3)]:
            found = []
            for _ in range(rnd.randrange(1, 3)):
                indexes = sorted(rnd.sample(range(12), rnd.randrange(0, 5)))
                periods = [_stats(k, float(k)) for k in indexes]
                first = min(indexes, default=0)
                last = max(indexes, default=0) + rnd.choice([0, 0, 3])
                found.append(Series("Property", None, rnd.choice(origins), periods, first, last))
            history[attr] = found
        histories.append(history)
    period = rnd.choice([parse_duration("PT1H"), parse_duration("P1D"), None])
    query = AggregationQuery(
        ("sum",), period, max_periods=rnd.choice([3, 1000]), newest_first=rnd.random() < 0.5
    )
    total = sum(
        len(list(aggregation._periods(s, query)))
        for h in histories
        for found in h.values()
        for s in found
    )
    for limit in sorted({max(1, total - 3), max(1, total - 1), total, total + 4}):
        assert aggregation.page_periods(histories, query, limit) == _page_by_merging(
            histories, query, limit
        ), limit


def test_aggregation_query_of_a_temporal_query() -> None:
    rep = representation_of(
        {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "PT0S"}
    )
    assert rep.aggr_period is None  # PT0S: one period over the whole range
    between = temporal_query_of(
        {
            "timerel": "between",
            "timeAt": "2020-01-01T00:00:00Z",
            "endTimeAt": "2020-01-02T00:00:00Z",
        }
    )
    agg = aggregation_query_of(rep, between, 50)
    assert agg.origin == "2020-01-01T00:00:00.000000Z"
    assert agg.range_end == "2020-01-02T00:00:00.000000Z"
    assert agg.max_periods == 50 and not agg.newest_first
    before = temporal_query_of({"timerel": "before", "timeAt": "2020-01-01T00:00:00Z"})
    assert aggregation_query_of(rep, before, 50).origin is None


def test_projection_pick_and_dataset() -> None:
    proj = TemporalProjection(pick={"id": None}, omit=None)
    doc = render_temporal_entity(HEAD, _history(), TERMS, TemporalRepresentation(), proj)
    assert doc == {"id": "urn:ngsi-ld:Vehicle:1"}
    proj = TemporalProjection(dataset_ids=frozenset({"urn:other"}))
    doc = render_temporal_entity(HEAD, _history(), TERMS, TemporalRepresentation(), proj)
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
        HEAD, history, TERMS, TemporalRepresentation(), TemporalProjection()
    )
    assert doc["late"] == []


def test_format_datetime_is_utc_with_microseconds() -> None:
    # what strftime("%Y-%m-%dT%H:%M:%S.%fZ") writes, with the year zero-padded everywhere
    seoul = timezone(timedelta(hours=9))
    cases = {
        datetime(2025, 1, 1, tzinfo=UTC): "2025-01-01T00:00:00.000000Z",
        datetime(2025, 1, 1, 8, 59, 59, 999999, tzinfo=seoul): "2024-12-31T23:59:59.999999Z",
        datetime(999, 12, 31, 23, 0, 0, 5, tzinfo=UTC): "0999-12-31T23:00:00.000005Z",
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC): "9999-12-31T23:59:59.999999Z",
    }
    for value, text in cases.items():
        assert format_datetime(value) == text
