"""Notification benchmark (issue #4). Ratios in one run, never absolute times alone.

Part 1, matching cost (in process, the SQLite store with the notification tx hook, no delivery):
updates per second with 0, 10 and 10,000 subscriptions. The 10,000 are spread over 1,000 other
entity types, plus 10 on the updated entity's type (as in the 10 case), so each update triggers
10 notifications either way; the subscription index (``cityhub.notify.index``) should keep the
10,000 case close to the 10 case.

Part 2, delivery (a real ``cityhub serve`` and a real HTTP receiver on 127.0.0.1): update rps
with no subscription, then notifications delivered per second with 1 and with 1,000
subscriptions that all match, each as a ratio to that update rps.

    python3 bench/notify_bench.py [--updates 300] [--fanout-updates 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityhub.notify.matcher import TermMaps  # noqa: E402
from cityhub.notify.trigger import NotificationTrigger  # noqa: E402
from cityhub.settings import Settings  # noqa: E402
from cityhub.store.open import open_backend  # noqa: E402
from cityhub.store.sqlite.store import SqliteStore  # noqa: E402
from tests.notify._receivers import HttpReceiver, free_port  # noqa: E402

D = "https://uri.etsi.org/ngsi-ld/default-context/"


def _sub(i: int, type_iri: str) -> dict[str, object]:
    return {
        "id": f"urn:ngsi-ld:Subscription:{i}",
        "type": "Subscription",
        "entities": [{"type": type_iri}],
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
        "@context": None,
    }


def _entity(value: int) -> dict[str, object]:
    return {
        "id": "urn:ngsi-ld:AirQualityObserved:1",
        "type": [D + "AirQualityObserved"],
        "createdAt": "2026-01-01T00:00:00Z",
        "modifiedAt": "2026-01-01T00:00:00Z",
        "attrs": {D + "pm25": [{"type": "Property", "value": value}]},
    }


async def _matching_rate(tmp: Path, others: int, matching: int, updates: int) -> float:
    backend = open_backend(f"sqlite:///{tmp / f'm{others}-{matching}.db'}", Settings(history=False))
    backend.add_tx_hook(NotificationTrigger(TermMaps()).hook)
    store, subs = cast(SqliteStore, backend.store), backend.subscriptions
    await backend.start()
    try:
        for i in range(others):
            await subs.create("", _sub(i, f"{D}Other{i % 1000}"))
        for i in range(matching):
            await subs.create("", _sub(others + i, D + "AirQualityObserved"))
        await store.write("", lambda tx: tx.insert(_entity(0)))

        start = time.perf_counter()
        for v in range(1, updates + 1):
            await store.write("", lambda tx, v=v: tx.save(_entity(v), tx.get(_entity(v)["id"])))
        elapsed = time.perf_counter() - start
        queued = await store.run_read(lambda c: c.execute("SELECT count(*) FROM outbox").fetchone())
        assert queued[0] == matching * (updates + 1), queued
        return updates / elapsed
    finally:
        await backend.close()


class Hub:
    def __init__(self, db: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityhub", "serve", "--db", str(db), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CITYHUB_LOG_LEVEL": "warning"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _delivery(tmp: Path, subscriptions: int, updates: int) -> tuple[float, float]:
    """(update rps, notifications delivered per second) with ``subscriptions`` matching."""
    hub = Hub(tmp / f"d{subscriptions}.db")
    eid = "urn:ngsi-ld:AirQualityObserved:B"
    try:
        with HttpReceiver() as rx, httpx.Client(base_url=hub.url, timeout=30) as c:
            for _ in range(subscriptions):
                r = c.post(
                    "/ngsi-ld/v1/subscriptions",
                    json={
                        "type": "Subscription",
                        "entities": [{"type": "AirQualityObserved"}],
                        "notificationTrigger": ["attributeUpdated"],
                        "notification": {"endpoint": {"uri": rx.url}},
                    },
                )
                assert r.status_code == 201, r.text
            entity = {
                "id": eid,
                "type": "AirQualityObserved",
                "pm25": {"type": "Property", "value": 0},
            }
            assert c.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
            start = time.perf_counter()
            for v in range(1, updates + 1):
                r = c.patch(
                    f"/ngsi-ld/v1/entities/{eid}/attrs",
                    json={"pm25": {"type": "Property", "value": v}},
                )
                assert r.status_code == 204
            updated = time.perf_counter()
            expected = subscriptions * updates
            if expected:
                rx.wait_for(expected, timeout=600)
            done = time.perf_counter()
            return updates / (updated - start), expected / (done - start) if expected else 0.0
    finally:
        hub.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--updates", type=int, default=300, help="updates per measurement")
    ap.add_argument(
        "--fanout-updates", type=int, default=10, help="updates with 1,000 subscriptions"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("Part 1: matching cost (in process, updates/s with the notification hook)")
        base = asyncio.run(_matching_rate(tmp, 0, 0, args.updates))
        ten = asyncio.run(_matching_rate(tmp, 0, 10, args.updates))
        many = asyncio.run(_matching_rate(tmp, 9990, 10, args.updates))
        print(f"  0 subscriptions       {base:8.0f} updates/s   (1.00)")
        print(f"  10 subscriptions      {ten:8.0f} updates/s   ({ten / base:.2f} of none)")
        print(
            f"  10,000 subscriptions  {many:8.0f} updates/s   ({many / base:.2f} of none,"
            f" {many / ten:.2f} of 10)"
        )
        print("Part 2: delivery (cityhub serve + HTTP receiver, sequential updates)")
        rps0, _ = _delivery(tmp, 0, args.updates)
        rps1, n1 = _delivery(tmp, 1, args.updates)
        rps1000, n1000 = _delivery(tmp, 1000, args.fanout_updates)
        print(f"  update rps, no subscription            {rps0:8.0f}")
        print(
            f"  1 subscription:     notifications/s    {n1:8.0f}  ({n1 / rps0:.2f} x update rps;"
            f" update rps meanwhile {rps1:.0f})"
        )
        print(
            f"  1,000 subscriptions: notifications/s   {n1000:8.0f}  ({n1000 / rps0:.2f} x update"
            f" rps; update rps meanwhile {rps1000:.0f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
