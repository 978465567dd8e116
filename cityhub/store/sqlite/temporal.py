"""Temporal history in SQLite: an append-only table of attribute instances, written in the same
transaction as the change it records (DESIGN.md decisions 2 and 4).

Three tables:

* ``attribute_instances``: one row per attribute instance ever recorded, with its
  ``instanceId`` (a URN made here), ``observedAt`` normalized to UTC so time windows compare as
  text, and the times it was recorded (``created_at``), patched (``modified_at``) and, for the
  records of a deletion, ``deleted_at``. Indexed on (tenant, entity, attribute, observedAt) and
  (tenant, entity, attribute, createdAt), so a time-window query reads only what it returns.
* ``temporal_entities``: one row per entity with a history, shaped like ``entities`` (types,
  scopes, system times and an ``attrs`` document of the latest instances), plus ``deleted_at``.
  Temporal queries select entities here, with the same compiled ``q``/``scopeQ``/``orderBy``
  SQL as the current state, so an entity deleted from the current state stays queryable.
* ``temporal_types``: (tenant, type, id), the index of type selection.

``record_change`` is the transaction hook the entity store calls for every create, update and
delete. The temporal API's own writes (clause 5.6.11-5.6.16) go through ``SqliteTemporalStore``.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

import orjson

from cityhub.errors import ResourceNotFound
from cityhub.ngsild import ops
from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import (
    TemporalQuery,
    latest_instances,
    normalize_time,
    null_instance,
)
from cityhub.store.base import Change, EntityQuery, Transaction
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite.store import SqliteStore, SqliteTransaction, order_clause, where_clause

TEMPORAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS temporal_entities (
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  types TEXT NOT NULL,
  scopes TEXT,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  deleted_at TEXT,
  attrs TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS temporal_entities_pk ON temporal_entities (tenant, id);
CREATE TABLE IF NOT EXISTS temporal_types (
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (tenant, type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS temporal_types_by_id ON temporal_types (tenant, id);
CREATE TABLE IF NOT EXISTS attribute_instances (
  seq INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  attr TEXT NOT NULL,
  dataset_id TEXT NOT NULL DEFAULT '',
  instance_id TEXT NOT NULL,
  observed_at TEXT,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  deleted_at TEXT,
  instance TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS attribute_instances_id
  ON attribute_instances (tenant, instance_id);
CREATE INDEX IF NOT EXISTS attribute_instances_observed
  ON attribute_instances (tenant, entity_id, attr, observed_at);
CREATE INDEX IF NOT EXISTS attribute_instances_created
  ON attribute_instances (tenant, entity_id, attr, created_at);
"""

History = dict[str, list[Instance]]
TemporalEntity = tuple[dict[str, Any], History]

_SET_HEAD_ATTRS = (
    "UPDATE temporal_entities SET attrs = ?, modified_at = ? WHERE tenant = ? AND id = ?"
)
_HEAD_COLUMNS = "e.id, e.types, e.scopes, e.created_at, e.modified_at, e.deleted_at"
_quiet = threading.local()  # set on the writer thread while the temporal API writes history itself


@contextmanager
def _hook_off() -> Iterator[None]:
    _quiet.active = True
    try:
        yield
    finally:
        _quiet.active = False


def new_instance_id() -> str:
    return f"urn:ngsi-ld:Instance:{uuid.uuid4()}"


# ---- writing ---------------------------------------------------------------------------


def _strip(inst: Instance) -> Instance:
    return {k: v for k, v in inst.items() if k not in ("createdAt", "modifiedAt", "instanceId")}


def _insert(
    conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
) -> str:
    body = _strip(inst)
    deleted_at = body.pop("deletedAt", None)
    observed = body.get("observedAt")
    instance_id = new_instance_id()
    conn.execute(
        "INSERT INTO attribute_instances (tenant, entity_id, attr, dataset_id, instance_id, "
        "observed_at, created_at, modified_at, deleted_at, instance) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tenant,
            entity_id,
            attr,
            body.get("datasetId") or "",
            instance_id,
            normalize_time(observed, "observedAt") if observed else None,
            inst.get("modifiedAt") or now,
            inst.get("modifiedAt") or now,
            deleted_at,
            orjson.dumps(body).decode(),
        ),
    )
    return instance_id


