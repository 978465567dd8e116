-- cityhub PostgreSQL schema 7: the IoT agent's provisioning (issue 18, store/iot.py): config
-- groups, unique by (apikey, resource) over every tenant as in FIWARE's agents, devices per
-- tenant, and the counts of refused payloads per device.
CREATE TABLE iot_groups (
  apikey text NOT NULL,
  resource text NOT NULL,
  tenant text NOT NULL,
  service_path text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  doc jsonb NOT NULL,
  created_at text NOT NULL,
  PRIMARY KEY (apikey, resource)
);
CREATE INDEX iot_groups_by_tenant ON iot_groups (tenant, service_path, seq);
CREATE TABLE iot_devices (
  tenant text NOT NULL,
  device_id text NOT NULL,
  apikey text NOT NULL,
  service_path text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  doc jsonb NOT NULL,
  created_at text NOT NULL,
  PRIMARY KEY (tenant, device_id, apikey)
);
CREATE INDEX iot_devices_by_seq ON iot_devices (tenant, seq);
CREATE TABLE iot_payload_errors (
  tenant text NOT NULL,
  apikey text NOT NULL,
  device_id text NOT NULL,
  kind text NOT NULL,
  count bigint NOT NULL,
  last_at text NOT NULL,
  last_detail text NOT NULL,
  PRIMARY KEY (tenant, apikey, device_id, kind)
);
