-- The work queue runs one key's items in order (cityhub/store/work.py CLAIMABLE): an item is
-- claimable only while no older item of its (service, tenant, item_key) is in the queue. This
-- index answers that look-up for each candidate.
CREATE INDEX IF NOT EXISTS service_work_key ON service_work (service, tenant, item_key, id);
