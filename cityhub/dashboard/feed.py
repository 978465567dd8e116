"""The dashboard's live feed: which entities of a tenant changed, as Server-Sent Events.

The feed listens to the store's committed changes (``Store.add_shared_listener``: the commits
of every process sharing the store, so a screen connected to one worker of ``cityhub serve
--workers N`` hears the writes another worker served; on PostgreSQL by ``LISTEN/NOTIFY``,
behind the store's seam), the hub's own change stream, not a poll. It tells each open screen
*which* entities changed (``[id, kind, type]``: a query needs a type besides ids, clause
6.4.3.2); the screen reads them back
through the NGSI-LD API, so what it shows is what any client of the API reads (the same
representation, the same tenant, whatever the store).

Backpressure: a slow or stalled browser never slows a write and never grows the hub's memory
without bound.

- The listener runs on the event loop right after a commit; per open screen of the tenant
  it records the change in that screen's ``pending`` map, keyed by entity id (the latest
  kind and type win, but an update of an entity whose creation is still pending leaves it
  created: a city service's result can follow a create within milliseconds), and sets an
  event. No I/O, no awaiting, O(1) per change and screen.
- Each screen's stream sends what is pending when it can: while the socket's send buffer
  is full, the stream waits in ``send`` and changes to the same entities coalesce.
- A screen with more than ``max_pending`` distinct entities pending has fallen too far
  behind: its map is dropped and it gets one ``resync`` event (read everything again).
- At most ``max_streams`` screens per hub process (``dashboard_max_streams``); one more is
  a 503 with ``Retry-After``.

A stream starts with a ``hello`` event and sends a comment line every ``keepalive``
seconds, so proxies keep it open and a dead peer is noticed. The ``retry`` field asks the
browser to reconnect one second after the stream ends, as it does when the hub restarts:
:meth:`ChangeFeed.close` ends every stream when the server shuts down (uvicorn waits for open
responses before it stops).

When the store cannot say what changed (another process's transaction named too many
entities, or the store lost touch with the other processes for a while), the screens of the
tenant (of every tenant) get a ``resync`` event.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityhub.ngsild.context import DEFAULT_VOCAB
from cityhub.store.base import Change

log = logging.getLogger("cityhub.dashboard")

#: how long (s) a stream gathers changes after the first before it sends them: bounds the
#: events (and the screen's reads) to about 10 a second while adding at most this latency
BATCH_WINDOW = 0.1
#: most entity ids in one event (the screen reads them back in pages of this size)
EVENT_IDS = 100
KEEPALIVE = 15.0
RETRY_MS = 1000
#: which hub process serves a stream (the ``hello`` event says it: with several workers, a
#: screen or a test can tell them apart); random, so it tells nothing else
PROCESS = uuid.uuid4().hex[:12]


class FeedFull(Exception):
    """The process serves ``max_streams`` feeds already."""


@dataclass(eq=False)
class Subscriber:
    """One open screen's feed of one tenant."""

    tenant: str
    max_pending: int
    #: access control: whether the screen's caller may read an entity (None: every one)
    reads: Callable[[Mapping[str, Any]], bool] | None = None
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)
    overflowed: bool = False
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, changes: list[Change]) -> None:
        """Record committed changes (the listener's side: never blocks)."""
        if self.overflowed:
            return
        for change in changes:
            if self.reads is not None:
                entity = change.after if change.after is not None else change.before
                if entity is None or not self.reads(entity):
                    continue
            # keep the order of the latest change
            held = self.pending.pop(change.entity_id, None)
            kind = change.kind
            if held is not None and held[0] == "entityCreated" and kind == "entityUpdated":
                kind = "entityCreated"  # the screen has not heard of it yet: still new to it
            self.pending[change.entity_id] = (kind, type_of(change))
        if len(self.pending) > self.max_pending:
            self.pending.clear()
            self.overflowed = True
        self.wake.set()

    def resync(self) -> None:
        """What changed is not known: the screen reads everything again."""
        self.pending.clear()
        self.overflowed = True
        self.wake.set()

    def take(self, limit: int) -> tuple[bool, list[tuple[str, str, str]]]:
        """(whether the screen must read everything again, up to ``limit`` pending changes)."""
        if self.overflowed:
            self.overflowed = False
            return True, []
        batch = []
        for entity_id in list(self.pending)[:limit]:
            kind, entity_type = self.pending.pop(entity_id)
            batch.append((entity_id, kind, entity_type))
        if not self.pending:
            self.wake.clear()
        return False, batch


