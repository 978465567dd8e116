"""A history written by the release before SQLite migration 0014 (cityhub 54ea7f1, one
``attribute_instances`` table; ``history_db/make.py`` built the fixture with that release,
through its HTTP API) opens with today's code, which moves it into series (0014) and counts its
daily rollups (0015), and the temporal API answers exactly as that release did (ETSI GS CIM 009
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
from tests.store.test_history_days import RECOUNT

HERE = Path(__file__).resolve().parent / "history_db"
RELEASED = HERE / "54ea7f1.db"
RECORDED: dict[str, Any] = json.loads((HERE / "54ea7f1.json").read_text(encoding="utf-8"))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    shutil.copyfile(RELEASED, path)
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


def test_the_fixture_is_the_old_layout() -> None:
    conn = sqlite3.connect(f"file:{RELEASED}?mode=ro&immutable=1", uri=True)
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master"))
    assert kinds["attribute_instances"] == "table" and "history_series" not in kinds
    assert conn.execute("SELECT max(version) FROM cityhub_migrations").fetchone() == (13,)
    assert conn.execute("SELECT count(*) FROM attribute_instances").fetchone()[0] > 90
    assert RELEASED.stat().st_size < 200_000


def test_it_answers_as_the_release_did(copy: Path) -> None:
    with make_client(copy.parent, f"sqlite:///{copy}") as client:
        now = _answers(client, REQUESTS)
    conn = sqlite3.connect(copy)
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master"))
    assert kinds["attribute_instances"] == "view"  # 0014 ran
    moved = conn.execute("SELECT count(*) FROM history_instances").fetchone()[0]
    released = sqlite3.connect(RELEASED).execute("SELECT count(*) FROM attribute_instances")
    assert moved == released.fetchone()[0]
    # 0015 counted the moved rows into daily rollups
    kept = conn.execute("SELECT * FROM history_days ORDER BY 1, 2").fetchall()
    assert kept and kept == conn.execute(RECOUNT).fetchall()
    # as JSON text: 1 and 1.0 differ, and so does the order of members
    differences = [
        (r, n) for r, n in zip(RECORDED["answers"], now, strict=True) if _text(r) != _text(n)
    ]
    assert differences == []


def test_later_changes_answer_as_on_the_release(copy: Path) -> None:
    known = _ids(RECORDED["answers"])
    assert RECORDED["recorded_id"] in known
    with make_client(copy.parent, f"sqlite:///{copy}") as client:
        changes(client, RECORDED["recorded_id"])
        now = _answers(client, AFTER)
    expected = _minted_aside(RECORDED["after"], known)
    assert _text(_minted_aside(now, known)) == _text(expected)
    # new instances were written compactly, and their minted ids find them
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT count(*) FROM history_instances WHERE body IS NULL").fetchone()[0]
    assert "(minted)" in json.dumps(expected)
