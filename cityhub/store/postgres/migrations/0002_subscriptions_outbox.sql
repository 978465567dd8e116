-- cityhub PostgreSQL schema 2: subscriptions and the notification outbox.
CREATE TABLE subscriptions (
  tenant text NOT NULL,
  id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,  -- creation order
  doc jsonb NOT NULL,
  created_at text NOT NULL,
  modified_at text NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX subscriptions_by_seq ON subscriptions (tenant, seq);

-- grows with every change of any subscription: a worker's cache of prepared subscriptions is
-- used only while the version it was built with still holds, so a subscription created through
-- one worker is honoured by the next change committed on any other
CREATE TABLE notify_version (
  one integer PRIMARY KEY CHECK (one = 1),
  version bigint NOT NULL
);
INSERT INTO notify_version (one, version) VALUES (1, 0);
CREATE FUNCTION notify_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE notify_version SET version = version + 1 WHERE one = 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER subscriptions_changed AFTER INSERT OR UPDATE OR DELETE ON subscriptions
FOR EACH STATEMENT EXECUTE FUNCTION notify_version_bump();

-- one row per notification due; claimed with FOR UPDATE SKIP LOCKED and leased (due_at moved
-- ahead) so that any worker can deliver any row, once per attempt
CREATE TABLE outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL,
  subscription_id text NOT NULL,
  payload jsonb NOT NULL,
  due_at double precision NOT NULL,  -- seconds since the epoch
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at text NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at, id);

CREATE TABLE notify_throttle (
  tenant text NOT NULL,
  subscription_id text NOT NULL,
  last_at double precision NOT NULL,
  PRIMARY KEY (tenant, subscription_id)
);
