"""Temporal provision and consumption over SQLite: SQLite's dialect of the temporal store's SQL
(``cityhub.store.temporal_sql``, ETSI GS CIM 009 v1.9.1 clauses 4.5.19, 4.11), the rows it
writes its own way (:class:`SqliteTemporalRows`) and :class:`SqliteTemporalStore`, which runs
the rules of ``cityhub.store.temporal.TemporalStore`` on them (reads on reader threads, writes
on the writer thread). ``history.py`` holds the write path, ``retention.py`` prunes.

Times in ``attribute_instances`` are text in one sortable form (``YYYY-MM-DDTHH:MM:SS.ffffffZ``),
so windows compare as text and a time turns into integer microseconds with ``julianday`` and the
fraction digits (:func:`_micros`). The period index: integer division of microseconds for exact
durations (weeks, days, hours, minutes, seconds); month arithmetic on the date parts for
calendar durations (months, years), with the day clamped to the month's end as
:class:`cityhub.ngsild.duration.Duration` does; and, for the rare mix of both (``P1M15D``), the
SQL function ``cityhub_period_index`` (:func:`register_functions`).

Its speed tricks: aggregation reads only the periods a response can carry (:func:`_cuts`, from
each attribute's time span found by index seeks, :func:`span_select`); the index that reads a
time window in time order is named; each series' type is read by its key through that index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import END_OF_TIME, Duration
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.base import EntityQuery, OrderItem, Transaction
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import history, retention
from cityhub.store.sqlite.entities import order_clause, where_clause
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.transaction import SqliteTransaction
from cityhub.store.temporal import R, RetentionPolicy, TemporalStore
from cityhub.store.temporal_sql import (
    Binds,
    Cuts,
    Found,
    Reading,
    Row,
    TemporalRows,
    aggregation_select,
    history_select,
    instance_filter,
    instances,
    time_column,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class QuestionMarks:
    """Values bound with ``?`` marks, in the order they appear in the text."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str = "text") -> str:
        self.values.append(value)
        return "?"


class SqliteTemporalDialect:
    """``cityhub.store.temporal_sql.TemporalDialect`` for SQLite (JSON as text)."""

    row_order = "t.rowid AS rowid"
    for_update = ""  # the writer thread holds the database: nothing to lock
    total = "total"
    value_json = (
        "coalesce(b.num, coalesce(b.body -> '$.value', b.body -> '$.object',"
        " b.body -> '$.languageMap', b.body -> '$.vocab', b.body -> '$.json',"
        " b.body -> '$.valueList', b.body -> '$.objectList'))"
    )
    size = (
        "CASE WHEN b.num IS NULL AND b.del IS NULL AND json_type(b.body, '$.value') = 'array'"
        " THEN json_array_length(b.body, '$.value') END"
    )
    string = (
        "CASE WHEN b.num IS NULL AND b.del IS NULL THEN CASE json_type(b.body, '$.value')"
        " WHEN 'text' THEN b.body ->> '$.value'"
        " WHEN 'object' THEN b.body ->> '$.value.\"@value\"' END END"
    )
    last_seq = "NULL"  # each series' type is read by its key (SqliteTemporalRows)
    group_origin = ""

    def binds(self) -> Binds:
        return QuestionMarks()

    def json_text(self, column: str) -> str:
        return column

    def time_text(self, expr: str) -> str:
        return expr

    def any_of(self, column: str, values: Sequence[Any], binds: Binds) -> str:
        return f"{column} IN ({','.join(binds.add(v) for v in values)})"

    def index(self, column: str) -> str:
        # the planner, without statistics, may pick the other index of the same prefix
        return " INDEXED BY attribute_instances_observed" if column == "h.observed_at" else ""

    def where(self, tenant: str, query: EntityQuery, binds: Binds) -> str:
        where, params = where_clause(tenant, query)
        binds.values.extend(params)
        return where

    def type_query(self, node: Node, binds: Binds) -> str:
        return qcompile.compile_type_query(node, binds.values, "e")

    def order(self, items: tuple[OrderItem, ...], binds: Binds) -> str:
        order, params = order_clause(items)
        binds.values.extend(params)
        return order

    def period_index(self, period: Duration | None, binds: Binds) -> str:
        return _period_index(period, "s.o", binds.values)

    def series_origin(self) -> str:
        return f"o, {_micros('o')} AS o_us"

    def fixed_origin(self, origin: str, binds: Binds) -> str:
        return (
            f"base b, (SELECT {binds.add(origin)} AS o, {binds.add(_origin_us(origin))} AS o_us) s"
        )


