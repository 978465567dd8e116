"""What each kind of asset reports, and how often: the NGSI-LD attributes of one reading at a
simulated time, built from the pure patterns, with ``unitCode`` (UN/CEFACT) and ``observedAt``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cityhub.demo import noise
from cityhub.demo.clock import hours_since_epoch
from cityhub.demo.model import Asset, Attribute, date_time, prop
from cityhub.demo.patterns import air, energy, flood, mobility, shelters, waste, weather

Reading = dict[str, Attribute]


@dataclass(frozen=True)
class AirParams:
    key: str
    offset: float
    low_cost: bool  # low-cost optical sensor (humidity bias, PM and T/RH only)


@dataclass(frozen=True)
class WeatherParams:
    offset: float


@dataclass(frozen=True)
class ParkingParams:
    key: str
    kind: str
    spots: int
    market: bool


@dataclass(frozen=True)
class BinParams:
    container: waste.Container
    kiosk_items: int = 0  # a kiosk's capacity in compacted bottles/cans
    food_kg: float = 0.0  # a food-waste bin's capacity in kg


@dataclass(frozen=True)
class ShelterParams:
    key: str
    capacity: int


@dataclass(frozen=True)
class FloodParams:
    underpass: bool
    base: float  # m, a dry day's level
    response: float  # m per mm of recent rain (stream gauges)


@dataclass(frozen=True)
class DeviceParams:
    key: str
    battery: bool  # battery powered (reports batteryLevel)


# ---- readings per kind ------------------------------------------------------------------


def _air(a: Asset, seed: int, t: datetime) -> Reading:
    p: AirParams = a.params
    pm = air.site_pm(seed, t, p.key, p.offset, humidity_bias=p.low_cost)
    pm10, pm25 = round(pm.pm10), round(pm.pm25)
    if p.low_cost:
        return {
            "pm10": prop(pm10, "GQ", t),
            "pm25": prop(pm25, "GQ", t),
            "temperature": prop(weather.temperature(seed, t, 0.2), "CEL", t),
            "relativeHumidity": prop(weather.relative_humidity(seed, t), "C62", t),
        }
    gases = {
        "no2": round(air.nitrogen_dioxide(seed, t, p.offset), 3),
        "o3": round(air.ozone(seed, t), 3),
        "co": round(air.carbon_monoxide(seed, t, p.offset), 1),
        "so2": round(air.sulphur_dioxide(seed, t, p.offset), 3),
    }
    # the station reports what it measures; the hub's air-quality service computes the CAI
    # (airQualityIndex, airQualityLevel, advice) from the 24-hour predicted average of its
    # history, as AirKorea does (cityhub/airquality/service.py)
    out: Reading = {"pm10": prop(pm10, "GQ", t), "pm25": prop(pm25, "GQ", t)}
    out.update({name: prop(value, "59", t) for name, value in gases.items()})
    return out


def _weather(a: Asset, seed: int, t: datetime) -> Reading:
    p: WeatherParams = a.params
    temp = weather.temperature(seed, t, p.offset)
    rh = weather.relative_humidity(seed, t)
    wind = weather.wind_speed(seed, t)
    return {
        "temperature": prop(temp, "CEL", t),
        "relativeHumidity": prop(rh, "C62", t),
        "precipitation": prop(weather.rain(seed, t), "MMT", t),
        "atmosphericPressure": prop(weather.pressure(seed, t), "A97", t),
        "windSpeed": prop(wind, "MTS", t),
        "windDirection": prop(weather.wind_direction(seed, t), "DD", t),
        "feelsLikeTemperature": prop(weather.apparent_temperature(temp, rh, wind), "CEL", t),
    }


TRAFFIC_PERIOD = timedelta(minutes=5)


def _traffic(a: Asset, seed: int, t: datetime) -> Reading:
    road: mobility.Road = a.params
    now = mobility.traffic(seed, t, road)
    vehicles = round(now.flow * TRAFFIC_PERIOD.total_seconds() / 3600)
    return {
        "intensity": prop(vehicles, None, t),
        "averageVehicleSpeed": prop(round(now.speed, 1), "KMH", t),
        "occupancy": prop(round(now.occupancy, 3), "C62", t),
        "congested": prop(now.congested, None, t),
    }


def _parking(a: Asset, seed: int, t: datetime) -> Reading:
    p: ParkingParams = a.params
    share = mobility.parking_occupancy(seed, t, p.key, p.kind, p.market)
    occupied = round(share * p.spots)
    occupancy = occupied / p.spots
    status = "full" if occupancy >= 0.98 else "almostFull" if occupancy >= 0.9 else "open"
    return {
        "occupiedSpotNumber": prop(occupied, None, t),
        "availableSpotNumber": prop(p.spots - occupied, None, t),
        "occupancy": prop(round(occupancy, 3), "C62", t),
        "status": prop(status, None, t),
    }


def _bin(a: Asset, seed: int, t: datetime) -> Reading:
    p: BinParams = a.params
    level = waste.fill_level(seed, t, p.container)
    out: Reading = {"fillingLevel": prop(round(level, 3), "C62", t)}
    if p.kiosk_items:
        out["cargoWeight"] = prop(round(level * p.kiosk_items * 0.025, 1), "KGM", t)
    if p.food_kg:
        out["cargoWeight"] = prop(round(level * p.food_kg, 1), "KGM", t)
    return out


def _streetlight(a: Asset, seed: int, t: datetime) -> Reading:
    state = energy.streetlight(seed, t, a.params)
    return {
        "powerState": prop(state.power_state, None, t),
        "illuminanceLevel": prop(state.illuminance, "C62", t),
        "powerConsumption": prop(round(state.watts, 1), "WTT", t),
        "status": prop(state.status, None, t),
    }


def _building(a: Asset, seed: int, t: datetime) -> Reading:
    b: energy.Building = a.params
    return {
        "totalActivePower": prop(round(energy.building_power(seed, t, b), 1), "KWT", t),
        "totalActiveEnergyImport": prop(round(energy.meter_reading(seed, t, b), 1), "KWH", t),
    }


def _shelter(a: Asset, seed: int, t: datetime) -> Reading:
    p: ShelterParams = a.params
    people = shelters.shelter_occupancy(seed, t, p.key, p.capacity)
    return {"peopleOccupancy": prop(people, None, t)}


def _flood(a: Asset, seed: int, t: datetime) -> Reading:
    p: FloodParams = a.params
    if p.underpass:
        level = flood.underpass_depth(seed, t)
        alert, danger = 0.15, 0.30
    else:
        level = flood.stream_level(seed, t, p.base, p.response)
        alert, danger = 2.5, 3.5
    return {
        "currentLevel": prop(round(level, 2), "MTR", t),
        "floodLevelStatus": prop(flood.level_status(level, alert, danger), None, t),
    }


def device_reading(device: Asset, seed: int, t: datetime) -> Reading:
    """A device's heartbeat, sent with its sensor's reading: when it last reported and, for
    battery-powered devices, a battery that drains over about a year and is then replaced."""
    p: DeviceParams = device.params
    out: Reading = {"dateLastValueReported": date_time(t)}
    if p.battery:
        life_hours = 365 * 24
        phase = noise.uniform(seed, "battery", p.key) * life_hours
        used = ((hours_since_epoch(t) + phase) % life_hours) / life_hours
        out["batteryLevel"] = prop(round(1 - used, 3), "C62", t)
    return out


# ---- the table of kinds -------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How one kind of asset reports.

    Attributes:
        read: (asset, seed, time) -> the reading's attributes.
        interval: how often it reports live.
        backfill_step: the spacing of its history in the backfill (coarser, to keep first
            start quick).
        drop_rate: the share of readings that go missing (AirKorea: 1-2 % of hours).
    """

    read: Callable[[Asset, int, datetime], Reading]
    interval: timedelta
    backfill_step: timedelta
    drop_rate: float = 0.002


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


