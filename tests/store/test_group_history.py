"""The SQLite writer writes the history rows of a group commit's jobs together, before the
group's COMMIT (one series lookup, one ``seq`` reservation, one pass over the rollups per
group), and what it stores is exactly what running the same writes one at a time stores (ETSI
GS CIM 009 clause 4.5.0: every change of an attribute is an instance of its history): the same
series ids, ``seq`` numbers, instance rows, rollups and head rows, with jobs that fail in the
middle of a group (clause 5.6.7: a failed write leaves no trace), two tenants, and temporal
API writes (which read and write history rows themselves) between entity writes."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cityhub.store import history as history_rules
from cityhub.store.base import Transaction
from cityhub.store.sqlite import history
from cityhub.store.sqlite import store as sqlite_store
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.temporal import SqliteTemporalRows
from cityhub.store.sqlite.transaction import SqliteTransaction

NS = "https://ex.org/"
TABLES = (
    "history_series",
    "history_instances",
    "history_batches",
    "history_days",
    "history_months",
    "history_seq",
    "temporal_entities",
    "entities",
)


def _stamp(i: int) -> str:
    return f"2026-12-08T00:{i // 60 % 60:02d}:{i % 60:02d}.000000Z"


def _attrs(rnd: random.Random, now: str) -> dict[str, list[dict[str, Any]]]:
    attrs: dict[str, list[dict[str, Any]]] = {}
    for name in rnd.sample(["pm25", "pm10", "no2", "name"], rnd.randrange(1, 5)):
        inst: dict[str, Any] = {
            "type": "Property",
            "value": rnd.choice([rnd.random() * 100, "x", rnd.randrange(9)]),
            "createdAt": now,
            "modifiedAt": now,
        }
        if rnd.random() < 0.8:
            inst["observedAt"] = f"2026-{rnd.randrange(1, 13):02d}-01T01:00:00Z"
        if rnd.random() < 0.3:
            inst["datasetId"] = "urn:ngsi-ld:Dataset:a"
        attrs[NS + name] = [inst]
    return attrs


class _Failed(Exception):
    pass


def _jobs(seed: int) -> list[tuple[str, str, Any, bool]]:
    """Random writes: (tenant, kind, argument, fails), the entities' states followed as the
    writes that do not fail leave them."""
    rnd = random.Random(seed)
    live: dict[tuple[str, str], dict[str, Any]] = {}
    jobs: list[tuple[str, str, Any, bool]] = []
    for i in range(rnd.randrange(20, 60)):
        tenant = rnd.choice(["", "", "t2"])
        fails = rnd.random() < 0.15
        now = _stamp(i)
        eid = f"urn:ngsi-ld:Sensor:{rnd.randrange(5)}"
        roll = rnd.random()
        if roll < 0.2:  # the temporal API: instances added to the history only
            inst = {"type": "Property", "value": rnd.random(), "observedAt": now}
            jobs.append((tenant, "temporal", (eid, NS + "pm25", inst, now), fails))
            continue
        current = live.get((tenant, eid))
        if current is None:
            entity = {
                "id": eid,
                "type": [NS + "Sensor"],
                "createdAt": now,
                "modifiedAt": now,
                "attrs": _attrs(rnd, now),
            }
            jobs.append((tenant, "insert", entity, fails))
            after: dict[str, Any] | None = entity
        elif roll < 0.3:
            jobs.append((tenant, "delete", eid, fails))
            after = None
        else:
            after = {**current, "modifiedAt": now, "attrs": dict(current["attrs"])}
            after["attrs"].update(_attrs(rnd, now))
            jobs.append((tenant, "save", (after, current), fails))
        if not fails:
            if after is None:
                live.pop((tenant, eid), None)
            else:
                live[(tenant, eid)] = after
    return jobs


def _fn(kind: str, arg: Any, fails: bool) -> Any:
    def fn(tx: Transaction) -> str:
        if kind == "insert":
            tx.insert(arg)
        elif kind == "save":
            tx.save(*arg)
        elif kind == "delete":
            tx.delete(arg)
        else:
            rows = SqliteTemporalRows(tx.conn, tx.tenant)  # type: ignore[attr-defined]
            rows.upsert_instances(arg[0], arg[1], [arg[2]], arg[3])
        if fails:
            raise _Failed(kind)
        return kind

    return fn


async def _run(path: Path, jobs: list[tuple[str, str, Any, bool]], together: bool) -> Any:
    store = SqliteStore(str(path))
    store.tx_hooks.append(history_rules.record_change)
    await store.start()
    try:
        calls = []
        for tenant, kind, arg, fails in jobs:
            write = store.write_with_history if kind == "temporal" else store.write
            calls.append(write(tenant, _fn(kind, arg, fails)))
        if together:
            results = await asyncio.gather(*calls, return_exceptions=True)
        else:
            results = []
            for call in calls:
                try:
                    results.append(await call)
                except _Failed as exc:
                    results.append(exc)
        return [r if isinstance(r, str) else type(r).__name__ for r in results]
    finally:
        await store.close()


def _tables(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


@pytest.mark.parametrize("held_rows", [sqlite_store._HELD_ROWS, 3])
@pytest.mark.parametrize("seed", range(12))
def test_a_group_stores_what_its_jobs_one_at_a_time_store(
    seed: int, held_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a deletion is recorded at the time it is made: the same in both runs
    monkeypatch.setattr(history_rules, "now_iso", lambda: "2026-12-08T01:00:00.000000Z")
    # 3: the rows held are written after the job that passes 3 rows, within the group too
    monkeypatch.setattr(sqlite_store, "_HELD_ROWS", held_rows)
    sizes: list[int] = []
    held_flushes: list[int] = []
    real_group, real_flush = sqlite_store._run_group, history.flush_held

    def spy_group(conn: Any, group: list[Any]) -> None:
        sizes.append(len(group))
        real_group(conn, group)

    def spy_flush(conn: Any, held: Any) -> None:
        held_flushes.append(len(held))
        real_flush(conn, held)

    monkeypatch.setattr(sqlite_store, "_run_group", spy_group)
    monkeypatch.setattr(history, "flush_held", spy_flush)
    jobs = _jobs(seed)
    one_by_one = asyncio.run(_run(tmp_path / "a.db", jobs, together=False))
    assert set(sizes) == {1} and not held_flushes  # each its own transaction, as before
    sizes.clear()
    together = asyncio.run(_run(tmp_path / "b.db", jobs, together=True))
    assert max(sizes) > 1  # the writes did share transactions
    assert max(held_flushes) > 1  # and their history rows were written together
    assert together == one_by_one
    assert "_Failed" in together
    a, b = _tables(tmp_path / "a.db"), _tables(tmp_path / "b.db")
    assert a == b
    assert a["history_instances"] and a["history_series"]


def test_a_failed_job_in_a_group_leaves_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = _stamp(0)
    entity = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": [NS + "Sensor"],
        "createdAt": now,
        "modifiedAt": now,
        "attrs": {NS + "pm25": [{"type": "Property", "value": 1, "modifiedAt": now}]},
    }
    jobs = [
        ("", "insert", {**entity, "id": f"urn:ngsi-ld:Sensor:{i}"}, i % 2 == 1) for i in range(40)
    ]
    results = asyncio.run(_run(tmp_path / "c.db", jobs, together=True))
    assert results.count("insert") == 20
    conn = sqlite3.connect(tmp_path / "c.db")
    try:
        recorded = conn.execute("SELECT entity_id FROM attribute_instances").fetchall()
        heads = conn.execute("SELECT id FROM temporal_entities").fetchall()
        stored = conn.execute("SELECT id FROM entities").fetchall()
    finally:
        conn.close()
    kept = sorted(f"urn:ngsi-ld:Sensor:{i}" for i in range(0, 40, 2))
    assert sorted(r[0] for r in recorded) == kept
    assert sorted(r[0] for r in heads) == sorted(r[0] for r in stored) == kept


def test_the_held_rows_are_the_transactions_until_taken() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    from cityhub.store.sqlite import migrate

    migrate.migrate(conn)
    conn.execute("BEGIN IMMEDIATE")
    tx = SqliteTransaction(conn, "", [history_rules.record_change])
    now = _stamp(0)
    tx.insert(
        {
            "id": "urn:ngsi-ld:Sensor:1",
            "type": [NS + "Sensor"],
            "createdAt": now,
            "modifiedAt": now,
            "attrs": {NS + "pm25": [{"type": "Property", "value": 1, "modifiedAt": now}]},
        }
    )
    taken = tx.take_history()
    assert len(taken) == 1
    tx.flush_history()  # nothing left to write
    assert conn.execute("SELECT count(*) FROM history_instances").fetchone()[0] == 0
    history.flush_held(conn, [("", taken)])
    assert conn.execute("SELECT entity_id, seq FROM attribute_instances").fetchall() == [
        ("urn:ngsi-ld:Sensor:1", 1)
    ]
    conn.execute("COMMIT")


def test_a_group_reads_the_subscriptions_version_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notification trigger asks the subscriptions' version for every change; a group's
    jobs share one read (subscriptions change only in plain jobs, between groups), and a
    change between groups is seen by the next one."""
    from cityhub.store.sqlite import transaction as sqlite_tx

    reads: list[int] = []
    real_read = sqlite_tx.subscriptions_version

    def counted(conn: Any) -> int:
        reads.append(1)
        return real_read(conn)

    monkeypatch.setattr(sqlite_tx, "subscriptions_version", counted)
    sizes: list[int] = []
    real_group = sqlite_store._run_group

    def spy_group(conn: Any, group: list[Any]) -> None:
        sizes.append(len(group))
        real_group(conn, group)

    monkeypatch.setattr(sqlite_store, "_run_group", spy_group)
    seen: list[int] = []

    def hook(tx: Any, change: Any) -> None:
        seen.append(tx.subscriptions_version())

    async def main() -> None:
        store = SqliteStore(str(tmp_path / "v.db"))
        store.tx_hooks.append(hook)
        await store.start()
        try:
            now = _stamp(0)
            for round_ in range(2):
                await asyncio.gather(
                    *(
                        store.write(
                            "",
                            _fn(
                                "insert",
                                {
                                    "id": f"urn:ngsi-ld:Sensor:{round_}-{i}",
                                    "type": [NS + "Sensor"],
                                    "createdAt": now,
                                    "modifiedAt": now,
                                    "attrs": {},
                                },
                                False,
                            ),
                        )
                        for i in range(40)
                    ),
                    return_exceptions=True,
                )
                # what a subscription's insert does (its trigger), in a plain job
                await store.run_transaction(
                    lambda c: c.execute("UPDATE notify_version SET version = version + 1")
                )
        finally:
            await store.close()

    asyncio.run(main())
    assert len(seen) == 80
    assert seen[:40] == [0] * 40 and seen[40:] == [1] * 40
    assert max(sizes) > 1
    assert len(reads) == len(sizes) < 80  # one read per group commit
