"""Geo-queries on SQLite: an R*Tree of GeoProperty boxes plus an exact test (clause 4.10).

Every GeoProperty instance of every attribute gets, per type of its entity (most entities have
one), a row in ``geo_shapes`` (tenant, entity id, attribute IRI, datasetId, the geometry as
GeoJSON text, for a Point its exact x/y, the entity row's ``rid``, the type) and a box in the
``geo_rtree`` R*Tree with the same id. The R*Tree's third dimension numbers the (tenant,
GeoProperty) pair (``geo_keys``) and its fourth the entity type (``geo_types``), so a walk
skips other tenants', attributes' and types' boxes; the id is the entity row's ``rid`` shifted
left by :data:`RID_SHIFT` plus the row's number within the entity, so a candidate leads to its
entity row without its geo row.

A geo-query is true for an entity when *some* instance of the queried GeoProperty satisfies
the georel (entities without it never match, not even ``disjoint``). Two plans:

* A query in the default order (no ``orderBy``) walks the R*Tree first
  (:func:`geo_driven_passes`): candidates are tested as they come, joined to their entity row,
  and reading stops once the page is full, so a page costs about as much as the rows it holds,
  not the number of matches in the area.
* Otherwise (``orderBy``, subscriptions' matching, purge) :func:`compile_geo` gives a condition
  on the entity row; within, contains, intersects, overlaps, equals and near;maxDistance still
  prune with the R*Tree (the reference's box, grown by the distance for ``near``).

``disjoint`` and ``near;minDistance`` alone cannot prune with a box: the exact predicate then runs
on the entity's own rows of that attribute (a correlated ``EXISTS`` on ``geo_shapes_by_entity``).

The exact predicate for a Point stored near a Point is SQL arithmetic (haversine, as
:func:`cityhub.ngsild.query.geo.haversine_m`); everything else calls the SQL function
``ngsild_geo_match`` (registered on every connection), which uses shapely's vectorised point
predicates for Point targets and :func:`cityhub.ngsild.query.geo.relate` otherwise; the semantics
are written down there. An update that leaves the GeoProperties unchanged does not touch the
index.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from cityhub.errors import BadRequestData
from cityhub.ngsild.query.geo import (
    EARTH_RADIUS_M,
    GeoQuery,
    geojson_shape,
    haversine_m,
    query_shape,
    relate,
    search_bbox,
)
from cityhub.store.base import Change

# The tables are migration 0002's. Their layout's history, when ``meta['geo_index']`` held its
# version and a change rebuilt the index at start-up (cityhub.store.sqlite.legacy still reads it):
# 2: exact x/y columns for Points (the R*Tree keeps 32-bit boxes only)
# 3: entity_rid (the entity row's INTEGER PRIMARY KEY: one lookup per candidate instead of two)
#    and type (the entity's type when it has one: most candidates need no entity_types lookup)
# 4: the R*Tree gets a third dimension, the (tenant, GeoProperty) key number from ``geo_keys``
#    (min_k = max_k), and row ids carry the entity row's rid (``rid << RID_SHIFT | n``): a
#    candidate that needs no exact test is joined to its entity row without reading geo_shapes
# 5: the key's interval is [k, k + 0.5], not [k, k]: with a zero-width dimension every box has
#    volume 0 and the R*Tree's insertion heuristics (least volume growth) build a useless tree
# 6: a fourth dimension, the entity type's number (``geo_types``): one row per GeoProperty
#    instance and entity type, so a query for one type among many walks only that type's boxes
# A later change of layout is a numbered migration: a Python step that drops the tables,
# creates the new ones and calls :func:`rebuild_geo_index`.

# geo row ids: the entity row's rid shifted left by RID_SHIFT, plus the row's number among the
# entity's geo rows (below 2**RID_SHIFT); rids must stay below 2**40 (SQLite integers: 63 bits)
RID_SHIFT = 23
_MAX_ROWS_PER_ENTITY = 1 << RID_SHIFT
# the width of a box in the key dimension (see version 5); queries test ``min_k`` only
_KEY_WIDTH = 0.5


def rebuild_geo_index(conn: sqlite3.Connection) -> None:
    """Drop every geo row and index all entities of all tenants again."""
    conn.execute("DELETE FROM geo_rtree")
    conn.execute("DELETE FROM geo_shapes")
    conn.execute("DELETE FROM geo_keys")
    conn.execute("DELETE FROM geo_types")
    rows = conn.execute("SELECT rid, tenant, id, types, attrs FROM entities")
    for rid, tenant, entity_id, types, attrs in rows:
        _insert_rows(conn, tenant, entity_id, orjson.loads(attrs), (rid, types))


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


def _point_xy(value: Any) -> tuple[float, float] | None:
    """(x, y) of a GeoJSON Point with 2 or 3 finite numeric coordinates, else None (other
    values go through :func:`geojson_shape`)."""
    if not isinstance(value, dict) or value.get("type") != "Point":
        return None
    coords = value.get("coordinates")
    if not isinstance(coords, list) or not 2 <= len(coords) <= 3:
        return None
    if any(isinstance(c, bool) or not isinstance(c, int | float) for c in coords):
        return None
    x, y = float(coords[0]), float(coords[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return x, y


def unindex_entity(conn: sqlite3.Connection, tenant: str, entity_id: str) -> None:
    """Remove every geo row of one entity."""
    conn.execute(
        "DELETE FROM geo_rtree WHERE id IN "
        "(SELECT id FROM geo_shapes WHERE tenant = ? AND entity_id = ?)",
        (tenant, entity_id),
    )
    conn.execute("DELETE FROM geo_shapes WHERE tenant = ? AND entity_id = ?", (tenant, entity_id))


def _geo_instances(entity: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(attribute, datasetId, value) of every GeoProperty instance: what the index holds."""
    found: list[tuple[str, Any, Any]] = []
    for attr, instances in ((entity or {}).get("attrs") or {}).items():
        if isinstance(instances, list):
            for inst in instances:
                if isinstance(inst, dict) and inst.get("type") == "GeoProperty":
                    found.append((attr, inst.get("datasetId"), inst.get("value")))
    return found


