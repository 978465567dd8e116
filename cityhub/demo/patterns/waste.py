"""How full bins, AI recycling kiosks and RFID food-waste bins are (DOMAIN.md 4.4).

A container fills at a daily rate spread over the day by a deposit profile, and is emptied on a
fixed collection round (every day or every few days, at a set hour). The fill level is computed
in closed form from the last collection, so it is a pure function of time.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from itertools import accumulate

from cityhub.demo import noise
from cityhub.demo.clock import KST, local

#: deposits by hour of the day (relative): litter follows footfall, kiosks peak 10-12 and
#: 15-19, food waste goes out in the evening (18-22)
DEPOSITS: dict[str, tuple[float, ...]] = {
    "litter": (
        0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 1.6, 1.2, 1.0, 1.2,
        1.6, 1.4, 1.1, 1.1, 1.3, 1.6, 1.9, 1.7, 1.3, 1.0, 0.6, 0.4,
    ),
    "kiosk": (
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 0.6, 1.0, 1.6, 1.8,
        1.2, 1.0, 1.2, 1.6, 1.8, 1.8, 1.6, 1.0, 0.6, 0.3, 0.1, 0.0,
    ),
    "food": (
        0.2, 0.1, 0.0, 0.0, 0.0, 0.1, 0.4, 0.8, 0.8, 0.5, 0.4, 0.4,
        0.5, 0.5, 0.4, 0.4, 0.5, 0.8, 1.8, 2.4, 2.4, 1.9, 1.0, 0.5,
    ),
}  # fmt: skip


@cache
def _cumulative(profile: str) -> tuple[float, ...]:
    """The share of a day's deposits made before each hour (25 entries, 0 to 1)."""
    rates = DEPOSITS[profile]
    total = sum(rates)
    return (0.0, *(c / total for c in accumulate(rates)))


def share_before(profile: str, hour: float) -> float:
    """The share of a day's deposits made before ``hour`` (0-24)."""
    cum = _cumulative(profile)
    i = min(23, math.floor(hour))
    return cum[i] + (cum[i + 1] - cum[i]) * (hour - i)


@dataclass(frozen=True)
class Container:
    """What the fill pattern needs to know about one container."""

    key: str
    profile: str  # a key of DEPOSITS
    daily_fill: float  # share of the capacity filled on an ordinary weekday
    every_days: int  # collection round: every N days
    collect_hour: float  # local hour of the collection
    weekend_factor: float = 1.0  # more (markets, parks) or less (offices) at weekends


def _day_fill(seed: int, c: Container, day: date) -> float:
    factor = c.weekend_factor if day.weekday() >= 5 else 1.0
    return c.daily_fill * factor * math.exp(0.3 * noise.gauss(seed, "fill", c.key, day) - 0.045)


def _collected(c: Container, day: date) -> bool:
    phase = zlib.crc32(c.key.encode()) % c.every_days
    return day.toordinal() % c.every_days == phase


def last_collection(c: Container, t: datetime) -> datetime:
    """When the container was last emptied, at or before ``t``."""
    lt = local(t)
    day = lt.date()
    for _ in range(c.every_days + 1):
        when = datetime.combine(day, datetime.min.time(), KST) + timedelta(hours=c.collect_hour)
        if _collected(c, day) and when <= lt:
            return when
        day -= timedelta(days=1)
    raise AssertionError("unreachable: a collection round is at most every_days apart")


def fill_level(seed: int, t: datetime, c: Container) -> float:
    """The fill level (0-1) at ``t``; 1 means full or overflowing."""
    since = last_collection(c, t)
    lt = local(t)
    total = 0.0
    day = since.date()
    while day <= lt.date():
        start = since.hour + since.minute / 60 if day == since.date() else 0.0
        end = lt.hour + lt.minute / 60 + lt.second / 3600 if day == lt.date() else 24.0
        if end > start:
            share = share_before(c.profile, end) - share_before(c.profile, start)
            total += _day_fill(seed, c, day) * share
        day += timedelta(days=1)
    return min(1.0, total)
