"""``lastN`` on SQLite (ETSI GS CIM 009 v1.9.1 clause 4.11, 6.18.3.2): the walk down each
series' rows (``history_rows_select``) returns exactly the rows of the general statement that
numbers every instance of the window (``walk=False``), in the same order, over histories with
ties in observedAt, instances without observedAt, records of a deletion, datasetIds and several
tenants; and it reads only the rows it returns."""

from __future__ import annotations

import random
import sqlite3

import pytest

from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.history import InstanceRow
from cityhub.store.sqlite import history, migrate, series
from cityhub.store.sqlite.temporal import history_rows, history_rows_select
from cityhub.store.temporal_sql import Reading

NS = "https://ex.org/"
IDS = [f"urn:ngsi-ld:S:{i}" for i in range(5)]
ATTRS = [NS + a for a in ("a", "b", "c")]


def _db(seed: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate.migrate(conn)
    rnd = random.Random(seed)
    rows: dict[str, list[InstanceRow]] = {"": [], "other": []}
    for n in range(600):
        hour = rnd.randrange(30)
        observed = None if rnd.random() < 0.1 else f"2025-01-01T{hour % 24:02d}:00:00.000000Z"
        created = f"2025-02-01T00:{rnd.randrange(60):02d}:00.000000Z"
        deleted = created if rnd.random() < 0.05 else None
        tenant = rnd.choice(["", "", "other"])
        rows[tenant].append(
            (
                tenant,
                rnd.choice(IDS),
                rnd.choice(ATTRS),
                rnd.choice(["", "", "urn:ngsi-ld:Dataset:x"]),
                f"urn:ngsi-ld:instance:{n}",
                observed,
                created,
                created,
                deleted,
                f'{{"type": "Property", "value": {n}}}',
                float(n),
            )
        )
    conn.execute("BEGIN")
    for tenant, recorded in rows.items():
        conn.executemany(series.INSERT, history.compact_rows(conn, tenant, recorded))
    conn.execute("COMMIT")
    return conn


QUERIES = [
    TemporalQuery(last_n=3),
    TemporalQuery(last_n=1, timeproperty_given=True),
    TemporalQuery("before", "2025-01-01T12:00:00.000000Z", last_n=4),
    TemporalQuery("after", "2025-01-01T05:00:00.000000Z", last_n=2),
    TemporalQuery(
        "between", "2025-01-01T03:00:00.000000Z", "2025-01-01T20:00:00.000000Z", last_n=5
    ),
    TemporalQuery("before", "2025-03-01T00:00:00.000000Z", timeproperty="createdAt", last_n=3),
    TemporalQuery("after", "2025-01-01T00:00:00.000000Z", timeproperty="deletedAt", last_n=2),
    TemporalQuery("before", "2025-01-02T00:00:00.000000Z", last_n=1000),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tq", QUERIES, ids=lambda q: f"{q.timerel}-{q.timeproperty}-{q.last_n}")
@pytest.mark.parametrize(
    "attrs,datasets",
    [(None, None), ([NS + "a"], None), (ATTRS[1:], [None]), (None, ["urn:ngsi-ld:Dataset:x"])],
)
def test_same_rows_as_numbering_every_instance(
    seed: int, tq: TemporalQuery, attrs: list[str] | None, datasets: list[str | None] | None
) -> None:
    conn = _db(seed)
    reading = Reading(tq, attrs, datasets)
    rows = 0
    for tenant in ("", "other"):
        for ids in (IDS, IDS[2:3], [IDS[0], "urn:ngsi-ld:S:none"]):
            expected = list(history_rows(conn, tenant, ids, reading, walk=False))
            got = list(history_rows(conn, tenant, ids, reading))
            assert got == expected
            rows += len(expected)
    assert rows  # the case is not empty


def test_reads_the_newest_through_the_index() -> None:
    conn = _db(1)
    tq = TemporalQuery("before", "2025-01-01T12:00:00.000000Z", last_n=2)
    sql, params = history_rows_select("", IDS, Reading(tq, [NS + "a"]))
    plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    subquery = next(r[0] for r in plan if "CORRELATED SCALAR SUBQUERY" in r[-1])
    inner = [str(r[-1]) for r in plan if r[1] == subquery]
    # the lastN-th newest: one seek into the series' rows, read newest first (no sort)
    assert inner == ["SEARCH x USING PRIMARY KEY (series=? AND at<?)"]
    # then the series' rows from there on: one range, not the whole history
    steps = [str(r[-1]) for r in plan]
    assert "SEARCH r USING PRIMARY KEY (series=? AND at>? AND at<?)" in steps
    assert not any(s.startswith("SCAN r") or s.startswith("SCAN x") for s in steps)
