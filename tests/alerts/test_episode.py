"""The alert state machine on synthetic series (issue 16 "Checked by"): enter after the
duration, hold (one alert, updated), hysteresis exit, offline on a timer, restart in the middle
of an episode, and each rule kind's condition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cityhub.alerts.defaults import PREFIX, default_rules
from cityhub.alerts.episode import (
    Action,
    EpisodeState,
    Observation,
    alert_id,
    check_offline,
    step,
)
from cityhub.alerts.rules import Rule, parse_rule

H = 3600.0
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DEFAULTS = {r.id.removeprefix(PREFIX): r for r in default_rules()}
SRC = "urn:ngsi-ld:AirQualityObserved:x"


def series(
    rule: Rule,
    values: Iterable[Any],
    every: float = H,
    state: EpisodeState | None = None,
    start: float = T0,
) -> tuple[EpisodeState, list[Action]]:
    """Run readings every ``every`` seconds; each knows the one before (as a change does)."""
    state = state or EpisodeState()
    actions: list[Action] = []
    previous: tuple[Any, float] | None = None
    for i, value in enumerate(values):
        at = start + i * every
        obs = Observation(
            SRC,
            at,
            value,
            previous_value=previous[0] if previous else None,
            previous_at=previous[1] if previous else None,
        )
        result = step(rule, state, obs)
        state = result.state
        actions.extend(result.actions)
        previous = (value, at)
    return state, actions


def ops(actions: list[Action]) -> list[str]:
    return [a.op for a in actions]


def test_pm25_advisory_enters_on_the_second_hour_and_not_before() -> None:
    rule = DEFAULTS["pm25-advisory"]
    state, actions = series(rule, [40, 80])  # one hour over: pending
    assert state.phase == "pending" and actions == []
    state, actions = series(rule, [40, 80, 90])  # two hourly values >= 75: advisory
    assert ops(actions) == ["open"]
    opened = actions[0]
    assert opened.valid_from == T0  # the first hour over began at the 40's reading
    assert opened.at == T0 + 2 * H  # issued with the second hourly value over
    assert opened.alert_id == alert_id(rule.id, SRC, T0)
    assert state.phase == "active" and state.alert_id == opened.alert_id


def test_an_interruption_before_the_duration_resets_the_clock() -> None:
    rule = DEFAULTS["pm25-advisory"]
    _, actions = series(rule, [40, 80, 60, 80, 60, 80])
    assert actions == []


def test_one_alert_per_episode_updated_while_it_holds() -> None:
    rule = DEFAULTS["pm25-advisory"]
    state, actions = series(rule, [40, 80, 90, 120, 120, 100])
    assert ops(actions) == ["open", "update", "update"]  # 120 repeated: no new update
    assert len({a.alert_id for a in actions}) == 1
    assert actions[-1].peak == 120 and actions[-1].value == 100


def test_hysteresis_exit_needs_the_value_below_the_release_level_for_the_exit_time() -> None:
    rule = DEFAULTS["pm25-advisory"]  # >= 75 for 2 h; ends below 35 held for 1 h
    # below 75 but above 35: the advisory holds (value hysteresis)
    state, actions = series(rule, [40, 80, 90, 60, 50, 40])
    assert ops(actions) == ["open", "update", "update", "update"]
    assert state.phase == "active"
    # an hourly value below 35: below it for the hour it stands for, so closed
    state, actions = series(rule, [40, 80, 90, 30])
    assert ops(actions) == ["open", "close"]
    assert actions[-1].valid_to == T0 + 3 * H
    assert state.phase == "idle" and state.alert_id is None
    # 10-minute values: clearing until an hour of them is below 35
    state, actions = series(rule, [40] + [80] * 13 + [30] * 5, every=600)
    assert ops(actions) == ["open"] and state.phase == "clearing"
    state, actions = series(rule, [40] + [80] * 13 + [30] * 6, every=600)
    assert ops(actions) == ["open", "close"]
    assert state.phase == "idle" and state.alert_id is None


def test_clearing_goes_back_to_the_same_alert_when_the_condition_returns() -> None:
    rule = parse_rule(
        "urn:r", {**_doc("threshold"), "exitAfter": 2 * H, "threshold": 75, "enterAfter": 0}
    )
    state, actions = series(rule, [80, 50, 90, 50, 50, 50])
    assert ops(actions) == ["open", "update", "close"]
    assert len({a.alert_id for a in actions}) == 1


def test_a_new_episode_gets_a_new_alert() -> None:
    rule = parse_rule("urn:r", {**_doc("threshold"), "threshold": 75})
    _, actions = series(rule, [80, 50, 80, 50])
    assert ops(actions) == ["open", "close", "open", "close"]
    assert actions[0].alert_id != actions[2].alert_id


def test_restart_in_the_middle_of_an_episode_continues_it() -> None:
    """The state stored as JSON and read back (a restart) gives the same actions and ids as
    an uninterrupted run: no second alert, no lost close."""
    rule = DEFAULTS["pm25-advisory"]
    values = [40, 80, 90, 100, 30, 20, 10]
    _, straight = series(rule, values)
    state, first = series(rule, values[:3])
    stored = EpisodeState.from_doc(_json_roundtrip(state.to_doc()))
    _, second = series(rule, values[3:], state=stored, start=T0 + 3 * H)
    # the resumed run has no previous reading for its first value: same episode anyway
    assert [(a.op, a.alert_id) for a in first + second] == [(a.op, a.alert_id) for a in straight]


def test_replaying_an_observation_changes_nothing() -> None:
    rule = DEFAULTS["pm25-advisory"]
    state, _ = series(rule, [40, 80, 90])
    again = step(rule, state, Observation(SRC, T0 + 2 * H, 90))
    assert again.state == state and again.actions == [] and not again.late
    late = step(rule, state, Observation(SRC, T0, 500))
    assert late.state == state and late.actions == [] and late.late


def test_text_where_a_number_is_expected_is_no_reading_for_a_threshold() -> None:
    rule = DEFAULTS["pm25-advisory"]
    state, actions = series(rule, [40, 80, "high", None, True])
    assert actions == [] and state.phase == "pending"


def test_out_of_range_opens_for_bad_values_and_closes_on_a_good_one() -> None:
    rule = DEFAULTS["pm25-range"]
    _, actions = series(rule, [20, -5, 1e9, "n/a", 30])
    assert ops(actions) == ["open", "update", "update", "close"]
    assert actions[0].value == -5


def test_ratio_asian_dust_needs_both_conditions() -> None:
    rule = DEFAULTS["asian-dust"]

    def run(pairs: list[tuple[float, float]]) -> list[str]:
        state, out = EpisodeState(), []
        for i, (pm10, pm25) in enumerate(pairs):
            result = step(rule, state, Observation(SRC, T0 + i * H, pm10, ratio_value=pm25))
            state = result.state
            out += ops(result.actions)
        return out

    assert run([(200, 150)]) == []  # high PM10 but fine dust: smog, not Asian dust
    assert run([(200, 40), (100, 30)]) == ["open", "close"]  # ratio 0.2: dust
    assert run([(120, 20)]) == []  # low ratio but PM10 under 150


def test_stuck_value_after_six_identical_readings() -> None:
    rule = DEFAULTS["pm25-stuck"]
    state, actions = series(rule, [10, 12, 12, 12, 12, 12], every=600)
    assert actions == [] and state.repeats == 5
    state, actions = series(rule, [10, 12, 12, 12, 12, 12, 12, 12, 13], every=600)
    assert ops(actions) == ["open", "close"]
    assert actions[0].valid_from == T0 + 600  # since the first of the identical readings
    assert state.is_idle


def test_stuck_counting_survives_a_stored_state() -> None:
    rule = DEFAULTS["pm25-stuck"]
    state, _ = series(rule, [12, 12, 12], every=600)
    assert not state.is_idle  # three in a row must be remembered
    stored = EpisodeState.from_doc(_json_roundtrip(state.to_doc()))
    _, actions = series(rule, [12, 12, 12], every=600, state=stored, start=T0 + 1800)
    assert ops(actions) == ["open"]


def test_a_single_reading_leaves_nothing_to_store() -> None:
    rule = DEFAULTS["pm25-stuck"]
    state, _ = series(rule, [10, 11, 12, 13], every=600)
    assert state.is_idle
    assert not state.differs_from(EpisodeState())


def test_rate_of_change_between_consecutive_readings() -> None:
    rule = DEFAULTS["water-rising-fast"]  # >= 0.5 m an hour
    _, actions = series(rule, [1.0, 1.1, 1.2], every=600)  # 0.6 m/h
    assert ops(actions) == ["open", "update"]
    _, actions = series(rule, [1.0, 1.05, 1.1], every=600)  # 0.3 m/h
    assert actions == []
    _, actions = series(rule, [1.0, 1.2, 1.2, 1.2, 1.2], every=600)  # flat after
    assert ops(actions) == ["open", "close"]  # flat for 30 min (exitAfter 1800)


def test_threshold_from_another_attribute() -> None:
    rule = DEFAULTS["flood-alert-level"]  # currentLevel >= alertLevel
    low = step(rule, EpisodeState(), Observation(SRC, T0, 2.0, threshold=2.5))
    assert low.actions == []
    high = step(rule, EpisodeState(), Observation(SRC, T0, 2.6, threshold=2.5))
    assert ops(high.actions) == ["open"]
    bin_rule = DEFAULTS["waste-container-full"]  # binFullnessThreshold, else 0.9
    no_attr = step(bin_rule, EpisodeState(), Observation(SRC, T0, 0.95))
    assert no_attr.state.phase == "pending"
    own = step(bin_rule, EpisodeState(), Observation(SRC, T0, 0.95, threshold=0.99))
    assert own.state.phase == "idle"


def test_text_equality_rules() -> None:
    rule = DEFAULTS["streetlight-fault"]  # status != ok
    _, actions = series(rule, ["ok", "defectiveLamp", "defectiveLamp", "ok"])
    assert ops(actions) == ["open", "close"]


def test_offline_on_the_timer_then_back() -> None:
    rule = DEFAULTS["device-offline"]  # 3 x 1 h
    dev = "urn:ngsi-ld:Device:d"
    last = T0
    quiet = check_offline(rule, EpisodeState(), dev, last, T0 + 2 * H)
    assert quiet.actions == [] and quiet.state.phase == "idle"
    due = check_offline(rule, EpisodeState(), dev, last, T0 + 3 * H + 1)
    assert ops(due.actions) == ["open"]
    assert due.actions[0].valid_from == T0 + 3 * H
    # every worker (or a second tick) asking again names the same alert, and does nothing
    again = check_offline(rule, due.state, dev, last, T0 + 5 * H)
    assert again.actions == [] and again.state == due.state
    other = check_offline(rule, EpisodeState(), dev, last, T0 + 4 * H)
    assert other.actions[0].alert_id == due.actions[0].alert_id
    # a report ends it, validTo = the report
    back = step(rule, due.state, Observation(dev, T0 + 6 * H))
    assert ops(back.actions) == ["close"] and back.actions[0].valid_to == T0 + 6 * H
    assert back.state.is_idle
    # the timer seeing the new report first also closes it
    seen = check_offline(rule, due.state, dev, T0 + 6 * H, T0 + 6 * H + 5)
    assert ops(seen.actions) == ["close"]


def test_a_disabled_comparison_never_raises_on_odd_inputs() -> None:
    for rule in default_rules():
        for value in [None, "x", True, float("nan"), float("inf"), -1e308, [], {"a": 1}]:
            result = step(
                rule,
                EpisodeState(),
                Observation(SRC, T0, value, threshold=value, ratio_value=value),
            )
            assert result.state is not None


def _doc(kind: str) -> dict[str, Any]:
    return {
        "ruleKind": kind,
        "entityType": "AirQualityObserved",
        "watchedAttribute": "pm25",
        "category": "environment",
        "subCategory": "airPollution",
        "severity": "high",
        "title": "t",
    }


def _json_roundtrip(doc: dict[str, Any]) -> dict[str, Any]:
    import json

    out: dict[str, Any] = json.loads(json.dumps(doc))
    return out
