-- cityhub PostgreSQL schema 1: tenants, entities, their types, the geo index.
-- One set of tables for every tenant: each row carries its tenant and every index starts with it
-- (docs/deploying.md says why this and not one schema per tenant).
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE tenants (
  name text PRIMARY KEY,
  created_at text NOT NULL
);

CREATE TABLE entities (
  tenant text NOT NULL,
  id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,  -- insertion order, the last orderBy key
  types jsonb NOT NULL,                     -- array of type IRIs
  scopes jsonb,                             -- array of scopes, or NULL
  created_at text NOT NULL,                 -- ISO 8601 as written by the hub
  modified_at text NOT NULL,
  attrs jsonb NOT NULL,                     -- attribute IRI -> array of instances
  PRIMARY KEY (tenant, id)
);
CREATE INDEX entities_by_seq ON entities (tenant, seq);

CREATE TABLE entity_types (
  tenant text NOT NULL,
  type text NOT NULL,
  id text NOT NULL,
  PRIMARY KEY (tenant, type, id)
);
CREATE INDEX entity_types_by_id ON entity_types (tenant, id);

-- one row per GeoProperty instance of every attribute; geom for the OGC predicates (planar
-- lon/lat, as GEOS computes them for SQLite too), geog for distances on the sphere
CREATE TABLE geo_shapes (
  tenant text NOT NULL,
  entity_id text NOT NULL,
  attr text NOT NULL,
  dataset_id text,
  geom geometry(Geometry, 4326) NOT NULL,
  geog geography NOT NULL
);
CREATE INDEX geo_shapes_by_entity ON geo_shapes (tenant, entity_id, attr);
CREATE INDEX geo_shapes_geom ON geo_shapes USING gist (geom);
CREATE INDEX geo_shapes_geog ON geo_shapes USING gist (geog);

-- q compares date-times in one canonical UTC instant (cityhub.ngsild.query.ast
-- canonical_datetime): NULL for anything that is not an ISO 8601 date-time, never an error.
CREATE FUNCTION ngsild_datetime(t text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  m text[];
BEGIN
  m := regexp_match(t, '^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$');
  IF m IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN (m[1] || ':' || coalesce(m[2], '00') || '.' || rpad(left(coalesce(m[3], '0'), 6), 6, '0')
          || coalesce(nullif(m[4], 'Z'), '+00'))::timestamptz;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$$;
