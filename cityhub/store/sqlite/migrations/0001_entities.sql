-- Entities: one row each (its attributes as one JSON document) and the index of their types.
-- rid: the row's id, an INTEGER PRIMARY KEY so that VACUUM keeps it (the default order of
-- queries and the derived indexes' links to the row rely on it)
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
  rid INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  types TEXT NOT NULL,
  scopes TEXT,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  attrs TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entities_pk ON entities (tenant, id);
CREATE TABLE IF NOT EXISTS entity_types (
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (tenant, type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_types_by_id ON entity_types (tenant, id);
