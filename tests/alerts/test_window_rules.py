"""Alert rules over a window of readings (issue 16: DOMAIN.md §6.3's heavy rain, heat and cold
waves need sums and extremes over hours and days): the ``window`` rule kind, its state machine
with synthetic series, its validation, and its lifecycle through the public API on every
backend (one Alert per episode, the readings of a restart and of the temporal API counted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityhub.alerts.defaults import PREFIX, default_rules
from cityhub.alerts.episode import EpisodeState, Observation, step, window_aggregate
from cityhub.alerts.rules import parse_rule
from cityhub.alerts.service import state_id
from cityhub.errors import BadRequestData
from tests.alerts.test_alerts_api import API, alerts, at, by_rule, by_rule_id, settle
from tests.conftest import make_client

T0 = 1_790_000_000.0
BASE: dict[str, Any] = {
    "ruleKind": "window",
    "entityType": "WeatherObserved",
    "watchedAttribute": "precipitation",
    "aggregate": "sum",
    "window": 3 * 3600,
    "threshold": 60,
    "category": "weather",
    "subCategory": "rainfall",
    "severity": "medium",
    "title": {"ko": "호우", "en": "Rain"},
}


def run(rule_doc: dict[str, Any], series: list[tuple[float, Any]]) -> list[tuple[str, Any]]:
    """The actions of a rule over (seconds after T0, value) readings, each with its
    predecessor, the state stored and read back between readings as the engine does."""
    rule = parse_rule("urn:r", rule_doc)
    state, previous, out = EpisodeState(), None, []
    for offset, value in series:
        obs = Observation(
            "urn:s",
            T0 + offset,
            value,
            previous_value=None if previous is None else previous[1],
            previous_at=None if previous is None else T0 + previous[0],
        )
        result = step(rule, state, obs)
        state = EpisodeState.from_doc(result.state.to_doc())
        out += [(a.op, a.value) for a in result.actions]
        previous = (offset, value)
    return out


def test_a_rain_sum_over_three_hours_opens_holds_and_closes_once() -> None:
    hourly = [(h * 3600, v) for h, v in enumerate([0, 10, 20, 25, 30, 5, 0, 0, 0])]
    # 3-hour sums: 0 10 30 55 75 60 35 5 0 -> open at 75, update at 60, close at 35
    assert run(BASE, hourly) == [("open", 75.0), ("update", 60.0), ("close", 35.0)]


def test_a_sum_reads_each_value_as_a_rate_over_the_time_it_stands_for() -> None:
    """The same rain reported every 10 minutes (as mm/h) gives the same 3-hour sums as hourly
    totals: a reading stands for the time since the one before."""
    hourly = [0, 10, 20, 25, 30, 5, 0, 0, 0]
    tenth = [(h * 3600 + m * 600, v) for h, v in enumerate(hourly) for m in range(1, 7)]
    actions = run(BASE, tenth)
    assert actions[0][0] == "open" and actions[-1][0] == "close"
    assert [op for op, _ in actions].count("open") == 1
    peak = max(v for op, v in actions)
    assert peak == pytest.approx(75.0)


def test_mean_min_and_max_and_the_window_drops_old_readings() -> None:
    samples = ((T0, 10.0, 1.0), (T0 + 3600, 20.0, 1.0), (T0 + 7200, 40.0, 2.0))
    assert window_aggregate("mean", samples) == pytest.approx(27.5)  # weighted by hours
    assert (window_aggregate("min", samples), window_aggregate("max", samples)) == (10.0, 40.0)
    assert window_aggregate("sum", ()) is None
    cold = {**BASE, "watchedAttribute": "temperature", "aggregate": "min", "window": 86400}
    cold |= {"operator": "<=", "threshold": -12}
    # one cold night, then 24 h later it has left the 24-hour window
    series = [(h * 3600, -13 if h == 5 else -5) for h in range(40)]
    assert run(cold, series) == [("open", -13.0), ("close", -5.0)]
    rule = parse_rule("urn:r", cold)
    state = EpisodeState()
    for offset, value in series:
        state = step(rule, state, Observation("urn:s", T0 + offset, value)).state
    assert len(state.samples) == 24 and not state.is_idle  # the window is kept


def test_a_heat_wave_needs_the_heat_on_two_days() -> None:
    """DOMAIN.md §6.3: daily maximum apparent temperature >= 33 for 2 days. The default opens
    once the 24-hour maximum has held 36 h: one hot afternoon holds it some 29 h, two in a
    row open it on the second day."""
    (heat,) = [r for r in default_rules() if r.id == PREFIX + "heat-wave-advisory"]
    doc = {
        "ruleKind": "window",
        "entityType": heat.entity_type,
        "watchedAttribute": heat.attribute,
        "aggregate": heat.aggregate,
        "window": heat.window,
        "threshold": heat.threshold,
        "enterAfter": heat.enter_after,
        **{k: BASE[k] for k in ("category", "subCategory", "severity", "title")},
    }

    def day(hot: bool) -> list[float]:
        return [34.0 if hot and 12 <= h <= 17 else 28.0 for h in range(24)]

    one_hot_day = [(h * 3600, v) for h, v in enumerate(day(True) + day(False) * 3)]
    assert run(doc, one_hot_day) == []
    two_hot_days = [(h * 3600, v) for h, v in enumerate(day(True) + day(True) + day(False) * 3)]
    actions = run(doc, two_hot_days)
    assert [op for op, _ in actions] == ["open", "close"]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"aggregate": "median"}, "aggregate must be one of sum, mean, min, max"),
        ({"aggregate": None}, "aggregate is required"),
        ({"window": 0}, "window must be greater than 0 and at most 604800"),
        ({"window": 30 * 86400}, "window must be greater than 0 and at most 604800"),
        ({"window": None}, "window is required"),
        ({"threshold": "lots"}, "threshold must be a finite number"),
        ({"operator": "=~"}, "operator must be one of"),
    ],
)
def test_a_bad_window_rule_is_refused_with_what_is_accepted(
    change: dict[str, Any], detail: str
) -> None:
    doc = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(BadRequestData) as info:
        parse_rule("urn:ngsi-ld:AlertRule:bad", doc)
    assert detail in info.value.detail and "urn:ngsi-ld:AlertRule:bad" in info.value.detail


def test_the_defaults_have_heavy_rain_heat_and_cold_waves() -> None:
    by = {r.id.removeprefix(PREFIX): r for r in default_rules()}
    figures = {
        name: (r.aggregate, r.window / 3600, r.operator, r.threshold, r.severity)
        for name, r in by.items()
        if r.kind == "window"
    }
    assert figures == {
        "heavy-rain-advisory-3h": ("sum", 3, ">=", 60, "medium"),
        "heavy-rain-advisory-12h": ("sum", 12, ">=", 110, "medium"),
        "heavy-rain-warning-3h": ("sum", 3, ">=", 90, "high"),
        "heavy-rain-warning-12h": ("sum", 12, ">=", 180, "high"),
        "heat-wave-advisory": ("max", 24, ">=", 33, "medium"),
        "heat-wave-warning": ("max", 24, ">=", 35, "high"),
        "cold-wave-advisory": ("min", 24, "<=", -12, "medium"),
        "cold-wave-warning": ("min", 24, "<=", -15, "high"),
    }
    assert {by[n].sub_category for n in figures} == {"rainfall", "heatWave", "coldWave"}


# ---- through the public API, on every backend ------------------------------------------------

WEATHER = "urn:ngsi-ld:WeatherObserved:seongnam:41135:bundang"


def rain(client: TestClient, hours: float, mm: float) -> None:
    body = {
        "id": WEATHER,
        "type": "WeatherObserved",
        "precipitation": {
            "type": "Property",
            "value": mm,
            "unitCode": "MMT",
            "observedAt": at(hours),
        },
    }
    r = client.post(API + "/entityOperations/upsert", json=[body])
    assert r.status_code in (201, 204), r.text
    settle(client)


def test_heavy_rain_opens_one_alert_with_the_sum_and_closes_it(client: TestClient) -> None:
    for hour, mm in enumerate([0, 10, 20, 25, 30, 5, 0, 0, 0]):
        rain(client, hour, mm)
        if hour == 3:
            assert by_rule(alerts(client), "heavy-rain-advisory-3h") == []  # 55 mm
    (alert,) = by_rule(alerts(client), "heavy-rain-advisory-3h")
    assert (alert["category"], alert["subCategory"], alert["severity"]) == (
        "weather",
        "rainfall",
        "medium",
    )
    assert alert["data"]["peak"] == 75 and alert["data"]["aggregate"] == "sum"
    assert "validTo" in alert and alert["alertSource"] == WEATHER
    r = client.get(API + f"/entities/{alert['id']}", params={"lang": "en", "attrs": "description"})
    assert "precipitation (sum, 3 h)" in r.json()["description"]["value"]
    assert by_rule(alerts(client), "heavy-rain-warning-3h") == []  # 75 < 90
    assert by_rule(alerts(client), "heavy-rain-advisory-12h") == []  # 90 < 110
    # the engine's bookkeeping (the window's readings, rewritten with every reading) is an
    # entity of the tenant but leaves no history; the alert's history is there
    state = state_id(WEATHER)
    assert client.get(API + f"/entities/{state}").status_code == 200
    assert client.get(API + f"/temporal/entities/{state}").status_code == 404
    assert client.get(API + f"/temporal/entities/{alert['id']}").status_code == 200


def test_a_window_rule_of_the_city_counts_readings_across_a_restart(
    tmp_path: Path, store_url: str
) -> None:
    rule = {
        "id": "urn:ngsi-ld:AlertRule:seongnam:rain-6h",
        "type": "AlertRule",
        **{
            k: {"type": "Property", "value": v}
            for k, v in {**BASE, "window": 6 * 3600, "threshold": 50}.items()
            if k != "title"
        },
        "title": {"type": "LanguageProperty", "languageMap": {"ko": "비", "en": "Rain"}},
    }
    with make_client(tmp_path, store_url) as first:
        assert first.post(API + "/entities", json=rule).status_code == 201
        for hour in range(3):
            rain(first, hour, 15)  # 45 mm in the window
        assert by_rule_id(alerts(first), rule["id"]) == []
    with make_client(tmp_path, store_url) as second:
        rain(second, 3, 15)  # 60 mm: the window's readings survived the restart
        (alert,) = by_rule_id(alerts(second), rule["id"])
        assert alert["data"]["value"] == 60 and "validTo" not in alert
        for hour in range(4, 10):
            rain(second, hour, 0)
        (closed,) = by_rule_id(alerts(second), rule["id"])
        assert closed["id"] == alert["id"] and "validTo" in closed


def test_history_through_the_temporal_api_fills_the_window(client: TestClient) -> None:
    """The first reading the engine sees of a source brings the window's earlier readings
    from the history (the demo's backfill, a provider's late batch)."""
    body = {
        "id": WEATHER,
        "type": "WeatherObserved",
        "precipitation": [
            {"type": "Property", "value": mm, "unitCode": "MMT", "observedAt": at(h)}
            for h, mm in ((0, 25), (1, 25))
        ],
    }
    assert client.post(API + "/temporal/entities", json=body).status_code == 201
    settle(client)
    rain(client, 2, 20)  # 70 mm over 3 hours
    (alert,) = by_rule(alerts(client), "heavy-rain-advisory-3h")
    assert alert["data"]["value"] == 70


def test_a_bad_window_rule_entity_is_a_400_naming_the_member(client: TestClient) -> None:
    rule = {
        "id": "urn:ngsi-ld:AlertRule:seongnam:bad",
        "type": "AlertRule",
        **{k: {"type": "Property", "value": v} for k, v in BASE.items() if k != "title"},
        "window": {"type": "Property", "value": -1},
        "title": {"type": "LanguageProperty", "languageMap": {"ko": "비", "en": "Rain"}},
    }
    r = client.post(API + "/entities", json=rule)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert "window must be greater than 0" in problem["detail"]
    assert client.get(API + f"/entities/{rule['id']}").status_code == 404
