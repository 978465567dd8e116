"""Alert rules: what a city asks the hub to watch, as data, validated.

A rule is read from plain JSON values keyed by attribute local names (an ``AlertRule``
entity's attributes as ``keyValues`` give them, whatever @context they were written with), so
the same parser serves the built-in defaults (``cityhub.alerts.defaults``) and the rules a
city manages at run time. Every refusal is a :class:`~cityhub.errors.BadRequestData` whose
detail names the rule, the member and what would be accepted.

Kinds (issue 16, DOMAIN.md §6.3):

``threshold``
    ``watchedAttribute operator threshold`` (or the value of ``thresholdAttribute`` of the
    same entity) held for ``enterAfter`` seconds opens the alert; it closes once the
    condition has been false (and, with ``exitThreshold``, the value back past it) for
    ``exitAfter`` seconds.
``ratio``
    a threshold whose condition also needs ``ratioAttribute / watchedAttribute`` below
    ``ratioBelow`` (Asian dust: PM10 high and PM2.5/PM10 low).
``rateOfChange``
    the change per hour between two consecutive readings, compared with ``threshold``.
``stuckValue``
    ``repeatCount`` consecutive identical readings.
``outOfRange``
    a reading outside ``[minimum, maximum]``, or not a finite number at all.
``deviceOffline``
    no report for ``intervalFactor`` x ``expectedInterval`` seconds (checked on a timer).
``batteryLow``
    a threshold with the defaults ``batteryLevel < 0.15``.
``window``
    a threshold on an aggregate of the readings of the last ``window`` seconds
    (``aggregate``: ``sum``, ``mean``, ``min`` or ``max``) instead of the latest reading: heavy
    rain (the rain of 3 or 12 hours), heat and cold waves (the 24-hour maximum or minimum
    held over days). ``sum`` reads each value as a rate per hour over the time the reading
    stands for (the time since the reading before, at most an hour): hourly rainfall in mm
    (= mm/h) sums to the mm of the window, and readings of the rate every 10 minutes give
    the same. ``mean`` is weighted by that time too. Evaluated incrementally: the episode
    state keeps the window's readings (at most :data:`MAX_WINDOW_READINGS`, the oldest go
    first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cityhub.errors import BadRequestData

KINDS = (
    "threshold",
    "ratio",
    "rateOfChange",
    "stuckValue",
    "outOfRange",
    "deviceOffline",
    "batteryLow",
    "window",
)
#: what a ``window`` rule computes over its readings
AGGREGATES = ("sum", "mean", "min", "max")
#: the longest window a rule may name: 7 days
MAX_WINDOW = 7 * 86400.0
#: the most readings a window rule's state keeps (a reading a minute over a day is 1,440)
MAX_WINDOW_READINGS = 2000
OPERATORS = (">=", ">", "<=", "<", "==", "!=")
#: Smart Data Models Alert ``severity`` (dataModel.Alert 0.0.3)
SEVERITIES = ("informational", "low", "medium", "high", "critical")
#: the longest duration a rule may name (enterAfter, exitAfter, expectedInterval): 31 days
MAX_SECONDS = 31 * 86400.0
#: the most identical readings a stuck-value rule may wait for
MAX_REPEAT = 10_000
_NUMBER_KINDS = ("ratio", "rateOfChange", "batteryLow")
#: every member a rule may have (local names); anything else is refused, so that a typo is
#: reported rather than silently ignored
MEMBERS = frozenset(
    {
        "ruleKind",
        "entityType",
        "aggregate",
        "window",
        "watchedAttribute",
        "operator",
        "threshold",
        "thresholdAttribute",
        "exitThreshold",
        "enterAfter",
        "exitAfter",
        "ratioAttribute",
        "ratioBelow",
        "minimum",
        "maximum",
        "repeatCount",
        "expectedInterval",
        "intervalFactor",
        "reportAttribute",
        "category",
        "subCategory",
        "severity",
        "title",
        "advice",
        "enabled",
    }
)


@dataclass(frozen=True)
class Rule:
    """One validated rule. Times are seconds; names are attribute local names.

    Attributes:
        id: the rule's id (a URI; the AlertRule entity's id, or a default's).
        kind: one of :data:`KINDS`.
        entity_type: the local name of the entity type it watches (``AirQualityObserved``).
        attribute: the watched attribute (None for ``deviceOffline``).
        operator: the comparison of threshold-like kinds.
        threshold: a number (or, for ``==``/``!=``, a string or boolean).
        threshold_attribute: an attribute of the same entity whose value is the threshold
            (``alertLevel``, ``binFullnessThreshold``); ``threshold`` when it is absent.
        exit_threshold: the value must be back past this to leave (value hysteresis).
        enter_after: how long the condition must hold before the alert opens.
        exit_after: how long it must be false before the alert closes.
        ratio_attribute / ratio_below: the ratio condition of ``ratio`` rules.
        minimum / maximum: the physical range of ``outOfRange`` rules.
        repeat_count: identical readings that make a value stuck.
        expected_interval / interval_factor: when a source counts as offline.
        report_attribute: the attribute whose value (a DateTime) or ``observedAt`` tells when
            the source last reported; None: the latest ``observedAt`` of any attribute, else
            ``modifiedAt``.
        category / sub_category / severity: the Alert's classification.
        title: {"ko": ..., "en": ...}, the alert's headline.
        advice: {"ko": ..., "en": ...}, advice for sensitive groups (empty when none applies).
        enabled: False keeps the rule but evaluates nothing (and closes nothing either).
        aggregate / window: a ``window`` rule's aggregate and its window (seconds).
    """

    id: str
    kind: str
    entity_type: str
    category: str
    sub_category: str
    severity: str
    title: Mapping[str, str]
    attribute: str | None = None
    operator: str = ">="
    threshold: float | str | bool | None = None
    threshold_attribute: str | None = None
    exit_threshold: float | None = None
    enter_after: float = 0.0
    exit_after: float = 0.0
    ratio_attribute: str | None = None
    ratio_below: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    repeat_count: int = 6
    expected_interval: float | None = None
    interval_factor: float = 3.0
    report_attribute: str | None = None
    advice: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    aggregate: str | None = None
    window: float = 0.0

    @property
    def lookback(self) -> float:
        """How far back a reading can still matter to this rule (seconds)."""
        return max(self.enter_after, self.exit_after) + self.window


class _Reader:
    """Reads one rule's members, raising BadRequestData that names rule and member."""

    def __init__(self, rule_id: str, values: Mapping[str, Any]) -> None:
        self.rule_id = rule_id
        self.values = values

    def fail(self, member: str, what: str) -> BadRequestData:
        return BadRequestData(f"AlertRule {self.rule_id}: {member} {what}")

    def has(self, member: str) -> bool:
        return self.values.get(member) is not None

    def text(self, member: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        raw = self.values.get(member)
        if raw is None:
            if default is None:
                raise self.fail(member, "is required" + _one_of(choices))
            return default
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(member, f"must be a non-empty string{_one_of(choices)}, got {raw!r}")
        if choices and raw not in choices:
            raise self.fail(member, f"must be one of {', '.join(choices)}; got {raw!r}")
        return raw

    def name(self, member: str, default: str | None = None) -> str:
        """An attribute or type local name (no spaces, no IRI)."""
        value = self.text(member, default)
        if any(c.isspace() for c in value) or "/" in value or "#" in value:
            raise self.fail(
                member, f"must be a short name such as pm25 (no spaces or IRI), got {value!r}"
            )
        return value

    def optional_name(self, member: str) -> str | None:
        return self.name(member) if self.has(member) else None

    def number(
        self,
        member: str,
        default: float | None = None,
        lo: float = -math.inf,
        hi: float = math.inf,
        strict_lo: bool = False,
    ) -> float:
        raw = self.values.get(member)
        if raw is None:
            if default is None:
                raise self.fail(member, "is required (a number)")
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise self.fail(member, f"must be a finite number, got {raw!r}")
        value = float(raw)
        if value < lo or (strict_lo and value == lo) or value > hi:
            low = f"greater than {lo:g}" if strict_lo else f"at least {lo:g}"
            raise self.fail(member, f"must be {low} and at most {hi:g}, got {raw!r}")
        return value

    def optional_number(self, member: str, **limits: Any) -> float | None:
        return self.number(member, **limits) if self.has(member) else None

    def seconds(self, member: str, default: float) -> float:
        return self.number(member, default, 0.0, MAX_SECONDS)

    def language_map(self, member: str, required: bool) -> dict[str, str]:
        raw = self.values.get(member)
        if raw is None:
            if required:
                raise self.fail(member, 'is required: {"ko": "...", "en": "..."} or a string')
            return {}
        if isinstance(raw, str) and raw.strip():
            return {"en": raw}
        if (
            isinstance(raw, Mapping)
            and raw
            and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in raw.items())
        ):
            return dict(raw)
        raise self.fail(
            member,
            f'must be a string or a language map such as {{"ko": "...", "en": "..."}}; got {raw!r}',
        )


