"""Temporal provision and consumption over SQLite: :class:`SqliteTemporalStore`, the rules of
``cityhub.store.temporal.TemporalStore`` run on :class:`SqliteTemporalRows`, its SQL.

More of its SQL lives beside it: ``history.py`` (schema and the write path, including the
transaction hook that records every entity change), ``temporal_sql.py`` (time windows, ``lastN``
and aggregation in ``GROUP BY``) and ``retention.py`` (pruning in small batches). Its speed
tricks: aggregation reads only the periods a response can carry (:func:`_cuts`), and the type
index and time windows are read through named indexes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import orjson

from cityhub.ngsild.aggregation import AggregationQuery, Series
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import END_OF_TIME
from cityhub.ngsild.entity import Entity, Instance
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery, Transaction
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import history, retention, temporal_sql
from cityhub.store.sqlite.entities import order_clause, where_clause
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.transaction import SqliteTransaction
from cityhub.store.temporal import R, RetentionPolicy, TemporalRows, TemporalStore, head_of

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


class SqliteTemporalRows:
    """:class:`~cityhub.store.temporal.TemporalRows` on one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def head(self, tenant: str, entity_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"SELECT {_HEAD_COLUMNS} FROM {_HEADS} e WHERE e.tenant = ? AND e.id = ?",
            (tenant, entity_id),
        ).fetchone()
        return None if row is None else head_of(row)

    def with_history(self, tenant: str, entity_id: str, attrs: Sequence[str]) -> set[str]:
        sql = "SELECT 1 FROM attribute_instances WHERE tenant = ? AND entity_id = ? AND attr = ?"
        return {a for a in attrs if self.conn.execute(sql, (tenant, entity_id, a)).fetchone()}

    @staticmethod
    def _where(
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
    ) -> tuple[str, list[Any]]:
        where, params = where_clause(tenant, replace(query, types=(), type_query=None, attrs=()))
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

    def heads(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
    ) -> list[dict[str, Any]]:
        where, params = self._where(tenant, query, tq, dataset_ids)
        order, order_params = order_clause(query.order_by)
        rows = self.conn.execute(
            f"SELECT {_HEAD_COLUMNS} FROM {_HEADS} e WHERE {where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, *order_params, query.limit, query.offset),
        )
        return [head_of(r) for r in rows]

    def count(
        self,
        tenant: str,
        query: EntityQuery,
        tq: TemporalQuery,
        dataset_ids: Sequence[str | None] | None,
    ) -> int:
        where, params = self._where(tenant, query, tq, dataset_ids)
        sql = f"SELECT count(*) FROM {_HEADS} e WHERE {where}"
        return int(self.conn.execute(sql, params).fetchone()[0])

    def history(
        self,
        tenant: str,
        ids: Sequence[str],
        tq: TemporalQuery,
        attrs: Sequence[str] | None,
        dataset_ids: Sequence[str | None] | None,
    ) -> Iterable[Sequence[Any]]:
        return self.conn.execute(*temporal_sql.history_select(tenant, ids, tq, attrs, dataset_ids))

    def aggregation(
        self,
        tenant: str,
        ids: Sequence[str],
        tq: TemporalQuery,
        agg: AggregationQuery,
        attrs: Sequence[str] | None,
        dataset_ids: Sequence[str | None] | None,
    ) -> tuple[Iterable[Sequence[Any]], dict[tuple[str, str], datetime]]:
        temporal_sql.register_functions(self.conn)
        cuts, cut_ends = _cuts(self.conn, tenant, ids, tq, agg, attrs, dataset_ids)
        sql, params = temporal_sql.aggregation_select(
            tenant, ids, tq, agg, attrs, dataset_ids, cuts
        )
        return self.conn.execute(sql, params), cut_ends

    def set_series_types(
        self, tenant: str, found: Sequence[tuple[str, str, Series, int | None]]
    ) -> None:
        for entity_id, attr, series, _ in found:
            row = self.conn.execute(
                "SELECT instance ->> '$.type' FROM attribute_instances INDEXED BY"
                " attribute_instances_observed WHERE tenant = ? AND entity_id = ?"
                " AND attr = ? AND dataset_id = ? LIMIT 1",
                (tenant, entity_id, attr, series.dataset_id or ""),
            ).fetchone()
            series.attr_type = (row[0] if row else None) or "Property"

    def lock_head(self, tenant: str, entity_id: str) -> tuple[dict[str, Any], list[str]] | None:
        row = self.conn.execute(  # the writer thread holds the database: nothing to lock
            "SELECT attrs, types FROM temporal_entities WHERE tenant = ? AND id = ?",
            (tenant, entity_id),
        ).fetchone()
        return None if row is None else (orjson.loads(row[0]), orjson.loads(row[1]))

    def set_head_attrs(self, tenant: str, entity_id: str, attrs: dict[str, Any], now: str) -> None:
        self.conn.execute(
            "UPDATE temporal_entities SET attrs = ?, modified_at = ? WHERE tenant = ? AND id = ?",
            (orjson.dumps(attrs).decode(), now, tenant, entity_id),
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
        key = (tenant, entity_id)
        gone = self.conn.execute("DELETE FROM temporal_entities WHERE tenant = ? AND id = ?", key)
        self.conn.execute("DELETE FROM attribute_instances WHERE tenant = ? AND entity_id = ?", key)
        self.conn.execute("DELETE FROM temporal_types WHERE tenant = ? AND id = ?", key)
        return gone.rowcount > 0

    def delete_attribute(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        sql = "DELETE FROM attribute_instances WHERE tenant = ? AND entity_id = ? AND attr = ?"
        params: list[Any] = [tenant, entity_id, attr]
        if not delete_all:
            sql += " AND dataset_id = ?"
            params.append(dataset_id or "")
        return self.conn.execute(sql, params).rowcount

    def find_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, Instance] | None:
        row = self.conn.execute(
            "SELECT seq, instance FROM attribute_instances WHERE tenant = ? AND instance_id = ?"
            " AND entity_id = ? AND attr = ?",
            (tenant, instance_id, entity_id, attr),
        ).fetchone()
        return None if row is None else (int(row[0]), orjson.loads(row[1]))

    def update_instance(
        self, seq: int, inst: Instance, observed_at: str | None, number: float | None, now: str
    ) -> None:
        self.conn.execute(
            "UPDATE attribute_instances SET instance = ?, observed_at = ?, modified_at = ?,"
            " dataset_id = ?, value_number = ? WHERE seq = ?",
            (
                orjson.dumps(inst).decode(),
                observed_at,
                now,
                inst.get("datasetId") or "",
                number,
                seq,
            ),
        )

    def delete_instance(self, seq: int) -> None:
        self.conn.execute("DELETE FROM attribute_instances WHERE seq = ?", (seq,))


class SqliteTemporalStore(TemporalStore):
    """The temporal store over SQLite: its rows on the store's connections (reads on reader
    threads, writes on the writer thread), pruning in small transactions."""

    def __init__(
        self,
        store: SqliteStore,
        instance_limit: int = 1000,
        retention_policy: RetentionPolicy | None = None,
        prune_interval: float = 3600.0,
        record: bool = True,
    ) -> None:
        super().__init__(instance_limit, retention_policy)
        self.store = store
        #: whether the entity API's changes are recorded (the ``history`` setting)
        self.record = record
        self._pruner = retention.Pruner(store, self.retention_policy, prune_interval)

    async def _read(self, fn: Callable[[TemporalRows], R], query: EntityQuery | None = None) -> R:
        return await self.store.run_read(lambda conn: fn(SqliteTemporalRows(conn)))

    async def _transaction(self, fn: Callable[[TemporalRows], R]) -> R:
        return await self.store.run_transaction(lambda conn: fn(SqliteTemporalRows(conn)))

    async def _write(self, tenant: str, fn: Callable[[Transaction, TemporalRows], R]) -> R:
        return await self.store.write(
            tenant, lambda tx: fn(tx, SqliteTemporalRows(cast(SqliteTransaction, tx).conn))
        )

    async def start(self) -> None:
        """Give entities created while history was off their head row; start pruning if a
        retention is set."""
        if self.record:
            await self.store.run_transaction(history.add_missing_heads)
        self._pruner.start()

    async def stop(self) -> None:
        await self._pruner.stop()

    async def prune(self, now: str | None = None) -> int:
        """Delete what the retention policy no longer keeps (small transactions)."""
        return await self._pruner.prune(now)

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
