"""The Korean Comprehensive Air-quality Index (CAI, 통합대기환경지수) as AirKorea computes it.

Per pollutant, a sub-index by linear interpolation inside the breakpoint band the concentration
falls in::

    I_p = (I_HI - I_LO) / (BP_HI - BP_LO) * (C_p - BP_LO) + I_LO

The CAI is the largest sub-index, plus a multi-pollutant addition when two or more pollutants are
"unhealthy" or worse; AirKorea computes it only when PM10, PM2.5, NO2 and O3 are all present.
PM inputs are the 24-hour predicted moving average (``cityhub.airquality.moving_average``); gases
are 1-hour values. Units: ppm for gases, µg/m³ for PM (DOMAIN.md §1.1).

Decisions written down here, since the published table leaves them implicit:

- The bands are written with a fixed number of decimals (PM whole µg/m³, CO 2 places, O3, NO2 and
  SO2 3 places) and leave gaps between them (PM2.5 15 | 16). A concentration is truncated to
  those decimals before its band is looked up, as the published values are reported, so every
  concentration has exactly one band and no value falls between two.
- The sub-index is rounded half up to a whole number (AirKorea publishes whole numbers).
- Above the top breakpoint the sub-index is 500, the top of the scale, and says so
  (``beyond_scale``); a negative or non-finite concentration is not a measurement and raises
  :class:`OutOfRange` (the service counts it and raises its out-of-range rule instead).
- The addition (+50 for two, +75 for three or more pollutants at "unhealthy" or worse) is the
  commonly quoted AirKorea rule, not verified against a primary source (DOMAIN.md §1.1): it is a
  setting (:class:`MultiPollutantRule`), and the result is capped at 500.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

#: the grades, best first, by the names SDM's ``airQualityLevel`` uses
GRADES: tuple[str, ...] = ("good", "moderate", "unhealthy", "veryUnhealthy")
#: Korean names of the grades (좋음 / 보통 / 나쁨 / 매우나쁨)
GRADE_NAMES_KO: Mapping[str, str] = {
    "good": "좋음",
    "moderate": "보통",
    "unhealthy": "나쁨",
    "veryUnhealthy": "매우나쁨",
}
#: the index range of each grade, in the order of GRADES
INDEX_BANDS: tuple[tuple[int, int], ...] = ((0, 50), (51, 100), (101, 250), (251, 500))
#: AirKorea publishes a CAI only when all of these are measured
REQUIRED_POLLUTANTS: tuple[str, ...] = ("pm10", "pm25", "no2", "o3")
POLLUTANTS: tuple[str, ...] = ("pm10", "pm25", "o3", "no2", "co", "so2")


@dataclass(frozen=True)
class Scale:
    """One pollutant's breakpoints: four bands, one per grade, written to ``places`` decimals."""

    unit: str
    unit_code: str  # UN/CEFACT: 59 ppm, GQ µg/m³
    averaging: str
    places: int
    bands: tuple[tuple[Decimal, Decimal], ...]


def _scale(unit: str, code: str, averaging: str, places: int, *bands: str) -> Scale:
    pairs = tuple((Decimal(lo), Decimal(hi)) for lo, hi in (band.split("-") for band in bands))
    return Scale(unit, code, averaging, places, pairs)


#: AirKorea's breakpoint table (DOMAIN.md §1.1; PM2.5 bands as tightened on 2018-03-27)
SCALES: Mapping[str, Scale] = {
    "so2": _scale("ppm", "59", "1h", 3, "0-0.020", "0.021-0.050", "0.051-0.150", "0.151-1.0"),
    "co": _scale("ppm", "59", "1h", 2, "0-2.00", "2.01-9.00", "9.01-15.00", "15.01-50"),
    "o3": _scale("ppm", "59", "1h", 3, "0-0.030", "0.031-0.090", "0.091-0.150", "0.151-0.600"),
    "no2": _scale("ppm", "59", "1h", 3, "0-0.030", "0.031-0.060", "0.061-0.200", "0.201-2.0"),
    "pm10": _scale("ug/m3", "GQ", "24h", 0, "0-30", "31-80", "81-150", "151-600"),
    "pm25": _scale("ug/m3", "GQ", "24h", 0, "0-15", "16-35", "36-75", "76-500"),
}


class OutOfRange(ValueError):
    """A concentration that cannot be a measurement (negative, NaN, infinite, not a number)."""


@dataclass(frozen=True)
class SubIndex:
    """One pollutant's part of the CAI."""

    pollutant: str
    concentration: float  # as given
    index: int
    grade: str
    beyond_scale: bool = False  # above the top breakpoint: the index is capped at 500


