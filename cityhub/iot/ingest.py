"""Batched commits of measures: many messages, one store transaction.

Each message is a list of expanded entity fragments (its entity, other entities its mapping
names, the ``Device`` entity); the transports ``await submit(tenant, fragments)``, which
returns once the message is committed (so MQTT acknowledges, and HTTP answers, after the
commit) or raises what refused it. A single task drains the queue: the messages waiting for
the same tenant are written in one ``store.write`` (the API's write path: the same
``Transaction``, ``ngsild.ops``, history and notification hooks), each message in a savepoint
of its own, so a message that fails rolls back alone and never half.

While one transaction runs, the next messages queue up and go in the next one: the batch grows
with the load, and a lone message waits for no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cityhub.errors import CityhubError
from cityhub.ngsild import ops
from cityhub.ngsild.datetime import format_datetime, parse_datetime
from cityhub.ngsild.entity import Entity
from cityhub.store.base import Store, Transaction

log = logging.getLogger("cityhub.iot")


class _Clock:
    """System times that grow strictly: two writes of one entity in one transaction (two
    groups of measures, two messages of a device in a batch) must differ in ``modifiedAt``,
    which is how the history tells a written instance from one carried over."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> str:
        current = datetime.now(UTC)
        if current <= self._last:
            current = self._last + timedelta(microseconds=1)
        self._last = current
        return format_datetime(current)


@dataclass
class _Message:
    tenant: str
    fragments: list[Entity]
    done: asyncio.Future[int]


_SYSTEM = frozenset(("createdAt", "modifiedAt"))
_MISSING = object()


