-- Context source registrations (one JSON document each, and their information split into rows
-- that discovery queries select), registration subscriptions and their periodic schedule.
CREATE TABLE IF NOT EXISTS csource_registrations (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  expires_at TEXT,
  doc TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS csource_registration_infos (
  tenant TEXT NOT NULL,
  registration_id TEXT NOT NULL,
  info INTEGER NOT NULL,
  any_entity INTEGER NOT NULL,
  any_attribute INTEGER NOT NULL,
  PRIMARY KEY (tenant, registration_id, info)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS csource_registration_entities (
  tenant TEXT NOT NULL,
  registration_id TEXT NOT NULL,
  info INTEGER NOT NULL,
  type TEXT NOT NULL,
  entity_id TEXT,
  id_pattern TEXT
);
CREATE INDEX IF NOT EXISTS csource_registration_entities_by_type
  ON csource_registration_entities (tenant, type);
CREATE INDEX IF NOT EXISTS csource_registration_entities_by_info
  ON csource_registration_entities (tenant, registration_id, info);
CREATE TABLE IF NOT EXISTS csource_registration_attrs (
  tenant TEXT NOT NULL,
  registration_id TEXT NOT NULL,
  info INTEGER NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (tenant, registration_id, info, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS csource_registration_attrs_by_name
  ON csource_registration_attrs (tenant, name);
CREATE TABLE IF NOT EXISTS csource_subscriptions (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS csource_periodic (
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  next_at REAL NOT NULL,
  PRIMARY KEY (tenant, subscription_id)
);
