"""The WHO 2021 air quality guideline levels beside the Korean grade (DOMAIN.md §1.3).

A PM2.5 day at 30 µg/m³ is "moderate" in Korea and twice the WHO 24-hour guideline: the hub shows
both. The guideline levels are in µg/m³ (mg/m³ for CO); gases measured in ppm are converted at
25 °C and 1 atm (O3 1963, NO2 1882, SO2 2620 µg/m³ per ppm; CO 1.145 mg/m³ per ppm).

The comparison states the averaging period of the guideline it uses and the averaging of the
value given (WHO's short-term levels are 24-hour or 8-hour means; a 1-hour value compared with
them is an indication, not a breach, and the result says which it is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Guideline:
    level: float
    unit: str  # of the level: ug/m3 or mg/m3
    averaging: str  # 24h or 8h
    per_ppm: float | None  # conversion of a ppm value into ``unit``; None for PM


#: WHO global air quality guidelines 2021 (ISBN 9789240034228), short-term levels
GUIDELINES: Mapping[str, Guideline] = {
    "pm25": Guideline(15.0, "ug/m3", "24h", None),
    "pm10": Guideline(45.0, "ug/m3", "24h", None),
    "o3": Guideline(100.0, "ug/m3", "8h", 1963.0),
    "no2": Guideline(25.0, "ug/m3", "24h", 1882.0),
    "so2": Guideline(40.0, "ug/m3", "24h", 2620.0),
    "co": Guideline(4.0, "mg/m3", "24h", 1.145),
}


@dataclass(frozen=True)
class WhoComparison:
    """One pollutant's value against its WHO guideline."""

    pollutant: str
    value: float  # in the guideline's unit
    guideline: float
    unit: str
    guideline_averaging: str
    value_averaging: str
    ratio: float  # value / guideline

    @property
    def exceeds(self) -> bool:
        return self.ratio > 1.0

    @property
    def like_for_like(self) -> bool:
        """True when the value is averaged over the guideline's own period."""
        return self.value_averaging == self.guideline_averaging


def who_comparison(pollutant: str, value: float, averaging: str) -> WhoComparison:
    """Compare a value with the WHO 2021 guideline.

    Args:
        pollutant: one of ``pm25``, ``pm10``, ``o3``, ``no2``, ``so2``, ``co``.
        value: µg/m³ for PM, ppm for gases (as the CAI takes them).
        averaging: the value's averaging period (``1h``, ``8h``, ``24h``).

    Raises:
        KeyError: an unknown pollutant.
    """
    g = GUIDELINES[pollutant]
    converted = value * g.per_ppm if g.per_ppm is not None else value
    return WhoComparison(
        pollutant, converted, g.level, g.unit, g.averaging, averaging, converted / g.level
    )


__all__ = ["GUIDELINES", "Guideline", "WhoComparison", "who_comparison"]