def index_change(conn: sqlite3.Connection, change: Change) -> None:
    """Keep the index in step with one change (``SqliteTransaction`` calls it for each).

    Runs inside the write transaction (and its savepoints), so the index commits or rolls back
    with the entity row. An update that leaves every GeoProperty as it was (the common case: a
    sensor reporting a value) costs no index write.
    """
    if change.after is None:
        unindex_entity(conn, change.tenant, change.entity_id)
    elif change.kind == "entityCreated":
        _insert_rows(conn, change.tenant, change.entity_id, change.after.get("attrs") or {})
    elif change.before is None or change.before["type"] != change.after["type"]:
        index_entity(conn, change.tenant, change.after)  # the rows are per type
    else:
        was, now = _geo_instances(change.before), _geo_instances(change.after)
        if was != now and not _move_points(conn, change, was, now):
            index_entity(conn, change.tenant, change.after)


_MOVE_SHAPE = (
    "UPDATE geo_shapes SET geometry = ?, x = ?, y = ?"
    " WHERE tenant = ? AND entity_id = ? AND attr = ? AND dataset_id IS ? RETURNING id"
)
_MOVE_BOX = "UPDATE geo_rtree SET min_x = ?, max_x = ?, min_y = ?, max_y = ? WHERE id = ?"


def _move_points(
    conn: sqlite3.Connection,
    change: Change,
    was: list[tuple[str, Any, Any]],
    now: list[tuple[str, Any, Any]],
) -> bool:
    """Move the rows of Points that moved, in place (a sensor's new position: two statements
    a Point instead of seven), when the entity's GeoProperty instances are the same Points,
    attributes and datasetIds in the same order, at other positions: its rows keep their ids
    (numbered in that order) and every column but the geometry and the box, so they are the
    rows indexing the entity again writes. False (nothing or part of it moved: the caller
    indexes the entity again, which replaces every row) when that is not the case."""
    if len(was) != len(now):
        return False
    moves: list[tuple[str, Any, Any, tuple[float, float]]] = []
    for (attr, dataset_id, old), (new_attr, new_dataset_id, value) in zip(was, now, strict=True):
        if attr != new_attr or dataset_id != new_dataset_id:
            return False
        point = _point_xy(value)
        if point is None or _point_xy(old) is None:
            return False
        if old != value:
            moves.append((attr, dataset_id, value, point))
    rows_per_instance = len(change.before["type"]) if change.before is not None else 0
    for attr, dataset_id, value, (x, y) in moves:
        ids = conn.execute(
            _MOVE_SHAPE,
            (
                orjson.dumps(value).decode(),
                x,
                y,
                change.tenant,
                change.entity_id,
                attr,
                dataset_id,
            ),
        ).fetchall()
        if len(ids) != rows_per_instance:  # not the rows indexing writes
            return False
        conn.executemany(_MOVE_BOX, [(x, x, y, y, row_id) for (row_id,) in ids])
    return True


