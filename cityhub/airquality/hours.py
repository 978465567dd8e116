"""From an observation's history to the hourly values the CAI takes, and which hour it is for.

Pure functions over internal instances (``cityhub.ngsild.entity``), as the temporal store
returns them: no I/O.

- A reading is usable when it is a number, finite, not negative, not above
  :data:`PLAUSIBLE_MAX` and in a unit cityhub converts (:func:`usable_value`). Anything else
  is bad data: it is reported and never enters an average.
- The hour the CAI is for (:func:`anchor_of`) is that of the latest observation time of the
  entity's pollutants, or the hour computed before when the latest reading is older but inside
  that hour's window (so a late or out-of-order reading recomputes that hour with the late
  value in it, rather than moving the index back in time). The hub's own clock plays no part:
  a provider replaying history, or the demo at ``--speed 60``, runs ahead of it.
- :func:`hourly_window` gives, per pollutant, the 12 hourly means ending with that hour,
  whatever order the readings arrived in.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.airquality.moving_average import WINDOW_HOURS, hourly_means

#: µg/m³ per ppm at 25 °C (DOMAIN.md §1.1)
UG_PER_PPM = {"o3": 1963.0, "no2": 1882.0, "so2": 2620.0, "co": 1145.0}
#: above these (in the CAI's unit: ppm for gases, µg/m³ for PM) a reading is not believed:
#: cityhub's bound of what the air can hold, about ten times the top of the CAI scale (PM10
#: hourly values in the worst Asian dust episodes reach about 2,000 µg/m³), so a broken sensor
#: or a unit mix-up (1e9) is reported as bad data instead of a "very unhealthy" 500
PLAUSIBLE_MAX: Mapping[str, float] = {
    "pm10": 5000.0,
    "pm25": 3000.0,
    "o3": 6.0,
    "no2": 20.0,
    "so2": 10.0,
    "co": 500.0,
}
#: a reading this much older than the hour computed last is late for that hour (inside its
#: window); older still, the station's clock went back (it ran ahead before, or the provider
#: replays old data) and the index follows it rather than stay stuck
LATE_WINDOW = timedelta(hours=12)
#: times outside these are no clock's (and a window around them would not exist)
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def to_cai_unit(pollutant: str, value: float, unit_code: str | None) -> float | None:
    """``value`` in the CAI's unit, None for a unit cityhub does not convert (no unitCode: the
    value is taken to be in the CAI's unit already)."""
    if unit_code is None:
        return value
    if pollutant in UG_PER_PPM:
        if unit_code == "59":  # ppm
            return value
        if unit_code == "GQ":  # µg/m³
            return value / UG_PER_PPM[pollutant]
        if unit_code == "GP":  # mg/m³
            return value * 1000.0 / UG_PER_PPM[pollutant]
        if unit_code == "61":  # ppb
            return value / 1000.0
        return None
    return value if unit_code == "GQ" else None


def usable_value(pollutant: str, instance: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """(value in the CAI's unit, None) or (None, why it cannot be used)."""
    raw = instance.get("value")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"{pollutant} is {_short(raw)}, not a number"
    if isinstance(raw, int) and not -(10**300) < raw < 10**300:  # float() would overflow
        return None, f"{pollutant} is {_short(raw)}, beyond what the air can hold"
    if not math.isfinite(raw) or raw < 0:
        return None, f"{pollutant} is {_short(raw)}, not a concentration"
    unit = instance.get("unitCode")
    value = to_cai_unit(pollutant, float(raw), unit)
    if value is None:
        return None, f"{pollutant} has unitCode {unit!r}, which cityhub does not convert"
    if value > PLAUSIBLE_MAX[pollutant]:
        return None, (
            f"{pollutant} is {_short(raw)}, beyond what the air can hold "
            f"(cityhub believes at most {PLAUSIBLE_MAX[pollutant]:g} in the CAI's unit)"
        )
    return value, None


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_time(text: Any) -> datetime | None:
    """An NGSI-LD date-time (``...Z`` or with an offset) as an aware datetime; None otherwise."""
    if not isinstance(text, str):
        return None
    return _parse_time(text)


@functools.lru_cache(maxsize=8192)
def _parse_time(text: str) -> datetime | None:
    # the services' hooks parse a reading's time in every write of it and again in the next
    # (as the entity's before), and their work reads the same hours again
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def anchor_of(times: Iterable[datetime | None], previous: datetime | None) -> datetime | None:
    """The hour the CAI is for: that of the latest reading, or the hour computed last time
    (``previous``) when the latest reading is older but still inside its window (a late or
    out-of-order reading recomputes that hour instead of moving the index back); None when
    there is no usable time."""
    candidates = [t for t in times if t is not None and _EARLIEST <= t <= _LATEST]
    if not candidates:
        return None
    latest = max(candidates)
    if previous is not None and latest < previous <= min(latest + LATE_WINDOW, _LATEST):
        return hour_of(previous)
    return hour_of(latest)


def window_bounds(anchor: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of the 12 hours ending with the anchor's hour."""
    end = hour_of(anchor) + timedelta(hours=1)
    return end - timedelta(hours=WINDOW_HOURS), end


def hourly_window(
    pollutant: str, instances: Iterable[Mapping[str, Any]], anchor: datetime, time_member: str
) -> tuple[list[float | None], int]:
    """The 12 hourly means ending with ``anchor``'s hour (oldest first, None for an hour
    without a usable reading) and how many readings were bad.

    Args:
        instances: the pollutant's instances (history, or the current one), each timed by
            ``time_member`` (``observedAt`` or ``modifiedAt``); instances with a datasetId
            are other sources and left out.
    """
    samples: list[tuple[datetime, float]] = []
    bad = 0
    for inst in instances:
        if "datasetId" in inst or inst.get("type", "Property") != "Property":
            continue
        at = parse_time(inst.get(time_member))
        if at is None:
            continue
        value, problem = usable_value(pollutant, inst)
        if value is None:
            bad += 1
            continue
        samples.append((at, value))
    return hourly_means(samples, anchor, WINDOW_HOURS), bad


def has_any(hours: Sequence[float | None]) -> bool:
    return any(h is not None for h in hours)


__all__ = [
    "LATE_WINDOW",
    "PLAUSIBLE_MAX",
    "UG_PER_PPM",
    "anchor_of",
    "has_any",
    "hour_of",
    "hourly_window",
    "parse_time",
    "to_cai_unit",
    "usable_value",
    "window_bounds",
]
