-- The IoT agent's provisioning version (issue 18): bumped, in the same transaction, by every
-- change of a config group and by every update or deletion of a device (a new device changes
-- nothing a worker holds: unknown devices are not cached). Each worker caches groups and
-- devices until it reads another version, so a change made through one worker is seen by the
-- others without each of them reading every device again.
CREATE TABLE iot_version (
  one integer PRIMARY KEY CHECK (one = 1),
  version bigint NOT NULL
);
INSERT INTO iot_version (one, version) VALUES (1, 0);
