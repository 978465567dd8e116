"""DOMAIN.md 6.2's heat hours (item 8), travel-time index (item 3) and energy intensity of
public buildings (item 5) from known inputs, pure: hand-computed values, missing data, zero
denominators and hostile readings (text, "NaN", negative or impossible values) counted as bad,
never raised."""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cityhub.indicators.areas import area_map
from cityhub.indicators.catalogue import BY_NAME
from cityhub.indicators.compute import (
    apparent_of_hour,
    compute_hour,
    energy_of_hour,
    humidity_percent,
    is_peak,
    sensor_of,
    temperature_c,
)
from cityhub.indicators.heat import apparent_temperature_kma, wet_bulb_stull
from cityhub.indicators.tally import Tally, rate_of, value_of
from tests.indicators.helpers import CITY, GU, area_entities, dong_id, point, prop

#: 07:00 on Monday 3 August 2026 in Seoul (22:00 UTC on the Sunday): the morning peak
MORNING_PEAK = datetime(2026, 8, 2, 22, tzinfo=UTC)


def internal(entity: dict[str, Any]) -> dict[str, Any]:
    attrs = {k: [v] for k, v in entity.items() if k not in ("id", "type")}
    return {"id": entity["id"], "type": [entity["type"]], "attrs": attrs}


def at(minute: int, value: Any, hour: datetime = MORNING_PEAK, **extra: Any) -> dict[str, Any]:
    stamp = hour.replace(minute=minute).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "Property", "value": value, "observedAt": stamp, **extra}


def value(tallies: dict[str, dict[str, Tally]], area: str, name: str) -> Any:
    return value_of(BY_NAME[name], tallies[area][name])


def run(
    sensors: list[dict[str, Any]],
    history: dict[str, dict[str, list[dict[str, Any]]]],
    hour: datetime = MORNING_PEAK,
    roads: dict[str, dict[str, Any]] | None = None,
    holidays: Container[date] = frozenset(),
) -> dict[str, dict[str, Tally]]:
    areas = area_map(internal(e) for e in area_entities())
    placed = [sensor_of(internal(e), areas, roads or {}) for e in sensors]
    sensors_ = [s for s in placed if s is not None]
    return compute_hour(areas, sensors_, history, hour, holidays=holidays)


# ---- heat hours -------------------------------------------------------------------------------


def test_kma_apparent_temperature_matches_its_published_points() -> None:
    """KMA's summer apparent temperature equals the air temperature at about 55 % humidity; 35
    °C reads 32 at 30 % (the figures KMA gave when it moved the heat-wave warning to apparent
    temperature), and Stull's wet bulb is about 27.6 °C at 35 °C and 55 %."""
    assert apparent_temperature_kma(35, 55) == pytest.approx(35.0, abs=0.05)
    assert apparent_temperature_kma(35, 30) == pytest.approx(32.0, abs=0.05)
    assert apparent_temperature_kma(35, 80) == pytest.approx(37.2, abs=0.1)
    assert wet_bulb_stull(35, 55) == pytest.approx(27.56, abs=0.01)
    # the threshold's edge: 33 °C air is below 33 apparent at 55 %, above it at 60 %
    assert apparent_temperature_kma(33, 55) < 33 < apparent_temperature_kma(33, 60)


def test_temperature_and_humidity_units_and_bad_values() -> None:
    assert temperature_c({"value": 35}) == 35
    assert temperature_c({"value": 95, "unitCode": "FAH"}) == pytest.approx(35.0)
    assert temperature_c({"value": 308.15, "unitCode": "KEL"}) == pytest.approx(35.0)
    for bad in ({"value": "NaN"}, {"value": 1e9}, {"value": -80}, {"value": 20, "unitCode": "X"}):
        assert temperature_c(bad) is None
    assert humidity_percent({"value": 0.8, "unitCode": "C62"}) == pytest.approx(80)
    assert humidity_percent({"value": 0.8}) == pytest.approx(80)
    assert humidity_percent({"value": 80, "unitCode": "P1"}) == 80
    for bad in ({"value": 55}, {"value": -0.1}, {"value": "wet"}, {"value": True}):
        assert humidity_percent(bad) is None


def test_a_stations_hour_pairs_its_readings_by_time_else_takes_the_means() -> None:
    paired = {
        "temperature": [at(10, 35), at(40, 33)],
        "relativeHumidity": [at(10, 0.8), at(40, 0.55)],
    }
    mean, bad = apparent_of_hour(paired)
    expected = (apparent_temperature_kma(35, 80) + apparent_temperature_kma(33, 55)) / 2
    assert mean == pytest.approx(expected) and bad == 0
    apart = {"temperature": [at(10, 35), at(40, 33)], "relativeHumidity": [at(20, 0.6)]}
    assert apparent_of_hour(apart)[0] == pytest.approx(apparent_temperature_kma(34, 60))
    assert apparent_of_hour({"temperature": [at(10, 35)]}) == (None, 0)  # no humidity: none
    hostile = {"temperature": [at(10, "NaN"), at(20, -400)], "relativeHumidity": [at(10, 55)]}
    assert apparent_of_hour(hostile) == (None, 3)