def _insert_rows(
    conn: sqlite3.Connection,
    tenant: str,
    entity_id: str,
    attrs: dict[str, Any],
    row: tuple[int, str] | None = None,
) -> None:
    """Index the GeoProperty instances of ``attrs``, one row per instance and entity type;
    ``row`` is the entity row's (rid, types), read from ``entities`` (in this transaction) when
    not given. Callers remove the entity's old rows first: the rows are numbered from 0 in the
    entity's id range."""
    link: tuple[int, list[tuple[str, int]]] | None = None
    number = 0
    for attr, instances in attrs.items():
        if not isinstance(instances, list):
            continue
        key: int | None = None
        for inst in instances:
            if not isinstance(inst, dict) or inst.get("type") != "GeoProperty":
                continue
            value = inst.get("value")
            point = _point_xy(value)
            x: float | None
            y: float | None
            if point is not None:  # most GeoProperties: no geometry object needed
                x, y = point
                min_x, min_y, max_x, max_y = x, y, x, y
            else:
                geom = geojson_shape(value)
                if geom is None:
                    continue
                min_x, min_y, max_x, max_y = geom.bounds
                x = y = None
                if isinstance(geom, Point):
                    x, y = float(geom.x), float(geom.y)
            if link is None:
                if row is None:
                    found = conn.execute(
                        "SELECT rid, types FROM entities WHERE tenant = ? AND id = ?",
                        (tenant, entity_id),
                    ).fetchone()
                    if found is None:  # no entity row: nothing a query could join
                        return
                    row = (found[0], found[1])
                types = orjson.loads(row[1])
                link = (row[0], [(t, _number(conn, "geo_types", type=t)) for t in types])
            if key is None:
                key = _number(conn, "geo_keys", tenant=tenant, attr=attr)
            geometry = orjson.dumps(value).decode()
            for entity_type, type_number in link[1]:
                if number >= _MAX_ROWS_PER_ENTITY:
                    raise BadRequestData(
                        f"entity {entity_id} has more than {_MAX_ROWS_PER_ENTITY - 1} "
                        "GeoProperty instances times types, more than the geo index holds"
                    )
                row_id = link[0] << RID_SHIFT | number
                number += 1
                conn.execute(
                    "INSERT INTO geo_shapes (id, tenant, entity_id, attr, dataset_id, geometry, "
                    "x, y, entity_rid, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row_id,
                        tenant,
                        entity_id,
                        attr,
                        inst.get("datasetId"),
                        geometry,
                        x,
                        y,
                        link[0],
                        entity_type,
                    ),
                )
                conn.execute(
                    "INSERT INTO geo_rtree (id, min_x, max_x, min_y, max_y, min_k, max_k, "
                    "min_t, max_t) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row_id,
                        min_x,
                        max_x,
                        min_y,
                        max_y,
                        key,
                        key + _KEY_WIDTH,
                        type_number,
                        type_number + _KEY_WIDTH,
                    ),
                )


_NUMBERED = {
    "geo_keys": (
        "SELECT no FROM geo_keys WHERE tenant = ? AND attr = ?",
        "INSERT INTO geo_keys (tenant, attr) VALUES (?, ?)",
        "(tenant, GeoProperty) pairs",
    ),
    "geo_types": (
        "SELECT no FROM geo_types WHERE type = ?",
        "INSERT INTO geo_types (type) VALUES (?)",
        "entity types",
    ),
}


