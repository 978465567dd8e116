"""Temporal provision and consumption over SQLite: SQLite's dialect of the temporal store's SQL
(``cityhub.store.temporal_sql``, ETSI GS CIM 009 v1.9.1 clauses 4.5.19, 4.11), the rows it
writes its own way (:class:`SqliteTemporalRows`) and :class:`SqliteTemporalStore`, which runs
the rules of ``cityhub.store.temporal.TemporalStore`` on them (reads on reader threads, writes
on the writer thread). ``history.py`` holds the write path, ``retention.py`` prunes.

The rows are read through the view ``attribute_instances`` over the series and their compact
rows (``series.py``): an instance's time along observedAt, and the default view's time (its
observedAt, else when it was recorded), is the ``at`` that follows the series in the rows' key,
so a window is one range of the key. Times are integer microseconds since the epoch
(migration 0016, ``series.micros``): a bound time (:data:`TIME`) binds as such, and times are
formatted when read (``series.text_of``; ``series.sql_text`` in aggregation). The period index:
integer division of microseconds for exact durations (weeks, days, hours, minutes, seconds);
for calendar durations (months, years) whole months between origin and time (SQLite's date
functions on the seconds), with the day clamped to the month's end as
:class:`cityhub.ngsild.duration.Duration` does; and, for the rare mix of both (``P1M15D``),
``Duration`` itself (``cityhub_period_index``; :func:`register_functions`).

Its speed tricks: aggregation reads only the periods a response can carry (:func:`_cuts`, from
each attribute's time span found by seeks into each series' rows, :func:`span_select`);
``lastN`` walks each series' rows backwards (:func:`_last_n_select`); each series' type is read
from its first row. Instances kept compactly (no JSON) are rebuilt in Python (:func:`_rebuilt`).
"""

from __future__ import annotations

