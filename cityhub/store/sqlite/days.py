"""Daily rollups of the SQLite history (migration 0015, issue 21): per series and UTC day, over
its instances with an observedAt, how many there are, how many are numbers, how many carry a
value that is neither a number nor a record of a deletion, and the least and greatest number.

Kept in the transaction of every write of ``history_instances``: appended rows add to their
day (:func:`add`); a replaced, modified or deleted instance has its day counted again from the
rows (:func:`recount`); a deleted attribute or entity takes its days along (:func:`forget`).

Aggregation reads them instead of the instances (:func:`aggregate`) when that gives the very
answer the instances give and costs what the answer costs: periods made of whole UTC days from
a midnight origin (``P1D``, ``P1W``, ``P1M``, ``P1Y``, ``P3D`` ... from ``timeAt`` at 00:00Z),
a window along observedAt whose ends are midnights, no ``lastN``, and only methods whose result
does not depend on the order the numbers are taken in (``totalCount``, ``min``, ``max``: a sum
of day sums can differ from the sum of the numbers in the last bit). A day holding other values
(text, arrays, objects: their sizes and texts count for ``min``/``max``) sends the whole read
back to the instances.

Monthly rollups (migration 0017, ``history_months``): the same per series and UTC calendar
month (``year * 12 + month - 1``), kept with the days (appends add to their month; a day counted
again counts its month again from the days). Aggregation reads them instead of the days when the
periods are whole calendar months from the first of a month at 00:00Z (``P1M``, ``P3M``,
``P1Y``) and the window's ends are firsts of a month: the district's monthly max over a year
reads 12 rows per sensor, not 365 days or 8,760 instances.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cityhub.ngsild.aggregation import AggregationQuery
from cityhub.ngsild.datetime import parse_datetime
from cityhub.store.sqlite.series import DAY_US, CompactRow, micros
from cityhub.store.temporal_sql import Reading, Row

#: the methods a rollup answers exactly
METHODS = frozenset({"totalCount", "min", "max"})
_MIDNIGHT = "T00:00:00.000000Z"
_FIRST = "01" + _MIDNIGHT  # a month's first day at midnight, after "YYYY-MM-"
_DAY_US = DAY_US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_EPOCH_ORDINAL = _EPOCH.toordinal()
_MERGE = (
    " n = n + excluded.n, n_numbers = n_numbers + excluded.n_numbers,"
    " n_other = n_other + excluded.n_other,"
    " low = CASE WHEN low IS NULL OR excluded.low < low THEN excluded.low ELSE low END,"
    " high = CASE WHEN high IS NULL OR excluded.high > high THEN excluded.high ELSE high END"
)
_ADD = (
    "INSERT INTO history_days (series, day, n, n_numbers, n_other, low, high)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series, day) DO UPDATE SET" + _MERGE
)
_ADD_MONTH = (
    "INSERT INTO history_months (series, month, n, n_numbers, n_other, low, high)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series, month) DO UPDATE SET" + _MERGE
)
_RECOUNT_MONTH = (
    "INSERT INTO history_months (series, month, n, n_numbers, n_other, low, high)"
    " SELECT ?, ?, sum(n), sum(n_numbers), sum(n_other), min(low), max(high)"
    " FROM history_days WHERE series = ? AND day >= ? AND day < ? HAVING count(*) > 0"
)


def month_of(day: int) -> int:
    """The calendar month (``year * 12 + month - 1``) of a day number (``history_days.day``)."""
    d = date.fromordinal(day + _EPOCH_ORDINAL)
    return d.year * 12 + d.month - 1


def month_days(month: int) -> tuple[int, int]:
    """The day numbers of a month's first day and of the next month's."""
    year, m = divmod(month, 12)
    first = date(year, m + 1, 1).toordinal() - _EPOCH_ORDINAL
    following = date(year + (m == 11), (m + 1) % 12 + 1, 1).toordinal() - _EPOCH_ORDINAL
    return first, following


def _merge(into: list[Any], other: Sequence[Any]) -> None:
    into[0] += other[0]
    into[1] += other[1]
    into[2] += other[2]
    if other[3] is not None and (into[3] is None or other[3] < into[3]):
        into[3] = other[3]
    if other[4] is not None and (into[4] is None or other[4] > into[4]):
        into[4] = other[4]


_RECOUNT = (
    "INSERT INTO history_days (series, day, n, n_numbers, n_other, low, high)"
    " SELECT ?, ?, count(*), count(num),"
    " count(CASE WHEN num IS NULL AND deleted IS NULL THEN 1 END), min(num), max(num)"
    " FROM history_instances WHERE series = ? AND at >= ? AND at < ? AND form IS NOT NULL"
    " HAVING count(*) > 0"
)


def add(conn: sqlite3.Connection, rows: Iterable[CompactRow]) -> None:
    """Count new rows (``history_instances`` rows just inserted) into their days."""
    days: dict[tuple[int, int], list[Any]] = {}
    for r in rows:
        if r[3] is None:  # no observedAt
            continue
        key = (r[0], r[1] // DAY_US)
        day = days.get(key)
        if day is None:
            day = days[key] = [0, 0, 0, None, None]
        num = r[9]
        day[0] += 1
        if num is not None:
            day[1] += 1
            if day[3] is None or num < day[3]:
                day[3] = num
            if day[4] is None or num > day[4]:
                day[4] = num
        elif r[6] is None:  # a value that is not a number, not a record of a deletion
            day[2] += 1
    if days:
        conn.executemany(_ADD, [(s, d, *v) for (s, d), v in days.items()])
        months: dict[tuple[int, int], list[Any]] = {}
        month_by_day: dict[int, int] = {}
        for (series_id, day_number), v in days.items():
            m = month_by_day.get(day_number)
            if m is None:
                m = month_by_day[day_number] = month_of(day_number)
            kept = months.get((series_id, m))
            if kept is None:
                months[(series_id, m)] = list(v)
            else:
                _merge(kept, v)
        conn.executemany(_ADD_MONTH, [(s, m, *v) for (s, m), v in months.items()])


def recount(conn: sqlite3.Connection, keys: Iterable[tuple[int, int]]) -> None:
    """Count the days ``keys`` (series, a time in the day) again from their rows."""
    days = {(s, t // DAY_US) for s, t in keys}
    for series_id, day in days:
        conn.execute("DELETE FROM history_days WHERE series = ? AND day = ?", (series_id, day))
        start = day * DAY_US
        conn.execute(_RECOUNT, (series_id, day, series_id, start, start + DAY_US))
    for series_id, month in {(s, month_of(d)) for s, d in days}:
        conn.execute(
            "DELETE FROM history_months WHERE series = ? AND month = ?", (series_id, month)
        )
        conn.execute(_RECOUNT_MONTH, (series_id, month, series_id, *month_days(month)))


def forget(conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> None:
    """Drop the days of the series ``history_series`` rows matching ``where``."""
    for table in ("history_days", "history_months"):
        conn.execute(
            f"DELETE FROM {table} WHERE series IN (SELECT id FROM history_series WHERE {where})",
            params,
        )


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


def by_months(reading: Reading, agg: AggregationQuery) -> bool:
    """Whether the monthly rollups answer (when :func:`usable`): periods of whole calendar
    months from the first of a month, the window's ends firsts of a month."""
    period = agg.period
    if period is None or period.exact_microseconds or agg.origin is None:
        return False
    return all(t is None or t[8:] == _FIRST for t in (agg.origin, *reading.tq.bounds()))


