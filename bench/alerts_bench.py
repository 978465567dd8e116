"""Alert delay benchmark (issue 16, "Speed and reliability"): from an observation's commit to its
alert, with the demo city running.

Starts ``cityhub demo`` (the hub and its simulator, at ``--speed`` simulated seconds per second)
on a fresh store, then probes: a client writes an out-of-range PM2.5 (-5) to a probe station,
which the default rule ``pm25-range`` turns into an Alert at once, then a valid one (20), which
closes it. Each probe's delay runs from the moment the write's response arrived (its commit was
before) to the moment a GET of the alert (its id is derived from rule, source and episode start,
so the client knows it) first shows it open, resp. closed; the GET is repeated every ``--poll``
seconds, which bounds the error. Prints p50/p95/max of both, how many readings the demo wrote
meanwhile, and the alert service's own commit-to-done p95 from ``/health``.

    python3 bench/alerts_bench.py [--probes 100] [--speed 60] [--store URL] [--out FILE]
    python3 bench/alerts_bench.py --postgres     # on a throwaway PostgreSQL + PostGIS cluster
    python3 bench/alerts_bench.py --smoke        # a few probes: what the test suite runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityhub.alerts.defaults import PREFIX  # noqa: E402
from cityhub.alerts.episode import alert_id  # noqa: E402

API = "/ngsi-ld/v1"
PROBE = "urn:ngsi-ld:AirQualityObserved:bench:probe"
RULE = PREFIX + "pm25-range"


def free_port() -> int:
    """A port the system says is free now (the demo binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def start_demo(port: int, store: str, speed: float, backfill: float) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityhub", "demo", "--port", str(port), "--store", store]
        + ["--speed", str(speed), "--backfill-days", str(backfill)],
        cwd=tempfile.gettempdir(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            continue
        if not line:
            raise RuntimeError("cityhub demo ended before it was up")
        if "Ctrl-C" in line:  # the banner's last line: the city is in the hub
            return proc
    proc.kill()
    raise RuntimeError("cityhub demo did not come up in 10 minutes")


def _observation(pm25: float, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": PROBE,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": pm25, "unitCode": "GQ", "observedAt": stamp},
    }


def _wait(client: httpx.Client, aid: str, closed: bool, poll: float, limit: float) -> float:
    """Seconds until the alert shows (closed: with validTo); raises after ``limit``."""
    start = time.perf_counter()
    while True:
        r = client.get(f"{API}/entities/{aid}", params={"attrs": "validTo,severity"})
        if r.status_code == 200 and (("validTo" in r.json()) == closed):
            return time.perf_counter() - start
        if time.perf_counter() - start > limit:
            raise RuntimeError(f"alert {aid} not {'closed' if closed else 'open'} in {limit} s")
        time.sleep(poll)


def probe(client: httpx.Client, n: int, poll: float, pause: float) -> dict[str, list[float]]:
    opened: list[float] = []
    closed: list[float] = []
    for _ in range(n):
        bad_at = datetime.now(UTC)
        r = client.post(f"{API}/entityOperations/upsert", json=[_observation(-5, bad_at)])
        assert r.status_code in (201, 204), r.text
        aid = alert_id(RULE, PROBE, bad_at.timestamp())
        opened.append(_wait(client, aid, False, poll, 30))
        time.sleep(pause)
        r = client.post(
            f"{API}/entityOperations/upsert", json=[_observation(20, datetime.now(UTC))]
        )
        assert r.status_code in (201, 204), r.text
        closed.append(_wait(client, aid, True, poll, 30))
        time.sleep(pause)
    return {"open": opened, "close": closed}


def _count(client: httpx.Client, entity_type: str) -> int:
    r = client.get(f"{API}/entities", params={"type": entity_type, "count": "true", "limit": 0})
    return int(r.headers.get("NGSILD-Results-Count", 0))


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.postgres:
        from tests.postgres import server

        reason = server.unavailable_reason()
        if reason:
            raise SystemExit(f"--postgres: {reason}")
        cluster = server.start_cluster()
        try:
            args.store, args.postgres = cluster.url, False
            return run(args)
        finally:
            cluster.stop()
    port = args.port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="alerts-bench-"))
    store = args.store or f"sqlite:///{tmp / 'bench.db'}"
    proc = start_demo(port, store, args.speed, args.backfill_days)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            before = client.get("/health").json()["services"]["alerts"]["done"]
            began = time.perf_counter()
            delays = probe(client, args.probes, args.poll, args.pause)
            took = time.perf_counter() - began
            health = client.get("/health").json()["services"]["alerts"]
            alerts = _count(client, "Alert")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    items = health["done"] - before
    result: dict[str, Any] = {
        "store": "postgresql" if store.startswith("postgresql") else "sqlite",
        "speed": args.speed,
        "probes": args.probes,
        "seconds": round(took, 1),
        "alert_items_per_s": round(items / took, 1),
        "alerts_in_hub": alerts,
        "service_delay_p95_s": health["delayP95Seconds"],
    }
    for kind, values in delays.items():
        result[kind] = {
            "p50_s": round(quantile(values, 0.5), 4),
            "p95_s": round(quantile(values, 0.95), 4),
            "max_s": round(max(values), 4),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--port", type=int, default=0, help="the demo's port (default: a free one)")
    parser.add_argument("--speed", type=float, default=60.0, help="the demo's simulated speed")
    parser.add_argument("--backfill-days", type=float, default=0.25)
    parser.add_argument("--poll", type=float, default=0.005, help="seconds between GETs")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between writes")
    parser.add_argument("--store", default=None, help="a store URL (default: a fresh SQLite)")
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL cluster as the store"
    )
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    parser.add_argument("--smoke", action="store_true", help="3 probes, no backfill")
    args = parser.parse_args()
    if args.smoke:
        args.probes, args.backfill_days = 3, 0.0
    result = run(args)
    print(
        f"alert delay with the demo at {result['speed']:g}x on {result['store']}: "
        f"{result['alert_items_per_s']} alert work items/s, {result['probes']} probes"
    )
    for kind in ("open", "close"):
        d = result[kind]
        print(
            f"  commit -> alert {kind:5}: p50 {d['p50_s']:.3f} s  p95 {d['p95_s']:.3f} s  "
            f"max {d['max_s']:.3f} s"
        )
    print(f"  service commit-to-done p95 (/health): {result['service_delay_p95_s']} s")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
