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
placeholder carries its cast (``Params``).

The rows are read through the view ``attribute_instances`` over the series and their compact
rows (``migrations/0013_history_series.sql``): an instance's time along observedAt, and the
default view's time, is the ``at`` that follows the series in the rows' key, so a window is
one range of the key. Instances kept without JSON are rebuilt in Python
(``cityhub.store.compact``); ``lastN`` along ``at`` reads each series' newest rows backwards
(:func:`_last_n_select`); each series' type is read from its first row; instances by id, and
whatever changes rows, go to the tables by their key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

import orjson

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.duration import Duration
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store import compact
from cityhub.store.base import EntityQuery, OrderItem, Transaction
from cityhub.store.postgres import compile as qcompile
from cityhub.store.postgres import days, history, retention
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
    instances,
    time_column,
)

_VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")


class PostgresTemporalDialect:
    """``cityhub.store.temporal_sql.TemporalDialect`` for PostgreSQL (JSONB, timestamptz)."""

    observed_time = "h.at"  # `at` is the observedAt of the rows that have one
    observed_present = "h.form IS NOT NULL"
    default_time = "h.at"
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
    last_seq = "NULL"  # each series' type is read by its key (PostgresTemporalRows)
    group_origin = ", b.o"

    def binds(self) -> Binds:
        return Params()

    def json_text(self, column: str) -> str:
        return f"{column}::text"

    def time_text(self, expr: str) -> str:
        return history.time_text(expr)

    def any_of(self, column: str, values: Sequence[Any], binds: Binds) -> str:
        return f"{column} = ANY({binds.add(list(values), 'text[]')})"

    def index(self, column: str) -> str:
        return ""

    def where(self, tenant: str, query: EntityQuery, binds: Binds) -> str:
        return where_clause(tenant, query, cast(Params, binds), q_index=False)  # heads' rows

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
        # numeric: exact whatever the span (a float epoch loses the microseconds); no cheaper
        # exact form was found (date_part fields summed as bigint: the same time per row, a
        # larger plan)
        step = params.add(period.exact_microseconds, "bigint") + "::numeric"
        return f"floor(extract(epoch FROM {_T} - {_O}) * 1000000 / {step})::bigint"
    if period.exact_microseconds == 0:
        # whole months from o to t: the calendar difference, one less when o plus that many
        # months (day clamped) is still after t; for an origin on day 28 or before nothing is
        # clamped, so that is t's day and time of day before o's
        months = (
            f"((date_part('year', {_T}) - date_part('year', {_O})) * 12"
            f" + date_part('month', {_T}) - date_part('month', {_O}))::integer"
        )
        early = (
            f"CASE WHEN date_part('day', {_O}) <= 28 THEN ({_T} - date_trunc('month', {_T}))"
            f" < ({_O} - date_trunc('month', {_O})) ELSE"
            f" {_O} + {months} * interval '1 month' > {_T} END"
        )
        whole = f"({months} - ({early})::integer)"
        return f"floor({whole}::float8 / {params.add(period.months, 'bigint')})::bigint"
    return (
        f"cityhub_period_index({_T}, {_O}, {params.add(period.months, 'integer')},"
        f" {params.add(period.exact_microseconds, 'bigint')})"
    )


#: what a history read takes of each row of the view: ``history_select``'s columns, with the
#: compact ones in place of the JSON (``_rebuilt`` makes the instance)
_COLUMNS = (
    "h.entity_id, h.attr, h.instance_id, h.created_at, h.modified_at, h.deleted_at,"
    " h.instance, h.value_number, h.form, h.at, h.seq"
)
_TT = history.time_text


def _outer(alias: str, t: str) -> str:
    a = alias
    return (
        f"{a}.entity_id, {a}.attr, {a}.instance_id, {_TT(a + '.created_at')},"
        f" {_TT(a + '.modified_at')}, {_TT(a + '.deleted_at')}, {a}.instance::text,"
        f" {a}.value_number, {a}.form, {_TT(a + '.at')}, {a}.seq, {_TT(t)}"
    )


def history_rows_select(
    tenant: str, ids: Sequence[str], reading: Reading, *, walk: bool = True
) -> tuple[str, list[Any]]:
    """The rows of :func:`_rebuilt`, in time order per entity and attribute: ``lastN`` along
    ``at`` by :func:`_last_n_select` (unless not ``walk``), the others by the temporal SQL
    written once."""
    column, _ = time_column(DIALECT, reading.tq)
    if walk and reading.tq.last_n is not None and column == "h.at":
        return _last_n_select(tenant, ids, reading)
    params = Params()
    select = instances(DIALECT, params, tenant, ids, reading, _COLUMNS)
    return f"SELECT {_outer('z', 'z.t')} FROM ({select}) z ORDER BY 1, 2, z.t, z.seq", params.values


