"""0017: monthly rollups of the history (issue 21, ``cityhub.store.sqlite.days``): per series
and UTC calendar month (``year * 12 + month - 1``), what the daily rollups keep per day, so an
aggregation by whole months over a year reads 12 rows per series, not 365. Filled here from the
days; kept by every write from now on. Run again (a database adopted again, its migrations
table lost), it counts the months again."""

from __future__ import annotations

import sqlite3

from cityhub.store.sqlite.days import month_of


def apply(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS history_months")
    conn.execute(
        "CREATE TABLE history_months (series INTEGER NOT NULL, month INTEGER NOT NULL,"
        " n INTEGER NOT NULL, n_numbers INTEGER NOT NULL, n_other INTEGER NOT NULL, low REAL,"
        " high REAL, PRIMARY KEY (series, month)) WITHOUT ROWID"
    )
    conn.create_function("cityhub_month_of", 1, month_of, deterministic=True)
    conn.execute(
        "INSERT INTO history_months (series, month, n, n_numbers, n_other, low, high)"
        " SELECT series, cityhub_month_of(day) AS m, sum(n), sum(n_numbers), sum(n_other),"
        " min(low), max(high) FROM history_days GROUP BY series, m"
    )
