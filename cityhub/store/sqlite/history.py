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

:func:`record_change` is the transaction hook the entity store calls for every create, update
and delete; the temporal API's own writes use :func:`upsert_instance` and :func:`write_head`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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

if TYPE_CHECKING:
    from cityhub.store.sqlite.transaction import SqliteTransaction

_quiet = threading.local()  # set on the writer thread while the temporal API writes history itself


@contextmanager
def recording_off() -> Iterator[None]:
    """Inside, :func:`record_change` records nothing (the temporal API writes the history of
    the entity changes it makes itself)."""
    _quiet.active = True
    try:
        yield
    finally:
        _quiet.active = False


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
        deleted_at,
        orjson.dumps(body).decode(),
        None if deleted_at else value_number(body),
    )


def insert_instance(
    conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
) -> None:
    conn.execute(_INSERT, _row(tenant, entity_id, attr, inst, now))


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
    insert_instance(conn, tenant, entity_id, attr, inst, now)


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


def _changed(previous: Instance | None, inst: Instance) -> bool:
    # every instance a change writes gets a new modifiedAt (cityhub.ngsild.ops); an equal
    # modifiedAt means the instance was carried over untouched
    if previous is None:
        return True
    stamp = inst.get("modifiedAt")
    if stamp is not None:
        return bool(previous.get("modifiedAt") != stamp)
    return previous != inst


def _head_of_change(
    conn: sqlite3.Connection, tenant: str, before: Entity | None, after: Entity, now: str
) -> None:
    """Keep the ``temporal_entities`` row of an entity the entity API changed. While the
    entity exists, queries read its system times, scopes and attributes from the current
    state, so an update of attribute values leaves the row alone (one page less to write per
    update); the row gets the attributes when the entity is deleted."""
    if (
        before is None
        or before["type"] != after["type"]
        or before.get("scope") != after.get("scope")
    ):
        write_head(conn, tenant, after, {}, after.get("createdAt") or now, now)
    # else: the row exists (created with the entity, or by add_missing_heads at start-up)


def _same_datasets(a: Sequence[Instance], b: Sequence[Instance]) -> bool:
    return len(a) == len(b) and all(
        x.get("datasetId") == y.get("datasetId") for x, y in zip(a, b, strict=True)
    )


def _untouched(previous: Sequence[Instance], instances: Sequence[Instance]) -> bool:
    """The attribute's instances are those it had, in the same order (the usual case for
    every attribute an update did not name): nothing to record, no per-dataset lookups."""
    return _same_datasets(previous, instances) and not any(
        _changed(p, i) for p, i in zip(previous, instances, strict=True)
    )


def record_change(tx: SqliteTransaction, change: Change) -> None:
    """The transaction hook: record the instances a change made, in the change's transaction.

    Created entities record every instance; updates record the instances that are new or
    differ (an update rewrites ``modifiedAt``, so every instance written counts), and a
    deleted attribute or entity records, per instance, an NGSI-LD Null with ``deletedAt``
    (clause 4.5.0, 5.6.6).
    """
    if getattr(_quiet, "active", False):
        return
    conn = tx.conn
    tenant = change.tenant
    before = change.before or {"attrs": {}}
    after = change.after
    now = (after or {}).get("modifiedAt") or now_iso()  # the change's own time, once
    if after is not None:
        _head_of_change(conn, tenant, change.before, after, now)
    else:
        conn.execute(
            "UPDATE temporal_entities SET deleted_at = ?, modified_at = ?, types = ?, scopes = ?,"
            " attrs = ? WHERE tenant = ? AND id = ?",
            (
                now,
                now,
                orjson.dumps(before["type"]).decode(),
                orjson.dumps(before["scope"]).decode() if before.get("scope") else None,
                orjson.dumps(before["attrs"]).decode(),
                tenant,
                change.entity_id,
            ),
        )
    rows: list[tuple[Any, ...]] = []
    after_attrs: Mapping[str, list[Instance]] = after["attrs"] if after is not None else {}
    before_attrs: Mapping[str, list[Instance]] = before["attrs"]
    for iri, instances in after_attrs.items():
        previous = before_attrs.get(iri)
        if previous is not None and _untouched(previous, instances):
            continue
        old = by_dataset(previous or ())
        for inst in instances:
            if _changed(old.get(inst.get("datasetId")), inst):
                rows.append(_row(tenant, change.entity_id, iri, inst, now))
    for iri, instances in before_attrs.items():
        current = after_attrs.get(iri)
        if current is not None and _same_datasets(instances, current):
            continue
        new = by_dataset(current or ())
        for inst in instances:
            if inst.get("datasetId") not in new:
                rows.append(_row(tenant, change.entity_id, iri, null_instance(inst, now), now))
    if rows:
        conn.executemany(_INSERT, rows)
