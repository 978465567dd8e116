"""Temporal provision and consumption over PostgreSQL: PostgreSQL's dialect of the temporal
store's SQL (``cityhub.store.temporal_sql``, ETSI GS CIM 009 v1.9.1 clauses 4.5.19, 4.11), the
rows it writes its own way (:class:`PostgresTemporalRows`) and :class:`PostgresTemporalStore`,
which runs the rules of ``cityhub.store.temporal.TemporalStore`` on them (pooled connections;
writes lock the entity's head row ``FOR UPDATE``, so two workers adding instances to one
temporal entity at once serialise). ``history.py`` holds the write path, ``retention.py``
prunes.

Times are ``timestamptz``, read as the hub's text (``to_char``); period arithmetic
runs on their UTC ``timestamp``: exact durations divide ``extract(epoch ...)`` microseconds,
calendar durations count whole months with PostgreSQL's interval arithmetic (which clamps the
day to the month's end, as :class:`cityhub.ngsild.duration.Duration` does), and the rare mix of
both calls ``cityhub_period_index`` (``migrations/0003_history.sql``). JSON is ``jsonb``; every
placeholder carries its cast (``Params``). Each series' type is read by the ``seq`` of one of
its instances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from cityhub.ngsild.duration import Duration
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery, OrderItem, Transaction
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import history, retention
from cityhub.store.postgres.bridge import SyncConnection, rowcount
from cityhub.store.postgres.entities import carries_pattern, order_clause, where_clause
from cityhub.store.postgres.params import Params
from cityhub.store.postgres.store import PostgresStore
from cityhub.store.postgres.transaction import PostgresTransaction
from cityhub.store.retention import RetentionPolicy
from cityhub.store.temporal import R, TemporalStore
from cityhub.store.temporal_sql import (
    Binds,
    Found,
    Reading,
    Row,
    TemporalRows,
    history_select,
)

_VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")


class PostgresTemporalDialect:
    """``cityhub.store.temporal_sql.TemporalDialect`` for PostgreSQL (JSONB, timestamptz)."""

    observed_time = "h.observed_at"
    observed_present = "h.observed_at IS NOT NULL"
    default_time = "coalesce(h.observed_at, h.created_at)"
    row_order = "t.seq AS seq"
    for_update = " FOR UPDATE"
    total = "sum"
    value_json = (
        "coalesce(to_jsonb(b.num), " + ", ".join(f"b.body -> '{m}'" for m in _VALUE_MEMBERS) + ")"
    )
    size = (
        "CASE WHEN b.num IS NULL AND b.del IS NULL AND jsonb_typeof(b.body -> 'value') = 'array'"
        " THEN jsonb_array_length(b.body -> 'value')::float8 END"
    )
    string = (
        "(CASE WHEN b.num IS NULL AND b.del IS NULL THEN CASE jsonb_typeof(b.body -> 'value')"
        " WHEN 'string' THEN b.body ->> 'value'"
        " WHEN 'object' THEN b.body -> 'value' ->> '@value' END END) COLLATE \"C\""
    )
    last_seq = "max(b.seq) AS last_seq"  # each series' type is read by one of these
    group_origin = ", b.o"

    def binds(self) -> Binds:
        return Params()

    def json_text(self, column: str) -> str:
        return f"{column}::text"

    def time_text(self, expr: str) -> str:
        return f"""to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

    def any_of(self, column: str, values: Sequence[Any], binds: Binds) -> str:
        return f"{column} = ANY({binds.add(list(values), 'text[]')})"

    def index(self, column: str) -> str:
        return ""

    def where(self, tenant: str, query: EntityQuery, binds: Binds) -> str:
        return where_clause(tenant, query, cast(Params, binds))

    def type_query(self, node: Node, binds: Binds) -> str:
        return qcompile.compile_type_query(node, cast(Params, binds), "e")

    def order(self, items: tuple[OrderItem, ...], binds: Binds) -> str:
        return order_clause(items, cast(Params, binds))

    def period_index(self, period: Duration | None, binds: Binds) -> str:
        return _period_index(period, cast(Params, binds))

    def series_origin(self) -> str:
        return "o"

    def fixed_origin(self, origin: str, binds: Binds) -> str:
        return f"base b CROSS JOIN (SELECT {binds.add(origin)}::timestamptz AS o) s"


