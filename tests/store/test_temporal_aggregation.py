"""Aggregation in SQL (ETSI GS CIM 009 v1.9.1 clause 4.5.19): the period index SQLite computes
agrees with ISO 8601 duration arithmetic, and the per-period statistics match hand-computed
values, empty periods and datasetIds included."""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from cityhub.ngsild.aggregation import AggregationQuery, PeriodStats, Series, method_value
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import Duration, parse_duration
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings
from cityhub.store.open import open_backend
from cityhub.store.sqlite import temporal as sqlite_temporal
from cityhub.store.sqlite.series import micros
from cityhub.store.sqlite.temporal import SqliteTemporalStore
from cityhub.store.temporal_sql import Reading

NS = "https://ex.org/"
SID = "urn:ngsi-ld:Sensor:1"


# the origin as the aggregation query has it: microseconds since the epoch (migration 0016)
ORIGIN = f"(SELECT {sqlite_temporal.DIALECT.series_origin()} FROM (SELECT ? AS o))"


def _reference_index(origin: datetime, when: datetime, d: Duration) -> int:
    k = 0
    while d.add_to(origin, k + 1) <= when:
        k += 1
    return k


@pytest.mark.parametrize(
    "text", ["PT1H", "PT90S", "PT0.25S", "P1D", "P1W", "P1M", "P3M", "P1Y", "P1M1D", "P2MT12H"]
)
def test_sql_period_index_agrees_with_duration_arithmetic(text: str) -> None:
    period = parse_duration(text)
    conn = sqlite3.connect(":memory:")
    sqlite_temporal.register_functions(conn)
    rnd = random.Random(text)
    origins = [datetime(2024, 1, 31, 12, 0, tzinfo=UTC), datetime(2023, 5, 15, 0, 0, tzinfo=UTC)]
    # the days either side of the 28th, after which a month may lack the origin's day
    origins += [datetime(2023, 1, 28, 23, 0, tzinfo=UTC), datetime(2024, 1, 29, 1, tzinfo=UTC)]
    for origin in origins:
        span = max(period.add_to(origin, 6) - origin, timedelta(seconds=1))
        for _ in range(60):
            when = origin + span * rnd.random()
            when = when.replace(microsecond=rnd.choice([0, when.microsecond]))
            params: list[Any] = []
            index = sqlite_temporal._period_index(period, "s.o", params)
            sql = f"SELECT {index} FROM (SELECT ? AS t) b, {ORIGIN} s"
            got = conn.execute(
                sql, [*params, micros(format_datetime(when)), micros(format_datetime(origin))]
            ).fetchone()[0]
            assert got == _reference_index(origin, when, period), (text, origin, when)


def test_month_periods_clamp_to_the_last_day() -> None:
    # 31 January + P1M = 29 February 2024 (leap year), + P2M = 31 March
    conn = sqlite3.connect(":memory:")
    sqlite_temporal.register_functions(conn)
    params: list[Any] = []
    index = sqlite_temporal._period_index(parse_duration("P1M"), "s.o", params)
    origin = "2024-01-31T12:00:00.000000Z"
    expected = {
        "2024-02-29T11:59:59.999999Z": 0,
        "2024-02-29T12:00:00.000000Z": 1,
        "2024-03-30T00:00:00.000000Z": 1,
        "2024-03-31T12:00:00.000000Z": 2,
    }
    for t, k in expected.items():
        sql = f"SELECT {index} FROM (SELECT ? AS t) b, {ORIGIN} s"
        assert conn.execute(sql, [*params, micros(t), micros(origin)]).fetchone()[0] == k, t


