"""CPU per live reading (issue #21, the projection in docs/deploying.md): one sensor's reading
(``pm25``, ``pm10``, ``no2``, ``o3`` with observedAt) per request, as a device without a
gateway sends it, through the entity API's partial update (``PATCH /entities/{id}/attrs``,
history on), ``--requests`` of them over ``--concurrency`` connections to a ``cityhub serve`` of
``--sensors`` AirQualityObserved sensors (bench/history_bench.py's).

    python3 bench/reading_bench.py                                   # SQLite
    python3 bench/reading_bench.py --store postgresql://... --workers 2

Prints one JSON line: requests per second (wall clock: it moves with the machine's load) and
the CPU per request of the hub (its workers included) and, when the PostgreSQL of ``--store``
runs on this machine, of the PostgreSQL server (all its processes: nothing else should use that
server during the run). CPU per request is the per-core figure: 1,000 ms / (hub + PostgreSQL
ms) is how many readings a second one core pair carries. ``--batch 300``: readings arrive
as a gateway sends them, a batch upsert (``options=update``) of 300 sensors' readings per
request.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import history_bench as hb  # noqa: E402
from suite import fresh_postgres  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default=None, help="postgresql://... (default: SQLite)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--sensors", type=int, default=300)
    ap.add_argument(
        "--batch",
        type=int,
        default=0,
        help="readings per request as a batch upsert (options=update) of that many sensors,"
        " as a gateway sends them; 0: one PATCH per reading",
    )
    ap.add_argument("--port", type=int, default=18650, help="0: any free port")
    ap.add_argument("--code", default=str(HERE.parent), help="the cityhub tree the hub runs")
    ap.add_argument("--workdir", default="/tmp/cityhub-reading-bench")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = fresh_postgres(args.store, "reading_bench") if args.store else None
    port = args.port or hb.free_port()
    proc = hb.start_hub(work, port, store, Path(args.code), args.workers)
    client = hb.Client(port)
    rng = random.Random(21)
    try:
        docs, _, _ = hb.sensors(args.sensors)
        hb.create_sensors(client, docs)
        ids = [d["id"] for d in docs]
        db_cpu = hb.postgres_cpu(store) if store else None

        def reading(i: int) -> None:
            minute = i // len(ids)
            at = f"2026-12-07T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
            body = {
                a: {"type": "Property", "value": round(rng.random() * 50, 1), "observedAt": at}
                for a in hb.ATTRS
            }
            path = f"/ngsi-ld/v1/entities/{ids[i % len(ids)]}/attrs"
            status, answer = client.send("PATCH", path, orjson.dumps(body))
            if status != 204:
                raise SystemExit(f"PATCH {path}: {status} {answer[:300]!r}")

        def batch(k: int) -> None:
            first = k * args.batch
            minute = first // len(ids)
            at = f"2026-12-07T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
            docs = [
                {
                    "id": ids[(first + j) % len(ids)],
                    "type": hb.TYPE,
                    **{
                        a: {
                            "type": "Property",
                            "value": round(rng.random() * 50, 1),
                            "observedAt": at,
                        }
                        for a in hb.ATTRS
                    },
                }
                for j in range(args.batch)
            ]
            path = "/ngsi-ld/v1/entityOperations/upsert?options=update"
            status, answer = client.send("POST", path, orjson.dumps(docs))
            if status not in (201, 204):
                raise SystemExit(f"POST {path}: {status} {answer[:300]!r}")

        send, per = (batch, args.batch) if args.batch else (reading, 1)
        warm = max(1, len(ids) // per)
        with ThreadPoolExecutor(args.concurrency) as pool:  # warm: every sensor once
            list(pool.map(send, range(warm)))
        hub0, db0 = hb.cpu_seconds(proc.pid), db_cpu() if db_cpu else 0.0
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(send, range(warm, warm + args.requests)))
        took = time.perf_counter() - started
        hub = hb.cpu_seconds(proc.pid) - hub0
        db = db_cpu() - db0 if db_cpu else None
    finally:
        proc.terminate()
        proc.wait(60)
    print(
        json.dumps(
            {
                "store": "postgresql" if store else "sqlite",
                "workers": args.workers,
                "requests": args.requests,
                "readings_per_request": per,
                "requests_per_s": args.requests / took,
                "hub_cpu_ms_per_reading": hub / args.requests / per * 1e3,
                "db_cpu_ms_per_reading": db / args.requests / per * 1e3 if db is not None else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
