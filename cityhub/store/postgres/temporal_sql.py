"""The SQL that reads history in PostgreSQL: time windows, ``lastN``, and the aggregated temporal
representation computed by ``GROUP BY`` (ETSI GS CIM 009 v1.9.1 clauses 4.5.19, 4.11).

The shape is that of ``cityhub.store.sqlite.temporal_sql`` (same row layouts, so the same
Python reads them); only the dialect differs. Times are ``timestamptz``; period arithmetic runs
on their UTC ``timestamp``: exact durations divide ``extract(epoch ...)`` microseconds, calendar
durations count whole months with PostgreSQL's interval arithmetic (which clamps the day to the
month's end, as :class:`cityhub.ngsild.duration.Duration` does), and the rare mix of both calls
``cityhub_period_index`` (``migrations/0003_history.sql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.duration import Duration
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.store.postgres.params import Params

_VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")
#: the value's member, whatever the attribute type (distinctCount compares these)
_VALUE_JSON = (
    "coalesce(to_jsonb(b.num), " + ", ".join(f"b.body -> '{m}'" for m in _VALUE_MEMBERS) + ")"
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
    params: Params,
) -> str:
    """``AND ...`` conditions on ``attribute_instances h`` (attributes, datasetIds, window)."""
    clauses: list[str] = []
    if attrs:
        clauses.append(f"h.attr = ANY({params.add(list(attrs), 'text[]')})")
    if dataset_ids is not None:
        ids = [d or "" for d in dataset_ids]
        clauses.append(f"h.dataset_id = ANY({params.add(ids, 'text[]')})")
    if tq is not None:
        column, required = time_column(tq)
        if required:
            clauses.append(f"{column} IS NOT NULL")
        start, end = tq.bounds()
        if start is not None:
            clauses.append(f"{column} >= {params.add(start)}::timestamptz")
        if end is not None:
            clauses.append(f"{column} < {params.add(end)}::timestamptz")
    return "".join(f" AND {c}" for c in clauses)


def _instances(
    params: Params,
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
    columns: str,
    partition: str,
) -> str:
    """The instances a query reads (``lastN`` applied per entity and attribute), with the
    time along the timeproperty as ``t``."""
    column, _ = time_column(tq)
    where = (
        f"h.tenant = {params.add(tenant)} AND h.entity_id = ANY({params.add(list(ids), 'text[]')})"
        + instance_filter(tq, attrs, dataset_ids, params)
    )
    select = f"SELECT {columns}, {column} AS t FROM attribute_instances h WHERE {where}"
    if tq.last_n is not None:
        select = (
            f"SELECT * FROM (SELECT x.*, row_number() OVER (PARTITION BY {partition} ORDER BY"
            f" t DESC, seq DESC) AS rn FROM ({select}) x) y WHERE rn <= "
            f"{params.add(tq.last_n, 'bigint')}"
        )
    return select


def history_select(
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, instance_id, created_at, modified_at, deleted_at, instance,
    t, seq)`` in time order per entity and attribute (times as datetimes, instance as text)."""
    params = Params()
    select = _instances(
        params,
        tenant,
        ids,
        tq,
        attrs,
        dataset_ids,
        "h.entity_id, h.attr, h.instance_id, h.created_at, h.modified_at, h.deleted_at,"
        " h.instance::text AS instance, h.seq",
        "entity_id, attr",
    )
    return (
        "SELECT entity_id, attr, instance_id, created_at, modified_at, deleted_at, instance, t,"
        f" seq FROM ({select}) z ORDER BY 1, 2, t, seq",
        params.values,
    )


# ---- aggregation ------------------------------------------------------------------------

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


