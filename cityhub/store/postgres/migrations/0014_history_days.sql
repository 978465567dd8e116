-- cityhub PostgreSQL schema 14: daily rollups of the history (issue 21), as SQLite's 0015.
--
-- history_days: per series and UTC day, over its instances with an observedAt (form not
-- NULL), how many there are, how many are numbers, how many carry a value that is neither a
-- number nor a record of a deletion, and the least and greatest number. Statement triggers
-- keep them in the transaction of every write of history_instances, whoever writes (appends,
-- the entity API's records, edits by id, deletions, retention): inserted rows add to their
-- days; the days of updated or deleted rows are counted again from the rows.
-- cityhub.store.postgres.days reads them for aggregations they answer exactly.
CREATE TABLE history_days (
  series integer NOT NULL,
  day date NOT NULL,
  n integer NOT NULL,
  n_numbers integer NOT NULL,
  n_other integer NOT NULL,
  low double precision,
  high double precision,
  PRIMARY KEY (series, day)
);

INSERT INTO history_days (series, day, n, n_numbers, n_other, low, high)
  SELECT series, (at AT TIME ZONE 'UTC')::date, count(*), count(num),
         count(*) FILTER (WHERE num IS NULL AND deleted IS NULL), min(num), max(num)
  FROM history_instances WHERE form IS NOT NULL GROUP BY 1, 2;

CREATE FUNCTION cityhub_history_days_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO history_days AS d (series, day, n, n_numbers, n_other, low, high)
    SELECT series, (at AT TIME ZONE 'UTC')::date, count(*), count(num),
           count(*) FILTER (WHERE num IS NULL AND deleted IS NULL), min(num), max(num)
    FROM added WHERE form IS NOT NULL GROUP BY 1, 2
  ON CONFLICT (series, day) DO UPDATE SET n = d.n + excluded.n,
    n_numbers = d.n_numbers + excluded.n_numbers, n_other = d.n_other + excluded.n_other,
    low = least(d.low, excluded.low), high = greatest(d.high, excluded.high);
  RETURN NULL;
END
$$;

-- the days in touched(series, day) counted again from their rows
CREATE FUNCTION cityhub_history_days_recount(touched_series integer[], touched_days date[])
RETURNS void LANGUAGE sql AS $$
  WITH touched AS (SELECT DISTINCT s, d FROM unnest(touched_series, touched_days) AS t(s, d)),
  counted AS (
    SELECT t.s, t.d, count(r.seq) AS n, count(r.num) AS n_numbers,
           count(r.seq) FILTER (WHERE r.num IS NULL AND r.deleted IS NULL) AS n_other,
           min(r.num) AS low, max(r.num) AS high
    FROM touched t LEFT JOIN history_instances r ON r.series = t.s
      AND r.at >= (t.d::timestamp AT TIME ZONE 'UTC')
      AND r.at < ((t.d + 1)::timestamp AT TIME ZONE 'UTC') AND r.form IS NOT NULL
    GROUP BY t.s, t.d),
  emptied AS (
    DELETE FROM history_days h USING counted c WHERE h.series = c.s AND h.day = c.d
      AND c.n = 0)
  INSERT INTO history_days AS h (series, day, n, n_numbers, n_other, low, high)
    SELECT s, d, n, n_numbers, n_other, low, high FROM counted WHERE n > 0
  ON CONFLICT (series, day) DO UPDATE SET n = excluded.n, n_numbers = excluded.n_numbers,
    n_other = excluded.n_other, low = excluded.low, high = excluded.high;
$$;

CREATE FUNCTION cityhub_history_days_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cityhub_history_days_recount(array_agg(series), array_agg((at AT TIME ZONE 'UTC')::date))
    FROM gone WHERE form IS NOT NULL HAVING count(*) > 0;
  RETURN NULL;
END
$$;

CREATE FUNCTION cityhub_history_days_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cityhub_history_days_recount(array_agg(series), array_agg((at AT TIME ZONE 'UTC')::date))
    FROM (SELECT series, at FROM gone WHERE form IS NOT NULL
          UNION ALL SELECT series, at FROM added WHERE form IS NOT NULL) x
    HAVING count(*) > 0;
  RETURN NULL;
END
$$;

CREATE TRIGGER history_days_add AFTER INSERT ON history_instances
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION cityhub_history_days_add();
CREATE TRIGGER history_days_gone AFTER DELETE ON history_instances
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cityhub_history_days_gone();
CREATE TRIGGER history_days_changed AFTER UPDATE ON history_instances
  REFERENCING OLD TABLE AS gone NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION cityhub_history_days_changed();
