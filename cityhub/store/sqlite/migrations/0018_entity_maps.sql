-- EntityMaps (ETSI GS CIM 009 v1.9.1 clauses 5.5.14 and 5.14, cityhub.store.entity_maps):
-- which source holds which entity of a paged distributed query, until expires_at.
CREATE TABLE IF NOT EXISTS entity_maps (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS entity_maps_expiry ON entity_maps (expires_at);
