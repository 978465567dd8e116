"""How many people are in heat and cold shelters (경로당, community centres): ordinary senior-centre
use in opening hours, more in heat (apparent temperature of 31 °C and up) and cold."""

from __future__ import annotations

from datetime import datetime

from cityhub.demo import noise
from cityhub.demo.clock import hours_since_epoch, local_hour
from cityhub.demo.patterns import weather

OPEN_FROM, OPEN_UNTIL = 9.0, 18.0


def shelter_occupancy(seed: int, t: datetime, key: str, capacity: int) -> int:
    """People in the shelter at ``t`` (0 when closed)."""
    hour = local_hour(t)
    if not OPEN_FROM <= hour < OPEN_UNTIL:
        return 0
    feels = weather.feels_like(seed, t)
    share = 0.18 + 0.06 * noise.smooth(seed, ("shelter", key), hours_since_epoch(t), 2)
    if feels >= 31:
        share += 0.55 * min(1.0, (feels - 31) / 5)
    elif feels <= -5:
        share += 0.35 * min(1.0, (-5 - feels) / 8)
    return max(0, min(capacity, round(capacity * share)))
