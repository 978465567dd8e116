-- The IoT agent's provisioning (issue 18, store/iot.py): config groups, unique by
-- (apikey, resource) over every tenant as in FIWARE's agents, devices per tenant, and the
-- counts of refused payloads per device.
CREATE TABLE IF NOT EXISTS iot_groups (
  apikey TEXT NOT NULL,
  resource TEXT NOT NULL,
  tenant TEXT NOT NULL,
  service_path TEXT NOT NULL,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (apikey, resource)
);
CREATE INDEX IF NOT EXISTS iot_groups_by_tenant ON iot_groups (tenant, service_path);
CREATE TABLE IF NOT EXISTS iot_devices (
  tenant TEXT NOT NULL,
  device_id TEXT NOT NULL,
  apikey TEXT NOT NULL,
  service_path TEXT NOT NULL,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant, device_id, apikey)
);
CREATE TABLE IF NOT EXISTS iot_payload_errors (
  tenant TEXT NOT NULL,
  apikey TEXT NOT NULL,
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_at TEXT NOT NULL,
  last_detail TEXT NOT NULL,
  PRIMARY KEY (tenant, apikey, device_id, kind)
);