WEATHER = [
    {"id": "h1", "type": "WeatherObserved", "location": point("a")},
    {"id": "h2", "type": "WeatherObserved", "location": point("c", dx=0.002)},
]


def test_heat_hours_are_population_weighted_with_the_nearest_station_standing_in() -> None:
    """h1 in a: 35 °C at 80 % (37.2 apparent): a, and b from it, are hot; h2 in c: 35 °C at
    30 % (P1) is 32.0: c and d are not. Residents a 1000, b 3000, c 2000, d 4000."""
    history = {
        "h1": {
            "temperature": [at(10, 35, unitCode="CEL"), at(20, "NaN")],
            "relativeHumidity": [at(10, 0.8, unitCode="C62")],
        },
        "h2": {
            "temperature": [at(15, 35)],
            "relativeHumidity": [at(15, 30, unitCode="P1"), at(25, 55)],  # 55 without P1: bad
        },
    }
    t = run(WEATHER, history)
    heat = t[CITY]["heatHours"]
    assert (heat.num, heat.den, heat.weight) == (4000, 10000, 10000)
    assert value(t, CITY, "heatHours") == 0.4
    assert value(t, dong_id("a"), "heatHours") == 1.0
    assert value(t, dong_id("b"), "heatHours") == 1.0
    assert t[GU["west"]]["heatHours"].estimated == 3000  # b's, from a's station
    assert value(t, GU["east"], "heatHours") == 0.0
    assert (heat.expected, heat.reporting, heat.bad) == (2, 2, 2)
    # the stations count in the monitoring coverage
    assert t[CITY]["monitoringCoverage"].parts == {"weather": 2.0}
    # a day: two such hours are two heat hours for a's residents
    day = Tally()
    for _ in range(2):
        day.add(t[dong_id("a")]["heatHours"], same_period=False)
    assert value_of(BY_NAME["heatHours"], day) == 2.0


def test_heat_hours_without_usable_weather_have_no_value() -> None:
    only_bad = {"h1": {"temperature": [at(10, "text")], "relativeHumidity": [at(10, 2.0)]}}
    t = run(WEATHER, only_bad)
    heat = t[CITY]["heatHours"]
    assert value(t, CITY, "heatHours") is None and heat.den == 0
    assert (heat.expected, heat.reporting, heat.bad) == (2, 0, 2)
    assert value(run([], {}), CITY, "heatHours") is None  # no station at all


# ---- travel-time index ------------------------------------------------------------------------


def road(eid: str, **attrs: Any) -> dict[str, Any]:
    return internal({"id": eid, "type": "RoadSegment", **attrs})


ROADS = {
    # an arterial of 700 m with a free-flow speed of 50 km/h
    "road1": road("road1", length=prop(700, unitCode="MTR"), freeFlowSpeed=prop(50)),
    # an expressway of 2 km whose only speed is its limit (80 km/h); a hostile free-flow speed
    "road2": road(
        "road2",
        length=prop(2, unitCode="KMT"),
        maximumAllowedSpeed=prop(80, unitCode="KMH"),
        freeFlowSpeed=prop("fast"),
    ),
    "road3": road("road3", freeFlowSpeed=prop(1000), length=prop(-5)),  # nothing usable
}


