"""Seeded randomness as pure functions of (seed, key): the same seed gives the same city at the
same simulated time, however fast the simulator runs or how often it ticks.

Each draw hashes its key (blake2b), so there is no generator state to replay: a reading at
08:00 is computed the same way during the backfill and live.
"""

from __future__ import annotations

import hashlib
import math
import struct
from statistics import NormalDist

_NORMAL = NormalDist()
_SCALE = 1.0 / 2**64


def uniform(seed: int, *key: object) -> float:
    """A number in [0, 1) determined by the seed and the key."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    value: int = struct.unpack("<Q", digest)[0]
    return value * _SCALE


def gauss(seed: int, *key: object) -> float:
    """A standard normal draw determined by the seed and the key."""
    u = min(max(uniform(seed, *key), 1e-12), 1 - 1e-12)
    return _NORMAL.inv_cdf(u)


def chance(p: float, seed: int, *key: object) -> bool:
    """True with probability ``p``."""
    return uniform(seed, *key) < p


def smooth(seed: int, key: object, hours: float, knot_hours: float) -> float:
    """Smooth, autocorrelated standard-normal noise over time (an AR(1)-like signal).

    Gaussian knots every ``knot_hours`` are joined by cosine interpolation, so neighbouring
    readings are close and readings ``knot_hours`` apart are independent.

    Args:
        seed: the simulator's seed.
        key: what the noise belongs to (a sensor, a pollutant...).
        hours: the time, in hours since any fixed epoch.
        knot_hours: the correlation length.
    """
    k = math.floor(hours / knot_hours)
    frac = hours / knot_hours - k
    a, b = gauss(seed, key, k), gauss(seed, key, k + 1)
    w = (1 - math.cos(math.pi * frac)) / 2
    # cosine interpolation shrinks the variance between knots; rescale to keep it ~1
    return (a * (1 - w) + b * w) / math.sqrt((1 - w) ** 2 + w**2)