def _one_of(choices: tuple[str, ...]) -> str:
    return f" (one of {', '.join(choices)})" if choices else ""


def parse_rule(rule_id: str, values: Mapping[str, Any]) -> Rule:
    """A :class:`Rule` from its members (local name -> plain JSON value).

    Raises:
        BadRequestData: a member is missing, unknown, of the wrong type or out of its range;
            the detail names the rule and the member and says what is accepted.
    """
    unknown = sorted(k for k in values if k not in MEMBERS)
    if unknown:
        raise BadRequestData(
            f"AlertRule {rule_id}: unknown member(s) {', '.join(unknown)}; a rule has "
            f"{', '.join(sorted(MEMBERS))}"
        )
    r = _Reader(rule_id, values)
    kind = r.text("ruleKind", choices=KINDS)
    common: dict[str, Any] = {
        "id": rule_id,
        "kind": kind,
        "entity_type": r.name("entityType"),
        "category": r.text("category", "device" if kind in _DEVICE_KINDS else None),
        "sub_category": r.text("subCategory", _DEFAULT_SUBCATEGORY.get(kind)),
        "severity": r.text("severity", "low" if kind in _DEVICE_KINDS else None, SEVERITIES),
        "title": r.language_map("title", required=kind not in _DEVICE_KINDS)
        or _DEFAULT_TITLES[kind],
        "advice": r.language_map("advice", required=False),
        "enabled": _boolean(r, "enabled"),
        "enter_after": r.seconds("enterAfter", 0.0),
        "exit_after": r.seconds("exitAfter", 0.0),
    }
    if kind == "deviceOffline":
        return Rule(
            **common,
            expected_interval=r.number("expectedInterval", None, 0.0, MAX_SECONDS, True),
            interval_factor=r.number("intervalFactor", 3.0, 1.0, 1000.0),
            report_attribute=r.optional_name("reportAttribute"),
        )
    if kind == "batteryLow":
        common["attribute"] = r.name("watchedAttribute", "batteryLevel")
        common["operator"] = r.text("operator", "<", OPERATORS[:4])
        common["threshold"] = r.number("threshold", 0.15)
        return Rule(**common)
    common["attribute"] = r.name("watchedAttribute")
    if kind == "outOfRange":
        lo, hi = r.optional_number("minimum"), r.optional_number("maximum")
        if lo is None and hi is None:
            raise r.fail("minimum", "or maximum is required: the physical range of the value")
        if lo is not None and hi is not None and lo > hi:
            raise r.fail("minimum", f"({lo:g}) must not be above maximum ({hi:g})")
        return Rule(**common, minimum=lo, maximum=hi)
    if kind == "stuckValue":
        count = r.number("repeatCount", 6.0, 2.0, MAX_REPEAT)
        if count != int(count):
            raise r.fail("repeatCount", f"must be a whole number, got {count:g}")
        return Rule(**common, repeat_count=int(count))
    # threshold, ratio, rateOfChange
    operator = r.text("operator", ">=", OPERATORS)
    threshold_attribute = r.optional_name("thresholdAttribute")
    threshold = _threshold(r, operator, kind, required=threshold_attribute is None)
    exit_threshold = r.optional_number("exitThreshold")
    if exit_threshold is not None:
        if operator in ("==", "!="):
            raise r.fail("exitThreshold", f"needs an ordering operator, not {operator}")
        if isinstance(threshold, float) and not _hysteresis_ok(operator, threshold, exit_threshold):
            side = "below" if operator.startswith(">") else "above"
            raise r.fail(
                "exitThreshold",
                f"({exit_threshold:g}) must be {side} or at threshold ({threshold:g}) for "
                f"operator {operator}, or the alert would close while the condition holds",
            )
    extra: dict[str, Any] = {}
    if kind == "window":
        extra["aggregate"] = r.text("aggregate", choices=AGGREGATES)
        extra["window"] = r.number("window", None, 0.0, MAX_WINDOW, strict_lo=True)
        if threshold_attribute is None and not isinstance(threshold, float):
            raise r.fail("threshold", f"must be a number for a window rule, got {threshold!r}")
    if kind == "ratio":
        extra["ratio_attribute"] = r.name("ratioAttribute")
        extra["ratio_below"] = r.number("ratioBelow", None, 0.0, 1e6, True)
    return Rule(
        **common,
        operator=operator,
        threshold=threshold,
        threshold_attribute=threshold_attribute,
        exit_threshold=exit_threshold,
        **extra,
    )


