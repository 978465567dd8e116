"""The alert state machine: (rule, previous state, observation) -> (new state, alert actions).

Pure: no clock, no store. One :class:`EpisodeState` per (rule, source entity); its phases:

``idle``      nothing is going on.
``pending``   the condition holds, not yet for ``enterAfter``.
``active``    an alert is open (one Alert entity for the whole episode).
``clearing``  the alert is open, the condition has stopped holding, not yet for ``exitAfter``.

Time is the observations' own (``observedAt``), not the wall clock, so a late batch, a replay of
history and a restart all give the same episodes, and an observation older than the last one
applied is ignored (reported as ``late``). For the durations (``enterAfter``, ``exitAfter``) a
reading stands for the time since the reading before it, at most :data:`READING_SPAN`
(AirKorea's hourly means): with hourly readings, ``enterAfter`` 7200 opens on the second
consecutive reading over the threshold, as the PM advisory (≥ 75 µg/m³ for 2 h) asks, and the
episode starts with the first of them. A rule without ``enterAfter`` starts its episode with
the reading that meets it.

The alert id is derived from (rule, source, episode start), so two workers or a restarted one
that evaluate the same episode name the same Alert, and a second insert fails instead of
raising it twice.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from cityhub.alerts.rules import MAX_WINDOW_READINGS, Rule

Phase = Literal["idle", "pending", "active", "clearing"]
_T = TypeVar("_T", "Observation", "EpisodeState")
#: the longest time one reading stands for (seconds)
READING_SPAN = 3600.0


@dataclass(frozen=True)
class Observation:
    """What one change of a source entity tells one rule.

    Attributes:
        source: the entity's id.
        at: when it was observed (seconds since the epoch).
        value: the watched attribute's value (None: the entity has no such reading).
        threshold: the value of the rule's ``thresholdAttribute`` on the entity, if any.
        ratio_value: the value of the rule's ``ratioAttribute``, if any.
        previous_value / previous_at: the reading before this one (None when unknown).
    """

    source: str
    at: float
    value: Any = None
    threshold: Any = None
    ratio_value: Any = None
    previous_value: Any = None
    previous_at: float | None = None


@dataclass(frozen=True)
class EpisodeState:
    """Where one (rule, source) pair stands. ``to_doc``/``from_doc`` store it as JSON."""

    phase: Phase = "idle"
    since: float | None = None  # pending: the condition began; clearing: it stopped
    started: float | None = None  # the episode's start (keys the alert id)
    alert_id: str | None = None
    last_at: float | None = None  # the latest observation applied
    last_value: Any = None  # the latest value written to the alert
    peak: float | None = None  # the worst value of the episode
    repeat_value: Any = None  # stuckValue: the repeated value ...
    repeats: int = 0  # ... how many times in a row ...
    repeat_since: float | None = None  # ... since when
    #: window: the readings of the window, oldest first: (at, value, hours it stands for)
    samples: tuple[tuple[float, float, float], ...] = ()

    def to_doc(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in self.__dict__.items()
            if v is not None and v != 0 and v != () or k == "phase"
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> EpisodeState:
        if not doc or not isinstance(doc, dict):
            return cls()
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        if "samples" in known:
            known["samples"] = _samples_of(known["samples"])
        return cls(**known)

    @property
    def is_idle(self) -> bool:
        """Nothing to remember: a store may drop the state (a value seen once is not a
        repeat yet; the next change's former value says whether it repeats; a window rule
        remembers its window's readings)."""
        return self.phase == "idle" and self.repeats <= 1 and not self.samples

    def differs_from(self, other: EpisodeState) -> bool:
        """Whether storing this state instead of ``other`` changes anything but ``last_at``
        (a store writes the state when it does, not on every reading)."""
        if self.is_idle and other.is_idle:
            return False
        return {**self.__dict__, "last_at": None} != {**other.__dict__, "last_at": None}


@dataclass(frozen=True)
class Action:
    """What to do to an Alert entity.

    Attributes:
        op: ``open`` (create it), ``update`` (new value while it holds) or ``close``
            (``validTo``).
        alert_id: the Alert's id.
        rule: the rule that fired.
        source: the entity the alert is about (``alertSource``).
        valid_from: when the episode started to count (``validFrom``).
        at: the time of the observation that caused the action (``dateIssued`` of an open).
        value: the value that caused it.
        peak: the worst value of the episode so far.
        valid_to: set by ``close``.
    """

    op: Literal["open", "update", "close"]
    alert_id: str
    rule: Rule
    source: str
    valid_from: float
    at: float
    value: Any = None
    peak: float | None = None
    valid_to: float | None = None


@dataclass(frozen=True)
class Step:
    """The outcome of one evaluation."""

    state: EpisodeState
    actions: list[Action] = field(default_factory=list)
    late: bool = False  # the observation was older than the state and was ignored


def evolve(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for the frozen :class:`EpisodeState` and :class:`Observation`
    (plain fields, no ``__post_init__``), without its per-call field inspection: a step makes
    one or two of them for every rule of every change, in the alert engine's busiest path."""
    new = object.__new__(type(obj))
    fields = new.__dict__
    fields.update(obj.__dict__)
    fields.update(changes)
    return new


def alert_id(rule_id: str, source: str, started: float) -> str:
    """The Alert id of the episode of ``rule_id`` on ``source`` that started at ``started``."""
    key = f"{rule_id}\n{source}\n{round(started, 3)!r}".encode()
    return "urn:ngsi-ld:Alert:cityhub:" + hashlib.sha256(key).hexdigest()[:32]


def is_number(value: Any) -> bool:
    """A finite JSON number (booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def compare(value: Any, operator: str, threshold: Any) -> bool | None:
    """``value operator threshold``; None when they cannot be compared (no reading, text
    against a number)."""
    if value is None or threshold is None:
        return None
    if operator in ("==", "!="):
        if is_number(value) and is_number(threshold):
            same = float(value) == float(threshold)
        elif type(value) is type(threshold):
            same = value == threshold
        else:
            return None
        return same if operator == "==" else not same
    if not (is_number(value) and is_number(threshold)):
        return None
    v, t = float(value), float(threshold)
    return {">=": v >= t, ">": v > t, "<=": v <= t, "<": v < t}[operator]


def _threshold(rule: Rule, obs: Observation) -> Any:
    if rule.threshold_attribute is not None and obs.threshold is not None:
        if rule.operator in ("==", "!=") or is_number(obs.threshold):
            return obs.threshold
    return rule.threshold


def condition(rule: Rule, obs: Observation, state: EpisodeState) -> bool | None:
    """Whether the rule's condition holds for this observation (None: cannot tell)."""
    kind = rule.kind
    if kind == "outOfRange":
        if obs.value is None:
            return None
        if not is_number(obs.value):
            return True  # text, a boolean, NaN where a number is expected
        v = float(obs.value)
        return (rule.minimum is not None and v < rule.minimum) or (
            rule.maximum is not None and v > rule.maximum
        )
    if kind == "stuckValue":
        return None if obs.value is None else state.repeats >= rule.repeat_count
    if kind == "rateOfChange":
        if (
            obs.previous_at is None
            or obs.previous_at >= obs.at
            or not is_number(obs.value)
            or not is_number(obs.previous_value)
        ):
            return None
        rate = (float(obs.value) - float(obs.previous_value)) / ((obs.at - obs.previous_at) / 3600)
        return compare(rate, rule.operator, rule.threshold)
    held = compare(obs.value, rule.operator, _threshold(rule, obs))
    if kind == "ratio" and held:
        if not is_number(obs.ratio_value) or float(obs.value) <= 0 or rule.ratio_below is None:
            return None
        return float(obs.ratio_value) / float(obs.value) < rule.ratio_below
    return held


def _still_holds(rule: Rule, obs: Observation, held: bool) -> bool:
    """An open episode goes on while the condition holds or, with ``exitThreshold``, while
    the value has not come back past it (value hysteresis)."""
    if held or rule.exit_threshold is None:
        return held
    return bool(compare(obs.value, rule.operator, rule.exit_threshold))


def _span_start(obs: Observation) -> float:
    """The start of the time the observation stands for."""
    if obs.previous_at is not None and obs.previous_at < obs.at:
        return max(obs.previous_at, obs.at - READING_SPAN)
    return obs.at


def _worse(rule: Rule, peak: float | None, value: Any) -> float | None:
    if not is_number(value):
        return peak
    v = float(value)
    if peak is None:
        return v
    lower_is_worse = rule.operator in ("<", "<=") and rule.kind != "rateOfChange"
    return min(peak, v) if lower_is_worse else max(peak, v)


def step(rule: Rule, state: EpisodeState, obs: Observation) -> Step:
    """Apply one observation of ``obs.source`` to the state of ``rule`` on it.

    Returns the new state and the alert actions (at most one: open, update or close); an
    observation not newer than the last one applied changes nothing and is ``late``.
    """
    if state.last_at is not None and obs.at <= state.last_at:
        return Step(state, late=obs.at < state.last_at)
    if rule.kind == "deviceOffline":  # any report ends an offline episode
        return report_seen(rule, state, obs.source, obs.at)
    if rule.kind == "stuckValue" and obs.value is not None:
        state = _count_repeats(state, obs)
    if rule.kind == "window":  # the rule reads the window's aggregate, not the reading
        state, obs = _window(rule, state, obs)
    held = condition(rule, obs, state)
    if held is None:  # no usable reading: nothing moves
        return Step(evolve(state, last_at=obs.at))
    if state.phase in ("idle", "pending") and not held:
        return Step(evolve(state, last_at=obs.at, phase="idle", since=None))
    state = evolve(state, last_at=obs.at)
    if state.phase in ("idle", "pending"):
        since = state.since if state.phase == "pending" and state.since is not None else None
        if since is None:
            if rule.kind == "stuckValue" and state.repeat_since is not None:
                since = state.repeat_since
            elif rule.enter_after > 0:  # how long it has held counts: from the span's start
                since = _span_start(obs)
            else:  # at once: the episode starts with the reading
                since = obs.at
        if obs.at - since < rule.enter_after:
            return Step(evolve(state, phase="pending", since=since))
        return _open(rule, state, obs, since)
    # active or clearing
    if _still_holds(rule, obs, held):
        peak = _worse(rule, state.peak, obs.value)
        active = evolve(state, phase="active", since=None, peak=peak)
        if _same(obs.value, state.last_value) and peak == state.peak:
            return Step(active)
        return Step(
            evolve(active, last_value=obs.value),
            [_action("update", rule, active, obs, value=obs.value)],
        )
    since = state.since if state.phase == "clearing" and state.since is not None else None
    if since is None:
        since = _span_start(obs)
    if obs.at - since < rule.exit_after:
        return Step(evolve(state, phase="clearing", since=since))
    closing = _action("close", rule, state, obs, value=obs.value, valid_to=obs.at)
    return Step(_idle(state, obs.at), [closing])


def _samples_of(raw: Any) -> tuple[tuple[float, float, float], ...]:
    """Stored window readings back as tuples (what is not three numbers is dropped)."""
    if not isinstance(raw, list | tuple):
        return ()
    return tuple(
        (float(s[0]), float(s[1]), float(s[2]))
        for s in raw
        if isinstance(s, list | tuple) and len(s) == 3 and all(is_number(x) for x in s)
    )


def window_aggregate(aggregate: str, samples: tuple[tuple[float, float, float], ...]) -> Any:
    """The aggregate of a window's readings ((at, value, hours)); None without any."""
    if not samples:
        return None
    if aggregate == "min":
        return min(v for _, v, _ in samples)
    if aggregate == "max":
        return max(v for _, v, _ in samples)
    total = sum(v * h for _, v, h in samples)
    if aggregate == "sum":
        return round(total, 9)
    hours = sum(h for _, _, h in samples)
    return round(total / hours, 9) if hours > 0 else None


def _window(rule: Rule, state: EpisodeState, obs: Observation) -> tuple[EpisodeState, Observation]:
    """Add the observation's reading to the window (a number: it stands for the time since
    the reading before, at most :data:`READING_SPAN`, a full span when that is unknown), drop
    what fell out of it, and give the observation the window's aggregate as its value."""
    samples = state.samples
    if is_number(obs.value):
        before = samples[-1][0] if samples else obs.previous_at
        span = READING_SPAN if before is None or before >= obs.at else obs.at - before
        reading = (obs.at, float(obs.value), min(span, READING_SPAN) / 3600)
        samples = (*samples, reading)[-MAX_WINDOW_READINGS:]
    samples = tuple(s for s in samples if s[0] > obs.at - rule.window)
    assert rule.aggregate is not None
    value = window_aggregate(rule.aggregate, samples) if is_number(obs.value) else None
    return evolve(state, samples=samples), evolve(obs, value=value)


def _count_repeats(state: EpisodeState, obs: Observation) -> EpisodeState:
    if state.repeats >= 2 and _same(state.repeat_value, obs.value):
        return evolve(state, repeats=state.repeats + 1)
    if obs.previous_at is not None and _same(obs.previous_value, obs.value):
        return evolve(state, repeat_value=obs.value, repeats=2, repeat_since=obs.previous_at)
    return evolve(state, repeat_value=obs.value, repeats=1, repeat_since=obs.at)


def _open(rule: Rule, state: EpisodeState, obs: Observation, since: float) -> Step:
    aid = alert_id(rule.id, obs.source, since)
    peak = _worse(rule, None, obs.value)
    opened = evolve(
        state,
        phase="active",
        since=None,
        started=since,
        alert_id=aid,
        last_value=obs.value,
        peak=peak,
    )
    return Step(opened, [_action("open", rule, opened, obs, value=obs.value)])


def _idle(state: EpisodeState, at: float) -> EpisodeState:
    return EpisodeState(
        last_at=at,
        repeat_value=state.repeat_value,
        repeats=state.repeats,
        repeat_since=state.repeat_since,
        samples=state.samples,
    )


def _action(
    op: Literal["open", "update", "close"],
    rule: Rule,
    state: EpisodeState,
    obs: Observation,
    value: Any = None,
    valid_to: float | None = None,
) -> Action:
    assert state.alert_id is not None and state.started is not None
    return Action(
        op=op,
        alert_id=state.alert_id,
        rule=rule,
        source=obs.source,
        valid_from=state.started,
        at=obs.at,
        value=value,
        peak=state.peak,
        valid_to=valid_to,
    )


def _same(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return float(a) == float(b)
    return type(a) is type(b) and bool(a == b)


# ---- device offline ------------------------------------------------------------------------


def offline_due(rule: Rule, last_report: float) -> float:
    """When a source that last reported at ``last_report`` counts as offline."""
    assert rule.expected_interval is not None
    return last_report + rule.interval_factor * rule.expected_interval


def check_offline(
    rule: Rule, state: EpisodeState, source: str, last_report: float, now: float
) -> Step:
    """The timer's question for one source: it last reported at ``last_report``; is it now
    offline (open), back (close), or neither? The episode is keyed by the last report, so
    every worker that asks names the same alert."""
    if state.phase == "active":
        if state.last_at is not None and last_report > state.last_at:
            return report_seen(rule, state, source, last_report)
        return Step(state)
    if state.last_at is not None and last_report < state.last_at:
        return Step(state, late=True)
    due = offline_due(rule, last_report)
    if now < due:
        return Step(state)
    aid = alert_id(rule.id, source, last_report)
    opened = EpisodeState(phase="active", started=due, alert_id=aid, last_at=last_report)
    return Step(
        opened,
        [Action("open", aid, rule, source, valid_from=due, at=now, value=last_report)],
    )


def report_seen(rule: Rule, state: EpisodeState, source: str, at: float) -> Step:
    """A report of ``source`` at ``at``: it ends an open offline episode (``validTo`` = the
    report)."""
    if state.phase != "active" or state.alert_id is None or state.started is None:
        return Step(state)
    if state.last_at is not None and at <= state.last_at:
        return Step(state)
    closing = Action(
        "close",
        state.alert_id,
        rule,
        source,
        valid_from=state.started,
        at=at,
        value=at,
        valid_to=at,
    )
    return Step(EpisodeState(), [closing])


__all__ = [
    "READING_SPAN",
    "Action",
    "EpisodeState",
    "Observation",
    "Step",
    "alert_id",
    "check_offline",
    "compare",
    "condition",
    "evolve",
    "is_number",
    "offline_due",
    "report_seen",
    "step",
    "window_aggregate",
]
