"""The aggregated temporal representation (ETSI GS CIM 009 v1.9.1 clause 4.5.19), pure part.

A store computes, per attribute *series* (entity, attribute, datasetId) and per period, the
sums and extremes of :class:`PeriodStats` in its own query language (SQL ``GROUP BY`` over a
period index; see ``cityhub.store.temporal_sql``). This module defines what it is asked
(:class:`AggregationQuery`), what it returns (:class:`Series`), and turns that into the spec's
shape: per method an array of ``[value, periodStart, periodEnd]``.

Periods. The grid starts at ``timeAt`` when the query has one (``after``/``between``), else
at the series' first instance; period ``k`` is ``[origin + k·d, origin + (k+1)·d)``. Every
period from the first to the last one holding an instance is listed, the empty ones too
(counts 0, other methods ``null``); periods before the first and after the last instance are
not listed, so an open ``timerel=after`` range yields what the data covers (the ETSI suite's
021_17 expects exactly that). Without ``aggrPeriodDuration`` (or with ``PT0S``) one period
spans the query's time range, closed by the series' own first/last instance on an open side.

Methods (tables 4.5.19.1-1 to -3): numbers, and booleans as 1/0, get every method; arrays
their sizes for ``avg``/``min``/``max``/``sum``; strings (and ``@value`` date-times)
lexicographic ``min``/``max``; everything ``totalCount`` and ``distinctCount``; a method that
does not apply gives ``null``. ``stddev`` is the population standard deviation. Records of a
deletion count in ``totalCount`` only.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.duration import Duration

AGGREGATION_METHODS = (
    "totalCount",
    "distinctCount",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "sumsq",
)


@dataclass(frozen=True)
class AggregationQuery:
    """What to compute, with times normalized to UTC (``YYYY-MM-DDTHH:MM:SS.ffffffZ``).

    Attributes:
        methods: ``aggrMethods``.
        period: ``aggrPeriodDuration``; None = one period over the whole range.
        origin: where the period grid starts (``timeAt`` of after/between); None = at each
            series' first instance.
        range_end: the query's closing edge (``endTimeAt`` of between, ``timeAt`` of
            before): the end of the whole-range period; None = the series' last instance.
        max_periods: the most periods a store returns per series (oldest first, or newest
            first when ``newest_first``); more are left to the next page.
    """

    methods: tuple[str, ...]
    period: Duration | None = None
    origin: str | None = None
    range_end: str | None = None
    max_periods: int = 1000
    newest_first: bool = False


@dataclass(slots=True)
class PeriodStats:
    """What a store computes over the instances of one period of one series.

    ``numbers`` are the numeric values (booleans as 1/0), ``sizes`` the array sizes,
    ``texts`` the strings; None where the period has none (or the method was not asked).

    Not frozen: an answer makes one per period (420 for a district's monthly max over a
    year), and a frozen dataclass sets each of these 16 fields through
    ``object.__setattr__``, several times the cost of plain slots.
    """

    index: int
    total: int = 0
    distinct: int | None = None
    first_time: str | None = None
    last_time: str | None = None
    n_numbers: int = 0
    sum_numbers: float | None = None
    sumsq_numbers: float | None = None
    min_number: float | None = None
    max_number: float | None = None
    n_sizes: int = 0
    sum_sizes: float | None = None
    min_size: float | None = None
    max_size: float | None = None
    min_text: str | None = None
    max_text: str | None = None


@dataclass
class Series:
    """One attribute series: its periods holding instances, in index order.

    ``first_index`` and ``last_index`` are those of the series' first and last non-empty
    periods, also when the store left some out (``max_periods``): the renderer lists the
    empty periods up to there and knows a page was cut.
    """

    attr_type: str
    dataset_id: str | None
    origin: str
    periods: list[PeriodStats] = field(default_factory=list)
    first_index: int = 0
    last_index: int = 0


AggregatedHistory = dict[str, list[Series]]  # attribute IRI → its series


def method_value(method: str, stats: PeriodStats | None) -> Any:
    """One method's value over one period (``stats`` None = an empty period)."""
    if stats is None:
        return 0 if method in ("totalCount", "distinctCount") else None
    if method == "totalCount":
        return stats.total
    if method == "distinctCount":
        return stats.distinct or 0
    if stats.n_numbers:
        return _numeric(method, stats.n_numbers, stats)
    if stats.n_sizes and method in ("sum", "avg", "min", "max"):
        if method == "sum":
            return stats.sum_sizes
        if method == "avg":
            return (stats.sum_sizes or 0.0) / stats.n_sizes
        return stats.min_size if method == "min" else stats.max_size
    if method == "min":
        return stats.min_text
    if method == "max":
        return stats.max_text
    return None


