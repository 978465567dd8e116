"""Quotas per caller (issue 20 item 4): a request rate (a token bucket: ``rateLimit``
requests per second on average, up to ``burst`` at once) and a daily quota (requests per UTC
day, as data.go.kr counts its keys'), over 429 ``TooManyRequests`` with ``Retry-After``.

A caller is its key id or its token subject; anonymous callers (public permissions) share one
bucket per client address. A tenant's settings (``rateLimit``, ``burst``, ``dailyQuota``)
override the hub's (``rate_limit``, ``rate_burst``, ``daily_quota``). The counters are kept
in each worker's memory: with N workers a caller gets up to N times the rate (sharing them
through PostgreSQL is not done yet).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.errors import TooManyRequests
from cityhub.settings import Settings

#: counters kept at most per worker; past it the idle ones are dropped
MAX_CALLERS = 100_000


class Quotas:
    """The token buckets and day counters of one worker.

    Args:
        settings: the hub's defaults.
        clock: monotonic seconds (tests move it).
        now: the current UTC time (tests move it).
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.now = now
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._days: dict[str, tuple[str, int]] = {}  # caller -> (UTC day, requests)

    def active(self, tenant_settings: Mapping[str, Any]) -> bool:
        return bool(
            tenant_settings.get("rateLimit", self.settings.rate_limit)
            or tenant_settings.get("dailyQuota", self.settings.daily_quota)
        )

    def spend(self, caller: str, tenant_settings: Mapping[str, Any]) -> None:
        """Count one request of ``caller``.

        Raises:
            TooManyRequests: the caller's rate or day is spent; ``retry_after`` says for how
                long (whole seconds, at least 1).
        """
        rate = float(tenant_settings.get("rateLimit", self.settings.rate_limit))
        daily = int(tenant_settings.get("dailyQuota", self.settings.daily_quota))
        if daily > 0:
            self._day(caller, daily)
        if rate > 0:
            burst = int(tenant_settings.get("burst", self.settings.rate_burst))
            self._bucket(caller, rate, max(1, burst))
        if daily > 0:
            day, used = self._days[caller]
            self._days[caller] = (day, used + 1)

    def _day(self, caller: str, daily: int) -> None:
        now = self.now()
        today = now.strftime("%Y-%m-%d")
        day, used = self._days.get(caller, (today, 0))
        if day != today:
            used = 0
        if used >= daily:
            midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
            raise TooManyRequests(
                f"the daily quota of {daily} requests is spent; it renews at "
                f"{midnight:%Y-%m-%dT%H:%M:%SZ}",
                retry_after=max(1, math.ceil((midnight - now).total_seconds())),
            )
        if len(self._days) >= MAX_CALLERS and caller not in self._days:
            self._days = {c: v for c, v in self._days.items() if v[0] == today}
        self._days[caller] = (today, used)

    def _bucket(self, caller: str, rate: float, burst: int) -> None:
        now = self.clock()
        tokens, at = self._buckets.get(caller, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            raise TooManyRequests(
                f"more than {rate:g} requests per second (burst {burst}); slow down",
                retry_after=max(1, math.ceil((1.0 - tokens) / rate)),
            )
        if len(self._buckets) >= MAX_CALLERS and caller not in self._buckets:
            # drop the callers whose buckets are full again: they lose nothing
            self._buckets = {
                c: (t, a) for c, (t, a) in self._buckets.items() if t + (now - a) * rate < burst
            }
        self._buckets[caller] = (tokens - 1.0, now)


__all__ = ["MAX_CALLERS", "Quotas"]
