"""The PostgreSQL history partitioned by month (PostgreSQL migration 0020, issue 21): a database
written by the release before it (cityhub 1b3800f, schema 19) opens and answers the same;
writes make the months they need, on a connection of their own; retention drops whole months
and the temporal API answers as if the rows had been deleted one by one (ETSI GS CIM 009
v1.9.1 clauses 5.7.3-5.7.4, 5.6.11)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.ngsild.datetime import format_datetime
from cityhub.settings import Settings
from cityhub.store.postgres import retention
from cityhub.store.retention import RetentionPolicy
from tests.conftest import make_client
from tests.postgres.release import load_release, sql
from tests.store.history_db.make import AFTER, REQUESTS, changes
from tests.store.test_history_upgrade import _answers, _ids, _minted_aside, _text

HERE = Path(__file__).resolve().parent / "history_db"
RECORDED: dict[str, Any] = json.loads((HERE / "1b3800f.json").read_text(encoding="utf-8"))
T = "/ngsi-ld/v1/temporal/entities"
EID = "urn:ngsi-ld:Sensor:m1"
SPEED = "https://uri.etsi.org/ngsi-ld/default-context/speed"


@pytest.fixture
def released(postgres_url: str) -> str:
    load_release(postgres_url, RECORDED["tables"], 19, quiet_triggers=True)
    sql(postgres_url, "SELECT setval('history_seq', max(seq)) FROM history_instances")
    return postgres_url


_PARTS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = $1::regclass ORDER BY 1"
)


def _months(url: str, table: str = "history_instances") -> list[str]:
    return [r[0] for r in sql(url, _PARTS, table) if r[0][-7:-3].isdigit()]


def test_the_fixture_is_the_release_before_partitions(released: str) -> None:
    assert sql(released, "SELECT max(version) FROM cityhub_migrations")[0][0] == 19
    kind = "SELECT relkind::text FROM pg_class WHERE oid = 'history_instances'::regclass"
    assert sql(released, kind)[0][0] == "r"
    assert sql(released, "SELECT count(*) FROM history_days")[0][0] > 0


def test_a_release_database_moves_into_months_and_answers_the_same(
    released: str, tmp_path: Path
) -> None:
    rows = sql(released, "SELECT * FROM history_instances ORDER BY series, at, seq")
    days = sql(released, "SELECT * FROM history_days ORDER BY series, day")
    months = sorted({r["at"].astimezone(UTC).strftime("y%Ym%m") for r in rows})
    with make_client(tmp_path, released) as client:
        now = _answers(client, REQUESTS)
    kind = "SELECT relkind::text FROM pg_class WHERE oid = 'history_instances'::regclass"
    assert sql(released, kind)[0][0] == "p"  # 0020 ran: partitioned
    assert {f"history_instances_{m}" for m in months} <= set(_months(released))
    assert {f"history_days_{m}" for m in months} <= set(_months(released, "history_days"))
    # every row and every rollup as it was, each in its month's partition
    assert sql(released, "SELECT * FROM history_instances ORDER BY series, at, seq") == rows
    assert sql(released, "SELECT * FROM history_days ORDER BY series, day") == days
    placed = sql(
        released,
        "SELECT count(*) FROM history_instances WHERE tableoid::regclass::text <>"
        " 'history_instances_' || to_char(at AT TIME ZONE 'UTC', '\"y\"YYYY\"m\"MM')",
    )
    assert placed[0][0] == 0
    differences = [
        (r, n) for r, n in zip(RECORDED["answers"], now, strict=True) if _text(r) != _text(n)
    ]
    assert differences == []


def test_later_changes_answer_as_on_the_release(released: str, tmp_path: Path) -> None:
    known = _ids(RECORDED["answers"])
    assert RECORDED["recorded_id"] in known
    with make_client(tmp_path, released) as client:
        changes(client, RECORDED["recorded_id"])
        now = _answers(client, AFTER)
    assert _text(_minted_aside(now, known)) == _text(_minted_aside(RECORDED["after"], known))
    # the rollups the triggers keep on the partitioned tables are those counted from the rows
    recount = (
        "SELECT series, (at AT TIME ZONE 'UTC')::date, count(*), count(num),"
        " count(*) FILTER (WHERE num IS NULL AND deleted IS NULL), min(num), max(num)"
        " FROM history_instances WHERE form IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
    )
    kept = "SELECT series, day, n, n_numbers, n_other, low, high FROM history_days ORDER BY 1, 2"
    assert sql(released, kept) == sql(released, recount)


@pytest.fixture
def client(postgres_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=postgres_url))) as c:
        yield c


def _instance(value: float, at: str) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at}


def _values(client: TestClient, tenant: str = "") -> list[float]:
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    got = client.get(f"{T}/{EID}", params={"options": "temporalValues"}, headers=headers)
    assert got.status_code == 200, got.text
    speed = got.json().get("speed")
    return [v[0] for v in speed["values"]] if speed else []


def test_a_write_makes_the_months_it_needs(client: TestClient, postgres_url: str) -> None:
    """Appends into months nobody wrote yet, one of them far off: each ordinary month gets its
    partitions (instances and rollups); a year outside 2000-2099 goes to the catch-alls and makes
    none; the answers are those of the instances written."""
    body = {
        "id": EID,
        "type": "Sensor",
        "speed": [
            _instance(1, "2019-11-30T23:59:59Z"),
            _instance(2, "2019-12-01T00:00:00+09:00"),  # 2019-11-30 15:00 UTC
            _instance(3, "2019-12-01T00:00:00Z"),
            _instance(4, "1850-01-01T00:00:00Z"),
            _instance(5, "2250-01-01T00:00:00Z"),
        ],
    }
    assert client.post(T, json=body).status_code == 201
    months = _months(postgres_url)
    assert {"history_instances_y2019m11", "history_instances_y2019m12"} <= set(months)
    assert not [m for m in months if m[-7:-3] in ("1850", "2250")]
    assert {"history_days_y2019m11", "history_days_y2019m12"} <= set(
        _months(postgres_url, "history_days")
    )
    assert _values(client) == [4, 2, 1, 3, 5]
    where = sql(
        postgres_url,
        "SELECT num, tableoid::regclass::text FROM history_instances ORDER BY num",
    )
    assert [tuple(r) for r in where] == [
        (1.0, "history_instances_y2019m11"),
        (2.0, "history_instances_y2019m11"),
        (3.0, "history_instances_y2019m12"),
        (4.0, "history_instances_early"),
        (5.0, "history_instances_late"),
    ]


def test_one_batch_writes_into_many_new_months(client: TestClient, postgres_url: str) -> None:
    """A batch create (clause 5.6.7) whose entities' observedAt fall in eight months nobody wrote
    yet: the months are made on another connection while the batch's transaction has already
    written history, which PostgreSQL does not see unless the transaction takes a new lock. It
    failed with no partition for the row (a 500) once a batch held more new months than the
    store runs a transaction again; now every entity and its history is written."""
    batch = [
        {
            "id": f"urn:ngsi-ld:Sensor:b{m}",
            "type": "Sensor",
            "speed": _instance(m, f"2016-{m:02d}-15T12:00:00Z"),
        }
        for m in range(1, 9)
    ]
    got = client.post("/ngsi-ld/v1/entityOperations/create", json=batch)
    assert got.status_code == 201, got.text
    assert {f"history_instances_y2016m{m:02d}" for m in range(1, 9)} <= set(_months(postgres_url))
    rows = sql(
        postgres_url,
        "SELECT num, tableoid::regclass::text FROM history_instances ORDER BY num",
    )
    assert [tuple(r) for r in rows] == [
        (float(m), f"history_instances_y2016m{m:02d}") for m in range(1, 9)
    ]


def test_a_month_made_by_a_write_that_rolls_back_stays(
    client: TestClient, postgres_url: str
) -> None:
    """The partitions are made on a connection of their own and committed at once: a write
    transaction that fails after making one leaves it there, and a write already holding rows of
    another month in its transaction does not wait for the making (no lock of the parent it
    holds conflicts with ATTACH's)."""
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal is not None
    from cityhub.store.postgres import history

    def two_months_then_fail(conn: Any) -> None:
        history.insert(
            conn,
            "",
            [
                (
                    ("urn:x", "a", ""),
                    "2018-03-05T00:00:00.000000Z",
                    None,
                    1.0,
                    0,
                    None,
                    None,
                    None,
                    None,
                    None,
                )
            ],
        )
        history.insert(
            conn,
            "",
            [
                (
                    ("urn:x", "a", ""),
                    "2018-04-05T00:00:00.000000Z",
                    None,
                    2.0,
                    0,
                    None,
                    None,
                    None,
                    None,
                    None,
                )
            ],
        )
        assert conn.fetchval("SELECT count(*) FROM history_instances") == 2
        raise RuntimeError("rolled back")

    async def run() -> None:
        async with asyncio.timeout(60):
            await store.run_transaction(two_months_then_fail)

    with pytest.raises(RuntimeError, match="rolled back"):
        client.portal.call(run)
    assert {"history_instances_y2018m03", "history_instances_y2018m04"} <= set(
        _months(postgres_url)
    )
    assert sql(postgres_url, "SELECT count(*) FROM history_instances")[0][0] == 0
    # the process knows them now: a write into them is one statement, and it lands
    body = {"id": EID, "type": "Sensor", "speed": [_instance(7, "2018-04-06T00:00:00Z")]}
    assert client.post(T, json=body).status_code == 201
    assert _values(client) == [7]


def test_retention_drops_whole_months(client: TestClient, postgres_url: str) -> None:
    """Three months of a sensor's history and a retention of 40 days: the months that ended
    before the cutoff are dropped (partitions and rollups gone, no row deleted one by one), the
    month the cutoff falls in loses its older rows row by row, and the answers are the instances
    from the cutoff on, as SQLite's row-by-row pruning leaves them."""
    now = datetime(2021, 3, 20, tzinfo=UTC)
    hours = [datetime(2021, 1, 1, tzinfo=UTC) + timedelta(hours=7 * i) for i in range(260)]
    body = {
        "id": EID,
        "type": "Sensor",
        "speed": [_instance(i, format_datetime(t)) for i, t in enumerate(hours)],
    }
    assert client.post(T, json=body).status_code == 201
    assert {"history_instances_y2021m01", "history_instances_y2021m02"} <= set(
        _months(postgres_url)
    )
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal is not None
    cutoff = now - timedelta(days=40)  # 2021-02-08
    pruner = retention.Pruner(store, RetentionPolicy(days=40), 3600)
    gone = client.portal.call(pruner.prune, format_datetime(now))
    assert gone == len([t for t in hours if t < cutoff])
    months = _months(postgres_url)
    assert "history_instances_y2021m01" not in months  # dropped whole
    assert {"history_instances_y2021m02", "history_instances_y2021m03"} <= set(months)
    assert "history_days_y2021m01" not in _months(postgres_url, "history_days")
    assert _values(client) == [i for i, t in enumerate(hours) if t >= cutoff]
    assert client.portal.call(pruner.prune, format_datetime(now)) == 0
    # a late reading for the dropped month: this process thought the month was there
    store.history_months.known.add("2021-01")
    late = {"id": EID, "type": "Sensor", "speed": [_instance(-1, "2021-01-15T00:00:00Z")]}
    assert client.post(f"{T}/{EID}/attrs", json={"speed": late["speed"]}).status_code == 204
    assert -1 in _values(client)
    assert client.portal.call(pruner.prune, format_datetime(now)) == 1


def test_a_tenant_keeping_everything_keeps_every_month(
    client: TestClient, postgres_url: str
) -> None:
    """A month is dropped only when it is old for every tenant with history: with one tenant
    keeping everything, the other tenant's old rows go row by row and the months stay."""
    old = {"id": EID, "type": "Sensor", "speed": [_instance(1, "2020-05-05T00:00:00Z")]}
    for tenant in ("keeper", "pruned"):
        made = client.post(T, json=old, headers={"NGSILD-Tenant": tenant})
        assert made.status_code == 201, made.text
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal is not None
    policy = RetentionPolicy(days=0, by_tenant={"pruned": 30})
    gone = client.portal.call(retention.Pruner(store, policy, 3600).prune)
    assert gone == 1
    assert "history_instances_y2020m05" in _months(postgres_url)
    assert _values(client, "keeper") == [1]
    assert _values(client, "pruned") == []


def test_making_a_month_waits_a_bounded_time(
    client: TestClient, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write waits for its month's making outside PostgreSQL's sight, so that making's lock
    wait is bounded (a third party waiting for the write, as retention's detach waits for older
    transactions, would be a cycle no deadlock detector sees): while another transaction holds
    a conflicting lock on the parent the write gives up after its retries instead of hanging,
    and once the lock is gone the same write lands."""
    import asyncpg

    from cityhub.store.postgres import history, partitions

    monkeypatch.setattr(partitions, "LOCK_TIMEOUT_MS", 200)
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal is not None
    row = (("urn:x", "a", ""), "2017-05-05T00:00:00.000000Z", None, 1.0, 0)
    pending = (*row, None, None, None, None, None)

    def write(conn: Any) -> None:
        history.insert(conn, "", [pending])  # type: ignore[list-item]

    async def run() -> tuple[str, int]:
        blocker = await asyncpg.connect(postgres_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE history_instances IN SHARE UPDATE EXCLUSIVE MODE")
            async with asyncio.timeout(30):
                try:
                    await store.run_transaction(write)
                    outcome = "written"
                except asyncpg.LockNotAvailableError:
                    outcome = "gave up"
            await tx.rollback()
            await store.run_transaction(write)
            return outcome, int(await blocker.fetchval("SELECT count(*) FROM history_instances"))
        finally:
            await blocker.close()

    assert client.portal.call(run) == ("gave up", 1)
    assert "history_instances_y2017m05" in _months(postgres_url)
