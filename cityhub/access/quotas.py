"""Quotas per caller (issue 20 item 4): a request rate (a token bucket: ``rateLimit``
requests per second on average, up to ``burst`` at once) and a daily quota (requests per UTC
day, as data.go.kr counts its keys'), over 429 ``TooManyRequests`` with ``Retry-After``.

A caller is its key id or its token subject; anonymous callers (public permissions) share one
bucket per client address. A tenant's settings (``rateLimit``, ``burst``, ``dailyQuota``)
override the hub's (``rate_limit``, ``rate_burst``, ``daily_quota``).

The counters are kept in the worker's memory, or, when the store is shared by several
processes (PostgreSQL: workers and machines), in the store: one row per caller read and
written in one transaction per request (:meth:`Quotas.charge` with ``shared``), so N workers
give a caller the rate once, not N times. The rule is the same either way (:func:`charged`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cityhub.errors import TooManyRequests
from cityhub.settings import Settings
from cityhub.store.access import Quota

#: counters kept at most per worker; past it the idle ones are dropped
MAX_CALLERS = 100_000

#: a caller's counters: (bucket tokens, when they were counted on the bucket's clock, the UTC
#: day, requests made that day)
Counters = Quota


class SharedCounters(Protocol):
    """The store's side of shared quotas (``cityhub.store.access.Access.update_quota``)."""

    async def update_quota(
        self, caller: str, change: Callable[[Counters | None], Counters]
    ) -> Counters: ...


def charged(
    current: Counters | None,
    seconds: float,
    now: datetime,
    rate: float,
    burst: int,
    daily: int,
) -> tuple[Counters, TooManyRequests | None]:
    """One request against a caller's counters at ``seconds`` (the bucket's clock) and
    ``now`` (UTC, the day's): the counters after it, and the refusal when its rate or day is
    spent (a refused request spends nothing)."""
    today = now.strftime("%Y-%m-%d")
    tokens, at, day, used = current or (float(burst), seconds, today, 0)
    if day != today:
        day, used = today, 0
    if daily > 0 and used >= daily:
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        return (tokens, at, day, used), TooManyRequests(
            f"the daily quota of {daily} requests is spent; it renews at "
            f"{midnight:%Y-%m-%dT%H:%M:%SZ}",
            retry_after=max(1, math.ceil((midnight - now).total_seconds())),
        )
    if rate > 0:
        tokens = min(float(burst), tokens + max(0.0, seconds - at) * rate)
        if tokens < 1.0:
            return (tokens, seconds, day, used), TooManyRequests(
                f"more than {rate:g} requests per second (burst {burst}); slow down",
                retry_after=max(1, math.ceil((1.0 - tokens) / rate)),
            )
        tokens -= 1.0
    return (tokens, seconds, day, used + 1), None


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
        shared: SharedCounters | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.now = now
        self.shared = shared
        self._counters: dict[str, Counters] = {}

    def active(self, tenant_settings: Mapping[str, Any]) -> bool:
        return bool(
            tenant_settings.get("rateLimit", self.settings.rate_limit)
            or tenant_settings.get("dailyQuota", self.settings.daily_quota)
        )

    async def charge(self, caller: str, tenant_settings: Mapping[str, Any]) -> None:
        """Count one request of ``caller``, in the store when the counters are shared, else
        in this worker's memory (:meth:`spend`).

        Raises:
            TooManyRequests: as :meth:`spend`.
        """
        if self.shared is None:
            self.spend(caller, tenant_settings)
            return
        rate, burst, daily = self._limits(tenant_settings)
        now = self.now()
        refusal: list[TooManyRequests] = []

        def change(current: Counters | None) -> Counters:
            refusal.clear()  # the store may run it again (a retried transaction)
            # shared by processes: the bucket counts in seconds since the epoch
            after, refused = charged(current, now.timestamp(), now, rate, burst, daily)
            if refused is not None:
                refusal.append(refused)
            return after

        await self.shared.update_quota(caller, change)
        if refusal:
            raise refusal[0]

    def _limits(self, tenant_settings: Mapping[str, Any]) -> tuple[float, int, int]:
        rate = float(tenant_settings.get("rateLimit", self.settings.rate_limit))
        burst = max(1, int(tenant_settings.get("burst", self.settings.rate_burst)))
        daily = int(tenant_settings.get("dailyQuota", self.settings.daily_quota))
        return rate, burst, daily

    def spend(self, caller: str, tenant_settings: Mapping[str, Any]) -> None:
        """Count one request of ``caller`` in this worker's memory.

        Raises:
            TooManyRequests: the caller's rate or day is spent; ``retry_after`` says for how
                long (whole seconds, at least 1).
        """
        rate, burst, daily = self._limits(tenant_settings)
        seconds, now = self.clock(), self.now()
        after, refused = charged(self._counters.get(caller), seconds, now, rate, burst, daily)
        if len(self._counters) >= MAX_CALLERS and caller not in self._counters:
            # drop the callers who lose nothing: a full bucket and no count of today
            today = now.strftime("%Y-%m-%d")
            self._counters = {
                c: v
                for c, v in self._counters.items()
                if v[2] == today and daily > 0 or v[0] + (seconds - v[1]) * rate < burst
            }
        self._counters[caller] = after
        if refused is not None:
            raise refused


__all__ = ["MAX_CALLERS", "Counters", "Quotas", "SharedCounters", "charged"]
