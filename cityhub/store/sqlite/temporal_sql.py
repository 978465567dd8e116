"""The SQL that reads history: time windows, ``lastN``, and the aggregated temporal
representation computed by ``GROUP BY`` (ETSI GS CIM 009 v1.9.1 clauses 4.5.19, 4.11).

Every function here builds ``(sql, params)`` and runs nothing, so the SQL of the temporal API
reads in one place; ``cityhub.store.sqlite.temporal`` runs it. Times in ``attribute_instances``
are text in one sortable form (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), so windows compare as text
and a time turns into integer microseconds with ``strftime('%s')`` and the fraction digits.

Aggregation. A period index ``k`` is computed per row from the period grid's origin: integer
division of microseconds for exact durations (weeks, days, hours, minutes, seconds); month
arithmetic on the date parts for calendar durations (months, years), with the day clamped to
the month's end as :class:`cityhub.ngsild.duration.Duration` does; and, for the rare mix of
both (``P1M15D``), the SQL function ``cityhub_period_index`` (:func:`register_functions`).
Then ``GROUP BY entity, attribute, datasetId, k`` computes counts, sums, sums of squares and
extremes over the ``value_number`` column (the numeric value, written with the instance), so
numeric aggregation parses no JSON. A window keeps at most ``max_periods`` periods per series.
A PostgreSQL port keeps the same shape: ``date_bin``/``extract(epoch)`` for exact durations,
``age()`` months for calendar ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.duration import Duration
from cityhub.ngsild.temporal import TemporalQuery

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: the value's member, whatever the attribute type (distinctCount compares these)
_VALUE_JSON = (
    "coalesce(b.body -> '$.value', b.body -> '$.object', b.body -> '$.languageMap', "
    "b.body -> '$.vocab', b.body -> '$.json', b.body -> '$.valueList', b.body -> '$.objectList')"
)


def time_column(tq: TemporalQuery) -> tuple[str, bool]:
    """The SQL time of an instance along the query's timeproperty, and whether instances
    without that time are left out (always, except for the default view with no timerel)."""
    if tq.timeproperty == "observedAt":
        if tq.timerel is None and not tq.timeproperty_given:
            return "coalesce(h.observed_at, h.created_at)", False
        return "h.observed_at", True
    column = {"createdAt": "h.created_at", "modifiedAt": "h.modified_at"}
    return column.get(tq.timeproperty, "h.deleted_at"), True


def instance_filter(
    tq: TemporalQuery | None,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
    params: list[Any],
) -> str:
    """``AND ...`` conditions on ``attribute_instances h`` (attributes, datasetIds, window)."""
    clauses: list[str] = []
    if attrs:
        clauses.append(f"h.attr IN ({','.join('?' * len(attrs))})")
        params.extend(attrs)
    if dataset_ids is not None:
        clauses.append(f"h.dataset_id IN ({','.join('?' * len(dataset_ids))})")
        params.extend(d or "" for d in dataset_ids)
    if tq is not None:
        column, required = time_column(tq)
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


#: the index that reads a time window in time order (the planner, without statistics, may
#: pick the other one of the same prefix and filter instead)
_INDEX_OF = {
    "h.observed_at": " INDEXED BY attribute_instances_observed",
}


def _instances(
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
    columns: str,
    partition: str = "entity_id, attr",
    cuts: Sequence[tuple[str, str, str | None]] | None = None,
) -> tuple[str, list[Any]]:
    """The instances a query reads (``lastN`` applied per entity and attribute), with the
    time along the timeproperty as ``t``. ``cuts`` (entity, attribute, time or None) keeps
    only those attributes, each before its time: one index range per attribute."""
    column, required = time_column(tq)
    params: list[Any] = []
    if cuts:
        # only the OR of index ranges can be searched, so the planner reads just those
        start, _ = tq.bounds()
        terms = []
        for entity_id, attr, before in cuts:
            term = "h.tenant = ? AND h.entity_id = ? AND h.attr = ?"
            params.extend([tenant, entity_id, attr])
            if start is not None:
                term += f" AND {column} >= ?"
                params.append(start)
            if before is not None:
                term += f" AND {column} < ?"
                params.append(before)
            terms.append(f"({term})")
        where = f"({' OR '.join(terms)})"
    else:
        where = f"h.tenant = ? AND h.entity_id IN ({','.join('?' * len(ids))})"
        params.extend([tenant, *ids])
    where += instance_filter(tq, attrs, dataset_ids, params)
    index = _INDEX_OF.get(column, "")
    select = f"SELECT {columns}, {column} AS t FROM attribute_instances h{index} WHERE {where}"
    if tq.last_n is not None:
        select = (
            f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY"
            f" t DESC, seq DESC) AS rn FROM ({select})) WHERE rn <= ?"
        )
        params.append(tq.last_n)
    return select, params


def history_select(
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, instance_id, created_at, modified_at, deleted_at, instance,
    t, seq)`` in time order per entity and attribute."""
    select, params = _instances(
        tenant,
        ids,
        tq,
        attrs,
        dataset_ids,
        "h.entity_id, h.attr, h.instance_id, h.created_at, h.modified_at, h.deleted_at,"
        " h.instance, h.seq",
    )
    return (
        "SELECT entity_id, attr, instance_id, created_at, modified_at, deleted_at, instance, t,"
        f" seq FROM ({select}) ORDER BY 1, 2, t, seq",
        params,
    )


