-- Temporal history (see history.py): the entities with a history, their types, and every
-- attribute instance recorded.
CREATE TABLE IF NOT EXISTS temporal_entities (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  types TEXT NOT NULL,
  scopes TEXT,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  deleted_at TEXT,
  attrs TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS temporal_entities_pk ON temporal_entities (tenant, id);
CREATE TABLE IF NOT EXISTS temporal_types (
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (tenant, type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS temporal_types_by_id ON temporal_types (tenant, id);
CREATE TABLE IF NOT EXISTS attribute_instances (
  seq INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  attr TEXT NOT NULL,
  dataset_id TEXT NOT NULL DEFAULT '',
  instance_id TEXT NOT NULL,
  observed_at TEXT,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  deleted_at TEXT,
  instance TEXT NOT NULL,
  value_number REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS attribute_instances_id
  ON attribute_instances (tenant, instance_id);
CREATE INDEX IF NOT EXISTS attribute_instances_observed
  ON attribute_instances (tenant, entity_id, attr, observed_at);