def _numeric(method: str, n: int, stats: PeriodStats) -> Any:
    if method == "min":
        return stats.min_number
    if method == "max":
        return stats.max_number
    total = stats.sum_numbers or 0.0
    sumsq = stats.sumsq_numbers or 0.0
    value = {"sum": total, "avg": total / n, "sumsq": sumsq}.get(method)
    if value is None:  # stddev (population)
        mean = total / n
        value = math.sqrt(max(0.0, sumsq / n - mean * mean)) if math.isfinite(sumsq) else None
    # values near the float range (1.8e308) overflow a sum: no finite answer, null (never 0)
    return value if value is None or math.isfinite(value) else None


@functools.lru_cache(maxsize=8192)
def format_time(value: datetime) -> str:
    """A period boundary, written without fractional seconds when it has none (remembered:
    the series of one answer share their boundaries)."""
    return format_datetime(value).replace(".000000Z", "Z")


@functools.lru_cache(maxsize=8192)
def _boundary(step: Duration, origin: datetime, k: int) -> datetime:
    return step.add_to(origin, k)


@functools.lru_cache(maxsize=1024)
def _origin(text: str) -> datetime:
    return parse_datetime(text, "origin")


@functools.lru_cache(maxsize=1024)
def _boundaries(step: Duration, origin: datetime, first: int, last: int) -> tuple[datetime, ...]:
    """The starts of periods ``first`` to ``last`` and the end of the last (the series of one
    answer share them: one look-up a series, not two a period)."""
    return tuple(_boundary(step, origin, k) for k in range(first, last + 2))


class _Period(NamedTuple):
    start: datetime
    end: datetime
    stats: PeriodStats | None


def _bounds(series: Series, query: AggregationQuery) -> tuple[int, int, bool]:
    """The indexes of the series' first and last listed periods, and whether the list stops
    short of the series' last non-empty period (``max_periods``)."""
    indexes = [p.index for p in series.periods]
    first = min(series.first_index, *indexes)
    last = max(series.last_index, *indexes)
    if query.newest_first:
        shown = max(first, last - query.max_periods + 1)
        return shown, last, shown > first
    shown = min(last, first + query.max_periods - 1)
    return first, shown, shown < last


def _periods(
    series: Series, query: AggregationQuery, shown: tuple[int, int, bool] | None = None
) -> Iterator[_Period]:
    """The series' periods from its first to its last non-empty one, empty ones included,
    oldest first (newest first with ``newest_first``), made as they are taken; ``shown``: its
    :func:`_bounds` when known."""
    origin = _origin(series.origin)
    if not series.periods:
        return
    if query.period is None:
        stats = series.periods[0]
        end_text = query.range_end or stats.last_time or series.origin
        yield _Period(origin, parse_datetime(end_text, "end"), stats)
        return
    by_index = {p.index: p for p in series.periods}
    first, last, _ = shown or _bounds(series, query)
    bounds = _boundaries(query.period, origin, first, last)
    indexes = range(last, first - 1, -1) if query.newest_first else range(first, last + 1)
    for k in indexes:
        i = k - first
        yield _Period(bounds[i], bounds[i + 1], by_index.get(k))


