"""District indicators (issue 16 deliverables 3 and 4): DOMAIN.md section 6.2's indicators per
``AdministrativeArea`` (dong and gu in the demo), hourly and daily, as Smart Data Models
``KeyPerformanceIndicator`` entities carrying their denominator, population, data coverage and
period; and the gap between zones of districts (old downtown vs new towns, DOMAIN.md 3.3) with
its uncertainty.

``areas``, ``catalogue``, ``compute``, ``heat``, ``tally``, ``kpi_entity`` and ``gap`` are pure
(shapely, no I/O); ``service`` is the city service that computes them from history
(``cityhub.services``). This package may import the store protocols, ``cityhub.ngsild`` and
``cityhub.airquality``'s pure rules; never a backend, never ``cityhub.api``.
"""

from __future__ import annotations

from cityhub.indicators.catalogue import BY_NAME, INDICATORS, Indicator
from cityhub.indicators.service import IndicatorService

__all__ = ["BY_NAME", "INDICATORS", "Indicator", "IndicatorService"]
