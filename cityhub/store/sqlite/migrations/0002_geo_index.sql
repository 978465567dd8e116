-- The geo index (see geo.py): an R*Tree of GeoProperty boxes over (x, y, tenant and GeoProperty
-- key, entity type), the shapes themselves, and the key and type numbers.
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree
  USING rtree(id, min_x, max_x, min_y, max_y, min_k, max_k, min_t, max_t);
CREATE TABLE IF NOT EXISTS geo_keys (
  no INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  attr TEXT NOT NULL,
  UNIQUE (tenant, attr)
);
CREATE TABLE IF NOT EXISTS geo_types (
  no INTEGER PRIMARY KEY,
  type TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS geo_shapes (
  id INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  attr TEXT NOT NULL,
  dataset_id TEXT,
  geometry TEXT NOT NULL,
  x REAL,
  y REAL,
  entity_rid INTEGER NOT NULL,
  type TEXT
);
CREATE INDEX IF NOT EXISTS geo_shapes_by_entity ON geo_shapes (tenant, entity_id, attr);
