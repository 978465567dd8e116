-- cityhub PostgreSQL schema 22: distributed subscriptions (ETSI GS CIM 009 v1.9.1 clauses
-- 5.8.1.4, 5.8.5.4, 5.8.6; cityhub.store.remote_subscriptions), as in cityhub.store.sqlite's
-- remote_subscriptions migration.
CREATE TABLE remote_subscriptions (
  remote_id text PRIMARY KEY,
  tenant text NOT NULL,
  subscription_id text NOT NULL,
  registration_id text NOT NULL,
  endpoint text NOT NULL,
  created_at text NOT NULL
);
CREATE INDEX remote_subscriptions_by_local ON remote_subscriptions (tenant, subscription_id);