@dataclass(frozen=True)
class MultiPollutantRule:
    """The addition AirKorea makes when several pollutants are "unhealthy" or worse.

    Args:
        enabled: apply it at all.
        two: points added when exactly two pollutants are at "unhealthy" or worse.
        three_or_more: points added when three or more are.
    """

    enabled: bool = True
    two: int = 50
    three_or_more: int = 75

    def addition(self, unhealthy_count: int) -> int:
        if not self.enabled or unhealthy_count < 2:
            return 0
        return self.two if unhealthy_count == 2 else self.three_or_more


@dataclass(frozen=True)
class CaiResult:
    """The CAI of one observation, or why there is none.

    ``index`` and ``grade`` are None when a required pollutant is missing (``missing`` names
    them); the sub-indices of what was measured are there either way.
    """

    index: int | None
    grade: str | None
    governing: str | None  # the pollutant with the largest sub-index
    sub_indices: Mapping[str, SubIndex] = field(default_factory=dict)
    addition: int = 0
    missing: tuple[str, ...] = ()

    @property
    def reason(self) -> str | None:
        """A sentence for people when there is no index, None when there is one."""
        if not self.missing:
            return None
        return (
            "no CAI: AirKorea computes it only when PM10, PM2.5, NO2 and O3 are all measured; "
            f"missing: {', '.join(self.missing)}"
        )


def grade_of(index: int) -> str:
    """The grade (``good``, ``moderate``, ``unhealthy``, ``veryUnhealthy``) of an index 0-500."""
    for name, (_, high) in zip(GRADES, INDEX_BANDS, strict=True):
        if index <= high:
            return name
    return GRADES[-1]


def _as_decimal(pollutant: str, concentration: float) -> Decimal:
    if isinstance(concentration, bool) or not isinstance(concentration, int | float):
        raise OutOfRange(f"{pollutant}: {concentration!r} is not a number")
    if not math.isfinite(concentration) or concentration < 0:
        raise OutOfRange(f"{pollutant}: {concentration!r} is not a concentration")
    return Decimal(repr(concentration))


def sub_index(pollutant: str, concentration: float) -> SubIndex:
    """The sub-index of one pollutant at one concentration.

    Args:
        pollutant: one of :data:`POLLUTANTS`.
        concentration: ppm for gases, µg/m³ for PM (the 24-hour predicted average for PM).

    Raises:
        KeyError: an unknown pollutant.
        OutOfRange: the concentration is negative, NaN, infinite or not a number.
    """
    scale = SCALES[pollutant]
    exact = _as_decimal(pollutant, concentration)
    c = exact.quantize(Decimal(1).scaleb(-scale.places), rounding=ROUND_DOWN)
    for (bp_lo, bp_hi), (i_lo, i_hi) in zip(scale.bands, INDEX_BANDS, strict=True):
        if bp_lo <= c <= bp_hi:
            value = (Decimal(i_hi - i_lo) / (bp_hi - bp_lo)) * (c - bp_lo) + i_lo
            index = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            return SubIndex(pollutant, concentration, index, grade_of(index))
    return SubIndex(pollutant, concentration, 500, GRADES[-1], beyond_scale=True)


def comprehensive_index(
    concentrations: Mapping[str, float | None],
    rule: MultiPollutantRule | None = None,
) -> CaiResult:
    """The CAI of one observation.

    Args:
        concentrations: pollutant -> value (None or absent: not measured). PM values should be
            the 24-hour predicted moving average.
        rule: the multi-pollutant addition (default: AirKorea's, on).

    Raises:
        OutOfRange: a given concentration is not a measurement.
    """
    rule = rule or MultiPollutantRule()
    subs = {
        p: sub_index(p, value) for p in POLLUTANTS if (value := concentrations.get(p)) is not None
    }
    missing = tuple(p for p in REQUIRED_POLLUTANTS if p not in subs)
    if not subs:
        return CaiResult(None, None, None, subs, missing=missing)
    governing = max(subs.values(), key=lambda s: s.index).pollutant
    if missing:
        return CaiResult(None, None, governing, subs, missing=missing)
    unhealthy = sum(1 for s in subs.values() if s.index >= INDEX_BANDS[2][0])
    addition = rule.addition(unhealthy)
    index = min(500, subs[governing].index + addition)
    return CaiResult(index, grade_of(index), governing, subs, addition)


__all__ = [
    "GRADES",
    "GRADE_NAMES_KO",
    "INDEX_BANDS",
    "POLLUTANTS",
    "REQUIRED_POLLUTANTS",
    "SCALES",
    "CaiResult",
    "MultiPollutantRule",
    "OutOfRange",
    "Scale",
    "SubIndex",
    "comprehensive_index",
    "grade_of",
    "sub_index",
]
