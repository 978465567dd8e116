"""Geo-queries on SQLite: an R*Tree of GeoProperty boxes plus an exact shapely test (clause 4.10).

Every GeoProperty instance of every attribute gets one row in ``geo_shapes`` (tenant, entity id,
attribute IRI, datasetId, the geometry as GeoJSON text) and one box in the ``geo_rtree`` R*Tree
with the same id. A geo-query compiles to a condition on the entity row that is true when *some*
instance of the queried GeoProperty satisfies the georel (entities without it never match, not even
``disjoint``):

* ``within``, ``contains``, ``intersects``, ``overlaps``, ``equals`` and ``near;maxDistance`` prune
  with the R*Tree (the reference's box, grown by the distance for ``near``), then run the exact
  predicate on the candidates only; the R*Tree drives the plan
  (``(tenant, id) IN (SELECT ... FROM geo_rtree CROSS JOIN geo_shapes ...)``; the CROSS JOIN
  keeps SQLite from scanning all the tenant's rows instead).
* ``disjoint`` and ``near;minDistance`` alone cannot prune with a box: the exact predicate runs on
  the entity's own rows of that attribute (a correlated ``EXISTS`` on ``geo_shapes_by_entity``), so
  it only costs one test per entity that passed the other filters.

The exact predicate is the SQL function ``ngsild_geo_match`` (registered on every connection),
which calls :func:`cityhub.ngsild.query.geo.relate`; the semantics are written down there.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from cityhub.ngsild.query.geo import GeoQuery, geojson_shape, haversine_m, relate, search_bbox
from cityhub.store.base import Change

GEO_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree(id, min_x, max_x, min_y, max_y);
CREATE TABLE IF NOT EXISTS geo_shapes (
  id INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  attr TEXT NOT NULL,
  dataset_id TEXT,
  geometry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_shapes_by_entity ON geo_shapes (tenant, entity_id, attr);
"""

_INDEX_VERSION = "1"


def ensure_geo_index(conn: sqlite3.Connection) -> None:
    """Create the geo tables and, on a database that predates them, index every stored entity.

    Run once at start-up on the writer connection, after ``schema.sql`` (it needs ``meta``),
    outside any transaction (``executescript`` commits a pending one); the rebuild runs in its
    own ``BEGIN IMMEDIATE`` transaction.
    """
    conn.executescript(GEO_SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key = 'geo_index'").fetchone()
    if row is not None and row[0] == _INDEX_VERSION:
        return
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        rebuild_geo_index(conn)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('geo_index', ?)", (_INDEX_VERSION,)
        )
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def rebuild_geo_index(conn: sqlite3.Connection) -> None:
    """Drop every geo row and index all entities of all tenants again."""
    conn.execute("DELETE FROM geo_rtree")
    conn.execute("DELETE FROM geo_shapes")
    for tenant, entity_id, attrs in conn.execute("SELECT tenant, id, attrs FROM entities"):
        _insert_rows(conn, tenant, entity_id, orjson.loads(attrs))


def index_entity(conn: sqlite3.Connection, tenant: str, entity: dict[str, Any]) -> None:
    """Replace the geo rows of one entity by one row per GeoProperty instance it has now.

    Args:
        conn: the writer connection, inside the write transaction.
        tenant: the entity's tenant.
        entity: the internal form (``id`` and ``attrs``: attribute IRI → list of instances).
            Instances whose value is not a usable geometry are skipped.
    """
    unindex_entity(conn, tenant, entity["id"])
    _insert_rows(conn, tenant, entity["id"], entity.get("attrs") or {})


def unindex_entity(conn: sqlite3.Connection, tenant: str, entity_id: str) -> None:
    """Remove every geo row of one entity."""
    conn.execute(
        "DELETE FROM geo_rtree WHERE id IN "
        "(SELECT id FROM geo_shapes WHERE tenant = ? AND entity_id = ?)",
        (tenant, entity_id),
    )
    conn.execute("DELETE FROM geo_shapes WHERE tenant = ? AND entity_id = ?", (tenant, entity_id))


def index_change(conn: sqlite3.Connection, change: Change) -> None:
    """A transaction hook (``SqliteStore.tx_hooks``): keep the index in step with one change.

    Runs inside the write transaction (and its savepoints), so the index commits or rolls back
    with the entity row.
    """
    if change.after is None:
        unindex_entity(conn, change.tenant, change.entity_id)
    else:
        index_entity(conn, change.tenant, change.after)


def _insert_rows(
    conn: sqlite3.Connection, tenant: str, entity_id: str, attrs: dict[str, Any]
) -> None:
    for attr, instances in attrs.items():
        if not isinstance(instances, list):
            continue
        for inst in instances:
            if not isinstance(inst, dict) or inst.get("type") != "GeoProperty":
                continue
            geom = geojson_shape(inst.get("value"))
            if geom is None:
                continue
            min_x, min_y, max_x, max_y = geom.bounds
            cur = conn.execute(
                "INSERT INTO geo_shapes (tenant, entity_id, attr, dataset_id, geometry) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    tenant,
                    entity_id,
                    attr,
                    inst.get("datasetId"),
                    orjson.dumps(inst["value"]).decode(),
                ),
            )
            conn.execute(
                "INSERT INTO geo_rtree (id, min_x, max_x, min_y, max_y) VALUES (?, ?, ?, ?, ?)",
                (cur.lastrowid, min_x, max_x, min_y, max_y),
            )


