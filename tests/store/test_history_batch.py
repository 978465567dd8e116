"""The temporal API's batched append on SQLite (``history.upsert_instances``, ETSI GS CIM 009
v1.9.1 clause 5.6.11-5.6.12: posting an instance again at the same observedAt replaces it) leaves
exactly the rows that adding the same instances one at a time leaves (``upsert_instance``),
instance ids aside: with instances already recorded at those times, repeated times inside the
batch, datasetIds, instances without observedAt, records of a deletion and duplicates in the
stored history."""

from __future__ import annotations

import random
import sqlite3
from importlib import resources
from typing import Any

import pytest

from cityhub.store.sqlite import history

ATTR = "https://ex.org/pm25"
NOW = "2026-12-07T00:00:00.000000Z"


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    sql = resources.files("cityhub.store.sqlite").joinpath("migrations", "0007_history.sql")
    conn.executescript(sql.read_text())
    return conn


def _instances(rnd: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        inst: dict[str, Any] = {"type": "Property", "value": rnd.choice([rnd.random(), "x", True])}
        if rnd.random() < 0.9:
            hour = rnd.randrange(12)
            inst["observedAt"] = rnd.choice(
                [f"2025-01-01T{hour:02d}:00:00Z", f"2025-01-01T{hour:02d}:00:00.000Z"]
            )
        if rnd.random() < 0.3:
            inst["datasetId"] = "urn:ngsi-ld:Dataset:a"
        if rnd.random() < 0.05:
            inst["deletedAt"] = "2025-02-01T00:00:00Z"
        out.append(inst)
    return out


def _rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT seq, tenant, entity_id, attr, dataset_id, observed_at, created_at, modified_at,"
        " deleted_at, instance, value_number FROM attribute_instances ORDER BY seq"
    ).fetchall()


@pytest.mark.parametrize("seed", range(40))
def test_batch_leaves_the_rows_one_at_a_time_leaves(seed: int) -> None:
    rnd = random.Random(seed)
    one, batch = _db(), _db()
    before = _instances(rnd, rnd.randrange(0, 15))
    for conn in (one, batch):  # the stored history, duplicates included
        for inst in before:
            conn.execute(history._INSERT, history.instance_row("", "urn:e", ATTR, inst, NOW))
    for step in range(3):
        now = f"2026-12-07T00:00:0{step + 1}.000000Z"
        new = _instances(rnd, rnd.randrange(1, 30))
        for inst in new:
            history.upsert_instance(one, "", "urn:e", ATTR, inst, now)
        history.upsert_instances(batch, "", "urn:e", ATTR, new, now)
        assert _rows(batch) == _rows(one)
    assert _rows(one)
