"""Alert rules as data (issue 16 part 2): every kind parses, the defaults are DOMAIN.md §6.3's,
and every bad rule is refused with a detail that names the rule, the member and what is
accepted."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.alerts.defaults import PREFIX, default_documents, default_rules
from cityhub.alerts.rules import KINDS, parse_rule
from cityhub.errors import BadRequestData

RID = "urn:ngsi-ld:AlertRule:test"
BASE: dict[str, Any] = {
    "ruleKind": "threshold",
    "entityType": "AirQualityObserved",
    "watchedAttribute": "pm25",
    "threshold": 75,
    "category": "environment",
    "subCategory": "airPollution",
    "severity": "high",
    "title": {"ko": "주의보", "en": "advisory"},
}


def refused(**changes: Any) -> str:
    doc = {**BASE, **changes}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(BadRequestData) as info:
        parse_rule(RID, doc)
    assert RID in info.value.detail
    return info.value.detail


def test_a_threshold_rule_with_defaults() -> None:
    rule = parse_rule(RID, {**BASE, "enterAfter": 7200, "exitAfter": 3600, "exitThreshold": 35})
    assert (rule.kind, rule.attribute, rule.operator, rule.threshold) == (
        "threshold",
        "pm25",
        ">=",
        75.0,
    )
    assert (rule.enter_after, rule.exit_after, rule.exit_threshold) == (7200, 3600, 35)
    assert rule.enabled


def test_every_kind_has_a_default_rule_and_all_defaults_parse() -> None:
    rules = default_rules()
    assert {r.kind for r in rules} == set(KINDS)
    assert all(r.id.startswith(PREFIX) for r in rules)
    assert len({r.id for r in rules}) == len(rules)


def test_the_defaults_are_domain_6_3() -> None:
    by = {r.id.removeprefix(PREFIX): r for r in default_rules()}
    pm25 = by["pm25-advisory"]
    assert (pm25.threshold, pm25.enter_after, pm25.severity) == (75, 7200, "high")
    assert by["pm25-warning"].threshold == 150 and by["pm25-warning"].severity == "critical"
    assert by["pm10-advisory"].threshold == 150 and by["pm10-warning"].threshold == 300
    assert by["ozone-advisory"].threshold == 0.12
    dust = by["asian-dust"]
    assert (dust.threshold, dust.ratio_attribute, dust.ratio_below) == (150, "pm25", 0.35)
    assert (dust.category, dust.sub_category) == ("weather", "dust")
    cai = by["cai-unhealthy"]
    assert (cai.enter_after, cai.exit_after) == (7200, 10800)  # up after 2 h, down after 3 h
    assert by["device-offline"].expected_interval == 3600
    assert by["device-offline"].interval_factor == 3
    assert by["battery-low"].threshold == 0.15 and by["battery-low"].operator == "<"
    assert by["pm25-stuck"].repeat_count == 6
    assert by["waste-container-full"].threshold_attribute == "binFullnessThreshold"
    assert by["parking-full"].enter_after == 900
    # the air-pollution alerts carry the advice for sensitive groups in both languages
    assert pm25.advice["ko"] and pm25.advice["en"]


def test_default_documents_are_copies() -> None:
    docs = default_documents()
    docs[PREFIX + "pm25-advisory"]["threshold"] = 1
    assert default_documents()[PREFIX + "pm25-advisory"]["threshold"] == 75


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"ruleKind": None}, "ruleKind is required"),
        ({"ruleKind": "sometimes"}, "ruleKind must be one of threshold"),
        ({"entityType": None}, "entityType is required"),
        ({"entityType": "https://x/Type"}, "short name"),
        ({"watchedAttribute": 3}, "watchedAttribute must be a non-empty string"),
        ({"threshold": "high"}, "threshold must be a number for operator >="),
        ({"threshold": None}, "threshold is required (or thresholdAttribute)"),
        ({"threshold": float("nan")}, "finite number"),
        ({"operator": "=>"}, "operator must be one of >=, >, <=, <, ==, !="),
        ({"severity": "urgent"}, "severity must be one of informational"),
        ({"enterAfter": -1}, "enterAfter must be at least 0"),
        ({"enterAfter": "2h"}, "enterAfter must be a finite number"),
        ({"exitAfter": 1e12}, "at most"),
        ({"exitThreshold": 80}, "exitThreshold (80) must be below or at threshold (75)"),
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"title": {"ko": ""}}, "title must be a string or a language map"),
        ({"title": None}, "title is required"),
        ({"treshold": 3}, "unknown member(s) treshold"),
        ({"category": None}, "category is required"),
    ],
)
def test_bad_rules_are_refused_with_an_actionable_detail(
    changes: dict[str, Any], words: str
) -> None:
    assert words in refused(**changes)


def test_kind_specific_members_are_checked() -> None:
    offline = {"ruleKind": "deviceOffline", "entityType": "Device"}
    with pytest.raises(BadRequestData, match="expectedInterval is required"):
        parse_rule(RID, offline)
    with pytest.raises(BadRequestData, match="expectedInterval must be greater than 0"):
        parse_rule(RID, {**offline, "expectedInterval": 0})
    rng = {"ruleKind": "outOfRange", "entityType": "X", "watchedAttribute": "pm25"}
    with pytest.raises(BadRequestData, match="minimum or maximum is required"):
        parse_rule(RID, rng)
    with pytest.raises(BadRequestData, match="must not be above maximum"):
        parse_rule(RID, {**rng, "minimum": 5, "maximum": 1})
    stuck = {"ruleKind": "stuckValue", "entityType": "X", "watchedAttribute": "pm25"}
    with pytest.raises(BadRequestData, match="repeatCount must be a whole number"):
        parse_rule(RID, {**stuck, "repeatCount": 2.5})
    with pytest.raises(BadRequestData, match="repeatCount must be at least 2"):
        parse_rule(RID, {**stuck, "repeatCount": 1})
    ratio = {**BASE, "ruleKind": "ratio"}
    with pytest.raises(BadRequestData, match="ratioAttribute is required"):
        parse_rule(RID, ratio)
    with pytest.raises(BadRequestData, match="exitThreshold needs an ordering operator"):
        parse_rule(RID, {**BASE, "operator": "==", "threshold": "burning", "exitThreshold": 1})


def test_device_kinds_have_default_texts() -> None:
    rule = parse_rule(RID, {"ruleKind": "batteryLow", "entityType": "Device"})
    assert (rule.attribute, rule.operator, rule.threshold) == ("batteryLevel", "<", 0.15)
    assert (rule.category, rule.sub_category, rule.severity) == ("device", "batteryLow", "low")
    assert rule.title["ko"] and rule.title["en"]


def test_text_thresholds_for_equality() -> None:
    rule = parse_rule(
        RID, {**BASE, "watchedAttribute": "status", "operator": "!=", "threshold": "ok"}
    )
    assert rule.threshold == "ok"


def test_an_entity_is_evaluated_against_the_rules_of_its_types_only() -> None:
    """RuleBook.rules_for: the rules watching one of the entity's types, in the tenant's rule
    order (the engine observed every rule of the tenant for every write before)."""
    from cityhub.alerts.rulebook import RuleBook

    book = RuleBook()
    every = book.rules("")
    for names in (["AirQualityObserved"], ["Device", "WasteContainer"], ["Nothing"], []):
        expected = [r for r in every if r.entity_type in names]
        assert book.rules_for("", names) == expected
    assert {r.entity_type for r in book.rules_for("", ["AirQualityObserved"])} == {
        "AirQualityObserved"
    }
    assert len(book.rules_for("", ["AirQualityObserved"])) < len(every)