KINDS: dict[str, Kind] = {
    "air-station": Kind(_air, _minutes(60), _minutes(60), 0.015),
    "air-sensor": Kind(_air, _minutes(5), _minutes(60), 0.01),
    "weather": Kind(_weather, _minutes(10), _minutes(60)),
    "traffic": Kind(_traffic, TRAFFIC_PERIOD, _minutes(15)),
    "parking": Kind(_parking, _minutes(1), _minutes(30)),
    "litter-bin": Kind(_bin, _minutes(15), _minutes(60)),
    "kiosk": Kind(_bin, _minutes(5), _minutes(60)),
    "food-bin": Kind(_bin, _minutes(15), _minutes(60)),
    "streetlight": Kind(_streetlight, _minutes(15), _minutes(120)),
    "building": Kind(_building, _minutes(15), _minutes(30)),
    "heat-shelter": Kind(_shelter, _minutes(15), _minutes(60)),
    "flood": Kind(_flood, _minutes(1), _minutes(30)),
}


def is_dropped(asset: Asset, seed: int, t: datetime) -> bool:
    """Whether this reading goes missing (decided by the seed, so runs are reproducible)."""
    rate = KINDS[asset.kind].drop_rate
    return noise.chance(rate, seed, "drop", asset.id, math.floor(hours_since_epoch(t) * 60))
