"""The SQLite store's numbered migrations (cityhub/store/sqlite/migrations): a new database gets
every one, in order, in one transaction; opening it again applies none; a database migrated by
a newer cityhub is refused untouched; a failing migration leaves the database as it was."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from cityhub.cli import cli
from cityhub.store.sqlite import migrate
from cityhub.store.sqlite.migrate import Migration, SchemaTooNew
from cityhub.store.sqlite.store import SqliteStore

#: the store's tables, one migration after another (0001 ... 0018)
TABLES = {
    "tenants",
    "iot_groups",
    "iot_devices",
    "iot_version",
    "iot_payload_errors",
    "entities",
    "entity_types",
    "geo_rtree",
    "geo_keys",
    "geo_types",
    "geo_shapes",
    "q_index",
    "subscriptions",
    "subscription_status",
    "outbox",
    "notify_throttle",
    "notify_periodic",
    "notify_version",
    "csource_registrations",
    "csource_registration_infos",
    "csource_registration_entities",
    "csource_registration_attrs",
    "csource_subscriptions",
    "csource_periodic",
    "temporal_entities",
    "temporal_types",
    "service_work",
    "access_tenants",
    "api_keys",
    "access_permissions",
    "access_version",
    "audit_log",
    "publishing_rules",
    "access_quotas",
    "history_series",
    "history_instances",
    "history_seq",
    "history_days",
    "history_months",
    "entity_maps",
    "history_batches",
    "remote_subscriptions",
    "cityhub_migrations",
}


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def schema(conn: sqlite3.Connection) -> list[tuple[str, str, str | None]]:
    return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def recorded(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    return conn.execute("SELECT version, name, applied_at FROM cityhub_migrations").fetchall()


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith(("geo_rtree_", "sqlite_"))}


def open_store(path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(str(path), reader_threads=0)
        await store.start()
        await store.close()

    asyncio.run(main())


def test_the_migrations_are_numbered_from_1_without_gaps() -> None:
    known = migrate.migrations()
    assert [m.version for m in known] == list(range(1, len(known) + 1))
    assert [m.name for m in known[:7]] == [
        "entities",
        "geo_index",
        "q_index",
        "subscriptions",
        "outbox",
        "registrations",
        "history",
    ]


def test_a_new_database_gets_every_migration_in_order(tmp_path: Path) -> None:
    open_store(tmp_path / "hub.db")
    conn = connect(tmp_path / "hub.db")
    assert [v for v, _, _ in recorded(conn)] == [m.version for m in migrate.migrations()]
    assert [n for _, n, _ in recorded(conn)] == [m.name for m in migrate.migrations()]
    assert tables(conn) == TABLES
    # 0005's triggers on 0004's table work: a subscription bumps the version
    conn.execute("INSERT INTO subscriptions VALUES ('', 's', '{}', 't', 't')")
    assert conn.execute("SELECT version FROM notify_version").fetchall() == [(1,)]


def test_opening_it_again_applies_nothing_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    open_store(path)
    conn = connect(path)
    before = (schema(conn), recorded(conn), conn.execute("PRAGMA data_version").fetchone())
    assert migrate.migrate(conn) == []
    open_store(path)
    after = (schema(conn), recorded(conn))
    assert after == before[:2]
    # a read-only copy opens too: an up-to-date database needs no write
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    assert migrate.migrate(ro) == []


def test_a_database_from_a_newer_cityhub_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    open_store(path)
    conn = connect(path)
    newest = migrate.migrations()[-1].version
    conn.execute("INSERT INTO cityhub_migrations VALUES (?, 'from_the_future', 't')", (newest + 1,))
    before = (schema(conn), recorded(conn))

    with pytest.raises(SchemaTooNew) as caught:
        open_store(path)
    message = str(caught.value)
    assert message == (
        f"{path} has schema version {newest + 1}, newer than this cityhub knows ({newest}): "
        "it was written by a newer cityhub, so open it with that one (nothing was changed)"
    )
    assert (schema(conn), recorded(conn)) == before


def test_the_hub_says_so_in_one_sentence_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    open_store(path)
    connect(path).execute("INSERT INTO cityhub_migrations VALUES (9999, 'from_the_future', 't')")
    result = CliRunner().invoke(cli, ["serve", "--db", str(path), "--get", "/health"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {path} has schema version 9999, newer than this cityhub knows "
        f"({migrate.migrations()[-1].version}): it was written by a newer cityhub, so open it "
        "with that one (nothing was changed)"
    )
    assert "Traceback" not in result.output


def _failing(at: int) -> tuple[Migration, ...]:
    """The store's migrations with one that creates a table and then fails, at version ``at``."""

    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute(
            "INSERT INTO entities (tenant, id, types, created_at, modified_at, attrs)"
            " VALUES ('', 'urn:x', '[]', 't', 't', '{}')"
        )
        raise sqlite3.OperationalError("the disk said no")

    known = [m for m in migrate.migrations() if m.version < at]
    return (*known, Migration(at, "boom", apply=boom))


