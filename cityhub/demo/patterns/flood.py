"""Water levels: Tancheon stream gauges and underpass flooding (DOMAIN.md 4.6), driven by the
simulated rain of the last day."""

from __future__ import annotations

from datetime import datetime

from cityhub.demo.patterns import weather


def stream_level(seed: int, t: datetime, base: float, response: float) -> float:
    """Stream level (m above the gauge's reference): ``base`` plus the recent rain, each hour's
    rain fading by 15 % an hour (monsoon downpours lift it by metres)."""
    recent = weather.rain_last_hours(seed, t, 24)
    runoff = sum(r * 0.85**i for i, r in enumerate(recent))
    return base + response * runoff


def underpass_depth(seed: int, t: datetime) -> float:
    """Water on an underpass road (m): only when the drains are overwhelmed (above ~15 mm/h)."""
    now, before = weather.rain_last_hours(seed, t, 2)
    return max(0.0, (now + 0.5 * before - 15) * 0.02)


def level_status(level: float, alert: float, danger: float) -> str:
    """``normal``, ``alert`` (close riverside walkways / the underpass) or ``danger``."""
    return "danger" if level >= danger else "alert" if level >= alert else "normal"
