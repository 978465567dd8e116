"""History retention, the rules once (the policy: ``cityhub.store.temporal.RetentionPolicy``):
which tenants are pruned, to what cutoff, and a background run at start-up and then every
interval. How one tenant's old rows are found and deleted, in small transactions, is each
backend's :class:`Pruner` (``store/<backend>/retention.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from cityhub.errors import StoreUnavailable
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.store.temporal import RetentionPolicy

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


__all__ = ["BATCH", "Pruner"]