_NONE = (0, -1, False)  # the bounds of a series that lists no period of a grid


Laid = list[dict[str, list[tuple[Series, list[_Period]]]]]


def _tagged(
    periods: Iterator[_Period], where: tuple[int, int, int]
) -> Iterator[tuple[datetime, tuple[int, int, int], _Period]]:
    for p in periods:
        yield p.start, where, p


def page_periods(
    histories: Sequence[AggregatedHistory], query: AggregationQuery, limit: int
) -> tuple[Laid, str | None]:
    """Lay out every series' periods and keep at most ``limit`` of them over all
    ``histories``: the oldest, or the newest with ``newest_first`` (clause 6.3.10 paging,
    one period standing for one instance). Periods are made lazily and merged by start time,
    so a page costs what it carries, not what the histories hold.

    Returns:
        per history, attribute IRI → (series, kept periods in time order); and the
        ``Content-Range`` value (``date-time <start>-<end>/*``) when periods were left out.
    """
    every = [
        ((n, i, j), series)
        for n, history in enumerate(histories)
        for i, found in enumerate(history.values())
        for j, series in enumerate(found)
    ]
    # each series' first and last listed periods (a grid's), worked out once
    shown = {
        where: _bounds(series, query) if series.periods and query.period is not None else _NONE
        for where, series in every
    }
    truncated = any(cut for _, _, cut in shown.values())
    listed = sum(
        last - first + 1 if query.period is not None else int(bool(series.periods))
        for (where, series), (first, last, _) in zip(every, shown.values(), strict=True)
    )
    kept: dict[tuple[int, int, int], list[_Period]] = {}  # each in time order
    if listed <= limit:
        # the page holds every period: none to choose, nothing to merge
        for where, series in every:
            periods = list(_periods(series, query, shown[where]))
            if periods:
                kept[where] = periods[::-1] if query.newest_first else periods
    else:
        streams = [_tagged(_periods(series, query, shown[where]), where) for where, series in every]
        merged = heapq.merge(*streams, key=lambda e: e[0], reverse=query.newest_first)
        taken = list(itertools.islice(merged, limit + 1))
        if len(taken) > limit:
            truncated = True
            taken = taken[:limit]
        for _, where, period in taken:
            kept.setdefault(where, []).append(period)
        for periods in kept.values():
            periods.sort(key=lambda p: p.start)
    laid: Laid = [
        {
            iri: [(s, kept.get((n, i, j), [])) for j, s in enumerate(found)]
            for i, (iri, found) in enumerate(history.items())
        }
        for n, history in enumerate(histories)
    ]
    if not truncated or not kept:
        return laid, None
    first = min(periods[0].start for periods in kept.values())
    last = max(periods[-1].end for periods in kept.values())
    if query.newest_first:
        first, last = last, first
    return laid, f"date-time {format_time(first)}-{format_time(last)}/*"


def render_series(
    attr_type: str, laid: Sequence[tuple[Series, list[_Period]]], query: AggregationQuery
) -> Any:
    """One attribute's member: an object per datasetId with one array per method."""
    out = []
    for series, periods in laid:
        doc: dict[str, Any] = {"type": series.attr_type or attr_type}
        if series.dataset_id is not None:
            doc["datasetId"] = series.dataset_id
        # each boundary once: a period's end is the next one's start
        times = {t: format_time(t) for p in periods for t in (p.start, p.end)}
        for method in query.methods:
            doc[method] = [
                [method_value(method, p.stats), times[p.start], times[p.end]] for p in periods
            ]
        out.append(doc)
    return out[0] if len(out) == 1 else out


def series_type(history: Mapping[str, list[Series]], iri: str) -> str:
    found = history.get(iri) or []
    return found[0].attr_type if found else "Property"