import functools
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import orjson

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import END_OF_TIME, Duration, days_in_month
from cityhub.ngsild.entity import Instance
from cityhub.ngsild.query.ast import Node
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store import compact
from cityhub.store.base import EntityQuery, OrderItem, Transaction
from cityhub.store.retention import RetentionPolicy
from cityhub.store.sqlite import compile as qcompile
from cityhub.store.sqlite import days, history, retention, series
from cityhub.store.sqlite.entities import order_clause, where_clause
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.transaction import SqliteTransaction
from cityhub.store.temporal import R, TemporalStore
from cityhub.store.temporal_sql import (
    TIME,
    Binds,
    Cuts,
    Found,
    Reading,
    Row,
    TemporalRows,
    aggregation_select,
    instances,
    time_column,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()


class QuestionMarks:
    """Values bound with ``?`` marks, in the order they appear in the text."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str = "text") -> str:
        # a time binds as the history stores it (migration 0016): integer microseconds
        self.values.append(series.micros(value) if cast == TIME and value is not None else value)
        return "?"


class SqliteTemporalDialect:
    """``cityhub.store.temporal_sql.TemporalDialect`` for SQLite (JSON as text)."""

    observed_time = "h.at"  # `at` is the observedAt of the rows that have one (series.py)
    observed_present = "h.form IS NOT NULL"
    default_time = "h.at"
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
        return series.sql_text(expr)

    def any_of(self, column: str, values: Sequence[Any], binds: Binds) -> str:
        return f"{column} IN ({','.join(binds.add(v) for v in values)})"

    def index(self, column: str) -> str:
        return ""  # the view's one way in: the series' key, then the rows' (series, at)

    def where(self, tenant: str, query: EntityQuery, binds: Binds) -> str:
        where, params = where_clause(tenant, query, q_index=False)  # deleted entities too
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
        return (
            f"o, o AS o_us, {_sql_month('o')} AS o_month, {_sql_day_of_month('o')} AS o_day,"
            f" {_sql_time_of_day('o')} AS o_tod"
        )

    def fixed_origin(self, origin: str, binds: Binds) -> str:
        us = series.micros(origin)
        moment = _moment(us)
        parts = (
            f"{binds.add(us)} AS o, {binds.add(us)} AS o_us,"
            f" {binds.add(moment.year * 12 + moment.month - 1)} AS o_month,"
            f" {binds.add(moment.day)} AS o_day, {binds.add(us % series.DAY_US)} AS o_tod"
        )
        return f"base b, (SELECT {parts}) s"


DIALECT = SqliteTemporalDialect()


def _period_index(period: Duration | None, origin: str, params: list[Any]) -> str:
    """SQL for the index of the period of ``b.t`` on the grid starting at ``origin`` (a time
    column; ``<origin>_us`` holds the same time; both in microseconds)."""
    if period is None:
        return "0"
    if period.months == 0:
        params.append(period.exact_microseconds)
        return f"((b.t - {origin}_us) / ?)"
    if period.exact_microseconds == 0:
        params.append(period.months)
        return f"cityhub_months_index(b.t, {origin}_month, {origin}_day, {origin}_tod, ?)"
    params.extend([period.months, period.exact_microseconds])
    return f"cityhub_period_index(b.t, {origin}, ?, ?)"


def _sql_seconds(t: str) -> str:
    """A stored time's whole seconds since the epoch (a floor, before 1970 too)."""
    return f"(({t} - ((({t} % 1000000) + 1000000) % 1000000)) / 1000000)"


def _sql_month(t: str) -> str:
    """A stored time's calendar month as ``year * 12 + month - 1``."""
    ym = f"strftime('%Y%m', {_sql_seconds(t)}, 'unixepoch')"
    return f"(CAST(substr({ym}, 1, 4) AS INTEGER) * 12 + CAST(substr({ym}, 5) AS INTEGER) - 1)"


def _sql_day_of_month(t: str) -> str:
    return f"CAST(strftime('%d', {_sql_seconds(t)}, 'unixepoch') AS INTEGER)"


def _sql_time_of_day(t: str) -> str:
    return f"((({t} % {series.DAY_US}) + {series.DAY_US}) % {series.DAY_US})"


def _series(tenant: str, ids: Sequence[str], reading: Reading, params: list[Any]) -> str:
    """The series (``id, entity_id, attr``) of a read's entities, attributes and datasetIds."""
    where = f"s.tenant = ? AND s.entity_id IN ({','.join('?' * len(ids))})"
    params.extend([tenant, *ids])
    if reading.attrs:
        where += f" AND s.attr IN ({','.join('?' * len(reading.attrs))})"
        params.extend(reading.attrs)
    if reading.dataset_ids is not None:
        where += f" AND s.dataset_id IN ({','.join('?' * len(reading.dataset_ids))})"
        params.extend(i or "" for i in reading.dataset_ids)
    return f"SELECT s.id, s.entity_id, s.attr FROM history_series s WHERE {where}"


def _window(reading: Reading, alias: str, params: list[Any]) -> str:
    """``AND`` conditions on ``history_instances <alias>`` for a read along ``at``."""
    _, required = time_column(DIALECT, reading.tq)
    sql = f" AND {alias}.form IS NOT NULL" if required else ""
    start, end = reading.tq.bounds()
    if start is not None:
        sql += f" AND {alias}.at >= ?"
        params.append(series.micros(start))
    if end is not None:
        sql += f" AND {alias}.at < ?"
        params.append(series.micros(end))
    return sql


def span_select(tenant: str, ids: Sequence[str], reading: Reading) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, first t, last t)``: the time span of each attribute's
    instances in the query. Along observedAt (or the default time) it costs two seeks per
    series, whatever the history's length."""
    column, _ = time_column(DIALECT, reading.tq)
    if column == "h.at" and reading.tq.last_n is None:
        first_params: list[Any] = []
        last_params: list[Any] = []
        series_params: list[Any] = []
        first = _window(reading, "x", first_params)
        last = _window(reading, "x", last_params)
        chosen = _series(tenant, ids, reading, series_params)
        rows = "SELECT x.at FROM history_instances x WHERE x.series = s.id"
        sql = (
            f"SELECT entity_id, attr, min(first_t), max(last_t) FROM (SELECT s.entity_id,"
            f" s.attr, ({rows}{first} ORDER BY x.at LIMIT 1) AS first_t,"
            f" ({rows}{last} ORDER BY x.at DESC LIMIT 1) AS last_t FROM ({chosen}) s)"
            " WHERE first_t IS NOT NULL GROUP BY entity_id, attr"
        )
        return sql, [*first_params, *last_params, *series_params]
    binds = QuestionMarks()
    select = instances(DIALECT, binds, tenant, ids, reading, "h.entity_id, h.attr")
    return (
        f"SELECT entity_id, attr, min(t), max(t) FROM ({select}) x WHERE t IS NOT NULL"
        " GROUP BY entity_id, attr",
        binds.values,
    )


