-- cityhub PostgreSQL schema 5: subscription status apart from the document, lease tokens.
--
-- The notification status members the hub maintains (timesSent, lastSuccess ...) live in their
-- own table, merged into the document on reads (as on SQLite): delivering a notification does
-- not touch the subscriptions row, so it does not bump notify_version and every worker's cache
-- of prepared subscriptions stays valid while notifications flow.
CREATE TABLE subscription_status (
  tenant text NOT NULL,
  id text NOT NULL,
  status jsonb NOT NULL,
  PRIMARY KEY (tenant, id),
  FOREIGN KEY (tenant, id) REFERENCES subscriptions (tenant, id) ON DELETE CASCADE
);

-- a claimed row carries the token of its lease: a dispatcher whose lease ran out (and whose row
-- another worker claimed again) cannot acknowledge or reschedule the other worker's attempt
ALTER TABLE outbox ADD COLUMN lease_token uuid;

-- periodic notifications (timeInterval): when each subscription's next round is due; a worker
-- moves a round on only if next_at is still what it read, so one worker sends each round
CREATE TABLE notify_periodic (
  tenant text NOT NULL,
  subscription_id text NOT NULL,
  next_at double precision NOT NULL,
  PRIMARY KEY (tenant, subscription_id)
);

-- every history write paid for this B-tree; timeproperty=createdAt windows read the
-- (tenant, entity, attribute) prefix of the observedAt index, and scans by recording time
-- over the whole table have the BRIN index on created_at
DROP INDEX IF EXISTS attribute_instances_created;
