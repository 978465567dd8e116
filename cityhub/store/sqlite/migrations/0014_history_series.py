"""0014: the history in series (issue 21, docs/performance.md): ``attribute_instances``, one
wide row per instance with two indexes, becomes a table of series (tenant, entity, attribute,
datasetId -> id) and compact instance rows clustered on (series, time, seq) in a ``WITHOUT
ROWID`` table (``cityhub.store.sqlite.series``). ``attribute_instances`` stays as a view with
the old columns, so what reads it (the temporal SQL written once, operators' queries) reads
the same.

The rows of an existing database are moved as they are: their instance ids (UUIDs), times,
JSON and numbers kept, so the temporal API answers the same; only instances written from now
on are stored compactly.
"""

from __future__ import annotations

import sqlite3

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS history_series (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
    " entity_id TEXT NOT NULL, attr TEXT NOT NULL, dataset_id TEXT NOT NULL DEFAULT '')",
    "CREATE UNIQUE INDEX IF NOT EXISTS history_series_key"
    " ON history_series (tenant, entity_id, attr, dataset_id)",
    "CREATE TABLE IF NOT EXISTS history_instances (series INTEGER NOT NULL, at TEXT NOT NULL,"
    " seq INTEGER NOT NULL, form INTEGER, created TEXT, modified TEXT, deleted TEXT,"
    " instance_id TEXT, body TEXT, num REAL, PRIMARY KEY (series, at, seq)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS history_seq (next INTEGER NOT NULL)",
    "INSERT INTO history_seq (next) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM history_seq)",
)
VIEW = (
    "CREATE VIEW attribute_instances AS SELECT r.seq AS seq, s.tenant AS tenant,"
    " s.entity_id AS entity_id, s.attr AS attr, s.dataset_id AS dataset_id,"
    " coalesce(r.instance_id, 'urn:ngsi-ld:Instance:' || r.seq) AS instance_id,"
    " CASE WHEN r.form IS NOT NULL THEN r.at END AS observed_at,"
    " coalesce(r.created, r.at) AS created_at,"
    " coalesce(r.modified, r.created, r.at) AS modified_at, r.deleted AS deleted_at,"
    " r.body AS instance, r.num AS value_number, r.series AS series, r.at AS at,"
    " r.form AS form FROM history_series s JOIN history_instances r ON r.series = s.id"
)


def apply(conn: sqlite3.Connection) -> None:
    """Move the rows; again on a database already moved (one that lost its migrations table
    and was adopted again, ``cityhub.store.sqlite.legacy``), with nothing left to move."""
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO history_series (tenant, entity_id, attr, dataset_id)"
        " SELECT DISTINCT tenant, entity_id, attr, dataset_id FROM attribute_instances"
        " ORDER BY 1, 2, 3, 4"
    )
    # at: the observed time, else the recording time; created kept only when it is not `at`;
    # modified only when it is not created; form 0: observedAt present, the JSON kept
    conn.execute(
        "INSERT INTO history_instances (series, at, seq, form, created, modified, deleted,"
        " instance_id, body, num)"
        " SELECT s.id, coalesce(a.observed_at, a.created_at), a.seq,"
        " CASE WHEN a.observed_at IS NOT NULL THEN 0 END,"
        " CASE WHEN a.observed_at IS NOT NULL THEN a.created_at END,"
        " nullif(a.modified_at, a.created_at), a.deleted_at, a.instance_id, a.instance,"
        " a.value_number"
        " FROM attribute_instances a JOIN history_series s ON s.tenant = a.tenant"
        " AND s.entity_id = a.entity_id AND s.attr = a.attr AND s.dataset_id = a.dataset_id"
    )
    conn.execute(
        "UPDATE history_seq SET next = max(next,"
        " (SELECT coalesce(max(seq), 0) FROM attribute_instances))"
    )
    conn.execute("DROP TABLE attribute_instances")
    conn.execute(VIEW)