class ChangeFeed:
    """The committed changes of every tenant, handed to the open screens of that tenant."""

    def __init__(self, max_streams: int = 200, max_pending: int = 5000) -> None:
        self.max_streams = max_streams
        self.max_pending = max_pending
        self._by_tenant: dict[str, set[Subscriber]] = {}
        self._closing = False

    @property
    def open_streams(self) -> int:
        return sum(len(subs) for subs in self._by_tenant.values())

    def on_commit(self, changes: list[Change]) -> None:
        """This process's commits (a store's ``add_listener``)."""
        by_tenant: dict[str, list[Change]] = {}
        for change in changes:
            by_tenant.setdefault(change.tenant, []).append(change)
        for tenant, some in by_tenant.items():
            self.on_shared(tenant, some)

    def on_shared(self, tenant: str | None, changes: list[Change] | None) -> None:
        """The store's shared listener (``Store.add_shared_listener``: the commits of every
        process, this one's inside ``Store.write`` after the commit), so it must never raise
        (the write has happened) and never wait. ``changes`` None: the tenant (``tenant``
        None: any tenant) changed more than can be named: its screens read everything again."""
        try:
            if not self._by_tenant:
                return
            if tenant is None:
                targets = [sub for subs in self._by_tenant.values() for sub in subs]
            else:
                targets = list(self._by_tenant.get(tenant, ()))
            for sub in targets:
                if changes is None:
                    sub.resync()
                else:
                    sub.offer(changes)
        except Exception:  # pragma: no cover - a bug here must not fail a committed write
            log.exception("the dashboard feed could not take a commit's changes")

    def subscribe(
        self, tenant: str, reads: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> Subscriber:
        """A new screen's feed (``reads``: of the entities its caller may read only).

        Raises:
            FeedFull: ``max_streams`` feeds are open already (or the server is stopping).
        """
        if self._closing or self.open_streams >= self.max_streams:
            raise FeedFull()
        sub = Subscriber(tenant, self.max_pending, reads)
        self._by_tenant.setdefault(tenant, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._by_tenant.get(sub.tenant)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_tenant[sub.tenant]

    def close(self) -> None:
        """End every stream (the server is shutting down); the pages reconnect on their own."""
        self._closing = True
        for subs in self._by_tenant.values():
            for sub in subs:
                sub.closed = True
                sub.wake.set()

    async def stream(
        self,
        sub: Subscriber,
        keepalive: float = KEEPALIVE,
        recheck: Callable[[Subscriber], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[bytes]:
        """The Server-Sent Events of one screen, until the server closes it (the response
        ends it when the browser goes away). ``recheck`` runs before every event: it may
        narrow ``sub.reads`` again, and the stream ends when it answers False (the caller's
        key was revoked since)."""
        try:
            yield sse("hello", {"tenant": sub.tenant, "process": PROCESS}, retry=RETRY_MS)
            while not sub.closed:
                if not sub.pending and not sub.overflowed:
                    try:
                        await asyncio.wait_for(sub.wake.wait(), keepalive)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    if sub.closed:
                        break
                    await asyncio.sleep(BATCH_WINDOW)
                if recheck is not None and not await recheck(sub):
                    break
                resync, batch = sub.take(EVENT_IDS)
                if resync:
                    yield sse("resync", {})
                elif batch:
                    yield sse("change", {"changes": [list(item) for item in batch]})
        finally:
            self.unsubscribe(sub)


def type_of(change: Change) -> str:
    """The entity's (first) type, by its short name when it is the default vocabulary's (the
    screen queries with the core @context), else by its IRI (which a query takes as is)."""
    entity = change.after if change.after is not None else change.before
    types = entity.get("type") if entity is not None else None
    first = types[0] if isinstance(types, list) and types else types
    if not isinstance(first, str):
        return ""
    return first.removeprefix(DEFAULT_VOCAB)


def sse(event: str, data: object, retry: int | None = None) -> bytes:
    """One Server-Sent Event (HTML Living Standard, section 9.2): JSON data on one line."""
    head = f"retry: {retry}\n" if retry is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


__all__ = ["ChangeFeed", "FeedFull", "Subscriber", "sse"]
