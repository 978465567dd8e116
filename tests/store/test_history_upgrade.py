"""A history written by the release before SQLite migration 0014 (cityhub 54ea7f1, one
``attribute_instances`` table) and one written by the release before migration 0016 (11366c6,
series with text times; ``history_db/make.py`` built each fixture with its release, through
its HTTP API) open with today's code, which moves them into series (0014), counts their daily
rollups (0015) and turns their times into integer microseconds (0016), and the temporal API
answers exactly as that release did (ETSI GS CIM 009
v1.9.1 clauses 5.7.3-5.7.4, 4.5.19: instances with their ids and system times,
temporalValues, lastN, windows along observedAt, createdAt and modifiedAt, datasetIds,
aggregation, a deleted entity, a second tenant). Then the same changes as the release made
after the fixture (an instance it recorded modified by its id, appends that replace and add,
clause 5.6.12, 5.6.14) give the same answers again, the ids of the instances written afterwards
aside (they are minted afresh)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.store.history_db.make import AFTER, REQUESTS, changes
from tests.store.test_history_days import RECOUNT, months_of_instances

HERE = Path(__file__).resolve().parent / "history_db"
OLDEST = HERE / "54ea7f1.db"  # one attribute_instances table
TEXT_TIMES = HERE / "11366c6.db"  # series, their times as text (before 0016)


def _recorded(db: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(db.with_suffix(".json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(params=[OLDEST, TEXT_TIMES], ids=["54ea7f1", "11366c6"])
def released(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


@pytest.fixture
def copy(tmp_path: Path, released: Path) -> Path:
    path = tmp_path / "hub.db"
    shutil.copyfile(released, path)
    return path


def _answers(client: Any, requests: list[tuple[str, dict[str, str]]]) -> list[dict[str, Any]]:
    out = []
    for path, headers in requests:
        response = client.get(path, headers=headers)
        is_json = "json" in response.headers.get("content-type", "")
        out.append(
            {
                "path": path,
                "headers": headers,
                "status": response.status_code,
                "body": response.json() if is_json else response.text,
            }
        )
    return out


def _ids(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["instanceId"]} if isinstance(value.get("instanceId"), str) else set()
        return found.union(*(_ids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_ids(v) for v in value))
    return set()


def _minted_aside(value: Any, known: set[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: "(minted)" if k == "instanceId" and v not in known else _minted_aside(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_minted_aside(v, known) for v in value]
    return value


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_the_fixtures_are_the_old_layouts() -> None:
    conn = sqlite3.connect(f"file:{OLDEST}?mode=ro&immutable=1", uri=True)
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master"))
    assert kinds["attribute_instances"] == "table" and "history_series" not in kinds
    assert conn.execute("SELECT max(version) FROM cityhub_migrations").fetchone() == (13,)
    assert conn.execute("SELECT count(*) FROM attribute_instances").fetchone()[0] > 90
    conn = sqlite3.connect(f"file:{TEXT_TIMES}?mode=ro&immutable=1", uri=True)
    assert conn.execute("SELECT max(version) FROM cityhub_migrations").fetchone() == (15,)
    types = conn.execute(
        "SELECT count(*), count(DISTINCT typeof(at)), min(typeof(at)), sum(body IS NULL),"
        " count(created), count(modified), count(deleted) FROM history_instances"
    ).fetchone()
    # compact rows, text times, recording and modification times, records of a deletion
    assert types[0] > 90 and types[1:3] == (1, "text") and all(types[3:])
    assert max(OLDEST.stat().st_size, TEXT_TIMES.stat().st_size) < 200_000


def _count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    table = "history_instances" if db == TEXT_TIMES else "attribute_instances"
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_it_answers_as_the_release_did(copy: Path, released: Path) -> None:
    with make_client(copy.parent, f"sqlite:///{copy}") as client:
        now = _answers(client, REQUESTS)
    conn = sqlite3.connect(copy)
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master"))
    assert kinds["attribute_instances"] == "view"  # 0014 ran
    moved = conn.execute("SELECT count(*) FROM history_instances").fetchone()[0]
    assert moved == _count(released)
    # 0016: every time an integer
    kinds_of_times = conn.execute(
        "SELECT DISTINCT typeof(at), typeof(created), typeof(modified), typeof(deleted)"
        " FROM history_instances"
    ).fetchall()
    assert {k for row in kinds_of_times for k in row} <= {"integer", "null"}
    # 0015 counted the moved rows into daily rollups (0016 again, by day number)
    kept = conn.execute("SELECT * FROM history_days ORDER BY 1, 2").fetchall()
    assert kept and kept == conn.execute(RECOUNT).fetchall()
    # 0017 counted the months from the days
    months = conn.execute("SELECT * FROM history_months ORDER BY 1, 2").fetchall()
    assert months and months == months_of_instances(conn)
    recorded = _recorded(released)
    # as JSON text: 1 and 1.0 differ, and so does the order of members
    differences = [
        (r, n) for r, n in zip(recorded["answers"], now, strict=True) if _text(r) != _text(n)
    ]
    assert differences == []


def test_later_changes_answer_as_on_the_release(copy: Path, released: Path) -> None:
    recorded = _recorded(released)
    known = _ids(recorded["answers"])
    assert recorded["recorded_id"] in known
    with make_client(copy.parent, f"sqlite:///{copy}") as client:
        changes(client, recorded["recorded_id"])
        now = _answers(client, AFTER)
    expected = _minted_aside(recorded["after"], known)
    assert _text(_minted_aside(now, known)) == _text(expected)
    # new instances were written compactly, and their minted ids find them
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT count(*) FROM history_instances WHERE body IS NULL").fetchone()[0]
    assert "(minted)" in json.dumps(expected)