# ---- the exact predicate as an SQL function ---------------------------------------------------


def _parse_shape(text: str) -> BaseGeometry | None:
    try:
        return geojson_shape(orjson.loads(text))
    except orjson.JSONDecodeError:
        return None


# plain (unprepared) geometries are immutable and safe to share between reader threads
_target_shape = lru_cache(maxsize=4096)(_parse_shape)

_POINT = '{"type":"Point","coordinates":['


@lru_cache(maxsize=256)
def _reference_point(text: str) -> tuple[float, float]:
    lon, lat = orjson.loads(text)["coordinates"][:2]
    return float(lon), float(lat)


_local = threading.local()
_PREPARED_PER_THREAD = 32


def _reference_shape(text: str) -> BaseGeometry | None:
    # GEOS prepared geometries are not thread-safe, so each thread prepares its own copy
    cache: OrderedDict[str, BaseGeometry | None] | None = getattr(_local, "refs", None)
    if cache is None:
        cache = _local.refs = OrderedDict()
    if text in cache:
        cache.move_to_end(text)
        return cache[text]
    geom = _parse_shape(text)  # a private copy: preparing mutates the geometry
    if geom is not None:
        shapely.prepare(geom)
    cache[text] = geom
    if len(cache) > _PREPARED_PER_THREAD:
        cache.popitem(last=False)
    return geom


def geo_match(
    geometry: Any, georel: Any, reference: Any, max_distance: Any, min_distance: Any
) -> int:
    """``ngsild_geo_match``: 1 when the stored geometry satisfies the georel, else 0.

    Never raises: unreadable geometries, unknown georels and GEOS errors give 0.
    """
    if not isinstance(geometry, str) or not isinstance(reference, str):
        return 0
    try:
        if georel == "near" and geometry.startswith(_POINT) and reference.startswith(_POINT):
            # the hot case (sensors near a place): point to point is haversine (as in
            # relate()), without building GEOS geometries for every candidate row
            lon, lat = orjson.loads(geometry)["coordinates"][:2]
            rlon, rlat = _reference_point(reference)
            d = haversine_m(float(lon), float(lat), rlon, rlat)
            if max_distance is not None and d > float(max_distance):
                return 0
            if max_distance is None and min_distance is None:
                return 0
            return int(min_distance is None or d >= float(min_distance))
        target = _target_shape(geometry)
        ref = _reference_shape(reference)
        if target is None or ref is None:
            return 0
        max_d = float(max_distance) if max_distance is not None else None
        min_d = float(min_distance) if min_distance is not None else None
        return int(relate(str(georel), target, ref, max_d, min_d))
    except Exception:  # noqa: BLE001 - an exception inside SQLite aborts the whole query
        return 0


def register_geo_functions(conn: sqlite3.Connection) -> None:
    """Register ``ngsild_geo_match(geometry, georel, reference, max_distance, min_distance)``."""
    conn.create_function("ngsild_geo_match", 5, geo_match, deterministic=True)


# ---- compiling a geo-query --------------------------------------------------------------------


def compile_geo(
    geo: GeoQuery, params: list[Any], alias: str = "e", tenant: str | None = None
) -> str:
    """A SQL boolean over the entity row ``alias``: some instance of ``geo.geoproperty`` matches.

    Args:
        geo: a parsed query whose ``geoproperty`` is already an IRI (``expand_geo``).
        params: the statement's parameter list; this appends the values the SQL binds, in order.
        alias: the alias of the ``entities`` row in the outer statement.
        tenant: the tenant, when known: lets the R*Tree candidates be filtered by tenant before
            the exact test (the outer query restricts the tenant in any case).

    Returns:
        SQL text with ``?`` placeholders only; nothing from the request is pasted into it.
    """
    reference = orjson.dumps(geo.geometry_json()).decode()
    match = "ngsild_geo_match(g.geometry, ?, ?, ?, ?)"
    match_params = [geo.georel, reference, geo.max_distance, geo.min_distance]
    box = search_bbox(geo)
    if box is None:
        params.extend([geo.geoproperty, *match_params])
        return (
            "EXISTS (SELECT 1 FROM geo_shapes g WHERE g.tenant = "
            f"{alias}.tenant AND g.entity_id = {alias}.id AND g.attr = ? AND {match})"
        )
    min_x, max_x, min_y, max_y = box
    sql = (
        f"({alias}.tenant, {alias}.id) IN (SELECT g.tenant, g.entity_id FROM geo_rtree r "
        "CROSS JOIN geo_shapes g ON g.id = r.id "
        "WHERE r.max_x >= ? AND r.min_x <= ? AND r.max_y >= ? AND r.min_y <= ? AND g.attr = ?"
    )
    params.extend([min_x, max_x, min_y, max_y, geo.geoproperty])
    if tenant is not None:
        sql += " AND g.tenant = ?"
        params.append(tenant)
    params.extend(match_params)
    return sql + f" AND {match})"
