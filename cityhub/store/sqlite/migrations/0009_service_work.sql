-- The city services' work queue (cityhub/store/work.py): an item
-- per computation a committed write asked for. Rows never claimed (lease_token IS NULL) are
-- unique per (service, tenant, item_key), so writes to one entity coalesce into one item;
-- a claimed row keeps its token until it is done, so it is never merged into.
CREATE TABLE IF NOT EXISTS service_work (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  service TEXT NOT NULL,
  tenant TEXT NOT NULL,
  item_key TEXT,
  payload TEXT NOT NULL,
  due_at REAL NOT NULL,
  enqueued_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  lease_token TEXT,
  leased_until REAL
);
CREATE INDEX IF NOT EXISTS service_work_due ON service_work (service, due_at);
CREATE UNIQUE INDEX IF NOT EXISTS service_work_fresh ON service_work (service, tenant, item_key)
  WHERE lease_token IS NULL;