DIALECT = SqliteTemporalDialect()


def _micros(t: str) -> str:
    # whole seconds through julianday() (exact once rounded: SQLite keeps milliseconds), then
    # the six fraction digits of the text; several times cheaper than strftime('%s')
    return (
        f"(CAST(round((julianday(substr({t}, 1, 19)) - 2440587.5) * 86400) AS INTEGER) * 1000000"
        f" + CAST(substr({t}, 21, 6) AS INTEGER))"
    )


def _int(text: str) -> str:
    return f"CAST({text} AS INTEGER)"


def _period_index(period: Duration | None, origin: str, params: list[Any]) -> str:
    """SQL for the index of the period of ``b.t`` on the grid starting at ``origin`` (a time
    column; ``<origin>_us`` holds the same time in microseconds)."""
    if period is None:
        return "0"
    if period.months == 0:
        params.append(period.exact_microseconds)
        return f"(({_micros('b.t')} - {origin}_us) / ?)"
    if period.exact_microseconds == 0:
        # whole months between origin and t, one less when t is before the origin's day and
        # time-of-day in t's month (day clamped to the month's last day)
        months = (
            f"(({_int('substr(b.t, 1, 4)')} - {_int(f'substr({origin}, 1, 4)')}) * 12"
            f" + {_int('substr(b.t, 6, 2)')} - {_int(f'substr({origin}, 6, 2)')})"
        )
        last_day = _int("strftime('%d', b.t, 'start of month', '+1 month', '-1 day')")
        # every month has the origin's day when it is the 28th or before: no date arithmetic
        day = f"substr({origin}, 9, 2)"
        anchor_day = (
            f"CASE WHEN {day} <= '28' THEN {day}"
            f" ELSE printf('%02d', min({_int(day)}, {last_day})) END"
        )
        before = f"(substr(b.t, 9) < {anchor_day} || substr({origin}, 11))"
        params.append(period.months)
        return f"(({months} - {before}) / ?)"
    params.extend([period.months, period.exact_microseconds])
    return f"cityhub_period_index(b.t, {origin}, ?, ?)"


def span_select(tenant: str, ids: Sequence[str], reading: Reading) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, first t, last t)``: the time span of each attribute's
    instances in the query. Along observedAt it costs a few index seeks per attribute (the
    attributes are found by skipping through the index), whatever the history's length."""
    column, _ = time_column(reading.tq)
    if column == "h.observed_at" and reading.dataset_ids is None and reading.tq.last_n is None:
        return _span_by_seeks(tenant, ids, reading.tq, reading.attrs)
    binds = QuestionMarks()
    select = instances(DIALECT, binds, tenant, ids, reading, "h.entity_id, h.attr")
    return (
        f"SELECT entity_id, attr, min(t), max(t) FROM ({select}) x WHERE t IS NOT NULL"
        " GROUP BY entity_id, attr",
        binds.values,
    )


def _span_by_seeks(
    tenant: str, ids: Sequence[str], tq: TemporalQuery, attrs: Sequence[str] | None
) -> tuple[str, list[Any]]:
    start, end = tq.bounds()
    window = ""
    window_params: list[Any] = []
    if start is not None:
        window += " AND x.observed_at >= ?"
        window_params.append(start)
    if end is not None:
        window += " AND x.observed_at < ?"
        window_params.append(end)
    table = "attribute_instances x INDEXED BY attribute_instances_observed"
    key = "x.tenant = ? AND x.entity_id = p.e AND x.attr = p.a"
    params: list[Any] = []
    values = ",".join("(?)" for _ in ids)
    if attrs:
        pairs = (
            f"pairs(e, a) AS (SELECT i.column1, t.column1 FROM (VALUES {values}) i,"
            f" (VALUES {','.join('(?)' for _ in attrs)}) t)"
        )
        params.extend([*ids, *attrs])
    else:
        first = f"SELECT min(y.attr) FROM {table.replace(' x ', ' y ')} WHERE y.tenant = ?"
        pairs = (
            f"pairs(e, a) AS (SELECT i.column1, ({first} AND y.entity_id = i.column1)"
            f" FROM (VALUES {values}) i UNION ALL SELECT p.e, ({first} AND y.entity_id = p.e"
            " AND y.attr > p.a) FROM pairs p WHERE p.a IS NOT NULL)"
        )
        params.extend([tenant, *ids, tenant])
    sql = (
        f"WITH RECURSIVE {pairs} SELECT * FROM (SELECT p.e, p.a,"
        f" (SELECT min(x.observed_at) FROM {table} WHERE {key}{window}) AS first_t,"
        f" (SELECT max(x.observed_at) FROM {table} WHERE {key}{window}) AS last_t"
        " FROM pairs p WHERE p.a IS NOT NULL) WHERE first_t IS NOT NULL"
    )
    return sql, [*params, tenant, *window_params, tenant, *window_params]


