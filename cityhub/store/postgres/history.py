"""Temporal history in PostgreSQL, the write path (schema: ``migrations/0003_history.sql``).

The same records as on SQLite (``cityhub.store.sqlite.history``, whose helpers for instance
bodies this module reuses): an append-only ``attribute_instances`` table, a ``temporal_entities``
head per entity and ``temporal_types``. :func:`record_change` is the transaction hook of
:class:`~cityhub.store.postgres.store.PostgresStore`, so history commits or rolls back with the
change; the temporal API's own writes use :func:`upsert_instance` and :func:`write_head`.

Times are ``timestamptz`` columns, bound as the hub's normalized text (``$n::text::timestamptz``:
asyncpg would otherwise want ``datetime`` objects) and read back as datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import normalize_time, null_instance
from cityhub.store.base import Change
from cityhub.store.instances import (
    by_dataset,
    new_instance_id,
    observed_time,
    strip_system,
    value_number,
)
from cityhub.store.postgres.bridge import SyncConnection

if TYPE_CHECKING:
    from cityhub.store.postgres.transaction import PostgresTransaction

_INSERT = (
    "INSERT INTO attribute_instances (tenant, entity_id, attr, dataset_id, instance_id, "
    "observed_at, created_at, modified_at, deleted_at, instance, value_number) VALUES "
    "($1, $2, $3, $4, $5, $6::text::timestamptz, $7::text::timestamptz, $8::text::timestamptz,"
    " $9::text::timestamptz, $10::jsonb, $11)"
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def recording_off(conn: SyncConnection) -> _Quiet:
    """Inside ``with recording_off(conn):`` :func:`record_change` records nothing on this
    transaction's connection (the temporal API writes the history of its own changes)."""
    return _Quiet(conn)


class _Quiet:
    def __init__(self, conn: SyncConnection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.quiet = True

    def __exit__(self, *exc: object) -> None:
        self.conn.quiet = False


def _row(tenant: str, entity_id: str, attr: str, inst: Instance, now: str) -> tuple[Any, ...]:
    body = strip_system(inst)
    deleted_at = body.pop("deletedAt", None)
    observed = body.get("observedAt")
    recorded = inst.get("modifiedAt") or now
    return (
        tenant,
        entity_id,
        attr,
        body.get("datasetId") or "",
        new_instance_id(),
        observed_time(observed) if observed else None,
        recorded,
        recorded,
        normalize_time(deleted_at, "deletedAt") if deleted_at else None,
        _json(body),
        None if deleted_at else value_number(body),
    )


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
    conn.execute(_INSERT, *_row(tenant, entity_id, attr, inst, now))


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
    conn.execute(
        "INSERT INTO temporal_types (tenant, type, id) SELECT $1, t, $2 FROM unnest($3::text[]) t"
        " ON CONFLICT DO NOTHING",
        tenant,
        entity["id"],
        list(entity["type"]),
    )


def _changed(previous: Instance | None, inst: Instance) -> bool:
    # every instance a change writes gets a new modifiedAt (cityhub.ngsild.ops): an equal one
    # means the instance was carried over untouched
    if previous is None:
        return True
    stamp = inst.get("modifiedAt")
    if stamp is not None:
        return bool(previous.get("modifiedAt") != stamp)
    return previous != inst


def _head_of_change(
    conn: SyncConnection, tenant: str, before: Entity | None, after: Entity, now: str
) -> None:
    """Keep the ``temporal_entities`` row of an entity the entity API changed. While the entity
    exists, temporal queries read its system times, scopes and attributes from ``entities``
    (``temporal.HEADS``), so an update of attribute values leaves the row alone; the row gets
    the attributes when the entity is deleted."""
    if (
        before is None
        or before["type"] != after["type"]
        or before.get("scope") != after.get("scope")
    ):
        write_head(conn, tenant, after, {}, after.get("createdAt") or now, now)
        return
    added = conn.execute(  # a row exists unless history was off when the entity was created
        "INSERT INTO temporal_entities (tenant, id, types, scopes, created_at, modified_at,"
        " deleted_at, attrs) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, NULL, '{}')"
        " ON CONFLICT DO NOTHING",
        tenant,
        after["id"],
        _json(after["type"]),
        _json(after["scope"]) if after.get("scope") else None,
        after.get("createdAt") or now,
        now,
    )
    if added.endswith(" 1"):
        conn.execute(
            "INSERT INTO temporal_types (tenant, type, id) SELECT $1, t, $2"
            " FROM unnest($3::text[]) t ON CONFLICT DO NOTHING",
            tenant,
            after["id"],
            list(after["type"]),
        )


def record_change(tx: PostgresTransaction, change: Change) -> None:
    """The transaction hook: record the instances a change made, in the change's transaction
    (the rules of ``cityhub.store.sqlite.history.record_change``: every instance of a created
    entity, the new or modified ones of an update, an NGSI-LD Null with ``deletedAt`` per
    deleted instance; the change's own ``modifiedAt`` as the recording time)."""
    conn = tx.conn
    if conn.quiet:
        return
    tenant = change.tenant
    before = change.before or {"attrs": {}}
    after = change.after
    now = (after or {}).get("modifiedAt") or now_iso()
    if after is not None:
        _head_of_change(conn, tenant, change.before, after, now)
    else:
        conn.execute(
            "UPDATE temporal_entities SET deleted_at = $1, modified_at = $1, types = $2::jsonb,"
            " scopes = $3::jsonb, attrs = $4::jsonb WHERE tenant = $5 AND id = $6",
            now,
            _json(before["type"]),
            _json(before["scope"]) if before.get("scope") else None,
            _json(before["attrs"]),
            tenant,
            change.entity_id,
        )
    rows: list[tuple[Any, ...]] = []
    after_attrs: Mapping[str, list[Instance]] = after["attrs"] if after is not None else {}
    before_attrs: Mapping[str, list[Instance]] = before["attrs"]
    for iri, instances in after_attrs.items():
        old = by_dataset(before_attrs.get(iri) or ())
        for inst in instances:
            if _changed(old.get(inst.get("datasetId")), inst):
                rows.append(_row(tenant, change.entity_id, iri, inst, now))
    for iri, instances in before_attrs.items():
        new = by_dataset(after_attrs.get(iri) or ())
        for inst in instances:
            if inst.get("datasetId") not in new:
                rows.append(_row(tenant, change.entity_id, iri, null_instance(inst, now), now))
    conn.executemany(_INSERT, rows)


__all__ = ["record_change", "recording_off", "upsert_instance", "write_head"]
