-- cityhub PostgreSQL schema 13: the history in series (issue 21), as SQLite's migration 0014.
--
-- history_series: one row per (tenant, entity, attribute, datasetId) ever recorded (rows are
-- never deleted, so a series id found once stays valid). history_instances: one row per
-- attribute instance, keyed and clustered by (series, at, seq): a window of one attribute is
-- one range of the primary key. `at` is the instance's observedAt when it has one (`form` is
-- then not NULL), else the time it was recorded: the time of the default view and the age
-- retention reads. `created` is kept only when it is not `at`, `modified` only when it is not
-- created. `num` is the number the value aggregates as; `body` the instance's JSON, NULL for a
-- plain numeric Property with observedAt, which num, form and at rebuild
-- (cityhub.store.compact). `instance_id` only for the instances recorded before this
-- migration (their UUIDs); the others' is urn:ngsi-ld:Instance:<seq>. Columns are ordered
-- fixed-width first so that a compact row pads nothing.
--
-- The view attribute_instances keeps the columns of the table it replaces, so the temporal
-- SQL written once (cityhub.store.temporal_sql) still reads it; writes go to the tables.
CREATE TABLE history_series (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL,
  entity_id text NOT NULL,
  attr text NOT NULL,
  dataset_id text NOT NULL,
  UNIQUE (tenant, entity_id, attr, dataset_id)
);

CREATE SEQUENCE history_seq;

CREATE TABLE history_instances (
  at timestamptz NOT NULL,
  seq bigint NOT NULL DEFAULT nextval('history_seq'),
  num double precision,
  series integer NOT NULL,
  form smallint,
  created timestamptz,
  modified timestamptz,
  deleted timestamptz,
  instance_id text,
  body jsonb,
  PRIMARY KEY (series, at, seq)
);
ALTER SEQUENCE history_seq OWNED BY history_instances.seq;

INSERT INTO history_series (tenant, entity_id, attr, dataset_id)
  SELECT DISTINCT tenant, entity_id, attr, dataset_id FROM attribute_instances
  ORDER BY tenant, entity_id, attr, dataset_id;

-- the rows as they are: ids, times, JSON and numbers (the answers stay those of the release)
INSERT INTO history_instances (at, seq, num, series, form, created, modified, deleted,
                               instance_id, body)
  SELECT coalesce(a.observed_at, a.created_at), a.seq, a.value_number, s.id,
         CASE WHEN a.observed_at IS NOT NULL THEN 0 END,
         CASE WHEN a.observed_at IS NOT NULL THEN a.created_at END,
         CASE WHEN a.modified_at <> a.created_at THEN a.modified_at END,
         a.deleted_at, a.instance_id, a.instance
  FROM attribute_instances a JOIN history_series s ON s.tenant = a.tenant
    AND s.entity_id = a.entity_id AND s.attr = a.attr AND s.dataset_id = a.dataset_id
  ORDER BY s.id, 1, a.seq;

SELECT setval('history_seq', greatest((SELECT max(seq) FROM attribute_instances), 1),
              (SELECT max(seq) FROM attribute_instances) IS NOT NULL);

DROP TABLE attribute_instances;

CREATE VIEW attribute_instances AS
  SELECT s.tenant, s.entity_id, s.attr, s.dataset_id, r.series,
         coalesce(r.instance_id, 'urn:ngsi-ld:Instance:' || r.seq) AS instance_id,
         CASE WHEN r.form IS NOT NULL THEN r.at END AS observed_at,
         coalesce(r.created, r.at) AS created_at,
         coalesce(r.modified, r.created, r.at) AS modified_at,
         r.deleted AS deleted_at, r.body AS instance, r.num AS value_number, r.form, r.at, r.seq
  FROM history_series s JOIN history_instances r ON r.series = s.id;