def _number(conn: sqlite3.Connection, table: str, **names: str) -> int:
    """The number ``geo_keys`` gives a (tenant, GeoProperty) pair or ``geo_types`` an entity
    type, added when new (from 1: 0 and NULL never name one). Numbers are exact in the
    R*Tree's 32-bit floats up to 2**24."""
    select, insert, what = _NUMBERED[table]
    values = tuple(names.values())
    found = conn.execute(select, values).fetchone()
    if found is not None:
        return int(found[0])
    number = conn.execute(insert, values).lastrowid
    assert number is not None
    if number >= 1 << 24:
        raise BadRequestData(f"the geo index holds at most {(1 << 24) - 1} distinct {what}")
    return int(number)


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
    geometry: Any,
    x: Any,
    y: Any,
    georel: Any,
    reference: Any,
    max_distance: Any,
    min_distance: Any,
) -> int:
    """``ngsild_geo_match``: 1 when the stored geometry satisfies the georel, else 0.

    ``x``/``y`` are the stored position when the geometry is a Point (else NULL): the hot cases
    (points near a point, points within or intersecting an area) then skip parsing the stored
    GeoJSON and building a GEOS geometry per candidate row; the results are those of
    :func:`cityhub.ngsild.query.geo.relate`. Never raises: unreadable geometries, unknown georels
    and GEOS errors give 0.
    """
    if not isinstance(geometry, str) or not isinstance(reference, str):
        return 0
    try:
        if isinstance(x, float) and isinstance(y, float):
            if georel == "near" and reference.startswith(_POINT):
                if max_distance is None and min_distance is None:
                    return 0
                d = haversine_m(x, y, *_reference_point(reference))
                if max_distance is not None and d > float(max_distance):
                    return 0
                return int(min_distance is None or d >= float(min_distance))
            if georel in _POINT_PREDICATES:
                ref = _reference_shape(reference)
                return 0 if ref is None else int(_POINT_PREDICATES[georel](ref, x, y))
        target = _target_shape(geometry)
        ref = _reference_shape(reference)
        if target is None or ref is None:
            return 0
        max_d = float(max_distance) if max_distance is not None else None
        min_d = float(min_distance) if min_distance is not None else None
        return int(relate(str(georel), target, ref, max_d, min_d))
    except Exception:  # noqa: BLE001 - an exception inside SQLite aborts the whole query
        return 0


# a Point target against any reference, as relate() defines them (reference first, prepared)
_POINT_PREDICATES: dict[str, Callable[[BaseGeometry, float, float], Any]] = {
    "within": shapely.contains_xy,
    "intersects": shapely.intersects_xy,
    "disjoint": lambda ref, x, y: not shapely.intersects_xy(ref, x, y),
}


def register_geo_functions(conn: sqlite3.Connection) -> None:
    """Register ``ngsild_geo_match(geometry, x, y, georel, reference, max_d, min_d)``."""
    conn.create_function("ngsild_geo_match", 7, geo_match, deterministic=True)


# ---- compiling a geo-query --------------------------------------------------------------------


_MATCH = "ngsild_geo_match(g.geometry, g.x, g.y, ?, ?, ?, ?)"

# haversine_m(g.x, g.y, ref_lon, ref_lat) in SQL, with the same operations in the same order:
# binds radians(ref_lat), radians(ref_lat) again, cos(radians(ref_lat)), ref_lon
_HAVERSINE = (
    "2 * 6371008.8 * asin(min(1.0, sqrt("
    "sin((? - radians(g.y)) / 2) * sin((? - radians(g.y)) / 2)"
    " + cos(radians(g.y)) * ? * (sin(radians(? - g.x) / 2) * sin(radians(? - g.x) / 2)))))"
)


@lru_cache(maxsize=1024)
def _reference_text(geo: GeoQuery) -> str:
    return orjson.dumps(geo.geometry_json()).decode()


