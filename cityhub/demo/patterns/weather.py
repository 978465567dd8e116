"""Weather over Seongnam: temperature, humidity, rain, pressure and wind (DOMAIN.md 4.6).

One citywide weather regime; stations differ by a small offset. Monthly means are Seoul-area
climate normals (assumed, rounded); rain is drawn per day so that monthly totals land near the
normals, with the June-September monsoon carrying most of it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache

from cityhub.demo import noise
from cityhub.demo.clock import from_hours, hourly, hours_since_epoch, local, local_hour, monthly

TEMPERATURE_MEAN = (-2.4, 0.4, 5.7, 12.5, 17.8, 22.2, 24.9, 25.7, 21.2, 14.8, 7.2, 0.4)  # °C
#: half the daily temperature range, by month (°C)
DIURNAL_HALF_RANGE = (4.0, 4.5, 5.0, 5.5, 5.0, 4.5, 3.5, 3.5, 4.5, 5.5, 5.0, 4.0)
#: the daily temperature shape: -1 at dawn (05-06 h), +1 mid-afternoon (14 h)
_DIURNAL = (
    -0.80, -0.86, -0.92, -0.96, -0.99, -1.00, -0.92, -0.70, -0.40, -0.08, 0.25, 0.55,
    0.80, 0.95, 1.00, 0.97, 0.86, 0.68, 0.45, 0.25, 0.05, -0.20, -0.45, -0.65,
)  # fmt: skip
HUMIDITY_MEAN = (0.58, 0.57, 0.57, 0.57, 0.63, 0.70, 0.79, 0.77, 0.71, 0.65, 0.63, 0.60)
#: chance that a day has rain, and the mean rain rate while it rains (mm/h), by month: tuned so
#: that monthly totals come out near the Seoul normals (about 1,400 mm a year)
RAIN_DAY_CHANCE = (0.12, 0.13, 0.20, 0.25, 0.28, 0.35, 0.55, 0.50, 0.32, 0.20, 0.22, 0.15)
RAIN_RATE = (0.9, 1.3, 1.0, 1.6, 2.0, 2.1, 4.0, 3.7, 2.5, 1.4, 1.3, 0.8)
#: prevailing wind: north-westerly in winter, south-westerly in summer (degrees from north)
WIND_DIRECTION = (315, 315, 300, 270, 240, 225, 215, 220, 250, 290, 310, 315)
WIND_SPEED = (2.4, 2.6, 2.9, 3.0, 2.6, 2.2, 2.2, 2.1, 2.0, 2.1, 2.3, 2.4)  # m/s


@lru_cache(maxsize=65536)
def _rain_of_hour(seed: int, hour_index: int) -> float:
    """Rain (mm) in one hour, ``hour_index`` hours after the epoch."""
    lt = local(from_hours(hour_index))
    total = 0.0
    for days_back in (0, 1):  # a rain spell that began yesterday may run past midnight
        day = (lt - timedelta(days=days_back)).date()
        key = day.toordinal()
        month = day.month - 1
        if not noise.chance(RAIN_DAY_CHANCE[month], seed, "rain-day", key):
            continue
        begins = noise.uniform(seed, "rain-start", key) * 24
        lasts = 2 + noise.uniform(seed, "rain-hours", key) * 8
        at = lt.hour + days_back * 24
        if begins <= at < begins + lasts:
            spell = math.exp(0.8 * noise.gauss(seed, "rain-spell", key) - 0.32)
            gust = math.exp(0.5 * noise.gauss(seed, "rain-hour", hour_index) - 0.125)
            total += RAIN_RATE[month] * spell * gust
    return round(total, 1)


def rain(seed: int, t: datetime) -> float:
    """Rain in the hour ``t`` falls in (mm, so also mm/h)."""
    return _rain_of_hour(seed, math.floor(hours_since_epoch(t)))


def rain_last_hours(seed: int, t: datetime, hours: int) -> list[float]:
    """Rain of the current and the previous ``hours - 1`` hours, newest first."""
    now = math.floor(hours_since_epoch(t))
    return [_rain_of_hour(seed, now - i) for i in range(hours)]


def temperature(seed: int, t: datetime, offset: float = 0.0) -> float:
    """Air temperature (°C): monthly normal, a daily cycle, 3-day weather anomalies, rain
    cooling, and a station ``offset``."""
    h = hours_since_epoch(t)
    wet = rain(seed, t) > 0
    half_range = monthly(DIURNAL_HALF_RANGE, t) * (0.4 if wet else 1.0)
    value = (
        monthly(TEMPERATURE_MEAN, t)
        + half_range * hourly(_DIURNAL, local_hour(t))
        + 2.8 * noise.smooth(seed, "temperature", h, 72)
        + 0.4 * noise.smooth(seed, "temperature-hour", h, 3)
        - (1.5 if wet else 0.0)
        + offset
    )
    return round(value, 1)


def relative_humidity(seed: int, t: datetime) -> float:
    """Relative humidity as a fraction 0-1: high at dawn, low in the afternoon, high in rain."""
    h = hours_since_epoch(t)
    value = (
        monthly(HUMIDITY_MEAN, t)
        - 0.14 * hourly(_DIURNAL, local_hour(t))
        + 0.06 * noise.smooth(seed, "humidity", h, 12)
    )
    if rain(seed, t) > 0:
        value = max(value, 0.88) + 0.04
    return round(min(1.0, max(0.15, value)), 2)


def pressure(seed: int, t: datetime) -> float:
    """Atmospheric pressure (hPa): high in winter, low in summer and in rain."""
    h = hours_since_epoch(t)
    season = 8 * math.cos(2 * math.pi * (local(t).timetuple().tm_yday - 15) / 365)
    value = 1016 + season + 5 * noise.smooth(seed, "pressure", h, 72)
    return round(value - (4 if rain(seed, t) > 0 else 0), 1)


def wind_speed(seed: int, t: datetime) -> float:
    """Wind speed (m/s): stronger in spring and in the afternoon."""
    daytime = max(0.0, hourly(_DIURNAL, local_hour(t)))
    gusts = math.exp(0.35 * noise.smooth(seed, "wind", hours_since_epoch(t), 6))
    return round(monthly(WIND_SPEED, t) * (0.7 + 0.5 * daytime) * gusts, 1)


def wind_direction(seed: int, t: datetime) -> float:
    """Wind direction (degrees from north, where the wind comes from)."""
    swing = 40 * noise.smooth(seed, "wind-direction", hours_since_epoch(t), 12)
    return round((WIND_DIRECTION[local(t).month - 1] + swing) % 360)


def apparent_temperature(temp_c: float, humidity: float, wind_ms: float) -> float:
    """Feels-like temperature (°C): the heat index (Rothfusz regression) when hot and humid,
    the wind chill (the Canadian/US formula KMA also uses) when cold and windy."""
    if temp_c >= 27 and humidity >= 0.4:
        f = temp_c * 9 / 5 + 32
        rh = humidity * 100
        hi = (
            -42.379
            + 2.04901523 * f
            + 10.14333127 * rh
            - 0.22475541 * f * rh
            - 6.83783e-3 * f * f
            - 5.481717e-2 * rh * rh
            + 1.22874e-3 * f * f * rh
            + 8.5282e-4 * f * rh * rh
            - 1.99e-6 * f * f * rh * rh
        )
        return round((hi - 32) * 5 / 9, 1)
    v = wind_ms * 3.6
    if temp_c <= 10 and v > 4.8:
        return round(
            13.12
            + 0.6215 * temp_c
            - 11.37 * math.pow(v, 0.16)
            + 0.3965 * temp_c * math.pow(v, 0.16),
            1,
        )
    return temp_c


def feels_like(seed: int, t: datetime, offset: float = 0.0) -> float:
    """The apparent temperature at ``t`` (°C), from the simulated weather."""
    return apparent_temperature(
        temperature(seed, t, offset), relative_humidity(seed, t), wind_speed(seed, t)
    )
