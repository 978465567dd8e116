"""From entity changes (internal form) to observations, and from actions to Smart Data Models
``Alert`` entities (dataModel.Alert 0.0.3)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from cityhub.alerts.alert_entity import changed_alert, iri, is_open, new_alert
from cityhub.alerts.defaults import PREFIX, default_rules
from cityhub.alerts.episode import EpisodeState, step
from cityhub.alerts.observe import display_name, observe, report_time

V = "https://uri.etsi.org/ngsi-ld/default-context/"
SDM = "https://smartdatamodels.org/dataModel.Environment/"
DEFAULTS = {r.id.removeprefix(PREFIX): r for r in default_rules()}
NOW = "2027-01-15T10:00:00.000000Z"


def aq(pm25: Any, at: str, ns: str = V, **more: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        ns + "pm25": [{"type": "Property", "value": pm25, "observedAt": at, "unitCode": "GQ"}],
        V + "name": [
            {"type": "LanguageProperty", "languageMap": {"ko": "정자동", "en": "Jeongja"}}
        ],
        V + "location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.1, 37.3]}}
        ],
    }
    for name, value in more.items():
        attrs[ns + name] = [{"type": "Property", "value": value, "observedAt": at}]
    return {
        "id": "urn:ngsi-ld:AirQualityObserved:j",
        "type": [ns + "AirQualityObserved"],
        "modifiedAt": at,
        "attrs": attrs,
    }


def test_an_observation_from_a_change_in_any_vocabulary() -> None:
    rule = DEFAULTS["pm25-advisory"]
    for ns in (V, SDM):
        obs = observe(rule, aq(40, "2027-01-15T08:00:00Z", ns), aq(80, "2027-01-15T09:00:00Z", ns))
        assert obs is not None
        assert (obs.value, obs.previous_value) == (80, 40)
        assert obs.at - (obs.previous_at or 0) == 3600


def test_an_unchanged_reading_is_observed_again_without_a_predecessor() -> None:
    """Another attribute changed (the CAI written back): the reading is observed again, as
    the write that brought it may have coalesced with this one; the state machine finds it
    late if it was applied, and a stuck-value count does not take it for a repeat."""
    rule = DEFAULTS["pm25-advisory"]
    before = aq(40, "2027-01-15T08:00:00Z")
    after = aq(40, "2027-01-15T08:00:00Z", airQualityIndex=50)
    obs = observe(rule, before, after)
    assert obs is not None and obs.value == 40 and obs.previous_at is None
    other_type = {**after, "type": [V + "WeatherObserved"]}
    assert observe(rule, None, other_type) is None
    stuck = DEFAULTS["pm25-stuck"]
    again = observe(stuck, before, after)
    assert again is not None
    assert step(stuck, EpisodeState(), again).state.repeats == 1


def test_ratio_and_threshold_attributes_are_read_from_the_same_entity() -> None:
    rule = DEFAULTS["asian-dust"]
    obs = observe(rule, None, aq(40, "2027-01-15T08:00:00Z", pm10=200))
    assert obs is not None and (obs.value, obs.ratio_value) == (200, 40)


def test_report_time_of_a_device() -> None:
    rule = DEFAULTS["device-offline"]
    device = {
        "id": "urn:ngsi-ld:Device:d",
        "type": [V + "Device"],
        "modifiedAt": NOW,
        "attrs": {
            V + "dateLastValueReported": [
                {
                    "type": "Property",
                    "value": {"@type": "DateTime", "@value": "2027-01-15T09:00:00Z"},
                }
            ]
        },
    }
    assert report_time(rule, device) == 1800003600.0
    obs = observe(rule, None, device)
    assert obs is not None and obs.at == 1800003600.0
    assert observe(rule, device, device) is None  # no new report


def test_the_alert_entity_of_an_episode() -> None:
    rule = DEFAULTS["pm25-advisory"]
    source = aq(90, "2027-01-15T10:00:00Z")
    state = EpisodeState(phase="pending", since=1800000000.0)
    obs = observe(rule, aq(80, "2027-01-15T09:00:00Z"), source)
    assert obs is not None
    opened = step(rule, state, obs).actions[0]
    alert = new_alert(opened, source, NOW)
    a = alert["attrs"]
    assert alert["type"] == [V + "Alert"] and alert["id"] == opened.alert_id
    assert a[iri("category")][0]["value"] == "environment"
    assert a[iri("subCategory")][0]["value"] == "airPollution"
    assert a[iri("severity")][0]["value"] == "high"
    assert a[iri("alertSource")][0] == {
        "type": "Relationship",
        "object": source["id"],
        "createdAt": NOW,
        "modifiedAt": NOW,
    }
    assert a[iri("validFrom")][0]["value"]["@value"] == "2027-01-15T08:00:00.000000Z"
    assert a[iri("dateIssued")][0]["value"]["@value"] == "2027-01-15T10:00:00.000000Z"
    text = a[iri("description")][0]["languageMap"]
    assert "정자동" in text["ko"] and "민감군" in text["ko"] and "90 µg/m³" in text["ko"]
    assert "Jeongja" in text["en"] and "Sensitive groups" in text["en"]
    assert a[iri("location")][0]["value"]["type"] == "Point"
    assert a[iri("data")][0]["value"]["rule"] == rule.id
    assert is_open(alert)
    closing = step(
        rule,
        step(rule, state, obs).state,
        observe(rule, source, aq(20, "2027-01-15T11:00:00Z")),  # type: ignore[arg-type]
    ).actions[0]
    closed = changed_alert(alert, closing, source, NOW)
    assert not is_open(closed) and is_open(alert)  # a copy
    assert closed["attrs"][iri("validTo")][0]["value"]["@value"] == "2027-01-15T11:00:00.000000Z"
    assert "Cleared" in closed["attrs"][iri("description")][0]["languageMap"]["en"]


def test_display_name() -> None:
    assert display_name(aq(1, NOW)) == {"ko": "정자동", "en": "Jeongja"}
    assert display_name(None) == {}


def test_an_alert_gives_its_times_in_the_city_time_zone() -> None:
    """An operator in Seongnam reads 17:00 KST, not 08:00 UTC (the setting ``time_zone``);
    the alert's validFrom stays a UTC DateTime."""
    rule = DEFAULTS["pm25-advisory"]
    source = aq(90, "2027-01-15T10:00:00Z")
    obs = observe(rule, aq(80, "2027-01-15T09:00:00Z"), source)
    assert obs is not None
    opened = step(rule, EpisodeState(phase="pending", since=1800000000.0), obs).actions[0]
    text = new_alert(opened, source, NOW, ZoneInfo("Asia/Seoul"))["attrs"][iri("description")]
    assert "2027-01-15 17:00 KST" in text[0]["languageMap"]["ko"]
    assert "since 2027-01-15 17:00 KST" in text[0]["languageMap"]["en"]
    utc = new_alert(opened, source, NOW)["attrs"][iri("description")][0]["languageMap"]["en"]
    assert "since 2027-01-15 08:00 UTC" in utc
