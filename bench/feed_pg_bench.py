"""What the control tower's cross-worker feed costs a PostgreSQL write (issue 17).

With the dashboard on, every write transaction on PostgreSQL also queues a ``pg_notify`` naming
its changes, and every process LISTENs for them (docs/dashboard.md, "Live"). This bench writes
the same workload to a hub with the dashboard on and to one with it off, on one throwaway
PostgreSQL/PostGIS cluster (a fresh schema per run), alternately for ``--rounds`` rounds, and
prints each mode's medians and the ratio on/off:

- batch upserts of ``--batch`` ParkingSpot entities (created, then updated), entities/s;
- single-attribute PATCHes, requests/s (one client, sequential: the latency of one write);
- the hub's and the database's CPU seconds per 1,000 entities written (``/proc/<pid>/stat``;
  the database's: the cluster's processes), the figures that load on a shared machine
  disturbs least (``pg_notify`` costs the database, not the hub).

No screen is connected: this is what the notifications cost the writes themselves.

    python3 bench/feed_pg_bench.py [--rounds 3] [--batches 40] [--batch 100] [--patches 400]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dashboard.hub import Hub, free_port  # noqa: E402
from tests.postgres.server import run as run_sql  # noqa: E402
from tests.postgres.server import start_cluster, unavailable_reason, with_search_path  # noqa: E402

V1 = "/ngsi-ld/v1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _cluster_cpu(postmaster: int) -> float:
    """CPU seconds of the cluster's processes now alive (the postmaster and its children: the
    hub's pooled connections live through a run, so their deltas are the database's work)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster or stat.parent.name == str(postmaster):
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _spot(n: int, value: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:ParkingSpot:bench:{n}",
        "type": "ParkingSpot",
        "status": {"type": "Property", "value": "occupied" if value % 2 else "free"},
        "occupancy": {"type": "Property", "value": value},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.1 + n * 1e-5, 37.4]},
        },
    }


def one_run(
    store: str, dashboard: bool, args: argparse.Namespace, postmaster: int
) -> dict[str, float]:
    config = Path(tempfile.mkdtemp(prefix="feed-bench-")) / "cityhub.toml"
    config.write_text(f"[cityhub]\ndashboard = {'true' if dashboard else 'false'}\n")
    hub = Hub(store, free_port(), ROOT, "--config", str(config))
    try:
        with httpx.Client(base_url=hub.url + V1, timeout=60) as api:
            cpu0, db0 = _cpu_seconds(hub.proc.pid), _cluster_cpu(postmaster)
            started = time.perf_counter()
            written = 0
            for b in range(args.batches):
                # half the batches create, half update the same entities
                first = (b % (args.batches // 2 or 1)) * args.batch
                body = [_spot(first + i, b) for i in range(args.batch)]
                answer = api.post("/entityOperations/upsert", json=body)
                assert answer.status_code in (201, 204), answer.text
                written += args.batch
            batch_s = time.perf_counter() - started
            cpu1, db1 = _cpu_seconds(hub.proc.pid), _cluster_cpu(postmaster)
            started = time.perf_counter()
            for p in range(args.patches):
                eid = f"urn:ngsi-ld:ParkingSpot:bench:{p % args.batch}"
                answer = api.patch(
                    f"/entities/{eid}/attrs/occupancy", json={"type": "Property", "value": p}
                )
                assert answer.status_code == 204, answer.text
            patch_s = time.perf_counter() - started
            cpu2, db2 = _cpu_seconds(hub.proc.pid), _cluster_cpu(postmaster)
    finally:
        hub.stop()
        shutil.rmtree(config.parent, ignore_errors=True)
    return {
        "batch_entities_per_s": written / batch_s,
        "batch_cpu_per_1000": (cpu1 - cpu0) / written * 1000,
        "patch_per_s": args.patches / patch_s,
        "patch_cpu_per_1000": (cpu2 - cpu1) / args.patches * 1000,
        "batch_db_cpu_per_1000": (db1 - db0) / written * 1000,
        "patch_db_cpu_per_1000": (db2 - db1) / args.patches * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--patches", type=int, default=400)
    parser.add_argument("--out", help="also write the medians as JSON here")
    args = parser.parse_args()
    why = unavailable_reason()
    if why is not None:
        print(f"skipped: {why}")
        return 0
    cluster = start_cluster()
    postmaster = int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    try:
        n = 0
        for r in range(args.rounds):
            for dashboard in (True, False) if r % 2 == 0 else (False, True):
                n += 1
                schema = f"feedbench{n}"
                run_sql(cluster.url, f'CREATE SCHEMA "{schema}"')
                results[dashboard].append(
                    one_run(with_search_path(cluster.url, schema), dashboard, args, postmaster)
                )
                run_sql(cluster.url, f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        cluster.stop()
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, medians; "
        f"{args.batches} upserts of {args.batch}, {args.patches} PATCHes"
    )
    print(f"{'':28}{'dashboard on':>14}{'off':>10}{'on/off':>9}")
    medians: dict[str, dict[str, float]] = {"on": {}, "off": {}}
    for key, label in (
        ("batch_entities_per_s", "batch upsert, entities/s"),
        ("batch_cpu_per_1000", "  hub CPU s / 1000 entities"),
        ("batch_db_cpu_per_1000", "  database CPU s / 1000"),
        ("patch_per_s", "PATCH, requests/s"),
        ("patch_cpu_per_1000", "  hub CPU s / 1000 PATCHes"),
        ("patch_db_cpu_per_1000", "  database CPU s / 1000"),
    ):
        on = medians["on"][key] = statistics.median(x[key] for x in results[True])
        off = medians["off"][key] = statistics.median(x[key] for x in results[False])
        print(f"{label:28}{on:14.2f}{off:10.2f}{on / off if off else float('nan'):9.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(medians, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
