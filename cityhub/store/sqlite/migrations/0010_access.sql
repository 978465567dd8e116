-- Access control (issue 20, cityhub.store.access): tenants an operator manages, API keys (the
-- salted hash of each secret, never the secret), permissions, the audit log, and the version
-- every change of tenants, keys or permissions moves (the workers' caches compare it).
CREATE TABLE IF NOT EXISTS access_tenants (
  name TEXT PRIMARY KEY,
  settings TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  admin INTEGER NOT NULL,
  salt TEXT NOT NULL,
  digest TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS access_permissions (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access_version (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  version INTEGER NOT NULL
);
INSERT OR IGNORE INTO access_version (one, version) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  tenant TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  ids TEXT NOT NULL,
  status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON audit_log (tenant, seq);
