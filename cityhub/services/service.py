"""What a city service is to the framework (:class:`CityService`), what it asks for inside a
write (:class:`WorkRequest`), and what it gets to work with after the commit
(:class:`ServiceContext`).

The feedback-loop guard lives here: :meth:`ServiceContext.write` marks its transaction with the
*cause* of the write (the chain of services whose work led to it, this one last), and the
framework's transaction hook never queues work for a service already in the cause of the
change. So a service's own write-back never asks for its own work again, and two services that
react to each other's results stop after one round each, whatever their rules say.
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cityhub.store.base import Change, Document, Store, Transaction
from cityhub.store.temporal import TemporalStore
from cityhub.store.work import WorkItem, WorkQueue

T = TypeVar("T")
#: told of history added outside an entity write: (tenant, {"id", "type", "attrs"}, cause)
HistoryListener = Callable[[str, Document, tuple[str, ...]], Awaitable[None]]

#: the chain of services whose work caused the write running in this context (empty: a
#: client's write). Set only around a service's transaction function (ServiceContext.write);
#: the hook runs inside that function, on the same thread or greenlet, so it sees it.
_CAUSE: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("cause", default=())
#: seconds of "recent" in ServiceStats' report
RECENT = 300.0
#: the payload member the framework keeps the cause in (a service never sees it)
CAUSE_MEMBER = "@cause"


def current_cause() -> tuple[str, ...]:
    """The services whose work caused the write running now (outermost first)."""
    return _CAUSE.get()


@dataclass(frozen=True)
class WorkRequest:
    """One piece of work a change asks of a service.

    Attributes:
        key: what it is about (usually the entity id); unclaimed requests with the same key
            are one item (a burst of writes to an entity costs one computation). None: never
            coalesced (each change counts).
        payload: what the service wants to remember of the change (JSON).
        delay: seconds after the commit before it is due.
    """

    key: str | None
    payload: Document = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ServiceStats:
    """What a service did in this process (``/health`` shows it; benchmarks read it).

    ``counters`` are the service's own (``count``), e.g. ``badData``; ``delays`` the last
    (when done, seconds from the item's enqueue, i.e. its write's commit, to its work done).
    ``/health`` reports the p95 of everything kept and of the last :data:`RECENT` seconds
    (to the second; a hub that caught up after a burst shows its live delay there).
    """

    done: int = 0
    retried: int = 0
    given_up: int = 0
    hook_errors: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    delays: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=10_000))
    _quantiles: dict[Any, tuple[float, float | None]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def delay_quantile(self, q: float, since: float | None = None) -> float | None:
        """The ``q`` quantile (0-1, nearest rank) of the delays recorded (of work done at or
        after ``since``, seconds since the epoch), None without any. Remembered until a
        delay is added (``/health`` asks it of up to 10,000 delays per service, and a
        monitor or a benchmark asks often)."""
        delays = self.delays
        # (a window's start moving by less than a second, with nothing added, is the same
        # window: a monitor polling /health several times a second sorts once)
        key = (q, since is None, len(delays), delays[-1] if delays else None)
        memo = self._quantiles.get(key)
        if memo is not None and (since is None or abs(memo[0] - since) < 1.0):
            return memo[1]
        ordered = sorted(d for at, d in delays if since is None or at >= since)
        found = (
            ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
            if ordered
            else None
        )
        if len(self._quantiles) > 8:
            self._quantiles.clear()
        self._quantiles[key] = (since or 0.0, found)
        return found

    def as_json(self) -> dict[str, Any]:
        p95 = self.delay_quantile(0.95)
        recent = self.delay_quantile(0.95, time.time() - RECENT)
        return {
            "done": self.done,
            "retried": self.retried,
            "givenUp": self.given_up,
            "hookErrors": self.hook_errors,
            "counters": dict(self.counters),
            "delayP95Seconds": None if p95 is None else round(p95, 4),
            "recentDelayP95Seconds": None if recent is None else round(recent, 4),
        }


class ServiceContext:
    """What a service works with after the commit: the store protocols, its queue, its stats,
    and :meth:`write`, the store's normal write path marked with the service as the cause (so
    history, subscriptions and the temporal API see its results like any other write)."""

    def __init__(
        self,
        name: str,
        store: Store,
        temporal: TemporalStore,
        work: WorkQueue,
        stats: ServiceStats,
        clock: Callable[[], float] = time.time,
        history_written: HistoryListener | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.temporal = temporal
        self.work = work
        self.stats = stats
        self.clock = clock
        #: told of history this service adds (``append_history``): the runner's
        #: ``history_written``, which queues what the other services ask for it
        self.history_written = history_written
        self.log = logging.getLogger(f"cityhub.services.{name}")
        #: the cause of the item being worked on (``for_item``)
        self.cause: tuple[str, ...] = ()
        #: the item being worked on (``for_item``), and when a ``write(finish=True)`` removed
        #: it from the queue (seconds since the epoch; None: not yet)
        self.item: WorkItem | None = None
        self.finished_at: float | None = None
        #: what :meth:`CityService.prepare` read for the claimed batch the item is in (shared
        #: by the contexts of its items; empty outside a batch)
        self.batch: dict[str, Any] = {}

    def for_item(self, cause: tuple[str, ...], item: WorkItem | None = None) -> ServiceContext:
        """This context for one item, whose writes carry ``cause``."""
        own = ServiceContext(
            self.name,
            self.store,
            self.temporal,
            self.work,
            self.stats,
            self.clock,
            self.history_written,
        )
        own.cause = cause
        own.item = item
        own.batch = self.batch
        return own

    async def write(
        self, tenant: str, fn: Callable[[Transaction], T], *, finish: bool = False
    ) -> T:
        """``store.write(tenant, fn)``, the write caused by this service's current item.

        Args:
            finish: this is the item's last write: the item leaves the queue in the same
                transaction (its result and the end of its work commit together, and the
                runner's separate "done" write is saved: one commit less between a reading
                and its result).
        """
        cause = (*self.cause, self.name)
        item = self.item if finish else None

        def marked(tx: Transaction) -> T:
            token = _CAUSE.set(cause)
            try:
                result = fn(tx)
            finally:
                _CAUSE.reset(token)
            if item is not None:
                tx.finish_work(item.id, item.token)
            return result

        result = await self.store.write(tenant, marked)
        if item is not None:
            self.finished_at = self.clock()
        return result

    async def append_history(
        self,
        tenant: str,
        entity_id: str,
        attrs: dict[str, list[dict[str, Any]]],
        types: Iterable[str] = (),
    ) -> None:
        """Add instances to an entity's history (``TemporalStore.append_attributes``, as the
        temporal API adds them: the entity is left as it is), then tell the other services, as
        the temporal API does (``CityService.history_requests``), with this item's cause (so
        no service in it is asked again). History written so is heard like a client's: the
        indicators compute again the hours of the CAI the air-quality service gives a late
        batch's hours.

        Args:
            attrs: attribute IRI -> the instances to add.
            types: the entity's type IRIs (a service that reads only some types decides by them).
        """
        await self.temporal.append_attributes(tenant, entity_id, attrs)
        if self.history_written is not None:
            entity = {"id": entity_id, "type": list(types), "attrs": attrs}
            await self.history_written(tenant, entity, (*self.cause, self.name))

    async def enqueue(self, tenant: str, request: WorkRequest, service: str | None = None) -> None:
        """Queue work outside an entity write (a timer's round), for this service or another."""
        payload = {**request.payload, CAUSE_MEMBER: list(self.cause)}
        await self.work.add(
            service or self.name, tenant, request.key, payload, self.clock() + request.delay
        )


class CityService:
    """A city service: subclass it, give it a stable ``name`` and override what it needs.

    - :meth:`requests` runs inside every entity write transaction (any tenant): return the work
      the change asks for, quickly, without I/O (it delays the write). An exception here is
      logged and counted (``hook_errors``), never fails the client's write.
    - :meth:`history_requests`: the same for history written through the temporal API, which
      changes no entity (so no transaction hook sees it).
    - :meth:`prepare` runs once per claimed batch, before its items' ``process``: it may read
      at once what they all need (one query instead of one per item) into ``ctx.batch``.
    - :meth:`process` runs after the commit, in the service's worker task, once per claimed
      item (at least once: it may run again after a crash, so its effect must be the same
      either way). It writes results with ``ctx.write``. Raising retries the item with
      backoff, up to the runner's ``max_attempts``.
    - :meth:`tick` runs every ``interval`` seconds (when not None), for rules that fire on
      time, not on writes (a device offline); it should ``ctx.enqueue`` keyed work rather
      than act, so that of several workers one does each piece.
    """

    #: stable: stored with every queued item
    name: str = ""
    #: seconds between two ticks; None: no timer
    interval: float | None = None
    #: what it did; the runner sets it (or adopts the service's own), so ``requests`` can
    #: count things too (``stats.count("badData")``)
    stats: ServiceStats

    def requests(self, change: Change) -> Iterable[WorkRequest]:
        return ()

    def history_requests(self, tenant: str, entity: Document) -> Iterable[WorkRequest]:
        """The work that history added through the temporal API asks for (``entity``: its
        ``id``, its ``type`` IRIs when the request named them, else none, and ``attrs``, the
        instances written). Runs after that write committed, on the event loop: quick, no
        I/O. Its items are queued after the commit, not in it: a crash in between loses them
        (the entity's next write asks again)."""
        return ()

    async def prepare(self, items: Sequence[WorkItem], ctx: ServiceContext) -> None:
        """Before a claimed batch's items are processed: read what they need into
        ``ctx.batch`` (the item contexts share it). What it reads is read before the items'
        own work, so it is a hint, as any read outside the item's write transaction is. A
        failure is logged and the items run without it."""
        return None

    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        return None

    async def tick(self, ctx: ServiceContext) -> None:
        return None


__all__ = [
    "CAUSE_MEMBER",
    "CityService",
    "HistoryListener",
    "ServiceContext",
    "ServiceStats",
    "WorkRequest",
    "current_cause",
]
