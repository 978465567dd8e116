-- cityhub PostgreSQL schema 3: temporal history (ETSI GS CIM 009 clauses 5.6.11-5.6.16,
-- 5.7.3-5.7.4), the same three tables as on SQLite (cityhub.store.sqlite.history).
--
-- Time indexes. A temporal query reads one entity's attribute over a window, so its access path
-- is a B-tree on (tenant, entity_id, attr, time): it returns rows already in time order. Scans
-- over the whole table by time (retention pruning, an operator's "what arrived since") use BRIN
-- indexes on created_at (recording time) and observed_at: the table is append-only, so the
-- recording time grows with the physical order and a BRIN index of a few pages per GB prunes
-- all but the block ranges in the window (observed times arrive nearly in order too). Declarative
-- partitioning by time was not chosen: it needs a job creating partitions ahead of time, and a
-- unique instanceId per tenant cannot be enforced across partitions without the partition key.
CREATE TABLE temporal_entities (
  tenant text NOT NULL,
  id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,  -- first recording order, the last orderBy key
  types jsonb NOT NULL,
  scopes jsonb,
  created_at text NOT NULL,
  modified_at text NOT NULL,
  deleted_at text,
  attrs jsonb NOT NULL,                     -- the latest instances, for q/scopeQ/orderBy
  PRIMARY KEY (tenant, id)
);
CREATE INDEX temporal_entities_by_seq ON temporal_entities (tenant, seq);

CREATE TABLE temporal_types (
  tenant text NOT NULL,
  type text NOT NULL,
  id text NOT NULL,
  PRIMARY KEY (tenant, type, id)
);
CREATE INDEX temporal_types_by_id ON temporal_types (tenant, id);

CREATE TABLE attribute_instances (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL,
  entity_id text NOT NULL,
  attr text NOT NULL,
  dataset_id text NOT NULL DEFAULT '',
  instance_id text NOT NULL,
  observed_at timestamptz,
  created_at timestamptz NOT NULL,
  modified_at timestamptz NOT NULL,
  deleted_at timestamptz,
  instance jsonb NOT NULL,
  value_number double precision             -- the numeric value (booleans 1/0) for aggregation
);
CREATE UNIQUE INDEX attribute_instances_id ON attribute_instances (tenant, instance_id);
CREATE INDEX attribute_instances_observed
  ON attribute_instances (tenant, entity_id, attr, observed_at);
CREATE INDEX attribute_instances_created
  ON attribute_instances (tenant, entity_id, attr, created_at);
CREATE INDEX attribute_instances_created_brin ON attribute_instances USING brin (created_at);
CREATE INDEX attribute_instances_observed_brin ON attribute_instances USING brin (observed_at);

-- the index of the period of t on a grid from o whose step mixes months and an exact part
-- (P1M15D): start from a mean-month guess and step to the exact k, as Duration.add_to counts
-- (months first, the day clamped to the month's end, then the exact part)
CREATE FUNCTION cityhub_period_index(t timestamp, o timestamp, months integer, exact_us bigint)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  k bigint;
BEGIN
  k := greatest(0, floor(extract(epoch FROM t - o) * 1000000
                         / (months * 2629746000000::numeric + exact_us)))::bigint;
  WHILE k > 0 AND o + (k * months) * interval '1 month' + (k * exact_us) * interval '1 microsecond' > t LOOP
    k := k - 1;
  END LOOP;
  WHILE o + ((k + 1) * months) * interval '1 month'
          + ((k + 1) * exact_us) * interval '1 microsecond' <= t LOOP
    k := k + 1;
  END LOOP;
  RETURN k;
END
$$;