#: what a history read takes of each row of the view: ``history_select``'s columns, with the
#: compact ones in place of the JSON (``_rebuilt`` makes the instance)
_COLUMNS = (
    "h.entity_id, h.attr, h.instance_id, h.created_at, h.modified_at, h.deleted_at, h.instance,"
    " h.value_number, h.form, h.at, h.seq"
)


def history_rows_select(
    tenant: str, ids: Sequence[str], reading: Reading, *, walk: bool = True
) -> tuple[str, list[Any]]:
    """The rows of :func:`_rebuilt`, in time order per entity and attribute: ``lastN`` along
    ``at`` by :func:`_last_n_select` (unless not ``walk``: tests compare the two), the others
    by the temporal SQL written once."""
    column, _ = time_column(DIALECT, reading.tq)
    if walk and reading.tq.last_n is not None and column == "h.at":
        return _last_n_select(tenant, ids, reading)
    binds = QuestionMarks()
    select = instances(DIALECT, binds, tenant, ids, reading, _COLUMNS)
    columns = _COLUMNS.replace("h.", "z.")
    return f"SELECT {columns}, z.t FROM ({select}) z ORDER BY 1, 2, z.t, z.seq", binds.values


def _last_n_select(tenant: str, ids: Sequence[str], reading: Reading) -> tuple[str, list[Any]]:
    """A ``lastN`` read along ``at``: per series, its rows from the ``lastN``-th newest on,
    found by walking the series' rows backwards (a year of hourly values for ``lastN=24``:
    24 rows read, not 8,760), in time order per entity and attribute. A series of the same
    attribute (another datasetId), or ties at the ``lastN``-th time, may give more than
    ``lastN`` rows: :func:`_newest` keeps the newest ``lastN`` (SQLite's ``row_number()``
    window took three times as long as the whole read)."""
    tq = reading.tq
    assert tq.last_n is not None
    nth_params: list[Any] = []
    rows_params: list[Any] = []
    series_params: list[Any] = []
    nth = _window(reading, "x", nth_params)
    nth_params.append(tq.last_n - 1)
    window = _window(reading, "r", rows_params)
    chosen = _series(tenant, ids, reading, series_params)
    oldest = (
        f"coalesce((SELECT x.at FROM history_instances x WHERE x.series = s.id{nth}"
        f" ORDER BY x.at DESC LIMIT 1 OFFSET ?), {-(2**63)})"
    )
    sql = (
        f"SELECT s.entity_id, s.attr, {series.VIEW_COLUMNS}, r.at FROM ({chosen}) s"
        f" JOIN history_instances r ON r.series = s.id AND r.at >= {oldest}{window}"
        " ORDER BY 1, 2, r.at, r.seq"
    )
    return sql, [*series_params, *nth_params, *rows_params]


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


def history_rows(
    conn: sqlite3.Connection,
    tenant: str,
    ids: Sequence[str],
    reading: Reading,
    *,
    walk: bool = True,
) -> Iterable[Row]:
    """``history_select``'s rows (the temporal SQL written once), each instance as JSON text
    or rebuilt: :func:`history_rows_select` run, trimmed to ``lastN`` when it walked."""
    sql, params = history_rows_select(tenant, ids, reading, walk=walk)
    rows: Iterable[Row] = conn.execute(sql, params)
    if walk and reading.tq.last_n is not None and "ORDER BY x.at DESC LIMIT 1 OFFSET" in sql:
        rows = _newest(rows, reading.tq.last_n)
    return _rebuilt(rows)


