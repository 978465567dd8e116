"""Temporal provision and consumption over SQLite (ETSI GS CIM 009 v1.9.1 clauses
5.6.11-5.6.16, 5.7.3-5.7.4): :class:`SqliteTemporalStore`, the SQLite implementation of
``cityhub.store.temporal.TemporalStore``.

Its SQL lives beside it: ``history.py`` (schema and the write path, including the transaction
hook that records every entity change), ``temporal_sql.py`` (time windows, ``lastN`` and
aggregation in ``GROUP BY``) and ``retention.py`` (pruning in small batches).
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar, cast

import orjson

from cityhub.errors import ResourceNotFound
from cityhub.ngsild import ops
from cityhub.ngsild.aggregation import AggregatedHistory, AggregationQuery, Series
from cityhub.ngsild.datetime import format_datetime, now_iso, parse_datetime
from cityhub.ngsild.duration import END_OF_TIME
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import TemporalQuery, latest_instances, normalize_time
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.history import recording_off
from cityhub.store.instances import by_dataset, strip_system, value_number
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import retention, temporal_sql
from cityhub.store.sqlite.entities import order_clause, where_clause
from cityhub.store.sqlite.history import add_missing_heads, upsert_instance, write_head
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.transaction import SqliteTransaction
from cityhub.store.temporal import (
    AggregatedEntity,
    Head,
    History,
    RetentionPolicy,
    TemporalEntity,
)

R = TypeVar("R")

_SET_HEAD_ATTRS = (
    "UPDATE temporal_entities SET attrs = ?, modified_at = ? WHERE tenant = ? AND id = ?"
)
_HEAD_COLUMNS = "e.id, e.types, e.scopes, e.created_at, e.modified_at, e.deleted_at"
#: temporal entities as queries see them: while the entity exists, its system times, scopes
#: and attributes (what q and scopeQ test) are those of the current state, which the entity
#: API's updates do not copy into temporal_entities (see history.record_change)
_HEADS = (
    "(SELECT t.rowid AS rowid, t.tenant AS tenant, t.id AS id, t.types AS types,"
    " CASE WHEN c.id IS NULL THEN t.scopes ELSE c.scopes END AS scopes,"
    " coalesce(c.created_at, t.created_at) AS created_at,"
    " coalesce(c.modified_at, t.modified_at) AS modified_at, t.deleted_at AS deleted_at,"
    " coalesce(c.attrs, t.attrs) AS attrs"
    " FROM temporal_entities t LEFT JOIN entities c ON c.tenant = t.tenant AND c.id = t.id)"
)


def _head(row: Sequence[Any]) -> Head:
    head: Head = {"id": row[0], "type": orjson.loads(row[1])}
    if row[2]:
        head["scope"] = orjson.loads(row[2])
    head["createdAt"] = row[3]
    head["modifiedAt"] = row[4]
    if row[5]:
        head["deletedAt"] = row[5]
    return head


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
    sql, params = temporal_sql.history_select(tenant, ids, tq, attrs, dataset_ids)
    for entity_id, attr, instance_id, created, modified, deleted, body, t, seq in conn.execute(
        sql, params
    ):
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


def _cuts(
    conn: sqlite3.Connection,
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    agg: AggregationQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> tuple[list[tuple[str, str, str | None]] | None, dict[tuple[str, str], datetime]]:
    """Where each attribute's first ``max_periods`` periods end, so aggregation reads and
    groups only the instances a response can carry (a history of 100,000 instances asked for
    in one-second periods is grouped 1,000 at a time, not whole). Returns the cuts (None when
    nothing needs cutting) and, per attribute cut, the time of its last instance."""
    if agg.period is None or agg.newest_first:
        return None, {}
    sql, params = temporal_sql.span_select(tenant, ids, tq, attrs, dataset_ids)
    cuts: list[tuple[str, str, str | None]] = []
    ends: dict[tuple[str, str], datetime] = {}
    for entity_id, attr, first_text, last_text in conn.execute(sql, params):
        first = parse_datetime(first_text, "first")
        origin = parse_datetime(agg.origin, "origin") if agg.origin else first
        end = agg.period.add_to(origin, agg.period.index_of(origin, first) + agg.max_periods)
        last = parse_datetime(last_text, "last")
        if last >= end and end < END_OF_TIME:  # no instant is after the end of time
            cuts.append((entity_id, attr, format_datetime(end)))
            ends[(entity_id, attr)] = last
        else:
            cuts.append((entity_id, attr, None))
    return (cuts if ends else None), ends


def _aggregated(
    conn: sqlite3.Connection,
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    agg: AggregationQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> dict[str, AggregatedHistory]:
    out: dict[str, AggregatedHistory] = {i: {} for i in ids}
    if not ids:
        return out
    temporal_sql.register_functions(conn)
    cuts, cut_ends = _cuts(conn, tenant, ids, tq, agg, attrs, dataset_ids)
    sql, params = temporal_sql.aggregation_select(tenant, ids, tq, agg, attrs, dataset_ids, cuts)
    current: Series | None = None
    key: tuple[str, str, str] | None = None
    for row in conn.execute(sql, params):
        if (row[0], row[1], row[2]) != key:
            key = (row[0], row[1], row[2])
            current = Series("", row[2] or None, row[3], first_index=int(row[-2]))
            current.last_index = int(row[-1])
            out[row[0]].setdefault(row[1], []).append(current)
        assert current is not None
        current.periods.append(temporal_sql.stats_of(row))
    for (entity_id, attr), last in cut_ends.items():  # periods left out: the page is cut
        assert agg.period is not None
        for series in out[entity_id].get(attr, []):
            origin = parse_datetime(series.origin, "origin")
            series.last_index = max(series.last_index, agg.period.index_of(origin, last))
    for entity_id, history in out.items():  # each series' type, from one of its instances
        for attr, found in history.items():
            for series in found:
                row = conn.execute(
                    "SELECT instance ->> '$.type' FROM attribute_instances INDEXED BY"
                    " attribute_instances_observed WHERE tenant = ? AND entity_id = ?"
                    " AND attr = ? AND dataset_id = ? LIMIT 1",
                    (tenant, entity_id, attr, series.dataset_id or ""),
                ).fetchone()
                series.attr_type = (row[0] if row else None) or "Property"
    return out


class SqliteTemporalStore:
    """Temporal provision and consumption (clauses 5.6.11-5.6.16, 5.7.3-5.7.4) over SQLite."""

    def __init__(
        self,
        store: SqliteStore,
        instance_limit: int = 1000,
        retention_policy: RetentionPolicy | None = None,
        prune_interval: float = 3600.0,
        record: bool = True,
    ) -> None:
        self.store = store
        #: whether the entity API's changes are recorded (the ``history`` setting)
        self.record = record
        #: most instances one response carries; more are paged with Content-Range (206)
        self.instance_limit = instance_limit
        self.retention_policy = retention_policy or RetentionPolicy()
        self._pruner = retention.Pruner(store, self.retention_policy, prune_interval)

    async def start(self) -> None:
        """Give entities created while history was off their head row; start pruning if a
        retention is set."""
        if self.record:
            await self.store.run_transaction(add_missing_heads)
        self._pruner.start()

    async def stop(self) -> None:
        await self._pruner.stop()

    async def prune(self, now: str | None = None) -> int:
        """Delete what the retention policy no longer keeps (small transactions)."""
        return await retention.prune(self.store, self.retention_policy, now)

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
                    with recording_off(tx):
                        tx.insert(current)
                attrs: dict[str, Any] = copy.deepcopy(current["attrs"])
                types = current["type"]
            else:
                attrs = orjson.loads(head[0])
                types = list(dict.fromkeys([*orjson.loads(head[1]), *entity.get("type", [])]))
            self._add(conn, tenant, entity["id"], entity["attrs"], attrs, now)
            head_entity = {**entity, "type": types}
            write_head(conn, tenant, head_entity, attrs, now, now)
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
                upsert_instance(conn, tenant, entity_id, iri, inst, now)
            merged = by_dataset(head_attrs.get(iri, []))
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
            with recording_off(tx):
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
            inst.update(strip_system(fragment))
            observed = inst.get("observedAt")
            conn.execute(
                "UPDATE attribute_instances SET instance = ?, observed_at = ?, modified_at = ?,"
                " dataset_id = ?, value_number = ? WHERE seq = ?",
                (
                    orjson.dumps(inst).decode(),
                    normalize_time(observed, "observedAt") if observed else None,
                    now_iso(),
                    inst.get("datasetId") or "",
                    value_number(inst),
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
    async def _read_entity(
        self,
        tenant: str,
        entity_id: str,
        attrs: Sequence[str] | None,
        read: Callable[[sqlite3.Connection, list[str]], dict[str, R]],
    ) -> tuple[Head, R, set[str]] | None:
        def run(conn: sqlite3.Connection) -> tuple[Head, R, set[str]] | None:
            row = conn.execute(
                f"SELECT {_HEAD_COLUMNS} FROM {_HEADS} e WHERE e.tenant = ? AND e.id = ?",
                (tenant, entity_id),
            ).fetchone()
            if row is None:
                return None
            known = {
                a
                for a in attrs or ()
                if conn.execute(
                    "SELECT 1 FROM attribute_instances WHERE tenant = ? AND entity_id = ?"
                    " AND attr = ? LIMIT 1",
                    (tenant, entity_id, a),
                ).fetchone()
            }
            return _head(row), read(conn, [entity_id])[entity_id], known

        return await self.store.run_read(run)

    async def get_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[Head, History, set[str]] | None:
        """Clause 5.7.3: the head, the history asked for, and which of ``attrs`` have a
        history at all."""
        return await self._read_entity(
            tenant,
            entity_id,
            attrs,
            lambda conn, ids: _history(conn, tenant, ids, tq, attrs, dataset_ids),
        )

    async def aggregate_entity(
        self,
        tenant: str,
        entity_id: str,
        tq: TemporalQuery,
        agg: AggregationQuery,
        attrs: Sequence[str] | None = None,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[Head, AggregatedHistory, set[str]] | None:
        """Clause 5.7.3 in the aggregated representation (4.5.19), computed in SQL."""
        return await self._read_entity(
            tenant,
            entity_id,
            attrs,
            lambda conn, ids: _aggregated(conn, tenant, ids, tq, agg, attrs, dataset_ids),
        )

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
        _, required = temporal_sql.time_column(tq)
        if query.attrs or required or dataset_ids is not None:
            inner: list[Any] = []
            cond = temporal_sql.instance_filter(
                tq if required else None, list(query.attrs) or None, dataset_ids, inner
            )
            clauses.append(
                "EXISTS (SELECT 1 FROM attribute_instances h WHERE h.tenant = e.tenant AND "
                f"h.entity_id = e.id{cond})"
            )
            params.extend(inner)
        return " AND ".join(f"({c})" for c in clauses), params

    async def _read_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
        read: Callable[[sqlite3.Connection, list[str]], dict[str, R]],
    ) -> tuple[list[tuple[Head, R]], int | None]:
        where, params = self._where(tenant, query, tq, dataset_ids)
        order, order_params = order_clause(query.order_by)

        def run(conn: sqlite3.Connection) -> tuple[list[tuple[Head, R]], int | None]:
            result: list[tuple[Head, R]] = []
            if query.limit > 0:
                rows = conn.execute(
                    f"SELECT {_HEAD_COLUMNS} FROM {_HEADS} e WHERE {where} "
                    f"ORDER BY {order} LIMIT ? OFFSET ?",
                    (*params, *order_params, query.limit, query.offset),
                ).fetchall()
                heads = [_head(r) for r in rows]
                found = read(conn, [h["id"] for h in heads])
                result = [(h, found[h["id"]]) for h in heads]
            count = None
            if query.count:
                count = conn.execute(
                    f"SELECT count(*) FROM {_HEADS} e WHERE {where}", params
                ).fetchone()[0]
            return result, count

        return await self.store.run_read(run)

    async def query_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[TemporalEntity], int | None]:
        """Clause 5.7.4: the page of entities with history matching the query, and the count
        when asked for. ``query.attrs`` selects the attributes whose history is returned."""
        attrs = list(query.attrs) or None
        return await self._read_entities(
            tenant,
            query,
            tq,
            dataset_ids,
            lambda conn, ids: _history(conn, tenant, ids, tq, attrs, dataset_ids),
        )

    async def aggregate_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        agg: AggregationQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[AggregatedEntity], int | None]:
        """Clause 5.7.4 in the aggregated representation (4.5.19), computed in SQL."""
        attrs = list(query.attrs) or None
        return await self._read_entities(
            tenant,
            query,
            tq,
            dataset_ids,
            lambda conn, ids: _aggregated(conn, tenant, ids, tq, agg, attrs, dataset_ids),
        )

    async def explain_history(self, tenant: str, entity_id: str, tq: TemporalQuery) -> list[str]:
        """SQLite's plan for reading one entity's history (tests prove the index is used)."""
        sql, params = temporal_sql.history_select(tenant, [entity_id], tq, None, None)
        rows = await self.store.run_read(
            lambda conn: conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        )
        return [str(r[-1]) for r in rows]

    async def explain_aggregation(
        self, tenant: str, entity_id: str, tq: TemporalQuery, agg: AggregationQuery
    ) -> list[str]:
        """SQLite's plan for aggregating one entity's history."""
        sql, params = temporal_sql.aggregation_select(tenant, [entity_id], tq, agg, None, None)

        def run(conn: sqlite3.Connection) -> list[Any]:
            temporal_sql.register_functions(conn)
            return conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()

        return [str(r[-1]) for r in await self.store.run_read(run)]
