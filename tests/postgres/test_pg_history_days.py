"""The PostgreSQL history's daily rollups (``cityhub.store.postgres.days``, migration 0014,
kept by statement triggers): after any sequence of writes (temporal appends that replace and
add, clause 5.6.12; a modified and a deleted instance, 5.6.14-5.6.15; a deleted datasetId's
history, 5.6.13; the entity API's changes; retention) they are what counting the rows again
gives; and an aggregation they answer (whole UTC days from a midnight ``timeAt``,
``totalCount``/``min``/``max``, clause 4.5.19) is exactly the answer the instances give,
periods, paging and series types included. The histories and queries are SQLite's
(``tests/store/test_history_days.py``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any, cast

import pytest

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.duration import parse_duration
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings
from cityhub.store.open import open_backend
from cityhub.store.postgres import days
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.temporal import PostgresTemporalStore
from cityhub.store.temporal_sql import Reading
from tests.store.test_history_days import IDS, NS, QUERIES, _instance_ids, _time, _write

#: SQLite's, and grids PostgreSQL groups itself (days.py ``_period_of_day``): months from a
#: mid-month origin, days from an origin that is not the window's first day
PG_QUERIES = [
    *QUERIES,
    ("P1M", ("min", "max"), "2025-01-15", "2025-03-01"),
    ("P2M", ("totalCount",), "2024-12-28", "2025-03-01"),
    ("P3D", ("totalCount", "max"), "2025-01-02", "2025-02-27"),
]
RECOUNT = (
    "SELECT series, (at AT TIME ZONE 'UTC')::date, count(*), count(num),"
    " count(CASE WHEN num IS NULL AND deleted IS NULL THEN 1 END), min(num), max(num)"
    " FROM history_instances WHERE form IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
)


class _Hub:
    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.backend = open_backend(url, Settings())
        self.store = cast(PostgresStore, self.backend.store)
        self.history = cast(PostgresTemporalStore, self.backend.temporal)
        self.run(self.backend.start())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def read(self, fn: Any) -> Any:
        return self.run(self.store.run_read(fn))

    def close(self) -> None:
        self.run(self.backend.close())
        self.loop.close()


@pytest.fixture
def hub(postgres_url: str) -> Iterator[_Hub]:
    h = _Hub(postgres_url)
    yield h
    h.close()


def _rollups(conn: Any) -> tuple[list[Any], list[Any]]:
    kept = [tuple(r) for r in conn.fetch("SELECT * FROM history_days ORDER BY 1, 2")]
    return kept, [tuple(r) for r in conn.fetch(RECOUNT)]


@pytest.mark.parametrize("seed", range(4))
def test_rollups_follow_every_write(hub: _Hub, seed: int) -> None:
    rnd = random.Random(seed)
    _write(hub, rnd, numbers_only=False)  # type: ignore[arg-type]
    kept, counted = hub.read(_rollups)
    assert kept == counted and kept
    ids = _instance_ids(hub, IDS[0])  # type: ignore[arg-type]
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


def test_retention_keeps_the_rollups(hub: _Hub) -> None:
    from cityhub.store.postgres import retention
    from cityhub.store.retention import parse_retention

    _write(hub, random.Random(7), numbers_only=False)  # type: ignore[arg-type]
    pruner = retention.Pruner(hub.store, parse_retention(30, ""), 3600)
    # 30 days before 2025-03-02T12:00: the first month goes, and half a day of the next
    assert hub.run(pruner.prune("2025-03-02T12:00:00Z", batch=7)) > 0
    kept, counted = hub.read(_rollups)
    assert kept == counted
    assert min(str(day) for _, day, *_ in kept) >= "2025-01-31"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("query", PG_QUERIES, ids=lambda q: f"{q[0]}-{'+'.join(q[1])}")
def test_rollups_answer_as_the_instances(
    hub: _Hub, seed: int, query: tuple[str, tuple[str, ...], str, str | None]
) -> None:
    rnd = random.Random(seed)
    _write(hub, rnd, numbers_only=True)  # type: ignore[arg-type]
    period, methods, start, end = query
    tq = TemporalQuery("between", f"{start}T00:00:00.000000Z", f"{end}T00:00:00.000000Z")
    compared = 0
    for max_periods, newest_first in ((1000, False), (3, False), (2, True)):
        agg = AggregationQuery(
            methods,
            parse_duration(period),
            origin=tq.time_at,
            max_periods=max_periods,
            newest_first=newest_first,
        )
        assert days.usable(Reading(tq), agg)
        assert hub.read(lambda conn, a=agg: days.aggregate(conn, "", IDS, Reading(tq), a))
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
                compared += "periods=[]" not in repr(direct)
    assert compared  # some answers held periods


def test_other_values_and_other_queries_read_the_instances(hub: _Hub) -> None:
    _write(hub, random.Random(3), numbers_only=False)  # type: ignore[arg-type]
    tq = TemporalQuery("between", "2025-01-01T00:00:00.000000Z", "2025-03-01T00:00:00.000000Z")
    agg = AggregationQuery(("max",), parse_duration("P1D"), origin=tq.time_at)
    assert days.usable(Reading(tq), agg)
    # a day holding text: the whole read goes to the instances
    assert hub.read(lambda conn: days.aggregate(conn, "", IDS, Reading(tq), agg)) is None
    numbers = TemporalQuery("between", "2025-01-01T00:00:00.000000Z", "2025-01-02T00:00:00Z")
    assert not days.usable(Reading(numbers), AggregationQuery(("avg",), parse_duration("P1D")))
    after = TemporalQuery("after", "2025-01-01T00:00:00.000000Z")
    assert not days.usable(Reading(after), agg)  # after excludes its midnight instant


def test_a_recount_waits_for_an_addition_to_its_day(postgres_url: str) -> None:
    """Migration 0017: a transaction adds an instance to a day while another edits an instance
    of the same series and day (its trigger counts the day again); the recount waits for the
    addition to commit and counts it, instead of writing the day without it (0014)."""
    import asyncpg

    async def go() -> tuple[list[Any], list[Any]]:
        adder, editor = await asyncpg.connect(postgres_url), await asyncpg.connect(postgres_url)
        watcher = await asyncpg.connect(postgres_url)
        try:
            await adder.execute(
                "SELECT cityhub_history_month('2025-01-01');"  # its partition (migration 0020)
                " INSERT INTO history_series (tenant, entity_id, attr, dataset_id)"
                " VALUES ('', 'urn:ngsi-ld:S:1', 'https://ex.org/a', '');"
                " INSERT INTO history_instances (at, num, series, form, created)"
                " SELECT '2025-01-01T01:00:00Z', 1, id, 0, now() FROM history_series"
            )
            tx = adder.transaction()
            await tx.start()
            await adder.execute(
                "INSERT INTO history_instances (at, num, series, form, created)"
                " SELECT '2025-01-01T02:00:00Z', 5, id, 0, now() FROM history_series"
            )
            pid = editor.get_server_pid()
            edit = asyncio.ensure_future(
                editor.execute("UPDATE history_instances SET num = 3 WHERE num = 1")
            )
            lock = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
            async with asyncio.timeout(60):
                while not await watcher.fetchval(lock, pid):
                    await asyncio.sleep(0.01)
            await tx.commit()
            await edit
            kept = [tuple(r) for r in await watcher.fetch("SELECT * FROM history_days")]
            return kept, [tuple(r) for r in await watcher.fetch(RECOUNT)]
        finally:
            for conn in (adder, editor, watcher):
                await conn.close()

    _Hub(postgres_url).close()  # migrated
    kept, counted = asyncio.run(go())
    assert kept == counted and kept[0][2] == 2  # both instances of the day