DIALECT = PostgresTemporalDialect()


_T = "(b.t AT TIME ZONE 'UTC')"
_O = "(s.o AT TIME ZONE 'UTC')"


def _period_index(period: Duration | None, params: Params) -> str:
    """SQL for the index of the period of ``b.t`` on the grid starting at ``s.o``."""
    if period is None:
        return "0::bigint"
    if period.months == 0:
        step = params.add(period.exact_microseconds, "bigint") + "::numeric"
        return f"floor(extract(epoch FROM {_T} - {_O}) * 1000000 / {step})::bigint"
    if period.exact_microseconds == 0:
        # whole months from o to t: the calendar difference, one less when o plus that many
        # months (day clamped) is still after t
        months = (
            f"((extract(year FROM {_T}) - extract(year FROM {_O})) * 12"
            f" + extract(month FROM {_T}) - extract(month FROM {_O}))::integer"
        )
        whole = f"({months} - ({_O} + {months} * interval '1 month' > {_T})::integer)"
        return f"floor({whole} / {params.add(period.months, 'bigint')}::numeric)::bigint"
    return (
        f"cityhub_period_index({_T}, {_O}, {params.add(period.months, 'integer')},"
        f" {params.add(period.exact_microseconds, 'bigint')})"
    )


class PostgresTemporalRows(TemporalRows):
    """The temporal store's rows on one pooled connection."""

    dialect = DIALECT

    def __init__(self, conn: SyncConnection, tenant: str) -> None:
        super().__init__(tenant)
        self.conn = conn

    def _fetch(self, sql: str, values: list[Any]) -> Iterable[Row]:
        rows: list[Row] = self.conn.fetch(sql, *values)
        return rows

    def _run(self, sql: str, values: list[Any]) -> int:
        return rowcount(self.conn.execute(sql, *values))

    def set_series_types(self, found: Found) -> None:
        by_seq = {int(seq): series for _, _, series, seq in found if seq is not None}
        if by_seq:
            for seq, attr_type in self.conn.fetch(
                "SELECT seq, instance ->> 'type' FROM attribute_instances"
                " WHERE seq = ANY($1::bigint[])",
                list(by_seq),
            ):
                by_seq[int(seq)].attr_type = attr_type or "Property"

    def upsert_instance(self, entity_id: str, attr: str, inst: Instance, now: str) -> None:
        history.upsert_instance(self.conn, self.tenant, entity_id, attr, inst, now)


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

    async def _read(
        self, tenant: str, fn: Callable[[TemporalRows], R], query: EntityQuery | None = None
    ) -> R:
        return await self.store.run_read(
            lambda conn: fn(PostgresTemporalRows(conn, tenant)),
            bounded=query is not None and carries_pattern(query),
        )

    async def _transaction(self, tenant: str, fn: Callable[[TemporalRows], R]) -> R:
        return await self.store.run_transaction(lambda conn: fn(PostgresTemporalRows(conn, tenant)))

    async def _write(self, tenant: str, fn: Callable[[Transaction, TemporalRows], R]) -> R:
        return await self.store.write(
            tenant,
            lambda tx: fn(tx, PostgresTemporalRows(cast(PostgresTransaction, tx).conn, tenant)),
        )

    async def explain_history(self, tenant: str, entity_id: str, tq: TemporalQuery) -> list[str]:
        """PostgreSQL's plan for reading one entity's history (tests prove the index is used)."""
        sql, params = history_select(DIALECT, tenant, [entity_id], Reading(tq))
        rows = await self.store.fetch(f"EXPLAIN {sql}", *params)
        return [str(r[0]) for r in rows]


__all__ = ["PostgresTemporalStore"]