def aggregate(
    conn: sqlite3.Connection,
    tenant: str,
    ids: Sequence[str],
    reading: Reading,
    agg: AggregationQuery,
) -> tuple[list[Row], dict[tuple[str, str], datetime]] | None:
    """``aggregation_select``'s rows computed from the days, and the ends of the attributes
    whose periods a page cuts short (as ``SqliteTemporalRows.aggregation`` returns them); or
    None when :func:`usable` says no or a day holds values other than numbers (then the
    instances are read)."""
    if not ids or not usable(reading, agg):
        return None
    assert agg.period is not None and agg.origin is not None
    where = f"s.tenant = ? AND s.entity_id IN ({','.join('?' * len(ids))})"
    params: list[Any] = [tenant, *ids]
    if reading.attrs:
        where += f" AND s.attr IN ({','.join('?' * len(reading.attrs))})"
        params.extend(reading.attrs)
    if reading.dataset_ids is not None:
        where += f" AND s.dataset_id IN ({','.join('?' * len(reading.dataset_ids))})"
        params.extend(i or "" for i in reading.dataset_ids)
    # the rollups of days, or of months (a month starts on its day_one)
    months = by_months(reading, agg)
    table, unit = ("history_months", "month") if months else ("history_days", "day")
    unit_of = (lambda day: month_of(day)) if months else (lambda day: day)
    day_one: Callable[[int], int] = (lambda m: month_days(m)[0]) if months else (lambda d: d)
    start, end = reading.tq.bounds()
    window = ""
    if start is not None:
        window += f" AND d.{unit} >= ?"
        params.append(unit_of(micros(start) // DAY_US))
    if end is not None:
        window += f" AND d.{unit} < ?"
        params.append(unit_of(micros(end) // DAY_US))
    found = conn.execute(
        f"SELECT s.entity_id, s.attr, s.dataset_id, d.{unit}, d.n, d.n_numbers, d.n_other,"
        f" d.low, d.high FROM history_series s JOIN {table} d ON d.series = s.id WHERE {where}"
        f"{window} ORDER BY 1, 2, 3, 4",
        params,
    ).fetchall()
    if any(r[6] for r in found):
        return None
    origin = parse_datetime(agg.origin, "origin")
    period = agg.period
    k_of: dict[int, int] = {}
    # per series, its periods in order: [k, total, numbers, low, high]
    series: dict[tuple[str, str, str], list[list[Any]]] = {}
    for e, a, d, day, n, n_numbers, _, low, high in found:
        k = k_of.get(day)
        if k is None:
            k = k_of[day] = period.index_of(origin, _midnight(day_one(day)))
        periods = series.setdefault((e, a, d), [])
        if periods and periods[-1][0] == k:
            p = periods[-1]
            p[1] += n
            p[2] += n_numbers
            if low is not None and (p[3] is None or low < p[3]):
                p[3] = low
            if high is not None and (p[4] is None or high > p[4]):
                p[4] = high
        else:
            periods.append([k, n, n_numbers, low, high])
    wanted = set(agg.methods)
    numeric = bool(wanted & {"min", "max"})
    # what reading the instances does when a page cannot carry every period (``_cuts`` in
    # temporal.py): per entity and attribute, only the periods before its first period plus
    # ``max_periods`` are read, whatever the datasetId, and each of its series is said to go
    # on to the attribute's last period (Series.last_index)
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    for (e, a, _), periods in series.items():
        first, last = spans.get((e, a), (periods[0][0], periods[-1][0]))
        spans[(e, a)] = (min(first, periods[0][0]), max(last, periods[-1][0]))
    cut_ends: dict[tuple[str, str], datetime] = {}
    out: list[Row] = []
    for (e, a, d), periods in series.items():
        if not agg.newest_first:
            first, last = spans[(e, a)]
            if last >= first + agg.max_periods:
                periods = [p for p in periods if p[0] < first + agg.max_periods]
                cut_ends[(e, a)] = _midnight(
                    day_one(max(day for day, k in k_of.items() if k == last))
                )
                if not periods:
                    continue
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
                    None,  # last_seq: SQLite reads each series' type by its key
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
    return out, cut_ends


def _midnight(day: int) -> datetime:
    return _EPOCH + timedelta(days=day)


__all__ = [
    "METHODS",
    "add",
    "aggregate",
    "by_months",
    "forget",
    "month_days",
    "month_of",
    "recount",
    "usable",
]
