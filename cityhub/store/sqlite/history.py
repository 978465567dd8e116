"""Temporal history in SQLite, the write path: an append-only table of attribute instances,
written in the same transaction as the change it records (DESIGN.md decisions 2 and 4).

Three tables (migration 0007's):

* ``attribute_instances``: one row per attribute instance ever recorded, with its
  ``instanceId`` (a URN made here), ``observedAt`` normalized to UTC so time windows compare as
  text, the times it was recorded (``created_at``), patched (``modified_at``) and, for the
  records of a deletion, ``deleted_at``, and ``value_number``: the value when it is a JSON
  number (booleans as 1/0, clause 4.5.19.1), so aggregation reads a column instead of parsing
  JSON. Indexed on (tenant, entity, attribute, observedAt), so a time-window query reads only
  what it returns, and on (tenant, instanceId). Instance ids grow with time (UUID version 7
  layout), so that index is appended to rather than written at random pages.
* ``temporal_entities``: one row per entity with a history, shaped like ``entities`` (types,
  scopes, system times and an ``attrs`` document of the latest instances), plus ``deleted_at``.
  Temporal queries select entities here, with the same compiled ``q``/``scopeQ``/``orderBy``
  SQL as the current state, so an entity deleted from the current state stays queryable.
* ``temporal_types``: (tenant, type, id), the index of type selection.

Which instances a change records is ``cityhub.store.history``'s rule; :class:`SqliteHistoryRows`
is the SQL of the rows it writes, offered by ``SqliteTransaction``. The temporal API's own
writes use :func:`upsert_instance` and :func:`write_head`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import normalize_time
from cityhub.store.history import InstanceRow, instance_row
from cityhub.store.instances import observed_time, strip_system, value_number


def add_missing_heads(conn: sqlite3.Connection) -> None:
    """A ``temporal_entities`` row for every entity of the current state that has none (those
    created while history was off), so that recording an update never has to check."""
    conn.execute(
        "INSERT OR IGNORE INTO temporal_entities (tenant, id, types, scopes, created_at,"
        " modified_at, deleted_at, attrs) SELECT tenant, id, types, scopes, created_at,"
        " modified_at, NULL, '{}' FROM entities"
    )
    conn.execute(
        "INSERT OR IGNORE INTO temporal_types (tenant, type, id)"
        " SELECT tenant, type, id FROM entity_types"
    )


_INSERT = (
    "INSERT INTO attribute_instances (tenant, entity_id, attr, dataset_id, instance_id, "
    "observed_at, created_at, modified_at, deleted_at, instance, value_number) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def upsert_instance(
    conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
) -> None:
    """Add an instance; one with the same attribute, datasetId and observedAt is replaced
    (clause 5.6.11: posting an instance again does not duplicate it)."""
    observed = inst.get("observedAt")
    if observed:
        row = conn.execute(
            "SELECT seq FROM attribute_instances WHERE tenant = ? AND entity_id = ? AND attr = ?"
            " AND observed_at = ? AND dataset_id = ? AND deleted_at IS NULL",
            (
                tenant,
                entity_id,
                attr,
                normalize_time(observed, "observedAt"),
                inst.get("datasetId") or "",
            ),
        ).fetchone()
        if row is not None:
            body = strip_system(inst)
            conn.execute(
                "UPDATE attribute_instances SET instance = ?, modified_at = ?, value_number = ?"
                " WHERE seq = ?",
                (orjson.dumps(body).decode(), now, value_number(body), row[0]),
            )
            return
    conn.execute(_INSERT, instance_row(tenant, entity_id, attr, inst, now))


def upsert_instances(
    conn: sqlite3.Connection,
    tenant: str,
    entity_id: str,
    attr: str,
    instances: Sequence[Instance],
    now: str,
) -> None:
    """:func:`upsert_instance` of each of ``instances`` in turn, with the same outcome (the
    same rows, instance ids aside, which are new either way), in three statements instead of
    two per instance: the instances already recorded at the observedAt times of the batch are
    read in one index range, the new rows are inserted by one ``executemany`` and the replaced
    ones updated by another. An instance whose observedAt and datasetId an earlier one of the
    same batch had replaces that one, as it would have one by one."""
    keys: list[tuple[str, str] | None] = []
    for inst in instances:
        observed = inst.get("observedAt")
        keys.append((observed_time(observed), inst.get("datasetId") or "") if observed else None)
    recorded: dict[tuple[str, str], int] = {}  # (observedAt, datasetId) -> seq, the first one
    times = [k[0] for k in keys if k is not None]
    if times:
        for seq, observed_at, dataset_id in conn.execute(
            "SELECT seq, observed_at, dataset_id FROM attribute_instances INDEXED BY"
            " attribute_instances_observed WHERE tenant = ? AND entity_id = ? AND attr = ?"
            " AND observed_at >= ? AND observed_at <= ? AND deleted_at IS NULL"
            " ORDER BY observed_at, seq",
            (tenant, entity_id, attr, min(times), max(times)),
        ):
            recorded.setdefault((observed_at, dataset_id), seq)
    new_rows: list[InstanceRow] = []
    new_by_key: dict[tuple[str, str], int] = {}  # a new row not deleted: its index
    updates: list[tuple[str, str, float | None, int]] = []
    for inst, key in zip(instances, keys, strict=True):
        if key is not None and key in recorded:
            body = strip_system(inst)
            updates.append((orjson.dumps(body).decode(), now, value_number(body), recorded[key]))
        elif key is not None and key in new_by_key:
            body = strip_system(inst)
            i = new_by_key[key]
            row = new_rows[i]
            new_rows[i] = (*row[:7], now, row[8], orjson.dumps(body).decode(), value_number(body))
        else:
            row = instance_row(tenant, entity_id, attr, inst, now, key[0] if key else None)
            if key is not None and row[8] is None:
                new_by_key[key] = len(new_rows)
            new_rows.append(row)
    if new_rows:
        conn.executemany(_INSERT, new_rows)
    if updates:
        conn.executemany(
            "UPDATE attribute_instances SET instance = ?, modified_at = ?, value_number = ?"
            " WHERE seq = ?",
            updates,
        )


def write_head(
    conn: sqlite3.Connection,
    tenant: str,
    entity: Entity,
    attrs: Mapping[str, Any],
    created_at: str,
    now: str,
    *,
    types_changed: bool = True,
) -> None:
    """Create or replace the ``temporal_entities`` row of an entity (and its type index)."""
    conn.execute(
        "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at, "
        "deleted_at, attrs) VALUES (?, ?, ?, ?, ?, ?, NULL, ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET types = excluded.types, scopes = "
        "excluded.scopes, modified_at = excluded.modified_at, deleted_at = NULL, "
        "attrs = excluded.attrs",
        (
            tenant,
            entity["id"],
            orjson.dumps(entity["type"]).decode(),
            orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None,
            created_at,
            now,
            orjson.dumps(attrs).decode(),
        ),
    )
    if not types_changed:
        return
    conn.execute("DELETE FROM temporal_types WHERE tenant = ? AND id = ?", (tenant, entity["id"]))
    conn.executemany(
        "INSERT INTO temporal_types (tenant, type, id) VALUES (?, ?, ?)",
        [(tenant, t, entity["id"]) for t in entity["type"]],
    )


class SqliteHistoryRows:
    """The history rows of a write transaction (``Transaction``'s history methods, the rules
    in ``cityhub.store.history``); ``SqliteTransaction`` is one."""

    conn: sqlite3.Connection
    tenant: str
    #: False inside ``cityhub.store.history.recording_off``
    recording_history = True

    def add_history_instances(self, rows: Sequence[InstanceRow]) -> None:
        self.conn.executemany(_INSERT, rows)

    def write_history_head(
        self, entity: Entity, attrs: Mapping[str, Any], created_at: str, now: str
    ) -> None:
        write_head(self.conn, self.tenant, entity, attrs, created_at, now)

    def keep_history_head(self, entity: Entity, now: str) -> None:
        """Nothing to do: every entity has its head row (created with the entity, or by
        :func:`add_missing_heads` at start-up for those created while history was off)."""

    def close_history_head(self, before: Entity, now: str) -> None:
        self.conn.execute(
            "UPDATE temporal_entities SET deleted_at = ?, modified_at = ?, types = ?, scopes = ?,"
            " attrs = ? WHERE tenant = ? AND id = ?",
            (
                now,
                now,
                orjson.dumps(before["type"]).decode(),
                orjson.dumps(before["scope"]).decode() if before.get("scope") else None,
                orjson.dumps(before["attrs"]).decode(),
                self.tenant,
                before["id"],
            ),
        )


__all__ = [
    "SqliteHistoryRows",
    "add_missing_heads",
    "upsert_instance",
    "upsert_instances",
    "write_head",
]
