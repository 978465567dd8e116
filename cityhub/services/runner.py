"""The city services at run time: :class:`ServiceRunner` hands the store one transaction hook
for all of them and runs one worker task per service.

1. In the write transaction, :meth:`ServiceRunner.hook` asks each service what the change
   needs (``requests``) and records it with ``tx.enqueue_work``: it commits or rolls back with
   the change. A service in the change's cause is skipped (``service.py``: the loop guard).
2. After the commit a store listener wakes the workers (when this process queued anything;
   otherwise they look every ``poll_interval`` seconds, for other workers' items, retries and
   leases that ran out).
3. A worker claims due items (leased: of several workers one takes each), runs
   ``service.process`` and marks each done (unless the service's last write removed it
   already: ``ServiceContext.write(..., finish=True)``); a failure is retried with
   exponential backoff and given up after ``max_attempts``. On start it takes back the
   leases a killed process left (SQLite; PostgreSQL's end by themselves), so a SIGKILL
   between commit and computation loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from cityhub.errors import StoreUnavailable
from cityhub.services.service import (
    CAUSE_MEMBER,
    CityService,
    ServiceContext,
    ServiceStats,
    current_cause,
)
from cityhub.store.base import Change, Document, Store, Transaction
from cityhub.store.temporal import TemporalStore
from cityhub.store.work import WorkItem, WorkQueue

log = logging.getLogger("cityhub.services")


class ServiceRunner:
    """Runs ``services`` on one backend's store, history and work queue.

    Install :meth:`hook` with ``backend.add_tx_hook`` before the backend starts; ``start()``
    after it started, ``stop()`` before it closes.

    Args:
        batch: items claimed at once. concurrency: items of a batch worked on at once.
        max_share: the share of wall time the services together spend working while they
            have a backlog (after each batch every worker rests in proportion to it: the rests
            add up, so three services with a backlog take ``max_share`` of the time, not each
            its own), so that a burst of writes keeps most of the hub and the work it asks
            for coalesces.
        max_rest: the longest rest one batch earns (seconds).
        lease: seconds a claimed item is reserved.
        poll_interval: the longest sleep between looks at the queue.
        max_attempts: attempts of an item before it is given up.
        base_delay, max_delay: the retry backoff, in seconds.
    """

    def __init__(
        self,
        store: Store,
        temporal: TemporalStore,
        work: WorkQueue,
        services: Sequence[CityService],
        *,
        batch: int = 50,
        concurrency: int = 16,
        max_share: float = 0.5,
        max_rest: float = 5.0,
        lease: float = 60.0,
        poll_interval: float = 5.0,
        max_attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [s.name for s in services]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"city services need distinct, non-empty names: {names}")
        self.store = store
        self.work = work
        self.services = list(services)
        self.batch = batch
        self.concurrency = max(1, concurrency)
        self.max_share = min(1.0, max(0.05, max_share))
        self.max_rest = max_rest
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self.stats: dict[str, ServiceStats] = {}
        for s in services:  # a service may count in its own stats from ``requests``
            stats = getattr(s, "stats", None)
            s.stats = self.stats[s.name] = (
                stats if isinstance(stats, ServiceStats) else ServiceStats()
            )
        self.contexts = {
            s.name: ServiceContext(
                s.name, store, temporal, work, self.stats[s.name], clock, self.history_written
            )
            for s in services
        }
        #: (runner clock) no worker claims before this: the rest the batches so far earned
        self._quiet_until = 0.0
        self._enqueued = 0  # items this process's hook queued (written on the writer thread)
        self._seen = 0
        self._wake: dict[str, asyncio.Event] = {}
        self._progress: asyncio.Event | None = None  # set after every round of a worker
        self._tasks: list[asyncio.Task[None]] = []

    # ---- inside the write transaction ----------------------------------------------------
    def hook(self, tx: Transaction, change: Change) -> None:
        """The store's transaction hook (``TxHook``) for every service."""
        cause = current_cause()
        chain: list[str] | None = None  # the cause as the payloads keep it
        now = 0.0
        for service in self.services:
            if service.name in cause:
                continue  # its own result, or a loop through other services
            try:
                requests = list(service.requests(change))
            except Exception:
                self.stats[service.name].hook_errors += 1
                log.exception("%s: deciding the work for %s failed", service.name, change.entity_id)
                continue
            if not requests:
                continue
            if chain is None:
                chain, now = list(cause), self.clock()
            for request in requests:
                payload = {**request.payload, CAUSE_MEMBER: chain}
                tx.enqueue_work(service.name, request.key, payload, now + request.delay)
                self._enqueued += 1

    async def history_written(
        self, tenant: str, entity: Document, cause: tuple[str, ...] = ()
    ) -> None:
        """History was added to an entity (committed) through the temporal API, or by a
        service (``ServiceContext.append_history``, whose chain of services is ``cause``):
        queue what each service not in ``cause`` asks for it
        (``CityService.history_requests``). A failure is logged and counted, never the
        writer's."""
        queued = False
        for service in self.services:
            if service.name in cause:
                continue  # its own history, or a loop through other services
            try:
                requests = list(service.history_requests(tenant, entity))
                for request in requests:
                    payload = {**request.payload, CAUSE_MEMBER: list(cause)}
                    due = self.clock() + request.delay
                    await self.work.add(service.name, tenant, request.key, payload, due)
                    queued = True
            except StoreUnavailable:
                self.stats[service.name].hook_errors += 1
            except Exception:
                self.stats[service.name].hook_errors += 1
                log.exception(
                    "%s: the work for history of %s failed", service.name, entity.get("id")
                )
        if queued:
            self.wake()

    def _committed(self, changes: list[Change]) -> None:
        if self._enqueued != self._seen:
            self._seen = self._enqueued
            for event in self._wake.values():
                event.set()

    # ---- after the commit --------------------------------------------------------------
    async def start(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            released = await self.work.release_leases(self.clock())
            if released:
                log.info("took back %d work items a previous process had claimed", released)
        self.store.add_listener(self._committed)
        self._progress = asyncio.Event()
        for service in self.services:
            self._wake[service.name] = asyncio.Event()
            self._tasks.append(
                asyncio.create_task(self._worker(service), name=f"cityhub-{service.name}")
            )
            if service.interval:
                self._tasks.append(
                    asyncio.create_task(self._ticker(service), name=f"cityhub-{service.name}-tick")
                )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def wake(self) -> None:
        """Look at the queue now (tests; a timer that queued work)."""
        for event in self._wake.values():
            event.set()

    async def report(self) -> dict[str, dict[str, Any]]:
        """Each service's stats (this process) and its items in the queue (every worker's)."""
        out = {}
        for service in self.services:
            out[service.name] = self.stats[service.name].as_json()
            with contextlib.suppress(StoreUnavailable):
                out[service.name]["pending"] = await self.work.pending(service.name)
        return out

    async def settle(self, timeout: float = 30.0, services: Sequence[str] | None = None) -> None:
        """Return once every service's queue is empty (tests and benchmarks: wait for the
        work the writes so far asked for, without sleeping). Items due later count too.

        Args:
            services: the names of the services waited for (None: all).

        Raises:
            TimeoutError: still work after ``timeout`` seconds.
        """
        assert self._progress is not None, "start() first"
        names = [s.name for s in self.services] if services is None else list(services)
        async with asyncio.timeout(timeout):
            while True:
                self._progress.clear()
                pending = [await self.work.pending(name) for name in names]
                if not any(pending):
                    return
                self.wake()
                await self._progress.wait()

    async def _worker(self, service: CityService) -> None:
        """Claim when something is due (a look at the earliest due time is a read; a claim
        is a write transaction), else sleep until it is, a commit wakes us or a poll."""
        ctx = self.contexts[service.name]
        event = self._wake[service.name]
        while True:
            items: list[WorkItem] = []
            timeout = self.poll_interval
            while (quiet := self._quiet_until - self.clock()) > 0:
                # the services' rest after a batch (of any of them)
                await asyncio.sleep(min(quiet, self.poll_interval))
            try:
                due = await self.work.next_due(service.name)
                now = self.clock()
                if due is not None and due <= now:
                    items = await self.work.claim(service.name, now, self.batch, self.lease)
                elif due is not None:
                    timeout = min(timeout, due - now)
            except StoreUnavailable:
                pass
            except Exception:
                log.exception("%s: claiming work failed", service.name)
            if items:
                started = self.clock()
                await self._run(service, ctx, items)
                # under a backlog the services take at most ``max_share`` of the time: the
                # writes that ask for work go first, and theirs coalesce meanwhile (a station
                # written five times while we rest costs one computation). The rest is every
                # worker's: one service's batch holds back the others' too
                now = self.clock()
                rest = (now - started) * (1 / self.max_share - 1)
                self._quiet_until = max(self._quiet_until, now) + min(rest, self.max_rest)
            if self._progress is not None:
                self._progress.set()
            if items:
                continue
            # asyncio.timeout, not wait_for: on 3.11 a wait_for whose timeout is 0 (an item
            # due now) can lose the cancellation of stop(), which then waits for ever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, timeout)):
                    await event.wait()
            event.clear()

    async def _run(self, service: CityService, ctx: ServiceContext, items: list[WorkItem]) -> None:
        """Do a claimed batch: the service's ``prepare`` of all of them (what they all read, at
        once), then up to ``concurrency`` items at once (their reads run side by side, their
        write-backs share commits), then mark the done ones done together."""
        stats = self.stats[service.name]
        limit = asyncio.Semaphore(self.concurrency)
        done: list[WorkItem] = []
        finished: list[WorkItem] = []  # left the queue with the service's last write
        mine = [
            dataclasses.replace(
                item, payload={k: v for k, v in item.payload.items() if k != CAUSE_MEMBER}
            )
            for item in items
        ]
        batch = ctx.for_item(())
        batch.batch = {}  # this batch's own: what ``prepare`` reads

        async def one(item: WorkItem, mine: WorkItem) -> None:
            async with limit:
                own = batch.for_item(tuple(item.payload.get(CAUSE_MEMBER, ())), mine)
                try:
                    await service.process(mine, own)
                except Exception as exc:
                    if own.finished_at is None:
                        await self._failed(service, item, exc)
                        return
                    # it failed after its last write: its work is done all the same
                    log.exception("%s: %s failed after its last write", service.name, item.key)
                if own.finished_at is not None:
                    stats.done += 1
                    stats.delays.append((own.finished_at, own.finished_at - item.enqueued_at))
                    finished.append(item)
                else:
                    done.append(item)

        try:
            try:
                await service.prepare(mine, batch)
            except Exception:  # the items run without it
                batch.batch.clear()
                log.exception("%s: preparing %d items failed", service.name, len(items))
            await asyncio.gather(*(one(item, m) for item, m in zip(items, mine, strict=True)))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.work.release(
                        [i for i in items if i not in done and i not in finished], self.clock()
                    )
                )
            raise
        finally:
            if done:
                with contextlib.suppress(StoreUnavailable):  # else done again, at least once
                    await asyncio.shield(self.work.done(done))
                now = self.clock()
                stats.done += len(done)
                stats.delays.extend((now, max(0.0, now - item.enqueued_at)) for item in done)

    async def _failed(self, service: CityService, item: WorkItem, exc: Exception) -> None:
        stats = self.stats[service.name]
        attempts = item.attempts + 1
        if attempts >= self.max_attempts:
            stats.given_up += 1
            log.error(
                "%s: gave up %s (tenant %s) after %d attempts: %s",
                service.name,
                item.key,
                item.tenant,
                attempts,
                exc,
                exc_info=not isinstance(exc, StoreUnavailable),
            )
            due = None
        else:
            stats.retried += 1
            due = self.clock() + min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
            log.warning(
                "%s: %s failed (attempt %d), retrying: %s", service.name, item.key, attempts, exc
            )
        with contextlib.suppress(StoreUnavailable):
            await self.work.retry(item, f"{type(exc).__name__}: {exc}", due)

    async def _ticker(self, service: CityService) -> None:
        assert service.interval
        ctx = self.contexts[service.name]
        while True:
            await asyncio.sleep(service.interval)
            try:
                await service.tick(ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: tick failed", service.name)


__all__ = ["ServiceRunner"]
