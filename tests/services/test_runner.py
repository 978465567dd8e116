"""The city services framework (``cityhub.services``) on every backend: work is queued in the
write's own transaction and done after the commit through the store's normal write path; a
service's own write-back queues nothing (the loop guard, also through a second service); work
left by a process that stopped before doing it is done by the next one, once; a failing
service is retried, then given up; a failing ``requests`` never fails the client's write;
several workers on one PostgreSQL database do each item once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import pytest

from cityhub.ngsild.datetime import now_iso
from cityhub.ngsild.entity import Entity
from cityhub.ngsild.temporal import TemporalQuery
from cityhub.services import CityService, ServiceContext, ServiceRunner, WorkRequest
from cityhub.settings import Settings
from cityhub.store.backend import Backend
from cityhub.store.base import Change, Transaction
from cityhub.store.open import open_backend
from cityhub.store.work import WorkItem

EX = "https://ex.org/"
TENANT = "svc"


def _value(entity: Entity | None, name: str) -> Any:
    if entity is None or EX + name not in entity["attrs"]:
        return None
    return entity["attrs"][EX + name][0]["value"]


def _set(entity_id: str, name: str, value: Any) -> Any:
    """A transaction function: create the entity or set one attribute."""

    def fn(tx: Transaction) -> None:
        before = tx.get(entity_id)
        now = now_iso()
        inst = {"type": "Property", "value": value, "createdAt": now, "modifiedAt": now}
        if before is None:
            tx.insert(
                {
                    "id": entity_id,
                    "type": [EX + "Thing"],
                    "createdAt": now,
                    "modifiedAt": now,
                    "attrs": {EX + name: [inst]},
                }
            )
            return
        entity: Entity = {**before, "attrs": {**before["attrs"], EX + name: [inst]}}
        entity["modifiedAt"] = now
        tx.save(entity, before)

    return fn


def _changed(change: Change, name: str) -> bool:
    return _value(change.before, name) != _value(change.after, name)


class Double(CityService):
    """Writes ``y = 2x`` (``src``/``dst`` configurable) whenever ``x`` changes."""

    def __init__(self, name: str = "double", src: str = "x", dst: str = "y") -> None:
        self.name, self.src, self.dst = name, src, dst
        self.calls: list[str] = []
        self.fail_times = 0
        self.done = asyncio.Event()

    def requests(self, change: Change) -> Iterable[WorkRequest]:
        if change.after is not None and _changed(change, self.src):
            yield WorkRequest(change.entity_id, {"seen": _value(change.after, self.src)})

    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        assert item.key is not None
        self.calls.append(item.key)
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("not yet")
        entity = await ctx.store.get_entity(item.tenant, item.key)
        await ctx.write(item.tenant, _set(item.key, self.dst, 2 * _value(entity, self.src)))
        self.done.set()


def _open(url: str, services: list[CityService], **runner: Any) -> tuple[Backend, ServiceRunner]:
    backend = open_backend(url, Settings(reader_threads=1))
    the_runner = ServiceRunner(
        backend.store, backend.temporal, backend.work, services, poll_interval=0.05, **runner
    )
    backend.add_tx_hook(the_runner.hook)
    return backend, the_runner


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    """Await a condition the workers make true (they wake on commits; this only re-checks)."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


def test_work_is_done_after_the_commit_and_the_write_back_queues_nothing(
    store_url: str,
) -> None:
    async def main() -> None:
        svc = Double()
        backend, runner = _open(store_url, [svc])
        await backend.start()
        await runner.start()
        try:
            await backend.store.write(TENANT, _set("urn:e:1", "x", 21))
            await asyncio.wait_for(svc.done.wait(), 10)
            entity = await backend.store.get_entity(TENANT, "urn:e:1")
            assert _value(entity, "y") == 42
            # the write-back committed before its item was marked done: no new item queued
            await _until(lambda: _done(runner, "double", 1))
            assert await backend.work.pending("double") == 0
            assert svc.calls == ["urn:e:1"]
            assert runner.stats["double"].delay_quantile(0.95) is not None
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())


async def _pending(backend: Backend, service: str, n: int) -> bool:
    return await backend.work.pending(service) == n


async def _done(runner: ServiceRunner, service: str, n: int) -> bool:
    return runner.stats[service].done == n


async def _given_up(runner: ServiceRunner, service: str, n: int) -> bool:
    return runner.stats[service].given_up == n


