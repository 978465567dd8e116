"""ISO 8601 durations as ``aggrPeriodDuration`` uses them (ETSI GS CIM 009 v1.9.1 clause
4.5.19.1): ``P[n]Y[n]M[n]DT[n]H[n]M[n]S`` or ``P[n]W``; a zero duration means one period over
the whole time range of the query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cityhub.errors import BadRequestData


@dataclass(frozen=True)
class Duration:
    """A duration split the way calendars need it: whole months (years count as 12) and an
    exact part. Adding months keeps the day of the month, clamped to the month's last day
    (31 January + P1M = 28 or 29 February), as PostgreSQL's interval arithmetic does."""

    months: int = 0
    exact: timedelta = timedelta(0)

    def add_to(self, when: datetime, times: int = 1) -> datetime:
        """``when`` plus ``times`` of this duration (the start of period ``times``); past the
        last representable instant (year 9999), that instant."""
        try:
            if not self.months:
                return when + self.exact * times
            month = when.month - 1 + self.months * times
            year = when.year + month // 12
            month = month % 12 + 1
            day = min(when.day, days_in_month(year, month))
            return when.replace(year=year, month=month, day=day) + self.exact * times
        except (OverflowError, ValueError):
            return END_OF_TIME

    def index_of(self, origin: datetime, when: datetime) -> int:
        """The period ``when`` falls in on the grid starting at ``origin`` (``when`` ≥
        ``origin``): the largest ``k`` with ``add_to(origin, k) <= when``."""
        step = timedelta(days=30.436875) * self.months + self.exact  # a mean month: a guess
        k = max(0, (when - origin) // step) if step > timedelta(0) else 0
        while k > 0 and self.add_to(origin, k) > when:
            k -= 1
        while (bound := self.add_to(origin, k + 1)) <= when and bound < END_OF_TIME:
            k += 1
        return k

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.exact == timedelta(0)

    @property
    def exact_microseconds(self) -> int:
        return self.exact // timedelta(microseconds=1)


#: the last instant a period boundary can have
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


_DURATION = re.compile(  # ASCII digits only: \d and int() would also take "１"
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$",
    re.ASCII,
)


def parse_duration(text: str) -> Duration:
    """``aggrPeriodDuration`` such as ``PT1H``, ``P1D``, ``P1M``, ``P1Y2M3DT4H5M6.5S``.

    Raises:
        BadRequestData: not an ISO 8601 duration of that form.
    """
    m = _DURATION.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(
            f"aggrPeriodDuration must be an ISO 8601 duration such as PT1H or P1D, got {text!r}"
        )
    y, mo, w, d, h, mi, s = m.groups()
    if len(text) > 64:  # int() refuses over 4,300 digits, and no period is that long
        raise BadRequestData(f"aggrPeriodDuration {text[:64]!r}... is too long")
    try:
        exact = timedelta(
            weeks=int(w or 0),
            days=int(d or 0),
            hours=int(h or 0),
            minutes=int(mi or 0),
            seconds=float(s or 0),
        )
    except OverflowError as exc:
        raise BadRequestData(f"aggrPeriodDuration {text!r} is too long") from exc
    months = int(y or 0) * 12 + int(mo or 0)
    if months > 12 * 10_000:
        raise BadRequestData(f"aggrPeriodDuration {text!r} is too long")
    duration = Duration(months=months, exact=exact)
    if duration.is_zero and any(c in "123456789" for c in text):
        raise BadRequestData(  # else PT0.0000001S would silently mean the whole time range
            f"aggrPeriodDuration {text!r} is shorter than a microsecond, the finest period; "
            "use PT0S for one period over the whole time range (clause 4.5.19.1)"
        )
    return duration
