"""History retention, the rules once: the policy (:class:`RetentionPolicy`, from the settings),
which tenants are pruned, to what cutoff, and a background run at start-up and then every
interval. How one tenant's old rows are found and deleted, in small transactions, is each
backend's :class:`Pruner` (``store/<backend>/retention.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cityhub.errors import StoreUnavailable
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.settings import Settings


@dataclass(frozen=True)
class RetentionPolicy:
    """How long history is kept: ``days`` for every tenant, ``by_tenant`` overrides; 0 keeps
    everything. An instance's age is that of its ``observedAt``, else of when it was
    recorded."""

    days: int = 0
    by_tenant: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, tenant: str) -> int:
        return self.by_tenant.get(tenant, self.days)

    @property
    def active(self) -> bool:
        return self.days > 0 or any(d > 0 for d in self.by_tenant.values())


def parse_retention(days: int, by_tenant: str) -> RetentionPolicy:
    """The policy of the settings ``history_retention_days`` and ``history_retention_by_tenant``
    (``"city1=30, city2=0"``: tenant names and days, comma-separated).

    Raises:
        ValueError: a negative number of days, or an override not of the form name=days.
    """
    if days < 0:
        raise ValueError(f"history_retention_days must be 0 or more, got {days}")
    overrides: dict[str, int] = {}
    for item in (i.strip() for i in by_tenant.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value.isdigit():
            raise ValueError(
                "history_retention_by_tenant must look like 'city1=30, city2=0' "
                f"(tenant=days), got {item!r}"
            )
        overrides[name] = int(value)
    return RetentionPolicy(days, overrides)


def retention_policy(settings: Settings) -> RetentionPolicy:
    """The policy the settings ask for (``history_retention_days``, ``..._by_tenant``).

    Raises:
        ValueError: as :func:`parse_retention`.
    """
    return parse_retention(settings.history_retention_days, settings.history_retention_by_tenant)


#: the most rows one pruning transaction deletes
BATCH = 500
_log = logging.getLogger("cityhub.history")


class Pruner:
    """Deletes history older than ``policy`` keeps it: when asked (:meth:`prune`), and from
    :meth:`start` in the background, at once and then every ``interval`` seconds.

    Args:
        tenants: the store's tenants (but the default one, ``""``).
    """

    def __init__(
        self,
        tenants: Callable[[], Awaitable[list[str]]],
        policy: RetentionPolicy,
        interval: float,
    ) -> None:
        self.tenants = tenants
        self.policy = policy
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def prune_tenant(self, tenant: str, cutoff: str, batch: int) -> int:
        """The backend's: delete the tenant's instances older than ``cutoff`` (and the heads
        of entities deleted before it that have no instance left); how many instances went."""
        raise NotImplementedError

    async def prune(self, now: str | None = None, *, batch: int = BATCH) -> int:
        """Delete every instance older than its tenant's retention; returns how many went.

        Args:
            now: the reference time (tests pass one); default the current time.
            batch: the most rows one transaction deletes.
        """
        reference = parse_datetime(now, "now") if now else datetime.now(UTC)
        deleted = 0
        for tenant in ["", *await self.tenants()]:
            days = self.policy.days_for(tenant)
            if days > 0:
                cutoff = format_datetime(reference - timedelta(days=days))
                deleted += await self.prune_tenant(tenant, cutoff, batch)
        return deleted

    async def prune_in_background(self) -> int:
        """One background run (a backend may skip it when another process is pruning)."""
        return await self.prune()

    def start(self) -> None:
        if self.policy.active and self._task is None:
            self._task = asyncio.create_task(self._run(), name="cityhub-history-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                gone = await self.prune_in_background()
                if gone:
                    _log.info("history retention: %d attribute instances deleted", gone)
            except StoreUnavailable:  # the store logged it once; retried at the next interval
                pass
            except Exception:  # a failed run is retried at the next interval
                _log.exception("history retention run failed")
            await asyncio.sleep(self.interval)


__all__ = ["BATCH", "Pruner", "RetentionPolicy", "parse_retention", "retention_policy"]