def test_two_services_feeding_each_other_stop_after_one_round_each(store_url: str) -> None:
    async def main() -> None:
        forth, back = Double("forth", "x", "y"), Double("back", "y", "x")
        backend, runner = _open(store_url, [forth, back])
        await backend.start()
        await runner.start()
        try:
            await backend.store.write(TENANT, _set("urn:e:1", "x", 1))
            await asyncio.wait_for(back.done.wait(), 10)
            await _until(lambda: _pending(backend, "forth", 0))
            await _until(lambda: _pending(backend, "back", 0))
            entity = await backend.store.get_entity(TENANT, "urn:e:1")
            assert (_value(entity, "x"), _value(entity, "y")) == (4, 2)
            assert (forth.calls, back.calls) == (["urn:e:1"], ["urn:e:1"])
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())


def test_work_a_stopped_process_left_is_done_by_the_next_once(store_url: str) -> None:
    async def main() -> None:
        first = Double()
        backend, _ = _open(store_url, [first])  # its runner never starts: stopped at commit
        await backend.start()
        for n in range(3):
            await backend.store.write(TENANT, _set(f"urn:e:{n}", "x", n))
        await backend.store.write(TENANT, _set("urn:e:0", "x", 10))  # coalesces
        # a worker claimed one and died before doing it (PostgreSQL: its lease runs out)
        claimed = await backend.work.claim("double", time.time(), 1, lease=0.5)
        assert len(claimed) == 1
        await backend.close()

        second = Double()
        backend, runner = _open(store_url, [second])
        await backend.start()
        await runner.start()
        try:
            await _until(lambda: _pending(backend, "double", 0))
            assert sorted(second.calls) == ["urn:e:0", "urn:e:1", "urn:e:2"]
            entity = await backend.store.get_entity(TENANT, "urn:e:0")
            assert _value(entity, "y") == 20
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())


def test_a_failing_item_is_retried_then_given_up(store_url: str) -> None:
    async def main() -> None:
        svc = Double()
        svc.fail_times = 1
        backend, runner = _open(store_url, [svc], base_delay=0.01, max_attempts=2)
        await backend.start()
        await runner.start()
        try:
            await backend.store.write(TENANT, _set("urn:e:1", "x", 2))
            await asyncio.wait_for(svc.done.wait(), 10)  # second attempt succeeded
            assert svc.calls == ["urn:e:1", "urn:e:1"]
            assert runner.stats["double"].retried == 1
            svc.fail_times = 5
            await backend.store.write(TENANT, _set("urn:e:1", "x", 3))
            await _until(lambda: _given_up(runner, "double", 1))
            await _until(lambda: _pending(backend, "double", 0))  # given up: removed
            assert svc.calls.count("urn:e:1") == 4
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())


def test_a_failing_requests_never_fails_the_write(store_url: str) -> None:
    class Broken(CityService):
        name = "broken"

        def requests(self, change: Change) -> Iterable[WorkRequest]:
            raise ValueError("a bug in a service")

    async def main() -> None:
        backend, runner = _open(store_url, [Broken()])
        await backend.start()
        try:
            await backend.store.write(TENANT, _set("urn:e:1", "x", 1))
            assert _value(await backend.store.get_entity(TENANT, "urn:e:1"), "x") == 1
            assert runner.stats["broken"].hook_errors == 1
        finally:
            await backend.close()

    asyncio.run(main())


def test_several_workers_on_one_database_do_each_item_once(postgres_url: str) -> None:
    pytest.importorskip("asyncpg")

    async def main() -> None:
        services = [Double(), Double()]
        opened = [_open(postgres_url, [s], batch=2) for s in services]
        for backend, runner in opened:
            await backend.start()
            await runner.start()
        writer = opened[0][0]
        try:
            for n in range(30):
                await writer.store.write(TENANT, _set(f"urn:e:{n}", "x", n))
            await _until(lambda: _pending(writer, "double", 0), timeout=30)
            calls = services[0].calls + services[1].calls
            assert sorted(calls) == sorted(f"urn:e:{n}" for n in range(30))
        finally:
            for backend, runner in opened:
                await runner.stop()
                await backend.close()

    asyncio.run(main())


class FinishingDouble(Double):
    """Writes ``y = 2x`` as the item's last write (``finish=True``), then fails."""

    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        assert item.key is not None
        self.calls.append(item.key)
        entity = await ctx.store.get_entity(item.tenant, item.key)
        await ctx.write(
            item.tenant, _set(item.key, self.dst, 2 * _value(entity, self.src)), finish=True
        )
        self.done.set()
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("after the last write")


def test_an_item_finished_by_its_last_write_leaves_the_queue_with_it(store_url: str) -> None:
    """``ctx.write(..., finish=True)``: the item is removed in the result's transaction (one
    commit between a reading and its result, not two), so it is done even when the service
    fails afterwards: it is neither retried nor done twice."""

    async def main() -> None:
        svc = FinishingDouble()
        svc.fail_times = 1
        backend, runner = _open(store_url, [svc], base_delay=0.01)
        await backend.start()
        await runner.start()
        try:
            await backend.store.write(TENANT, _set("urn:e:1", "x", 21))
            await asyncio.wait_for(svc.done.wait(), 10)
            await _until(lambda: _done(runner, "double", 1))
            assert await backend.work.pending("double") == 0
            entity = await backend.store.get_entity(TENANT, "urn:e:1")
            assert _value(entity, "y") == 42
            stats = runner.stats["double"]
            assert (svc.calls, stats.retried, stats.given_up) == (["urn:e:1"], 0, 0)
            assert stats.delay_quantile(0.95) is not None
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())


