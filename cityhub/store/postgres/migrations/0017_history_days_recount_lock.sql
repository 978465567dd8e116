-- cityhub PostgreSQL schema 17: a rollup recount locks its days before it counts (issue 21).
--
-- 0014's recount counted a day in its own snapshot: a transaction adding to the same series
-- and day at that moment (its trigger holds the day row's lock until it commits) was not seen,
-- and the recount's ON CONFLICT ... DO UPDATE then wrote a count without it. Now the recount
-- first locks the touched days' rows (FOR UPDATE: it waits for such a writer to commit), then
-- counts in a new statement, which in a VOLATILE SQL function reads a new snapshot and so sees
-- what that writer committed; a writer coming after the lock adds on top of the recount.
CREATE OR REPLACE FUNCTION cityhub_history_days_recount(touched_series integer[],
                                                        touched_days date[])
RETURNS void LANGUAGE sql VOLATILE AS $$
  SELECT count(*) FROM (
    SELECT 1 FROM history_days h
    JOIN (SELECT DISTINCT s, d FROM unnest(touched_series, touched_days) AS t(s, d)) t
      ON h.series = t.s AND h.day = t.d
    ORDER BY h.series, h.day FOR UPDATE OF h) locked;
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