def _match_sql(geo: GeoQuery, params: list[Any]) -> str:
    """The exact predicate on the geo_shapes row ``g``; appends its parameters.

    Point-to-point ``near`` (the hot case: sensors around a place) runs as SQL arithmetic on the
    stored x/y, with no call back into Python; every other case calls ``ngsild_geo_match``.
    """
    generic = [geo.georel, _reference_text(geo), geo.max_distance, geo.min_distance]
    if (
        geo.georel != "near"
        or geo.geometry != "Point"
        or (geo.max_distance is None and geo.min_distance is None)
    ):
        params.extend(generic)
        return _MATCH
    lon, lat = (float(c) for c in geo.coordinates[:2])
    p2 = math.radians(lat)
    hav = [p2, p2, math.cos(p2), lon, lon]
    if geo.max_distance is not None:
        params.extend([*hav, geo.max_distance])
    if geo.min_distance is not None:
        params.extend([*hav, geo.min_distance])
    params.extend(generic)
    return _point_near_sql(geo.max_distance is not None, geo.min_distance is not None)


@lru_cache(maxsize=4)
def _point_near_sql(has_max: bool, has_min: bool) -> str:
    tests = []
    if has_max:
        tests.append(f"{_HAVERSINE} <= ?")
    if has_min:
        tests.append(f"{_HAVERSINE} >= ?")
    return f"(CASE WHEN g.x IS NOT NULL THEN {' AND '.join(tests)} ELSE {_MATCH} END)"


def compile_geo(
    geo: GeoQuery,
    params: list[Any],
    alias: str = "e",
    tenant: str | None = None,
    *,
    by_rid: bool = False,
) -> str:
    """A SQL boolean over the entity row ``alias``: some instance of ``geo.geoproperty`` matches.

    Args:
        geo: a parsed query whose ``geoproperty`` is already an IRI (``expand_geo``).
        params: the statement's parameter list; this appends the values the SQL binds, in order.
        alias: the alias of the ``entities`` row in the outer statement.
        tenant: the tenant, when known: lets the R*Tree candidates be filtered by tenant before
            the exact test (the outer query restricts the tenant in any case).
        by_rid: ``alias`` is a row of ``entities``: link the candidates by its ``rid``, else by
            tenant and id (rows of other tables, such as the temporal store's).

    Returns:
        SQL text with ``?`` placeholders only; nothing from the request is pasted into it.
    """
    box = search_bbox(geo)
    if box is None:
        params.append(geo.geoproperty)
        return (
            "EXISTS (SELECT 1 FROM geo_shapes g WHERE g.tenant = "
            f"{alias}.tenant AND g.entity_id = {alias}.id AND g.attr = ? "
            f"AND {_match_sql(geo, params)})"
        )
    min_x, max_x, min_y, max_y = box
    link = (
        f"{alias}.rid IN (SELECT g.entity_rid"
        if by_rid
        else f"({alias}.tenant, {alias}.id) IN (SELECT g.tenant, g.entity_id"
    )
    sql = (
        f"{link} FROM geo_rtree r "
        "CROSS JOIN geo_shapes g ON g.id = r.id "
        "WHERE r.max_x >= ? AND r.min_x <= ? AND r.max_y >= ? AND r.min_y <= ? AND g.attr = ?"
    )
    params.extend([min_x, max_x, min_y, max_y, geo.geoproperty])
    if tenant is not None:
        sql += " AND g.tenant = ?"
        params.append(tenant)
    return sql + f" AND {_match_sql(geo, params)})"


# the key constraint: the R*Tree's third dimension (no row has key 0); the R*Tree prunes a node
# whose key interval does not hold the number, and keeps a box whose min_k is the number
_KEY = "r.min_k = coalesce((SELECT no FROM geo_keys WHERE tenant = ? AND attr = ?), 0)"
# candidates joined to their geo row g (for the exact test) and their entity row e
_WITH_SHAPE = (
    "FROM geo_rtree r CROSS JOIN geo_shapes g ON g.id = r.id "
    "CROSS JOIN entities e ON e.rid = g.entity_rid WHERE "
)
# candidates that need no exact test: straight from the R*Tree to the entity row
_BARE = f"FROM geo_rtree r CROSS JOIN entities e ON e.rid = (r.id >> {RID_SHIFT}) WHERE "
_BOX = "r.max_x >= ? AND r.min_x <= ? AND r.max_y >= ? AND r.min_y <= ?"


