"""Several workers on one PostgreSQL (issue #6, DESIGN.md decision 5): writes and subscriptions
split across workers, every notification arrives, none twice; outbox rows are claimed by one
dispatcher per attempt; tenants stay apart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from cityhub.app import create_app
from cityhub.settings import Settings
from cityhub.store.base import Transaction
from tests.conftest import entity
from tests.postgres.receiver import Receiver, receiver

ENTITIES = "/ngsi-ld/v1/entities"
SUBS = "/ngsi-ld/v1/subscriptions"


def subscription(url: str) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:Subscription:workers",
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        "notification": {"endpoint": {"uri": url}, "format": "keyValues"},
    }


def notified(rec: Receiver) -> Counter[tuple[str, Any]]:
    """(entity id, pm25 value) of every notification received."""
    return Counter((d["id"], d["pm25"]) for body in rec.bodies for d in body["data"])


def check_once_each(rec: Receiver, expected: set[tuple[str, Any]]) -> None:
    assert rec.wait_for(lambda bodies: len(bodies) >= len(expected)), (
        f"{len(rec.bodies)} of {len(expected)} notifications arrived"
    )
    ids = [body["id"] for body in rec.bodies]
    assert len(ids) == len(set(ids)), "a notification was delivered twice"
    assert notified(rec) == Counter(expected)


def test_two_workers_in_one_process(postgres_url: str) -> None:
    """Two apps (two pools, two dispatchers, two subscription caches) on one database."""
    with receiver() as rec:
        a = TestClient(
            create_app(Settings(store=postgres_url, airquality_service=False)),
            raise_server_exceptions=False,
        )
        b = TestClient(
            create_app(Settings(store=postgres_url, airquality_service=False)),
            raise_server_exceptions=False,
        )
        with a, b:
            assert a.post(SUBS, json=subscription(rec.url)).status_code == 201
            version_sql = "SELECT version FROM notify_version"
            assert a.portal is not None
            version = a.portal.call(lambda: a.app.state.store.fetch(version_sql))[0][0]
            expected: set[tuple[str, Any]] = set()
            for n in range(12):  # creates and updates alternate between the workers
                writer, other = (a, b) if n % 2 else (b, a)
                eid = f"urn:ngsi-ld:AirQualityObserved:{n}"
                r = writer.post(ENTITIES, json=entity(eid, pm25={"type": "Property", "value": n}))
                assert r.status_code == 201, r.text
                r = other.patch(f"{ENTITIES}/{eid}/attrs", json={"pm25": n + 100})
                assert r.status_code == 204, r.text
                expected |= {(eid, n), (eid, n + 100)}
            check_once_each(rec, expected)
            # the status members are kept by whichever worker delivered, after the receiver
            # answered: no update lost between the workers (the row is locked read-to-write)
            deadline = time.monotonic() + 10
            while True:
                status = b.get(f"{SUBS}/urn:ngsi-ld:Subscription:workers").json()["notification"]
                if status["timesSent"] == len(expected) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert status["timesSent"] == len(expected) and status["status"] == "ok"
            # the status lives in its own table: deliveries never rewrote the subscription, so
            # the workers' caches of prepared subscriptions were never invalidated by them
            assert a.portal.call(lambda: a.app.state.store.fetch(version_sql))[0][0] == version


def test_claims_are_exclusive_with_several_dispatchers(postgres_url: str) -> None:
    from cityhub.store.postgres.outbox import PostgresOutbox
    from cityhub.store.postgres.store import PostgresStore

    async def main() -> None:
        stores = [PostgresStore(postgres_url) for _ in range(4)]
        for s in stores:
            await s.start()
        try:
            payload = {"id": "n", "type": "Notification", "data": []}

            def fill(tx: Transaction) -> None:
                for _ in range(400):
                    tx.enqueue("urn:s", payload, 0.0)

            await stores[0].write("", fill)
            queues = [PostgresOutbox(s) for s in stores]
            now = time.time()

            async def drain(q: PostgresOutbox) -> list[int]:
                taken: list[int] = []
                while rows := await q.claim(now, 7, 300):
                    taken.extend(r.id for r in rows)
                return taken

            results = await asyncio.gather(*(drain(q) for q in queues))
            everything = [i for taken in results for i in taken]
            assert len(everything) == 400 == len(set(everything))
            assert sum(1 for taken in results if taken) >= 2  # they really did share the work
            assert await queues[0].next_due() is not None  # leased, not gone
            for q, taken in zip(queues, results, strict=True):
                for i in taken:
                    await q.ack(i)
            assert await queues[2].next_due() is None
        finally:
            for s in stores:
                await s.close()

    asyncio.run(main())


def test_a_lost_lease_cannot_ack_or_reschedule_the_new_holders_attempt(postgres_url: str) -> None:
    """Worker A's lease runs out while it delivers; worker B claims the row again. A's late ack
    and fail are ignored (the lease token is B's); B's ack removes the row."""
    from cityhub.store.postgres.outbox import PostgresOutbox
    from cityhub.store.postgres.store import PostgresStore

    async def main() -> None:
        store = PostgresStore(postgres_url)
        await store.start()
        try:
            payload = {"id": "n", "type": "Notification", "data": []}
            await store.write("", lambda tx: tx.enqueue("urn:s", payload, 0.0))
            a, b = PostgresOutbox(store), PostgresOutbox(store)
            (row,) = await a.claim(100.0, 10, lease=5)
            assert await b.claim(104.0, 10, lease=5) == []  # A's lease still holds
            (again,) = await b.claim(106.0, 10, lease=5)  # ... and now it has run out
            assert again.id == row.id
            await a.fail(row.id, "timeout", due_at=500.0)
            await a.ack(row.id)
            assert [(i, n) for i, _, n, _ in await a.pending()] == [(row.id, 0)]
            await b.ack(row.id)
            assert await a.pending() == []
        finally:
            await store.close()

    asyncio.run(main())


def test_each_periodic_round_is_queued_by_one_worker(postgres_url: str) -> None:
    """Two workers' periodic notifiers (clause 5.2.12 timeInterval) at the same instant: each
    round is queued once, whichever worker gets there first."""
    from cityhub.notify.matcher import TermMaps
    from cityhub.notify.periodic import PeriodicNotifier
    from cityhub.store.postgres.outbox import PostgresOutbox
    from cityhub.store.postgres.rows import PostgresRows
    from cityhub.store.postgres.store import PostgresStore
    from cityhub.store.subscriptions import Subscriptions

    sub = {**subscription("http://127.0.0.1:9/unreachable"), "timeInterval": 60}
    with TestClient(create_app(Settings(store=postgres_url, airquality_service=False))) as client:
        assert client.post(ENTITIES, json=entity()).status_code == 201
        assert client.post(SUBS, json=sub).status_code == 201
    clock = [1000.0]

    async def main() -> None:
        stores = [PostgresStore(postgres_url) for _ in range(2)]
        for s in stores:
            await s.start()
        try:
            await stores[0].fetch("DELETE FROM outbox")
            await stores[0].fetch("DELETE FROM notify_periodic")
            outboxes = [PostgresOutbox(s) for s in stores]
            notifiers = [
                PeriodicNotifier(
                    s,
                    Subscriptions(s, PostgresRows),
                    TermMaps(),
                    o,
                    clock=lambda: clock[0],
                )
                for s, o in zip(stores, outboxes, strict=True)
            ]
            for rounds in (1, 2, 3):
                nexts = await asyncio.gather(*(n.run_due() for n in notifiers))
                assert len(await outboxes[0].pending()) == rounds
                assert max(nexts) == clock[0] + 60  # the next round is a minute away
                clock[0] += 60
        finally:
            for s in stores:
                await s.close()

    asyncio.run(main())


def test_tenants_are_isolated(postgres_url: str) -> None:
    with TestClient(create_app(Settings(store=postgres_url, airquality_service=False))) as c:
        for tenant, value in (("city-a", 1), ("city-b", 2)):
            r = c.post(
                ENTITIES,
                json=entity(
                    "urn:ngsi-ld:AirQualityObserved:x",
                    pm25=value,
                    location={
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [127.1, 37.4]},
                    },
                ),
                headers={"NGSILD-Tenant": tenant},
            )
            assert r.status_code == 201, r.text
        for tenant, value in (("city-a", 1), ("city-b", 2)):
            h = {"NGSILD-Tenant": tenant}
            got = c.get(f"{ENTITIES}?type=AirQualityObserved&q=pm25>0", headers=h).json()
            assert [e["pm25"]["value"] for e in got] == [value]
            near = "georel=near;maxDistance==1000&geometry=Point&coordinates=[127.1,37.4]"
            got = c.get(f"{ENTITIES}?{near}", headers=h).json()
            assert len(got) == 1
        assert c.get(ENTITIES + "?type=AirQualityObserved").json() == []  # default tenant
        r = c.get(ENTITIES + "?type=AirQualityObserved", headers={"NGSILD-Tenant": "nobody"})
        assert r.status_code == 404


def _serve(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--store", url, "--port", str(port)]
            + ["--workers", str(workers)],
            stdout=out,
            stderr=subprocess.STDOUT,
            # the notifications counted are the clients' writes' (the air-quality service
            # would add its own write-backs to these AirQualityObserved entities)
            env={**os.environ, "CITYHUB_AIRQUALITY_SERVICE": "false"},
        )


def _ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"the hub on port {port} did not start: {log.read_text()}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cityhub_serve_workers_2_and_a_second_machine(postgres_url: str, tmp_path: Path) -> None:
    """``cityhub serve --workers 2`` plus another hub process on the same database: the
    subscription is made on one, writes go to both, every notification arrives once."""
    port_a, port_b = _free_port(), _free_port()
    hub_a = _serve(postgres_url, port_a, 2, tmp_path / "a.log")
    hub_b = _serve(postgres_url, port_b, 1, tmp_path / "b.log")
    try:
        _ready(port_a, hub_a, tmp_path / "a.log")
        _ready(port_b, hub_b, tmp_path / "b.log")
        with receiver() as rec:
            base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
            r = httpx.post(base_b + SUBS, json=subscription(rec.url))
            assert r.status_code == 201, r.text
            expected: set[tuple[str, Any]] = set()
            for n in range(20):  # a new connection each time: spread over hub A's workers
                base = base_a if n % 2 else base_b
                eid = f"urn:ngsi-ld:AirQualityObserved:{n}"
                r = httpx.post(
                    base + ENTITIES, json=entity(eid, pm25={"type": "Property", "value": n})
                )
                assert r.status_code == 201, r.text
                expected.add((eid, n))
            check_once_each(rec, expected)
    finally:
        for hub in (hub_a, hub_b):
            hub.terminate()
        for hub in (hub_a, hub_b):
            try:
                hub.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hub.kill()
    assert hub_a.returncode == 0, (tmp_path / "a.log").read_text()