# ---- aggregation ------------------------------------------------------------------------


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
        anchor_day = f"printf('%02d', min({_int(f'substr({origin}, 9, 2)')}, {last_day}))"
        before = f"(substr(b.t, 9) < {anchor_day} || substr({origin}, 11))"
        params.append(period.months)
        return f"(({months} - {before}) / ?)"
    params.extend([period.months, period.exact_microseconds])
    return f"cityhub_period_index(b.t, {origin}, ?, ?)"


def _stats_columns(methods: Sequence[str], whole_range: bool) -> list[str]:
    # only what the methods asked for: each aggregate costs per period (PT1S = many periods)
    cols = [
        "count(*) AS total",
        "min(b.t) AS first_time" if whole_range else "NULL",
        "max(b.t) AS last_time" if whole_range else "NULL",
        "NULL",
    ]
    wanted = set(methods)
    cols.append(
        f"count(DISTINCT CASE WHEN b.del IS NULL THEN coalesce(b.num, {_VALUE_JSON}) END)"
        if "distinctCount" in wanted
        else "NULL"
    )
    numeric = wanted & {"sum", "avg", "min", "max", "stddev", "sumsq"}
    cols.append("count(b.num)" if numeric else "0")
    cols.append("total(b.num)" if numeric & {"sum", "avg", "stddev"} else "NULL")
    cols.append("total(b.num * b.num)" if numeric & {"stddev", "sumsq"} else "NULL")
    cols.append("min(b.num)" if "min" in wanted else "NULL")
    cols.append("max(b.num)" if "max" in wanted else "NULL")
    sized = wanted & {"sum", "avg", "min", "max"}
    size = (
        "CASE WHEN b.num IS NULL AND b.del IS NULL AND json_type(b.body, '$.value') = 'array'"
        " THEN json_array_length(b.body, '$.value') END"
    )
    cols.append(f"count({size})" if sized else "0")
    cols.append(f"total({size})" if sized & {"sum", "avg"} else "NULL")
    cols.append(f"min({size})" if "min" in wanted else "NULL")
    cols.append(f"max({size})" if "max" in wanted else "NULL")
    text = (
        "CASE WHEN b.num IS NULL AND b.del IS NULL THEN CASE json_type(b.body, '$.value')"
        " WHEN 'text' THEN b.body ->> '$.value'"
        " WHEN 'object' THEN b.body ->> '$.value.\"@value\"' END END"
    )
    cols.append(f"min({text})" if "min" in wanted else "NULL")
    cols.append(f"max({text})" if "max" in wanted else "NULL")
    return cols


