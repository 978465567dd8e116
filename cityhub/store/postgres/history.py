"""Temporal history in PostgreSQL, the write path (schema: ``migrations/0003_history.sql``).

The same records as on SQLite: an append-only ``attribute_instances`` table, a
``temporal_entities`` head per entity and ``temporal_types``. Which instances a change records
is ``cityhub.store.history``'s rule; :class:`PostgresHistoryRows` is the SQL of the rows it
writes, offered by ``PostgresTransaction``, so history commits or rolls back with the change.
The temporal API's own writes use :func:`upsert_instance` and :func:`write_head`.

Times are ``timestamptz`` columns, bound as the hub's normalized text (``$n::text::timestamptz``:
asyncpg would otherwise want ``datetime`` objects) and read back as datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import normalize_time
from cityhub.store.history import InstanceRow, instance_row
from cityhub.store.instances import strip_system, value_number
from cityhub.store.postgres.bridge import SyncConnection

_INSERT = (
    "INSERT INTO attribute_instances (tenant, entity_id, attr, dataset_id, instance_id, "
    "observed_at, created_at, modified_at, deleted_at, instance, value_number) VALUES "
    "($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::timestamptz, $8::text::timestamptz,"
    " $9::text::timestamptz, $10::jsonb, $11)"
)
_INSERT_TYPES = (
    "INSERT INTO temporal_types (tenant, type, id) SELECT $1, t, $2 FROM unnest($3::text[]) t"
    " ON CONFLICT DO NOTHING"
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def upsert_instance(
    conn: SyncConnection, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
) -> None:
    """Add an instance; one with the same attribute, datasetId and observedAt is replaced
    (clause 5.6.11: posting an instance again does not duplicate it)."""
    observed = inst.get("observedAt")
    if observed:
        body = strip_system(inst)
        status = conn.execute(
            "UPDATE attribute_instances SET instance = $1::jsonb, modified_at ="
            " $2::text::timestamptz, value_number = $3 WHERE seq = (SELECT seq FROM"
            " attribute_instances WHERE tenant = $4 AND entity_id = $5 AND attr = $6 AND"
            " observed_at = $7::text::timestamptz AND dataset_id = $8 AND deleted_at IS NULL"
            " ORDER BY seq LIMIT 1)",
            _json(body),
            now,
            value_number(body),
            tenant,
            entity_id,
            attr,
            normalize_time(observed, "observedAt"),
            inst.get("datasetId") or "",
        )
        if status.endswith(" 1"):
            return
    conn.execute(_INSERT, *instance_row(tenant, entity_id, attr, inst, now))


def write_head(
    conn: SyncConnection,
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
        "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at,"
        " deleted_at, attrs) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, NULL, $7::jsonb)"
        " ON CONFLICT (tenant, id) DO UPDATE SET types = EXCLUDED.types, scopes ="
        " EXCLUDED.scopes, modified_at = EXCLUDED.modified_at, deleted_at = NULL,"
        " attrs = EXCLUDED.attrs",
        tenant,
        entity["id"],
        _json(entity["type"]),
        _json(entity["scope"]) if entity.get("scope") else None,
        created_at,
        now,
        _json(attrs),
    )
    if not types_changed:
        return
    conn.execute("DELETE FROM temporal_types WHERE tenant = $1 AND id = $2", tenant, entity["id"])
    conn.execute(_INSERT_TYPES, tenant, entity["id"], list(entity["type"]))


class PostgresHistoryRows:
    """The history rows of a write transaction (``Transaction``'s history methods, the rules
    in ``cityhub.store.history``); ``PostgresTransaction`` is one."""

    conn: SyncConnection
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
        """Add the head row unless it exists: an entity created while history was off (by
        another worker, perhaps) has none."""
        added = self.conn.execute(
            "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at,"
            " deleted_at, attrs) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, NULL, '{}')"
            " ON CONFLICT DO NOTHING",
            self.tenant,
            entity["id"],
            _json(entity["type"]),
            _json(entity["scope"]) if entity.get("scope") else None,
            entity.get("createdAt") or now,
            now,
        )
        if added.endswith(" 1"):
            self.conn.execute(_INSERT_TYPES, self.tenant, entity["id"], list(entity["type"]))

    def close_history_head(self, before: Entity, now: str) -> None:
        self.conn.execute(
            "UPDATE temporal_entities SET deleted_at = $1, modified_at = $1, types = $2::jsonb,"
            " scopes = $3::jsonb, attrs = $4::jsonb WHERE tenant = $5 AND id = $6",
            now,
            _json(before["type"]),
            _json(before["scope"]) if before.get("scope") else None,
            _json(before["attrs"]),
            self.tenant,
            before["id"],
        )


__all__ = ["PostgresHistoryRows", "upsert_instance", "write_head"]
