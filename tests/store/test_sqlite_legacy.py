"""Databases written before numbered migrations (cityhub.store.sqlite.legacy) are brought to the
baseline (migrations 0001-0007) when the store opens them, and marked so: a database from before
``entities.rid`` (schema 1) keeps its row ids and gets its derived indexes rebuilt; an older
history gets ``value_number``; an older outbox ``leased_until``; missing tables are created; the
migrations after the baseline then run as on any database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson

from cityhub.ngsild.query.geo import expand_geo, parse_geo_query
from cityhub.store.base import EntityQuery
from cityhub.store.sqlite import legacy, migrate
from cityhub.store.sqlite.migrate import Migration
from cityhub.store.sqlite.store import SqliteStore

LOC = "https://uri.etsi.org/ngsi-ld/location"
T = "https://ex.org/Streetlight"

SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tenants (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE entities (tenant TEXT NOT NULL, id TEXT NOT NULL, types TEXT NOT NULL,
  scopes TEXT, created_at TEXT NOT NULL, modified_at TEXT NOT NULL, attrs TEXT NOT NULL);
CREATE UNIQUE INDEX entities_pk ON entities (tenant, id);
CREATE TABLE entity_types (tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (tenant, type, id)) WITHOUT ROWID;
CREATE INDEX entity_types_by_id ON entity_types (tenant, id);
"""


def old_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_1)
    for i in range(5):
        eid = f"urn:ngsi-ld:Streetlight:{i}"
        attrs = {LOC: [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, i]}}]}
        conn.execute(
            "INSERT INTO entities VALUES ('', ?, ?, NULL, 't', 't', ?)",
            (eid, orjson.dumps([T]).decode(), orjson.dumps(attrs).decode()),
        )
        conn.execute("INSERT INTO entity_types VALUES ('', ?, ?)", (T, eid))
    conn.execute("DELETE FROM entities WHERE id = 'urn:ngsi-ld:Streetlight:1'")
    conn.execute("DELETE FROM entity_types WHERE id = 'urn:ngsi-ld:Streetlight:1'")
    conn.close()


def test_an_old_database_is_upgraded_keeping_row_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_database(path)
    before = sqlite3.connect(path).execute("SELECT rowid, id FROM entities").fetchall()
    assert [r[0] for r in before] == [1, 3, 4, 5]

    async def main() -> list[str]:
        store = SqliteStore(str(path), reader_threads=0)
        await store.start()
        try:
            parsed = parse_geo_query("near;maxDistance==1000000", "Point", "[1, 2]", None)
            assert parsed is not None
            geo = expand_geo(parsed, lambda n: LOC)
            result = await store.query_entities("", EntityQuery(types=(T,), geo=geo, limit=10))
            return [e["id"] for e in result.entities]
        finally:
            await store.close()

    found = asyncio.run(main())
    assert sorted(found) == sorted(r[1] for r in before)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT rid, id FROM entities ORDER BY rid").fetchall() == before
    linked = conn.execute(
        "SELECT count(*) FROM geo_shapes g JOIN entities e ON e.rid = g.entity_rid"
        " AND e.id = g.entity_id"
    ).fetchone()
    assert linked == (4,)
    assert conn.execute("SELECT DISTINCT type FROM geo_shapes").fetchall() == [(T,)]
    assert versions(conn) == ALL


#: every version a database has once migrated: the baseline, then the later migrations
WHEN = "2023-12-31T00:00:00.000000Z"
ALL = [m.version for m in migrate.migrations()]


def versions(conn: sqlite3.Connection) -> list[int]:
    return [v for (v,) in conn.execute("SELECT version FROM cityhub_migrations ORDER BY 1")]


