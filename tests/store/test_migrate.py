"""A database written before ``entities.rid`` existed (schema 1) is upgraded at start-up: rows
keep their ids (the default order of queries), and the geo index, which links to ``rid``, is
rebuilt."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson

from cityhub.ngsild.query.geo import expand_geo, parse_geo_query
from cityhub.store.base import EntityQuery
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
