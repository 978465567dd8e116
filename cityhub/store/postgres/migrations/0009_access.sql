-- cityhub PostgreSQL schema 9: access control (issue 20, cityhub.store.access), as in
-- cityhub.store.sqlite's access migration: managed tenants, API keys (salted hashes, never the
-- secrets), permissions, the audit log, and the version every change of them moves.
CREATE TABLE access_tenants (
  name text PRIMARY KEY,
  settings jsonb NOT NULL,
  created_at text NOT NULL
);
CREATE TABLE api_keys (
  key_id text PRIMARY KEY,
  tenant text NOT NULL,
  name text NOT NULL,
  admin boolean NOT NULL,
  salt text NOT NULL,
  digest text NOT NULL,
  created_at text NOT NULL,
  expires_at text,
  revoked_at text
);
CREATE TABLE access_permissions (
  id text PRIMARY KEY,
  tenant text NOT NULL,
  doc jsonb NOT NULL,
  created_at text NOT NULL
);
CREATE TABLE access_version (
  one integer PRIMARY KEY CHECK (one = 1),
  version bigint NOT NULL
);
INSERT INTO access_version (one, version) VALUES (1, 0);
CREATE TABLE audit_log (
  seq bigserial PRIMARY KEY,
  at text NOT NULL,
  tenant text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  ids jsonb NOT NULL,
  status integer NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant, seq);
