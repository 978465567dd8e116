"""The temporal API's batched append on SQLite (``history.upsert_instances``, ETSI GS CIM 009
v1.9.1 clause 5.6.11-5.6.12: posting an instance again at the same observedAt replaces it) leaves
exactly the rows that adding the same instances one at a time leaves (the rule written plainly
here, its rows stored without compaction, so the compact ones must rebuild the same instances),
instance ids aside: with instances already recorded at those times, repeated times inside the
batch, datasetIds, instances without observedAt, records of a deletion and duplicates in the
stored history."""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import orjson
import pytest

from cityhub.ngsild.temporal import normalize_time
from cityhub.store import compact
from cityhub.store import history as history_rules
from cityhub.store.instances import strip_system, value_number
from cityhub.store.sqlite import history, migrate, series

ATTR = "https://ex.org/pm25"
NOW = "2026-12-07T00:00:00.000000Z"


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate.migrate(conn)
    return conn


def _instances(rnd: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        inst: dict[str, Any] = {
            "type": "Property",
            "value": rnd.choice([rnd.random(), "x", True, rnd.randrange(-3, 3), -0.0, 2**60]),
        }
        if rnd.random() < 0.9:
            hour = rnd.randrange(12)
            inst["observedAt"] = rnd.choice(
                [f"2025-01-01T{hour:02d}:00:00Z", f"2025-01-01T{hour:02d}:00:00.000Z"]
            )
        if rnd.random() < 0.3:
            inst["datasetId"] = "urn:ngsi-ld:Dataset:a"
        if rnd.random() < 0.05:
            inst["deletedAt"] = "2025-02-01T00:00:00Z"
        if rnd.random() < 0.1:  # recorded at its modifiedAt, not the batch's time (0019)
            inst["modifiedAt"] = inst.get("observedAt") or "2025-01-03T00:00:00Z"
        out.append(inst)
    return out


def _rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """The rows as the temporal API reads them (the view, each instance rebuilt), in
    recording order."""
    return [
        # the instance as JSON text: 1 and 1.0 differ, and so does the order of members
        (*r[:8], orjson.dumps(series.instance_of(r[8], r[9], r[10], r[11])), r[9])
        for r in conn.execute(
            "SELECT tenant, entity_id, attr, dataset_id, observed_at, created_at, modified_at,"
            " deleted_at, instance, value_number, form, at FROM attribute_instances ORDER BY seq"
        )
    ]


def _record(conn: sqlite3.Connection, rows: list[Any]) -> None:
    conn.executemany(series.INSERT, history.compact_rows(conn, "", rows))


def _upsert_one(conn: sqlite3.Connection, inst: dict[str, Any], now: str) -> None:
    """The rule one instance at a time, written plainly (and stored without compaction): an
    instance with observedAt replaces the first one not deleted of the same datasetId and
    observedAt, else it is added."""
    observed = inst.get("observedAt")
    if observed:
        found = conn.execute(
            "SELECT series, at, seq FROM attribute_instances WHERE tenant = '' AND entity_id ="
            " 'urn:e' AND attr = ? AND observed_at = ? AND dataset_id = ? AND deleted_at IS NULL"
            " ORDER BY seq LIMIT 1",
            (
                ATTR,
                series.micros(normalize_time(observed, "observedAt")),
                inst.get("datasetId") or "",
            ),
        ).fetchone()
        if found is not None:
            body = strip_system(inst)
            conn.execute(
                "UPDATE history_instances SET body = ?, form = 0, modified = ?, num = ?"
                " WHERE series = ? AND at = ? AND seq = ?",
                (orjson.dumps(body).decode(), series.micros(now), value_number(body), *found),
            )
            return
    row = history_rules.instance_row("", "urn:e", ATTR, inst, now)
    compact = list(history.compact_rows(conn, "", [row])[0])
    compact[8] = row[9]  # the JSON kept as it is
    compact[3] = None if compact[3] is None else 0
    conn.execute(series.INSERT, compact)


@pytest.mark.parametrize("seed", range(40))
def test_batch_leaves_the_rows_one_at_a_time_leaves(seed: int) -> None:
    rnd = random.Random(seed)
    one, batch = _db(), _db()
    before = _instances(rnd, rnd.randrange(0, 15))
    for conn in (one, batch):  # the stored history, duplicates included
        _record(conn, [history_rules.instance_row("", "urn:e", ATTR, i, NOW) for i in before])
    for step in range(3):
        now = f"2026-12-07T00:00:0{step + 1}.000000Z"
        new = _instances(rnd, rnd.randrange(1, 30))
        for inst in new:
            _upsert_one(one, inst, now)
        history.upsert_instances(batch, "", "urn:e", ATTR, new, now)
        assert _rows(batch) == _rows(one)
    assert _rows(one)


@pytest.mark.parametrize(
    "n", [history.CHUNK - 1, history.CHUNK, history.CHUNK + 1, 2 * history.CHUNK + 9]
)
def test_a_long_batch_inserted_in_chunks_leaves_the_rows_one_at_a_time_leaves(n: int) -> None:
    """A request of many instances (a sensor's month) is inserted :data:`history.CHUNK` rows
    a statement, the rest one by one: the same rows, in recording order, and the days'
    rollups count each once; mostly plain numbers (the fast path) with others among them."""
    rnd = random.Random(n)
    one, batch = _db(), _db()
    new: list[dict[str, Any]] = []
    for i in range(n):
        inst: dict[str, Any] = {
            "type": "Property",
            "value": rnd.choice([rnd.random() * 100, rnd.randrange(100)]),
            "observedAt": f"2025-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
        }
        if rnd.random() < 0.1:
            inst["unitCode"] = "GQ"
        if rnd.random() < 0.05:
            inst["observedAt"] = "2025-01-01T00:00:00Z"  # again: replaces the first one
        new.append(inst)
    for inst in new:
        _upsert_one(one, inst, NOW)
    history.upsert_instances(batch, "", "urn:e", ATTR, new, NOW)
    assert _rows(batch) == _rows(one)
    counted = batch.execute("SELECT sum(n), sum(n_numbers) FROM history_days").fetchone()
    stored = batch.execute("SELECT count(*), count(num) FROM history_instances").fetchone()
    assert counted == stored and stored[0] > n * 0.9


@pytest.mark.parametrize("forms", [compact.SQLITE, compact.POSTGRES], ids=["sqlite", "postgres"])
def test_the_fast_path_encodes_plain_instances_as_their_json_does(forms: compact.Forms) -> None:
    """``Forms.plain`` (no JSON written) gives what ``Forms.encode`` of the instance's JSON
    gives, or declines: integers, decimals, -0.0, 2**53, booleans, text, observedAt written
    in every form, members in another order; ``Forms.decode`` gives the JSON back."""
    rnd = random.Random(1)
    declined = 0
    for _ in range(3000):
        value = rnd.choice(
            [rnd.random() * 1e3, rnd.randrange(-(10**6), 10**6), -0.0, 0.0, 2**53, 2**53 - 1]
            + [1e300, 1.5e-9, True, "x"]
        )
        shown = rnd.choice(
            ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000000Z"]
            + ["2025-01-01T00:00:00.5Z", "2025-01-01T09:00:00+09:00", "2025-01-01T00:00:00.120Z"]
        )
        inst: dict[str, Any] = {"type": "Property", "value": value, "observedAt": shown}
        if rnd.random() < 0.1:
            inst = {"observedAt": shown, "type": "Property", "value": value}
        observed = normalize_time(shown, "observedAt")
        expected = forms.encode(orjson.dumps(inst).decode(), value_number(inst), observed)
        fast = forms.plain(inst, observed)
        if fast is None:
            declined += 1
            assert expected[0] is not None, inst  # encode keeps the JSON too
        else:
            assert expected == (None, fast[1]) and fast[0] == value_number(inst), inst
            rebuilt = forms.decode(fast[0], fast[1], observed)
            assert orjson.dumps(rebuilt) == orjson.dumps(inst)
    assert 0 < declined < 3000


#: the forms on disk (SQLite's migration 0019, PostgreSQL's 0013): (value, observedAt as
#: written) -> (SQLite's form, PostgreSQL's form); a JSON kept -> the form of "in full"
ON_DISK = [
    (7, "2025-01-01T00:00:00Z", 1, 3),
    (7.5, "2025-01-01T00:00:00Z", 0, 2),
    (7, "2025-01-01T00:00:00.000Z", 5, 5),
    (7.5, "2025-01-01T00:00:00.000Z", 4, 4),
    (7, "2025-01-01T00:00:00.000000Z", 3, 1),
    (7.5, "2025-01-01T00:00:00.000000Z", 2, 0),
    ("x", "2025-01-01T00:00:00Z", 2, 0),
]


@pytest.mark.parametrize(("value", "shown", "sqlite", "postgres"), ON_DISK)
def test_the_forms_on_disk_stay_what_the_migrations_wrote(
    value: Any, shown: str, sqlite: int, postgres: int
) -> None:
    """The two backends' form numbers are on disk (databases written before read the same):
    SQLite's second bit turned over (0019) so that the commonest form is 0, PostgreSQL's as
    0013 wrote it; each decodes its own numbers to the JSON as written."""
    inst: dict[str, Any] = {"type": "Property", "value": value, "observedAt": shown}
    observed = normalize_time(shown, "observedAt")
    text = orjson.dumps(inst).decode()
    for forms, form in ((compact.SQLITE, sqlite), (compact.POSTGRES, postgres)):
        body, got = forms.encode(text, value_number(inst), observed)
        assert got == form, (forms, inst)
        if body is None:
            assert forms.plain(inst, observed) == (float(value), form)
            assert orjson.dumps(forms.decode(float(value), form, observed)).decode() == text
        else:
            assert body == text and forms.plain(inst, observed) is None


def test_an_instance_of_a_batch_modified_keeps_its_recording_time() -> None:
    """Clause 5.6.14: modifying an instance changes its modifiedAt, not its createdAt. The
    rows of a batch recorded at the batch's time keep no recording time of their own
    (migration 0019, ``series.CREATED``); one recorded at another time (its modifiedAt) keeps
    its own, even when it is its ``at``. Rewritten, each keeps its recording time."""
    from cityhub.store.sqlite.temporal import SqliteTemporalRows

    conn = _db()
    recorded = "2025-01-03T00:00:00.000000Z"
    batch: list[dict[str, Any]] = [
        {"type": "Property", "value": n + 0.5, "observedAt": f"2025-01-01T{n:02d}:00:00Z"}
        for n in range(series.BATCH + 2)
    ]
    batch.append({"type": "Property", "value": 1, "modifiedAt": recorded})  # no observedAt
    history.upsert_instances(conn, "", "urn:e", ATTR, batch, NOW)
    stored = conn.execute("SELECT seq, created FROM history_instances ORDER BY seq").fetchall()
    assert len(stored) == len(batch)
    assert {c for _, c in stored[:-1]} == {None} and stored[-1][1] == 0  # at: its modifiedAt
    rows = SqliteTemporalRows(conn, "")
    later = "2026-12-08T00:00:00.000000Z"
    moved = "2025-02-01T00:00:00.000000Z"
    changes = [
        (stored[3][0], {"type": "Property", "value": 7, "observedAt": moved}, moved, NOW),
        (stored[-1][0], {"type": "Property", "value": 8}, None, recorded),
    ]
    for seq, inst, observed, created in changes:
        assert rows.find_instance("urn:e", ATTR, f"urn:ngsi-ld:Instance:{seq}") is not None
        rows.update_instance(seq, inst, observed, inst["value"], later)
        got = conn.execute(
            "SELECT created_at, modified_at, observed_at FROM attribute_instances WHERE seq = ?",
            (seq,),
        ).fetchone()
        assert got == (
            series.micros(created),
            series.micros(later),
            None if observed is None else series.micros(observed),
        )
