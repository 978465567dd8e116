"""Where the sun is: NOAA's low-precision solar equations (the declination and the equation of
time from the fractional year; good to a few minutes, which is all "is this hour dark" and a
simulated dusk need). Pure. The demo's streetlights switch by :func:`sun_times`; the
streetlights-at-night indicator judges lamps by :func:`is_night`.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

#: the sun's centre at sunrise and sunset (refraction and its radius)
HORIZON_DEG = -0.833


def _equations(gamma: float) -> tuple[float, float]:
    """The equation of time (minutes) and the declination (radians) at the fractional year
    ``gamma`` (radians)."""
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
    return eq_time, decl


def sun_altitude(lon: float, lat: float, at: datetime) -> float:
    """The sun's altitude above the horizon in degrees at ``at`` (aware) seen from (lon, lat)."""
    t = at.astimezone(UTC)
    hours = t.hour + t.minute / 60 + t.second / 3600
    eq_time, decl = _equations(2 * math.pi / 365 * (t.timetuple().tm_yday - 1 + (hours - 12) / 24))
    hour_angle = math.radians((hours * 60 + eq_time + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    sin_alt = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_alt))))


def is_night(lon: float, lat: float, at: datetime, below: float = HORIZON_DEG) -> bool:
    """Whether the sun is below ``below`` degrees (the horizon, by default) at ``at`` seen
    from (lon, lat)."""
    return sun_altitude(lon, lat, at) < below


def sun_times(day: date, lon: float, lat: float, utc_offset_hours: float) -> tuple[float, float]:
    """Sunrise and sunset on ``day`` at (lon, lat), as hours of the local day at
    ``utc_offset_hours`` (the equations taken at the day's start)."""
    eq_time, decl = _equations(2 * math.pi / 365 * (day.timetuple().tm_yday - 1))
    phi = math.radians(lat)
    cos_ha = math.cos(math.radians(90 - HORIZON_DEG)) / (math.cos(phi) * math.cos(decl)) - math.tan(
        phi
    ) * math.tan(decl)
    ha = math.degrees(math.acos(max(-1.0, min(1.0, cos_ha))))
    sunrise_utc = 720 - 4 * (lon + ha) - eq_time
    sunset_utc = 720 - 4 * (lon - ha) - eq_time
    offset = utc_offset_hours * 60
    return (sunrise_utc + offset) / 60, (sunset_utc + offset) / 60


__all__ = ["HORIZON_DEG", "is_night", "sun_altitude", "sun_times"]
