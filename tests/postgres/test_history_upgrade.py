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

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cityhub.store.postgres.migrate import migrations
from tests.conftest import make_client
from tests.store.history_db.make import AFTER, REQUESTS, changes
from tests.store.test_history_upgrade import _answers, _ids, _minted_aside, _text

HERE = Path(__file__).resolve().parent / "history_db"
RECORDED: dict[str, Any] = json.loads((HERE / "11366c6.json").read_text(encoding="utf-8"))


async def _load_release(url: str) -> None:
    """The release's schema (migrations 1-12) and its rows, sequences past them."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for migration in migrations():
            if migration.version <= 12:
                await conn.execute(migration.sql)
        await conn.execute(
            "CREATE TABLE cityhub_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for name, text in RECORDED["tables"].items():
            await conn.execute(f'DELETE FROM "{name}"')  # rows the migrations seeded
            await conn.copy_to_table(name, source=io.BytesIO(text.encode()), format="text")
        for table, column in await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f' max("{column}")) FROM "{table}" HAVING max("{column}") IS NOT NULL'
            )
    finally:
        await conn.close()


@pytest.fixture
def released(postgres_url: str) -> str:
    asyncio.run(_load_release(postgres_url))
    return postgres_url


def _sql(url: str, sql: str) -> list[Any]:
    import asyncpg

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_the_fixture_is_the_old_layout(released: str) -> None:
    assert _sql(released, "SELECT max(version) FROM cityhub_migrations")[0][0] == 12
    kinds = dict(
        _sql(
            released,
            "SELECT relname, relkind::text FROM pg_class WHERE"
            " relnamespace = current_schema()::regnamespace",
        )
    )
    assert kinds["attribute_instances"] == "r" and "history_series" not in kinds
    assert _sql(released, "SELECT count(*) FROM attribute_instances")[0][0] > 90


def test_it_answers_as_the_release_did(released: str, tmp_path: Path) -> None:
    rows = _sql(released, "SELECT count(*) FROM attribute_instances")[0][0]
    with make_client(tmp_path, released) as client:
        now = _answers(client, REQUESTS)
    kinds = dict(
        _sql(
            released,
            "SELECT relname, relkind::text FROM pg_class WHERE"
            " relnamespace = current_schema()::regnamespace",
        )
    )
    assert kinds["attribute_instances"] == "v"  # 0013 ran
    assert _sql(released, "SELECT count(*) FROM history_instances")[0][0] == rows
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
    assert _sql(released, compact)[0][0] > 0
    assert "(minted)" in json.dumps(expected)