def _rebuilt(rows: Iterable[Row]) -> Iterator[Row]:
    """``history_select``'s rows from :func:`history_rows_select`'s: the instance rebuilt
    from the compact columns where the row keeps no JSON."""
    text = _text
    for r in rows:
        body = r[6] if r[6] is not None else compact.SQLITE.decode(r[7], r[8], text(r[9]))
        deleted = None if r[5] is None else text(r[5])
        created = text(r[3])
        modified = created if r[4] is None else text(r[4])  # the lastN walk leaves it NULL
        yield (r[0], r[1], r[2], created, modified, deleted, body, text(r[11]), r[10])


#: a read's times in text: an instance's recording time is often its neighbours' (one batch)
_text = functools.lru_cache(maxsize=8192)(series.text_of)


def _moment(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


_origin_moment = functools.lru_cache(maxsize=64)(_moment)


@functools.lru_cache(maxsize=65536)
def _civil(days: int) -> tuple[int, int, int]:
    """A day number's month (``year * 12 + month - 1``), day of the month, and its month's
    length (an hourly series asks each day 24 times)."""
    d = date.fromordinal(days + _EPOCH_ORDINAL)
    return d.year * 12 + d.month - 1, d.day, days_in_month(d.year, d.month)


def _months_index_fn(t: int, o_month: int, o_day: int, o_tod: int, months: int) -> int:
    """``cityhub_months_index``: the period of ``t`` for a calendar duration (``P1M``,
    ``P1Y``) from an origin given by its month, day and time of day: whole months between
    them, one less when ``t`` is before the origin's day and time of day in its month (the day
    clamped to the month's last day, as :class:`cityhub.ngsild.duration.Duration` does),
    divided by the duration's months (truncated, as SQL's ``/``)."""
    days, tod = divmod(t, series.DAY_US)
    month, day, last = _civil(days)
    passed = month - o_month - ((day, tod) < (min(o_day, last), o_tod))
    return passed // months if passed >= 0 else -(-passed // months)


def _period_index_fn(t: int, origin: int, months: int, exact_us: int) -> int:
    """``cityhub_period_index``: the period of ``t`` for durations mixing months and time."""
    period = Duration(months=months, exact=timedelta(microseconds=exact_us))
    return period.index_of(_origin_moment(origin), _moment(t))


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions aggregation may call (idempotent; cheap to call per query)."""
    conn.create_function("cityhub_period_index", 4, _period_index_fn, deterministic=True)
    conn.create_function("cityhub_months_index", 5, _months_index_fn, deterministic=True)


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
    for entity_id, attr, first_us, last_us in conn.execute(*span_select(tenant, ids, reading)):
        first = _moment(first_us)
        origin = parse_datetime(agg.origin, "origin") if agg.origin else first
        end = agg.period.add_to(origin, agg.period.index_of(origin, first) + agg.max_periods)
        last = _moment(last_us)
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
        #: seq -> (entity, attribute, the row's columns) of the instances find_instance found
        self._found: dict[int, tuple[str, str, Row]] = {}

    def _fetch(self, sql: str, values: list[Any]) -> Iterable[Row]:
        return self.conn.execute(sql, values)

    def _run(self, sql: str, values: list[Any]) -> int:
        return self.conn.execute(sql, values).rowcount

    def aggregation(
        self, ids: Sequence[str], reading: Reading, agg: AggregationQuery
    ) -> tuple[Iterable[Row], dict[tuple[str, str], datetime]]:
        rolled = days.aggregate(self.conn, self.tenant, ids, reading, agg)
        if rolled is not None:  # whole days, exact methods: the daily rollups answer
            return rolled
        register_functions(self.conn)
        cuts, cut_ends = _cuts(self.conn, self.tenant, ids, reading, agg)
        sql, values = aggregation_select(DIALECT, self.tenant, ids, reading, agg, cuts)
        return self.conn.execute(sql, values), cut_ends

    def history(self, ids: Sequence[str], reading: Reading) -> Iterable[Row]:
        if not ids:
            return []
        return history_rows(self.conn, self.tenant, ids, reading)

    def set_series_types(self, found: Found) -> None:
        for entity_id, attr, found_series, _ in found:
            row = self.conn.execute(
                "SELECT CASE WHEN r.body IS NULL THEN 'Property' ELSE r.body ->> '$.type' END"
                " FROM history_series s JOIN history_instances r ON r.series = s.id"
                " WHERE s.tenant = ? AND s.entity_id = ? AND s.attr = ? AND s.dataset_id = ?"
                " ORDER BY r.at LIMIT 1",
                (self.tenant, entity_id, attr, found_series.dataset_id or ""),
            ).fetchone()
            found_series.attr_type = (row[0] if row else None) or "Property"

    # ---- instances by id: a row's key is (series, at, seq), found by its entity, attribute
    # and instance id; update_instance and delete_instance use the key find_instance found
    def find_instance(
        self, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, Instance] | None:
        seq = compact.seq_of(instance_id)
        match = "r.seq = ? AND r.instance_id IS NULL" if seq is not None else "r.instance_id = ?"
        row = self.conn.execute(
            f"SELECT r.seq, r.series, r.at, r.form, {series.CREATED}, r.deleted, r.instance_id,"
            " r.body, r.num FROM history_series s JOIN history_instances r ON r.series = s.id"
            f" WHERE s.tenant = ? AND s.entity_id = ? AND s.attr = ? AND {match}",
            (self.tenant, entity_id, attr, seq if seq is not None else instance_id),
        ).fetchone()
        if row is None:
            return None
        self._found[int(row[0])] = (entity_id, attr, row)
        return int(row[0]), series.instance_of(row[7], row[8], row[3], row[2])

    def update_instance(
        self, seq: int, inst: Instance, observed_at: str | None, number: float | None, now: str
    ) -> None:
        entity_id, attr, old = self._found[seq]
        _, old_series, old_at, _, created, deleted, instance_id, _, _ = old
        self.delete_instance(seq)
        ids = series.SeriesIds(self.conn, self.tenant)
        text, form = compact.SQLITE.encode(orjson.dumps(inst).decode(), number, observed_at)
        at = series.micros(observed_at) if observed_at else created
        row: series.CompactRow = (
            ids.ensure(entity_id, attr, inst.get("datasetId") or ""),
            at,
            seq,
            form,
            created - at,  # never NULL: its seq may be in a batch (series.CREATED)
            series.micros(now),
            deleted,
            instance_id,
            text,
            number,
        )
        history.insert(self.conn, [row])
        self._found[seq] = (
            entity_id,
            attr,
            (seq, row[0], row[1], form, created, deleted, instance_id, text, number),
        )

    def delete_instance(self, seq: int) -> None:
        _, _, old = self._found[seq]
        self.conn.execute(
            "DELETE FROM history_instances WHERE series = ? AND at = ? AND seq = ?",
            (old[1], old[2], seq),
        )
        days.recount(self.conn, [(old[1], old[2])])

    def delete_history(self, entity_id: str) -> bool:
        days.forget(self.conn, "tenant = ? AND entity_id = ?", (self.tenant, entity_id))
        self.conn.execute(
            "DELETE FROM history_instances WHERE series IN (SELECT id FROM history_series"
            " WHERE tenant = ? AND entity_id = ?)",
            (self.tenant, entity_id),
        )
        self.conn.execute(
            "DELETE FROM history_series WHERE tenant = ? AND entity_id = ?",
            (self.tenant, entity_id),
        )
        gone = self.conn.execute(
            "DELETE FROM temporal_entities WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        ).rowcount
        self.conn.execute(
            "DELETE FROM temporal_types WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        )
        return gone > 0

    def delete_attribute(
        self, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        where = "tenant = ? AND entity_id = ? AND attr = ?"
        params: list[Any] = [self.tenant, entity_id, attr]
        if not delete_all:
            where += " AND dataset_id = ?"
            params.append(dataset_id or "")
        days.forget(self.conn, where, params)
        return int(
            self.conn.execute(
                "DELETE FROM history_instances WHERE series IN (SELECT id FROM history_series"
                f" WHERE {where})",
                params,
            ).rowcount
        )

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
        return await self.store.write_with_history(
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
        sql, params = history_rows_select(tenant, [entity_id], Reading(tq))
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
