"""The pure patterns: daily and seasonal shapes (DOMAIN.md section 4), reproducibility."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta

import pytest

from cityhub.demo.clock import KST
from cityhub.demo.patterns import air, energy, flood, mobility, shelters, waste, weather

SEED = 7
WEDNESDAY = datetime(2026, 1, 14, tzinfo=KST)
SATURDAY = datetime(2026, 1, 17, tzinfo=KST)
ROAD = mobility.Road("test-road", 3, 1000, 50, 1.2, inbound=True)


def at(day: datetime, hour: float) -> datetime:
    return day + timedelta(hours=hour)


def days(start: date, n: int) -> list[datetime]:
    return [
        datetime(start.year, start.month, start.day, tzinfo=KST) + timedelta(days=i)
        for i in range(n)
    ]


# ---- traffic ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_traffic_is_higher_at_8_than_at_3(seed: int) -> None:
    for day in days(date(2026, 1, 12), 5):  # Monday to Friday
        rush = mobility.traffic(seed, at(day, 8), ROAD)
        night = mobility.traffic(seed, at(day, 3), ROAD)
        assert rush.flow > 5 * night.flow
        assert rush.speed < night.speed
        assert rush.occupancy > night.occupancy


def test_weekends_have_no_morning_rush() -> None:
    weekday = mobility.demand_ratio(SEED, at(WEDNESDAY, 8), ROAD)
    weekend = mobility.demand_ratio(SEED, at(SATURDAY, 8), ROAD)
    assert weekend < 0.5 * weekday


def test_inbound_peaks_in_the_morning_outbound_in_the_evening() -> None:
    outbound = mobility.Road("test-road-out", 3, 1000, 50, 1.2, inbound=False)
    assert mobility.WEEKDAY_INBOUND.index(max(mobility.WEEKDAY_INBOUND)) < 12
    assert mobility.WEEKDAY_OUTBOUND.index(max(mobility.WEEKDAY_OUTBOUND)) > 12
    assert mobility.demand_ratio(SEED, at(WEDNESDAY, 18), outbound) > mobility.demand_ratio(
        SEED, at(WEDNESDAY, 18), ROAD
    )


def test_an_overloaded_road_congests_in_the_rush_hour() -> None:
    busy = mobility.Road("busy", 3, 1000, 50, 1.6, inbound=True)
    assert mobility.traffic(SEED, at(WEDNESDAY, 8), busy).congested
    assert not mobility.traffic(SEED, at(WEDNESDAY, 3), busy).congested


def test_traffic_values_stay_physical() -> None:
    for hour in range(0, 24 * 7):
        t = mobility.traffic(SEED, at(WEDNESDAY, hour), ROAD)
        assert 0 <= t.flow <= ROAD.capacity * ROAD.lanes
        assert 5 <= t.speed <= 60
        assert 0 <= t.occupancy <= 0.95


# ---- parking ------------------------------------------------------------------------------


def test_parking_curves() -> None:
    def occ(kind: str, day: datetime, hour: float, market: bool = False) -> float:
        return mobility.parking_occupancy(SEED, at(day, hour), "p", kind, market)

    assert occ("office", WEDNESDAY, 11) > 0.8 > 0.3 > occ("office", WEDNESDAY, 3)
    assert occ("office", SATURDAY, 11) < 0.5
    assert occ("residential-old", WEDNESDAY, 23) > 0.9 > occ("residential-old", WEDNESDAY, 13)
    assert occ("retail", WEDNESDAY, 13) > occ("retail", WEDNESDAY, 4)
    market_day = datetime(2026, 1, 14, tzinfo=KST)  # dates ending in 4 and 9
    assert mobility.is_market_day(market_day) and not mobility.is_market_day(at(market_day, 24))
    assert occ("retail", market_day, 11, market=True) > occ("retail", market_day, 11) + 0.2
    for hour in range(24 * 7):
        for kind in mobility.PARKING_WEEKDAY:
            assert 0 <= occ(kind, WEDNESDAY, hour, market=True) <= 1


# ---- air quality --------------------------------------------------------------------------


def mean_pm25(seed: int, month: int) -> float:
    start = datetime(2026, month, 1, tzinfo=KST)
    return statistics.mean(
        air.regional_pm(seed, start + timedelta(hours=h)).pm25 for h in range(0, 28 * 24, 3)
    )


def test_pm25_is_higher_in_winter_than_in_summer() -> None:
    for seed in range(3):
        assert mean_pm25(seed, 1) > 1.5 * mean_pm25(seed, 8)


def test_pm10_peaks_in_spring_and_pm25_stays_below_pm10() -> None:
    def mean_pm10(month: int) -> float:
        start = datetime(2026, month, 1, tzinfo=KST)
        return statistics.mean(
            air.regional_pm(1, start + timedelta(hours=h)).pm10 for h in range(0, 28 * 24, 3)
        )

    assert mean_pm10(4) > 1.5 * mean_pm10(8)
    for h in range(0, 24 * 60, 5):
        pm = air.regional_pm(1, datetime(2026, 3, 1, tzinfo=KST) + timedelta(hours=h))
        assert 0 < pm.pm25 < pm.pm10 < 1500


def test_pm_has_a_morning_peak_and_an_afternoon_low() -> None:
    morning = statistics.mean(air.PM25_HOUR[7:10])
    afternoon = statistics.mean(air.PM25_HOUR[13:17])
    assert morning > 1.2 * afternoon


def test_winter_episodes_reach_the_advisory_level() -> None:
    """Stagnation episodes must be able to push hourly PM2.5 to 75 (the advisory) and beyond."""
    winter = datetime(2026, 1, 1, tzinfo=KST)
    peak = max(air.regional_pm(SEED, winter + timedelta(hours=h)).pm25 for h in range(90 * 24))
    assert peak >= 75


def test_ozone_peaks_on_summer_afternoons() -> None:
    july = datetime(2026, 7, 15, tzinfo=KST)
    afternoon = statistics.mean(
        air.ozone(SEED, july + timedelta(days=d, hours=15)) for d in range(10)
    )
    night = statistics.mean(air.ozone(SEED, july + timedelta(days=d, hours=3)) for d in range(10))
    january = statistics.mean(
        air.ozone(SEED, WEDNESDAY + timedelta(days=d, hours=15)) for d in range(10)
    )
    assert afternoon > 2 * night and afternoon > 1.5 * january
    assert 0.02 < afternoon < 0.15


def test_no2_follows_the_rush_hour() -> None:
    assert air.nitrogen_dioxide(SEED, at(WEDNESDAY, 8), 0) > air.nitrogen_dioxide(
        SEED, at(WEDNESDAY, 3), 0
    )


@pytest.mark.parametrize(
    ("pollutant", "value", "index"),
    [("pm25", 15, 50), ("pm25", 35, 100), ("pm25", 76, 251), ("pm10", 80, 100), ("o3", 0.09, 100)],
)
def test_cai_sub_index_at_the_breakpoints(pollutant: str, value: float, index: int) -> None:
    """DOMAIN.md 1.1: I_p = (I_HI - I_LO)/(BP_HI - BP_LO) (C_p - BP_LO) + I_LO."""
    assert air.sub_index(pollutant, value) == pytest.approx(index)


def test_cai_is_the_worst_sub_index() -> None:
    assert air.cai({"pm25": 40, "pm10": 20, "o3": 0.01}) == (116, "unhealthy")
    assert air.cai({"pm25": 10, "pm10": 20}) == (33, "good")


# ---- weather ------------------------------------------------------------------------------


def test_temperature_has_seasons_and_a_daily_cycle() -> None:
    def mean_at(month: int, hour: int) -> float:
        start = datetime(2026, month, 1, tzinfo=KST)
        return statistics.mean(
            weather.temperature(SEED, start + timedelta(days=d, hours=hour)) for d in range(28)
        )

    assert mean_at(8, 14) - mean_at(1, 14) > 20
    assert mean_at(4, 14) - mean_at(4, 5) > 5
    assert -25 < mean_at(1, 5) < 5 and 20 < mean_at(8, 14) < 38


def test_rain_falls_mostly_in_the_monsoon() -> None:
    def month_total(seed: int, month: int) -> float:
        start = datetime(2026, month, 1, tzinfo=KST)
        return sum(weather.rain(seed, start + timedelta(hours=h)) for h in range(30 * 24))

    for seed in range(3):
        july, january = month_total(seed, 7), month_total(seed, 1)
        assert july > 3 * january
    year = statistics.mean(sum(month_total(seed, m) for m in range(1, 13)) for seed in range(3))
    assert 800 < year < 2200  # Seoul-area normal: about 1,400 mm


def test_apparent_temperature() -> None:
    assert weather.apparent_temperature(33, 0.7, 1) > 38  # heat index
    assert weather.apparent_temperature(-10, 0.5, 5) < -15  # wind chill
    assert weather.apparent_temperature(20, 0.5, 3) == 20


# ---- waste --------------------------------------------------------------------------------


def test_a_bin_fills_during_the_day_and_is_emptied_at_the_collection() -> None:
    c = waste.Container("bin-1", "litter", 0.5, 1, 6.0)
    levels = [waste.fill_level(SEED, at(WEDNESDAY, h), c) for h in range(7, 31)]
    before = levels[:-1]  # 07:00 to 05:00 the next day
    assert all(b >= a for a, b in zip(before, before[1:], strict=False))
    assert levels[-1] < levels[-2]  # emptied at 06:00 the next morning
    assert 0.2 < levels[-2] <= 1.0


def test_kiosks_fill_over_two_days() -> None:
    c = waste.Container("kiosk-1", "kiosk", 0.35, 2, 10.0, 1.3)
    first = waste.last_collection(c, at(WEDNESDAY, 12))
    peak = waste.fill_level(SEED, first + timedelta(hours=47.9), c)
    assert peak > waste.fill_level(SEED, first + timedelta(hours=24), c) > 0.2
    assert waste.fill_level(SEED, first + timedelta(hours=48, minutes=1), c) < 0.01


def test_food_waste_goes_out_in_the_evening() -> None:
    assert waste.share_before("food", 22) - waste.share_before("food", 18) > 0.3
    assert waste.share_before("food", 24) == pytest.approx(1.0)


# ---- energy -------------------------------------------------------------------------------


def test_sunset_is_later_in_june_than_in_december() -> None:
    sunrise_june, sunset_june = energy.sun_times(date(2026, 6, 21))
    sunrise_dec, sunset_dec = energy.sun_times(date(2026, 12, 21))
    assert 19.7 < sunset_june < 20.1 and 17.1 < sunset_dec < 17.4  # DOMAIN.md 4.5
    assert sunset_june - sunrise_june > sunset_dec - sunrise_dec + 4


def test_streetlights_light_the_night_and_dim_after_midnight() -> None:
    lamp = energy.Lamp("lamp-1", 150, dims=True)
    noon = energy.streetlight(SEED, at(WEDNESDAY, 12), lamp)
    evening = energy.streetlight(SEED, at(WEDNESDAY, 21), lamp)
    late = energy.streetlight(SEED, at(WEDNESDAY, 27), lamp)  # 03:00
    assert noon.power_state == "off" and noon.watts == 0
    assert evening.power_state == "on" and evening.watts == pytest.approx(150, rel=0.1)
    assert late.power_state == "low" and late.watts == pytest.approx(75, rel=0.1)


def test_building_load_follows_working_hours_and_the_meter_only_grows() -> None:
    b = energy.Building("b", 500.0, open_weekends=False)
    assert energy.building_power(SEED, at(WEDNESDAY, 11), b) > 2 * energy.building_power(
        SEED, at(WEDNESDAY, 3), b
    )
    assert energy.building_power(SEED, at(SATURDAY, 11), b) < 0.5 * energy.building_power(
        SEED, at(WEDNESDAY, 11), b
    )
    readings = [energy.meter_reading(SEED, at(WEDNESDAY, h / 4), b) for h in range(4 * 24 * 3)]
    assert all(b2 > b1 for b1, b2 in zip(readings, readings[1:], strict=False))
    # a day's energy is the day's mean power times 24 h
    day_energy = readings[96] - readings[0]
    mean_power = statistics.mean(
        energy.building_power(SEED, at(WEDNESDAY, h / 4), b) for h in range(96)
    )
    assert day_energy == pytest.approx(mean_power * 24, rel=0.05)


# ---- flood and shelters -------------------------------------------------------------------


def test_the_stream_rises_after_rain() -> None:
    july = datetime(2026, 7, 1, tzinfo=KST)
    hours = [july + timedelta(hours=h) for h in range(31 * 24)]
    wettest = max(hours, key=lambda t: sum(weather.rain_last_hours(SEED, t, 6)))
    dry = min(hours, key=lambda t: sum(weather.rain_last_hours(SEED, t, 24)))
    assert flood.stream_level(SEED, wettest, 0.5, 0.05) > flood.stream_level(SEED, dry, 0.5, 0.05)
    assert flood.stream_level(SEED, dry, 0.5, 0.05) == pytest.approx(0.5)
    assert flood.level_status(2.6, 2.5, 3.5) == "alert"
    assert flood.level_status(0.4, 2.5, 3.5) == "normal"


def test_shelters_are_empty_at_night() -> None:
    assert shelters.shelter_occupancy(SEED, at(WEDNESDAY, 3), "s", 40) == 0
    day = [shelters.shelter_occupancy(SEED, at(WEDNESDAY, h), "s", 40) for h in range(9, 18)]
    assert all(0 <= n <= 40 for n in day) and max(day) > 0


# ---- reproducibility ----------------------------------------------------------------------


def test_same_seed_same_values_other_seed_other_values() -> None:
    times = [at(WEDNESDAY, h) for h in range(48)]
    a = [air.regional_pm(1, t).pm25 for t in times]
    assert a == [air.regional_pm(1, t).pm25 for t in times]
    assert a != [air.regional_pm(2, t).pm25 for t in times]