def _last_n_select(tenant: str, ids: Sequence[str], reading: Reading) -> tuple[str, list[Any]]:
    """A ``lastN`` read along ``at``: per series, its ``lastN`` newest rows in the window,
    read backwards along the key (a year of hourly values for ``lastN=24``: 24 rows read, not
    8,760), in time order per entity and attribute. Several series of one attribute (datasetIds)
    may give more than ``lastN`` rows: :func:`_newest` keeps the newest ``lastN``."""
    tq = reading.tq
    assert tq.last_n is not None
    p = Params()
    where = f"s.tenant = {p.add(tenant)} AND s.entity_id = ANY({p.add(list(ids), 'text[]')})"
    if reading.attrs:
        where += f" AND s.attr = ANY({p.add(list(reading.attrs), 'text[]')})"
    if reading.dataset_ids is not None:
        chosen = [i or "" for i in reading.dataset_ids]
        where += f" AND s.dataset_id = ANY({p.add(chosen, 'text[]')})"
    window = " AND r.form IS NOT NULL" if time_column(DIALECT, tq)[1] else ""
    start, end = tq.bounds()
    if start is not None:
        window += f" AND r.at >= {p.add(start, 'text::timestamptz')}"
    if end is not None:
        window += f" AND r.at < {p.add(end, 'text::timestamptz')}"
    newest = (
        "SELECT s.tenant, s.entity_id, s.attr, s.dataset_id, r.series,"
        " coalesce(r.instance_id, 'urn:ngsi-ld:Instance:' || r.seq) AS instance_id,"
        " coalesce(r.created, r.at) AS created_at, coalesce(r.modified, r.created, r.at)"
        " AS modified_at, r.deleted AS deleted_at, r.body AS instance, r.num AS value_number,"
        f" r.form, r.at, r.seq FROM history_instances r WHERE r.series = s.id{window}"
        f" ORDER BY r.at DESC, r.seq DESC LIMIT {p.add(tq.last_n, 'bigint')}"
    )
    sql = (
        f"SELECT {_outer('z', 'z.at')} FROM history_series s CROSS JOIN LATERAL ({newest}) z"
        f" WHERE {where} ORDER BY 1, 2, z.at, z.seq"
    )
    return sql, p.values


def _newest(rows: Iterable[Row], n: int) -> Iterator[Row]:
    """The last ``n`` rows of each entity and attribute (rows in time order per both)."""
    kept: deque[Row] = deque(maxlen=n)
    key: tuple[Any, Any] | None = None
    for r in rows:
        if (r[0], r[1]) != key:
            yield from kept
            kept.clear()
            key = (r[0], r[1])
        kept.append(r)
    yield from kept


def _rebuilt(rows: Iterable[Row]) -> Iterator[Row]:
    """``history_select``'s rows from :func:`history_rows_select`'s: the instance rebuilt
    from the compact columns where the row keeps no JSON."""
    for r in rows:
        body = r[6] if r[6] is not None else compact.POSTGRES.decode(r[7], r[8], r[9])
        yield (r[0], r[1], r[2], r[3], r[4], r[5], body, r[11], r[10])


