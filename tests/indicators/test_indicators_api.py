"""District indicators through the public API, on both backends (issue 16 deliverables 3 and
4): readings written as any client writes them become hourly and daily KeyPerformanceIndicator
entities per district with known values; bad data is counted, never raised; an hour is done
once; the gap endpoint answers JSON and CSV, withholds a ranking the data cannot carry, and
refuses bad parameters with ProblemDetails; the setting switches the service off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.indicators import INDICATORS
from tests.conftest import make_client
from tests.indicators.helpers import area_entities, point

API = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def kpi(indicator: str, frequency: str, dong: str) -> str:
    return f"urn:ngsi-ld:KeyPerformanceIndicator:{indicator}:{frequency}:test:{dong}"


def upsert(client: TestClient, entities: list[dict[str, Any]]) -> None:
    r = client.post(f"{API}/entityOperations/upsert", json=entities)
    assert r.status_code in (201, 204), r.text


def air(eid: str, where: dict[str, Any], pm25: Any, at: str) -> dict[str, Any]:
    return {
        "id": eid,
        "type": "AirQualityObserved",
        "location": where,
        "pm25": {"type": "Property", "value": pm25, "unitCode": "GQ", "observedAt": at},
    }


def settle(client: TestClient) -> None:
    runner = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(runner.settle)


def city(client: TestClient) -> None:
    """The test city, then three hours of PM2.5 (hour 1 of air2 all bad), then a reading at
    03:20 that closes hour 2 (ten minutes' grace), then one at 15:20 that closes the last hour
    of the day in Seoul (14:00-15:00 UTC): the daily KPIs."""
    upsert(client, area_entities())
    a, c = "urn:ngsi-ld:AirQualityObserved:a", "urn:ngsi-ld:AirQualityObserved:c"
    readings = [
        (a, 40, "00:10"), (c, 20, "00:15"),
        (a, 10, "01:10"), (c, "text", "01:15"), (c, -5, "01:20"), (c, 1e9, "01:25"),
        (a, 40, "02:10"), (c, 12, "02:15"),
        (a, 11, "03:20"),
    ]  # fmt: skip
    for eid, value, hhmm in readings:
        where = point("a") if eid == a else point("c")
        upsert(client, [air(eid, where, value, f"2026-11-01T{hhmm}:00Z")])
    settle(client)
    assert client.get(f"{API}/entities/{kpi('pm25ExposureKorea', 'daily', 'a')}").status_code == 404
    upsert(client, [air(a, point("a"), 11, "2026-11-01T15:20:00Z")])
    settle(client)


def get(client: TestClient, eid: str) -> dict[str, Any]:
    r = client.get(f"{API}/entities/{eid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def hub(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(
        tmp_path, store_url, indicators_service=True, indicators_lookback_hours=4
    ) as c:
        city(c)
        yield c


def test_hourly_and_daily_kpis_with_their_denominator_and_coverage(hub: TestClient) -> None:
    hourly = get(hub, kpi("pm25ExposureKorea", "hourly", "a"))
    assert hourly["type"] == "KeyPerformanceIndicator"
    assert hourly["calculationFrequency"]["value"] == "hourly"
    assert hourly["calculationPeriod"]["value"] == {
        "from": "2026-11-01T02:00:00.000000Z",
        "to": "2026-11-01T03:00:00.000000Z",
    }
    value = hourly["kpiValue"]
    assert value["value"] == 1.0 and value["observedAt"] == "2026-11-01T03:00:00.000000Z"
    assert value["population"]["value"] == 1000 and value["dataCoverage"]["value"] == 1.0
    assert hourly["refAdministrativeArea"]["object"].endswith(":test:a")
    assert hourly["cityhubZone"]["value"] == "old-downtown"
    # the day (Seoul's, from 2026-10-31T15:00Z), written once it ended: hours 0 and 2 above 36
    # of the three with data
    daily = get(hub, kpi("pm25ExposureKorea", "daily", "a"))
    assert daily["kpiValue"]["value"] == 2.0
    assert daily["kpiValue"]["hoursIncluded"]["value"] == 3
    assert daily["calculationPeriod"]["value"] == {
        "from": "2026-10-31T15:00:00.000000Z",
        "to": "2026-11-01T15:00:00.000000Z",
    }
    # a district without a car park has no parking KPI; one with no sensor of its own still
    # has an exposure (its neighbour's)
    assert hub.get(f"{API}/entities/{kpi('parkingPressure', 'hourly', 'a')}").status_code == 404
    assert get(hub, kpi("pm25ExposureKorea", "hourly", "b"))["kpiValue"]["value"] == 1.0
    # the west gu: a (1000, own sensor) and b (3000, from a's sensor), WHO: every hour of
    # a (40, 10?, 40 -> 10 is not above 15) -> 2 hours for everyone in the west
    west = get(hub, "urn:ngsi-ld:KeyPerformanceIndicator:pm25ExposureWho:daily:test:west")
    assert west["kpiValue"]["value"] == 2.0
    assert west["kpiValue"]["estimatedShare"]["value"] == 0.75
    # the hourly series is the entity's history
    r = hub.get(
        f"{API}/temporal/entities/{kpi('pm25ExposureKorea', 'hourly', 'a')}",
        params={"attrs": "kpiValue", "options": "temporalValues"},
    )
    assert r.status_code == 200, r.text
    assert [v[0] for v in r.json()["kpiValue"]["values"]] == [1.0, 0.0, 1.0]


def test_bad_readings_are_counted_out_of_coverage_and_the_neighbour_stands_in(
    hub: TestClient,
) -> None:
    r = hub.get(
        f"{API}/temporal/entities/{kpi('pm25ExposureKorea', 'hourly', 'c')}",
        params={"attrs": "kpiValue"},
    )
    assert r.status_code == 200, r.text
    hour1 = next(
        i for i in r.json()["kpiValue"] if i["observedAt"] == "2026-11-01T02:00:00.000000Z"
    )
    assert hour1["badReadings"]["value"] == 3
    assert hour1["dataCoverage"]["value"] == 0.0
    assert hour1["estimatedShare"]["value"] == 1.0  # a's 10 stands in for c
    health = hub.get("/health").json()["services"]["indicators"]
    assert health["counters"]["badReadings"] == 3 and health["givenUp"] == 0


def test_an_hour_is_done_once(hub: TestClient) -> None:
    app: Any = hub.app
    service = next(s for s in app.state.services.services if s.name == "indicators")
    ctx = app.state.services.contexts["indicators"]
    assert hub.portal is not None
    for clock in (
        datetime(2026, 11, 1, 3, 20, tzinfo=UTC),
        datetime(2026, 11, 1, 15, 20, tzinfo=UTC),
    ):
        assert hub.portal.call(service.catch_up, ctx, "", clock) == 0
    daily = get(hub, kpi("pm25ExposureKorea", "daily", "a"))
    assert daily["kpiValue"]["hoursIncluded"]["value"] == 3
    # a reading that closes nothing new asks for no work
    upsert(hub, [air("urn:ngsi-ld:AirQualityObserved:a", point("a"), 50, "2026-11-01T15:40:00Z")])
    settle(hub)
    r = hub.get(
        f"{API}/temporal/entities/{kpi('pm25ExposureKorea', 'hourly', 'a')}",
        params={"attrs": "kpiValue", "options": "temporalValues"},
    )
    assert len(r.json()["kpiValue"]["values"]) == 3
    assert (
        get(hub, kpi("pm25ExposureKorea", "daily", "a"))["kpiValue"]["hoursIncluded"]["value"] == 3
    )


def test_the_gap_as_json_and_csv_without_a_ranking_the_data_cannot_carry(hub: TestClient) -> None:
    r = hub.get("/indicators/gap", params={"indicator": "pm25ExposureWho"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["frequency"], body["level"]) == ("daily", "dong")
    zones = {z["zone"]: z for z in body["zones"]}
    assert set(zones) == {"old-downtown", "new-town-1990s"}
    old = zones["old-downtown"]
    assert old["value"] == round(2 / 3, 6) and old["districts"] == 2
    assert old["enoughData"] is False  # two dong, one sensor: too thin to rank
    assert body["ranking"] is None and body["rankingWithheld"]
    assert body["thresholds"]["minDistricts"] == 3
    r = hub.get("/indicators/gap", params={"indicator": "pm25ExposureWho", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("indicator,frequency,level") and len(lines) == 3
    r = hub.get(
        "/indicators/gap", params={"indicator": "pm25ExposureWho"}, headers={"Accept": "text/csv"}
    )
    assert r.headers["content-type"].startswith("text/csv")
    # a past day from the history
    r = hub.get(
        "/indicators/gap",
        params={"indicator": "pm25ExposureWho", "date": "2026-11-01", "level": "gu"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["period"]["from"] == "2026-10-31T15:00:00.000000Z"
    catalogue = hub.get("/indicators").json()["indicators"]
    assert len(catalogue) == len(INDICATORS) and catalogue[0]["name"] == "pm25ExposureKorea"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "indicator"),
        ({"indicator": "happiness"}, "indicator"),
        ({"indicator": "pm25ExposureWho", "frequency": "weekly"}, "frequency"),
        ({"indicator": "pm25ExposureWho", "date": "2026-13-01"}, "date"),
        ({"indicator": "pm25ExposureWho", "date": "2026-11-01", "frequency": "hourly"}, "date"),
        ({"indicator": "pm25ExposureWho", "level": "block"}, "level"),
        ({"indicator": "pm25ExposureWho", "reference": "nowhere"}, "reference"),
        ({"indicator": "pm25ExposureWho", "reference": "<script>"}, "reference"),
        ({"indicator": "pm25ExposureWho", "format": "xml"}, "format"),
        ({"indicator": "pm25ExposureWho", "rank": "yes"}, "rank"),
        ({"indicator": "x" * 300}, "indicator"),
    ],
)
def test_bad_parameters_are_problem_details(
    hub: TestClient, params: dict[str, str], named: str
) -> None:
    r = hub.get("/indicators/gap", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == ERR + "BadRequestData" and named in body["detail"]


def test_the_setting_switches_the_service_off(tmp_path: Path, store_url: str) -> None:
    with make_client(tmp_path, store_url, indicators_service=False) as client:
        upsert(client, area_entities())
        upsert(
            client,
            [air("urn:ngsi-ld:AirQualityObserved:a", point("a"), 40, "2026-11-01T00:10:00Z")],
        )
        upsert(
            client,
            [air("urn:ngsi-ld:AirQualityObserved:a", point("a"), 40, "2026-11-01T02:20:00Z")],
        )
        assert "indicators" not in client.get("/health").json().get("services", {})
        r = client.get(f"{API}/entities", params={"type": "KeyPerformanceIndicator"})
        assert r.status_code == 200 and r.json() == []
        r = client.get("/indicators/gap", params={"indicator": "pm25ExposureWho"})
        assert r.status_code == 200 and r.json()["zones"] == []