def released(path: Path) -> sqlite3.Connection:
    """A database as the last release before numbered migrations left it: today's tables, the
    derived indexes' layout versions in ``meta``, no ``cityhub_migrations``."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate.migrate(conn, migrate.migrations()[: legacy.BASELINE])  # the release's schema
    conn.execute("DROP TABLE cityhub_migrations")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('geo_index', '6'), ('q_index', '4')")
    return conn


def test_it_is_marked_at_the_baseline_then_later_migrations_run(tmp_path: Path) -> None:
    conn = released(tmp_path / "old.db")
    before = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()

    def later(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE later (x)")

    baseline = migrate.migrations()[: legacy.BASELINE]
    applied = migrate.migrate(conn, (*baseline, Migration(99, "later", apply=later)))
    assert [m.version for m in applied] == [*range(1, legacy.BASELINE + 1), 99]
    assert versions(conn) == [*range(1, legacy.BASELINE + 1), 99]
    after = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    added = {row[1] for row in after} - {row[1] for row in before}
    assert added == {"cityhub_migrations", "later"}  # nothing else created, nothing changed
    assert [row for row in after if row[1] in {r[1] for r in before}] == before


def test_missing_tables_are_created(tmp_path: Path) -> None:
    """A database written by a store without the history or the registrations (tests, bench
    scripts and tools built one) gets them."""
    conn = released(tmp_path / "old.db")
    for table in ("attribute_instances", "temporal_entities", "temporal_types"):
        conn.execute(f"DROP TABLE {table}")
    for table in ("csource_registrations", "csource_periodic"):
        conn.execute(f"DROP TABLE {table}")
    migrate.migrate(conn)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {
        "attribute_instances",
        "history_instances",
        "temporal_entities",
        "temporal_types",
        "csource_registrations",
        "csource_periodic",
    } <= names
    assert versions(conn) == ALL


def test_an_older_history_gets_value_number(tmp_path: Path) -> None:
    conn = released(tmp_path / "old.db")
    conn.execute("ALTER TABLE attribute_instances DROP COLUMN value_number")
    conn.execute(
        "CREATE INDEX attribute_instances_created ON attribute_instances"
        " (tenant, entity_id, attr, created_at)"
    )
    rows = [
        ('{"type":"Property","value":4.5}', None),
        ('{"type":"Property","value":true}', None),
        ('{"type":"Property","value":"x"}', None),
        ('{"type":"Relationship","object":"urn:a"}', None),
        ('{"type":"Property","value":"urn:ngsi-ld:null"}', "2024-01-01T00:00:00.000000Z"),
    ]
    for n, (body, deleted) in enumerate(rows):
        conn.execute(
            "INSERT INTO attribute_instances (tenant, entity_id, attr, instance_id, created_at,"
            " modified_at, deleted_at, instance) VALUES ('', 'e', 'a', ?, ?, ?, ?, ?)",
            (f"urn:i:{n}", WHEN, WHEN, deleted, body),
        )
    migrate.migrate(conn)
    got = [r[0] for r in conn.execute("SELECT value_number FROM attribute_instances ORDER BY seq")]
    assert got == [4.5, 1.0, None, None, None]
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(attribute_instances)")}
    assert "attribute_instances_created" not in indexes
    assert migrate.migrate(conn) == []


def test_an_older_outbox_gets_leased_until(tmp_path: Path) -> None:
    conn = released(tmp_path / "old.db")
    conn.execute("ALTER TABLE outbox DROP COLUMN leased_until")
    conn.execute(
        "INSERT INTO outbox (tenant, subscription_id, payload, due_at, created_at)"
        " VALUES ('', 'urn:s', '{}', 1.0, 't')"
    )
    migrate.migrate(conn)
    assert conn.execute("SELECT subscription_id, leased_until FROM outbox").fetchall() == [
        ("urn:s", None)
    ]


def test_an_older_q_index_is_rebuilt_a_current_one_kept(tmp_path: Path) -> None:
    conn = released(tmp_path / "old.db")
    attrs = {"https://ex.org/name": [{"type": "Property", "value": "Jeongja"}]}
    conn.execute(
        "INSERT INTO entities (tenant, id, types, created_at, modified_at, attrs)"
        " VALUES ('', 'urn:e:1', ?, 't', 't', ?)",
        (orjson.dumps([T]).decode(), orjson.dumps(attrs).decode()),
    )
    migrate.migrate(conn)  # layout 4 is current: the (empty) index is kept as it is
    assert conn.execute("SELECT count(*) FROM q_index").fetchone() == (0,)
    conn = released(tmp_path / "older.db")
    conn.execute(
        "INSERT INTO entities (tenant, id, types, created_at, modified_at, attrs)"
        " VALUES ('', 'urn:e:1', ?, 't', 't', ?)",
        (orjson.dumps([T]).decode(), orjson.dumps(attrs).decode()),
    )
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'q_index'")
    migrate.migrate(conn)
    assert conn.execute("SELECT entity_id, v, type FROM q_index").fetchall() == [
        ("urn:e:1", "Jeongja", T)
    ]
