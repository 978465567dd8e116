"""The demo city's layout: counts per type, ids, places inside their dong, references,
names, units and the synthetic-data label (DOMAIN.md section 6)."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from shapely.geometry import shape

from cityhub.demo.city import City, build_city
from cityhub.demo.clock import KST
from cityhub.demo.model import SYNTHETIC
from cityhub.demo.readings import KINDS
from cityhub.ngsild.geojson import check_geometry

EXPECTED = {
    "AdministrativeArea": 54,
    "AirQualityObserved": 24,
    "WeatherObserved": 3,
    "RoadSegment": 8,
    "TrafficFlowObserved": 16,
    "OffStreetParking": 12,
    "WasteContainer": 70,
    "Streetlight": 120,
    "Building": 12,
    "PointOfInterest": 30,
    "FloodMonitoring": 6,
    "Device": 278,
}
#: measured properties and the UN/CEFACT unit they must carry
UNITS = {
    "pm10": "GQ",
    "pm25": "GQ",
    "no2": "59",
    "o3": "59",
    "co": "59",
    "so2": "59",
    "temperature": "CEL",
    "relativeHumidity": "C62",
    "precipitation": "MMT",
    "atmosphericPressure": "A97",
    "windSpeed": "MTS",
    "windDirection": "DD",
    "feelsLikeTemperature": "CEL",
    "averageVehicleSpeed": "KMH",
    "occupancy": "C62",
    "fillingLevel": "C62",
    "cargoWeight": "KGM",
    "powerConsumption": "WTT",
    "illuminanceLevel": "C62",
    "totalActivePower": "KWT",
    "totalActiveEnergyImport": "KWH",
    "currentLevel": "MTR",
    "batteryLevel": "C62",
}
UNITLESS = {
    "airQualityIndex",
    "airQualityLevel",
    "intensity",
    "congested",
    "occupiedSpotNumber",
    "availableSpotNumber",
    "status",
    "powerState",
    "floodLevelStatus",
    "dateLastValueReported",
    "peopleOccupancy",
}


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


def test_counts_per_type(city: City) -> None:
    assert dict(city.counts()) == EXPECTED
    waste = [a for a in city.assets if a.entity_type == "WasteContainer"]
    kinds = {k: sum(a.kind == k for a in waste) for k in ("litter-bin", "kiosk", "food-bin")}
    assert kinds == {"litter-bin": 24, "kiosk": 30, "food-bin": 16}
    kiosk_sites = {a.location["coordinates"][1] for a in waste if a.kind == "kiosk"}
    assert len(kiosk_sites) == 19  # 30 kiosks at 19 sites (DOMAIN.md 4.4)


def test_ids_are_unique_and_follow_the_scheme(city: City) -> None:
    ids = [a.id for a in city.assets]
    assert len(ids) == len(set(ids))
    for a in city.assets:
        assert re.fullmatch(rf"urn:ngsi-ld:{a.entity_type}:seongnam:\d{{5,10}}:?[a-z0-9-]*", a.id)


def test_the_layout_does_not_change_between_builds(city: City) -> None:
    again = build_city(city.geography)
    assert [a.static_entity() for a in again.assets] == [a.static_entity() for a in city.assets]


def test_every_place_lies_inside_its_dong(city: City) -> None:
    placed = [a for a in city.assets if a.dong is not None]
    assert len(placed) == len(city.assets) - 54  # all but the districts
    for a in placed:
        geom = shape(a.location)
        assert a.dong.prepared.contains(geom), (a.id, a.dong.name_ko)


def test_every_geometry_is_one_the_hub_accepts(city: City) -> None:
    """The hub refuses self-crossing rings and overlapping MultiPolygon parts (RFC 7946
    clause 3.1.6, OGC validity; cityhub.ngsild.geojson): the simulator's entities, as JSON
    sends them, must all pass (the districts' boundaries are repaired in demo/geography.py)."""
    kinds: set[str] = set()
    for asset in city.assets:
        for name, attr in json.loads(json.dumps(asset.static_entity())).items():
            if isinstance(attr, dict) and attr.get("type") == "GeoProperty":
                check_geometry(attr["value"], f"{asset.id} {name}")
                kinds.add(attr["value"]["type"])
    assert {"Point", "LineString", "Polygon", "MultiPolygon"} <= kinds


def test_references_point_at_entities_of_the_city(city: City) -> None:
    for a in city.assets:
        entity = a.static_entity()
        for name, attr in entity.items():
            if isinstance(attr, dict) and attr.get("type") == "Relationship":
                assert attr["object"] in city.by_id, (a.id, name)
    live = city.live
    assert all(a.device in city.by_id for a in live if a.kind != "streetlight")


def test_names_are_korean_and_english_and_values_are_labelled_synthetic(city: City) -> None:
    for a in city.assets:
        entity = a.static_entity()
        names = entity["name"]
        assert names["type"] == "LanguageProperty"
        assert set(names["languageMap"]) == {"ko", "en"}
        assert re.search(r"[가-힣]", names["languageMap"]["ko"]), a.id
        assert re.fullmatch(r"[ -~]+", names["languageMap"]["en"]), a.id
        provider = entity["dataProvider"]["value"]
        if a.entity_type == "AdministrativeArea":
            assert "KOSTAT" in provider
        else:
            assert provider == SYNTHETIC


def test_readings_carry_units_and_observed_at(city: City) -> None:
    t = datetime(2026, 1, 14, 8, 0, tzinfo=KST)
    seen: set[str] = set()
    for a in city.live:
        for name, attr in KINDS[a.kind].read(a, 1, t).items():
            seen.add(name)
            assert attr["observedAt"] == "2026-01-13T23:00:00Z", (a.id, name)
            if name in UNITS:
                assert attr.get("unitCode") == UNITS[name], (a.id, name)
            else:
                assert name in UNITLESS, f"{name} has no declared unit"
    assert "pm25" in seen and "intensity" in seen and "totalActiveEnergyImport" in seen


def test_every_live_kind_has_assets(city: City) -> None:
    assert {a.kind for a in city.live} == set(KINDS)
