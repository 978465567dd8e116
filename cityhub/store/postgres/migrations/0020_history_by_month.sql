-- cityhub PostgreSQL schema 20: the history partitioned by month (issue 21), with PostgreSQL's
-- declarative partitioning.
--
-- history_instances is partitioned by range of `at` (the observedAt, else the recording time:
-- the time retention ages an instance by) and history_days by range of `day`, one partition of
-- each per calendar month (UTC): history_instances_y2026m12 holds [2026-12-01, 2027-01-01).
-- Retention then drops a month whole (cityhub.store.postgres.retention) instead of deleting its
-- rows one by one, and a read along a window of time only opens the months it overlaps. The
-- keys lead with the series as before, so one series' window is still one range of each
-- month's primary key.
--
-- cityhub_history_month(day) creates the two partitions of the month of `day` unless they
-- exist (true when it created them). The hub calls it, on a connection of its own, before it
-- writes rows into a month it has not seen (cityhub.store.postgres.partitions), and at start-up
-- for this month and the next. A partition is created as a table and then ATTACHed: ATTACH takes
-- SHARE UPDATE EXCLUSIVE on the parent, which reads and writes do not wait for (CREATE TABLE
-- ... PARTITION OF would take ACCESS EXCLUSIVE). Months before 2000 or from 2100 on (an
-- observedAt far off) are not made one by one: the catch-all partitions
-- history_instances_early / _late (and history_days_early / _late) hold them, so a client
-- cannot make thousands of partitions.
--
-- The rows move in one pass in key order; the rollups move as they are (the triggers are
-- created after the copy, so nothing is counted twice). The view over the history keeps its
-- columns.
DROP VIEW attribute_instances;
ALTER TABLE history_instances RENAME TO history_instances_unpartitioned;
ALTER INDEX history_instances_pkey RENAME TO history_instances_unpartitioned_pkey;
ALTER TABLE history_days RENAME TO history_days_unpartitioned;
ALTER INDEX history_days_pkey RENAME TO history_days_unpartitioned_pkey;
ALTER SEQUENCE history_seq OWNED BY NONE;

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
) PARTITION BY RANGE (at);
ALTER SEQUENCE history_seq OWNED BY history_instances.seq;

CREATE TABLE history_days (
  series integer NOT NULL,
  day date NOT NULL,
  n integer NOT NULL,
  n_numbers integer NOT NULL,
  n_other integer NOT NULL,
  low double precision,
  high double precision,
  PRIMARY KEY (series, day)
) PARTITION BY RANGE (day);

CREATE TABLE history_instances_early PARTITION OF history_instances
  FOR VALUES FROM (MINVALUE) TO ('2000-01-01 00:00:00+00');
CREATE TABLE history_instances_late PARTITION OF history_instances
  FOR VALUES FROM ('2100-01-01 00:00:00+00') TO (MAXVALUE);
CREATE TABLE history_days_early PARTITION OF history_days
  FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
CREATE TABLE history_days_late PARTITION OF history_days
  FOR VALUES FROM ('2100-01-01') TO (MAXVALUE);

CREATE FUNCTION cityhub_history_month(m date) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  first date := date_trunc('month', m)::date;
  next date := (date_trunc('month', m) + interval '1 month')::date;
  suffix text := to_char(date_trunc('month', m), '"y"YYYY"m"MM');
BEGIN
  IF first < DATE '2000-01-01' OR first >= DATE '2100-01-01' THEN
    RETURN false;  -- history_instances_early / _late
  END IF;
  -- "hist" in ASCII, and the schema: two hubs creating the same month take turns
  PERFORM pg_advisory_xact_lock(1751741300, hashtext(current_schema()));
  IF to_regclass(format('%I.%I', current_schema(), 'history_instances_' || suffix)) IS NOT NULL
  THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE history_instances INCLUDING DEFAULTS)',
                 'history_instances_' || suffix);
  EXECUTE format('ALTER TABLE history_instances ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                 'history_instances_' || suffix, first::timestamp AT TIME ZONE 'UTC',
                 next::timestamp AT TIME ZONE 'UTC');
  EXECUTE format('CREATE TABLE %I (LIKE history_days INCLUDING DEFAULTS)', 'history_days_' || suffix);
  EXECUTE format('ALTER TABLE history_days ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                 'history_days_' || suffix, first, next);
  RETURN true;
END
$$;

SELECT cityhub_history_month(m) FROM (
  SELECT DISTINCT (date_trunc('month', at AT TIME ZONE 'UTC'))::date AS m
  FROM history_instances_unpartitioned
  UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC'))::date
  UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date
) months ORDER BY m;

INSERT INTO history_instances (at, seq, num, series, form, created, modified, deleted,
                               instance_id, body)
  SELECT at, seq, num, series, form, created, modified, deleted, instance_id, body
  FROM history_instances_unpartitioned ORDER BY series, at, seq;
INSERT INTO history_days (series, day, n, n_numbers, n_other, low, high)
  SELECT series, day, n, n_numbers, n_other, low, high
  FROM history_days_unpartitioned ORDER BY series, day;
DROP TABLE history_instances_unpartitioned;  -- and its triggers
DROP TABLE history_days_unpartitioned;

CREATE TRIGGER history_days_add AFTER INSERT ON history_instances
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION cityhub_history_days_add();
CREATE TRIGGER history_days_gone AFTER DELETE ON history_instances
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cityhub_history_days_gone();
CREATE TRIGGER history_days_changed AFTER UPDATE ON history_instances
  REFERENCING OLD TABLE AS gone NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION cityhub_history_days_changed();

CREATE VIEW attribute_instances AS
  SELECT s.tenant, s.entity_id, s.attr, s.dataset_id, r.series,
         coalesce(r.instance_id, 'urn:ngsi-ld:Instance:' || r.seq) AS instance_id,
         CASE WHEN r.form IS NOT NULL THEN r.at END AS observed_at,
         coalesce(r.created, r.at) AS created_at,
         coalesce(r.modified, r.created, r.at) AS modified_at,
         r.deleted AS deleted_at, r.body AS instance, r.num AS value_number, r.form, r.at, r.seq
  FROM history_series s JOIN history_instances r ON r.series = s.id;

ANALYZE history_instances;
ANALYZE history_days;