def _upsert(
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
            conn.execute(
                "UPDATE attribute_instances SET instance = ?, modified_at = ? WHERE seq = ?",
                (orjson.dumps(_strip(inst)).decode(), now, row[0]),
            )
            return
    _insert(conn, tenant, entity_id, attr, inst, now)


def _write_head(
    conn: sqlite3.Connection,
    tenant: str,
    entity: Entity,
    attrs: Mapping[str, Any],
    created_at: str,
    now: str,
    *,
    types_changed: bool = True,
) -> None:
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


def _changed(before: Instance | None, after: Instance) -> bool:
    return before is None or before != after


def _by_dataset(instances: Sequence[Instance]) -> dict[str | None, Instance]:
    return {i.get("datasetId"): i for i in instances}


def record_change(conn: sqlite3.Connection, change: Change) -> None:
    """The transaction hook: record the instances a change made, in the change's transaction.

    Created entities record every instance; updates record the instances that are new or
    differ (an update rewrites ``modifiedAt``, so every instance written counts), and a
    deleted attribute or entity records, per instance, an NGSI-LD Null with ``deletedAt``
    (clause 4.5.0, 5.6.6).
    """
    if getattr(_quiet, "active", False):
        return
    now = now_iso()
    tenant = change.tenant
    before = change.before or {"attrs": {}}
    after = change.after
    if after is not None:
        same_types = change.before is not None and change.before["type"] == after["type"]
        _write_head(
            conn,
            tenant,
            after,
            after["attrs"],
            after.get("createdAt") or now,
            now,
            types_changed=not same_types,
        )
    else:
        conn.execute(
            "UPDATE temporal_entities SET deleted_at = ?, modified_at = ? "
            "WHERE tenant = ? AND id = ?",
            (now, now, tenant, change.entity_id),
        )
    after_attrs: Mapping[str, list[Instance]] = after["attrs"] if after is not None else {}
    for iri, instances in after_attrs.items():
        old = _by_dataset(before["attrs"].get(iri, []))
        for inst in instances:
            if _changed(old.get(inst.get("datasetId")), inst):
                _insert(conn, tenant, change.entity_id, iri, inst, now)
    for iri, instances in before["attrs"].items():
        new = _by_dataset(after_attrs.get(iri, []))
        for inst in instances:
            if inst.get("datasetId") not in new:
                _insert(conn, tenant, change.entity_id, iri, null_instance(inst, now), now)


# ---- reading ---------------------------------------------------------------------------


def _head(row: Sequence[Any]) -> dict[str, Any]:
    head: dict[str, Any] = {"id": row[0], "type": orjson.loads(row[1])}
    if row[2]:
        head["scope"] = orjson.loads(row[2])
    head["createdAt"] = row[3]
    head["modifiedAt"] = row[4]
    if row[5]:
        head["deletedAt"] = row[5]
    return head


def _time_column(tq: TemporalQuery) -> tuple[str, bool]:
    """The SQL time of an instance along the query's timeproperty, and whether instances
    without that time are left out (always, except for the default view with no timerel)."""
    if tq.timeproperty == "observedAt":
        if tq.timerel is None and not tq.timeproperty_given:
            return "coalesce(h.observed_at, h.created_at)", False
        return "h.observed_at", True
    column = {"createdAt": "h.created_at", "modifiedAt": "h.modified_at"}
    return column.get(tq.timeproperty, "h.deleted_at"), True


def _instance_filter(
    tq: TemporalQuery | None,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
    params: list[Any],
) -> str:
    clauses: list[str] = []
    if attrs:
        clauses.append(f"h.attr IN ({','.join('?' * len(attrs))})")
        params.extend(attrs)
    if dataset_ids is not None:
        clauses.append(f"h.dataset_id IN ({','.join('?' * len(dataset_ids))})")
        params.extend(d or "" for d in dataset_ids)
    if tq is not None:
        column, required = _time_column(tq)
        if required:
            clauses.append(f"{column} IS NOT NULL")
        start, end = tq.bounds()
        if start is not None:
            clauses.append(f"{column} >= ?")
            params.append(start)
        if end is not None:
            clauses.append(f"{column} < ?")
            params.append(end)
    return "".join(f" AND {c}" for c in clauses)


def _history(
    conn: sqlite3.Connection,
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> dict[str, History]:
    out: dict[str, History] = {i: {} for i in ids}
    if not ids:
        return out
    column, _ = _time_column(tq)
    params: list[Any] = [tenant, *ids]
    where = f"h.tenant = ? AND h.entity_id IN ({','.join('?' * len(ids))})" + _instance_filter(
        tq, attrs, dataset_ids, params
    )
    select = (
        "SELECT h.entity_id, h.attr, h.instance_id, h.created_at, h.modified_at, h.deleted_at,"
        f" h.instance, {column} AS t, h.seq FROM attribute_instances h WHERE {where}"
    )
    if tq.last_n is not None:
        select = (
            "SELECT entity_id, attr, instance_id, created_at, modified_at, deleted_at, instance,"
            " t, seq FROM (SELECT *, row_number() OVER (PARTITION BY entity_id, attr ORDER BY"
            f" t DESC, seq DESC) AS rn FROM ({select})) WHERE rn <= ?"
        )
        params.append(tq.last_n)
    rows = conn.execute(f"{select} ORDER BY 1, 2, t, seq", params).fetchall()
    for entity_id, attr, instance_id, created, modified, deleted, body, t, seq in rows:
        inst: Instance = orjson.loads(body)
        inst["instanceId"] = instance_id
        inst["createdAt"] = created
        inst["modifiedAt"] = modified
        if deleted:
            inst["deletedAt"] = deleted
        inst["_time"] = t
        inst["_seq"] = seq
        if tq.timeproperty == "observedAt":
            inst["_display_time"] = inst.get("observedAt") or t
        else:
            inst["_display_time"] = t
        out[entity_id].setdefault(attr, []).append(inst)
    return out


class SqliteTemporalStore:
    """Temporal provision and consumption (clauses 5.6.11-5.6.16, 5.7.3-5.7.4) over SQLite."""

    def __init__(self, store: SqliteStore, instance_limit: int = 1000) -> None:
        self.store = store
        #: most instances one response carries; more are paged with Content-Range (206)
        self.instance_limit = instance_limit

    # ---- provision ---------------------------------------------------------------------
    async def create_or_update(self, tenant: str, entity: Entity) -> bool:
        """Clause 5.6.11: add a temporal entity's instances; True when it was new.

        An entity unknown to the hub is also created in the current state, from the latest
        instance of each attribute, so the entity API sees it (the ETSI suite relies on this).
        """

        def run(tx: Transaction) -> bool:
            conn = cast(SqliteTransaction, tx).conn
            now = now_iso()
            head = conn.execute(
                "SELECT attrs, types FROM temporal_entities WHERE tenant = ? AND id = ?",
                (tenant, entity["id"]),
            ).fetchone()
            created = head is None
            if created:
                current = tx.get(entity["id"])
                if current is None:
                    current = {
                        "id": entity["id"],
                        "type": entity["type"],
                        "attrs": latest_instances(entity["attrs"]),
                    }
                    if entity.get("scope"):
                        current["scope"] = entity["scope"]
                    ops.new_entity(current, now)
                    with _hook_off():
                        tx.insert(current)
                attrs: dict[str, Any] = copy.deepcopy(current["attrs"])
                types = current["type"]
            else:
                attrs = orjson.loads(head[0])
                types = list(dict.fromkeys([*orjson.loads(head[1]), *entity.get("type", [])]))
            self._add(conn, tenant, entity["id"], entity["attrs"], attrs, now)
            head_entity = {**entity, "type": types}
            _write_head(conn, tenant, head_entity, attrs, now, now)
            return created

        return await self.store.write(tenant, run)

    @staticmethod
    def _add(
        conn: sqlite3.Connection,
        tenant: str,
        entity_id: str,
        new: Mapping[str, list[Instance]],
        head_attrs: dict[str, Any],
        now: str,
    ) -> None:
        for iri, instances in new.items():
            for inst in instances:
                _upsert(conn, tenant, entity_id, iri, inst, now)
            merged = _by_dataset(head_attrs.get(iri, []))
            for latest in latest_instances({iri: instances})[iri]:
                key = latest.get("datasetId")
                old = merged.get(key)
                if old is None or str(latest.get("observedAt", "")) >= str(
                    old.get("observedAt", "")
                ):
                    merged[key] = latest
            head_attrs[iri] = list(merged.values())

    @staticmethod
    def _head_attrs(conn: sqlite3.Connection, tenant: str, entity_id: str) -> dict[str, Any]:
        row = conn.execute(
            "SELECT attrs FROM temporal_entities WHERE tenant = ? AND id = ?", (tenant, entity_id)
        ).fetchone()
        if row is None:
            raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
        attrs: dict[str, Any] = orjson.loads(row[0])
        return attrs

    async def append_attributes(
        self, tenant: str, entity_id: str, attrs: Mapping[str, list[Instance]]
    ) -> None:
        """Clause 5.6.12 Add Attributes to Temporal Representation of an Entity."""

        def run(conn: sqlite3.Connection) -> None:
            head_attrs = self._head_attrs(conn, tenant, entity_id)
            now = now_iso()
            self._add(conn, tenant, entity_id, attrs, head_attrs, now)
            conn.execute(
                _SET_HEAD_ATTRS,
                (orjson.dumps(head_attrs).decode(), now, tenant, entity_id),
            )

        await self.store.run_transaction(run)

    async def delete_entity(self, tenant: str, entity_id: str) -> None:
        """Clause 5.6.16 Delete Temporal Representation of an Entity: its whole history goes,
        and so does the entity of the current state (the temporal representation and the
        entity are one resource; see ``create_or_update``)."""

        def run(tx: Transaction) -> None:
            conn = cast(SqliteTransaction, tx).conn
            with _hook_off():
                existed = tx.delete(entity_id)
            gone = conn.execute(
                "DELETE FROM temporal_entities WHERE tenant = ? AND id = ?", (tenant, entity_id)
            ).rowcount
            if not existed and not gone:
                raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
            conn.execute(
                "DELETE FROM attribute_instances WHERE tenant = ? AND entity_id = ?",
                (tenant, entity_id),
            )
            conn.execute(
                "DELETE FROM temporal_types WHERE tenant = ? AND id = ?", (tenant, entity_id)
            )

        await self.store.write(tenant, run)

    async def delete_attribute(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
    ) -> None:
        """Clause 5.6.13: the attribute's history (the default instance's, one datasetId's, or
        every instance's with ``deleteAll``)."""

        def run(conn: sqlite3.Connection) -> None:
            head_attrs = self._head_attrs(conn, tenant, entity_id)
            sql = "DELETE FROM attribute_instances WHERE tenant = ? AND entity_id = ? AND attr = ?"
            params: list[Any] = [tenant, entity_id, attr]
            if not delete_all:
                sql += " AND dataset_id = ?"
                params.append(dataset_id or "")
            if conn.execute(sql, params).rowcount == 0:
                raise ResourceNotFound(f"entity {entity_id} has no history of attribute {attr}")
            if attr in head_attrs:
                kept = [
                    i
                    for i in head_attrs[attr]
                    if not delete_all and i.get("datasetId") != dataset_id
                ]
                if kept:
                    head_attrs[attr] = kept
                else:
                    del head_attrs[attr]
            conn.execute(
                _SET_HEAD_ATTRS,
                (orjson.dumps(head_attrs).decode(), now_iso(), tenant, entity_id),
            )

        await self.store.run_transaction(run)

    def _find_instance(
        self, conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, Instance]:
        self._head_attrs(conn, tenant, entity_id)
        row = conn.execute(
            "SELECT seq, instance FROM attribute_instances WHERE tenant = ? AND instance_id = ?"
            " AND entity_id = ? AND attr = ?",
            (tenant, instance_id, entity_id, attr),
        ).fetchone()
        if row is None:
            raise ResourceNotFound(
                f"attribute {attr} of entity {entity_id} has no instance {instance_id}"
            )
        return int(row[0]), orjson.loads(row[1])

    async def modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> None:
        """Clause 5.6.14 Modify Attribute instance: the fragment's members replace the
        instance's; its instanceId stays."""

        def run(conn: sqlite3.Connection) -> None:
            seq, inst = self._find_instance(conn, tenant, entity_id, attr, instance_id)
            inst.update(_strip(fragment))
            observed = inst.get("observedAt")
            conn.execute(
                "UPDATE attribute_instances SET instance = ?, observed_at = ?, modified_at = ?,"
                " dataset_id = ? WHERE seq = ?",
                (
                    orjson.dumps(inst).decode(),
                    normalize_time(observed, "observedAt") if observed else None,
                    now_iso(),
                    inst.get("datasetId") or "",
                    seq,
                ),
            )

        await self.store.run_transaction(run)

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        """Clause 5.6.15 Delete Attribute instance."""

        def run(conn: sqlite3.Connection) -> None:
            seq, _ = self._find_instance(conn, tenant, entity_id, attr, instance_id)
            conn.execute("DELETE FROM attribute_instances WHERE seq = ?", (seq,))

        await self.store.run_transaction(run)

    # ---- consumption -------------------------------------------------------------------
    async def get_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[dict[str, Any], History, set[str]] | None:
        """Clause 5.7.3: the head, the history asked for, and every attribute with a history."""

        def run(conn: sqlite3.Connection) -> tuple[dict[str, Any], History, set[str]] | None:
            row = conn.execute(
                f"SELECT {_HEAD_COLUMNS} FROM temporal_entities e WHERE e.tenant = ? AND e.id = ?",
                (tenant, entity_id),
            ).fetchone()
            if row is None:
                return None
            known = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT attr FROM attribute_instances WHERE tenant = ? "
                    "AND entity_id = ?",
                    (tenant, entity_id),
                )
            }
            history = _history(conn, tenant, [entity_id], tq, attrs, dataset_ids)[entity_id]
            return _head(row), history, known

        return await self.store.run_read(run)

    def _where(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
    ) -> tuple[str, list[Any]]:
        base = replace(query, types=(), type_query=None, attrs=())
        where, params = where_clause(tenant, base)
        clauses = [where]
        if query.types:
            clauses.append(
                "e.id IN (SELECT t.id FROM temporal_types t WHERE t.tenant = e.tenant AND "
                f"t.type IN ({','.join('?' * len(query.types))}))"
            )
            params.extend(query.types)
        if query.type_query is not None:
            # the compiled type query reads the current state's type index; ask ours instead
            sql = qcompile.compile_type_query(query.type_query, params, "e")
            clauses.append(sql.replace("entity_types", "temporal_types"))
        column, required = _time_column(tq)
        if query.attrs or required or dataset_ids is not None:
            inner: list[Any] = []
            cond = _instance_filter(
                tq if required else None, list(query.attrs) or None, dataset_ids, inner
            )
            clauses.append(
                "EXISTS (SELECT 1 FROM attribute_instances h WHERE h.tenant = e.tenant AND "
                f"h.entity_id = e.id{cond})"
            )
            params.extend(inner)
        return " AND ".join(f"({c})" for c in clauses), params

    async def query_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[TemporalEntity], int | None]:
        """Clause 5.7.4: the page of entities with history matching the query, and the count
        when asked for. ``query.attrs`` selects the attributes whose history is returned."""
        where, params = self._where(tenant, query, tq, dataset_ids)
        order, order_params = order_clause(query.order_by)

        def run(conn: sqlite3.Connection) -> tuple[list[TemporalEntity], int | None]:
            result: list[TemporalEntity] = []
            if query.limit > 0:
                rows = conn.execute(
                    f"SELECT {_HEAD_COLUMNS} FROM temporal_entities e WHERE {where} "
                    f"ORDER BY {order} LIMIT ? OFFSET ?",
                    (*params, *order_params, query.limit, query.offset),
                ).fetchall()
                heads = [_head(r) for r in rows]
                histories = _history(
                    conn,
                    tenant,
                    [h["id"] for h in heads],
                    tq,
                    list(query.attrs) or None,
                    dataset_ids,
                )
                result = [(h, histories[h["id"]]) for h in heads]
            count = None
            if query.count:
                count = conn.execute(
                    f"SELECT count(*) FROM temporal_entities e WHERE {where}", params
                ).fetchone()[0]
            return result, count

        return await self.store.run_read(run)

    async def explain_history(self, tenant: str, entity_id: str, tq: TemporalQuery) -> list[str]:
        """SQLite's plan for reading one entity's history (tests prove the index is used)."""
        column, _ = _time_column(tq)
        params: list[Any] = [tenant, entity_id]
        cond = _instance_filter(tq, None, None, params)
        rows = await self.store.run_read(
            lambda conn: conn.execute(
                "EXPLAIN QUERY PLAN SELECT h.instance FROM attribute_instances h WHERE "
                f"h.tenant = ? AND h.entity_id = ?{cond} ORDER BY h.attr, {column}",
                params,
            ).fetchall()
        )
        return [str(r[-1]) for r in rows]