def last_n_select(tenant: str, ids: Sequence[str], reading: Reading) -> tuple[str, list[Any]]:
    """:func:`~cityhub.store.temporal_sql.history_select` for a ``lastN`` read: per entity and
    attribute, its newest ``lastN`` instances found by walking the index backwards from the
    window's end and stopping there, instead of numbering every instance of the window (a
    year of hourly values for ``lastN=24``: 24 rows read, not 8,760). Same rows, same order."""
    tq = reading.tq
    assert tq.last_n is not None
    binds = QuestionMarks()
    column, _ = time_column(tq)
    values = ",".join("(?)" for _ in ids)
    if reading.attrs:
        names = ",".join("(?)" for _ in reading.attrs)
        pairs = (
            f"pairs(e, a) AS (SELECT i.column1, n.column1 FROM (VALUES {values}) i,"
            f" (VALUES {names}) n)"
        )
        binds.values.extend([*ids, *reading.attrs])
    else:  # each entity's attributes, by skipping through the index
        first = (
            "SELECT min(y.attr) FROM attribute_instances y INDEXED BY"
            " attribute_instances_observed WHERE y.tenant = ?"
        )
        pairs = (
            f"pairs(e, a) AS (SELECT i.column1, ({first} AND y.entity_id = i.column1)"
            f" FROM (VALUES {values}) i UNION ALL SELECT p.e, ({first} AND y.entity_id = p.e"
            " AND y.attr > p.a) FROM pairs p WHERE p.a IS NOT NULL)"
        )
        binds.values.extend([tenant, *ids, tenant])
    newest = (
        f"SELECT h.seq FROM attribute_instances h{DIALECT.index(column)} WHERE h.tenant ="
        f" {binds.add(tenant)} AND h.entity_id = p.e AND h.attr = p.a"
        f"{instance_filter(DIALECT, binds, reading)} ORDER BY {column} DESC, h.seq DESC"
        f" LIMIT {binds.add(tq.last_n)}"
    )
    outer = column.replace("h.", "z.")
    sql = (
        f"WITH RECURSIVE {pairs} SELECT z.entity_id, z.attr, z.instance_id, z.created_at,"
        f" z.modified_at, z.deleted_at, z.instance, {outer} AS t, z.seq FROM pairs p"
        f" JOIN attribute_instances z ON z.seq IN ({newest}) WHERE p.a IS NOT NULL"
        " ORDER BY 1, 2, t, z.seq"
    )
    return sql, binds.values


def _origin_us(origin: str) -> int:
    return int((parse_datetime(origin, "origin") - _EPOCH) / timedelta(microseconds=1))


