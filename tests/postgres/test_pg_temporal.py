"""The temporal API suite (tests/api/test_temporal.py) on PostgreSQL, plus what is PostgreSQL's
own: the time-window index, BRIN indexes, history written in the change's transaction, the
aggregation period index against ISO 8601 arithmetic, retention across workers.

The API tests are imported from tests/api/test_temporal.py and run here with a ``client`` on a
fresh PostgreSQL schema (its ``_app`` helper is replaced by one opening PostgreSQL), so both
backends answer the one suite. Left out: the tests about SQLite settings and SQLite's plan.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.duration import Duration, parse_duration
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.settings import Settings
from cityhub.store.postgres import retention
from cityhub.store.postgres import temporal as pg_temporal
from cityhub.store.postgres.params import Params
from cityhub.store.retention import RetentionPolicy
from tests.api import test_temporal as suite

#: the SQLite-only tests of the suite (its settings on an SQLite file; SQLite's query plan)
_SQLITE_ONLY = {
    "test_history_can_be_turned_off",
    "test_bad_retention_setting_is_refused_at_start",
    "test_history_reads_use_the_index",
}
# every other test of the suite, collected here too, on PostgreSQL
globals().update(
    {
        name: test
        for name, test in vars(suite).items()
        if name.startswith("test_") and name not in _SQLITE_ONLY
    }
)

T = "/ngsi-ld/v1/temporal/entities"
E = "/ngsi-ld/v1/entities"


@pytest.fixture(autouse=True)
def _on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's ``_app`` opens this test's PostgreSQL schema instead of an SQLite file."""

    def pg_app(tmp_path: Path, instance_limit: int = 1000) -> Starlette:
        app = create_app(Settings(store=postgres_url))
        app.state.temporal.instance_limit = instance_limit
        return app

    monkeypatch.setattr(suite, "_app", pg_app)


@pytest.fixture
def client(postgres_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=postgres_url)), raise_server_exceptions=False) as c:
        yield c


