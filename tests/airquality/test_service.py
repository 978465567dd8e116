"""The air-quality service through the public API, on both backends (issue 16 deliverable 1):
the CAI is written back to the observation and recorded in its history; a late reading
recomputes the hour it belongs to; too little data says so; bad data is counted, gives no
index and does not stop the service; the setting switches it off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.airquality.cai import GRADES
from tests.conftest import make_client
from tests.notify._receivers import HttpReceiver, free_port

EID = "urn:ngsi-ld:AirQualityObserved:seongnam:41135:sunae"
START = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
CLEAN = {"pm10": 20.0, "pm25": 25.0, "no2": 0.02, "o3": 0.02}


def at(hour: int) -> str:
    return (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def readings(hour: int, **values: Any) -> dict[str, Any]:
    units = {"pm10": "GQ", "pm25": "GQ", "no2": "59", "o3": "59"}
    return {
        name: {"type": "Property", "value": value, "unitCode": units[name], "observedAt": at(hour)}
        for name, value in (values or CLEAN).items()
    }


def observe(client: TestClient, hour: int, **values: Any) -> None:
    """The station reports the readings of ``hour`` (creating the observation first)."""
    body = readings(hour, **values)
    r = client.patch(f"/ngsi-ld/v1/entities/{EID}/attrs", json=body)
    if r.status_code == 404:
        r = client.post(
            "/ngsi-ld/v1/entities", json={"id": EID, "type": "AirQualityObserved", **body}
        )
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 204, r.text


def settle(client: TestClient) -> None:
    """Wait until the service has done the work the writes so far asked for."""
    runner = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(runner.settle)


def observation(client: TestClient) -> dict[str, Any]:
    r = client.get(f"/ngsi-ld/v1/entities/{EID}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def aq(tmp_path: Path, store_url: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store_url, airquality_service=True) as c:
        yield c


def test_the_cai_is_written_back_with_grade_advice_and_who(aq: TestClient) -> None:
    for hour in range(12):
        observe(aq, hour)
    settle(aq)
    body = observation(aq)
    # PM2.5 25 µg/m³ steady: C24E = 25, sub-index (100-51)/(35-16)*(25-16)+51 = 74.2 -> 74
    index = body["airQualityIndex"]
    assert (index["value"], index["observedAt"]) == (74, "2026-11-01T11:00:00.000000Z")
    assert index["governingPollutant"]["value"] == "pm25"
    level = body["airQualityLevel"]
    assert level["value"] == "moderate"
    assert level["levelName"]["languageMap"] == {"ko": "보통", "en": "moderate"}
    assert body["airQualityIndexStatus"]["value"] == "computed"
    subs = body["caiSubIndex"]["value"]
    assert subs["pm25"]["index"] == 74 and subs["pm25"]["grade"] == "moderate"
    assert subs["pm10"]["index"] == 33 and subs["no2"]["grade"] == "good"
    who = body["whoGuideline"]["value"]["pm25"]
    assert (who["guideline"], who["ratio"], who["exceeds"]) == (15.0, 1.667, True)
    advice = {a["datasetId"].rsplit(":", 1)[1]: a for a in body["healthAdvice"]}
    assert set(advice) == {"sensitiveGroups", "generalPublic"}
    assert advice["sensitiveGroups"]["type"] == "LanguageProperty"
    assert "take care" in advice["sensitiveGroups"]["languageMap"]["en"]
    assert "유의" in advice["sensitiveGroups"]["languageMap"]["ko"]
    # one computation for the twelve writes' worth of work that reached it, and its history
    r = aq.get(f"/ngsi-ld/v1/temporal/entities/{EID}", params={"attrs": "airQualityIndex"})
    assert r.status_code == 200, r.text
    history = r.json()["airQualityIndex"]
    history = history if isinstance(history, list) else [history]
    assert [h["value"] for h in history][-1] == 74
    health = aq.get("/health").json()
    assert health["services"]["airquality"]["done"] >= 1
    assert health["services"]["airquality"]["givenUp"] == 0


def test_the_multi_pollutant_addition_is_applied(aq: TestClient) -> None:
    # PM2.5 50 (unhealthy: 101 + (250-101)/(75-36)*(50-36) = 154.5 -> 155) and NO2 0.1 ppm
    # (unhealthy: 101 + (250-101)/(0.2-0.061)*(0.1-0.061) = 142.8 -> 143): two pollutants, +50
    dirty = {"pm10": 20.0, "pm25": 50.0, "no2": 0.1, "o3": 0.02}
    for hour in range(12):
        observe(aq, hour, **dirty)
    settle(aq)
    body = observation(aq)
    # PM2.5 50 >= 30 and C/C12 = 1 within 0.9-1.7: the last 4 hours are damped to 37.5, so
    # C24E = (50*12 + 37.5*12)/24 = 43.75 -> 43 -> 101 + 149/39*7 = 127.7 -> 128, +50
    assert body["caiSubIndex"]["value"]["pm25"]["index"] == 128
    assert body["caiSubIndex"]["value"]["no2"]["index"] == 143
    assert body["airQualityIndex"]["value"] == 193
    assert body["airQualityIndex"]["multiPollutantAddition"]["value"] == 50
    assert body["airQualityLevel"]["value"] == "unhealthy"


def test_too_little_data_says_so_and_a_late_reading_recomputes_its_hour(aq: TestClient) -> None:
    for hour in (0, 1, 2, 3, 4, 5, 6, 7, 8, 11):  # hours 9 and 10 are late
        observe(aq, hour)
    settle(aq)
    body = observation(aq)
    assert "airQualityIndex" not in body and "healthAdvice" not in body
    status = body["airQualityIndexStatus"]
    assert status["value"] == "notComputed"
    assert status["observedAt"] == "2026-11-01T11:00:00.000000Z"
    assert "too few hourly pm25 values" in status["statusReason"]["value"]
    assert "2 of the last 4" in status["statusReason"]["value"]

    # hour 10's readings arrive late (after hour 11's): the CAI of hour 11 now has 3 of the
    # last 4 hours; PM2.5 of hour 10 is 45, so the average moves
    late = {"pm10": 20.0, "pm25": 45.0}
    r = aq.patch(f"/ngsi-ld/v1/entities/{EID}/attrs", json=readings(10, **late))
    assert r.status_code == 204, r.text
    settle(aq)
    body = observation(aq)
    assert body["airQualityIndexStatus"]["value"] == "computed"
    assert body["airQualityIndex"]["observedAt"] == "2026-11-01T11:00:00.000000Z"
    # C12 = (25*10 + 45)/11 = 26.82; C4 over hours 8, 10, 11 = (25 + 45*0.75 + 25)/3 with 45
    # damped (>= 30, 45/26.82 = 1.68 within 0.9-1.7) = 27.92; C24E = 27.37 -> 27
    # -> (100-51)/(35-16)*(27-16)+51 = 79.4 -> 79
    assert body["caiSubIndex"]["value"]["pm25"]["index"] == 79
    assert body["airQualityIndex"]["value"] == 79


@pytest.mark.parametrize("bad", [-5, 1e9, "high"])
def test_bad_data_is_counted_gives_no_index_and_the_service_goes_on(
    aq: TestClient, bad: Any
) -> None:
    for hour in range(12):
        observe(aq, hour)
    settle(aq)
    assert observation(aq)["airQualityIndex"]["value"] == 74
    observe(aq, 12, **{**CLEAN, "pm25": bad})
    settle(aq)
    body = observation(aq)
    assert "airQualityIndex" not in body and "airQualityLevel" not in body
    status = body["airQualityIndexStatus"]
    assert status["value"] == "notComputed"
    assert "pm25 is" in status["statusReason"]["value"]
    stats = aq.get("/health").json()["services"]["airquality"]
    assert stats["counters"]["badData"] == 1 and stats["givenUp"] == 0
    observe(aq, 13)  # a good reading again: computed again, the bad hour left out
    settle(aq)
    body = observation(aq)
    assert body["airQualityIndexStatus"]["value"] == "computed"
    assert body["airQualityIndex"]["value"] == 74


def test_an_observation_without_the_gases_gets_no_index(aq: TestClient) -> None:
    for hour in range(12):
        observe(aq, hour, pm10=20.0, pm25=25.0)
    settle(aq)
    body = observation(aq)
    assert "airQualityIndex" not in body
    assert "missing: no2, o3" in body["airQualityIndexStatus"]["statusReason"]["value"]
    assert body["caiSubIndex"]["value"]["pm25"]["index"] == 74


def test_any_vocabulary_and_tenant(aq: TestClient) -> None:
    sdm = "https://smartdatamodels.org/dataModel.Environment/"
    context = {name: sdm + name for name in ("AirQualityObserved", *CLEAN, "airQualityIndex")}
    headers = {"NGSILD-Tenant": "city2", "Content-Type": "application/ld+json"}
    for hour in range(12):
        body = {"id": EID, "type": "AirQualityObserved", **readings(hour), "@context": context}
        r = aq.post("/ngsi-ld/v1/entityOperations/upsert", json=[body], headers=headers)
        assert r.status_code in (201, 204), r.text
    settle(aq)
    r = aq.get(
        f"/ngsi-ld/v1/entities/{EID}",
        headers={"NGSILD-Tenant": "city2", "Accept": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()[sdm + "airQualityIndex"]["value"] == 74


def test_the_setting_switches_the_service_off(tmp_path: Path, store_url: str) -> None:
    with make_client(tmp_path, store_url, airquality_service=False) as c:
        runner = c.app.state.services  # type: ignore[attr-defined]
        assert runner is None or "airquality" not in runner.stats  # other services may run
        for hour in range(12):
            observe(c, hour)
        body = observation(c)
        assert "airQualityIndex" not in body and "airQualityIndexStatus" not in body
        assert "airquality" not in c.get("/health").json().get("services", {})


def test_a_subscription_hears_of_the_computed_grade(aq: TestClient) -> None:
    with HttpReceiver(port=free_port(18450, 18469)) as rx:
        sub = {
            "type": "Subscription",
            "entities": [{"type": "AirQualityObserved"}],
            "watchedAttributes": ["airQualityLevel"],
            "notification": {"endpoint": {"uri": rx.url}, "attributes": ["airQualityLevel"]},
        }
        assert aq.post("/ngsi-ld/v1/subscriptions", json=sub).status_code == 201
        for hour in range(12):
            observe(aq, hour)
        settle(aq)
        # each hour's reading may get its own computation (the service does not wait for a
        # burst to end): the grades of the first hours come first, the 12th hour's last
        notes = rx.wait_for(1)
        while notes[-1].body["data"][0]["airQualityLevel"]["value"] != "moderate":
            notes = rx.wait_for(len(notes) + 1)
        for note in notes:
            (data,) = note.body["data"]
            assert data["id"] == EID and data["airQualityLevel"]["value"] in GRADES
