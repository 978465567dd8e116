"""Whether it is night at a place and time: the sun's altitude (NOAA's low-precision
formulas: declination and equation of time from the day of the year, good to a few minutes,
which is all "is this hour dark" needs). Pure.

Streetlights are judged at night only (DOMAIN.md section 6.2, night safety proxy), and night is
the sun's, not a lamp's own report: a lamp that says "off" at night is not working.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

#: the sun's centre at sunrise and sunset (refraction and its radius)
HORIZON_DEG = -0.833


def sun_altitude(lon: float, lat: float, at: datetime) -> float:
    """The sun's altitude above the horizon in degrees at ``at`` (aware) seen from (lon, lat)."""
    t = at.astimezone(UTC)
    day = t.timetuple().tm_yday
    hours = t.hour + t.minute / 60 + t.second / 3600
    gamma = 2 * math.pi / 365 * (day - 1 + (hours - 12) / 24)
    eq_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    solar_minutes = hours * 60 + eq_time + 4 * lon
    hour_angle = math.radians(solar_minutes / 4 - 180)
    phi = math.radians(lat)
    sin_alt = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_alt))))


def is_night(lon: float, lat: float, at: datetime, below: float = HORIZON_DEG) -> bool:
    """Whether the sun is below ``below`` degrees (the horizon, by default) at ``at`` seen
    from (lon, lat)."""
    return sun_altitude(lon, lat, at) < below


__all__ = ["HORIZON_DEG", "is_night", "sun_altitude"]
