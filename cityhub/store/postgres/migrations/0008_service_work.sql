-- cityhub PostgreSQL schema 8: the city services' work queue (cityhub/store/work.py,
-- cityhub/store/postgres/work.py): an item per computation a committed write asked for. Rows
-- never claimed (lease_token IS NULL) are unique per (service, tenant, item_key), so writes to
-- one entity coalesce into one item; a claimed row keeps its token until it is done, so it is
-- never merged into. Workers claim with FOR UPDATE SKIP LOCKED.
CREATE TABLE service_work (
  id bigserial PRIMARY KEY,
  service text NOT NULL,
  tenant text NOT NULL,
  item_key text,
  payload jsonb NOT NULL,
  due_at double precision NOT NULL,
  enqueued_at double precision NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  lease_token uuid,
  leased_until double precision
);
CREATE INDEX service_work_due ON service_work (service, due_at);
CREATE UNIQUE INDEX service_work_fresh ON service_work (service, tenant, item_key)
  WHERE lease_token IS NULL;
