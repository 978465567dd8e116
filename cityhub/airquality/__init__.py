"""Air quality for citizens: the Korean Comprehensive Air-quality Index (CAI, 통합대기환경지수),
the WHO 2021 guideline comparison beside it, and health advice per group in Korean and English.

The rules (``cai``, ``moving_average``, ``who``, ``advice``) are pure functions over numbers: no
I/O, no store, no HTTP. The service that recomputes them on the hub's change stream and writes the
results back to ``AirQualityObserved`` entities builds on them. This package may import
``cityhub.ngsild`` and the store protocols; never a backend, never ``cityhub.api``.

The reference for every number here is ``DOMAIN.md`` section 1 (AirKorea's CAI calculator and the
breakpoint table it publishes; WHO global air quality guidelines 2021).
"""

from __future__ import annotations

from cityhub.airquality.advice import Advice, health_advice
from cityhub.airquality.cai import (
    GRADES,
    POLLUTANTS,
    REQUIRED_POLLUTANTS,
    CaiResult,
    MultiPollutantRule,
    SubIndex,
    comprehensive_index,
    grade_of,
    sub_index,
)
from cityhub.airquality.moving_average import PredictedAverage, predicted_24h_average
from cityhub.airquality.observation import assess_observation
from cityhub.airquality.who import WhoComparison, who_comparison

__all__ = [
    "GRADES",
    "POLLUTANTS",
    "REQUIRED_POLLUTANTS",
    "Advice",
    "CaiResult",
    "MultiPollutantRule",
    "PredictedAverage",
    "SubIndex",
    "WhoComparison",
    "assess_observation",
    "comprehensive_index",
    "grade_of",
    "health_advice",
    "predicted_24h_average",
    "sub_index",
    "who_comparison",
]