def geo_driven_passes(
    geo: GeoQuery, tenant: str, types: tuple[str, ...] | list[str] = ()
) -> list[tuple[str, list[Any]]] | None:
    """``FROM … WHERE …`` statements that walk the R*Tree first and join each entity row ``e``.

    For a query whose only order is the default one, this lets ``LIMIT`` stop early: the exact
    predicate runs on candidates as they are reached, and an entity appears once per matching
    GeoProperty instance (callers keep the first). Two passes split the search box: first the
    boxes lying inside a central box (the square inscribed in a ``near`` circle, the middle
    quarter of any other box), then the rest. The R*Tree hands candidates out in node order,
    which starts at a corner, where the fewest of them match; centre first, a page fills after
    reading about as many candidates as it holds. Results come centre box first, each pass in
    the index's order (deterministic while the index does not change).

    When every geometry whose box lies in the central box matches (``near`` a Point: the box
    inside the circle; ``within``/``intersects`` an area: a square inside the area), the first
    pass reads no geo row at all: the R*Tree's key dimension selects tenant and GeoProperty,
    its type dimension the entity types, and the row id leads to the entity row. An entity of
    several types has a box per type, so it can come more than once (callers keep the first).

    Args:
        geo: the query, ``geoproperty`` already an IRI.
        tenant: the tenant.
        types: entity type IRIs of which the entity must have one (empty: any type).

    Returns:
        ``(sql, params)`` per pass, in order, or None when no box can prune (``disjoint``,
        ``near`` with only ``minDistance``): use :func:`compile_geo` then.
    """
    box = search_bbox(geo)
    if box is None:
        return None
    min_x, max_x, min_y, max_y = box
    head = [min_x, max_x, min_y, max_y, tenant, geo.geoproperty]
    safe = safe_box(geo)
    if safe is not None:
        # a stored box strictly inside a box the reference area contains: the geometry lies
        # in the area's interior, so it is within the area and intersects it, no test needed
        central, inside = list(safe), "r.min_x > ? AND r.max_x < ? AND r.min_y > ? AND r.max_y < ?"
        tested_first = False
    else:
        inside = "r.min_x >= ? AND r.max_x <= ? AND r.min_y >= ? AND r.max_y <= ?"
        inner = near_inner_box(geo)
        # near_inner_box: every point of a geometry in it is near enough, so it matches
        tested_first = inner is None
        central = inner if inner is not None else _middle_box(geo, box)
    passes = []
    for part, tested in ((inside, tested_first), (f"NOT ({inside})", True)):
        params: list[Any] = [*head, *central]
        match = _match_sql(geo, params) if tested else ""
        params.extend(types)
        passes.append((_pass_sql(part, match, len(types)), params))
    return passes


@lru_cache(maxsize=64)
def _pass_sql(part: str, match: str, type_count: int) -> str:
    """The text of a pass of :func:`geo_driven_passes` (its parameters are built per query):
    with the exact test ``match`` on the geo row, or, when ``match`` is empty, without it and
    without the geo row; the R*Tree's type dimension restricted to ``type_count`` types."""
    sql = f"{_WITH_SHAPE if match else _BARE}{_BOX} AND {_KEY} AND {part}"
    if match:
        sql += f" AND {match}"
    return sql + (f" AND {_types_sql(type_count)}" if type_count else "")


@lru_cache(maxsize=16)
def _types_sql(type_count: int) -> str:
    """The type dimension holds one of ``type_count`` type IRIs (the R*Tree walks each)."""
    marks = ",".join("?" * type_count)
    return f"r.min_t IN (SELECT no FROM geo_types WHERE type IN ({marks}))"


def _middle_box(geo: GeoQuery, box: tuple[float, float, float, float]) -> list[float]:
    """A central box to read first (no guarantee about its contents): the square inscribed in
    a ``near`` circle (at the latitude farthest from the equator), else the middle quarter."""
    if geo.georel == "near" and geo.geometry == "Point" and geo.max_distance is not None:
        cx, cy = (float(c) for c in geo.coordinates[:2])
        hy = math.degrees(geo.max_distance / EARTH_RADIUS_M / math.sqrt(2) * 0.99)
        hx = hy / max(math.cos(math.radians(min(89.0, abs(cy) + hy))), 1e-6)
    else:
        min_x, max_x, min_y, max_y = box
        cx, cy = (min_x + max_x) / 2, (min_y + max_y) / 2
        hx, hy = (max_x - min_x) / 4, (max_y - min_y) / 4
    return [cx - hx, cx + hx, cy - hy, cy + hy]


