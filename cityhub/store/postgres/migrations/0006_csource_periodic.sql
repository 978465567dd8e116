-- cityhub PostgreSQL schema 6: when each timeInterval registration subscription's next round is
-- due (clause 5.11.7), as csource_periodic in cityhub.store.sqlite.registrations. Rounds run
-- under a transaction advisory lock, so one worker at a time moves them on.
CREATE TABLE csource_periodic (
  tenant text NOT NULL,
  subscription_id text NOT NULL,
  next_at double precision NOT NULL,  -- seconds since the epoch
  PRIMARY KEY (tenant, subscription_id)
);
