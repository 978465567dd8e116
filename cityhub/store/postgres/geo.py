"""Geo-queries on PostGIS (clause 4.10): the same semantics as the SQLite store, indexed by GiST.

Every GeoProperty instance of every attribute gets one row in ``geo_shapes`` (tenant, entity id,
attribute IRI, datasetId, the geometry). The geometry is read and repaired exactly as on SQLite
(``geojson_shape``: a self-crossing ring goes through ``make_valid``) and stored twice: as a
``geometry`` in lon/lat (SRID 4326) for the OGC predicates, which GEOS computes for PostGIS as
it does for shapely, and as a ``geography`` for distances on the sphere.

A geo-query compiles to a condition on the entity row that is true when *some* instance of the
queried GeoProperty satisfies the georel (entities without it never match, not even
``disjoint``):

* ``within``, ``contains``, ``intersects``, ``overlaps``, ``equals``: ``ST_Within`` ... on the
  geometry column, which GiST serves directly.
* ``near;maxDistance`` is ``ST_DWithin`` on the geography column with the sphere
  (``use_spheroid => false``, mean radius 6,371,008.8 m as in ``ngsild.query.geo``), again a GiST
  search; ``near;minDistance`` is ``NOT ST_DWithin`` (no index can serve "far from").
  Point to point this is the haversine distance of the SQLite store; for other shapes PostGIS
  measures the exact spherical distance between the closest points, where the SQLite store picks
  the closest pair in a local projection (equal to well under 1 % within a city).
* ``disjoint`` is ``NOT ST_Intersects``, tested on the entity's own rows.
"""

from __future__ import annotations

from typing import Any

import shapely

from cityhub.ngsild.query.geo import GeoQuery, geojson_shape, query_shape
from cityhub.store.base import Change
from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.postgres.params import Params

_GEOMETRY = "ST_SetSRID(ST_GeomFromWKB({wkb}), 4326)"
_PREDICATES = {
    "within": "ST_Within",
    "contains": "ST_Contains",
    "intersects": "ST_Intersects",
    "overlaps": "ST_Overlaps",
    "equals": "ST_Equals",
}


def shape_rows(
    tenant: str, entity_id: str, attrs: dict[str, Any]
) -> list[tuple[str, str, str, str | None, bytes]]:
    """(tenant, entity id, attribute, datasetId, WKB) for every usable GeoProperty instance."""
    rows: list[tuple[str, str, str, str | None, bytes]] = []
    for attr, instances in attrs.items():
        if not isinstance(instances, list):
            continue
        for inst in instances:
            if not isinstance(inst, dict) or inst.get("type") != "GeoProperty":
                continue
            geom = geojson_shape(inst.get("value"))
            if geom is None:
                continue
            rows.append((tenant, entity_id, attr, inst.get("datasetId"), shapely.to_wkb(geom)))
    return rows


def _geo_values(entity: Any) -> list[tuple[str, Any, Any]]:
    """(attribute, datasetId, value) of every GeoProperty instance of an entity."""
    return [
        (attr, inst.get("datasetId"), inst.get("value"))
        for attr, instances in (entity.get("attrs") or {}).items()
        if isinstance(instances, list)
        for inst in instances
        if isinstance(inst, dict) and inst.get("type") == "GeoProperty"
    ]


