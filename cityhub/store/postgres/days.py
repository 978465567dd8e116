"""Daily rollups of the PostgreSQL history (migration 0014, issue 21), as SQLite's
(``cityhub.store.sqlite.days``): per series and UTC day, over its instances with an
observedAt, how many there are, how many are numbers, how many carry another value (not a
number, not a record of a deletion), the least and greatest number. The migration's statement
triggers keep them in the transaction of every write of ``history_instances``.

Aggregation reads them instead of the instances (:func:`aggregate`) when that gives the very
answer the instances give (:func:`usable`: periods of whole UTC days from a midnight origin, a
window along observedAt between midnights, no ``lastN``, only ``totalCount``, ``min`` and
``max``, whose result does not depend on the order the numbers are taken in); a day holding
other values sends the read back to the instances. Periods are cut per series as PostgreSQL's
read of the instances cuts them (``k - k_first < max_periods``, the series' own first and last
period). The district's monthly max over a year reads 365 rows per sensor, not 8,760.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.datetime import parse_datetime
from cityhub.ngsild.duration import Duration
from cityhub.store.postgres.bridge import SyncConnection
from cityhub.store.postgres.params import Params
from cityhub.store.temporal_sql import Reading, Row

#: the methods a rollup answers exactly
METHODS = frozenset({"totalCount", "min", "max"})
_MIDNIGHT = "T00:00:00.000000Z"
_DAY_US = 86_400_000_000


def usable(reading: Reading, agg: AggregationQuery) -> bool:
    """Whether :func:`aggregate` answers ``agg`` over ``reading`` as the instances would."""
    tq = reading.tq
    period = agg.period
    if period is None or not set(agg.methods) <= METHODS or tq.last_n is not None:
        return False
    if period.exact_microseconds % _DAY_US or (
        period.months == 0 and not period.exact_microseconds
    ):
        return False
    along_observed = tq.timeproperty == "observedAt" and (
        tq.timerel is not None or tq.timeproperty_given
    )
    if not along_observed or agg.origin is None or not agg.origin.endswith(_MIDNIGHT):
        return False
    return all(b is None or b.endswith(_MIDNIGHT) for b in tq.bounds())


def _period_of_day(period: Duration, origin: datetime, p: Params) -> str | None:
    """SQL for the period index of the day ``d.day`` from a midnight ``origin``, when it is
    simple: whole days (``P3D``, ``P1W``: the days between, floor-divided) or whole months from
    an origin on day 28 or before (``P1M``, ``P1Y``: every month has that day, so a day is in
    the month it is in when it is on or after the origin's day, else in the month before); None
    for the others (``P1M3D``, an origin on the 31st), which Python indexes day by day."""
    if period.months == 0:
        days = period.exact_microseconds // _DAY_US
        start = p.add(origin.date().isoformat(), "text::date")
        return f"floor((d.day - {start})::float8 / {p.add(days, 'bigint')})::bigint"
    if period.exact_microseconds or origin.day > 28:
        return None
    months = (
        f"((extract(year FROM d.day)::integer - {p.add(origin.year, 'integer')}) * 12"
        f" + extract(month FROM d.day)::integer - {p.add(origin.month, 'integer')}"
        f" - (extract(day FROM d.day)::integer < {p.add(origin.day, 'integer')})::integer)"
    )
    return f"floor({months}::float8 / {p.add(period.months, 'bigint')})::bigint"


def aggregate(
    conn: SyncConnection,
    tenant: str,
    ids: Sequence[str],
    reading: Reading,
    agg: AggregationQuery,
) -> tuple[list[Row], dict[tuple[str, str], datetime]] | None:
    """``aggregation_select``'s rows computed from the days (no page ends: PostgreSQL's read
    of the instances reports none); None when :func:`usable` says no or a day holds values
    other than numbers (then the instances are read)."""
    if not ids or not usable(reading, agg):
        return None
    assert agg.period is not None and agg.origin is not None
    p = Params()
    where = f"s.tenant = {p.add(tenant)} AND s.entity_id = ANY({p.add(list(ids), 'text[]')})"
    if reading.attrs:
        where += f" AND s.attr = ANY({p.add(list(reading.attrs), 'text[]')})"
    if reading.dataset_ids is not None:
        chosen = [i or "" for i in reading.dataset_ids]
        where += f" AND s.dataset_id = ANY({p.add(chosen, 'text[]')})"
    start, end = reading.tq.bounds()
    if start is not None:
        where += f" AND d.day >= {p.add(start[:10], 'text::date')}"
    if end is not None:
        where += f" AND d.day < {p.add(end[:10], 'text::date')}"
    origin = parse_datetime(agg.origin, "origin")
    period = agg.period
    k_sql = _period_of_day(period, origin, p)
    if k_sql is not None:  # the days grouped into periods by PostgreSQL: a row per period
        found = conn.fetch(
            f"SELECT s.entity_id, s.attr, s.dataset_id, {k_sql} AS k, sum(d.n)::bigint,"
            " sum(d.n_numbers)::bigint, max(d.n_other), min(d.low), max(d.high)"
            f" FROM history_series s JOIN history_days d ON d.series = s.id WHERE {where}"
            " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            *p.values,
        )
    else:
        found = conn.fetch(
            "SELECT s.entity_id, s.attr, s.dataset_id, d.day, d.n, d.n_numbers, d.n_other,"
            " d.low, d.high FROM history_series s JOIN history_days d ON d.series = s.id"
            f" WHERE {where} ORDER BY 1, 2, 3, 4",
            *p.values,
        )
    if any(r[6] for r in found):
        return None
    k_of: dict[date, int] = {}
    # per series, its periods in order: [k, total, numbers, low, high]
    series: dict[tuple[str, str, str], list[list[Any]]] = {}
    for e, a, d, day, n, n_numbers, _, low, high in found:
        if k_sql is not None:
            k = int(day)
        elif day in k_of:
            k = k_of[day]
        else:
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            k = k_of[day] = period.index_of(origin, midnight)
        periods = series.setdefault((e, a, d), [])
        if periods and periods[-1][0] == k:
            last = periods[-1]
            last[1] += n
            last[2] += n_numbers
            if low is not None and (last[3] is None or low < last[3]):
                last[3] = low
            if high is not None and (last[4] is None or high > last[4]):
                last[4] = high
        else:
            periods.append([k, int(n), int(n_numbers), low, high])
    wanted = set(agg.methods)
    numeric = bool(wanted & {"min", "max"})
    out: list[Row] = []
    for (e, a, d), periods in series.items():
        k_first, k_last = periods[0][0], periods[-1][0]
        for k, n, n_numbers, low, high in periods:
            if (k_last - k if agg.newest_first else k - k_first) >= agg.max_periods:
                continue
            out.append(
                (
                    e,
                    a,
                    d,
                    agg.origin,
                    k,
                    n,
                    None,  # first and last time: only for one period over the whole range
                    None,
                    None,  # last_seq: each series' type is read by its key
                    None,  # distinctCount
                    n_numbers if numeric else 0,
                    None,  # sum, sum of squares
                    None,
                    low if "min" in wanted else None,
                    high if "max" in wanted else None,
                    0,  # array sizes, texts: none (a day with other values reads the rows)
                    None,
                    None,
                    None,
                    None,
                    None,
                    k_first,
                    k_last,
                )
            )
    return out, {}


__all__ = ["METHODS", "aggregate", "usable"]