def _hav(theta: float) -> float:
    return math.sin(theta / 2) ** 2


@lru_cache(maxsize=1024)
def near_inner_box(geo: GeoQuery) -> list[float] | None:
    """For ``near;maxDistance`` a Point (no minDistance): ``[min_x, max_x, min_y, max_y]`` of a
    box every point of which lies within maxDistance (by :func:`haversine_m`), or None.

    The haversine formula gives ``hav(d/R) = hav(dlat) + cos(lat0) cos(lat) hav(dlon)``; in the
    box ``|dlat| <= hy``, ``cos(lat) <= cos(lat_e)`` (``lat_e``: its latitude nearest the
    equator) and ``|dlon| <= hx``, so choosing ``hx`` with ``hav(hy) + cos(lat0) cos(lat_e)
    hav(hx) <= hav(d/R)``, less 1% for rounding, bounds every distance in it. The corners are
    checked with ``haversine_m`` itself. Stored R*Tree boxes are rounded outwards, so a stored
    box inside this one holds a point inside it."""
    if (
        geo.georel != "near"
        or geo.geometry != "Point"
        or geo.max_distance is None
        or geo.min_distance is not None
    ):
        return None
    cx, cy = (float(c) for c in geo.coordinates[:2])
    d = geo.max_distance / EARTH_RADIUS_M
    hy = d / math.sqrt(2) * 0.99
    lat_lo, lat_hi = cy - math.degrees(hy), cy + math.degrees(hy)
    if d >= 1.0 or lat_lo <= -89.0 or lat_hi >= 89.0:
        return None  # very large circles and the poles: the exact test decides everything
    lat_e = 0.0 if lat_lo <= 0.0 <= lat_hi else min(abs(lat_lo), abs(lat_hi))
    room = (_hav(d) - _hav(hy)) / (math.cos(math.radians(cy)) * math.cos(math.radians(lat_e)))
    hx = math.degrees(2 * math.asin(min(1.0, math.sqrt(max(0.0, room))))) * 0.99
    box = [cx - hx, cx + hx, lat_lo, lat_hi]
    # the two corners at each latitude lie at the same distance (dlon enters squared)
    if any(haversine_m(box[1], y, cx, cy) > geo.max_distance for y in box[2:]):
        return None
    return box


@lru_cache(maxsize=1024)
def safe_box(geo: GeoQuery) -> tuple[float, float, float, float] | None:
    """For ``within``/``intersects`` an area: a large square ``(min_x, max_x, min_y, max_y)``
    the area contains, centred on a point inside it (None for other queries, or when none is
    found). Found by halving: the largest of 24 sizes, up to the area's box, that fits."""
    if geo.georel not in ("within", "intersects") or geo.geometry not in (
        "Polygon",
        "MultiPolygon",
    ):
        return None
    area = query_shape(geo)
    if area.area <= 0:
        return None
    centre = area.representative_point()
    x0, y0, x1, y1 = area.bounds
    low, high, best = 0.0, max(x1 - x0, y1 - y0) / 2, 0.0
    for _ in range(24):
        half = (low + high) / 2
        square = shapely.box(centre.x - half, centre.y - half, centre.x + half, centre.y + half)
        if area.contains(square):
            low = best = half
        else:
            high = half
    if best <= 0:
        return None
    return centre.x - best, centre.x + best, centre.y - best, centre.y + best


def geo_candidates(
    geo: GeoQuery, tenant: str, params: list[Any], types: tuple[str, ...] | list[str] = ()
) -> str | None:
    """``FROM … WHERE …`` over every match, R*Tree first (for ``count``); None as above."""
    box = search_bbox(geo)
    if box is None:
        return None
    params.extend([*box, tenant, geo.geoproperty])
    sql = f"{_WITH_SHAPE}{_BOX} AND {_KEY} AND {_match_sql(geo, params)}"
    if types:
        params.extend(types)
        sql += f" AND {_types_sql(len(types))}"
    return sql
