"""What an indicator counts over a district and a period (:class:`Tally`): added up from leaf
districts to their parents and from hours to days, then turned into a value. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityhub.indicators.catalogue import Indicator


@dataclass
class Tally:
    """Counts of one indicator over one district and one period.

    Attributes:
        num, den: the numerator and denominator (what they count: the indicator's formula).
        expected: sensor-hours the district should have given (its sensors x hours).
        reporting: sensor-hours with a usable reading.
        bad: readings that could not be used (text, negative, beyond physical range),
            left out of the value and of ``reporting``.
        weight: residents (or districts, without population data) the value is per.
        estimated: of ``den``, the part estimated from a sensor outside the district.
        hours: hours added in.
        parts: counts per class (the CAI grades).
        sensors: sensors in the district (the latest hour's).
    """

    num: float = 0.0
    den: float = 0.0
    expected: int = 0
    reporting: int = 0
    bad: int = 0
    weight: float = 0.0
    estimated: float = 0.0
    hours: int = 0
    parts: dict[str, float] = field(default_factory=dict)
    sensors: int = 0

    def add(self, other: Tally, *, same_period: bool, snapshot: bool = False) -> None:
        """Add ``other`` in: a child district of the same period (``same_period``: weights
        and sensors add up), or a later hour of the same district (they are the latest).
        ``snapshot``: a count of what stands (shelter places), not of what happened: a later
        hour replaces it rather than adds to it."""
        if snapshot and not same_period:
            hours = self.hours + other.hours
            self.__dict__.update(other.__dict__, parts=dict(other.parts), hours=hours)
            return
        self.num += other.num
        self.den += other.den
        self.expected += other.expected
        self.reporting += other.reporting
        self.bad += other.bad
        self.estimated += other.estimated
        for k, v in other.parts.items():
            self.parts[k] = self.parts.get(k, 0.0) + v
        if same_period:
            self.weight += other.weight
            self.sensors += other.sensors
            self.hours = max(self.hours, other.hours)
        else:
            self.weight = other.weight
            self.sensors = other.sensors
            self.hours += other.hours

    def coverage(self) -> float | None:
        """Sensor-hours reported / expected (None: no sensor expected)."""
        return None if self.expected == 0 else self.reporting / self.expected

    def to_doc(self) -> dict[str, Any]:
        return {
            "num": self.num,
            "den": self.den,
            "expected": self.expected,
            "reporting": self.reporting,
            "bad": self.bad,
            "weight": self.weight,
            "estimated": self.estimated,
            "hours": self.hours,
            "parts": dict(self.parts),
            "sensors": self.sensors,
        }

    @classmethod
    def from_doc(cls, doc: Any) -> Tally | None:
        """A stored tally; None when the document is not one (a client changed it)."""
        if not isinstance(doc, dict):
            return None
        try:
            parts = doc.get("parts") or {}
            return cls(
                num=float(doc["num"]),
                den=float(doc["den"]),
                expected=int(doc["expected"]),
                reporting=int(doc["reporting"]),
                bad=int(doc["bad"]),
                weight=float(doc["weight"]),
                estimated=float(doc["estimated"]),
                hours=int(doc["hours"]),
                parts={str(k): float(v) for k, v in dict(parts).items()},
                sensors=int(doc["sensors"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def value_of(indicator: Indicator, tally: Tally) -> Any:
    """The indicator's value (None when the data gives none)."""
    kind = indicator.kind
    if kind == "exposure":
        if tally.den <= 0 or tally.weight <= 0:
            return None
        return _round(tally.num / tally.weight)
    if kind == "share":
        return None if tally.den <= 0 else _round(tally.num / tally.den)
    if kind == "per1000":
        if tally.den <= 0 or tally.weight <= 0:
            return None
        return _round(tally.num / (tally.weight / 1000.0))
    if kind == "distribution":
        if tally.den <= 0:
            return None
        return {k: _round(v / tally.den) for k, v in sorted(tally.parts.items())}
    if kind in ("ratio", "index"):
        return None if tally.den <= 0 else _round(tally.num / tally.den)
    if kind == "intensity":
        return None if tally.den <= 0 else _round(tally.num / tally.den * max(1, tally.hours))
    raise ValueError(f"unknown indicator kind {kind!r}")


def rate_of(indicator: Indicator, tally: Tally) -> float | None:
    """The value as a rate comparable between districts of uneven coverage (the gap uses
    it): exposure and full-hours per observed hour; others as :func:`value_of`."""
    if tally.den <= 0:
        return None
    if indicator.kind == "distribution":
        worse = tally.parts.get("unhealthy", 0.0) + tally.parts.get("veryUnhealthy", 0.0)
        return worse / tally.den
    return tally.num / tally.den


def _round(x: float) -> float:
    return round(x, 6)


__all__ = ["Tally", "rate_of", "value_of"]
