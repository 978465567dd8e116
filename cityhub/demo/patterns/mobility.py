"""Traffic on urban arterials and parking occupancy (DOMAIN.md 4.2 and 4.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from cityhub.demo import noise
from cityhub.demo.clock import hourly, hours_since_epoch, is_weekend, local, local_hour
from cityhub.demo.patterns import weather

#: demand as a share of a lane's capacity at the busiest hour, by hour of the day. "inbound"
#: runs towards Seoul (the morning peak is stronger), "outbound" away (the evening peak is).
WEEKDAY_INBOUND = (
    0.08, 0.05, 0.04, 0.04, 0.07, 0.20, 0.55, 0.95, 1.00, 0.78, 0.62, 0.60,
    0.62, 0.60, 0.60, 0.63, 0.70, 0.80, 0.85, 0.70, 0.55, 0.45, 0.30, 0.15,
)  # fmt: skip
WEEKDAY_OUTBOUND = (
    0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.40, 0.70, 0.75, 0.65, 0.60, 0.60,
    0.62, 0.62, 0.63, 0.68, 0.80, 0.95, 1.00, 0.85, 0.62, 0.48, 0.32, 0.17,
)  # fmt: skip
WEEKEND = (
    0.12, 0.08, 0.05, 0.04, 0.04, 0.07, 0.15, 0.25, 0.38, 0.50, 0.62, 0.70,
    0.72, 0.72, 0.70, 0.68, 0.68, 0.66, 0.62, 0.55, 0.45, 0.38, 0.28, 0.18,
)  # fmt: skip
VEHICLE_PLUS_DETECTOR_M = 6.5


@dataclass(frozen=True)
class Road:
    """What the traffic pattern needs to know about one direction of a road segment."""

    key: str
    lanes: int
    capacity: float  # veh/h per lane: ~1,000 on arterials, ~1,900 on urban expressways
    free_speed: float  # km/h
    peak_load: float  # demand/capacity at the busiest hour (above 1: queues)
    inbound: bool
    expressway: bool = False

    @property
    def congested_below(self) -> float:
        """Speed at or below which the road is congested (MOLIT display guideline)."""
        return 30.0 if self.expressway else 15.0


@dataclass(frozen=True)
class Traffic:
    flow: float  # veh/h over all lanes
    speed: float  # km/h
    occupancy: float  # 0-1
    congested: bool


def demand_ratio(seed: int, t: datetime, road: Road) -> float:
    """Demand over capacity at ``t`` (above 1 means queues)."""
    if is_weekend(t):
        profile = WEEKEND
    else:
        profile = WEEKDAY_INBOUND if road.inbound else WEEKDAY_OUTBOUND
    wobble = math.exp(0.05 * noise.smooth(seed, ("traffic", road.key), hours_since_epoch(t), 1))
    wet = 1.05 if weather.rain(seed, t) > 0 else 1.0
    return road.peak_load * hourly(profile, local_hour(t)) * wobble * wet


def traffic(seed: int, t: datetime, road: Road) -> Traffic:
    """Flow, speed and occupancy of one direction: a BPR-like speed-flow curve up to capacity,
    then queues (speed falls fast, throughput drops a little)."""
    x = demand_ratio(seed, t, road)
    v0 = road.free_speed * (0.9 if weather.rain(seed, t) > 0 else 1.0)
    if x <= 1:
        speed = v0 / (1 + 0.15 * x**4)
        per_lane = road.capacity * x
    else:
        speed = v0 / 1.15 * math.exp(-2.5 * (x - 1))
        per_lane = road.capacity * (1 - 0.15 * min(1.0, x - 1))
    speed = max(
        5.0, speed * (1 + 0.04 * noise.smooth(seed, ("speed", road.key), hours_since_epoch(t), 0.5))
    )
    occupancy = min(0.95, per_lane * VEHICLE_PLUS_DETECTOR_M / (speed * 1000))
    return Traffic(
        flow=per_lane * road.lanes,
        speed=speed,
        occupancy=occupancy,
        congested=speed <= road.congested_below,
    )


# ---- parking ------------------------------------------------------------------------------

#: weekday occupancy by hour of the day, per kind of car park (DOMAIN.md 4.3, assumed)
PARKING_WEEKDAY: dict[str, tuple[float, ...]] = {
    "office": (
        0.15, 0.15, 0.15, 0.15, 0.15, 0.16, 0.22, 0.40, 0.70, 0.90, 0.95, 0.96,
        0.93, 0.95, 0.96, 0.95, 0.92, 0.82, 0.60, 0.38, 0.22, 0.18, 0.16, 0.15,
    ),
    "residential-old": (
        0.98, 0.98, 0.98, 0.98, 0.98, 0.97, 0.95, 0.90, 0.84, 0.80, 0.78, 0.78,
        0.79, 0.78, 0.78, 0.79, 0.81, 0.85, 0.90, 0.94, 0.97, 0.98, 0.98, 0.98,
    ),
    "residential-new": (
        0.90, 0.90, 0.90, 0.90, 0.90, 0.89, 0.85, 0.72, 0.58, 0.52, 0.50, 0.50,
        0.51, 0.50, 0.50, 0.52, 0.56, 0.64, 0.74, 0.82, 0.87, 0.89, 0.90, 0.90,
    ),
    "retail": (
        0.10, 0.08, 0.07, 0.07, 0.07, 0.08, 0.10, 0.15, 0.25, 0.38, 0.55, 0.75,
        0.88, 0.88, 0.75, 0.70, 0.72, 0.80, 0.90, 0.90, 0.78, 0.55, 0.32, 0.18,
    ),
    "hospital": (
        0.25, 0.22, 0.20, 0.20, 0.20, 0.22, 0.35, 0.60, 0.85, 0.93, 0.95, 0.95,
        0.92, 0.93, 0.95, 0.93, 0.85, 0.70, 0.52, 0.42, 0.36, 0.32, 0.28, 0.26,
    ),
}  # fmt: skip


def is_market_day(t: datetime) -> bool:
    """Moran's 5-day market is held on dates ending in 4 and 9."""
    return local(t).day % 10 in (4, 9)


def parking_occupancy(seed: int, t: datetime, key: str, kind: str, market: bool = False) -> float:
    """Occupancy (0-1) of a car park of ``kind`` ("office", "residential-old",
    "residential-new", "retail", "hospital"); ``market`` adds the Moran market days."""
    hour = local_hour(t)
    value = hourly(PARKING_WEEKDAY[kind], hour)
    if is_weekend(t):
        night = PARKING_WEEKDAY[kind][3]
        if kind == "office":
            value = night + (value - night) * 0.3
        elif kind == "retail":
            value *= 1.2
        elif kind == "hospital":
            value = night + (value - night) * 0.4
    if market and is_market_day(t) and 9 <= hour < 17:
        value += 0.25
    value += 0.04 * noise.smooth(seed, ("parking", key), hours_since_epoch(t), 1)
    return min(1.0, max(0.0, value))
