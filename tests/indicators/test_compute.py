"""District indicators from known inputs (issue 16 deliverable 3), pure: areas from their own
geometry, one hour of readings (bad ones among them) to the tallies and values of every
indicator, leaves to parents, hours to days."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from cityhub.indicators.areas import area_map
from cityhub.indicators.catalogue import BY_NAME
from cityhub.indicators.compute import compute_hour, sensor_of
from cityhub.indicators.tally import Tally, rate_of, value_of
from cityhub.ngsild.solar import is_night
from tests.indicators.helpers import CITY, GU, area_entities, dong_id, point, prop

NIGHT = datetime(2026, 12, 1, 12, tzinfo=UTC)  # 21:00 in Seoul
NOON = datetime(2026, 12, 1, 3, tzinfo=UTC)  # 12:00 in Seoul


def internal(entity: dict[str, Any]) -> dict[str, Any]:
    """A normalized entity in the store's form (names are matched by their local part)."""
    attrs = {k: [v] for k, v in entity.items() if k not in ("id", "type")}
    return {"id": entity["id"], "type": [entity["type"]], "attrs": attrs}


def sensor(eid: str, kind: str, where: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    return internal({"id": eid, "type": kind, "location": where, **attrs})


SENSORS = [
    sensor("air1", "AirQualityObserved", point("a")),
    sensor("air2", "AirQualityObserved", point("c", dx=0.002)),
    sensor(
        "t1",
        "TrafficFlowObserved",
        point("b"),
        refRoadSegment={"type": "Relationship", "object": "road1"},
    ),
    sensor(
        "t2",
        "TrafficFlowObserved",
        point("d"),
        refRoadSegment={"type": "Relationship", "object": "road2"},
    ),
    sensor("t3", "TrafficFlowObserved", point("d"), category=prop(["arterial"])),
    sensor("p1", "OffStreetParking", point("a")),
    sensor("p2", "OffStreetParking", point("c")),
    sensor("w1", "WasteContainer", point("a")),
    sensor("w2", "WasteContainer", point("c"), binFullnessThreshold=prop(0.8)),
    sensor("w3", "WasteContainer", point("d")),
    sensor("w4", "WasteContainer", point("b")),  # reports nothing this hour
    sensor("l1", "Streetlight", point("b")),
    sensor("l2", "Streetlight", point("b")),
    sensor(
        "s1", "PointOfInterest", point("a"), category=prop(["heatShelter"]), peopleCapacity=prop(50)
    ),
    sensor(
        "s2",
        "PointOfInterest",
        point("c"),
        category=prop(["civilDefenceShelter"]),
        peopleCapacity=prop(300),
    ),
    sensor(
        "s3", "PointOfInterest", point("d"), category=prop(["restaurant"]), peopleCapacity=prop(80)
    ),
    sensor(
        "far",
        "AirQualityObserved",
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [10.0, 10.0]}},
    ),
]
ROADS = {
    "road1": internal({"id": "road1", "type": "RoadSegment", "category": prop(["arterial"])}),
    "road2": internal(
        {"id": "road2", "type": "RoadSegment", "category": prop(["urbanExpressway"])}
    ),
}