def test_a_failing_migration_on_a_new_database_leaves_it_empty(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    with pytest.raises(sqlite3.OperationalError, match="the disk said no"):
        migrate.migrate(conn, _failing(len(migrate.migrations()) + 1))
    assert schema(conn) == []
    assert not conn.in_transaction


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    open_store(path)
    conn = connect(path)
    before = (schema(conn), recorded(conn))
    with pytest.raises(sqlite3.OperationalError, match="the disk said no"):
        migrate.migrate(conn, _failing(len(migrate.migrations()) + 1))
    assert (schema(conn), recorded(conn)) == before
    assert conn.execute("SELECT count(*) FROM entities").fetchone() == (0,)
    open_store(path)  # and the store still opens it


def test_a_migration_that_ends_the_transaction_is_reported_and_not_recorded(
    tmp_path: Path,
) -> None:
    """A step must not commit (executescript does): what it committed cannot be rolled back,
    but it is an error, and the step is not recorded as applied."""

    def commits(conn: sqlite3.Connection) -> None:
        conn.executescript("CREATE TABLE t (x);")  # executescript COMMITs first

    conn = connect(tmp_path / "hub.db")
    with pytest.raises(RuntimeError, match="0001_commits ended the transaction"):
        migrate.migrate(conn, (Migration(1, "commits", apply=commits),))
    assert recorded(conn) == []
    assert not conn.in_transaction


def test_sql_and_python_steps_are_found_and_run_in_version_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "steps_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_first.sql").write_text(
        "-- a comment; with a semicolon\n"
        "CREATE TABLE log (step TEXT);\n"
        "INSERT INTO log VALUES ('sql; one');\n"
        "CREATE TRIGGER log_more AFTER INSERT ON log WHEN new.step = 'py'\n"
        "BEGIN INSERT INTO log VALUES ('trigger'); END;\n"
    )
    (package / "0002_second.py").write_text(
        "def apply(conn):\n    conn.execute(\"INSERT INTO log VALUES ('py')\")\n"
    )
    (package / "notes.txt").write_text("not a migration")
    monkeypatch.syspath_prepend(str(tmp_path))
    known = migrate.migrations("steps_pkg")
    assert [(m.version, m.name) for m in known] == [(1, "first"), (2, "second")]
    conn = connect(tmp_path / "x.db")
    assert migrate.migrate(conn, known) == list(known)
    assert conn.execute("SELECT step FROM log ORDER BY rowid").fetchall() == [
        ("sql; one",),
        ("py",),
        ("trigger",),
    ]
    assert migrate.migrate(conn, known) == []
    sys.modules.pop("steps_pkg", None)


def test_two_versions_alike_are_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "twins_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_a.sql").write_text("CREATE TABLE a (x);")
    (package / "0001_b.sql").write_text("CREATE TABLE b (x);")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="share a version"):
        migrate.migrations("twins_pkg")
    sys.modules.pop("twins_pkg", None)


def test_statements_split_where_sqlite_says_a_statement_ends() -> None:
    script = (
        "CREATE TABLE a (x TEXT DEFAULT ';');\n"
        "-- note; not a statement\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  DELETE FROM a; DELETE FROM a;\nEND;\n"
        "CREATE INDEX i ON a (x)"
    )
    assert [s.strip() for s in migrate.statements(script)] == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "-- note; not a statement\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  DELETE FROM a; DELETE FROM a;\nEND;",
        "CREATE INDEX i ON a (x);",  # the last one may lack its ';'
    ]


def test_two_stores_opening_a_new_file_at_once_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.db"
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def open_one() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        start.wait()
        try:
            migrate.migrate(conn)
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=open_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = connect(path)
    versions = [v for v, _, _ in recorded(conn)]
    assert versions == [m.version for m in migrate.migrations()]


def test_items_queued_before_the_merge_count_are_counted_as_merged(tmp_path: Path) -> None:
    """0021 (``service_work.merged``): an item a hub of schema 20 queued may have been merged
    (nothing counted it), so it is counted as merged and its service works on it whole (the
    alert engine evaluates every rule); items queued after it start at 0."""
    conn = connect(tmp_path / "hub.db")
    migrate.migrate(conn, tuple(m for m in migrate.migrations() if m.version <= 20))
    conn.execute(
        "INSERT INTO service_work (service, tenant, item_key, payload, due_at, enqueued_at)"
        " VALUES ('alerts', '', 'urn:a', '{\"onlyChanged\": [\"airQualityIndex\"]}', 1, 1)"
    )
    assert [m.version for m in migrate.migrate(conn)] == [
        m.version for m in migrate.migrations() if m.version > 20
    ]
    conn.execute(
        "INSERT INTO service_work (service, tenant, item_key, payload, due_at, enqueued_at)"
        " VALUES ('alerts', '', 'urn:b', '{}', 1, 1)"
    )
    rows = conn.execute("SELECT item_key, merged FROM service_work ORDER BY id").fetchall()
    assert rows == [("urn:a", 1), ("urn:b", 0)]