def _same(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """The same instance but for system times."""
    if len(stored.keys() - _SYSTEM) != len(new.keys() - _SYSTEM):
        return False
    return all(k in _SYSTEM or stored.get(k, _MISSING) == v for k, v in new.items())


@functools.lru_cache(maxsize=4096)
def _parsed_time(text: str) -> datetime | None:
    """``observedAt`` text as a time (None when it is none); a device's messages compare
    each new time with the one its entity holds, which the previous message wrote."""
    try:
        return parse_datetime(text, "observedAt")
    except CityhubError:
        return None


def _observed(inst: dict[str, Any]) -> datetime | None:
    text = inst.get("observedAt")
    return _parsed_time(text) if isinstance(text, str) else None


#: the hub's own form of a time (``format_datetime``): two of them compare as their texts do
_UTC_MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _superseded(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether the entity holds this instance already (value and ``observedAt`` alike: a
    message delivered again) or a later observation (a late measure must not take the
    entity back in time)."""
    old_text, new_text = stored.get("observedAt"), new.get("observedAt")
    if (
        isinstance(old_text, str)
        and isinstance(new_text, str)
        and old_text != new_text
        and _UTC_MICROS.fullmatch(old_text)
        and _UTC_MICROS.fullmatch(new_text)
    ):
        return new_text < old_text  # another observation (the usual case): only its time counts
    if _same(stored, new):
        return True
    old_time, new_time = _observed(stored), _observed(new)
    return old_time is not None and new_time is not None and new_time < old_time


def _not_superseded(current: Entity, fragment: Entity) -> tuple[dict[str, list[Any]], int]:
    """The fragment's attributes without each instance :func:`_superseded` by the entity's
    (a new dict: the fragment is left as it is); static attributes are then not rewritten
    (nor recorded in the history) with every measure. Also returns how many measures were
    left out."""
    dropped = 0
    attrs: dict[str, list[Any]] = {}
    for iri, instances in fragment["attrs"].items():
        held = current["attrs"].get(iri)
        if not held:
            attrs[iri] = list(instances)
            continue
        stored = {i.get("datasetId"): i for i in held}
        kept = []
        for inst in instances:
            old = stored.get(inst.get("datasetId"))
            if old is not None and _superseded(old, inst):
                dropped += "observedAt" in inst
            else:
                kept.append(inst)
        if kept:
            attrs[iri] = kept
    return attrs, dropped


def upsert(tx: Transaction, fragment: Entity, now: str) -> int:
    """Create the fragment's entity, or append its attributes to the entity there (clause
    5.6.3 Append Entity Attributes, overwriting: a measure replaces the attribute's value).
    Measures the entity holds already, or older than its own, are left out (returned: how
    many).

    The fragment's own dict and lists are not changed (a batch written again starts from
    them); its instances are stamped with the system times, which a second write stamps
    again."""
    current = tx.get(fragment["id"])
    if current is None:
        attrs = {iri: list(instances) for iri, instances in fragment["attrs"].items()}
        tx.insert(ops.new_entity({**fragment, "attrs": attrs}, now))
        return 0
    attrs, dropped = _not_superseded(current, fragment)
    if not attrs and set(fragment.get("type", [])) <= set(current["type"]):
        return dropped
    before: Entity = orjson.loads(orjson.dumps(current))
    ops.append_attributes(current, {**fragment, "attrs": attrs}, now, overwrite=True)
    tx.save(current, before)
    return dropped


class _Refused(Exception):
    """A message of a batch written without savepoints was refused: the batch is rolled
    back and written again with a savepoint per message."""


class Ingestor:
    """Commits submitted messages in batches (``max_batch`` messages per transaction)."""

    def __init__(self, store: Store, max_batch: int = 500) -> None:
        self.store = store
        self.max_batch = max(1, max_batch)
        self._queue: asyncio.Queue[_Message] | None = None
        self._task: asyncio.Task[None] | None = None
        #: messages committed and transactions run (for the bench and /iot/about)
        self.committed = 0
        self.transactions = 0
        self._clock = _Clock()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="cityhub-iot-ingest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                msg = self._queue.get_nowait()
                if not msg.done.done():
                    msg.done.set_exception(CityhubError("the hub is stopping; send it again"))

    async def submit(self, tenant: str, fragments: list[Entity]) -> int:
        """Queue one message and wait until it is committed; returns how many of its measures
        were left out as delivered already or older than the entity's (:func:`upsert`).

        Raises:
            CityhubError: the store refused it (a bad value NGSI-LD does not take, the store
                unavailable...): nothing of it was written.
        """
        return await self.enqueue(tenant, fragments)

    def enqueue(self, tenant: str, fragments: list[Entity]) -> asyncio.Future[int]:
        """Queue one message now and return what :meth:`submit` would: a future resolved once
        it is committed. Messages are committed in the order they were queued, so a caller
        that must keep a device's messages in order needs to hold its order only until this
        returns, not until the commit (several of them then share one transaction)."""
        if self._queue is None:
            raise RuntimeError("the ingestor is not started")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Message(tenant, fragments, done))
        return done

    def _write(self, tx: Transaction, msg: _Message) -> int:
        """Write one message's fragments; returns how many measures were left out as not
        newer."""
        return sum(upsert(tx, fragment, self._clock.now()) for fragment in msg.fragments)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            by_tenant: dict[str, list[_Message]] = {}
            for msg in batch:
                by_tenant.setdefault(msg.tenant, []).append(msg)
            for tenant, messages in by_tenant.items():
                await self._commit(tenant, messages)

    async def _commit(self, tenant: str, messages: list[_Message]) -> None:
        def run(tx: Transaction, isolated: bool) -> list[CityhubError | int]:
            outcome: list[CityhubError | int] = []
            for msg in messages:
                try:
                    if isolated:
                        with tx.savepoint():
                            outcome.append(self._write(tx, msg))
                    else:
                        outcome.append(self._write(tx, msg))
                except CityhubError as exc:
                    if not isolated:
                        raise _Refused from exc
                    outcome.append(exc)
            return outcome

        try:
            try:
                # the usual batch: every message is good, no savepoint each
                outcome = await self.store.write(tenant, lambda tx: run(tx, False))
            except _Refused:
                # one message was refused: the batch was rolled back whole; again, each
                # message in a savepoint of its own, so the others commit without it
                outcome = await self.store.write(tenant, lambda tx: run(tx, True))
        except Exception as exc:  # the whole transaction failed: every message learns why
            for msg in messages:
                if not msg.done.done():
                    msg.done.set_exception(exc)
            if not isinstance(exc, CityhubError):
                log.exception("IoT measures could not be committed")
            return
        self.transactions += 1
        for msg, error in zip(messages, outcome, strict=True):
            if msg.done.done():
                continue
            if isinstance(error, int):
                self.committed += 1
                msg.done.set_result(error)
            else:
                msg.done.set_exception(error)


__all__ = ["Ingestor", "upsert"]