def _stats_columns(methods: Sequence[str]) -> list[str]:
    cols = [
        "count(*) AS total",
        "min(b.t) AS first_time",
        "max(b.t) AS last_time",
        "max(b.seq) AS last_seq",
    ]
    wanted = set(methods)
    cols.append(
        f"count(DISTINCT CASE WHEN b.del IS NULL THEN {_VALUE_JSON} END)"
        if "distinctCount" in wanted
        else "NULL"
    )
    numeric = wanted & {"sum", "avg", "min", "max", "stddev", "sumsq"}
    cols.append("count(b.num)" if numeric else "0")
    cols.append("sum(b.num)" if numeric & {"sum", "avg", "stddev"} else "NULL")
    cols.append("sum(b.num * b.num)" if numeric & {"stddev", "sumsq"} else "NULL")
    cols.append("min(b.num)" if "min" in wanted else "NULL")
    cols.append("max(b.num)" if "max" in wanted else "NULL")
    sized = wanted & {"sum", "avg", "min", "max"}
    size = (
        "CASE WHEN b.num IS NULL AND b.del IS NULL AND jsonb_typeof(b.body -> 'value') = 'array'"
        " THEN jsonb_array_length(b.body -> 'value')::float8 END"
    )
    cols.append(f"count({size})" if sized else "0")
    cols.append(f"sum({size})" if sized & {"sum", "avg"} else "NULL")
    cols.append(f"min({size})" if "min" in wanted else "NULL")
    cols.append(f"max({size})" if "max" in wanted else "NULL")
    text = (
        "(CASE WHEN b.num IS NULL AND b.del IS NULL THEN CASE jsonb_typeof(b.body -> 'value')"
        " WHEN 'string' THEN b.body ->> 'value'"
        " WHEN 'object' THEN b.body -> 'value' ->> '@value' END END) COLLATE \"C\""
    )
    cols.append(f"min({text})" if "min" in wanted else "NULL")
    cols.append(f"max({text})" if "max" in wanted else "NULL")
    return cols


def aggregation_select(
    tenant: str,
    ids: Sequence[str],
    tq: TemporalQuery,
    agg: AggregationQuery,
    attrs: Sequence[str] | None,
    dataset_ids: Sequence[str | None] | None,
) -> tuple[str, list[Any]]:
    """Rows ``(entity_id, attr, dataset_id, origin, k, <PeriodStats columns>, k_first,
    k_last)``: one per non-empty period of each series, at most ``agg.max_periods`` per
    series, ordered by series and period. Instances without a time along the timeproperty are
    left out."""
    params = Params()
    base = _instances(
        params,
        tenant,
        ids,
        tq,
        attrs,
        dataset_ids,
        "h.entity_id AS e, h.attr AS a, h.dataset_id AS d, h.seq AS seq, h.instance AS body,"
        " h.value_number AS num, h.deleted_at AS del",
        "e, a",
    )
    if agg.origin is not None:  # one grid for every series, from timeAt
        source = f"base b CROSS JOIN (SELECT {params.add(agg.origin)}::timestamptz AS o) s"
    else:  # each series' grid starts at its first instance
        source = "base b JOIN series s ON s.e = b.e AND s.a = b.a AND s.d = b.d"
    index = _period_index(agg.period, params)
    keep = "k_last - k < " if agg.newest_first else "k - k_first < "
    keep += params.add(agg.max_periods, "bigint")
    sql = (
        f"WITH base AS (SELECT * FROM ({base}) x WHERE t IS NOT NULL),"
        " series AS (SELECT e, a, d, min(t) AS o FROM base GROUP BY e, a, d),"
        f" periods AS (SELECT b.*, s.o AS o, {index} AS k FROM {source}),"
        " grouped AS (SELECT b.e, b.a, b.d, b.o, b.k, "
        + ", ".join(_stats_columns(agg.methods))
        + " FROM periods b GROUP BY b.e, b.a, b.d, b.o, b.k)"
        " SELECT * FROM (SELECT g.*, min(k) OVER w AS k_first, max(k) OVER w AS k_last"
        " FROM grouped g WINDOW w AS (PARTITION BY e, a, d)) z"
        f" WHERE {keep} ORDER BY e, a, d, k"
    )
    return sql, params.values


__all__ = ["aggregation_select", "history_select", "instance_filter", "time_column"]
