-- The notification outbox, throttling and periodic schedules, and a version number that the
-- triggers on subscriptions (0004) bump on every change (see outbox.py).
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  due_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL,
  leased_until REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at);
CREATE TABLE IF NOT EXISTS notify_throttle (
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  last_at REAL NOT NULL,
  PRIMARY KEY (tenant, subscription_id)
);
CREATE TABLE IF NOT EXISTS notify_periodic (
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  next_at REAL NOT NULL,
  PRIMARY KEY (tenant, subscription_id)
);
CREATE TABLE IF NOT EXISTS notify_version (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  version INTEGER NOT NULL
);
INSERT OR IGNORE INTO notify_version (one, version) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS notify_sub_insert AFTER INSERT ON subscriptions
BEGIN UPDATE notify_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS notify_sub_update AFTER UPDATE ON subscriptions
BEGIN UPDATE notify_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS notify_sub_delete AFTER DELETE ON subscriptions
BEGIN UPDATE notify_version SET version = version + 1; END;
