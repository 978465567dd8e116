-- Subscriptions (one JSON document each) and the notification status members the hub keeps
-- (timesSent, lastSuccess ...), in their own table so delivering does not touch the subscription.
CREATE TABLE IF NOT EXISTS subscriptions (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS subscription_status (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT NOT NULL,
  PRIMARY KEY (tenant, id)
);
