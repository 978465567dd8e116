"""The alert engine driven through the public API only, on every backend (issue 16 "Checked by":
alert lifecycles through the public API, a restart in the middle of an episode, bad values
raising out-of-range): readings go in as NGSI-LD writes, Smart Data Models ``Alert`` entities
come out of the same API; rules are ``AlertRule`` entities, refused with a ProblemDetails 400
when they are not valid rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from cityhub.alerts.defaults import PREFIX
from tests.conftest import make_client

API = "/ngsi-ld/v1"
AQ = "urn:ngsi-ld:AirQualityObserved:seongnam:41135:jeongja"
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def settle(client: TestClient) -> None:
    """Wait until the city services have done every item the writes so far queued."""
    client.portal.call(client.app.state.services.settle)  # type: ignore[attr-defined,union-attr]


def reading(client: TestClient, hours: float, pm25: Any, pm10: Any = 40) -> None:
    body = {
        "id": AQ,
        "type": "AirQualityObserved",
        "name": {"type": "LanguageProperty", "languageMap": {"ko": "정자동", "en": "Jeongja"}},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.1, 37.37]},
        },
        "pm25": {"type": "Property", "value": pm25, "unitCode": "GQ", "observedAt": at(hours)},
        "pm10": {"type": "Property", "value": pm10, "unitCode": "GQ", "observedAt": at(hours)},
    }
    r = client.post(API + "/entityOperations/upsert", json=[body])
    assert r.status_code in (201, 204), r.text
    settle(client)


def alerts(client: TestClient, q: str | None = None) -> list[dict[str, Any]]:
    params = {"type": "Alert", "options": "keyValues", "limit": "100"}
    if q:
        params["q"] = q
    r = client.get(API + "/entities", params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def dt(value: dict[str, str]) -> str:
    """A DateTime property value as keyValues renders it."""
    assert value["@type"] == "DateTime"
    return value["@value"]


def by_rule(found: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [a for a in found if a["data"]["rule"] == PREFIX + rule]


def test_a_pm25_advisory_opens_once_holds_and_closes(client: TestClient) -> None:
    reading(client, 0, 40)
    reading(client, 1, 80)
    assert by_rule(alerts(client), "pm25-advisory") == []  # one hour over: not yet
    reading(client, 2, 90)
    (alert,) = by_rule(alerts(client), "pm25-advisory")
    assert alert["type"] == "Alert"
    assert (alert["category"], alert["subCategory"], alert["severity"]) == (
        "environment",
        "airPollution",
        "high",
    )
    assert alert["alertSource"] == AQ
    assert dt(alert["validFrom"]) == "2026-12-01T00:00:00.000000Z"
    assert dt(alert["dateIssued"]) == "2026-12-01T02:00:00.000000Z"
    assert "validTo" not in alert
    assert alert["location"]["type"] == "Point"
    # a LanguageProperty: both languages, the advice for sensitive groups included
    full = client.get(API + f"/entities/{alert['id']}").json()
    text = full["description"]["languageMap"]
    assert "정자동" in text["ko"] and "민감군" in text["ko"]
    assert "Jeongja" in text["en"] and "Sensitive groups" in text["en"]
    english = client.get(API + f"/entities/{alert['id']}", params={"lang": "en"}).json()
    assert english["description"]["value"].startswith("PM2.5 advisory: Jeongja")

    # it holds: the same alert, updated; no second one
    reading(client, 3, 120)
    reading(client, 4, 60)  # under 75 but above the release level (35): still on
    (held,) = by_rule(alerts(client), "pm25-advisory")
    assert held["id"] == alert["id"] and held["data"]["peak"] == 120 and "validTo" not in held

    # below 35 for the hour the reading stands for: closed, validTo set
    reading(client, 5, 20)
    (closed,) = by_rule(alerts(client), "pm25-advisory")
    assert closed["id"] == alert["id"]
    assert dt(closed["validTo"]) == "2026-12-01T05:00:00.000000Z"
    assert by_rule(alerts(client, q="!validTo"), "pm25-advisory") == []

    # a new episode is a new alert
    for hour in (6, 7, 8):
        reading(client, hour, 100)
    episodes = by_rule(alerts(client), "pm25-advisory")
    assert len(episodes) == 2 and len({a["id"] for a in episodes}) == 2


def test_bad_values_raise_out_of_range_and_never_stop_the_engine(client: TestClient) -> None:
    reading(client, 0, 20)
    reading(client, 1, -5)
    (alert,) = by_rule(alerts(client), "pm25-range")
    assert alert["subCategory"] == "valueOutOfRange" and alert["data"]["value"] == -5
    reading(client, 2, 1e9)
    reading(client, 3, "high")  # text where a number is expected
    (held,) = by_rule(alerts(client), "pm25-range")
    assert held["id"] == alert["id"] and held["data"]["value"] == "high"
    reading(client, 4, 25)
    (closed,) = by_rule(alerts(client), "pm25-range")
    assert dt(closed["validTo"]) == "2026-12-01T04:00:00.000000Z"
    assert by_rule(alerts(client), "pm25-advisory") == []  # 1e9 was no advisory
    stats = client.get("/health").json()["services"]["alerts"]
    assert stats["givenUp"] == 0 and stats["retried"] == 0


def test_asian_dust_from_pm10_and_the_pm25_ratio(client: TestClient) -> None:
    reading(client, 0, 30, pm10=200)  # ratio 0.15
    (alert,) = by_rule(alerts(client), "asian-dust")
    assert (alert["category"], alert["subCategory"]) == ("weather", "dust")
    reading(client, 1, 150, pm10=200)  # ratio 0.75: smog, not dust
    (closed,) = by_rule(alerts(client), "asian-dust")
    assert "validTo" in closed


RULE = {
    "id": "urn:ngsi-ld:AlertRule:seongnam:heat",
    "type": "AlertRule",
    "ruleKind": {"type": "Property", "value": "threshold"},
    "entityType": {"type": "Property", "value": "WeatherObserved"},
    "watchedAttribute": {"type": "Property", "value": "temperature"},
    "threshold": {"type": "Property", "value": 33},
    "category": {"type": "Property", "value": "weather"},
    "subCategory": {"type": "Property", "value": "heatWave"},
    "severity": {"type": "Property", "value": "medium"},
    "title": {"type": "LanguageProperty", "languageMap": {"ko": "폭염", "en": "Heat"}},
}


def weather(client: TestClient, hours: float, temperature: float) -> None:
    body = {
        "id": "urn:ngsi-ld:WeatherObserved:w",
        "type": "WeatherObserved",
        "temperature": {"type": "Property", "value": temperature, "observedAt": at(hours)},
    }
    r = client.post(API + "/entityOperations/upsert", json=[body])
    assert r.status_code in (201, 204), r.text
    settle(client)


def test_a_city_manages_its_rules_as_entities(client: TestClient) -> None:
    r = client.post(API + "/entities", json=RULE)
    assert r.status_code == 201, r.text
    weather(client, 0, 30)
    weather(client, 1, 34)
    (alert,) = by_rule_id(alerts(client), RULE["id"])
    assert (alert["category"], alert["subCategory"], alert["severity"]) == (
        "weather",
        "heatWave",
        "medium",
    )
    # the city raises the threshold: the next reading is judged by the new rule
    r = client.patch(
        API + f"/entities/{RULE['id']}/attrs",
        json={"threshold": {"type": "Property", "value": 40}},
    )
    assert r.status_code == 204, r.text
    weather(client, 2, 35)
    (closed,) = by_rule_id(alerts(client), RULE["id"])
    assert "validTo" in closed
    # the rule is an ordinary entity: listed, and deleted
    listed = client.get(API + "/entities", params={"type": "AlertRule"}).json()
    assert [e["id"] for e in listed] == [RULE["id"]]
    assert client.delete(API + f"/entities/{RULE['id']}").status_code == 204


def by_rule_id(found: list[dict[str, Any]], rule_id: str) -> list[dict[str, Any]]:
    return [a for a in found if a["data"]["rule"] == rule_id]


def test_a_default_rule_is_switched_off_by_an_entity_of_its_id(client: TestClient) -> None:
    off = {
        "id": PREFIX + "pm25-range",
        "type": "AlertRule",
        "ruleKind": {"type": "Property", "value": "outOfRange"},
        "entityType": {"type": "Property", "value": "AirQualityObserved"},
        "watchedAttribute": {"type": "Property", "value": "pm25"},
        "minimum": {"type": "Property", "value": 0},
        "enabled": {"type": "Property", "value": False},
    }
    assert client.post(API + "/entities", json=off).status_code == 201
    reading(client, 0, -5)
    assert by_rule(alerts(client), "pm25-range") == []
    assert by_rule(alerts(client), "pm10-range") == []


def test_an_invalid_rule_is_refused_with_a_detail_a_person_can_act_on(client: TestClient) -> None:
    bad = {**RULE, "threshold": {"type": "Property", "value": "hot"}}
    r = client.post(API + "/entities", json=bad)
    assert r.status_code == 400
    problem = r.json()
    assert problem["status"] == 400 and problem["title"] == "Bad request data"
    assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert "threshold must be a number for operator >=" in problem["detail"]
    assert RULE["id"] in problem["detail"]
    assert client.get(API + f"/entities/{RULE['id']}").status_code == 404  # nothing stored

    typo = {k: v for k, v in RULE.items() if k != "threshold"}
    typo["treshold"] = {"type": "Property", "value": 33}
    r = client.post(API + "/entities", json=typo)
    assert r.status_code == 400 and "unknown member(s) treshold" in r.json()["detail"]

    # a batch: the bad rule is a per-entity error, the good one is stored
    r = client.post(API + "/entityOperations/create", json=[bad | {"id": "urn:x:bad"}, RULE])
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["success"] == [RULE["id"]]
    (error,) = body["errors"]
    assert error["entityId"] == "urn:x:bad" and "threshold" in error["error"]["detail"]

    # a patch that would break a stored rule is refused and leaves it as it was
    r = client.patch(
        API + f"/entities/{RULE['id']}/attrs",
        json={"enterAfter": {"type": "Property", "value": -3}},
    )
    assert r.status_code == 400 and "enterAfter must be at least 0" in r.json()["detail"]
    assert "enterAfter" not in client.get(API + f"/entities/{RULE['id']}").json()


def test_a_restart_in_the_middle_of_an_episode_raises_no_second_alert(
    tmp_path: Path, store_url: str
) -> None:
    with make_client(tmp_path, store_url) as first:
        reading(first, 0, 40)
        reading(first, 1, 80)
        reading(first, 2, 90)
        (opened,) = by_rule(alerts(first), "pm25-advisory")
    with make_client(tmp_path, store_url) as second:
        reading(second, 3, 100)
        reading(second, 4, 95)
        (held,) = by_rule(alerts(second), "pm25-advisory")
        assert held["id"] == opened["id"] and held["data"]["peak"] == 100
        reading(second, 5, 10)
        (closed,) = by_rule(alerts(second), "pm25-advisory")
        assert closed["id"] == opened["id"] and "validTo" in closed


def _device(client: TestClient, local: str, reported: datetime) -> None:
    body = {
        "id": f"urn:ngsi-ld:Device:{local}",
        "type": "Device",
        "dateLastValueReported": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": reported.strftime("%Y-%m-%dT%H:%M:%SZ")},
        },
    }
    r = client.post(API + "/entityOperations/upsert", json=[body])
    assert r.status_code in (201, 204), r.text


def test_a_device_that_stops_reporting_is_found_by_the_timer(
    tmp_path: Path, store_url: str
) -> None:
    now = datetime.now(UTC)
    with make_client(tmp_path, store_url, alerts_offline_interval=0.1) as client:
        _device(client, "quiet", now - timedelta(hours=5))
        _device(client, "busy", now)
        settle(client)

        rounds(client, 2)  # no write happens: only the timer can find it
        (alert,) = by_rule(alerts(client), "device-offline")
        assert alert["alertSource"] == "urn:ngsi-ld:Device:quiet"
        assert alert["subCategory"] == "deviceOffline" and "validTo" not in alert
        rounds(client, 3)  # later rounds find the same alert open: no second one
        assert len(by_rule(alerts(client), "device-offline")) == 1
        # it reports again: closed
        _device(client, "quiet", datetime.now(UTC))
        settle(client)
        (closed,) = by_rule(alerts(client), "device-offline")
        assert "validTo" in closed


def test_a_reading_whose_item_coalesced_with_a_later_change_still_closes_the_episode(
    client: TestClient,
) -> None:
    """The work of a write coalesces with the work of the next change of the same entity (the
    air-quality service's write-back, a name edited) while no worker has claimed it (a worker
    down or busy, a restart): the item then carries the later change only, whose reading is
    the same before and after. Its predecessor (the 120 of 03:00, already applied) is read
    from the history, so the 10 stands for the hour since then and closes the advisory, as it
    does when its own change is evaluated."""
    for hour, value in [(0, 40), (1, 80), (2, 90), (3, 120)]:
        reading(client, hour, value)
    runner = client.app.state.services  # type: ignore[attr-defined]
    client.portal.call(runner.stop)  # type: ignore[union-attr]
    body = {
        "id": AQ,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": 10, "unitCode": "GQ", "observedAt": at(4)},
    }
    r = client.post(API + "/entityOperations/upsert?options=update", json=[body])
    assert r.status_code == 204, r.text
    name = {"type": "LanguageProperty", "languageMap": {"ko": "정자1동", "en": "Jeongja 1"}}
    r = client.patch(API + f"/entities/{AQ}/attrs", json={"name": name})
    assert r.status_code == 204, r.text
    client.portal.call(runner.start)  # type: ignore[union-attr]
    settle(client)
    (closed,) = by_rule(alerts(client), "pm25-advisory")
    assert dt(closed["validTo"]) == "2026-12-01T04:00:00.000000Z"
    assert closed["data"]["peak"] == 120


def rounds(client: TestClient, n: int) -> None:
    """Wait for ``n`` more rounds of the offline timer."""
    stats = client.app.state.services.stats["alerts"]  # type: ignore[attr-defined]
    target = stats.counters.get("offlineRounds", 0) + n

    async def done() -> None:
        async with asyncio.timeout(30):
            while stats.counters.get("offlineRounds", 0) < target:
                await asyncio.sleep(0.02)

    client.portal.call(done)  # type: ignore[union-attr]


def test_history_written_before_the_first_reading_counts(client: TestClient) -> None:
    """The demo's backfill: history through the temporal API (no entity change), then the
    first live reading: the condition has held for hours, so the advisory opens at once and
    starts in the history."""
    static = {"id": AQ, "type": "AirQualityObserved"}
    assert client.post(API + "/entities", json=static).status_code == 201
    history = {
        "id": AQ,
        "type": "AirQualityObserved",
        "pm25": [
            {"type": "Property", "value": v, "observedAt": at(h), "unitCode": "GQ"}
            for h, v in [(0, 30), (1, 80), (2, 85)]
        ],
    }
    r = client.post(API + "/temporal/entities", json=history)
    assert r.status_code == 204, r.text
    reading(client, 3, 90)
    (alert,) = by_rule(alerts(client), "pm25-advisory")
    assert dt(alert["validFrom"]) == "2026-12-01T00:00:00.000000Z"  # from the 30's reading on
    assert dt(alert["dateIssued"]) == "2026-12-01T02:00:00.000000Z"  # the history's 2nd hour


def test_deleting_or_switching_off_a_rule_closes_its_open_alerts(client: TestClient) -> None:
    assert client.post(API + "/entities", json=RULE).status_code == 201
    weather(client, 0, 35)
    (alert,) = by_rule_id(alerts(client), RULE["id"])
    assert "validTo" not in alert
    assert client.delete(API + f"/entities/{RULE['id']}").status_code == 204
    settle(client)
    (closed,) = by_rule_id(alerts(client), RULE["id"])
    assert closed["id"] == alert["id"] and "validTo" in closed
    # a default switched off by an entity of its id: same
    reading(client, 0, -5)
    (bad,) = by_rule(alerts(client), "pm25-range")
    off = {
        "id": PREFIX + "pm25-range",
        "type": "AlertRule",
        "ruleKind": {"type": "Property", "value": "outOfRange"},
        "entityType": {"type": "Property", "value": "AirQualityObserved"},
        "watchedAttribute": {"type": "Property", "value": "pm25"},
        "minimum": {"type": "Property", "value": 0},
        "enabled": {"type": "Property", "value": False},
    }
    assert client.post(API + "/entities", json=off).status_code == 201
    settle(client)
    (ended,) = by_rule(alerts(client), "pm25-range")
    assert ended["id"] == bad["id"] and "validTo" in ended
    states = client.get(
        API + "/entities", params={"type": "AlertState", "options": "keyValues"}
    ).json()
    # nothing goes on any more: what is left is the window rules' readings of the weather
    # station (the default heat and cold waves keep 24 hours of them), every episode idle
    for state in states:
        assert state["alertSource"] == "urn:ngsi-ld:WeatherObserved:w"
        for rule_id, doc in state["ruleStates"].items():
            assert doc["phase"] == "idle" and doc["samples"], rule_id
