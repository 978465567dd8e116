"""The 24-hour predicted moving average of PM10 and PM2.5 that the CAI takes (AirKorea's CAI
calculator, DOMAIN.md §1.1)::

    C24E = (C12 * 12 + C4 * 12) / 24

``C12`` is the mean of the past 12 hourly values; ``C4`` the mean of the last 4 hourly values
after adjustment: ``Ca_i = 0.75 * C_i`` when ``C_i >= M`` and ``0.9 <= C_i / C12 <= 1.7``,
otherwise ``Ca_i = C_i`` (M is 70 µg/m³ for PM10, 30 for PM2.5).

Missing hours: AirKorea publishes no index for a station whose recent hours are missing; the
minimum it requires is not in the sources we hold (DOMAIN.md §7), so cityhub takes the Korean
rule for valid averages, 75 % of the hours: at least 9 of the 12 hours and 3 of the last 4.
Both are arguments; with fewer the result has no value and says why (``reason``), rather than an
average of two readings that would look as sure as one of twelve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

_HOUR = timedelta(hours=1)

#: M, the level from which the last hours are damped, per pollutant (µg/m³)
DAMPING_LEVEL = {"pm10": 70.0, "pm25": 30.0}
WINDOW_HOURS = 12
RECENT_HOURS = 4


@dataclass(frozen=True)
class PredictedAverage:
    """The predicted 24-hour average, or why there is none (``value`` None, ``reason`` set)."""

    value: float | None
    c12: float | None
    c4: float | None
    hours: int  # valid hours among the 12
    recent_hours: int  # valid hours among the last 4
    reason: str | None = None


def predicted_24h_average(
    pollutant: str,
    hourly: Sequence[float | None],
    *,
    min_hours: int = 9,
    min_recent_hours: int = 3,
) -> PredictedAverage:
    """The 24-hour predicted moving average ending at the last hour of ``hourly``.

    Args:
        pollutant: ``pm10`` or ``pm25``.
        hourly: the 12 hourly means ending at the hour computed, oldest first; None where the
            hour has no valid value. Fewer than 12 entries count the missing ones as missing.
        min_hours: valid hours needed among the 12.
        min_recent_hours: valid hours needed among the last 4.

    Raises:
        KeyError: ``pollutant`` is not a PM.
    """
    m = DAMPING_LEVEL[pollutant]
    given: list[float | None] = list(hourly[-WINDOW_HOURS:])
    padding: list[float | None] = [None] * (WINDOW_HOURS - len(given))
    window = padding + given
    valid = [v for v in window if v is not None and math.isfinite(v)]
    recent = [v for v in window[-RECENT_HOURS:] if v is not None and math.isfinite(v)]
    if len(valid) < min_hours or len(recent) < min_recent_hours:
        return PredictedAverage(
            None,
            None,
            None,
            len(valid),
            len(recent),
            reason=(
                f"too few hourly {pollutant} values for the 24-hour predicted average: "
                f"{len(valid)} of the last {WINDOW_HOURS} hours and {len(recent)} of the last "
                f"{RECENT_HOURS} (needs {min_hours} and {min_recent_hours})"
            ),
        )
    c12 = sum(valid) / len(valid)
    adjusted = [0.75 * c if c >= m and c12 > 0 and 0.9 <= c / c12 <= 1.7 else c for c in recent]
    c4 = sum(adjusted) / len(adjusted)
    value = (c12 * WINDOW_HOURS + c4 * WINDOW_HOURS) / 24
    return PredictedAverage(value, c12, c4, len(valid), len(recent))


def hourly_means(
    samples: Iterable[tuple[datetime, float]], end: datetime, hours: int = WINDOW_HOURS
) -> list[float | None]:
    """Hourly means of timestamped samples for the ``hours`` hours ending with ``end``'s hour,
    oldest first, None for an hour without a sample. Order of arrival does not matter: a late
    sample lands in its own hour.

    Args:
        samples: (observedAt, value) pairs, timezone-aware.
        end: any instant in the last hour of the window.
    """
    last = end.replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=hours - 1)
    sums = [0.0] * hours
    counts = [0] * hours
    for at, value in samples:
        if not math.isfinite(value):
            continue
        slot = (at - first) // _HOUR
        if 0 <= slot < hours:
            sums[slot] += value
            counts[slot] += 1
    return [s / n if n else None for s, n in zip(sums, counts, strict=True)]


__all__ = [
    "DAMPING_LEVEL",
    "PredictedAverage",
    "hourly_means",
    "predicted_24h_average",
]
