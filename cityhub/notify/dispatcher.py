"""Deliver what the outbox holds (clause 5.8.6; Notification 5.3.1; HTTP binding 7.2, 6.3.x).

:class:`Dispatcher` is an asyncio task: it wakes on every commit (a store listener) or when the
earliest retry is due, claims due outbox rows, renders each notification with its
subscription's @context and ``notification`` parameters, sends it through a :class:`Sender`
and deletes the row once the receiver accepted it (any 2xx). A failure is retried with
exponential backoff (``base_delay`` · 2^(attempt-1), at most ``max_delay``) until
``max_attempts``; rows stay in the database meanwhile, so a restart resumes delivery.

The subscription's status members (``notification.timesSent``, ``timesFailed``,
``lastNotification``, ``lastSuccess``, ``lastFailure``, ``status`` ok/failed) are written
through the subscription store's ``update``. ``timesSent`` counts every attempt.

HTTP (clause 7.2): ``accept`` application/json (default) sends ``Content-Type:
application/json`` and a ``Link`` header to the @context; application/ld+json puts ``@context``
in the body. ``receiverInfo`` entries become headers, and a non-default tenant is sent as
``NGSILD-Tenant``. application/geo+json is sent as application/json for now; MQTT endpoints are
not supported yet: their notifications are dropped and the subscription marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import orjson

from cityhub.contexts import ContextService
from cityhub.ngsild.context import CORE_CONTEXT_URL
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.projection import Tree
from cityhub.ngsild.render import Projection, render_entity
from cityhub.notify.matcher import TermMaps
from cityhub.store.base import Change
from cityhub.store.sqlite import outbox
from cityhub.store.sqlite.store import SqliteStore
from cityhub.store.sqlite.subscriptions import SqliteSubscriptionStore
from cityhub.subscriptions import context_url

log = logging.getLogger("cityhub.notify")

Document = dict[str, Any]
LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


@dataclass(frozen=True)
class Delivery:
    """One notification ready to send."""

    uri: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class DeliveryFailed(Exception):
    """The receiver did not accept the notification (the message says why)."""


class Sender(Protocol):
    """Sends one notification; raises :class:`DeliveryFailed` (or any error) on failure."""

    async def send(self, delivery: Delivery) -> None: ...


class HttpSender:
    """POSTs notifications with httpx; any 2xx status is a success."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._owns = client is None
        self.client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def send(self, delivery: Delivery) -> None:
        try:
            response = await self.client.post(
                delivery.uri, content=delivery.body, headers=delivery.headers
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"the receiver answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        if self._owns:
            await self.client.aclose()


class _Permanent(Exception):
    """A notification that can never be delivered (no retry)."""


def _tree(names: list[str] | None) -> Tree | None:
    return None if names is None else dict.fromkeys(names)


def projection(params: Document) -> Projection:
    """The rendering a subscription's NotificationParams ask for (clause 5.2.14)."""
    fmt = params.get("format", "normalized")
    return Projection(
        format="keyValues" if fmt in ("keyValues", "simplified") else fmt,
        sys_attrs=bool(params.get("sysAttrs", False)),
        pick=_tree(params.get("pick")),
        omit=_tree(params.get("omit")) or {},
        attrs=params.get("attributes") or None,
    )


class Dispatcher:
    """Delivers outbox rows. ``start()`` after the store started; ``stop()`` before it closes.

    Args:
        store: the SQLite store holding the outbox.
        subscriptions: where subscriptions (and their status members) live.
        contexts: resolves the subscriptions' @context for rendering and for q.
        term_maps: the cache the outbox hook reads q with; kept filled here.
        sender: delivers one notification (default: :class:`HttpSender`).
        max_attempts: attempts before a notification is given up.
        base_delay, max_delay: the backoff, in seconds.
        batch: rows claimed at once. lease: seconds a claimed row is reserved.
        poll_interval: the longest sleep between looks at the outbox.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        store: SqliteStore,
        subscriptions: SqliteSubscriptionStore,
        contexts: ContextService,
        term_maps: TermMaps | None = None,
        sender: Sender | None = None,
        *,
        max_attempts: int = 10,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        batch: int = 50,
        lease: float = 300.0,
        poll_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.subscriptions = subscriptions
        self.contexts = contexts
        self.term_maps = term_maps if term_maps is not None else TermMaps()
        self._owns_sender = sender is None
        self.sender: Sender = sender if sender is not None else HttpSender()
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.batch = batch
        self.lease = lease
        self.poll_interval = poll_interval
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen_version = -1
        self._listening = False

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if not self._listening:
            self.store.add_listener(self._on_commit)
            self._listening = True
        await self.refresh_contexts()
        self._task = asyncio.create_task(self._run(), name="cityhub-notify-dispatcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owns_sender and isinstance(self.sender, HttpSender):
            await self.sender.aclose()

    def _on_commit(self, changes: list[Change]) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or self._task is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self.run_once()
                due = await self.store.run_read(outbox.next_due)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification dispatcher: a round failed")
                due = None
            delay = self.poll_interval
            if due is not None:
                delay = max(0.0, min(delay, due - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()

    # ---- one round -------------------------------------------------------------------
    async def refresh_contexts(self) -> None:
        """Resolve every subscription's @context into the term-map cache (for q)."""
        version = await self.store.run_read(outbox.subscriptions_version)
        if version == self._seen_version:
            return
        self._seen_version = version
        for _tenant, doc in await self.subscriptions.all():
            value = doc.get("@context")
            if self.term_maps.known(value):
                continue
            try:
                self.term_maps.put(value, await self.contexts.term_map(value))
            except Exception as exc:
                log.warning("subscription %s: @context not resolved: %s", doc.get("id"), exc)

    async def run_once(self) -> int:
        """Deliver every due row now; returns how many were delivered."""
        await self.refresh_contexts()
        delivered = 0
        while True:
            rows = await self.store.run_write(self._claim)
            if not rows:
                return delivered
            groups: dict[tuple[str, str], list[outbox.OutboxRow]] = {}
            for row in rows:
                groups.setdefault((row.tenant, row.subscription_id), []).append(row)
            results = await asyncio.gather(*(self._deliver_group(g) for g in groups.values()))
            delivered += sum(results)

    def _claim(self, conn: sqlite3.Connection) -> list[outbox.OutboxRow]:
        return outbox.claim(conn, self.clock(), self.batch, self.lease)

    async def _deliver_group(self, rows: list[outbox.OutboxRow]) -> int:
        count = 0
        for row in rows:
            count += await self._deliver(row)
        return count

    async def _deliver(self, row: outbox.OutboxRow) -> int:
        sub = await self.subscriptions.get(row.tenant, row.subscription_id)
        if sub is None:  # deleted since: nobody to tell
            await self.store.run_write(lambda conn: outbox.ack(conn, row.id))
            return 0
        try:
            delivery = await self.build(row, sub)
            await self.sender.send(delivery)
        except Exception as exc:
            await self._failed(row, exc)
            return 0
        await self.store.run_write(lambda conn: outbox.ack(conn, row.id))
        await self._status(row, ok=True, detail=None)
        return 1

    async def _failed(self, row: outbox.OutboxRow, exc: Exception) -> None:
        attempts = row.attempts + 1
        detail = str(exc) or type(exc).__name__
        due: float | None = None
        if not isinstance(exc, _Permanent) and attempts < self.max_attempts:
            due = self.clock() + self.backoff(attempts)
        else:
            log.warning(
                "notification %s of %s given up after %d attempt(s): %s",
                row.payload.get("id"),
                row.subscription_id,
                attempts,
                detail,
            )
        await self.store.run_write(lambda conn: outbox.fail(conn, row.id, detail, due))
        await self._status(row, ok=False, detail=detail)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempts - 1)))

    async def _status(self, row: outbox.OutboxRow, *, ok: bool, detail: str | None) -> None:
        stamp = format_datetime(datetime.fromtimestamp(self.clock(), UTC))

        def change(doc: Document) -> Document:
            params = dict(doc.get("notification") or {})
            params["timesSent"] = int(params.get("timesSent", 0)) + 1
            params["lastNotification"] = stamp
            if ok:
                params["lastSuccess"] = stamp
                params["status"] = "ok"
            else:
                params["timesFailed"] = int(params.get("timesFailed", 0)) + 1
                params["lastFailure"] = stamp
                params["status"] = "failed"
            return {**doc, "notification": params}

        try:
            await self.subscriptions.update(row.tenant, row.subscription_id, change)
        except Exception:
            log.exception("subscription %s: status not updated", row.subscription_id)

    # ---- rendering -------------------------------------------------------------------
    async def build(self, row: outbox.OutboxRow, sub: Document) -> Delivery:
        """The HTTP request for one outbox row (raises when it cannot be built)."""
        params: Document = sub.get("notification") or {}
        endpoint: Document = params.get("endpoint") or {}
        uri = str(endpoint.get("uri", ""))
        if not uri.lower().startswith(("http://", "https://")):
            raise _Permanent(
                f"notification endpoint {uri!r}: only http(s) endpoints are supported yet "
                "(MQTT notifications are not implemented)"
            )
        context = sub.get("jsonldContext") or sub.get("@context")
        terms = await self.contexts.term_map(context)
        proj = projection(params)
        data: list[Document] = []
        for entity in row.payload.get("data", []):
            if "deletedAt" in entity:
                rendered = render_entity({**entity, "attrs": {}}, terms, proj)
                rendered["deletedAt"] = entity["deletedAt"]
            else:
                rendered = render_entity(entity, terms, proj)
            data.append(rendered)
        body: Document = {
            "id": row.payload["id"],
            "type": "Notification",
            "subscriptionId": row.subscription_id,
            "notifiedAt": format_datetime(datetime.fromtimestamp(self.clock(), UTC)),
            "data": data,
        }
        headers: dict[str, str] = {}
        if endpoint.get("accept") == "application/ld+json":
            headers["Content-Type"] = "application/ld+json"
            body["@context"] = context if context is not None else CORE_CONTEXT_URL
        else:
            headers["Content-Type"] = "application/json"
            url = sub.get("jsonldContext") or await context_url(self.contexts, sub.get("@context"))
            headers["Link"] = f"<{url}>; {LINK_REL}"
        if row.tenant:
            headers["NGSILD-Tenant"] = row.tenant
        for item in endpoint.get("receiverInfo") or ():
            headers[item["key"]] = item["value"]
        return Delivery(uri, orjson.dumps(body), headers)


__all__ = ["Delivery", "DeliveryFailed", "Dispatcher", "HttpSender", "Sender", "projection"]
