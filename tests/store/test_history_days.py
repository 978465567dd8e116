"""The SQLite history's daily rollups (``cityhub.store.sqlite.days``, migration 0015): after any
sequence of writes (temporal appends that replace and add, clause 5.6.12; a modified and a
deleted instance, 5.6.14-5.6.15; a deleted datasetId's history, 5.6.13; the entity API's
changes; retention) they are what counting the rows again gives; and an aggregation they answer
(whole UTC days from a midnight ``timeAt``, ``totalCount``/``min``/``max``, clause 4.5.19) is
exactly the answer the instances give, periods, paging and series types included."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.duration import parse_duration
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings
from cityhub.store.open import open_backend
from cityhub.store.sqlite import days
from cityhub.store.sqlite.series import DAY_US, micros, sql_day
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.temporal import SqliteTemporalStore
from cityhub.store.temporal_sql import Reading

NS = "https://ex.org/"
IDS = [f"urn:ngsi-ld:Sensor:{i}" for i in range(3)]
RECOUNT = (
    f"SELECT series, {sql_day('at')}, count(*), count(num),"
    " count(CASE WHEN num IS NULL AND deleted IS NULL THEN 1 END), min(num), max(num)"
    " FROM history_instances WHERE form IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
)


class _Hub:
    def __init__(self, path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.backend = open_backend(f"sqlite:///{path}", Settings())
        self.store = cast(SqliteStore, self.backend.store)
        self.history = cast(SqliteTemporalStore, self.backend.temporal)
        self.run(self.backend.start())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def read(self, fn: Any) -> Any:
        return self.run(self.store.run_read(fn))

    def close(self) -> None:
        self.run(self.backend.close())
        self.loop.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[_Hub]:
    h = _Hub(tmp_path / "d.db")
    yield h
    h.close()


def _time(rnd: random.Random) -> str:
    day, hour = rnd.randrange(1, 60), rnd.randrange(24)
    month, day = (1, day) if day <= 31 else (2, day - 31)
    return f"2025-{month:02d}-{day:02d}T{hour:02d}:{rnd.choice(['00', '30'])}:00Z"


def _instance(rnd: random.Random, numbers_only: bool) -> dict[str, Any]:
    choices: list[Any] = [rnd.random() * 100, rnd.randrange(-50, 50), True]
    if not numbers_only:
        choices += ["text", [1, 2]]
    inst: dict[str, Any] = {"type": "Property", "value": rnd.choice(choices)}
    if rnd.random() < 0.95:
        inst["observedAt"] = _time(rnd)
    if rnd.random() < 0.2:
        inst["datasetId"] = "urn:ngsi-ld:Dataset:b"
    return inst


def _write(hub: _Hub, rnd: random.Random, numbers_only: bool) -> None:
    for eid in IDS:
        attrs = {
            NS + a: [_instance(rnd, numbers_only) for _ in range(rnd.randrange(1, 40))]
            for a in ("pm25", "pm10")
        }
        hub.run(hub.history.create_or_update("", {"id": eid, "type": [NS + "S"], "attrs": attrs}))
    for _ in range(3):  # appends, some at times already recorded (they replace)
        eid = rnd.choice(IDS)
        batch = {NS + "pm25": [_instance(rnd, numbers_only) for _ in range(rnd.randrange(1, 30))]}
        hub.run(hub.history.append_attributes("", eid, batch))


def months_of_instances(conn: sqlite3.Connection) -> list[Any]:
    """The monthly rollups counted from the instances, in Python."""
    found: dict[tuple[int, int], list[Any]] = {}
    for series_id, at, num, deleted in conn.execute(
        "SELECT series, at, num, deleted FROM history_instances WHERE form IS NOT NULL"
    ):
        moment = datetime(1970, 1, 1) + timedelta(microseconds=at)
        month = found.setdefault((series_id, moment.year * 12 + moment.month - 1), [])
        month.append((num, deleted))
    return [
        (
            s,
            m,
            len(v),
            sum(n is not None for n, _ in v),
            sum(n is None and d is None for n, d in v),
            min((n for n, _ in v if n is not None), default=None),
            max((n for n, _ in v if n is not None), default=None),
        )
        for (s, m), v in sorted(found.items())
    ]


def _rollups(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
    kept = conn.execute("SELECT * FROM history_days ORDER BY 1, 2").fetchall()
    months = conn.execute("SELECT * FROM history_months ORDER BY 1, 2").fetchall()
    assert months == months_of_instances(conn)  # migration 0017: kept with the days
    return kept, conn.execute(RECOUNT).fetchall()


def _instance_ids(hub: _Hub, eid: str) -> list[str]:
    found = hub.run(hub.history.get_entity("", eid, TemporalQuery(), [NS + "pm25"]))
    return [i["instanceId"] for i in found[1].get(NS + "pm25", [])]


@pytest.mark.parametrize("seed", range(6))
def test_rollups_follow_every_write(hub: _Hub, seed: int) -> None:
    rnd = random.Random(seed)
    _write(hub, rnd, numbers_only=False)
    kept, counted = hub.read(_rollups)
    assert kept == counted and kept
    ids = _instance_ids(hub, IDS[0])
    fragment = {"value": 12345.5, "observedAt": _time(rnd)}
    hub.run(hub.history.modify_instance("", IDS[0], NS + "pm25", ids[0], fragment))
    hub.run(hub.history.modify_instance("", IDS[0], NS + "pm25", ids[1], {"value": "now text"}))
    hub.run(hub.history.delete_instance("", IDS[0], NS + "pm25", ids[2]))
    hub.run(
        hub.history.delete_attribute(
            "", IDS[1], NS + "pm25", dataset_id="urn:ngsi-ld:Dataset:b", delete_all=False
        )
    )
    kept, counted = hub.read(_rollups)
    assert kept == counted

    def update(tx: Any) -> None:  # the entity API: an update and a deletion, recorded
        tx.insert(
            {
                "id": "urn:ngsi-ld:Lamp:1",
                "type": [NS + "Lamp"],
                "attrs": {NS + "v": [{"type": "Property", "value": 3, "observedAt": _time(rnd)}]},
                "createdAt": "2025-03-01T00:00:00.000000Z",
                "modifiedAt": "2025-03-01T00:00:00.000000Z",
            }
        )

    hub.run(hub.store.write("", update))
    hub.run(hub.store.write("", lambda tx: tx.delete("urn:ngsi-ld:Lamp:1")))
    kept, counted = hub.read(_rollups)
    assert kept == counted
    hub.run(hub.history.delete_entity("", IDS[2]))
    kept, counted = hub.read(_rollups)
    assert kept == counted


def test_retention_keeps_the_rollups(tmp_path: Path) -> None:
    from cityhub.store.retention import parse_retention
    from cityhub.store.sqlite import retention

    hub = _Hub(tmp_path / "r.db")
    try:
        _write(hub, random.Random(7), numbers_only=False)
        pruner = retention.Pruner(hub.store, parse_retention(30, ""), 3600)
        # 30 days before 2025-03-02T12:00: the first month goes, and half a day of the next
        assert hub.run(pruner.prune("2025-03-02T12:00:00Z", batch=7)) > 0
        kept, counted = hub.read(_rollups)
        assert kept == counted
        assert min(day for _, day, *_ in kept) >= micros("2025-01-31T00:00:00Z") // DAY_US
    finally:
        hub.close()


QUERIES = [
    ("P1D", ("max",), "2025-01-01", "2025-03-01"),
    ("P1D", ("min", "max", "totalCount"), "2025-01-10", "2025-02-10"),
    ("P2D", ("totalCount",), "2025-01-01", "2099-01-01"),
    ("P1W", ("min",), "2025-01-05", "2025-02-23"),
    ("P1M", ("max",), "2025-01-01", "2026-01-01"),
    ("P1M", ("max", "min"), "2025-01-31", "2025-03-01"),
    ("P1Y", ("max", "totalCount"), "2024-06-01", "2030-01-01"),
    ("P1M3D", ("max",), "2025-01-01", "2025-03-01"),
    ("P3M", ("min", "totalCount"), "2024-12-01", "2025-03-01"),
    ("P1M", ("totalCount", "max"), "2025-02-01", "2025-03-01"),
    ("P2M", ("max",), "2025-01-01", "2025-02-10"),
]
#: the queries the monthly rollups answer (whole months from the first of a month)
MONTHLY = {4, 6, 8, 9}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q[0]}-{'+'.join(q[1])}")
def test_rollups_answer_as_the_instances(
    hub: _Hub, seed: int, query: tuple[str, tuple[str, ...], str, str | None]
) -> None:
    rnd = random.Random(seed)
    _write(hub, rnd, numbers_only=True)
    period, methods, start, end = query
    tq = TemporalQuery("between", f"{start}T00:00:00.000000Z", f"{end}T00:00:00.000000Z")
    monthly = QUERIES.index(query) in MONTHLY
    for max_periods, newest_first in ((1000, False), (3, False), (2, True)):
        agg = AggregationQuery(
            methods,
            parse_duration(period),
            origin=tq.time_at,
            max_periods=max_periods,
            newest_first=newest_first,
        )
        assert days.usable(Reading(tq), agg)
        assert days.by_months(Reading(tq), agg) == monthly
        for dataset_ids in (None, [None], ["urn:ngsi-ld:Dataset:b"]):
            for eid in IDS:
                rolled = hub.run(
                    hub.history.aggregate_entity("", eid, tq, agg, [NS + "pm25"], dataset_ids)
                )
                original = days.aggregate
                days.aggregate = lambda *a: None  # type: ignore[assignment]
                try:
                    direct = hub.run(
                        hub.history.aggregate_entity("", eid, tq, agg, [NS + "pm25"], dataset_ids)
                    )
                finally:
                    days.aggregate = original  # type: ignore[assignment]
                assert repr(rolled) == repr(direct)


def test_other_values_and_other_queries_read_the_instances(hub: _Hub) -> None:
    _write(hub, random.Random(3), numbers_only=False)
    tq = TemporalQuery("between", "2025-01-01T00:00:00.000000Z", "2025-03-01T00:00:00.000000Z")
    agg = AggregationQuery(("max",), parse_duration("P1D"), origin=tq.time_at)
    assert days.usable(Reading(tq), agg)
    # a day holding text: the whole read goes to the instances
    assert hub.read(lambda conn: days.aggregate(conn, "", IDS, Reading(tq), agg)) is None
    not_whole_days = [
        AggregationQuery(("max",), parse_duration("PT12H"), origin=tq.time_at),
        AggregationQuery(("avg",), parse_duration("P1D"), origin=tq.time_at),
        AggregationQuery(("max",), parse_duration("P1D"), origin="2025-01-01T06:00:00.000000Z"),
        AggregationQuery(("max",), parse_duration("P1D")),
    ]
    for other in not_whole_days:
        assert not days.usable(Reading(tq), other)
    noon = TemporalQuery("between", "2025-01-01T12:00:00.000000Z", "2025-03-01T00:00:00Z")
    assert not days.usable(Reading(noon), agg)
    # after is exclusive: an instance at midnight of the first day is not in the window
    after = TemporalQuery("after", "2025-01-01T00:00:00.000000Z")
    assert not days.usable(Reading(after), agg)
    assert not days.usable(Reading(TemporalQuery()), agg)  # the default view, not observedAt