def flow(eid: str, where: str, ref: str | None = None, **attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": eid, "type": "TrafficFlowObserved", "location": point(where)}
    if ref is not None:
        out["refRoadSegment"] = {"type": "Relationship", "object": ref}
    return {**out, **attrs}


FLOWS = [
    flow("t1", "b", "road1"),
    flow("t2", "d", "road2"),
    flow("t3", "d", freeFlowSpeed=prop(12, unitCode="MTS")),  # 43.2 km/h; reports nothing
    flow("t4", "c", "road3"),  # no usable free-flow speed: not in the index
]


def speeds(hour: datetime = MORNING_PEAK) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {
        "t1": {"averageVehicleSpeed": [at(5, 25, hour), at(10, 50, hour)]},
        # "NaN" and -10 are bad; 0 is a standstill or no vehicle: no travel time
        "t2": {
            "averageVehicleSpeed": [
                at(5, 40, hour),
                at(10, "NaN", hour),
                at(15, -10, hour),
                at(20, 0, hour),
            ]
        },
        "t4": {"averageVehicleSpeed": [at(5, 10, hour)]},
    }


def test_free_flow_speed_from_the_observation_or_its_road_else_the_limit() -> None:
    areas = area_map(internal(e) for e in area_entities())
    placed = {e["id"]: sensor_of(internal(e), areas, ROADS) for e in FLOWS}
    assert placed["t1"] is not None and placed["t1"].free_kmh == 50
    assert placed["t1"].length_km == pytest.approx(0.7)
    assert placed["t2"] is not None and placed["t2"].free_kmh == 80  # "fast": the limit
    assert placed["t2"].length_km == 2
    assert placed["t3"] is not None and placed["t3"].free_kmh == pytest.approx(43.2)
    assert placed["t4"] is not None and placed["t4"].free_kmh is None
    assert placed["t4"].length_km == 1.0


def test_the_travel_time_index_at_the_peaks() -> None:
    """t1 (0.7 km, free 50): 25 and 50 km/h -> mean travel 0.03 h/km, index 0.021 / 0.014 =
    1.5; t2 (2 km, free 80): 40 km/h (NaN and -10 bad, 0 no travel time) -> 0.05 / 0.025 = 2.0;
    the city pools the hours of travel: 0.071 / 0.039."""
    t = run(FLOWS, speeds(), roads=ROADS)
    assert value(t, dong_id("b"), "travelTimeIndex") == 1.5
    assert value(t, dong_id("d"), "travelTimeIndex") == 2.0
    assert value(t, GU["west"], "travelTimeIndex") == 1.5
    city = t[CITY]["travelTimeIndex"]
    assert (city.num, city.den) == (pytest.approx(0.071), pytest.approx(0.039))
    assert value(t, CITY, "travelTimeIndex") == pytest.approx(0.071 / 0.039, abs=1e-6)
    # t3 reported nothing; t4 has no free-flow speed and is not in the index
    assert (city.sensors, city.expected, city.reporting, city.bad) == (3, 3, 2, 2)
    assert value(t, dong_id("c"), "travelTimeIndex") is None
    assert t[dong_id("c")]["travelTimeIndex"].sensors == 0
    # the congestion index still reads every road
    assert t[CITY]["congestionIndex"].reporting == 3


def test_the_travel_time_index_is_for_weekday_peaks_of_the_citys_day() -> None:
    assert is_peak(MORNING_PEAK)  # 07:00 Monday in Seoul
    assert not is_peak(MORNING_PEAK, UTC)  # 22:00 Sunday in UTC
    evening = datetime(2026, 8, 3, 10, tzinfo=UTC)  # 19:00 Monday in Seoul
    noon = datetime(2026, 8, 3, 3, tzinfo=UTC)
    saturday = datetime(2026, 8, 7, 22, tzinfo=UTC)  # 07:00 Saturday in Seoul
    assert is_peak(evening) and not is_peak(noon) and not is_peak(saturday)
    assert value(run(FLOWS, speeds(evening), evening, ROADS), CITY, "travelTimeIndex") > 1
    for hour in (noon, saturday):
        t = run(FLOWS, speeds(hour), hour, ROADS)
        tti = t[CITY]["travelTimeIndex"]
        assert value(t, CITY, "travelTimeIndex") is None
        assert (tti.sensors, tti.expected, tti.den) == (3, 0, 0)
    # the service's zone is used: UTC's 07:00 Monday is Seoul's 16:00
    utc_peak = datetime(2026, 8, 3, 7, tzinfo=UTC)
    areas = area_map(internal(e) for e in area_entities())
    placed = [sensor_of(internal(e), areas, ROADS) for e in FLOWS]
    sensors = [s for s in placed if s is not None]
    in_utc = compute_hour(areas, sensors, speeds(utc_peak), utc_peak, UTC)
    assert value(in_utc, CITY, "travelTimeIndex") == pytest.approx(0.071 / 0.039, abs=1e-6)
    assert (
        value(compute_hour(areas, sensors, speeds(utc_peak), utc_peak), CITY, "travelTimeIndex")
        is None
    )


def test_a_day_of_peaks_pools_its_hours() -> None:
    day = Tally()
    first = run(FLOWS, speeds(), roads=ROADS)[CITY]["travelTimeIndex"]
    slow = {"t1": {"averageVehicleSpeed": [at(5, 10)]}}  # 0.7 / 10 = 0.07 h against 0.014
    second = run(FLOWS, slow, roads=ROADS)[CITY]["travelTimeIndex"]
    for hour in (first, second):
        day.add(hour, same_period=False)
    assert value_of(BY_NAME["travelTimeIndex"], day) == pytest.approx(
        (0.071 + 0.07) / (0.039 + 0.014), abs=1e-6
    )


# ---- energy intensity of public buildings -----------------------------------------------------


def building(eid: str, where: str, **attrs: Any) -> dict[str, Any]:
    return {"id": eid, "type": "Building", "location": point(where), **attrs}


METER = {"totalActiveEnergyImport": prop(0, unitCode="KWH")}
BUILDINGS = [
    building("b1", "a", grossFloorArea=prop(1000, unitCode="MTK"), **METER),
    building("b2", "c", grossFloorArea=prop(4000), totalActivePower=prop(0, unitCode="WTT")),
    building("b3", "d", grossFloorArea=prop(500), **METER),
    building("b4", "b", **METER),  # no floor area
    building("b5", "b", grossFloorArea=prop("big"), **METER),
    building("b6", "b", grossFloorArea=prop(800)),  # no meter reading (yet): never reports
    building("b7", "b", grossFloorArea=prop(900, unitCode="FOT"), **METER),  # unknown unit
]


def meters() -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {
        # the meter rose 10 kWh in half an hour: 20 kWh in the hour (its power is not needed)
        "b1": {
            "totalActiveEnergyImport": [at(0, 100.0), at(30, 110.0, unitCode="KWH")],
            "totalActivePower": [at(0, 50, unitCode="KWT")],
        },
        # one meter reading only: the mean power, 60 and 20 kW -> 40 kWh; "NaN" and -5 bad
        "b2": {
            "totalActiveEnergyImport": [at(0, 5.0)],
            "totalActivePower": [
                at(0, 60000, unitCode="WTT"),
                at(15, 20, unitCode="KWT"),
                at(30, "NaN"),
                at(45, -5),
            ],
        },
        # a meter that went backwards, and no power: no energy
        "b3": {"totalActiveEnergyImport": [at(0, 500.0), at(30, 400.0)]},
    }


def test_which_buildings_the_energy_intensity_reads() -> None:
    areas = area_map(internal(e) for e in area_entities())
    placed = {e["id"]: sensor_of(internal(e), areas, {}) for e in BUILDINGS}
    assert {k for k, v in placed.items() if v is not None} == {"b1", "b2", "b3", "b6"}
    assert placed["b1"] is not None and placed["b1"].floor_m2 == 1000


def test_a_buildings_hour_from_its_meter_else_its_power() -> None:
    hour = meters()
    assert energy_of_hour(hour["b1"], MORNING_PEAK) == (pytest.approx(20.0), 0)
    assert energy_of_hour(hour["b2"], MORNING_PEAK) == (pytest.approx(40.0), 2)
    assert energy_of_hour(hour["b3"], MORNING_PEAK) == (None, 1)
    in_wh = {"totalActiveEnergyImport": [at(0, 1000, unitCode="WHR"), at(15, 3500, unitCode="WHR")]}
    assert energy_of_hour(in_wh, MORNING_PEAK) == (pytest.approx(10.0), 0)  # 2.5 kWh in 15 min
    too_close = {"totalActiveEnergyImport": [at(0, 100.0), at(10, 101.0)]}
    assert energy_of_hour(too_close, MORNING_PEAK) == (None, 0)
    assert energy_of_hour({}, MORNING_PEAK) == (None, 0)


def test_energy_intensity_per_square_metre_of_the_buildings_reporting() -> None:
    """b1: 20 kWh / 1,000 m² = 0.02; b2: 40 / 4,000 = 0.01; b3 reported nothing usable. The
    city: 60 kWh / 5,000 m² = 0.012 kWh/m² in the hour; b6 (b) gave no reading."""
    t = run(BUILDINGS, meters())
    assert value(t, dong_id("a"), "buildingEnergyIntensity") == 0.02
    assert value(t, dong_id("c"), "buildingEnergyIntensity") == 0.01
    assert value(t, dong_id("d"), "buildingEnergyIntensity") is None  # zero denominator
    assert value(t, dong_id("b"), "buildingEnergyIntensity") is None
    city = t[CITY]["buildingEnergyIntensity"]
    assert (city.num, city.den) == (pytest.approx(60.0), 5000)
    assert value(t, CITY, "buildingEnergyIntensity") == 0.012
    assert (city.sensors, city.expected, city.reporting, city.bad) == (4, 4, 2, 3)
    assert t[CITY]["monitoringCoverage"].parts == {"building": 4.0}
    # a day of two such hours: 0.012 kWh/m² each, 0.024 over the day
    day = Tally()
    for _ in range(2):
        day.add(t[CITY]["buildingEnergyIntensity"], same_period=False)
    assert value_of(BY_NAME["buildingEnergyIntensity"], day) == 0.024
    # the gap compares per m² and hour, whatever the hours included
    assert rate_of(BY_NAME["buildingEnergyIntensity"], day) == pytest.approx(0.012)