def span_select(
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, first t, last t)``: the time span of each attribute's
    instances in the query. Along observedAt it costs a few index seeks per attribute (the
    attributes are found by skipping through the index), whatever the history's length."""
    column, _ = time_column(tq)
    if column == "h.observed_at" and dataset_ids is None and tq.last_n is None:
        return _span_by_seeks(tenant, ids, tq, attrs)
    select, params = _instances(tenant, ids, tq, attrs, dataset_ids, "h.entity_id, h.attr")
    return (
        f"SELECT entity_id, attr, min(t), max(t) FROM ({select}) WHERE t IS NOT NULL"
        " GROUP BY entity_id, attr",
        params,
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


def aggregation_select(
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    agg: AggregationQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
    cuts: Sequence[tuple[str, str, str | None]] | None = None,
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, dataset_id, origin, k, <PeriodStats columns>, k_first, k_last)``:
    one
    per non-empty period of each series, at most ``agg.max_periods`` per series, ordered by
    series and period. Instances without a time along the timeproperty are left out; with
    ``cuts``, only instances of those attributes before their times (see ``_instances``)."""
    base, params = _instances(
        tenant,
        ids,
        tq,
        attrs,
        dataset_ids,
        "h.entity_id AS e, h.attr AS a, h.dataset_id AS d, h.seq AS seq,"
        # numeric instances need no JSON: only the others carry it along
        " CASE WHEN h.value_number IS NULL THEN h.instance END AS body,"
        " h.value_number AS num, h.deleted_at AS del",
        partition="e, a",
        cuts=cuts,
    )
    base = f"SELECT * FROM ({base}) WHERE t IS NOT NULL"
    if agg.origin is not None:  # one grid for every series, from timeAt
        origin_params: list[Any] = [agg.origin, _origin_us(agg.origin)]
        source = "base b, (SELECT ? AS o, ? AS o_us) s"
    else:  # each series' grid starts at its first instance
        origin_params = []
        source = "base b JOIN series s ON s.e = b.e AND s.a = b.a AND s.d = b.d"
    index_params: list[Any] = []
    index = _period_index(agg.period, "s.o", index_params)
    keep = "k_last - k < ?" if agg.newest_first else "k - k_first < ?"
    sql = (
        f"WITH base AS ({base}),"
        f" series AS (SELECT e, a, d, o, {_micros('o')} AS o_us"
        " FROM (SELECT e, a, d, min(t) AS o FROM base GROUP BY e, a, d)),"
        f" rows AS (SELECT b.*, s.o AS o, {index} AS k FROM {source}),"
        " grouped AS (SELECT b.e, b.a, b.d, b.o, b.k, "
        + ", ".join(_stats_columns(agg.methods, agg.period is None))
        + " FROM rows b GROUP BY b.e, b.a, b.d, b.k)"
        " SELECT * FROM (SELECT g.*, min(k) OVER w AS k_first, max(k) OVER w AS k_last"
        " FROM grouped g WINDOW w AS (PARTITION BY e, a, d))"
        f" WHERE {keep} ORDER BY e, a, d, k"
    )
    return sql, [*params, *index_params, *origin_params, agg.max_periods]


def _origin_us(origin: str) -> int:
    return int((parse_datetime(origin, "origin") - _EPOCH) / timedelta(microseconds=1))


def _period_index_fn(t: str, origin: str, months: int, exact_us: int) -> int:
    """``cityhub_period_index``: the period of ``t`` for durations mixing months and time."""
    period = Duration(months=months, exact=timedelta(microseconds=exact_us))
    return period.index_of(parse_datetime(origin, "origin"), parse_datetime(t, "t"))


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions aggregation may call (idempotent; cheap to call per query)."""
    conn.create_function("cityhub_period_index", 4, _period_index_fn, deterministic=True)
