"""Air quality (DOMAIN.md 4.1): a regional PM background with its seasons, daily cycle,
stagnation episodes, Asian dust and rain washout; sites differ by small offsets; gases follow
traffic and sunshine. Also the Korean CAI (DOMAIN.md 1.1) of a set of readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from cityhub.demo import noise
from cityhub.demo.clock import hourly, hours_since_epoch, local, local_hour, monthly
from cityhub.demo.patterns import weather

PM25_ANNUAL = 17.0  # µg/m³; episodes lift the mean to about 20 (DOMAIN.md 4.1)
PM10_ANNUAL = 33.0
#: monthly multipliers on the annual mean (DOMAIN.md 4.1 table)
PM25_MONTH = (1.45, 1.40, 1.50, 1.10, 0.95, 0.85, 0.65, 0.60, 0.60, 0.80, 1.05, 1.30)
PM10_MONTH = (1.25, 1.25, 1.50, 1.55, 1.20, 0.90, 0.60, 0.55, 0.60, 0.80, 1.05, 1.10)
#: the daily cycle: a morning peak, an afternoon low, an evening rebound (stronger for PM2.5)
PM25_HOUR = (
    1.05, 1.02, 0.98, 0.95, 0.95, 0.98, 1.05, 1.12, 1.15, 1.12, 1.05, 0.97,
    0.90, 0.86, 0.85, 0.85, 0.88, 0.93, 1.00, 1.08, 1.13, 1.15, 1.12, 1.08,
)  # fmt: skip
PM10_HOUR = (
    1.00, 0.97, 0.95, 0.93, 0.93, 0.97, 1.05, 1.13, 1.15, 1.12, 1.05, 0.98,
    0.92, 0.88, 0.87, 0.87, 0.90, 0.95, 1.02, 1.06, 1.07, 1.06, 1.04, 1.02,
)  # fmt: skip
#: chance that a 4-day block holds a stagnation episode, by month (winter and spring)
STAGNATION_CHANCE = (0.45, 0.45, 0.45, 0.25, 0.10, 0.05, 0.02, 0.02, 0.05, 0.15, 0.30, 0.40)
#: chance that a 3-day block holds an Asian dust (황사) event, by month (mostly March-May)
DUST_CHANCE = (0.0, 0.05, 0.15, 0.20, 0.10, 0.0, 0.0, 0.0, 0.0, 0.0, 0.03, 0.0)
#: rush hours for NO2 and CO
TRAFFIC_HOUR = (
    0.65, 0.60, 0.58, 0.57, 0.60, 0.72, 0.95, 1.30, 1.40, 1.20, 1.00, 0.90,
    0.85, 0.80, 0.78, 0.82, 0.95, 1.15, 1.30, 1.25, 1.10, 0.95, 0.85, 0.75,
)  # fmt: skip
O3_PEAK = (0.025, 0.030, 0.040, 0.050, 0.062, 0.068, 0.058, 0.060, 0.050, 0.038, 0.028, 0.024)


def stagnation(seed: int, t: datetime) -> float:
    """The multiplier of a winter/spring stagnation episode (1 outside episodes): episodes last
    2-3.5 days and multiply PM by up to 1.8-3.5, so daily PM2.5 means reach 50-100 µg/m³."""
    days = hours_since_epoch(t) / 24
    block = math.floor(days / 4)
    when = local(t).month - 1
    if not noise.chance(STAGNATION_CHANCE[when], seed, "stagnation", block):
        return 1.0
    begins = block * 4 + noise.uniform(seed, "stagnation-start", block)
    lasts = 2 + 1.5 * noise.uniform(seed, "stagnation-days", block)
    x = (days - begins) / lasts
    if not 0 <= x <= 1:
        return 1.0
    peak = 1.8 + 1.7 * noise.uniform(seed, "stagnation-peak", block)
    return 1 + (peak - 1) * math.pow(math.sin(math.pi * x), 1.5)


def dust(seed: int, t: datetime) -> float:
    """Extra PM10 from an Asian dust event (µg/m³, 0 outside events): 6-36 hours of
    150-600 µg/m³ at the peak, mostly in spring."""
    hours = hours_since_epoch(t)
    block = math.floor(hours / 72)
    when = local(t).month - 1
    if not noise.chance(DUST_CHANCE[when], seed, "dust", block):
        return 0.0
    begins = block * 72 + 36 * noise.uniform(seed, "dust-start", block)
    lasts = 6 + 30 * noise.uniform(seed, "dust-hours", block)
    x = (hours - begins) / lasts
    if not 0 <= x <= 1:
        return 0.0
    return (150 + 450 * noise.uniform(seed, "dust-peak", block)) * math.sin(math.pi * x)


def washout(seed: int, t: datetime) -> float:
    """Rain washes PM out: 1 when dry, down to 0.5 after three wet hours."""
    recent = sum(weather.rain_last_hours(seed, t, 3)) / 3
    return 1 - 0.5 * min(1.0, recent / 4)


@dataclass(frozen=True)
class Particulates:
    pm10: float
    pm25: float


def regional_pm(seed: int, t: datetime) -> Particulates:
    """The regional background of PM10 and PM2.5 (µg/m³) over Seongnam."""
    h = hours_since_epoch(t)
    hour = local_hour(t)
    common = stagnation(seed, t) * washout(seed, t)
    wobble = math.exp(0.22 * noise.smooth(seed, "pm", h, 6) - 0.024)
    pm25 = PM25_ANNUAL * monthly(PM25_MONTH, t) * hourly(PM25_HOUR, hour) * common * wobble
    pm10 = PM10_ANNUAL * monthly(PM10_MONTH, t) * hourly(PM10_HOUR, hour) * common * wobble
    extra = dust(seed, t)
    pm10 += extra
    pm25 += 0.25 * extra
    return Particulates(pm10=pm10, pm25=min(pm25, 0.95 * pm10))


def site_pm(
    seed: int, t: datetime, site: str, offset: float, humidity_bias: bool = False
) -> Particulates:
    """PM at one site: the regional value times ``(1 + offset)`` (roadside +0.1-0.2, industrial
    +0.05-0.1, hillside -0.05-0.1) with the site's own noise; low-cost optical sensors
    (``humidity_bias``) over-read above 80 % relative humidity."""
    base = regional_pm(seed, t)
    h = hours_since_epoch(t)
    own = math.exp(0.07 * noise.smooth(seed, ("pm-site", site), h, 2))
    factor = (1 + offset) * own
    if humidity_bias:
        rh = weather.relative_humidity(seed, t)
        factor *= 1 + 2.5 * max(0.0, rh - 0.8)
    return Particulates(pm10=base.pm10 * factor, pm25=base.pm25 * factor)


def ozone(seed: int, t: datetime, roadside: bool = False) -> float:
    """O3 (ppm): an afternoon peak (15 h) on sunny days, highest May-August; low at night and
    at the roadside (titration by NO)."""
    hour = local_hour(t)
    sun = math.sin(math.pi * (hour - 9) / 12) if 9 < hour < 21 else 0.0
    day = math.exp(0.3 * noise.gauss(seed, "o3-day", local(t).date().toordinal()) - 0.045)
    wet = 0.5 if weather.rain(seed, t) > 0 else 1.0
    value = monthly(O3_PEAK, t) * (0.3 + 0.7 * math.pow(sun, 1.5)) * day * wet
    return value * (0.75 if roadside else 1.0)


def nitrogen_dioxide(seed: int, t: datetime, offset: float) -> float:
    """NO2 (ppm): rush-hour peaks around 0.015-0.040, higher in winter and at the roadside."""
    winter = 1 + 0.3 * math.cos(2 * math.pi * (local(t).timetuple().tm_yday - 15) / 365)
    wobble = math.exp(0.15 * noise.smooth(seed, "no2", hours_since_epoch(t), 3))
    return (
        0.020
        * winter
        * hourly(TRAFFIC_HOUR, local_hour(t))
        * math.sqrt(stagnation(seed, t))
        * wobble
        * (1 + offset)
    )


def carbon_monoxide(seed: int, t: datetime, offset: float) -> float:
    """CO (ppm): about 0.3-0.6."""
    winter = 1 + 0.25 * math.cos(2 * math.pi * (local(t).timetuple().tm_yday - 15) / 365)
    wobble = math.exp(0.1 * noise.smooth(seed, "co", hours_since_epoch(t), 4))
    rush = math.sqrt(hourly(TRAFFIC_HOUR, local_hour(t)))
    return 0.38 * winter * rush * wobble * (1 + offset / 2)


def sulphur_dioxide(seed: int, t: datetime, offset: float) -> float:
    """SO2 (ppm): about 0.002-0.004."""
    wobble = math.exp(0.15 * noise.smooth(seed, "so2", hours_since_epoch(t), 6))
    return 0.003 * wobble * (1 + offset)


# ---- the Korean CAI (통합대기환경지수), DOMAIN.md 1.1 ------------------------------------

#: (index band, breakpoints per pollutant): each row is (I_LO, I_HI) and (BP_LO, BP_HI)
_CAI_INDEX = ((0, 50), (51, 100), (101, 250), (251, 500))
CAI_BREAKPOINTS: dict[str, tuple[tuple[float, float], ...]] = {
    "so2": ((0, 0.020), (0.021, 0.050), (0.051, 0.150), (0.151, 1.0)),
    "co": ((0, 2.00), (2.01, 9.00), (9.01, 15.00), (15.01, 50)),
    "o3": ((0, 0.030), (0.031, 0.090), (0.091, 0.150), (0.151, 0.600)),
    "no2": ((0, 0.030), (0.031, 0.060), (0.061, 0.200), (0.201, 2.0)),
    "pm10": ((0, 30), (31, 80), (81, 150), (151, 600)),
    "pm25": ((0, 15), (16, 35), (36, 75), (76, 500)),
}
CAI_LEVELS = ("good", "moderate", "unhealthy", "veryUnhealthy")


def sub_index(pollutant: str, concentration: float) -> float:
    """The CAI sub-index of one pollutant: linear inside its band, the bands' gaps (e.g. PM2.5
    15-16) taken by the band above."""
    bands = CAI_BREAKPOINTS[pollutant]
    for (i_lo, i_hi), (bp_lo, bp_hi) in zip(_CAI_INDEX, bands, strict=True):
        if concentration <= bp_hi:
            c = max(concentration, bp_lo)
            return (i_hi - i_lo) / (bp_hi - bp_lo) * (c - bp_lo) + i_lo
    return 500.0


def cai(readings: dict[str, float]) -> tuple[int, str]:
    """The CAI of hourly readings (the maximum sub-index) and its level.

    This is the real-time variant many apps show: it uses the 1-hour PM values, not AirKorea's
    24-hour predicted moving average, and adds no multi-pollutant bonus.
    """
    index = max(sub_index(p, v) for p, v in readings.items())
    grade = 0 if index <= 50 else 1 if index <= 100 else 2 if index <= 250 else 3
    return round(index), CAI_LEVELS[grade]
