-- Daily rollups of the history (cityhub.store.sqlite.days, issue 21): per series and UTC day,
-- over the instances with an observedAt: how many, how many numbers, how many other values
-- (not numbers, not records of a deletion), the least and greatest number. Filled here from
-- the rows 0014 left; kept by every write of history_instances from now on.
CREATE TABLE IF NOT EXISTS history_days (
  series INTEGER NOT NULL,
  day TEXT NOT NULL,
  n INTEGER NOT NULL,
  n_numbers INTEGER NOT NULL,
  n_other INTEGER NOT NULL,
  low REAL,
  high REAL,
  PRIMARY KEY (series, day)
) WITHOUT ROWID;
INSERT OR REPLACE INTO history_days (series, day, n, n_numbers, n_other, low, high)
  SELECT series, substr(at, 1, 10), count(*), count(num),
    count(CASE WHEN num IS NULL AND deleted IS NULL THEN 1 END), min(num), max(num)
  FROM history_instances WHERE form IS NOT NULL GROUP BY series, substr(at, 1, 10);