def test_history_can_be_turned_off_on_postgres(postgres_url: str) -> None:
    settings = Settings(store=postgres_url, history=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        body = {"id": suite.VID, "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
        assert client.post(E, json=body).status_code == 201
        assert client.get(f"{T}/{suite.VID}").status_code == 404
        assert client.post(T, json=suite.vehicle("urn:ngsi-ld:Vehicle:2")).status_code == 201
        assert len(client.get(f"{T}/urn:ngsi-ld:Vehicle:2").json()["speed"]) == 3


def _sql(client: TestClient, sql: str, *args: Any) -> list[Any]:
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal is not None
    return list(client.portal.call(lambda: store.fetch(sql, *args)))


def _scans(plan: list[str]) -> dict[str, str]:
    """Each partition an EXPLAIN reads: its scan line and the lines under it (a bitmap scan's
    index scan, the conditions)."""
    out: dict[str, str] = {}
    for i, line in enumerate(plan):
        if " on history_instances_" in line and "Bitmap Index" not in line:
            name = line.split(" on ", 1)[1].split()[0]
            out[name] = " / ".join(n.strip() for n in plan[i : i + 5])
    return out


def test_time_window_reads_seek_each_series_key(postgres_url: str) -> None:
    """A window of one entity's history is read by its series (the unique key) and one range of
    each series' rows' key (series, at, seq), in each monthly partition the window overlaps and
    in no other (PostgreSQL migrations 0013, 0020): no scan of the instances, no sort of them by
    time other than the final merge."""
    with TestClient(create_app(Settings(store=postgres_url))) as client:
        assert client.post(T, json=suite.vehicle()).status_code == 201
        # other series around the vehicle's month (2020-08), so the planner has rows to weigh
        _sql(
            client,
            "SELECT cityhub_history_month(m) FROM unnest($1::date[]) m",
            [datetime(2020, 7, 1).date(), datetime(2020, 9, 1).date()],
        )
        _sql(
            client,
            "INSERT INTO history_instances (at, num, series, form) SELECT"
            " timestamptz '2020-07-01 00:00+00' + h * interval '4 hours', h, 1000 + s, 0"
            " FROM generate_series(1, 100) s, generate_series(0, 545) h",
        )
        _sql(client, "ANALYZE history_instances")
        temporal = client.app.state.temporal  # type: ignore[attr-defined]
        assert client.portal is not None
        plans = [
            client.portal.call(lambda q=query: temporal.explain_history("", suite.VID, q))
            for query in (
                TemporalQuery(timerel="after", time_at="2020-01-01T00:00:00.000000Z"),
                TemporalQuery(timerel="before", time_at="2030-01-01T00:00:00.000000Z", last_n=2),
                TemporalQuery(
                    timerel="between",
                    time_at="2020-08-01T00:00:00.000000Z",
                    end_time_at="2020-08-02T00:00:00.000000Z",
                ),
            )
        ]
        months = _sql(
            client,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'history_instances'::regclass ORDER BY 1",
        )
        indexes = _sql(
            client,
            "SELECT indexname FROM pg_indexes WHERE tablename = 'history_instances_y2020m08'",
        )
    assert {"history_instances_y2020m07", "history_instances_y2020m08"} <= {r[0] for r in months}
    for plan in plans:
        text = "\n".join(plan)
        assert "history_series_tenant_entity_id_attr_dataset_id_key" in text, text
        scans = _scans(plan)
        for scan in scans.values():  # only the months without a row are not seeked
            assert "Seq Scan" not in scan or "cost=0.00..0.00" in scan, text
        # the months holding rows are read by (series, at): one range of each series' key
        for name in ("history_instances_y2020m08", "history_instances_y2020m09"):
            if name in scans:
                assert f"{name}_pkey" in scans[name], text
                assert "Index Cond: ((series = s.id) AND (at " in scans[name], text
        assert "history_instances_y2020m08" in scans, text
    assert "history_instances_early" not in _scans(plans[0])  # before the window: pruned
    assert "Backward" in "\n".join(plans[1])  # lastN walks each series from its newest row
    assert set(_scans(plans[2])) == {"history_instances_y2020m08"}  # one month's window
    assert {r[0] for r in indexes} == {"history_instances_y2020m08_pkey"}  # no other index


def test_history_rolls_back_with_the_change(postgres_url: str) -> None:
    """A batch upsert whose transaction fails leaves no history behind (same transaction)."""
    with TestClient(create_app(Settings(store=postgres_url))) as client:
        body = {"id": suite.VID, "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
        assert client.post(E, json=body).status_code == 201
        before = _sql(client, "SELECT count(*) FROM attribute_instances")[0][0]
        store = client.app.state.store  # type: ignore[attr-defined]

        def fail(tx: Any) -> None:
            current = tx.get(suite.VID)
            current["attrs"]["https://uri.etsi.org/ngsi-ld/default-context/speed"][0]["value"] = 2
            tx.save(current, tx.get(suite.VID))
            raise RuntimeError("the request fails after writing")

        assert client.portal is not None
        with pytest.raises(RuntimeError):
            client.portal.call(lambda: store.write("", fail))
        after = _sql(client, "SELECT count(*) FROM attribute_instances")[0][0]
    assert before == after > 0


def _reference_index(origin: datetime, when: datetime, d: Duration) -> int:
    k = 0
    while d.add_to(origin, k + 1) <= when:
        k += 1
    return k


@pytest.mark.parametrize(
    "text", ["PT1H", "PT90S", "PT0.25S", "P1D", "P1W", "P1M", "P3M", "P1Y", "P1M1D", "P2MT12H"]
)
def test_sql_period_index_agrees_with_duration_arithmetic(postgres_url: str, text: str) -> None:
    period = parse_duration(text)
    rnd = random.Random(text)
    cases: list[tuple[datetime, datetime]] = []
    origins = (
        datetime(2024, 1, 31, 12, tzinfo=UTC),
        datetime(2023, 5, 15, tzinfo=UTC),
        datetime(2024, 1, 28, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2023, 1, 29, 6, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    for origin in origins:
        span = max(period.add_to(origin, 6) - origin, timedelta(seconds=1))
        for _ in range(40):
            when = origin + span * rnd.random()
            cases.append((origin, when.replace(microsecond=rnd.choice([0, when.microsecond]))))
        for k in range(7):  # on each period's first instant, and the instant before
            edge = period.add_to(origin, k)
            cases += [(origin, edge), (origin, edge - timedelta(microseconds=1))]
        cases = [(o, w) for o, w in cases if w >= o]
    params = Params()
    index = pg_temporal._period_index(period, params)
    t = params.add([format_datetime(w) for _, w in cases], "text[]")
    o = params.add([format_datetime(o) for o, _ in cases], "text[]")
    sql = (
        f"SELECT {index} FROM unnest({t}, {o}) WITH ORDINALITY AS c(t, o, n),"
        " LATERAL (SELECT c.t::timestamptz AS t) b, LATERAL (SELECT c.o::timestamptz AS o) s"
        " ORDER BY c.n"
    )
    with TestClient(create_app(Settings(store=postgres_url))) as client:
        got = [r[0] for r in _sql(client, sql, *params.values)]
    assert got == [_reference_index(o, w, period) for o, w in cases]


@pytest.mark.parametrize("text", ["PT1H", "PT0.25S", "P1D", "P1W"])
def test_sql_period_index_before_the_origin_counts_down(postgres_url: str, text: str) -> None:
    """Instances before a timeAt origin (timerel=before) fall in periods -1, -2, ...: floor
    division, not bigint's truncation toward zero."""
    period = parse_duration(text)
    origin = datetime(2025, 3, 1, tzinfo=UTC)
    step = period.exact_microseconds
    offsets = [-1, -step, -step - 1, -3 * step + 1, 0, step - 1, step, 5 * step + 7]
    params = Params()
    index = pg_temporal._period_index(period, params)
    whens = [origin + timedelta(microseconds=us) for us in offsets]
    t = params.add([format_datetime(w) for w in whens], "text[]")
    o = params.add(format_datetime(origin))
    sql = (
        f"SELECT {index} FROM unnest({t}) WITH ORDINALITY AS c(t, n),"
        " LATERAL (SELECT c.t::timestamptz AS t) b,"
        f" LATERAL (SELECT {o}::timestamptz AS o) s ORDER BY c.n"
    )
    with TestClient(create_app(Settings(store=postgres_url))) as client:
        got = [r[0] for r in _sql(client, sql, *params.values)]
    assert got == [us // step for us in offsets]


def test_retention_prunes_old_instances(postgres_url: str) -> None:
    with TestClient(create_app(Settings(store=postgres_url))) as client:
        old = [
            {"type": "Property", "value": v, "observedAt": f"2020-01-0{v}T00:00:00Z"}
            for v in (1, 2)
        ]
        new = {"type": "Property", "value": 3, "observedAt": format_datetime(datetime.now(UTC))}
        body = {"id": suite.VID, "type": "Vehicle", "speed": [*old, new]}
        assert client.post(T, json=body).status_code == 201
        store = client.app.state.store  # type: ignore[attr-defined]
        assert client.portal is not None
        policy = RetentionPolicy(days=30)
        assert client.portal.call(retention.Pruner(store, policy, 3600).prune) == 2
        assert client.portal.call(retention.Pruner(store, policy, 3600).prune) == 0
        speeds = client.get(f"{T}/{suite.VID}").json()["speed"]
    assert [s["value"] for s in (speeds if isinstance(speeds, list) else [speeds])] == [3]


def test_retention_settings_start_a_pruner(postgres_url: str) -> None:
    settings = Settings(store=postgres_url, history_retention_by_tenant="city1=7")
    with TestClient(create_app(settings)) as client:
        temporal = client.app.state.temporal  # type: ignore[attr-defined]
        assert temporal.retention_policy.days_for("city1") == 7
        assert temporal._pruner._task is not None  # running in the background


def _insert_args(entity: str, attrs: list[str], value: float) -> list[Any]:
    """The arguments of ``history._INSERT``: one plain number at one time for each of
    ``attrs`` of ``entity`` (default tenant)."""
    n = len(attrs)
    at = ["2026-12-01T00:00:00.000000Z"] * n
    nothing: list[Any] = [None] * n
    series = list(range(1, n + 1))
    rows = [at, nothing, [value] * n, series, [0] * n, at, nothing, nothing, nothing, nothing]
    return [*rows, "", [entity] * n, attrs, [""] * n]


def test_a_series_made_by_two_writers_at_once_is_one_series(postgres_url: str) -> None:
    """The statement of every write of history rows finds or makes its series: a writer
    creating a series another open transaction is creating waits for it and then uses its id,
    instead of failing or making a second one."""
    import asyncpg

    from cityhub.store.postgres.history import _INSERT

    attrs = ["https://ex.org/a", "https://ex.org/b"]
    series = "SELECT array_agg(series ORDER BY num, series) FROM history_instances"

    async def run() -> tuple[Any, Any]:
        with TestClient(create_app(Settings(store=postgres_url))):
            pass  # migrated
        first, second = await asyncpg.connect(postgres_url), await asyncpg.connect(postgres_url)
        try:
            tx = first.transaction()
            await tx.start()
            await first.execute(_INSERT, *_insert_args("urn:ngsi-ld:S:1", attrs, 1.0))
            pid = second.get_server_pid()
            waiting = asyncio.ensure_future(
                second.execute(_INSERT, *_insert_args("urn:ngsi-ld:S:1", attrs, 2.0))
            )
            watcher = await asyncpg.connect(postgres_url)
            try:  # the event: the second writer waits for the first one's lock
                lock = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
                async with asyncio.timeout(60):
                    while not await watcher.fetchval(lock, pid):
                        await asyncio.sleep(0.01)
            finally:
                await watcher.close()
            assert not waiting.done()
            await tx.commit()
            await waiting
            made = await second.fetch("SELECT id, attr FROM history_series ORDER BY attr")
            return [(r[0], r[1]) for r in made], await second.fetchval(series)
        finally:
            await first.close()
            await second.close()

    made, used = asyncio.run(run())
    assert [a for _, a in made] == attrs
    ids = sorted(i for i, _ in made)
    assert used == ids * 2  # both writers' rows, in the two series


def test_a_write_probes_each_series_by_its_key(postgres_url: str) -> None:
    """The statement that writes history rows looks each series up by its unique key, even
    when the statistics say the table is empty: a join planned from them read every series of
    the tenant per write (measured in bench/suite.py's preload: 15-25 ms a statement at 8,000
    series, a 500-entity batch 5-11 s)."""
    import asyncpg

    from cityhub.store.postgres.history import _INSERT

    async def run() -> str:
        with TestClient(create_app(Settings(store=postgres_url))):
            pass  # migrated
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute("ANALYZE history_series")  # empty: the statistics of a new hub
            await conn.execute(
                "INSERT INTO history_series (tenant, entity_id, attr, dataset_id) SELECT '',"
                " 'urn:ngsi-ld:S:' || (i / 4), 'https://ex.org/a' || (i % 4), ''"
                " FROM generate_series(1, 8000) i"
            )
            args = _insert_args("urn:ngsi-ld:S:7", ["https://ex.org/a1", "https://ex.org/z"], 1)
            rows = await conn.fetch("EXPLAIN " + _INSERT, *args)
            return "\n".join(str(r[0]) for r in rows)
        finally:
            await conn.close()

    plan = asyncio.run(run())
    assert "Index Scan using history_series_tenant_entity_id_attr_dataset_id_key" in plan, plan
    assert "Seq Scan on history_series" not in plan, plan
    assert "Bitmap Heap Scan on history_series" not in plan, plan
    assert "Hash" not in plan, plan
