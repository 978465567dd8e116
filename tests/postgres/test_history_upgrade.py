"""A PostgreSQL history written by the release before PostgreSQL migration 0013 (cityhub
11366c6, one ``attribute_instances`` table; ``history_db/make.py`` took its tables and answers,
written through its HTTP API) opens with today's code, which moves it into series (0013), and
the temporal API answers exactly as that release did (ETSI GS CIM 009 v1.9.1 clauses
5.7.3-5.7.4, 4.5.19: instances with their ids and system times, temporalValues, lastN, windows
along observedAt, createdAt and modifiedAt, datasetIds, aggregation, a deleted entity, a second
tenant). Then the same changes as the release made afterwards (an instance it recorded modified
by its id, appends that replace and add, clauses 5.6.12, 5.6.14) give the same answers again,
the ids of the instances written afterwards aside (they are minted afresh)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.postgres.release import load_release, sql
from tests.store.history_db.make import AFTER, REQUESTS, changes
from tests.store.test_history_upgrade import _answers, _ids, _minted_aside, _text

HERE = Path(__file__).resolve().parent / "history_db"
RECORDED: dict[str, Any] = json.loads((HERE / "11366c6.json").read_text(encoding="utf-8"))


@pytest.fixture
def released(postgres_url: str) -> str:
    load_release(postgres_url, RECORDED["tables"], 12)
    return postgres_url


def test_the_fixture_is_the_old_layout(released: str) -> None:
    assert sql(released, "SELECT max(version) FROM cityhub_migrations")[0][0] == 12
    kinds = dict(
        sql(
            released,
            "SELECT relname, relkind::text FROM pg_class WHERE"
            " relnamespace = current_schema()::regnamespace",
        )
    )
    assert kinds["attribute_instances"] == "r" and "history_series" not in kinds
    assert sql(released, "SELECT count(*) FROM attribute_instances")[0][0] > 90


def test_it_answers_as_the_release_did(released: str, tmp_path: Path) -> None:
    rows = sql(released, "SELECT count(*) FROM attribute_instances")[0][0]
    with make_client(tmp_path, released) as client:
        now = _answers(client, REQUESTS)
    kinds = dict(
        sql(
            released,
            "SELECT relname, relkind::text FROM pg_class WHERE"
            " relnamespace = current_schema()::regnamespace",
        )
    )
    assert kinds["attribute_instances"] == "v"  # 0013 ran
    assert sql(released, "SELECT count(*) FROM history_instances")[0][0] == rows
    # as JSON text: 1 and 1.0 differ, and so does the order of members
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
    expected = _minted_aside(RECORDED["after"], known)
    assert _text(_minted_aside(now, known)) == _text(expected)
    # new instances were written compactly, and their minted ids find them
    compact = "SELECT count(*) FROM history_instances WHERE body IS NULL"
    assert sql(released, compact)[0][0] > 0
    assert "(minted)" in json.dumps(expected)
