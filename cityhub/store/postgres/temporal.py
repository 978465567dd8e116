"""Temporal provision and consumption over PostgreSQL (ETSI GS CIM 009 v1.9.1 clauses
5.6.11-5.6.16, 5.7.3-5.7.4): :class:`PostgresTemporalStore`, the PostgreSQL implementation of
``cityhub.store.temporal.TemporalStore``, with the semantics of
``cityhub.store.sqlite.temporal.SqliteTemporalStore``.

Its SQL lives beside it: ``history.py`` (the write path and the transaction hook),
``temporal_sql.py`` (windows, ``lastN``, aggregation in ``GROUP BY``) and ``retention.py``.
Writes lock the entity's head row (``FOR UPDATE``), so two workers adding instances to one
temporal entity at once serialise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

import orjson

from cityhub.errors import ResourceNotFound
from cityhub.ngsild import ops
from cityhub.ngsild.aggregation import AggregatedHistory, AggregationQuery, Series
from cityhub.ngsild.datetime import format_datetime, now_iso
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import TemporalQuery, latest_instances, normalize_time
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.history import recording_off
from cityhub.store.instances import by_dataset, strip_system, value_number
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import retention, temporal_sql
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.entities import carries_pattern, order_clause, where_clause
from cityhub.store.postgres.history import upsert_instance, write_head
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.transaction import PostgresTransaction
from cityhub.store.temporal import AggregatedEntity, Head, History, RetentionPolicy, TemporalEntity

R = TypeVar("R")

_SET_HEAD_ATTRS = (
    "UPDATE temporal_entities SET attrs = $1::jsonb, modified_at = $2 WHERE tenant = $3 AND id = $4"
)
_HEAD_COLUMNS = "e.id, e.types::text, e.scopes::text, e.created_at, e.modified_at, e.deleted_at"
#: temporal entities as queries see them: while the entity exists, its system times, scopes
#: and attributes (what q and scopeQ test) are those of the current state, which the entity
#: API's updates do not copy into temporal_entities (``history.record_change``)
HEADS = (
    "(SELECT t.seq, t.tenant, t.id, t.types, t.deleted_at,"
    " CASE WHEN c.id IS NULL THEN t.scopes ELSE c.scopes END AS scopes,"
    " coalesce(c.created_at, t.created_at) AS created_at,"
    " coalesce(c.modified_at, t.modified_at) AS modified_at,"
    " coalesce(c.attrs, t.attrs) AS attrs"
    " FROM temporal_entities t LEFT JOIN entities c ON c.tenant = t.tenant AND c.id = t.id)"
)


def _head(row: Sequence[Any]) -> Head:
    head: Head = {"id": row[0], "type": orjson.loads(row[1])}
    if row[2]:
        scopes = orjson.loads(row[2])
        if scopes:
            head["scope"] = scopes
    head["createdAt"] = row[3]
    head["modifiedAt"] = row[4]
    if row[5]:
        head["deletedAt"] = row[5]
    return head


def _history(
    conn: SyncConnection,
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
    for entity_id, attr, instance_id, created, modified, deleted, body, t, seq in conn.fetch(
        sql, *params
    ):
        inst: Instance = orjson.loads(body)
        inst["instanceId"] = instance_id
        inst["createdAt"] = format_datetime(created)
        inst["modifiedAt"] = format_datetime(modified)
        if deleted is not None:
            inst["deletedAt"] = format_datetime(deleted)
        time = format_datetime(t)
        inst["_time"] = time
        inst["_seq"] = seq
        if tq.timeproperty == "observedAt":
            inst["_display_time"] = inst.get("observedAt") or time
        else:
            inst["_display_time"] = time
        out[entity_id].setdefault(attr, []).append(inst)
    return out


def _aggregated(
    conn: SyncConnection,
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
    sql, params = temporal_sql.aggregation_select(tenant, ids, tq, agg, attrs, dataset_ids)
    last_seq: dict[int, Series] = {}
    current: Series | None = None
    key: tuple[str, str, str] | None = None
    for row in conn.fetch(sql, *params):
        if (row[0], row[1], row[2]) != key:
            key = (row[0], row[1], row[2])
            current = Series("", row[2] or None, format_datetime(row[3]), first_index=int(row[-2]))
            current.last_index = int(row[-1])
            out[row[0]].setdefault(row[1], []).append(current)
        assert current is not None
        current.periods.append(temporal_sql.stats_of(row))
        last_seq[int(row[8])] = current
    if last_seq:  # the type of each series, from one instance of it
        for seq, attr_type in conn.fetch(
            "SELECT seq, instance ->> 'type' FROM attribute_instances"
            " WHERE seq = ANY($1::bigint[])",
            list(last_seq),
        ):
            last_seq[int(seq)].attr_type = attr_type or "Property"
    return out


def _lock_head(conn: SyncConnection, tenant: str, entity_id: str) -> dict[str, Any]:
    row = conn.fetchrow(
        "SELECT attrs::text FROM temporal_entities WHERE tenant = $1 AND id = $2 FOR UPDATE",
        tenant,
        entity_id,
    )
    if row is None:
        raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
    attrs: dict[str, Any] = orjson.loads(row[0])
    return attrs


def _add(
    conn: SyncConnection,
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
            if old is None or str(latest.get("observedAt", "")) >= str(old.get("observedAt", "")):
                merged[key] = latest
        head_attrs[iri] = list(merged.values())


def _find_instance(
    conn: SyncConnection, tenant: str, entity_id: str, attr: str, instance_id: str
) -> tuple[int, Instance]:
    _lock_head(conn, tenant, entity_id)
    row = conn.fetchrow(
        "SELECT seq, instance::text FROM attribute_instances WHERE tenant = $1 AND"
        " instance_id = $2 AND entity_id = $3 AND attr = $4",
        tenant,
        instance_id,
        entity_id,
        attr,
    )
    if row is None:
        raise ResourceNotFound(
            f"attribute {attr} of entity {entity_id} has no instance {instance_id}"
        )
    return int(row[0]), orjson.loads(row[1])


class PostgresTemporalStore:
    """Temporal provision and consumption (clauses 5.6.11-5.6.16, 5.7.3-5.7.4) over PostgreSQL.

    Args:
        store: the PostgreSQL store (its migrations create the history tables).
        instance_limit: the most attribute instances one response carries.
        retention_policy: how long history is kept.
        prune_interval: seconds between two pruning runs when a retention is set.
    """

    def __init__(
        self,
        store: PostgresStore,
        instance_limit: int = 1000,
        retention_policy: RetentionPolicy | None = None,
        prune_interval: float = 3600.0,
    ) -> None:
        self.store = store
        self.instance_limit = instance_limit
        self.retention_policy = retention_policy or RetentionPolicy()
        self._pruner = retention.Pruner(store, self.retention_policy, prune_interval)

    async def start(self) -> None:
        """Start pruning when a retention is set (the schema comes from the migrations)."""
        self._pruner.start()

    async def stop(self) -> None:
        await self._pruner.stop()

    async def prune(self, now: str | None = None) -> int:
        """Delete what the retention policy no longer keeps (small transactions)."""
        return await retention.prune(self.store, self.retention_policy, now)

    # ---- provision ---------------------------------------------------------------------
    async def create_or_update(self, tenant: str, entity: Entity) -> bool:
        """Clause 5.6.11: add a temporal entity's instances; True when it was new. An entity
        unknown to the hub is also created in the current state, from the latest instances."""

        def run(tx: Transaction) -> bool:
            conn = cast(PostgresTransaction, tx).conn
            now = now_iso()
            head = conn.fetchrow(
                "SELECT attrs::text, types::text FROM temporal_entities WHERE tenant = $1"
                " AND id = $2 FOR UPDATE",
                tenant,
                entity["id"],
            )
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
            _add(conn, tenant, entity["id"], entity["attrs"], attrs, now)
            write_head(conn, tenant, {**entity, "type": types}, attrs, now, now)
            return created

        return await self.store.write(tenant, run)

    async def append_attributes(
        self, tenant: str, entity_id: str, attrs: Mapping[str, list[Instance]]
    ) -> None:
        """Clause 5.6.12 Add Attributes to Temporal Representation of an Entity."""

        def run(conn: SyncConnection) -> None:
            head_attrs = _lock_head(conn, tenant, entity_id)
            now = now_iso()
            _add(conn, tenant, entity_id, attrs, head_attrs, now)
            conn.execute(_SET_HEAD_ATTRS, orjson.dumps(head_attrs).decode(), now, tenant, entity_id)

        await self.store.run_transaction(run)

    async def delete_entity(self, tenant: str, entity_id: str) -> None:
        """Clause 5.6.16: the whole history goes, and the entity of the current state too."""

        def run(tx: Transaction) -> None:
            conn = cast(PostgresTransaction, tx).conn
            with recording_off(tx):
                existed = tx.delete(entity_id)
            gone = rowcount(
                conn.execute(
                    "DELETE FROM temporal_entities WHERE tenant = $1 AND id = $2", tenant, entity_id
                )
            )
            if not existed and not gone:
                raise ResourceNotFound(f"there is no temporal representation of entity {entity_id}")
            conn.execute(
                "DELETE FROM attribute_instances WHERE tenant = $1 AND entity_id = $2",
                tenant,
                entity_id,
            )
            conn.execute(
                "DELETE FROM temporal_types WHERE tenant = $1 AND id = $2", tenant, entity_id
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

        def run(conn: SyncConnection) -> None:
            head_attrs = _lock_head(conn, tenant, entity_id)
            sql = (
                "DELETE FROM attribute_instances WHERE tenant = $1 AND entity_id = $2 AND attr = $3"
            )
            args: list[Any] = [tenant, entity_id, attr]
            if not delete_all:
                sql += " AND dataset_id = $4"
                args.append(dataset_id or "")
            if rowcount(conn.execute(sql, *args)) == 0:
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
                _SET_HEAD_ATTRS, orjson.dumps(head_attrs).decode(), now_iso(), tenant, entity_id
            )

        await self.store.run_transaction(run)

    async def modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> None:
        """Clause 5.6.14: the fragment's members replace the instance's; its id stays."""

        def run(conn: SyncConnection) -> None:
            seq, inst = _find_instance(conn, tenant, entity_id, attr, instance_id)
            inst.update(strip_system(fragment))
            observed = inst.get("observedAt")
            conn.execute(
                "UPDATE attribute_instances SET instance = $1::jsonb, observed_at ="
                " $2::text::timestamptz, modified_at = $3::text::timestamptz, dataset_id = $4,"
                " value_number = $5 WHERE seq = $6",
                orjson.dumps(inst).decode(),
                normalize_time(observed, "observedAt") if observed else None,
                now_iso(),
                inst.get("datasetId") or "",
                value_number(inst),
                seq,
            )

        await self.store.run_transaction(run)

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        """Clause 5.6.15 Delete Attribute instance."""

        def run(conn: SyncConnection) -> None:
            seq, _ = _find_instance(conn, tenant, entity_id, attr, instance_id)
            conn.execute("DELETE FROM attribute_instances WHERE seq = $1", seq)

        await self.store.run_transaction(run)

    # ---- consumption -------------------------------------------------------------------
    async def _read_entity(
        self,
        tenant: str,
        entity_id: str,
        attrs: Sequence[str] | None,
        read: Callable[[SyncConnection, list[str]], dict[str, R]],
    ) -> tuple[Head, R, set[str]] | None:
        def run(conn: SyncConnection) -> tuple[Head, R, set[str]] | None:
            row = conn.fetchrow(
                f"SELECT {_HEAD_COLUMNS} FROM {HEADS} e WHERE e.tenant = $1 AND e.id = $2",
                tenant,
                entity_id,
            )
            if row is None:
                return None
            known: set[str] = set()
            if attrs:
                found = conn.fetch(
                    "SELECT a FROM unnest($3::text[]) a WHERE EXISTS (SELECT 1 FROM"
                    " attribute_instances h WHERE h.tenant = $1 AND h.entity_id = $2"
                    " AND h.attr = a)",
                    tenant,
                    entity_id,
                    list(attrs),
                )
                known = {r[0] for r in found}
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
        """Clause 5.7.3: the head, the history asked for, and which of ``attrs`` have one."""
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

    @staticmethod
    def _where(
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
        params: Params,
    ) -> str:
        base = replace(query, types=(), type_query=None, attrs=())
        clauses = [where_clause(tenant, base, params)]
        if query.types:
            clauses.append(
                f"e.id IN (SELECT t.id FROM temporal_types t WHERE t.tenant = {params.add(tenant)}"
                f" AND t.type = ANY({params.add(list(query.types), 'text[]')}))"
            )
        if query.type_query is not None:
            # the compiled type query reads the current state's type index; ask ours instead
            sql = qcompile.compile_type_query(query.type_query, params, "e")
            clauses.append(sql.replace("entity_types", "temporal_types"))
        _, required = temporal_sql.time_column(tq)
        if query.attrs or required or dataset_ids is not None:
            cond = temporal_sql.instance_filter(
                tq if required else None, list(query.attrs) or None, dataset_ids, params
            )
            clauses.append(
                "EXISTS (SELECT 1 FROM attribute_instances h WHERE h.tenant = e.tenant AND "
                f"h.entity_id = e.id{cond})"
            )
        return " AND ".join(f"({c})" for c in clauses)

    async def _read_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
        read: Callable[[SyncConnection, list[str]], dict[str, R]],
    ) -> tuple[list[tuple[Head, R]], int | None]:
        params = Params()
        where = self._where(tenant, query, tq, dataset_ids, params)
        count_args = list(params.values)
        order = order_clause(query.order_by, params)
        limit, offset = params.add(query.limit, "bigint"), params.add(query.offset, "bigint")

        def run(conn: SyncConnection) -> tuple[list[tuple[Head, R]], int | None]:
            result: list[tuple[Head, R]] = []
            if query.limit > 0:
                rows = conn.fetch(
                    f"SELECT {_HEAD_COLUMNS} FROM {HEADS} e WHERE {where} "
                    f"ORDER BY {order} LIMIT {limit} OFFSET {offset}",
                    *params.values,
                )
                heads = [_head(r) for r in rows]
                found = read(conn, [h["id"] for h in heads])
                result = [(h, found[h["id"]]) for h in heads]
            count = None
            if query.count:
                count = int(
                    conn.fetchval(f"SELECT count(*) FROM {HEADS} e WHERE {where}", *count_args)
                )
            return result, count

        return await self.store.run_read(run, bounded=carries_pattern(query))

    async def query_entities(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None = None,
    ) -> tuple[list[TemporalEntity], int | None]:
        """Clause 5.7.4: a page of entities with their history, and the count when asked."""
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
        """PostgreSQL's plan for reading one entity's history (tests prove the index is used)."""
        sql, params = temporal_sql.history_select(tenant, [entity_id], tq, None, None)
        rows = await self.store.fetch(f"EXPLAIN {sql}", *params)
        return [str(r[0]) for r in rows]


__all__ = ["PostgresTemporalStore"]