def values(*vs: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": v, "unitCode": "GQ"} for v in vs]


def props(*vs: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": v} for v in vs]


HISTORY: dict[str, dict[str, list[dict[str, Any]]]] = {
    "air1": {"pm25": values(40, 44), "airQualityLevel": props("moderate", "unhealthy")},
    "air2": {"pm25": values(20, "text", -5, 1e9)},
    "t1": {"averageVehicleSpeed": props(10, 14)},
    "t2": {"averageVehicleSpeed": props(25)},
    "t3": {"averageVehicleSpeed": props(40)},
    "p1": {"occupancy": props(0.96, 0.98)},
    "p2": {"occupancy": props(0.5, 2.0)},
    "w1": {"fillingLevel": props(0.5, 0.95)},
    "w2": {"fillingLevel": props(0.85)},
    "w3": {"fillingLevel": props(0.2)},
    "l1": {"powerState": props("on"), "status": props("ok"), "powerConsumption": props(100)},
    "l2": {
        "powerState": props("on"),
        "status": props("defectiveLamp"),
        "powerConsumption": props(0),
    },
}


def run(hour: datetime = NIGHT, **kw: Any) -> dict[str, dict[str, Tally]]:
    areas = area_map(internal(e) for e in area_entities(**kw))
    sensors = [s for s in (sensor_of(e, areas, ROADS) for e in SENSORS) if s is not None]
    return compute_hour(areas, sensors, HISTORY, hour)


def value(tallies: dict[str, dict[str, Tally]], area: str, name: str) -> Any:
    return value_of(BY_NAME[name], tallies[area][name])


def test_areas_form_a_hierarchy_from_references_or_from_their_geometry() -> None:
    for with_parents in (True, False):
        areas = area_map(internal(e) for e in area_entities(with_parents=with_parents))
        assert sorted(a.id for a in areas.leaves) == sorted(dong_id(n) for n in "abcd")
        assert areas.areas[dong_id("a")].parent == GU["west"]
        assert areas.areas[GU["east"]].parent == CITY
        assert areas.leaf_at(*[127.025, 37.005]).id == dong_id("c")  # type: ignore[union-attr]
        assert areas.leaf_at(10.0, 10.0) is None


def test_pm25_exposure_is_population_weighted_with_the_nearest_sensor_standing_in() -> None:
    t = run()
    # a: its own sensor, 42 -> above both; b: none, the nearest is air1 -> above both;
    # c: 20 (text, -5 and 1e9 left out) -> above WHO only; d: nearest air2 -> above WHO only
    assert value(t, dong_id("a"), "pm25ExposureKorea") == 1.0
    assert value(t, dong_id("c"), "pm25ExposureKorea") == 0.0
    assert value(t, GU["west"], "pm25ExposureKorea") == 1.0
    assert value(t, GU["east"], "pm25ExposureWho") == 1.0
    korea = t[CITY]["pm25ExposureKorea"]
    assert (korea.num, korea.den, korea.weight) == (4000, 10000, 10000)
    assert value(t, CITY, "pm25ExposureKorea") == 0.4
    assert value(t, CITY, "pm25ExposureWho") == 1.0
    west = t[GU["west"]]["pm25ExposureKorea"]
    assert west.estimated == 3000  # b's residents: from a sensor outside b
    # bad data is counted and kept out of the coverage, never raised
    assert t[dong_id("c")]["pm25ExposureKorea"].bad == 3
    assert (korea.expected, korea.reporting) == (2, 2)


def test_cai_grades_the_last_grade_of_each_station_hour() -> None:
    t = run()
    cai = t[CITY]["caiGradeDistribution"]
    assert value(t, CITY, "caiGradeDistribution") == {"unhealthy": 1.0}
    assert (cai.expected, cai.reporting) == (2, 1) and cai.coverage() == 0.5
    assert rate_of(BY_NAME["caiGradeDistribution"], cai) == 1.0


def test_congestion_parking_waste_streetlights_and_shelters() -> None:
    t = run()
    # t1 arterial 12 km/h congested; t2 expressway (its road segment says so) 25 congested;
    # t3 arterial 40 free
    assert value(t, CITY, "congestionIndex") == pytest.approx(2 / 3, abs=1e-6)
    assert value(t, GU["east"], "congestionIndex") == 0.5
    # p1 0.97 pressured; p2 0.5 (2.0 is bad data)
    assert value(t, GU["west"], "parkingPressure") == 1.0
    assert value(t, GU["east"], "parkingPressure") == 0.0
    assert t[GU["east"]]["parkingPressure"].bad == 1
    # w1 0.95 full; w2 0.85 >= its own threshold 0.8; w3 0.2; per 1,000 residents
    assert value(t, GU["west"], "wasteContainerFullHours") == 0.25
    assert value(t, GU["east"], "wasteContainerFullHours") == pytest.approx(1 / 6, abs=1e-6)
    # at night: l1 works, l2 is on at 0 W with a defective lamp
    assert value(t, GU["west"], "streetlightsWorkingAtNight") == 0.5
    # shelters (a restaurant is not one): per 1,000 residents without age data
    assert value(t, GU["west"], "shelterCapacityPerOlderResident") == 12.5
    assert value(t, GU["east"], "shelterCapacityPerOlderResident") == 50.0
    # 13 sensors; w4 reported nothing
    cov = t[CITY]["monitoringCoverage"]
    assert (cov.expected, cov.reporting) == (13, 12)
    assert value(t, CITY, "monitoringCoverage") == pytest.approx(12 / 13, abs=1e-6)


def test_streetlights_are_judged_at_night_only_and_shelters_per_older_resident() -> None:
    t = run(NOON, older=True)
    assert value(t, GU["west"], "streetlightsWorkingAtNight") is None
    assert t[GU["west"]]["streetlightsWorkingAtNight"].expected == 0
    # older residents: a tenth of the residents here
    assert value(t, GU["west"], "shelterCapacityPerOlderResident") == 0.125
    assert is_night(127.0, 37.0, NIGHT) and not is_night(127.0, 37.0, NOON)


def test_sensitive_groups_exposure_weights_children_and_older_residents() -> None:
    """DOMAIN.md 6.2 item 1: the exposure of children and residents aged 65+ apart."""
    assert value(run(), CITY, "pm25ExposureSensitive") is None  # no age data: no value
    assert run()[CITY]["pm25ExposureSensitive"].sensors == 0
    entities = area_entities(older=True)  # aged 65+: a tenth of the residents
    for e in entities:
        if e["id"] == dong_id("d"):
            e["populationUnder15"] = prop(600)
    areas = area_map(internal(e) for e in entities)
    sensors = [s for s in (sensor_of(e, areas, ROADS) for e in SENSORS) if s is not None]
    t = compute_hour(areas, sensors, HISTORY, NIGHT)
    # a (100) and b (300, from a's sensor) above 36; c (200) and d (400 + 600) not
    sensitive = t[CITY]["pm25ExposureSensitive"]
    assert (sensitive.num, sensitive.den, sensitive.weight) == (400, 1600, 1600)
    assert value(t, CITY, "pm25ExposureSensitive") == 0.25
    assert value(t, CITY, "pm25ExposureKorea") == 0.4  # everyone: 4,000 of 10,000
    assert value(t, dong_id("b"), "pm25ExposureSensitive") == 1.0


def test_walking_distance_to_the_nearest_shelter_is_population_weighted() -> None:
    """DOMAIN.md 6.2 item 8: straight line x 1.3 from each dong to the nearest shelter (s1 in
    a, s2 in c; the restaurant in d is none), weighted by residents."""
    t = run()
    step = 0.01 * 111.32 * math.cos(math.radians(37.005)) * 1.3  # one dong over, walked
    assert value(t, dong_id("a"), "shelterWalkingDistance") == 0.0
    assert value(t, dong_id("b"), "shelterWalkingDistance") == pytest.approx(step, abs=1e-5)
    assert value(t, dong_id("d"), "shelterWalkingDistance") == pytest.approx(step, abs=1e-5)
    west = value(t, GU["west"], "shelterWalkingDistance")
    assert west == pytest.approx(3000 * step / 4000, abs=1e-5)
    assert value(t, CITY, "shelterWalkingDistance") == pytest.approx(7000 * step / 10000, abs=1e-5)
    # without any shelter, no value
    areas = area_map(internal(e) for e in area_entities())
    none = compute_hour(areas, [], HISTORY, NIGHT)
    assert value(none, CITY, "shelterWalkingDistance") is None


def test_hours_add_up_to_a_day_and_shelters_stand_rather_than_add() -> None:
    first, second = run(), run()
    day = Tally()
    for hour in (first, second):
        day.add(hour[CITY]["pm25ExposureKorea"], same_period=False)
    assert (day.num, day.den, day.hours, day.weight) == (8000, 20000, 2, 10000)
    assert value_of(BY_NAME["pm25ExposureKorea"], day) == 0.8  # hours above per resident
    shelters = Tally()
    for hour in (first, second):
        shelters.add(
            hour[CITY]["shelterCapacityPerOlderResident"], same_period=False, snapshot=True
        )
    assert shelters.num == 350 and shelters.hours == 2
    assert Tally.from_doc(day.to_doc()) == day
    assert Tally.from_doc({"num": "x"}) is None


def test_hostile_areas_and_sensors_are_left_out_not_raised() -> None:
    def geo(value: dict[str, Any]) -> dict[str, Any]:
        return {"type": "GeoProperty", "value": value}

    bowtie = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]
    broken = [
        internal({"id": "x1", "type": "AdministrativeArea"}),  # no geometry
        internal(
            {
                "id": "x2",
                "type": "AdministrativeArea",
                "location": geo({"type": "Point", "coordinates": [1, 2]}),
            }
        ),
        internal(
            {
                "id": "x3",
                "type": "AdministrativeArea",
                "population": prop("many"),
                "location": geo({"type": "Polygon", "coordinates": bowtie}),
            }
        ),
    ]
    areas = area_map(broken)
    assert areas.skipped == 2 and len(areas.leaves) == 1  # the bow tie is repaired
    assert areas.leaves[0].population is None
    odd = internal({"id": "o", "type": "AirQualityObserved", "location": prop("nowhere")})
    assert sensor_of(odd, areas, {}) is None


def test_a_reading_asks_for_work_only_when_it_closes_an_hour() -> None:
    from cityhub.indicators.service import IndicatorService
    from cityhub.store.base import Change

    def aq(at: str, name: str = "pm25") -> dict[str, Any]:
        return internal({"id": "s", "type": "AirQualityObserved", name: prop(30, observedAt=at)})

    service = IndicatorService()

    def asks(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
        found = service.requests(Change("entityUpdated", "", "s", before, after))
        return any(str(r.key).startswith("clock:") for r in found)

    assert asks(None, aq("2026-11-01T03:20:00Z"))
    assert not asks(aq("2026-11-01T03:20:00Z"), aq("2026-11-01T03:50:00Z"))  # same hour closed
    assert not asks(aq("2026-11-01T03:50:00Z"), aq("2026-11-01T04:05:00Z"))  # the grace
    assert asks(aq("2026-11-01T04:05:00Z"), aq("2026-11-01T04:15:00Z"))
    # what a service derives (the CAI of an hour) closes nothing; other types ask for nothing
    assert not asks(None, aq("2026-11-01T05:00:00Z", "airQualityLevel"))
    other = internal(
        {
            "id": "x",
            "type": "NoiseLevelObserved",
            "pm25": prop(1, observedAt="2026-11-01T09:00:00Z"),
        }
    )
    assert not asks(None, other)


def test_stations_that_close_different_hours_ask_for_each_hour() -> None:
    """One transaction (a batch upsert) whose stations close different hours, the one behind
    last: the work of the later hour is not lost to the earlier (items of one key keep the
    later payload, so one "clock" item kept the earliest clock, and the later hour waited
    for another write)."""
    from cityhub.indicators.service import IndicatorService
    from cityhub.store.base import Change

    def aq(eid: str, at: str) -> dict[str, Any]:
        return internal({"id": eid, "type": "AirQualityObserved", "pm25": prop(30, observedAt=at)})

    service = IndicatorService()
    asked: dict[str | None, Any] = {}
    for eid, at in (("ahead", "2026-11-01T06:20:00Z"), ("behind", "2026-11-01T05:20:00Z")):
        for r in service.requests(Change("entityCreated", "", eid, None, aq(eid, at))):
            asked[r.key] = r.payload  # as the queue keeps them: the later payload per key
    clocks = sorted(p["clock"] for k, p in asked.items() if str(k).startswith("clock:"))
    assert clocks == ["2026-11-01T05:20:00.000000Z", "2026-11-01T06:20:00.000000Z"]


def test_a_reading_for_an_hour_that_may_be_computed_asks_for_that_hour() -> None:
    from cityhub.indicators.service import IndicatorService
    from cityhub.store.base import Change

    def aq(*times: str, name: str = "pm25") -> dict[str, Any]:
        values = [prop(30, observedAt=t, datasetId=f"urn:d:{i}") for i, t in enumerate(times)]
        return {"id": "s", "type": ["AirQualityObserved"], "attrs": {name: values}}

    wall = datetime(2026, 11, 1, 5, 5, tzinfo=UTC).timestamp()  # hour 4 is in its grace
    service = IndicatorService(clock=lambda: wall)

    def late(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
        found = service.requests(Change("entityUpdated", "", "s", before, after))
        return [r.payload["late"] for r in found if r.key and r.key.startswith("late:")]

    # hours ended (less the grace) before the hub's clock: 3 is, 4 is not yet
    assert late(None, aq("2026-11-01T03:59:00Z")) == ["2026-11-01T03:00:00.000000Z"]
    assert late(None, aq("2026-11-01T04:30:00Z")) == []
    # only the readings the write brought; the CAI of an hour as well
    before = aq("2026-11-01T02:10:00Z")
    assert late(before, aq("2026-11-01T02:10:00Z")) == []
    assert late(before, aq("2026-11-01T02:10:00Z", "2026-11-01T01:10:00Z")) == [
        "2026-11-01T01:00:00.000000Z"
    ]
    assert late(None, aq("2026-11-01T02:00:00Z", name="airQualityLevel")) == [
        "2026-11-01T02:00:00.000000Z"
    ]
    # the entity's own previous reading closed the hour (a clock ahead of the hub's)
    ahead = IndicatorService(clock=lambda: datetime(2026, 11, 1, 0, 0, tzinfo=UTC).timestamp())
    change = Change(
        "entityUpdated", "", "s", aq("2026-11-01T05:20:00Z"), aq("2026-11-01T03:10:00Z")
    )
    assert [r.payload["late"] for r in ahead.requests(change) if "late" in r.payload] == [
        "2026-11-01T03:00:00.000000Z"
    ]
    # through the temporal API: the hours of the instances written
    written = {"id": "s", "type": [], "attrs": aq("2026-11-01T01:10:00Z")["attrs"]}
    assert [r.payload["late"] for r in service.history_requests("", written)] == [
        "2026-11-01T01:00:00.000000Z"
    ]
    noise = {"id": "b", "type": ["https://uri.fiware.org/ns/data-models#NoiseLevelObserved"]}
    assert list(service.history_requests("", {**noise, "attrs": written["attrs"]})) == []


def test_a_lamp_is_judged_on_its_readings_taken_at_night() -> None:
    from cityhub.indicators.compute import Sensor, sensor_hour

    lamp = Sensor("l", "streetlight", "a", 127.0, 37.0)
    hour = datetime(2026, 12, 1, 8, tzinfo=UTC)  # 17:00-18:00 in Seoul; sunset about 17:15

    def reading(state: str, watts: float, at: str) -> dict[str, list[dict[str, Any]]]:
        when = {"observedAt": f"2026-12-01T{at}:00Z"}
        return {
            "powerState": [{"type": "Property", "value": state, **when}],
            "status": [{"type": "Property", "value": "ok", **when}],
            "powerConsumption": [{"type": "Property", "value": watts, **when}],
        }

    # off at 17:00 (the sun still up) is not a fault; on at 17:45 is working
    early, late = reading("off", 0, "08:00"), reading("on", 100, "08:45")
    both = {k: early[k] + late[k] for k in early}
    seen = sensor_hour(lamp, both, hour)
    assert seen.night and seen.reported and seen.flag is True
    # off at 17:45 is a lamp not working
    seen = sensor_hour(lamp, reading("off", 0, "08:45"), hour)
    assert seen.reported and seen.flag is False
    # an hour of daylight is not judged
    seen = sensor_hour(lamp, reading("off", 0, "03:30"), datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert not seen.night and not seen.reported
