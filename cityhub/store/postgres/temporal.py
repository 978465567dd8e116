"""Temporal provision and consumption over PostgreSQL: :class:`PostgresTemporalStore`, the rules
of ``cityhub.store.temporal.TemporalStore`` run on :class:`PostgresTemporalRows`, its SQL.

More of its SQL lives beside it: ``history.py`` (the write path and the transaction hook),
``temporal_sql.py`` (windows, ``lastN``, aggregation in ``GROUP BY``) and ``retention.py``.
Writes lock the entity's head row (``FOR UPDATE``), so two workers adding instances to one
temporal entity at once serialise. Times are ``timestamptz``, turned into the hub's text here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import orjson

from cityhub.ngsild.aggregation import AggregationQuery, Series
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import history, retention, temporal_sql
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.entities import carries_pattern, order_clause, where_clause
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.transaction import PostgresTransaction
from cityhub.store.temporal import R, RetentionPolicy, TemporalRows, TemporalStore, head_of

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


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


class PostgresTemporalRows:
    """:class:`~cityhub.store.temporal.TemporalRows` on one pooled connection."""

    def __init__(self, conn: SyncConnection) -> None:
        self.conn = conn

    def head(self, tenant: str, entity_id: str) -> dict[str, Any] | None:
        row = self.conn.fetchrow(
            f"SELECT {_HEAD_COLUMNS} FROM {HEADS} e WHERE e.tenant = $1 AND e.id = $2",
            tenant,
            entity_id,
        )
        return None if row is None else head_of(row)

    def with_history(self, tenant: str, entity_id: str, attrs: Sequence[str]) -> set[str]:
        found = self.conn.fetch(
            "SELECT a FROM unnest($3::text[]) a WHERE EXISTS (SELECT 1 FROM attribute_instances h"
            " WHERE h.tenant = $1 AND h.entity_id = $2 AND h.attr = a)",
            tenant,
            entity_id,
            list(attrs),
        )
        return {r[0] for r in found}

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

    def heads(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
    ) -> list[dict[str, Any]]:
        params = Params()
        where = self._where(tenant, query, tq, dataset_ids, params)
        order = order_clause(query.order_by, params)
        limit, offset = params.add(query.limit, "bigint"), params.add(query.offset, "bigint")
        rows = self.conn.fetch(
            f"SELECT {_HEAD_COLUMNS} FROM {HEADS} e WHERE {where} "
            f"ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            *params.values,
        )
        return [head_of(r) for r in rows]

    def count(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
    ) -> int:
        params = Params()
        where = self._where(tenant, query, tq, dataset_ids, params)
        return int(
            self.conn.fetchval(f"SELECT count(*) FROM {HEADS} e WHERE {where}", *params.values)
        )

    def history(
        self,
        tenant: str,
        ids: Sequence[str],
        tq: TemporalQuery,
        attrs: Sequence[str] | None,
        dataset_ids: Sequence[str | None] | None,
    ) -> Iterator[Sequence[Any]]:
        sql, params = temporal_sql.history_select(tenant, ids, tq, attrs, dataset_ids)
        for (
            entity_id,
            attr,
            instance_id,
            created,
            modified,
            deleted,
            body,
            t,
            seq,
        ) in self.conn.fetch(sql, *params):
            yield (
                entity_id,
                attr,
                instance_id,
                format_datetime(created),
                format_datetime(modified),
                _time(deleted),
                body,
                format_datetime(t),
                seq,
            )

    def aggregation(
        self,
        tenant: str,
        ids: Sequence[str],
        tq: TemporalQuery,
        agg: AggregationQuery,
        attrs: Sequence[str] | None,
        dataset_ids: Sequence[str | None] | None,
    ) -> tuple[Iterable[Sequence[Any]], dict[tuple[str, str], datetime]]:
        sql, params = temporal_sql.aggregation_select(tenant, ids, tq, agg, attrs, dataset_ids)
        rows = [
            (*r[:3], format_datetime(r[3]), r[4], r[5], _time(r[6]), _time(r[7]), *r[8:])
            for r in map(tuple, self.conn.fetch(sql, *params))
        ]
        return rows, {}

    def set_series_types(
        self, tenant: str, found: Sequence[tuple[str, str, Series, int | None]]
    ) -> None:
        by_seq = {int(seq): series for _, _, series, seq in found if seq is not None}
        if by_seq:
            for seq, attr_type in self.conn.fetch(
                "SELECT seq, instance ->> 'type' FROM attribute_instances"
                " WHERE seq = ANY($1::bigint[])",
                list(by_seq),
            ):
                by_seq[int(seq)].attr_type = attr_type or "Property"

    def lock_head(self, tenant: str, entity_id: str) -> tuple[dict[str, Any], list[str]] | None:
        row = self.conn.fetchrow(
            "SELECT attrs::text, types::text FROM temporal_entities WHERE tenant = $1"
            " AND id = $2 FOR UPDATE",
            tenant,
            entity_id,
        )
        return None if row is None else (orjson.loads(row[0]), orjson.loads(row[1]))

    def set_head_attrs(self, tenant: str, entity_id: str, attrs: dict[str, Any], now: str) -> None:
        self.conn.execute(
            "UPDATE temporal_entities SET attrs = $1::jsonb, modified_at = $2"
            " WHERE tenant = $3 AND id = $4",
            orjson.dumps(attrs).decode(),
            now,
            tenant,
            entity_id,
        )

    def write_head(
        self, tenant: str, entity: Entity, attrs: Mapping[str, Any], created_at: str, now: str
    ) -> None:
        history.write_head(self.conn, tenant, entity, attrs, created_at, now)

    def upsert_instance(
        self, tenant: str, entity_id: str, attr: str, inst: Instance, now: str
    ) -> None:
        history.upsert_instance(self.conn, tenant, entity_id, attr, inst, now)

    def delete_history(self, tenant: str, entity_id: str) -> bool:
        execute = self.conn.execute
        gone = execute(
            "DELETE FROM temporal_entities WHERE tenant = $1 AND id = $2", tenant, entity_id
        )
        execute(
            "DELETE FROM attribute_instances WHERE tenant = $1 AND entity_id = $2",
            tenant,
            entity_id,
        )
        execute("DELETE FROM temporal_types WHERE tenant = $1 AND id = $2", tenant, entity_id)
        return rowcount(gone) > 0

    def delete_attribute(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        sql = "DELETE FROM attribute_instances WHERE tenant = $1 AND entity_id = $2 AND attr = $3"
        args: list[Any] = [tenant, entity_id, attr]
        if not delete_all:
            sql += " AND dataset_id = $4"
            args.append(dataset_id or "")
        return rowcount(self.conn.execute(sql, *args))

    def find_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, Instance] | None:
        row = self.conn.fetchrow(
            "SELECT seq, instance::text FROM attribute_instances WHERE tenant = $1 AND"
            " instance_id = $2 AND entity_id = $3 AND attr = $4",
            tenant,
            instance_id,
            entity_id,
            attr,
        )
        return None if row is None else (int(row[0]), orjson.loads(row[1]))

    def update_instance(
        self, seq: int, inst: Instance, observed_at: str | None, number: float | None, now: str
    ) -> None:
        self.conn.execute(
            "UPDATE attribute_instances SET instance = $1::jsonb, observed_at ="
            " $2::text::timestamptz, modified_at = $3::text::timestamptz, dataset_id = $4,"
            " value_number = $5 WHERE seq = $6",
            orjson.dumps(inst).decode(),
            observed_at,
            now,
            inst.get("datasetId") or "",
            number,
            seq,
        )

    def delete_instance(self, seq: int) -> None:
        self.conn.execute("DELETE FROM attribute_instances WHERE seq = $1", seq)


class PostgresTemporalStore(TemporalStore):
    """The temporal store over PostgreSQL.

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
        super().__init__(instance_limit, retention_policy)
        self.store = store
        self._pruner = retention.Pruner(store, self.retention_policy, prune_interval)

    async def _read(self, fn: Callable[[TemporalRows], R], query: EntityQuery | None = None) -> R:
        bounded = query is not None and carries_pattern(query)
        return await self.store.run_read(
            lambda conn: fn(PostgresTemporalRows(conn)), bounded=bounded
        )

    async def _transaction(self, fn: Callable[[TemporalRows], R]) -> R:
        return await self.store.run_transaction(lambda conn: fn(PostgresTemporalRows(conn)))

    async def _write(self, tenant: str, fn: Callable[[Transaction, TemporalRows], R]) -> R:
        return await self.store.write(
            tenant, lambda tx: fn(tx, PostgresTemporalRows(cast(PostgresTransaction, tx).conn))
        )

    async def start(self) -> None:
        """Start pruning when a retention is set (the schema comes from the migrations)."""
        self._pruner.start()

    async def stop(self) -> None:
        await self._pruner.stop()

    async def prune(self, now: str | None = None) -> int:
        """Delete what the retention policy no longer keeps (small transactions)."""
        return await self._pruner.prune(now)

    async def explain_history(self, tenant: str, entity_id: str, tq: TemporalQuery) -> list[str]:
        """PostgreSQL's plan for reading one entity's history (tests prove the index is used)."""
        sql, params = temporal_sql.history_select(tenant, [entity_id], tq, None, None)
        rows = await self.store.fetch(f"EXPLAIN {sql}", *params)
        return [str(r[0]) for r in rows]


__all__ = ["PostgresTemporalStore"]