def index_change(conn: SyncConnection, change: Change) -> None:
    """Replace the entity's geo rows by those of its new state (``PostgresTransaction`` calls it
    for each change; nothing to do when no GeoProperty changed: most updates are of other
    values). One statement: the DELETE of a data-modifying CTE does not see the rows its
    INSERT adds, and a new entity (no ``before``) has no rows to delete."""
    if (
        change.before is not None
        and change.after is not None
        and _geo_values(change.before) == _geo_values(change.after)
    ):
        return
    rows = shape_rows(change.tenant, change.entity_id, (change.after or {}).get("attrs") or {})
    if change.before is None and not rows:
        return
    geometry = _GEOMETRY.format(wkb="n.wkb")
    insert = (
        "INSERT INTO geo_shapes (tenant, entity_id, attr, dataset_id, geom, geog) "
        f"SELECT $1, $2, n.attr, n.ds, {geometry}, {geometry}::geography "
        "FROM unnest($3::text[], $4::text[], $5::bytea[]) AS n(attr, ds, wkb)"
    )
    columns = [[r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]]
    if change.before is None:
        conn.execute(insert, change.tenant, change.entity_id, *columns)
        return
    conn.execute(
        "WITH gone AS (DELETE FROM geo_shapes WHERE tenant = $1 AND entity_id = $2) " + insert,
        change.tenant,
        change.entity_id,
        *columns,
    )


def compile_geo(
    geo: GeoQuery, params: Params, alias: str = "e", tenant_param: str | None = None
) -> str:
    """A SQL boolean over the entity row ``alias``: some instance of ``geo.geoproperty`` matches.

    Args:
        geo: a parsed query whose ``geoproperty`` is already an IRI (``expand_geo``).
        params: the statement's parameters; the reference geometry is bound as WKB.
        alias: the alias of the ``entities`` row in the outer statement.
        tenant_param: the placeholder of the tenant the outer statement already filters
            ``alias`` on. With it, a georel the GiST index serves (``near;maxDistance``,
            within, contains, intersects, overlaps, equals) is ``alias.id IN (<the shapes
            that match>)``, which the planner can start from the index; correlated on the
            entity row (``EXISTS``), it was planned as one lookup per entity of the query's
            type (measured: 1,000 probes for a type of 1,000 in bench/suite.py's 10,000).
            The two say the same when ``alias.tenant`` is that tenant.
    """
    attr = params.add(geo.geoproperty)
    rows = (
        f"SELECT 1 FROM geo_shapes g WHERE g.tenant = {alias}.tenant AND "
        f"g.entity_id = {alias}.id AND g.attr = {attr}"
    )
    # OFFSET 0 keeps the planner from folding the shapes back into a join it starts from
    # the entities (it did, with the correlated form's one probe per entity)
    shapes = (
        None
        if tenant_param is None
        else f"SELECT g.entity_id FROM geo_shapes g WHERE g.tenant = {tenant_param} AND "
        f"g.attr = {attr} AND {{}} OFFSET 0"
    )
    reference = _GEOMETRY.format(wkb=params.add(shapely.to_wkb(query_shape(geo)), "bytea"))
    if geo.georel == "near":
        tests: list[str] = []
        if geo.max_distance is not None:
            distance = params.add(geo.max_distance, "float8")
            tests.append(f"ST_DWithin(g.geog, {reference}::geography, {distance}, false)")
        if geo.min_distance is not None:
            # ST_DWithin is "distance <= d", so "distance >= d" is "not within d minus a hair"
            distance = params.add(geo.min_distance, "float8")
            tests.append(
                f"(NOT ST_DWithin(g.geog, {reference}::geography, {distance}, false) "
                f"OR ST_Distance(g.geog, {reference}::geography, false) >= {distance})"
            )
        if not tests:
            return "FALSE"
        if shapes is not None and geo.min_distance is None:
            return f"{alias}.id IN ({shapes.format(tests[0])})"
        return f"EXISTS ({rows} AND {' AND '.join(tests)})"
    if geo.georel == "disjoint":
        return f"EXISTS ({rows} AND NOT ST_Intersects(g.geom, {reference}))"
    predicate = _PREDICATES.get(geo.georel)
    if predicate is None:
        return "FALSE"
    if shapes is not None:
        return f"{alias}.id IN ({shapes.format(f'{predicate}(g.geom, {reference})')})"
    return f"EXISTS ({rows} AND {predicate}(g.geom, {reference}))"


__all__ = ["compile_geo", "index_change", "shape_rows"]
