"""Deliver what the outbox holds (clause 5.8.6; Notification 5.3.1; bindings 7.2 HTTP, 7.3 MQTT).

:class:`Dispatcher` is an asyncio task: it wakes after a commit that queued notifications (a
store listener; stores that cannot tell, after every commit), after a subscription was created,
changed or deleted, when the earliest retry is due or when a periodic subscription's round is,
queues the periodic rounds
that are due (:mod:`cityhub.notify.periodic`), claims due outbox rows, renders each notification
with its subscription's @context and ``notification`` parameters (:mod:`cityhub.notify.payload`),
sends it through a :class:`~cityhub.notify.senders.Sender` and deletes the row once the receiver
accepted it. A failure is retried with exponential backoff (``base_delay`` · 2^(attempt-1), at
most ``max_delay``) until ``max_attempts``; rows stay in the database meanwhile, so a restart
resumes delivery (at-least-once). Rows of one subscription are sent one after the other, in
order.

The subscription's status members (``notification.timesSent``, ``timesFailed``,
``lastNotification``, ``lastSuccess``, ``lastFailure``, ``status`` ok/failed) are kept with the
subscription store's ``update_status`` when it has one (SQLite: a table of their own, so status
writes do not invalidate the matcher's subscription index), else its ``update``. ``timesSent``
counts every attempt.

@context (clause 7.2): ``accept`` application/json (the default) sends ``Content-Type:
application/json`` and a ``Link`` header to the subscription's @context (``jsonldContext`` when
given); application/ld+json puts ``@context`` in the body and in every entity of ``data``.
``receiverInfo`` entries become headers (the MQTT message's ``metadata``), and a non-default
tenant is sent as ``NGSILD-Tenant``. application/geo+json is sent as application/json for now.

Registration subscriptions (clause 5.11.7): rows whose payload is a ContextSourceNotification
(queued by :mod:`cityhub.notify.csource`) are delivered the same way, for the subscription of
the registration store given as ``registrations``; their registrations are compacted with the
subscription's @context and their status members live in that subscription. The dispatcher
also runs the rounds of ``timeInterval`` registration subscriptions (``run_periodic`` of that
store) when one is due, after a registration subscription changed, and at least once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from cityhub.access.control import Access, AccessControl
from cityhub.contexts import ContextService
from cityhub.errors import StoreUnavailable
from cityhub.linked import fetch_linked
from cityhub.ngsild import csource_notification as cn
from cityhub.ngsild.context import CORE_CONTEXT_URL, TermMap
from cityhub.ngsild.datetime import format_datetime
from cityhub.ngsild.registration import compact_registration
from cityhub.ngsild.render import Projection, render_entity
from cityhub.notify.matcher import TermMaps
from cityhub.notify.payload import projection, render_notified_entity
from cityhub.notify.periodic import PeriodicNotifier
from cityhub.notify.senders import (
    Delivery,
    HttpSender,
    PermanentFailure,
    SchemeSender,
    Sender,
)
from cityhub.store.base import Change, Store
from cityhub.store.outbox import OutboxQueue, OutboxRow
from cityhub.store.registrations import RegistrationStore
from cityhub.store.subscriptions import SubscriptionStore
from cityhub.subscriptions import context_url

log = logging.getLogger("cityhub.notify")


def _cooldown(sub: Document) -> float:
    """The seconds a failed endpoint rests before the next attempt (its ``cooldown``, clause
    5.2.15, in milliseconds; 0 when it has none)."""
    endpoint = (sub.get("notification") or {}).get("endpoint") or {}
    value = endpoint.get("cooldown")
    return value / 1000 if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


Document = dict[str, Any]
LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
#: the longest wait before the periodic registration subscriptions are looked at again
CSOURCE_RECHECK = 60.0
#: the longest a read of a subscription waits for the outcome of its notification in flight
SETTLE_WAIT = 1.0


class Dispatcher:
    """Delivers outbox rows. ``start()`` after the store started; ``stop()`` before it closes.

    Args:
        store: the entity store (its commits wake the dispatcher; linked entities are read
            there).
        subscriptions: where subscriptions (and their status members) live.
        contexts: resolves the subscriptions' @context for rendering and for q.
        term_maps: the cache the outbox hook reads q with; kept filled here.
        sender: delivers one notification (default: a :class:`SchemeSender`, HTTP and MQTT).
        max_attempts: attempts before a notification is given up.
        base_delay, max_delay: the backoff, in seconds.
        batch: rows claimed at once. lease: seconds a claimed row is reserved.
        poll_interval: the longest sleep between looks at the outbox.
        clock: seconds since the epoch.
        queue: the outbox's delivery side.
        registrations: the registration store whose subscriptions' notifications are
            delivered too (None: context source notifications are not delivered).
        periodic: queues the rounds of ``timeInterval`` subscriptions (None: none are sent).
        owners: access control: a notification of a subscription with an owner carries, when
            it is delivered, only the entities (and linked entities) the owner may read then;
            one left with none is not sent.
    """

    def __init__(
        self,
        store: Store,
        subscriptions: SubscriptionStore,
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
        queue: OutboxQueue,
        registrations: RegistrationStore | None = None,
        periodic: PeriodicNotifier | None = None,
        owners: AccessControl | None = None,
    ) -> None:
        self.store = store
        self.owners = owners
        self.registrations = registrations
        self._csource_due = 0.0
        self.queue = queue
        self.subscriptions = subscriptions
        self.contexts = contexts
        self.term_maps = term_maps if term_maps is not None else TermMaps()
        self._owns_sender = sender is None
        self.sender: Sender = sender if sender is not None else SchemeSender()
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
        #: the queue's count of rows this process queued when we last looked: a commit that
        #: left it unchanged queued nothing, and needs no look at the outbox
        self._seen_enqueued = -1
        self._listening = False
        self._next_periodic: float | None = None
        self.periodic = periodic
        #: (tenant, subscription id) -> set once the delivery this process is making for it
        #: has its outcome recorded (see :meth:`settled`)
        self._in_flight: dict[tuple[str, str], asyncio.Event] = {}

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._seen_enqueued = self.queue.enqueued()  # the first round looks at the outbox anyway
        if not self._listening:
            self.store.add_listener(self._on_commit)
            self.subscriptions.on_commit.append(self._wake_up)
            if self.registrations is not None:
                self.registrations.on_commit.append(self._registrations_committed)
            self._listening = True
        released = await self.queue.release_leases(self.clock())
        if released:
            log.info("notification dispatcher: %d interrupted deliveries resumed", released)
        await self.refresh_contexts()
        self._task = asyncio.create_task(self._run(), name="cityhub-notify-dispatcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:  # what a round in flight had claimed is due again, not leased for minutes
                await self.queue.release_leases(self.clock())
            except Exception:
                log.exception("notification dispatcher: claimed rows not released")
        if self._owns_sender and isinstance(self.sender, SchemeSender | HttpSender):
            await self.sender.aclose()

    def _on_commit(self, changes: list[Change]) -> None:
        count = self.queue.enqueued()
        if count == self._seen_enqueued:
            return  # nothing queued since the last commit we heard of
        self._seen_enqueued = count
        self._wake_up()

    def wake(self) -> None:
        """Look at the outbox now: a row was queued without an entity change (a relayed
        notification of a context source, ``cityhub.federation.subscriptions``)."""
        self._wake_up()

    def _wake_up(self) -> None:
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

    def _registrations_committed(self, subscriptions_changed: bool) -> None:
        if subscriptions_changed:
            self._csource_due = 0.0
        self._wake_up()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            dues: list[float | None] = []
            try:
                await self.run_once()
                dues = [await self.queue.next_due(), self._next_periodic]
                if self.registrations is not None:
                    dues.append(self._csource_due)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable:  # the store logged it once; the next round tries again
                pass
            except Exception:
                log.exception("notification dispatcher: a round failed")
            delay = self.poll_interval
            for due in dues:
                if due is not None:
                    delay = max(0.0, min(delay, due - self.clock()))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns normally when the
            # event is set in the same loop turn as stop() cancels this task, and the lost
            # cancellation left stop() waiting forever (seen at shutdown under load)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()

    # ---- one round -------------------------------------------------------------------
    async def refresh_contexts(self) -> None:
        """Resolve every subscription's @context into the term-map cache (for q)."""
        version = await self.queue.subscriptions_version()
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
        if self.periodic is not None:
            self._next_periodic = await self.periodic.run_due()
        await self._csource_periodic()
        delivered = 0
        while True:
            rows = await self.queue.claim(self.clock(), self.batch, self.lease)
            if not rows:
                return delivered
            groups: dict[tuple[str, str], list[OutboxRow]] = {}
            for row in rows:
                groups.setdefault((row.tenant, row.subscription_id), []).append(row)
            results = await asyncio.gather(*(self._deliver_group(g) for g in groups.values()))
            delivered += sum(results)

    async def _csource_periodic(self) -> None:
        """The due rounds of ``timeInterval`` registration subscriptions."""
        now = self.clock()
        if self.registrations is None or now < self._csource_due:
            return
        self._csource_due = now + CSOURCE_RECHECK
        upcoming = await self.registrations.run_periodic(now)
        if upcoming is not None:
            self._csource_due = min(self._csource_due, upcoming)

    async def _deliver_group(self, rows: list[OutboxRow]) -> int:
        count = 0
        for row in rows:
            count += await self._deliver(row)
        return count

    @staticmethod
    def _is_csource(row: OutboxRow) -> bool:
        return row.payload.get("type") == cn.NOTIFICATION_TYPE

    async def _deliver(self, row: OutboxRow) -> int:
        if self._is_csource(row):
            if self.registrations is None:
                sub = None
            else:
                sub = await self.registrations.get_subscription(row.tenant, row.subscription_id)
        else:
            sub = await self.subscriptions.get(row.tenant, row.subscription_id)
        if sub is None:  # deleted since: nobody to tell
            await self.queue.ack(row.id)
            return 0
        reader = None
        if not self._is_csource(row):
            try:
                reader = await self._reader(row, sub)
            except Exception as exc:
                await self._failed(row, exc, _cooldown(sub))
                return 0
            if reader is not None and not any(reader.reads(e) for e in row.payload["data"]):
                await self.queue.ack(row.id)  # nothing its owner may read (now): not sent
                return 0
        key = (row.tenant, row.subscription_id)
        done = self._in_flight[key] = asyncio.Event()
        try:
            try:
                delivery = await self.build(row, sub, reader)
                await self._status(row, ok=None)
                await self.sender.send(delivery)
            except Exception as exc:
                await self._failed(row, exc, _cooldown(sub))
                return 0
            # the status before the ack: a crash in between only delivers the row once more
            await self._status(row, ok=True, detail=None)
        finally:
            done.set()  # the outcome is recorded: readers waiting in settled() go on
            if self._in_flight.get(key) is done:
                del self._in_flight[key]
        await self.queue.ack(row.id)
        return 1

    async def settled(
        self, tenant: str, subscription_id: str, timeout: float = SETTLE_WAIT
    ) -> None:
        """Return once no notification of this subscription is being sent by this process,
        or after ``timeout`` seconds.

        A receiver that reads the subscription as soon as it has answered a notification (ETSI
        047_05, 046_12_01 do) would otherwise race the recording of that answer: the read
        can reach the hub before the dispatcher, woken by the same answer, has written
        ``status``/``lastSuccess`` (clause 5.8.6 / 5.11.7 make them the outcome of the
        notification sent). Reads of one subscription call this first; a receiver that has
        not answered yet delays them by at most ``timeout``. A delivery made by another
        worker process is not waited for.
        """
        done = self._in_flight.get((tenant, subscription_id))
        if done is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await done.wait()

    async def _failed(self, row: OutboxRow, exc: Exception, cooldown: float = 0.0) -> None:
        """Record a failed attempt; the next one waits the backoff, and at least the
        endpoint's ``cooldown`` (clause 5.2.15)."""
        attempts = row.attempts + 1
        detail = str(exc) or type(exc).__name__
        due: float | None = None
        if not isinstance(exc, PermanentFailure) and attempts < self.max_attempts:
            due = self.clock() + max(self.backoff(attempts), cooldown)
        else:
            log.warning(
                "notification %s of %s given up after %d attempt(s): %s",
                row.payload.get("id"),
                row.subscription_id,
                attempts,
                detail,
            )
        await self.queue.fail(row.id, detail, due)
        await self._status(row, ok=False, detail=detail)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempts - 1)))

    async def _status(self, row: OutboxRow, *, ok: bool | None, detail: str | None = None) -> None:
        """``ok`` None: an attempt starts (timesSent, lastNotification), written before the
        send so that a receiver reading the subscription on receipt sees it (ETSI 046_11);
        True/False: its outcome."""
        stamp = format_datetime(datetime.fromtimestamp(self.clock(), UTC))

        def change(current: Document) -> Document:
            params = dict(current)
            if ok is None:
                params["timesSent"] = int(params.get("timesSent", 0)) + 1
                params["lastNotification"] = stamp
            elif ok:
                params["lastSuccess"] = stamp
                params["status"] = "ok"
            else:
                params["timesFailed"] = int(params.get("timesFailed", 0)) + 1
                params["lastFailure"] = stamp
                params["status"] = "failed"
            return params

        try:
            if not self._is_csource(row):
                await self.subscriptions.update_status(row.tenant, row.subscription_id, change)
            elif self.registrations is not None:
                await self.registrations.update_subscription_status(
                    row.tenant, row.subscription_id, change
                )
        except Exception:
            log.exception("subscription %s: status not updated", row.subscription_id)

    # ---- rendering -------------------------------------------------------------------
    async def _reader(self, row: OutboxRow, sub: Document) -> Access | None:
        """What the subscription's owner may read now (None: not narrowed)."""
        owner = sub.get("_owner")
        if owner is None or self.owners is None:
            return None
        access = await self.owners.owner_access(row.tenant, owner)
        return None if access.permitted("read") is None else access

    async def build(self, row: OutboxRow, sub: Document, reader: Access | None = None) -> Delivery:
        """The delivery of one outbox row (raises when it cannot be built); ``reader``: only
        the entities it may read are sent."""
        params: Document = sub.get("notification") or {}
        endpoint: Document = params.get("endpoint") or {}
        uri = str(endpoint.get("uri", ""))
        if not uri.lower().startswith(("http://", "https://", "mqtt://", "mqtts://")):
            raise PermanentFailure(f"notification endpoint {uri!r}: unknown scheme")
        csource = self._is_csource(row)
        # a registration subscription keeps the @context it was made with as ``_context``
        own_context = sub.get("_context") if csource else sub.get("@context")
        context = sub.get("jsonldContext") or own_context
        terms = await self.contexts.term_map(context)
        notified_at = format_datetime(datetime.fromtimestamp(self.clock(), UTC))
        body: Document = {
            "id": row.payload["id"],
            "type": "Notification",
            "subscriptionId": row.subscription_id,
            "notifiedAt": notified_at,
        }
        if csource:  # clause 5.3.2 CsourceNotification
            body["type"] = cn.NOTIFICATION_TYPE
            data = [compact_registration(d, terms) for d in row.payload.get("data", ())]
            body["data"] = data
            body["triggerReason"] = row.payload.get("triggerReason", cn.UPDATED)
        else:
            data = await self._data(row, sub, terms, notified_at, reader)
            body["data"] = data
        headers: dict[str, str] = {}
        if endpoint.get("accept") == "application/ld+json":
            headers["Content-Type"] = "application/ld+json"
            value = context if context is not None else CORE_CONTEXT_URL
            body["@context"] = value
            for entity in data:
                entity["@context"] = value
        else:
            headers["Content-Type"] = "application/json"
            url = sub.get("jsonldContext") or await context_url(self.contexts, own_context)
            headers["Link"] = f"<{url}>; {LINK_REL}"
        if row.tenant:
            headers["NGSILD-Tenant"] = row.tenant
        for item in endpoint.get("receiverInfo") or ():
            headers[item["key"]] = item["value"]
        notifier = {i["key"]: i["value"] for i in endpoint.get("notifierInfo") or ()}
        timeout = endpoint.get("timeout")  # milliseconds (clause 5.2.15)
        seconds = timeout / 1000 if isinstance(timeout, int | float) else None
        return Delivery(uri, orjson.dumps(body), headers, notifier, seconds)

    async def _data(
        self,
        row: OutboxRow,
        sub: Document,
        terms: TermMap,
        notified_at: str,
        reader: Access | None = None,
    ) -> list[Document]:
        params: Document = sub.get("notification") or {}
        entities: list[Document] = row.payload.get("data", [])
        permitted = None
        if reader is not None:
            entities = [e for e in entities if reader.reads(e)]
            permitted = reader.permitted("read")
        previous: dict[str, Any] = row.payload.get("previous") or {}
        join = params.get("join")
        level = int(params.get("joinLevel", 1))
        linked: dict[str, Document] = {}
        order: list[tuple[Document, Projection]] = []
        if join in ("inline", "flat"):
            roots = [e for e in entities if "deletedAt" not in e]
            linked, order = await fetch_linked(
                self.store, row.tenant, roots, projection(sub), level, permitted
            )
        inline = join == "inline"
        data = [
            render_notified_entity(
                entity,
                sub,
                terms,
                previous=previous.get(entity["id"]),
                notified_at=notified_at,
                linked=linked if inline else None,
                join_level=level if inline else 0,
            )
            for entity in entities
        ]
        if join == "flat":
            seen = {e["id"] for e in entities}
            for entity, proj in order:
                if entity["id"] not in seen:
                    seen.add(entity["id"])
                    data.append(render_entity(entity, terms, proj))
        return data


__all__ = ["Dispatcher", "LINK_REL"]
