-- cityhub PostgreSQL schema 15: EntityMaps (ETSI GS CIM 009 v1.9.1 clauses 5.5.14 and 5.14,
-- cityhub.store.entity_maps), as in cityhub.store.sqlite's entity_maps migration.
CREATE TABLE entity_maps (
  tenant text NOT NULL,
  id text NOT NULL,
  expires_at text NOT NULL,
  doc jsonb NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX entity_maps_expiry ON entity_maps (expires_at);
