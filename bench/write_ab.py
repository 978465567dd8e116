"""The entity write path with history on, two source trees side by side on PostgreSQL: create,
partial attribute update and (as a control) retrieve, each request sent to one hub then the
same to the other, one at a time; p50/p95 latency and the ratio. Each hub gets a fresh schema.

    python3 bench/write_ab.py --store postgresql://... --before /tmp/old --after . --requests 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import history_bench as hb  # noqa: E402
from suite import API, free_port, fresh_postgres  # noqa: E402


def _entity(i: int) -> bytes:
    return orjson.dumps(
        {
            "id": f"urn:ngsi-ld:Bench:{i}",
            "type": "Bench",
            "speed": {"type": "Property", "value": i},
            "name": {"type": "Property", "value": f"n{i}"},
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--store", required=True, help="postgresql://... (PostGIS in public)")
    ap.add_argument("--before", required=True, help="the before source tree")
    ap.add_argument("--after", required=True, help="the after source tree")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--workdir", default="/tmp/cityhub-write-ab")
    args = ap.parse_args(argv)
    procs, clients = {}, {}
    try:
        for name in ("before", "after"):
            work = Path(args.workdir) / name
            work.mkdir(parents=True, exist_ok=True)
            store = fresh_postgres(args.store, f"write_ab_{name}")
            port = free_port()
            procs[name] = hb.start_hub(work, port, store, Path(getattr(args, name)).resolve())
            clients[name] = hb.Client(port)
        steps: list[tuple[str, Callable[[int], tuple[str, str, bytes | None]]]] = [
            ("create", lambda i: ("POST", f"{API}/entities", _entity(i))),
            (
                "partial attr update",
                lambda i: (
                    "PATCH",
                    f"{API}/entities/urn:ngsi-ld:Bench:{i}/attrs/speed",
                    orjson.dumps({"type": "Property", "value": i + 1}),
                ),
            ),
            ("retrieve", lambda i: ("GET", f"{API}/entities/urn:ngsi-ld:Bench:{i}", None)),
        ]
        for name, make in steps:
            times: dict[str, list[float]] = {k: [] for k in clients}
            for i in range(args.requests):
                method, path, body = make(i)
                for k, client in clients.items():
                    started = time.perf_counter()
                    status, text = client.send(method, path, body)
                    times[k].append((time.perf_counter() - started) * 1000)
                    if status >= 300:
                        raise SystemExit(f"{k} {name}: {status} {text[:300]!r}")
            line = [name]
            for k, ts in times.items():
                ts.sort()
                p95 = ts[max(0, round(0.95 * len(ts)) - 1)]
                line.append(f"{k} p50 {statistics.median(ts):.2f} p95 {p95:.2f} ms")
            ratio = statistics.median(times["after"]) / statistics.median(times["before"])
            print(" | ".join([*line, f"after/before p50 x{ratio:.2f}"]), flush=True)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
