"""DOMAIN.md 6.2's heat hours, travel-time index and energy intensity of public buildings
through the public API, on both backends: readings written as any client writes them (hostile
ones among them) become hourly KeyPerformanceIndicator entities per district with the values
computed by hand, and the gap endpoint compares them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_client
from tests.indicators.helpers import area_entities, point

API = "/ngsi-ld/v1"
#: the hour computed: 07:00-08:00 on Monday 3 August 2026 in Seoul (the morning peak)
HOUR = "2026-08-02T22"


def kpi(indicator: str, frequency: str, area: str) -> str:
    return f"urn:ngsi-ld:KeyPerformanceIndicator:{indicator}:{frequency}:test:{area}"


def upsert(client: TestClient, entities: list[dict[str, Any]]) -> None:
    r = client.post(f"{API}/entityOperations/upsert", json=entities)
    assert r.status_code in (201, 204), r.text


def reading(value: Any, at: str, unit: str | None = None) -> dict[str, Any]:
    out = {"type": "Property", "value": value, "observedAt": f"{at}:00Z"}
    if unit is not None:
        out["unitCode"] = unit
    return out


def weather(eid: str, where: str, at: str, temp: Any, rh: Any, rh_unit: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:WeatherObserved:{eid}",
        "type": "WeatherObserved",
        "location": point(where),
        "temperature": reading(temp, at, "CEL"),
        "relativeHumidity": reading(rh, at, rh_unit),
    }


ROAD = {
    "id": "urn:ngsi-ld:RoadSegment:r1",
    "type": "RoadSegment",
    "length": {"type": "Property", "value": 700, "unitCode": "MTR"},
    "freeFlowSpeed": {"type": "Property", "value": 50, "unitCode": "KMH"},
    "maximumAllowedSpeed": {"type": "Property", "value": 60, "unitCode": "KMH"},
}


def traffic(at: str, speed: Any) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:TrafficFlowObserved:r1",
        "type": "TrafficFlowObserved",
        "location": point("b"),
        "refRoadSegment": {"type": "Relationship", "object": ROAD["id"]},
        "averageVehicleSpeed": reading(speed, at, "KMH"),
    }


def hall(at: str, kwh: Any) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:Building:hall",
        "type": "Building",
        "location": point("a"),
        "grossFloorArea": {"type": "Property", "value": 1000, "unitCode": "MTK"},
        "totalActiveEnergyImport": reading(kwh, at, "KWH"),
    }


def settle(client: TestClient) -> None:
    runner = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(runner.settle)


def get(client: TestClient, eid: str) -> dict[str, Any]:
    r = client.get(f"{API}/entities/{eid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def hub(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(
        tmp_path, store_url, indicators_service=True, indicators_lookback_hours=2
    ) as c:
        upsert(c, area_entities())
        for entities in (
            # a: 35 °C at 80 % (37.2 apparent), then a "NaN" reading; c: 35 °C at 30 % (32.0)
            [weather("h1", "a", f"{HOUR}:10", 35, 0.8, "C62")],
            [weather("h1", "a", f"{HOUR}:20", "NaN", 0.8, "C62")],
            [weather("h2", "c", f"{HOUR}:15", 35, 30, "P1")],
            # b's road (700 m, free flow 50 km/h): 25 and 50 km/h, a "NaN" and a -10
            [ROAD, traffic(f"{HOUR}:05", 25)],
            [traffic(f"{HOUR}:10", 50)],
            [traffic(f"{HOUR}:15", "NaN")],
            [traffic(f"{HOUR}:20", -10)],
            # a's hall (1,000 m²): its meter rose 10 kWh in half an hour, then a "NaN"
            [hall(f"{HOUR}:00", 100.0)],
            [hall(f"{HOUR}:30", 110.0)],
            [hall(f"{HOUR}:45", "NaN")],
            # the readings that close the hour (ten minutes' grace)
            [weather("h1", "a", "2026-08-02T23:20", 20, 0.5, "C62")],
        ):
            upsert(c, entities)
        settle(c)
        yield c


def test_heat_hours_per_district(hub: TestClient) -> None:
    a = get(hub, kpi("heatHours", "hourly", "a"))
    assert a["kpiValue"]["value"] == 1.0
    assert a["kpiValue"]["observedAt"] == f"{HOUR[:10]}T23:00:00.000000Z"
    assert a["kpiValue"]["badReadings"]["value"] == 1  # the "NaN"
    assert get(hub, kpi("heatHours", "hourly", "b"))["kpiValue"]["value"] == 1.0  # a's station
    assert get(hub, kpi("heatHours", "hourly", "c"))["kpiValue"]["value"] == 0.0
    city = get(hub, "urn:ngsi-ld:KeyPerformanceIndicator:heatHours:hourly:test:city")
    assert city["kpiValue"]["value"] == 0.4  # a and b: 4,000 of 10,000 residents
    assert city["kpiValue"]["dataCoverage"]["value"] == 1.0
    r = hub.get("/indicators/gap", params={"indicator": "heatHours", "frequency": "hourly"})
    assert r.status_code == 200, r.text
    zones = {z["zone"]: z for z in r.json()["zones"]}
    assert zones["old-downtown"]["value"] == 1.0 and zones["new-town-1990s"]["value"] == 0.0
    assert r.json()["ranking"] is None  # one station a zone: too thin to rank
    names = [i["name"] for i in hub.get("/indicators").json()["indicators"]]
    assert "heatHours" in names


def test_travel_time_index_at_the_morning_peak(hub: TestClient) -> None:
    """07:00-08:00 on a Monday in Seoul: travel 0.7 km x mean(1/25, 1/50) h against 0.7 km at
    50 km/h: 1.5."""
    b = get(hub, kpi("travelTimeIndex", "hourly", "b"))
    assert b["kpiValue"]["value"] == 1.5
    assert b["kpiValue"]["badReadings"]["value"] == 2
    assert b["kpiValue"]["numerator"]["value"] == pytest.approx(0.021)
    assert b["kpiValue"]["denominator"]["value"] == pytest.approx(0.014)
    assert b["kpiUnit"]["value"] == "travel time / free-flow travel time"
    west = get(hub, "urn:ngsi-ld:KeyPerformanceIndicator:travelTimeIndex:hourly:test:west")
    assert west["kpiValue"]["value"] == 1.5
    # a district without a road has no index
    r = hub.get(f"{API}/entities/{kpi('travelTimeIndex', 'hourly', 'a')}")
    assert r.status_code == 404
    r = hub.get(
        "/indicators/gap",
        params={"indicator": "travelTimeIndex", "frequency": "hourly", "level": "dong"},
    )
    assert r.status_code == 200, r.text
    zones = {z["zone"]: z for z in r.json()["zones"]}
    assert zones["old-downtown"]["value"] == 1.5


def test_energy_intensity_of_a_public_building(hub: TestClient) -> None:
    """20 kWh in the hour over 1,000 m²: 0.02 kWh/m²."""
    a = get(hub, kpi("buildingEnergyIntensity", "hourly", "a"))
    assert a["kpiValue"]["value"] == 0.02
    assert a["kpiValue"]["numerator"]["value"] == pytest.approx(20.0)
    assert a["kpiValue"]["denominator"]["value"] == 1000
    assert a["kpiValue"]["badReadings"]["value"] == 1
    assert a["kpiValue"]["dataCoverage"]["value"] == 1.0
    city = get(hub, "urn:ngsi-ld:KeyPerformanceIndicator:buildingEnergyIntensity:hourly:test:city")
    assert city["kpiValue"]["value"] == 0.02
    r = hub.get(f"{API}/entities/{kpi('buildingEnergyIntensity', 'hourly', 'c')}")
    assert r.status_code == 404  # no building there
