-- Distributed subscriptions (ETSI GS CIM 009 v1.9.1 clauses 5.8.1.4, 5.8.5.4, 5.8.6;
-- cityhub.store.remote_subscriptions): the copy of a local subscription made at a context
-- source (remote_id, this hub's random id for it), so that its deletion is forwarded and the
-- notifications that come back are relayed under the local subscription's id.
CREATE TABLE IF NOT EXISTS remote_subscriptions (
  remote_id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  registration_id TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS remote_subscriptions_by_local
  ON remote_subscriptions (tenant, subscription_id);