class PostgresTemporalRows(TemporalRows):
    """The temporal store's rows on one pooled connection."""

    dialect = DIALECT

    def __init__(self, conn: SyncConnection, tenant: str) -> None:
        super().__init__(tenant)
        self.conn = conn
        #: seq -> (entity, attribute, the row's columns) of the instances find_instance found
        self._found: dict[int, tuple[str, str, Row]] = {}

    def _fetch(self, sql: str, values: list[Any]) -> Iterable[Row]:
        rows: list[Row] = self.conn.fetch(sql, *values)
        return rows

    def _run(self, sql: str, values: list[Any]) -> int:
        return rowcount(self.conn.execute(sql, *values))

    def aggregation(
        self, ids: Sequence[str], reading: Reading, agg: AggregationQuery
    ) -> tuple[Iterable[Row], dict[tuple[str, str], datetime]]:
        rolled = days.aggregate(self.conn, self.tenant, ids, reading, agg)
        if rolled is not None:  # whole days, exact methods: the daily rollups answer
            return rolled
        return super().aggregation(ids, reading, agg)

    def history(self, ids: Sequence[str], reading: Reading) -> Iterable[Row]:
        if not ids:
            return []
        sql, values = history_rows_select(self.tenant, ids, reading)
        rows: Iterable[Row] = self.conn.fetch(sql, *values)
        if reading.tq.last_n is not None and "CROSS JOIN LATERAL" in sql:
            rows = _newest(rows, reading.tq.last_n)
        return _rebuilt(rows)

    def set_series_types(self, found: Found) -> None:
        if not found:
            return
        keys = [(e, a, s.dataset_id or "") for e, a, s, _ in found]
        types = {
            (r[0], r[1], r[2]): r[3]
            for r in self.conn.fetch(
                "SELECT s.entity_id, s.attr, s.dataset_id, (SELECT coalesce(r.body ->> 'type',"
                " 'Property') FROM history_instances r WHERE r.series = s.id ORDER BY r.at"
                " LIMIT 1) FROM unnest($2::text[], $3::text[], $4::text[]) AS u(e, a, d)"
                " JOIN history_series s ON s.tenant = $1 AND s.entity_id = u.e AND s.attr = u.a"
                " AND s.dataset_id = u.d",
                self.tenant,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
            )
        }
        for key, (_, _, found_series, _) in zip(keys, found, strict=True):
            found_series.attr_type = types.get(key) or "Property"

    def upsert_instance(self, entity_id: str, attr: str, inst: Instance, now: str) -> None:
        history.upsert_instance(self.conn, self.tenant, entity_id, attr, inst, now)

    def upsert_instances(
        self, entity_id: str, attr: str, instances: Sequence[Instance], now: str
    ) -> None:
        history.upsert_instances(self.conn, self.tenant, entity_id, attr, instances, now)

    # ---- instances by id: a row's key is (series, at, seq), found by its entity, attribute
    # and instance id; update_instance and delete_instance use the key find_instance found
    def find_instance(
        self, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, Instance] | None:
        seq = compact.seq_of(instance_id)
        if seq is not None:
            match, value = "r.seq = $4 AND r.instance_id IS NULL", cast(Any, seq)
        else:
            match, value = "r.instance_id = $4::text", instance_id
        row = self.conn.fetchrow(
            f"SELECT r.seq, r.series, {_TT('r.at')}, r.form, {_TT('r.created')},"
            f" {_TT('r.deleted')}, r.instance_id, r.body::text, r.num FROM history_series s"
            " JOIN history_instances r ON r.series = s.id WHERE s.tenant = $1 AND"
            f" s.entity_id = $2 AND s.attr = $3 AND {match}",
            self.tenant,
            entity_id,
            attr,
            value,
        )
        if row is None:
            return None
        self._found[int(row[0])] = (entity_id, attr, tuple(row))
        body = (
            orjson.loads(row[7])
            if row[7] is not None
            else compact.POSTGRES.decode(row[8], row[3], row[2])
        )
        return int(row[0]), body

    def update_instance(
        self, seq: int, inst: Instance, observed_at: str | None, number: float | None, now: str
    ) -> None:
        entity_id, attr, old = self._found[seq]
        _, _, old_at, old_form, old_created, deleted, instance_id, _, _ = old
        created = old_created if old_form is not None else old_at
        self.delete_instance(seq)
        text, form = compact.POSTGRES.encode(orjson.dumps(inst).decode(), number, observed_at)
        key = (entity_id, attr, inst.get("datasetId") or "")
        at = observed_at or created
        row: history.Pending = (
            key,
            at,
            seq,
            number,
            form,
            created if observed_at else None,
            now,
            deleted,
            instance_id,
            text,
        )
        history.insert(self.conn, self.tenant, [row])
        series_id = history.series_ids(self.conn, self.tenant, [key])[key]
        self._found[seq] = (
            entity_id,
            attr,
            (seq, series_id, at, form, row[5], deleted, instance_id, text, number),
        )

    def delete_instance(self, seq: int) -> None:
        _, _, old = self._found[seq]
        self.conn.execute(
            "DELETE FROM history_instances WHERE series = $1 AND at = $2::text::timestamptz"
            " AND seq = $3",
            old[1],
            old[2],
            seq,
        )

    def delete_history(self, entity_id: str) -> bool:
        # the series stay (ids found once stay valid); their rows go
        self.conn.execute(
            "DELETE FROM history_instances WHERE series IN (SELECT id FROM history_series"
            " WHERE tenant = $1 AND entity_id = $2)",
            self.tenant,
            entity_id,
        )
        gone = self.conn.execute(
            "DELETE FROM temporal_entities WHERE tenant = $1 AND id = $2", self.tenant, entity_id
        )
        self.conn.execute(
            "DELETE FROM temporal_types WHERE tenant = $1 AND id = $2", self.tenant, entity_id
        )
        return rowcount(gone) > 0

    def delete_attribute(
        self, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        where = "tenant = $1 AND entity_id = $2 AND attr = $3"
        args: list[Any] = [self.tenant, entity_id, attr]
        if not delete_all:
            where += " AND dataset_id = $4"
            args.append(dataset_id or "")
        return rowcount(
            self.conn.execute(
                "DELETE FROM history_instances WHERE series IN (SELECT id FROM history_series"
                f" WHERE {where})",
                *args,
            )
        )


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
        sql, params = history_rows_select(tenant, [entity_id], Reading(tq))
        rows = await self.store.fetch(f"EXPLAIN {sql}", *params)
        return [str(r[0]) for r in rows]


__all__ = ["PostgresTemporalStore"]