# ---- statistics on a real store ----------------------------------------------------------


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[tuple[SqliteTemporalStore, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    backend = open_backend(f"sqlite:///{tmp_path / 'agg.db'}", Settings())
    loop.run_until_complete(backend.start())
    yield cast(SqliteTemporalStore, backend.temporal), loop
    loop.run_until_complete(backend.close())
    loop.close()


def _p(value: Any, t: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": t, **extra}


def _load(history: SqliteTemporalStore, loop: asyncio.AbstractEventLoop) -> None:
    entity = {
        "id": SID,
        "type": [NS + "Sensor"],
        "attrs": {
            NS + "temperature": [
                _p(10, "2024-01-01T00:10:00Z"),
                _p(20, "2024-01-01T00:20:00Z"),
                _p(30, "2024-01-01T00:50:00Z"),
                _p(5, "2024-01-01T02:15:00Z"),
                _p(5, "2024-01-01T02:40:00Z"),
            ],
            NS + "pm10": [
                _p(1, "2024-01-01T00:10:00Z"),
                _p(3, "2024-01-01T00:40:00Z"),
                _p(100, "2024-01-01T00:30:00Z", datasetId="urn:ngsi-ld:Dataset:a"),
            ],
            NS + "status": [
                _p("b", "2024-01-01T00:10:00Z"),
                _p("a", "2024-01-01T00:20:00Z"),
                _p("c", "2024-01-01T00:30:00Z"),
            ],
            NS + "open": [
                _p(True, "2024-01-01T00:10:00Z"),
                _p(False, "2024-01-01T00:20:00Z"),
                _p(True, "2024-01-01T00:30:00Z"),
            ],
            NS + "lanes": [
                _p([1, 2], "2024-01-01T00:10:00Z"),
                _p([1, 2, 3], "2024-01-01T00:20:00Z"),
            ],
            NS + "refParking": [
                {"type": "Relationship", "object": o, "observedAt": t}
                for o, t in [
                    ("urn:a", "2024-01-01T00:10:00Z"),
                    ("urn:b", "2024-01-01T00:20:00Z"),
                    ("urn:a", "2024-01-01T00:30:00Z"),
                ]
            ],
        },
    }
    loop.run_until_complete(history.create_or_update("", entity))


def _aggregate(
    history: SqliteTemporalStore,
    loop: asyncio.AbstractEventLoop,
    methods: tuple[str, ...],
    period: str | None = "PT1H",
    tq: TemporalQuery | None = None,
    **kw: Any,
) -> dict[str, list[Series]]:
    agg = AggregationQuery(methods, parse_duration(period) if period else None, **kw)
    found = loop.run_until_complete(history.aggregate_entity("", SID, tq or TemporalQuery(), agg))
    assert found is not None
    return found[1]


def _values(series: Series, method: str) -> dict[int, Any]:
    return {p.index: method_value(method, p) for p in series.periods}


ALL = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")


def test_numbers_every_method_by_hour(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    (series,) = _aggregate(history, loop, ALL)[NS + "temperature"]
    assert series.attr_type == "Property" and series.dataset_id is None
    assert series.origin == "2024-01-01T00:10:00.000000Z"  # the first instance
    # periods [00:10, 01:10) = 10, 20, 30; [01:10, 02:10) empty; [02:10, 03:10) = 5, 5
    assert [p.index for p in series.periods] == [0, 2]
    assert _values(series, "totalCount") == {0: 3, 2: 2}
    assert _values(series, "distinctCount") == {0: 3, 2: 1}
    assert _values(series, "sum") == {0: 60.0, 2: 10.0}
    assert _values(series, "avg") == {0: 20.0, 2: 5.0}
    assert _values(series, "min") == {0: 10.0, 2: 5.0}
    assert _values(series, "max") == {0: 30.0, 2: 5.0}
    assert _values(series, "sumsq") == {0: 1400.0, 2: 50.0}
    stddev = _values(series, "stddev")
    assert math.isclose(stddev[0], math.sqrt(200 / 3)) and stddev[2] == 0.0
    assert method_value("totalCount", None) == 0 and method_value("avg", None) is None


def test_datasets_are_separate_series(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    default, other = _aggregate(history, loop, ("avg",))[NS + "pm10"]
    assert default.dataset_id is None and _values(default, "avg") == {0: 2.0}
    assert other.dataset_id == "urn:ngsi-ld:Dataset:a" and _values(other, "avg") == {0: 100.0}
    assert other.origin == "2024-01-01T00:30:00.000000Z"  # each series' own first instance


def test_other_value_types(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    found = _aggregate(history, loop, ALL, period=None)
    (status,) = found[NS + "status"]
    assert [method_value(m, status.periods[0]) for m in ("min", "max", "distinctCount")] == [
        "a",
        "c",
        3,
    ]
    assert method_value("sum", status.periods[0]) is None  # N/A for strings
    (opened,) = found[NS + "open"]  # true = 1, false = 0 (table 4.5.19.1-1, note)
    assert method_value("sum", opened.periods[0]) == 2.0
    assert method_value("distinctCount", opened.periods[0]) == 2
    (lanes,) = found[NS + "lanes"]  # arrays: their sizes
    assert [method_value(m, lanes.periods[0]) for m in ("avg", "sum", "min", "max")] == [
        2.5,
        5.0,
        2.0,
        3.0,
    ]
    assert method_value("stddev", lanes.periods[0]) is None
    (ref,) = found[NS + "refParking"]
    assert ref.attr_type == "Relationship"
    assert method_value("distinctCount", ref.periods[0]) == 2
    assert method_value("totalCount", ref.periods[0]) == 3
    assert method_value("avg", ref.periods[0]) is None


def test_time_window_sets_the_grid_origin(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    tq = TemporalQuery(timerel="after", time_at="2024-01-01T00:15:00.000000Z")
    found = _aggregate(history, loop, ("sum",), tq=tq, origin=tq.time_at)
    (series,) = found[NS + "temperature"]
    # [00:15, 01:15) = 20 + 30; [02:15, 03:15) = 5 + 5 (02:15 is on the boundary)
    assert _values(series, "sum") == {0: 50.0, 2: 10.0}


def test_last_n_then_whole_range(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    (series,) = _aggregate(history, loop, ("sum",), period=None, tq=TemporalQuery(last_n=2))[
        NS + "temperature"
    ]
    assert _values(series, "sum") == {0: 10.0}
    assert series.periods[0].first_time == "2024-01-01T02:15:00.000000Z"


def test_max_periods_per_series_and_last_index(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    (series,) = _aggregate(history, loop, ("sum",), period="PT1M", max_periods=15)[
        NS + "temperature"
    ]
    # minutes 0 and 10 from 00:10 are within the first 15 periods; 40 and later are not
    assert [p.index for p in series.periods] == [0, 10]
    assert series.last_index == 150  # 02:40 is 150 minutes after 00:10


def test_aggregation_reads_the_time_index(temporal: Any) -> None:
    history, loop = temporal
    tq = TemporalQuery(timerel="after", time_at="2020-01-01T00:00:00.000000Z")
    agg = AggregationQuery(("avg",), parse_duration("PT1H"), origin=tq.time_at)
    plan = loop.run_until_complete(history.explain_aggregation("", SID, tq, agg))
    # the series by their key, then each one's rows in the window: one range of its key
    assert any("history_series_key" in step for step in plan), plan
    assert any("SEARCH r USING PRIMARY KEY (series=? AND at>?)" in step for step in plan), plan
    assert not any(step.startswith("SCAN r") for step in plan), plan


def test_origin_is_the_first_instance_time() -> None:
    # sanity of the reference helper itself, on a hand-computed calendar case
    origin = parse_datetime("2024-01-31T12:00:00Z", "o")
    assert _reference_index(origin, parse_datetime("2024-03-31T12:00:00Z", "t"), Duration(1)) == 2


def test_spans_found_by_index_seeks(temporal: Any) -> None:
    history, loop = temporal
    _load(history, loop)
    tq = TemporalQuery(timerel="after", time_at="2024-01-01T00:15:00.000000Z")

    def spans(conn: sqlite3.Connection) -> tuple[Any, Any, Any]:
        sql, params = sqlite_temporal.span_select("", [SID, "urn:x:none"], Reading(tq))
        assert "ORDER BY x.at DESC LIMIT 1" in sql  # seeks
        by_seeks = sorted(conn.execute(sql, params).fetchall())
        by_scan = sorted(
            conn.execute(
                "SELECT entity_id, attr, min(observed_at), max(observed_at) FROM"
                " attribute_instances WHERE observed_at >= ? GROUP BY entity_id, attr",
                (micros("2024-01-01T00:15:00.000001Z"),),
            ).fetchall()
        )
        sql, params = sqlite_temporal.span_select("", [SID], Reading(tq, [NS + "pm10", NS + "x"]))
        return by_seeks, by_scan, conn.execute(sql, params).fetchall()

    by_seeks, by_scan, picked = loop.run_until_complete(history.store.run_read(spans))
    assert by_seeks == by_scan and len(by_seeks) == 6
    assert picked == [
        (
            SID,
            NS + "pm10",
            micros("2024-01-01T00:30:00.000000Z"),
            micros("2024-01-01T00:40:00.000000Z"),
        )
    ]


def test_overflowing_sums_give_null_not_a_false_zero() -> None:
    # Two instances of 1e308: their sum and sum of squares overflow the float range. A stddev
    # of 0 (inf - inf = nan, then max(0, nan)) claimed the values were equal; no finite answer
    # is null, like the sum and the average (clause 4.5.19.1 defines no overflow behaviour).
    big = PeriodStats(
        index=0,
        total=2,
        n_numbers=2,
        sum_numbers=float("inf"),
        sumsq_numbers=float("inf"),
        min_number=1e308,
        max_number=1e308,
    )
    assert [method_value(m, big) for m in ("sum", "avg", "sumsq", "stddev")] == [None] * 4
    assert [method_value(m, big) for m in ("min", "max")] == [1e308, 1e308]
    finite = PeriodStats(index=0, total=2, n_numbers=2, sum_numbers=4.0, sumsq_numbers=10.0)
    assert method_value("stddev", finite) == 1.0
