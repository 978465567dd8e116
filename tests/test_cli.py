"""The command line: ``cityhub serve --get`` answers one request in-process; ``settings`` lists."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
from click.testing import CliRunner

from cityhub.cli import cli
from cityhub.settings import SETTINGS


def test_serve_get_answers_in_process(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--db", str(tmp_path / "c.db"), "--get", "/ngsi-ld/v1/types"]
    )
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.output)
    assert body["type"] == "EntityTypeList" and body["typeList"] == []


def test_serve_get_exits_non_zero_on_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--db", str(tmp_path / "c.db"), "--get", "/ngsi-ld/v1/entities"]
    )
    assert result.exit_code == 1
    assert "BadRequestData" in result.output


def test_settings_lists_every_setting() -> None:
    result = CliRunner().invoke(cli, ["settings"])
    assert result.exit_code == 0
    for s in SETTINGS:
        assert s.env in result.output


def test_unsupported_store_url_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["serve", "--store", "mysql://localhost/x", "--get", "/"])
    assert result.exit_code == 2
    assert "unsupported store URL" in result.output


def test_workers_need_postgresql(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "w.db"), "--workers", "2"])
    assert result.exit_code == 2
    assert "needs a shared PostgreSQL store" in result.output


def test_migrate_a_sqlite_store(tmp_path: Path) -> None:
    from cityhub.store.sqlite.migrate import migrations

    store = f"sqlite:///{tmp_path / 'm.db'}"
    first = CliRunner().invoke(cli, ["migrate", "--store", store])
    assert first.exit_code == 0, first.output
    newest = migrations()[-1]
    assert first.output.splitlines() == [
        *(f"applied {m.version:04d} {m.name}" for m in migrations()),
        f"schema version {newest.version}",
    ]
    again = CliRunner().invoke(cli, ["migrate", "--store", store])
    assert again.output == f"schema version {newest.version} (already current)\n"
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute("INSERT INTO cityhub_migrations VALUES (9999, 'from_the_future', 't')")
    newer = CliRunner().invoke(cli, ["migrate", "--store", store])
    assert newer.exit_code == 1
    assert newer.output.startswith(
        f"Error: migration failed: {tmp_path / 'm.db'} has schema version 9999, newer than"
    )


def test_migrate_an_unknown_kind_of_store_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["migrate", "--store", "mysql://u:secret@h/x"])
    assert result.exit_code == 2
    assert "unsupported store URL" in result.output and "secret" not in result.output
