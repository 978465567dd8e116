"""Streetlights and public-building energy (DOMAIN.md 4.5): dusk-to-dawn lighting with
night dimming and rare lamp faults; building load by working hours and season, with a meter
that integrates it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from cityhub.demo import noise
from cityhub.demo.clock import hourly, hours_since_epoch, local, local_hour
from cityhub.ngsild import solar

SEONGNAM_LON, SEONGNAM_LAT = 127.1163, 37.4074


def sun_times(
    day: date, lon: float = SEONGNAM_LON, lat: float = SEONGNAM_LAT
) -> tuple[float, float]:
    """Sunrise and sunset on ``day`` as Korean local hours (UTC+9; ``cityhub.ngsild.solar``)."""
    return solar.sun_times(day, lon, lat, utc_offset_hours=9)


# ---- streetlights -------------------------------------------------------------------------


@dataclass(frozen=True)
class Lamp:
    key: str
    watts: float  # LED: 100-200 W on arterials, 40-80 W in alleys and parks
    dims: bool  # dimmed to 50 % from 00 to 05 (alleys kept brighter for safety)


@dataclass(frozen=True)
class LampState:
    power_state: str  # on, off, low
    illuminance: float  # 0-1 dimming level
    watts: float
    status: str  # ok or defectiveLamp


def lamp_fault(seed: int, t: datetime, lamp: Lamp) -> bool:
    """About 1 % of lamps fail in a given week and are repaired the next (DOMAIN.md: 1-3 % of
    luminaires a month)."""
    week = math.floor(hours_since_epoch(t) / (24 * 7))
    return noise.chance(0.01, seed, "lamp-fault", lamp.key, week)


def streetlight(seed: int, t: datetime, lamp: Lamp) -> LampState:
    """The lamp's state: on from 10 minutes after sunset to 10 minutes before sunrise."""
    lt = local(t)
    hour = local_hour(t)
    sunrise, sunset = sun_times(lt.date())
    dark = hour >= sunset + 1 / 6 or hour < sunrise - 1 / 6
    status = "defectiveLamp" if lamp_fault(seed, t, lamp) else "ok"
    if not dark:
        return LampState("off", 0.0, 0.0, status)
    level = 1.0
    if hour < 5:
        level = 0.5 if lamp.dims else 0.7
    watts = 0.0
    if status == "ok":
        jitter = 1 + 0.02 * noise.smooth(seed, ("lamp", lamp.key), hours_since_epoch(t), 2)
        watts = lamp.watts * level * jitter
    return LampState("on" if level == 1.0 else "low", level, watts, status)


# ---- public buildings ---------------------------------------------------------------------

#: load as a share of the building's peak, by hour: working hours 08-18 (DOMAIN.md 4.5)
OFFICE_HOURS = (
    0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.32, 0.45, 0.75, 0.92, 0.95, 0.95,
    0.85, 0.93, 0.95, 0.95, 0.93, 0.85, 0.65, 0.48, 0.40, 0.35, 0.32, 0.30,
)  # fmt: skip
#: cooling (June-September, peaks 14-17) and heating (December-February, peaks in the morning)
COOLING = (0.0, 0.0, 0.0, 0.0, 0.1, 0.5, 1.0, 1.0, 0.4, 0.0, 0.0, 0.0)
HEATING = (1.0, 0.9, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.9)
#: the meter's zero: readings count energy from this day on
METER_EPOCH = date(2024, 1, 1)


@dataclass(frozen=True)
class Building:
    key: str
    peak_kw: float
    open_weekends: bool  # libraries and community centres


def _shape(month: int, weekend: bool, open_weekends: bool, hour: float) -> float:
    base = hourly(OFFICE_HOURS, hour)
    if weekend:
        base = 0.30 + (base - 0.30) * (0.7 if open_weekends else 0.0) + 0.02
    working = max(0.0, (base - 0.30) / 0.65)
    cool = COOLING[month - 1] * 0.30 * math.exp(-(((hour - 15.5) / 2.5) ** 2)) * working
    heat = HEATING[month - 1] * (0.22 * math.exp(-(((hour - 8.5) / 1.5) ** 2)) + 0.08 * working)
    return base + cool + heat


def _day_factor(seed: int, b: Building, day: date) -> float:
    return math.exp(0.08 * noise.gauss(seed, "building-day", b.key, day))


def building_power(seed: int, t: datetime, b: Building) -> float:
    """Active power (kW) at ``t``."""
    lt = local(t)
    shape = _shape(lt.month, lt.weekday() >= 5, b.open_weekends, local_hour(t))
    jitter = 1 + 0.03 * noise.smooth(seed, ("building", b.key), hours_since_epoch(t), 0.5)
    return b.peak_kw * shape * _day_factor(seed, b, lt.date()) * jitter


@cache
def _hours_of_day(month: int, weekend: bool, open_weekends: bool) -> tuple[float, ...]:
    """The shape's hourly means over one day (kWh per kW of peak, hour by hour)."""
    return tuple(_shape(month, weekend, open_weekends, h + 0.5) for h in range(24))


def _day_energy(seed: int, b: Building, day: date) -> float:
    hours = _hours_of_day(day.month, day.weekday() >= 5, b.open_weekends)
    return b.peak_kw * sum(hours) * _day_factor(seed, b, day)


_LEDGERS: dict[tuple[int, Building], list[float]] = {}


def _energy_before(seed: int, b: Building, day: date) -> float:
    """kWh metered from METER_EPOCH up to the start of ``day`` (memoised, day by day)."""
    ledger = _LEDGERS.setdefault((seed, b), [0.0])
    n = (day - METER_EPOCH).days
    while len(ledger) <= n:
        ledger.append(ledger[-1] + _day_energy(seed, b, METER_EPOCH + timedelta(len(ledger) - 1)))
    return ledger[max(0, n)]


def meter_reading(seed: int, t: datetime, b: Building) -> float:
    """The meter's total imported energy (kWh) at ``t``: never decreases."""
    lt = local(t)
    day = lt.date()
    if day < METER_EPOCH:
        return 0.0
    hour = local_hour(t)
    hours = _hours_of_day(day.month, day.weekday() >= 5, b.open_weekends)
    whole = math.floor(hour)
    today = sum(hours[:whole]) + hours[min(whole, 23)] * (hour - whole)
    return _energy_before(seed, b, day) + b.peak_kw * today * _day_factor(seed, b, day)
