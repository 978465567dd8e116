"""End to end: the simulator runs the demo city for seven simulated hours at high speed against a
real app (in-process ASGI, through the public NGSI-LD API and the IoT agent's HTTP transport
only), then the city is read back through the API: counts per type, value ranges, readings that
change with the expected daily shape, and the sensors as the agent's devices."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.demo.city import City, build_city
from cityhub.demo.clock import KST, SimClock, floor_to
from cityhub.demo.readings import KINDS
from cityhub.demo.simulator import Simulator, simulate
from cityhub.settings import Settings

from .test_city import EXPECTED

START = datetime(2026, 1, 14, 2, 0, tzinfo=KST)  # a Wednesday (and a Moran market day)
UNTIL = START + timedelta(hours=7)
SPEED = 3600.0  # an hour a second; the fake real clock moves a second per pause
MORAN = "urn:ngsi-ld:TrafficFlowObserved:seongnam:41133:seongnamdaero-moran-inbound"
STATION = "urn:ngsi-ld:AirQualityObserved:seongnam:41131:airkorea-dandae"
CITY_HALL = "urn:ngsi-ld:Building:seongnam:41133:city-hall"


@dataclass
class Run:
    client: TestClient
    city: City
    problems: int
    ticks: list[datetime]
    seeded: int
    sent: int
    began: datetime
    ended: datetime


def _run(store: str, city: City) -> tuple[int, list[datetime], int, int]:
    ticks: list[datetime] = []
    seeded: list[int] = []
    sent: list[int] = []

    async def main() -> int:
        # every device message writes its Device entity (dateLastValueReported)
        app = create_app(Settings(store=store, iot_device_refresh=0))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                real = [0.0]

                async def pause(seconds: float) -> None:
                    real[0] += seconds

                clock = SimClock(START, SPEED, real=lambda: real[0])
                sim = Simulator(client, city, seed=5)
                tick = sim.tick

                async def recording_tick(now: datetime) -> int:
                    ticks.append(now)
                    return await tick(now)

                sim.tick = recording_tick  # type: ignore[method-assign]
                await simulate(
                    sim,
                    clock,
                    backfill_days=0.25,
                    until=UNTIL,
                    pause=pause,
                    on_seeded=seeded.append,
                )
                sent.append(sim.sent)
                return sim.problems

    problems = asyncio.run(main())
    return problems, ticks, seeded[0], sent[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    db: Path = tmp_path_factory.mktemp("demo") / "seongnam.db"
    city = build_city()
    began = datetime.now(UTC)
    problems, ticks, seeded, sent = _run(f"sqlite:///{db}", city)
    ended = datetime.now(UTC)
    # read the city back through a new app on the same store
    with TestClient(create_app(Settings(store=f"sqlite:///{db}", max_limit=1000))) as client:
        yield Run(client, city, problems, ticks, seeded, sent, began, ended)


def _get(run: Run, path: str, **params: Any) -> Any:
    response = run.client.get(f"/ngsi-ld/v1{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_run_had_no_problems_and_ticked_every_simulated_hour(run: Run) -> None:
    assert run.problems == 0
    assert run.seeded == sum(EXPECTED.values())
    assert run.ticks == [START + timedelta(hours=h) for h in range(1, 8)]


def test_counts_per_type_through_the_api(run: Run) -> None:
    for entity_type, expected in EXPECTED.items():
        response = run.client.get(
            "/ngsi-ld/v1/entities", params={"type": entity_type, "count": "true", "limit": 0}
        )
        assert response.status_code == 200, response.text
        assert int(response.headers["NGSILD-Results-Count"]) == expected, entity_type


def test_value_ranges_through_the_api(run: Run) -> None:
    air = _get(run, "/entities", type="AirQualityObserved", options="keyValues", limit=100)
    assert len(air) == 24
    for e in air:
        assert 0 < e["pm25"] < e["pm10"] < 1000
        assert e["dataProvider"] == "cityhub-simulator"
    parking = _get(run, "/entities", type="OffStreetParking", options="keyValues", limit=100)
    for e in parking:
        assert e["occupiedSpotNumber"] + e["availableSpotNumber"] == e["totalSpotNumber"]
        assert 0 <= e["occupancy"] <= 1
    bins = _get(run, "/entities", type="WasteContainer", options="keyValues", limit=100)
    assert all(0 <= e["fillingLevel"] <= 1 for e in bins)
    traffic = _get(run, "/entities", type="TrafficFlowObserved", options="keyValues", limit=100)
    assert all(5 <= e["averageVehicleSpeed"] <= 90 for e in traffic)
    lights = _get(run, "/entities", type="Streetlight", options="keyValues", limit=200)
    assert {e["powerState"] for e in lights} <= {"on", "off", "low"}
    assert all(0 <= e["powerConsumption"] <= 250 for e in lights)


def test_the_current_state_is_the_last_tick(run: Run) -> None:
    entity = _get(run, f"/entities/{STATION}")
    assert entity["pm25"]["observedAt"] == "2026-01-14T00:00:00Z"  # 09:00 KST
    assert entity["pm25"]["unitCode"] == "GQ"
    assert entity["dateObserved"]["value"] == {
        "@type": "DateTime",
        "@value": "2026-01-14T00:00:00Z",
    }
    device = _get(run, f"/entities/{entity['refDevice']['object']}", options="keyValues")
    # the agent's: when the hub received the device's last message (real time)
    reported = datetime.fromisoformat(device["dateLastValueReported"]["@value"])
    assert run.began <= reported <= run.ended
    assert device["deviceState"] == "ok" and device["controlledAsset"] == STATION


# ---- the sensors as the IoT agent's devices (issue 18 deliverable 6) -------------------------


def test_every_sensor_is_a_device_of_the_agent_provisioned_by_its_api(run: Run) -> None:
    """The simulator provisioned a config group per kind and a device per sensor through
    /iot/groups and /iot/devices (iotagent-node-lib's provisioning API)."""
    groups = run.client.get("/iot/groups").json()
    assert groups["count"] == len({a.kind for a in run.city.live}) == 12
    devices = run.client.get("/iot/devices", params={"limit": 1000}).json()
    assert devices["count"] == len(run.city.live) == EXPECTED["Device"]
    by_entity = {d["entity_name"]: d for d in devices["devices"]}
    station = by_entity[STATION]
    assert station["device_id"] == "seongnam:41131:airkorea-dandae"
    assert station["entity_type"] == "AirQualityObserved" and station["transport"] == "HTTP"


def test_the_readings_came_through_the_agent(run: Run) -> None:
    """Every reading the simulator sent was a device message the agent committed: the
    agent's count of committed measures is the simulator's count of messages, no message was
    refused, and each Device's dateLastValueReported moved with its messages."""
    assert run.sent == len(run.city.live) * 8 - _dropped(run)  # the start and 7 ticks
    about = run.client.get("/iot/about").json()
    # a new app: the counters of the run are gone, but the history is there
    assert about["measures"]["committed"] == 0
    assert run.client.get("/iot/errors").json()["errors"] == []
    device = "urn:ngsi-ld:Device:seongnam:41131:airkorea-dandae"
    body = _get(
        run,
        f"/temporal/entities/{device}",
        attrs="dateLastValueReported",
        options="temporalValues",
        lastN=20,
    )
    values = [v for v, _ in body["dateLastValueReported"]["values"]]
    assert len(values) >= 8 and len(set(map(str, values))) == len(values)


def test_battery_powered_sensors_report_their_battery_to_their_device(run: Run) -> None:
    litter_bin = next(a for a in run.city.live if a.kind == "litter-bin")
    assert litter_bin.device is not None
    device = _get(run, f"/entities/{litter_bin.device}")
    assert 0 < device["batteryLevel"]["value"] <= 1
    assert device["batteryLevel"]["unitCode"] == "C62"
    assert device["batteryLevel"]["observedAt"] == "2026-01-14T00:00:00Z"


def _dropped(run: Run) -> int:
    """The readings the seed lets go missing in the run's ticks (a sensor that skips one)."""
    from cityhub.demo.readings import is_dropped

    return sum(
        1
        for t in run.ticks
        for a in run.city.live
        if is_dropped(a, 5, floor_to(t, KINDS[a.kind].interval))
    )


def _history(run: Run, entity_id: str, attr: str) -> dict[str, float]:
    body = _get(
        run,
        f"/temporal/entities/{entity_id}",
        attrs=attr,
        options="temporalValues",
        timerel="between",
        timeAt="2026-01-13T00:00:00Z",
        endTimeAt="2026-01-14T02:00:00Z",
    )
    return {when: value for value, when in body[attr]["values"]}


def test_traffic_is_higher_at_8_than_at_3_through_the_temporal_api(run: Run) -> None:
    intensity = _history(run, MORAN, "intensity")
    speed = _history(run, MORAN, "averageVehicleSpeed")
    at_3, at_8 = "2026-01-13T18:00:00Z", "2026-01-13T23:00:00Z"
    assert intensity[at_8] > 5 * intensity[at_3]
    assert speed[at_8] < speed[at_3]


def test_the_backfill_wrote_history_before_the_start(run: Run) -> None:
    intensity = _history(run, MORAN, "intensity")
    before = sorted(t for t in intensity if t < "2026-01-13T17:00:00Z")
    # 6 hours before the start (02:00 KST) at the backfill's 15-minute spacing
    assert before[0] == "2026-01-13T11:00:00Z" and len(before) == 24
    energy = _history(run, CITY_HALL, "totalActiveEnergyImport")
    values = [energy[t] for t in sorted(energy)]
    assert len(values) == 12 + 1 + 7  # backfill, seed, ticks
    assert values == sorted(values)  # a meter only grows


def test_readings_change_over_time(run: Run) -> None:
    for entity_id, attr in [(STATION, "pm25"), (MORAN, "averageVehicleSpeed")]:
        values = _history(run, entity_id, attr)
        assert len(set(values.values())) > 5, entity_id


def test_names_in_korean_and_english(run: Run) -> None:
    ko = _get(run, "/entities", type="AdministrativeArea", q='administrativeLevel=="gu"', lang="ko")
    assert sorted(e["name"]["value"] for e in ko) == ["분당구", "수정구", "중원구"]
    en = _get(run, f"/entities/{STATION}", lang="en", options="keyValues")
    assert en["name"] == "Dandae-dong air-quality station"


def test_every_entity_is_inside_the_city_by_geo_query(run: Run) -> None:
    """A geo-query with the city polygon finds every sensor (the demo's places are real)."""
    response = run.client.get(
        "/ngsi-ld/v1/entities",
        params={
            "type": "OffStreetParking",
            "georel": "near;maxDistance==3000",
            "geometry": "Point",
            "coordinates": "[127.1112,37.3948]",  # Pangyo station
            "options": "keyValues",
            "attrs": "name",
        },
    )
    assert response.status_code == 200, response.text
    names = {e["id"].rsplit(":", 1)[1] for e in response.json()}
    assert "parking-ptv" in names and "parking-city-hall" not in names


def test_a_restart_on_a_kept_store_resumes_without_a_second_backfill(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'kept.db'}"
    city = build_city()
    lines: list[str] = []

    async def start(at: datetime) -> int:
        app = create_app(Settings(store=store))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                sim = Simulator(client, city, seed=1, report=lines.append)
                await simulate(sim, SimClock(at), backfill_days=0.1, until=at)
                history = await client.get(
                    f"/ngsi-ld/v1/temporal/entities/{MORAN}",
                    params={"attrs": "intensity", "options": "temporalValues"},
                )
                return len(history.json()["intensity"]["values"])

    first = asyncio.run(start(START))
    assert any("backfilled 0.1 days" in line for line in lines)
    second = asyncio.run(start(START + timedelta(hours=1)))
    assert any("already held the city; no backfill" in line for line in lines)
    assert second == first + 1  # the new start's reading, and no backfill again


def test_the_demo_publishes_its_city_but_the_devices(run: Run) -> None:
    """Issue 19: the demo's types are open data (cityhub/demo/publish.py), and the district
    indicators with them; its sensors' Device entities are not."""
    collections = run.client.get("/ogcapi/collections").json()["collections"]
    names = {c["id"] for c in collections}
    assert names == set(EXPECTED) - {"Device"} | {"KeyPerformanceIndicator"}
    kpi = run.client.get("/admin/publishing/KeyPerformanceIndicator").json()
    assert kpi["history"] is True and kpi["title"] == "District indicators (행정동 지표)"
    assert {c["license"] for c in collections} == {"CC-BY-4.0"}
    aqo = run.client.get("/admin/publishing/AirQualityObserved").json()
    assert aqo["history"] is True and aqo["title"] == "Air quality (대기질)"
    assert run.client.get("/admin/publishing/AdministrativeArea").json()["history"] is False
    items = run.client.get("/ogcapi/collections/AirQualityObserved/items?limit=100").json()
    assert items["numberMatched"] == EXPECTED["AirQualityObserved"]
    assert run.client.get("/ogcapi/collections/Device/items").status_code == 404
