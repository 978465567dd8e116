"""0016: the history's times as integers (issue 21, docs/performance.md): ``history_instances``'
``at``, ``modified`` and ``deleted`` become integer microseconds since 1970-01-01T00:00:00Z (8
bytes where the text took 27), ``created`` the recording time minus ``at`` (NULL when 0, as
before when it was ``at``); ``history_days.day`` the day's number since 1970-01-01
(``cityhub.store.sqlite.series``: ``micros``, ``text_of``, ``day_of``). The view
``attribute_instances`` shows the same columns, its times in microseconds too; the SQLite
dialect binds and reads them so (``cityhub.store.sqlite.temporal``).

Every row is rewritten with the same key order (a time's text sorted as its microseconds do),
ids, JSON and numbers; the daily rollups are counted again from the rows. Run again on a
database already moved (one that lost its migrations table and was adopted again, when 0014
and 0015 ran again over the rows), it moves nothing and counts the days again.
"""

from __future__ import annotations

import sqlite3

from cityhub.store.sqlite.series import micros, sql_day

#: the view as 0016 left it (0019 makes it again, with the recording times of batches)
VIEW = (
    "CREATE VIEW attribute_instances AS SELECT r.seq AS seq, s.tenant AS tenant,"
    " s.entity_id AS entity_id, s.attr AS attr, s.dataset_id AS dataset_id,"
    " coalesce(r.instance_id, 'urn:ngsi-ld:Instance:' || r.seq) AS instance_id,"
    " CASE WHEN r.form IS NOT NULL THEN r.at END AS observed_at,"
    " r.at + coalesce(r.created, 0) AS created_at,"
    " coalesce(r.modified, r.at + coalesce(r.created, 0)) AS modified_at,"
    " r.deleted AS deleted_at, r.body AS instance, r.num AS value_number, r.series AS series,"
    " r.at AS at, r.form AS form FROM history_series s JOIN history_instances r"
    " ON r.series = s.id"
)


def _micros(text: str | None) -> int | None:
    return None if text is None else micros(text)


def apply(conn: sqlite3.Connection) -> None:
    columns = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(history_instances)")}
    conn.execute("DROP VIEW IF EXISTS attribute_instances")
    if columns["at"].upper() != "INTEGER":
        conn.create_function("cityhub_micros", 1, _micros, deterministic=True)
        conn.execute(
            "CREATE TABLE history_instances_int (series INTEGER NOT NULL, at INTEGER NOT NULL,"
            " seq INTEGER NOT NULL, form INTEGER, created INTEGER, modified INTEGER,"
            " deleted INTEGER, instance_id TEXT, body TEXT, num REAL,"
            " PRIMARY KEY (series, at, seq)) WITHOUT ROWID"
        )
        # created was kept only when it was not `at`; modified only when not created
        conn.execute(
            "INSERT INTO history_instances_int (series, at, seq, form, created, modified,"
            " deleted, instance_id, body, num)"
            " SELECT series, a, seq, form, nullif(cityhub_micros(created) - a, 0),"
            " cityhub_micros(modified), cityhub_micros(deleted), instance_id, body, num"
            " FROM (SELECT *, cityhub_micros(at) AS a FROM history_instances)"
            " ORDER BY series, a, seq"
        )
        conn.execute("DROP TABLE history_instances")
        conn.execute("ALTER TABLE history_instances_int RENAME TO history_instances")
    conn.execute(VIEW)
    conn.execute("DROP TABLE IF EXISTS history_days")
    conn.execute(
        "CREATE TABLE history_days (series INTEGER NOT NULL, day INTEGER NOT NULL,"
        " n INTEGER NOT NULL, n_numbers INTEGER NOT NULL, n_other INTEGER NOT NULL, low REAL,"
        " high REAL, PRIMARY KEY (series, day)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO history_days (series, day, n, n_numbers, n_other, low, high)"
        f" SELECT series, {sql_day('at')} AS d, count(*), count(num),"
        " count(CASE WHEN num IS NULL AND deleted IS NULL THEN 1 END), min(num), max(num)"
        " FROM history_instances WHERE form IS NOT NULL GROUP BY series, d"
    )