def _period_index_fn(t: str, origin: str, months: int, exact_us: int) -> int:
    """``cityhub_period_index``: the period of ``t`` for durations mixing months and time."""
    period = Duration(months=months, exact=timedelta(microseconds=exact_us))
    return period.index_of(parse_datetime(origin, "origin"), parse_datetime(t, "t"))


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions aggregation may call (idempotent; cheap to call per query)."""
    conn.create_function("cityhub_period_index", 4, _period_index_fn, deterministic=True)


def _cuts(
    conn: sqlite3.Connection,
    tenant: str,
    ids: Sequence[str],
    reading: Reading,
    agg: AggregationQuery,
) -> tuple[Cuts | None, dict[tuple[str, str], datetime]]:
    """Where each attribute's first ``max_periods`` periods end, so aggregation reads and
    groups only the instances a response can carry (a history of 100,000 instances asked for
    in one-second periods is grouped 1,000 at a time, not whole). Returns the cuts (None when
    nothing needs cutting) and, per attribute cut, the time of its last instance."""
    if agg.period is None or agg.newest_first:
        return None, {}
    cuts: list[tuple[str, str, str | None]] = []
    ends: dict[tuple[str, str], datetime] = {}
    for entity_id, attr, first_text, last_text in conn.execute(*span_select(tenant, ids, reading)):
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


class SqliteTemporalRows(TemporalRows):
    """The temporal store's rows on one SQLite connection."""

    dialect = DIALECT

    def __init__(self, conn: sqlite3.Connection, tenant: str) -> None:
        super().__init__(tenant)
        self.conn = conn

    def _fetch(self, sql: str, values: list[Any]) -> Iterable[Row]:
        return self.conn.execute(sql, values)

    def _run(self, sql: str, values: list[Any]) -> int:
        return self.conn.execute(sql, values).rowcount

    def aggregation(
        self, ids: Sequence[str], reading: Reading, agg: AggregationQuery
    ) -> tuple[Iterable[Row], dict[tuple[str, str], datetime]]:
        register_functions(self.conn)
        cuts, cut_ends = _cuts(self.conn, self.tenant, ids, reading, agg)
        sql, values = aggregation_select(DIALECT, self.tenant, ids, reading, agg, cuts)
        return self.conn.execute(sql, values), cut_ends

    def history(self, ids: Sequence[str], reading: Reading) -> Iterable[Row]:
        if reading.tq.last_n is None or not ids:
            return super().history(ids, reading)
        return self.conn.execute(*last_n_select(self.tenant, ids, reading))

    def set_series_types(self, found: Found) -> None:
        for entity_id, attr, series, _ in found:
            row = self.conn.execute(
                "SELECT instance ->> '$.type' FROM attribute_instances INDEXED BY"
                " attribute_instances_observed WHERE tenant = ? AND entity_id = ?"
                " AND attr = ? AND dataset_id = ? LIMIT 1",
                (self.tenant, entity_id, attr, series.dataset_id or ""),
            ).fetchone()
            series.attr_type = (row[0] if row else None) or "Property"

    def upsert_instance(self, entity_id: str, attr: str, inst: Instance, now: str) -> None:
        history.upsert_instance(self.conn, self.tenant, entity_id, attr, inst, now)

    def upsert_instances(
        self, entity_id: str, attr: str, instances: Sequence[Instance], now: str
    ) -> None:
        history.upsert_instances(self.conn, self.tenant, entity_id, attr, instances, now)


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

    async def _read(
        self, tenant: str, fn: Callable[[TemporalRows], R], query: EntityQuery | None = None
    ) -> R:
        return await self.store.run_read(lambda conn: fn(SqliteTemporalRows(conn, tenant)))

    async def _transaction(self, tenant: str, fn: Callable[[TemporalRows], R]) -> R:
        return await self.store.run_transaction(lambda conn: fn(SqliteTemporalRows(conn, tenant)))

    async def _write(self, tenant: str, fn: Callable[[Transaction, TemporalRows], R]) -> R:
        return await self.store.write(
            tenant, lambda tx: fn(tx, SqliteTemporalRows(cast(SqliteTransaction, tx).conn, tenant))
        )

    async def start(self) -> None:
        """Give entities created while history was off their head row; start pruning if a
        retention is set."""
        if self.record:
            await self.store.run_transaction(history.add_missing_heads)
        await super().start()

    async def explain_history(self, tenant: str, entity_id: str, tq: TemporalQuery) -> list[str]:
        """SQLite's plan for reading one entity's history (tests prove the index is used)."""
        sql, params = history_select(DIALECT, tenant, [entity_id], Reading(tq))
        rows = await self.store.run_read(
            lambda conn: conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        )
        return [str(r[-1]) for r in rows]

    async def explain_aggregation(
        self, tenant: str, entity_id: str, tq: TemporalQuery, agg: AggregationQuery
    ) -> list[str]:
        """SQLite's plan for aggregating one entity's history."""
        sql, params = aggregation_select(DIALECT, tenant, [entity_id], Reading(tq), agg)

        def run(conn: sqlite3.Connection) -> list[Any]:
            register_functions(conn)
            return conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()

        return [str(r[-1]) for r in await self.store.run_read(run)]
