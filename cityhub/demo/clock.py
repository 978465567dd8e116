"""Time for the demo city: Korea Standard Time (UTC+9, no daylight saving), the simulated clock,
and NGSI-LD date-time text."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def hours_since_epoch(t: datetime) -> float:
    """Hours since 2000-01-01 UTC: the time axis of the noise functions."""
    return (t - _EPOCH).total_seconds() / 3600


def from_hours(hours: float) -> datetime:
    """The inverse of :func:`hours_since_epoch`."""
    return _EPOCH + timedelta(hours=hours)


def local(t: datetime) -> datetime:
    return t.astimezone(KST)


def local_hour(t: datetime) -> float:
    """The hour of the day in Seongnam, with fractions (08:30 is 8.5)."""
    lt = local(t)
    return lt.hour + lt.minute / 60 + lt.second / 3600


def is_weekend(t: datetime) -> bool:
    return local(t).weekday() >= 5


def month_position(t: datetime) -> float:
    """The month as a number in [0, 12): mid-January is 0.5, mid-July 6.5."""
    lt = local(t)
    start = datetime(lt.year, lt.month, 1, tzinfo=KST)
    nxt = datetime(lt.year + lt.month // 12, lt.month % 12 + 1, 1, tzinfo=KST)
    return lt.month - 1 + (lt - start) / (nxt - start)


def monthly(table: tuple[float, ...], t: datetime) -> float:
    """A value from a 12-entry table of monthly means, interpolated between mid-months so a
    seasonal curve has no steps."""
    pos = month_position(t) - 0.5
    i = math.floor(pos)
    frac = pos - i
    return table[i % 12] * (1 - frac) + table[(i + 1) % 12] * frac


def hourly(table: tuple[float, ...], hour: float) -> float:
    """A value from a 24-entry table (index = hour of the day), interpolated linearly."""
    i = math.floor(hour) % 24
    frac = hour - math.floor(hour)
    return table[i] * (1 - frac) + table[(i + 1) % 24] * frac


def iso(t: datetime) -> str:
    """NGSI-LD DateTime text in UTC (``2026-01-14T23:00:00Z``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_to(t: datetime, step: timedelta) -> datetime:
    """``t`` rounded down to a multiple of ``step`` since the epoch."""
    return _EPOCH + step * math.floor((t - _EPOCH) / step)


def parse_start(text: str) -> datetime:
    """A start time from the command line; a naive time is taken as Korean local time."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=KST)


@dataclass
class SimClock:
    """Simulated time: starts at ``start`` and runs ``speed`` simulated seconds per real second.

    Args:
        start: the simulated time when the clock starts.
        speed: simulated seconds per real second (1 = real time).
        real: the real clock, in seconds (``time.monotonic``; tests pass a fake).
    """

    start: datetime
    speed: float = 1.0
    real: Callable[[], float] = time.monotonic
    _real0: float = field(init=False)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        self._real0 = self.real()

    def restart(self) -> None:
        """Start over from ``start`` (after the first-start work, so no time is skipped)."""
        self._real0 = self.real()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self.real() - self._real0) * self.speed)

    def real_seconds_until(self, t: datetime) -> float:
        return max(0.0, (t - self.now()).total_seconds() / self.speed)
