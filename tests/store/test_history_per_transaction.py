"""The SQLite history's instance rows are written once per write transaction
(``SqliteHistoryRows.flush_history``: one ``seq`` reservation, one series lookup, one pass over
the rollups for a whole batch), and what they store is exactly what recording each change on its
own stored (ETSI GS CIM 009 clause 4.5.0: every change of an attribute is an instance of its
history): the same series ids, ``seq`` numbers, ``history_batches`` rows, instance rows and
daily and monthly rollups, after random creates, updates, deletions of attributes and entities,
with savepoints rolled back between them (a batch operation's failed entity, clause 5.6.7)."""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import pytest

from cityhub.store import compact
from cityhub.store import history as history_rules
from cityhub.store.sqlite import history, migrate, series
from cityhub.store.sqlite.transaction import SqliteTransaction

NS = "https://ex.org/"
TABLES = (
    "history_series",
    "history_instances",
    "history_batches",
    "history_days",
    "history_months",
    "history_seq",
)


class _OneByOne(SqliteTransaction):
    """Each change's rows written when it is recorded, each row's series found or created on
    its own (``SeriesIds``), a ``seq`` reservation per change: the write path before the
    rows were held for the whole transaction."""

    def add_history_instances(self, rows: Any) -> None:
        if not rows:
            return
        ids = series.SeriesIds(self.conn, self.tenant)
        first, batch = series.allocate(self.conn, len(rows), series.micros(rows[0][6]))
        out = []
        for i, r in enumerate(rows):
            text, form = compact.SQLITE.encode(r[9], r[10], r[5])
            created = series.micros(r[6])
            at = series.micros(r[5]) if r[5] else created
            modified = None if r[7] == r[6] else series.micros(r[7])
            deleted = None if r[8] is None else series.micros(r[8])
            out.append(
                (
                    ids.ensure(r[1], r[2], r[3]),
                    at,
                    first + i,
                    form,
                    series.created_column(at, created, batch),
                    modified,
                    deleted,
                    None,
                    text,
                    r[10],
                )
            )
        history.insert(self.conn, out)


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate.migrate(conn)
    return conn


def _stamp(i: int) -> str:
    return f"2026-12-07T00:{i // 60 % 60:02d}:{i % 60:02d}.000000Z"


def _attrs(rnd: random.Random, now: str) -> dict[str, list[dict[str, Any]]]:
    attrs: dict[str, list[dict[str, Any]]] = {}
    names = ["pm25", "pm10", "no2", "o3", "co", "name", "level", "status"]
    for name in rnd.sample(names, rnd.randrange(1, len(names) + 1)):
        instances = []
        for dataset in rnd.sample([None, "urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:Dataset:b"], 2):
            inst: dict[str, Any] = {
                "type": "Property",
                "value": rnd.choice([rnd.random() * 100, "x", True, rnd.randrange(9)]),
                "createdAt": now,
                "modifiedAt": now,
            }
            if rnd.random() < 0.8:
                month, day = rnd.randrange(1, 13), rnd.randrange(1, 4)
                inst["observedAt"] = f"2026-{month:02d}-0{day}T01:00:00Z"
            if dataset is not None:
                inst["datasetId"] = dataset
            instances.append(inst)
            if rnd.random() < 0.5:
                break
        attrs[NS + name] = instances
    return attrs


def _script(seed: int) -> list[tuple[str, Any]]:
    """Random changes of a few entities: (kind, argument), with their own times."""
    rnd = random.Random(seed)
    live: dict[str, dict[str, Any]] = {}
    steps: list[tuple[str, Any]] = []
    for i in range(rnd.randrange(5, 40)):
        failing = rnd.random() < 0.2  # this change is rolled back in its savepoint
        if failing:
            steps.append(("fail", None))
            kept = dict(live)
        now = _stamp(i)
        eid = f"urn:ngsi-ld:Sensor:{rnd.randrange(6)}"
        roll = rnd.random()
        if eid not in live:
            entity = {
                "id": eid,
                "type": [NS + "Sensor"],
                "createdAt": now,
                "modifiedAt": now,
                "attrs": _attrs(rnd, now),
            }
            live[eid] = entity
            steps.append(("insert", entity))
        elif roll < 0.15:
            del live[eid]
            steps.append(("delete", eid))
        else:
            before = live[eid]
            after = {**before, "modifiedAt": now, "attrs": dict(before["attrs"])}
            for name, instances in _attrs(rnd, now).items():
                after["attrs"][name] = instances
            if roll < 0.3 and after["attrs"]:
                del after["attrs"][rnd.choice(sorted(after["attrs"]))]
            live[eid] = after
            steps.append(("save", (after, before)))
        if failing:
            live = kept
    return steps


def _run(tx: SqliteTransaction, steps: list[tuple[str, Any]]) -> None:
    failing = False
    for kind, arg in steps:
        if kind == "fail":
            failing = True
            continue
        try:
            with tx.savepoint():
                if kind == "insert":
                    tx.insert(arg)
                elif kind == "save":
                    tx.save(*arg)
                else:
                    tx.delete(arg)
                if failing:
                    raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        failing = False


def _tables(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


@pytest.mark.parametrize("seed", range(30))
def test_a_transaction_stores_what_its_changes_one_by_one_store(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a deletion is recorded at the time it is made: the same in both runs
    monkeypatch.setattr(history_rules, "now_iso", lambda: "2026-12-08T00:00:00.000000Z")
    steps = _script(seed)
    held, one_by_one = _db(), _db()
    for conn, cls in ((held, SqliteTransaction), (one_by_one, _OneByOne)):
        conn.execute("BEGIN IMMEDIATE")
        tx = cls(conn, "", [history_rules.record_change])
        _run(tx, steps)
        tx.flush_history()
        conn.execute("COMMIT")
    assert _tables(held) == _tables(one_by_one)
    assert _tables(held)["history_instances"]
    assert seed != 0 or _tables(held)["history_batches"]  # changes of 8 rows or more


def test_rows_held_until_the_flush_and_dropped_with_their_savepoint() -> None:
    conn = _db()
    conn.execute("BEGIN IMMEDIATE")
    tx = SqliteTransaction(conn, "", [history_rules.record_change])
    now = _stamp(0)
    entity = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": [NS + "Sensor"],
        "createdAt": now,
        "modifiedAt": now,
        "attrs": {NS + "pm25": [{"type": "Property", "value": 1, "modifiedAt": now}]},
    }
    tx.insert(entity)
    with pytest.raises(RuntimeError), tx.savepoint():
        tx.insert({**entity, "id": "urn:ngsi-ld:Sensor:2"})
        raise RuntimeError("rolled back")
    assert conn.execute("SELECT count(*) FROM history_instances").fetchone()[0] == 0
    tx.flush_history()
    rows = conn.execute("SELECT entity_id, seq FROM attribute_instances").fetchall()
    assert rows == [("urn:ngsi-ld:Sensor:1", 1)]
    conn.execute("COMMIT")