def _threshold(r: _Reader, operator: str, kind: str, required: bool) -> float | str | bool | None:
    raw = r.values.get("threshold")
    if raw is None:
        if required:
            raise r.fail("threshold", "is required (or thresholdAttribute)")
        return None
    if operator in ("==", "!=") and kind == "threshold" and isinstance(raw, str | bool):
        return raw
    if isinstance(raw, str | bool) and kind == "threshold":
        raise r.fail(
            "threshold",
            f"must be a number for operator {operator} (text and booleans only with == or "
            f"!=), got {raw!r}",
        )
    return r.number("threshold")


def _hysteresis_ok(operator: str, threshold: float, exit_threshold: float) -> bool:
    return exit_threshold <= threshold if operator.startswith(">") else exit_threshold >= threshold


def _boolean(r: _Reader, member: str) -> bool:
    raw = r.values.get(member)
    if raw is None:
        return True
    if not isinstance(raw, bool):
        raise r.fail(member, f"must be true or false, got {raw!r}")
    return raw


_DEVICE_KINDS = ("stuckValue", "outOfRange", "deviceOffline", "batteryLow")
_DEFAULT_SUBCATEGORY = {
    "stuckValue": "deviceStuck",
    "outOfRange": "valueOutOfRange",
    "deviceOffline": "deviceOffline",
    "batteryLow": "batteryLow",
}
_DEFAULT_TITLES: dict[str, Mapping[str, str]] = {
    "stuckValue": {"ko": "센서 값 고정", "en": "Sensor value stuck"},
    "outOfRange": {"ko": "측정값 범위 초과", "en": "Reading out of physical range"},
    "deviceOffline": {"ko": "센서 통신 끊김", "en": "Sensor offline"},
    "batteryLow": {"ko": "배터리 부족", "en": "Battery low"},
    "threshold": {},
    "ratio": {},
    "rateOfChange": {},
    "window": {},
}

__all__ = [
    "AGGREGATES",
    "KINDS",
    "MAX_WINDOW",
    "MAX_WINDOW_READINGS",
    "MEMBERS",
    "OPERATORS",
    "SEVERITIES",
    "Rule",
    "parse_rule",
]