class Historian(CityService):
    """Adds an instance named after itself to the history of the entity it works on
    (``ctx.append_history``): for a write that changed ``x`` (when ``on_writes``), and for any
    history it hears of."""

    def __init__(self, name: str, heard: list[Any], on_writes: bool = False) -> None:
        self.name, self.heard, self.on_writes = name, heard, on_writes

    def requests(self, change: Change) -> Iterable[WorkRequest]:
        if self.on_writes and change.after is not None and _changed(change, "x"):
            yield WorkRequest(change.entity_id)

    def history_requests(self, tenant: str, entity: dict[str, Any]) -> Iterable[WorkRequest]:
        yield WorkRequest(entity["id"], {"heard": sorted(entity["attrs"]), "types": entity["type"]})

    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        assert item.key is not None
        self.heard.append((self.name, item.payload, ctx.cause))
        at = "2026-11-01T00:00:00Z" if ctx.cause == () else "2026-11-01T01:00:00Z"
        instance = {"type": "Property", "value": self.name, "observedAt": at}
        await ctx.append_history(item.tenant, item.key, {EX + self.name: [instance]}, [EX + "T"])


def test_history_a_service_adds_is_heard_by_the_others_not_by_itself(store_url: str) -> None:
    """``ctx.append_history``: the instances are in the history, and the other services are
    told of them as the temporal API tells them (``history_requests``), with the cause: the
    service that added them is not asked, nor is it again when the other adds history in
    its turn (the loop guard)."""

    async def main() -> None:
        heard: list[Any] = []
        first = Historian("first", heard, on_writes=True)
        second = Historian("second", heard)
        backend, runner = _open(store_url, [first, second])
        await backend.start()
        await runner.start()
        try:
            await backend.store.write(TENANT, _set("urn:e:1", "x", 1))
            await runner.settle(10)
            # first: for the write; second: for first's history; then nobody (both in the cause)
            assert heard == [
                ("first", {}, ()),
                ("second", {"heard": [EX + "first"], "types": [EX + "T"]}, ("first",)),
            ]
            found = await backend.temporal.get_entity(TENANT, "urn:e:1", TemporalQuery())
            assert found is not None
            history = found[1]
            assert [i["value"] for i in history[EX + "first"]] == ["first"]
            assert [i["value"] for i in history[EX + "second"]] == ["second"]
            assert runner.stats["first"].hook_errors == runner.stats["second"].hook_errors == 0
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())


class _SlowDouble(Double):
    """A Double whose work takes ``cost`` seconds of the runner's (fake) clock."""

    def __init__(self, clock: list[float], cost: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.clock, self.cost = clock, cost

    async def process(self, item: WorkItem, ctx: ServiceContext) -> None:
        self.clock[0] += self.cost
        await super().process(item, ctx)


def test_the_services_rest_after_a_batch_is_every_workers(store_url: str) -> None:
    """Under a backlog the services together take at most ``max_share`` of the time: after
    one service's batch that took 10 s (of the runner's clock), no worker, of that service
    or another, claims for the 10 s of rest (``max_share`` 0.5) that batch earned."""

    async def main() -> None:
        now = [1000.0]
        slow = _SlowDouble(now, 10.0, name="slow", src="x", dst="y")
        other = Double(name="other", src="z", dst="w")
        backend, runner = _open(
            store_url, [slow, other], max_share=0.5, max_rest=60.0, clock=lambda: now[0]
        )
        await backend.start()
        await runner.start()
        try:
            await backend.store.write(TENANT, _set("urn:a", "x", 1))
            await slow.done.wait()

            async def rested() -> bool:
                return runner._quiet_until > 0

            await _until(rested)  # the batch ended
            assert runner._quiet_until == pytest.approx(1020.0)  # its end + 10 s of rest
            await backend.store.write(TENANT, _set("urn:b", "z", 1))
            runner.wake()
            for _ in range(5):  # several looks of the workers: none claims while quiet
                await asyncio.sleep(0.06)
            assert other.calls == [] and await backend.work.pending("other") == 1
            now[0] = 1020.5  # the rest is over
            runner.wake()
            await asyncio.wait_for(other.done.wait(), 10)
            assert other.calls == ["urn:b"]
        finally:
            await runner.stop()
            await backend.close()

    asyncio.run(main())
